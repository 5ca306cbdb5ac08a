"""gunicorn settings for the web role (`gunicorn -c config/gunicorn.py config.wsgi`)."""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "4"))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# On SIGTERM, requests in flight get this long to finish: under Docker's and Kubernetes' default
# 10 s stop grace period, so the process exits by itself rather than being killed.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "8"))
keepalive = 5
# Bounded request line/headers; bodies are limited by MAX_REQUEST_BODY_BYTES in Django.
limit_request_line = 8190
accesslog = "-"
errorlog = "-"
# Recycle workers now and then: bounded memory growth, jittered so they do not restart together.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "5000"))
max_requests_jitter = 500


def child_exit(server, worker):
    """Prometheus multiprocess mode: drop the live gauges of a worker that exited."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
