"""Structured JSON logs with the request id, and Prometheus metrics at /metrics."""

from __future__ import annotations

import logging
import os
import sys
import time

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from pythonjsonlogger.json import JsonFormatter

from service.access import public

log = logging.getLogger("service.request")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        from flask import has_request_context

        record.request_id = g.get("request_id") if has_request_context() else None
        return True


# The driver's loggers would write every command and reply (password hashes, token hashes,
# counter secrets, household data) at DEBUG; they speak at WARNING at most, whatever LOG_LEVEL is.
DRIVER_LOGGER = "pymongo"


class _NoDriverChatter(logging.Filter):
    """Drops driver records below WARNING even if something lowers the driver's level later."""

    def filter(self, record: logging.LogRecord) -> bool:
        driver = record.name == DRIVER_LOGGER or record.name.startswith(DRIVER_LOGGER + ".")
        return not driver or record.levelno >= logging.WARNING


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time, so redirections made later still see it."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure_logging(level: str, as_json: bool) -> None:
    handler = _StderrHandler()
    if as_json:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(_RequestIdFilter())
    handler.addFilter(_NoDriverChatter())
    logging.getLogger(DRIVER_LOGGER).setLevel(logging.WARNING)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_service_handler", False):
            root.removeHandler(existing)
    handler._service_handler = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)


class Metrics:
    """Request counters and latencies; multi-process aware under gunicorn."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by route.",
            ["method", "route"],
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


def init_app(app: Flask) -> None:
    metrics = Metrics()
    app.extensions["metrics"] = metrics

    @app.before_request
    def _start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.pop("started", None)
        if started is None:
            return response
        elapsed = time.perf_counter() - started
        route = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.requests.labels(request.method, route, str(response.status_code)).inc()
        metrics.latency.labels(request.method, route).observe(elapsed)
        log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 1),
                "user": getattr(g.get("principal"), "username", None),
            },
        )
        return response

    @public
    def metrics_view() -> Response:
        return Response(metrics.exposition(), mimetype=CONTENT_TYPE_LATEST)

    app.add_url_rule("/metrics", "metrics", metrics_view)
