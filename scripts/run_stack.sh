#!/usr/bin/env bash
# Web, one Celery worker and beat in one foreground process group; Ctrl-C stops all three.
set -u
PY=${PY:-.venv/bin/python}
PORT=${PORT:-8000}
trap 'trap - INT TERM EXIT; kill 0 2>/dev/null; wait' INT TERM EXIT
# One metrics directory shared by web and worker processes: /metrics aggregates them all.
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-.data/prometheus}
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
$PY manage.py runserver "0.0.0.0:${PORT}" &
$PY -m celery -A config worker --loglevel=INFO --concurrency="${WORKER_CONCURRENCY:-2}" &
$PY -m celery -A config beat --loglevel=INFO &
wait -n
echo "one of web/worker/beat exited; stopping the others" >&2
