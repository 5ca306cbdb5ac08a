# One image, three roles chosen by the command (see docker-compose.yml):
#   web:    gunicorn -c config/gunicorn.py config.wsgi:application   (default)
#   worker: celery -A config worker -l INFO
#   beat:   celery -A config beat -l INFO
# Needs DATABASE_URL and REDIS_URL (the embedded servers are for development only).
# Each role runs as PID 1 (exec form) and exits by itself within 10 s of SIGTERM (`docker stop`):
# gunicorn's graceful timeout is 8 s, beat stops without I/O in its signal handler (ADR 0016).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings.base \
    PIP_NO_CACHE_DIR=1 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus

WORKDIR /app
COPY requirements/ requirements/
RUN pip install -r requirements/prod.txt
COPY . .
# collectstatic needs settings, not servers: placeholder URLs keep the embedded servers out of the build.
RUN DATABASE_URL=postgres://build@unused/unused REDIS_URL=redis://unused:6379/0 \
    python manage.py collectstatic --noinput \
 && useradd --create-home --uid 10001 app \
 && mkdir -p /tmp/prometheus \
 && chown -R app /app /tmp/prometheus
USER app

EXPOSE 8000
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"]
