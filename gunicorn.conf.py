"""gunicorn settings, read from the environment."""

import multiprocessing
import os

bind = os.environ.get("BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
# Threads, not greenlets: on the emulator every query is Python work that a greenlet would never
# yield from, so one long import or dashboard would stall every other request, /healthz included.
worker_class = "gthread"
# The embedded emulator keeps its data inside one process (and DATA_DIR is locked by it): one worker.
if os.environ.get("MONGO_URI"):
    workers = int(os.environ.get("WEB_CONCURRENCY", str(multiprocessing.cpu_count() * 2 + 1)))
    # Behind the buffering proxy (docker-compose.yml) only whole requests arrive: few threads suffice.
    threads = int(os.environ.get("THREADS", "8"))
else:
    workers = 1
    # Served directly (./scripts/run), a client trickling its request head holds a thread until the
    # head is whole, and gunicorn has no deadline for it: enough threads that dozens of slow clients
    # leave plenty for everyone else. A thread blocked on a socket costs its stack, not the CPU.
    threads = int(os.environ.get("THREADS", "128"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
# The app logs one JSON line per request itself.
accesslog = None
errorlog = "-"
# gunicorn's runtime control socket sits at one path per user: two services (or a test starting
# several) would take it from each other, and nothing here uses it. CONTROL_SOCKET=path turns it on.
control_socket_disable = not os.environ.get("CONTROL_SOCKET")
if os.environ.get("CONTROL_SOCKET"):
    control_socket = os.environ["CONTROL_SOCKET"]


def post_worker_init(worker):
    # After a failed write to DATA_DIR the memory is ahead of the disk: this worker stops taking
    # requests and gunicorn starts a fresh one, which reloads from the disk.
    from service import durable

    durable.on_failure(lambda: setattr(worker, "alive", False))
