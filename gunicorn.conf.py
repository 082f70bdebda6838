"""gunicorn settings for serving toxsite in production: `gunicorn -c gunicorn.conf.py` (make serve-prod).

Every value can be set in the environment; .env.example lists them. Django's own settings come from the
environment too (SECRET_KEY, DATABASE_URL, ...).
"""

import gc
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {value!r}.") from None


def _cores() -> int:
    """The cores this process may run on (a CPU affinity or cpuset narrows them), else all of them."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


wsgi_app = "toxsite.wsgi:application"
bind = [address.strip() for address in os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")]

# One process more than there are cores. A worker runs Python on one core at a time (the GIL) and loses some
# of it to handing the GIL between its threads and waiting on sockets: with one worker per core, 2 cores
# under full load were 35 % idle, and a third worker raised requests/s by a third (bench/bench_http.py).
# Each worker serves many requests at once on threads, so that the classify requests that arrive together
# are scored and stored together (classifier/api/batching.py): with one thread per worker every request
# would pay for a whole scoring call and transaction of its own.
workers = _int("GUNICORN_WORKERS", _int("WEB_CONCURRENCY", _cores() + 1))
threads = _int("GUNICORN_THREADS", 16)
worker_class = "gthread" if threads > 1 else "sync"
# Load Django and the model once in the master, then fork: workers share the model's memory and a
# replaced worker starts at once.
preload_app = os.environ.get("GUNICORN_PRELOAD", "1") != "0"

timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
max_requests = _int("GUNICORN_MAX_REQUESTS", 10000)
max_requests_jitter = max_requests // 10

accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
# The usual combined format, plus the request's duration in seconds.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(L)ss'
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# gunicorn's control socket (for gunicornc) only when GUNICORN_CONTROL_SOCKET names its path, so that two
# servers on one machine never share the default one.
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if not control_socket_disable:
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
# The heartbeat file of each worker lives in memory, not on a disk that may stall.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None


def pre_fork(server: object, worker: object) -> None:
    """Freeze the master's objects in the garbage collector's permanent generation before a worker forks.

    With the app preloaded (the default) these are Django and the model: the worker's collections never
    walk them, so it keeps sharing their memory pages with the master, and it exits without tearing them
    down one by one (0.45 -> 0.12 s of CPU for each worker that max_requests recycles).
    """
    gc.freeze()
