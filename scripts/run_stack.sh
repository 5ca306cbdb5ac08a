#!/usr/bin/env bash
# Web, one Celery worker, beat and the demo fake partner in one foreground process group; Ctrl-C stops all.
set -u
PY=${PY:-.venv/bin/python}
PORT=${PORT:-8000}
trap 'trap - INT TERM EXIT; kill 0 2>/dev/null; wait' INT TERM EXIT
$PY manage.py runserver "0.0.0.0:${PORT}" &
$PY -m celery -A config worker --loglevel=INFO --concurrency="${WORKER_CONCURRENCY:-2}" &
$PY -m celery -A config beat --loglevel=INFO &
# The demo partner (bootstrap_demo seeds a partner at http://127.0.0.1:9100); guarded so that a
# checkout without the command still runs (wait -n would otherwise stop the stack at once).
if $PY manage.py help fake_partner >/dev/null 2>&1; then
  $PY manage.py fake_partner --port 9100 &
fi
wait -n
echo "one of web/worker/beat exited; stopping the others" >&2
