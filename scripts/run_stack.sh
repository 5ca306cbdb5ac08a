#!/usr/bin/env bash
# Web, one Celery worker, beat and the demo fake partner; Ctrl-C or SIGTERM stops them all
# (each gets SIGTERM, this script waits for them; whatever is still running 10 s later is killed).
set -u
PY=${PY:-.venv/bin/python}
PORT=${PORT:-8000}
FAKE_PARTNER_PORT=${FAKE_PARTNER_PORT:-9100}
PIDS=()
BANNER=""
stop() {
  trap - INT TERM EXIT
  [ -n "$BANNER" ] && kill "$BANNER" 2>/dev/null
  kill -TERM "${PIDS[@]}" 2>/dev/null
  (
    trap 'kill "$nap" 2>/dev/null; exit 0' TERM
    sleep 10 & nap=$!
    wait "$nap" && kill -KILL "${PIDS[@]}" 2>/dev/null
  ) &
  local backstop=$!
  wait "${PIDS[@]}" 2>/dev/null
  kill "$backstop" 2>/dev/null
}
trap 'stop; exit 0' INT TERM
trap stop EXIT
# One metrics directory shared by web and worker processes: /metrics aggregates them all.
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-.data/prometheus}
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
# The web tier as production runs it: gunicorn, WEB_WORKERS sync workers (bench/pipeline.py's
# --web-workers 2 on 2 cores). RELOAD=1 make run gives Django's runserver with its autoreloader
# instead, while editing code (its file polling alone costs ~1.4 % of a core at idle, ADR 0008).
if [ -n "${RELOAD:-}" ]; then
  $PY manage.py runserver "0.0.0.0:${PORT}" & PIDS+=($!)
else
  GUNICORN_BIND="0.0.0.0:${PORT}" GUNICORN_WORKERS="${WEB_WORKERS:-2}" \
    $PY -m gunicorn -c config/gunicorn.py config.wsgi:application & PIDS+=($!)
fi
# The worker with the settings bench/pipeline.py found best on 2 cores (ADR 0004): 3 prefork
# processes, no gossip/mingle/heartbeat (one worker; they only cost CPU), and DEBUG off — a worker
# renders no page, and DEBUG keeps every SQL statement of every task in memory. The demo partner
# listens on 127.0.0.1, hence PARTNER_URL_ALLOW_PRIVATE (which DEBUG would otherwise imply).
DJANGO_DEBUG=false PARTNER_URL_ALLOW_PRIVATE="${PARTNER_URL_ALLOW_PRIVATE:-true}" \
  $PY -m celery -A config worker --loglevel=INFO --pool=prefork --concurrency="${WORKER_CONCURRENCY:-3}" \
  --without-gossip --without-mingle --without-heartbeat & PIDS+=($!)
$PY -m celery -A config beat --loglevel=INFO & PIDS+=($!)
# The demo partner: bootstrap_demo points brand_a's partner at it; it reads that partner's secret
# from brand_a to verify signatures, and sends awards back for half of what it accepts.
$PY manage.py fake_partner --port "$FAKE_PARTNER_PORT" --schema brand_a \
  --award-share "${AWARD_SHARE:-0.5}" --award-url "http://127.0.0.1:${PORT}" & PIDS+=($!)
# The banner and the admin credentials come last: once the web server answers /readyz, the fake
# partner /healthz, and the worker a ping (its start-up lines are written by then).
for _ in $(seq 1 120); do
  if $PY -c "import sys, urllib.request; [urllib.request.urlopen(u, timeout=2) for u in sys.argv[1:]]" \
    "http://127.0.0.1:${PORT}/readyz" "http://127.0.0.1:${FAKE_PARTNER_PORT}/healthz" 2>/dev/null \
    && $PY -m celery -A config inspect ping --timeout 2 >/dev/null 2>&1; then
    echo
    echo "=== The demo is up. Send purchases from a second terminal:"
    echo "    .venv/bin/python manage.py simulate_purchases --schema brand_a --count 500 --rate 50$([ "$PORT" != 8000 ] && echo " --url http://127.0.0.1:${PORT}")"
    echo "=== Sign in to the brand's admin (from .data/demo-admin.txt):"
    sed 's/^/    /' .data/demo-admin.txt 2>/dev/null
    echo
    break
  fi
  sleep 1
done &
BANNER=$!
wait -n "${PIDS[@]}"
echo "one of web/worker/beat/fake partner exited; stopping the others" >&2
