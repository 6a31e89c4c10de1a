"""gunicorn settings, read from the environment."""

import multiprocessing
import os

bind = os.environ.get("BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
worker_class = "gthread"
threads = int(os.environ.get("THREADS", "8"))
# The embedded emulator keeps its data inside one process (and DATA_DIR is locked by it): one worker.
if os.environ.get("MONGO_URI"):
    workers = int(os.environ.get("WEB_CONCURRENCY", str(multiprocessing.cpu_count() * 2 + 1)))
else:
    workers = 1
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
# The app logs one JSON line per request itself.
accesslog = None
errorlog = "-"


def post_worker_init(worker):
    # After a failed write to DATA_DIR the memory is ahead of the disk: this worker stops taking
    # requests and gunicorn starts a fresh one, which reloads from the disk.
    from service import durable

    durable.on_failure(lambda: setattr(worker, "alive", False))
