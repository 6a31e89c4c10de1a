# The service image: slim Python, pinned dependencies, non-root, gunicorn.
# Meant to run behind a buffering reverse proxy (docker-compose.yml puts nginx in front).

# The pages' charting library from the npm registry (package-lock.json); only its dist files ship.
FROM node:20-slim AS assets
WORKDIR /assets
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BIND=0.0.0.0:8000

# The Chinese TrueType font of the income statements' PDF (FONT_PATH's default): never fetched at run time.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY service ./service
COPY schemas ./schemas
COPY adapters ./adapters
COPY gunicorn.conf.py ./
COPY --from=assets /assets/node_modules/echarts/dist/echarts.min.js ./node_modules/echarts/dist/echarts.min.js

RUN useradd --system --uid 10001 --home-dir /app app && chown -R app /app
USER app

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"

CMD ["gunicorn", "--config", "gunicorn.conf.py", "service:create_app()"]
