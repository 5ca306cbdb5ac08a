#!/usr/bin/env bash
# Web, one Celery worker, beat and the demo fake partner in one foreground process group; Ctrl-C stops all.
set -u
PY=${PY:-.venv/bin/python}
PORT=${PORT:-8000}
trap 'trap - INT TERM EXIT; kill 0 2>/dev/null; wait' INT TERM EXIT
# One metrics directory shared by web and worker processes: /metrics aggregates them all.
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-.data/prometheus}
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
# No autoreloader by default: its file polling alone costs ~1.4 % of a core at idle (ADR 0008).
# RELOAD=1 make run brings it back while editing code.
if [ -n "${RELOAD:-}" ]; then RUNSERVER_FLAGS=""; else RUNSERVER_FLAGS="--noreload"; fi
$PY manage.py runserver $RUNSERVER_FLAGS "0.0.0.0:${PORT}" &
$PY -m celery -A config worker --loglevel=INFO --concurrency="${WORKER_CONCURRENCY:-2}" &
$PY -m celery -A config beat --loglevel=INFO &
# The demo partner: bootstrap_demo seeds brand_a's partner at http://127.0.0.1:9100; it reads
# that partner's secret from brand_a to verify the signatures.
$PY manage.py fake_partner --port "${FAKE_PARTNER_PORT:-9100}" --schema brand_a &
wait -n
echo "one of web/worker/beat/fake partner exited; stopping the others" >&2
