"""gunicorn settings, read from the environment."""

import multiprocessing
import os

bind = os.environ.get("BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
worker_class = "gthread"
threads = int(os.environ.get("THREADS", "8"))
# The embedded emulator keeps its data inside one process, so it gets exactly one worker.
if os.environ.get("MONGO_URI"):
    workers = int(os.environ.get("WEB_CONCURRENCY", str(multiprocessing.cpu_count() * 2 + 1)))
else:
    workers = 1
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
# The app logs one JSON line per request itself.
accesslog = None
errorlog = "-"
