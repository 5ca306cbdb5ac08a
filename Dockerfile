# One image, three roles chosen by the command:
#   web:    gunicorn config.wsgi (default)
#   worker: celery -A config worker -l INFO
#   beat:   celery -A config beat -l INFO
# Needs DATABASE_URL and REDIS_URL (the embedded servers are for development only).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings.base \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY requirements/ requirements/
RUN pip install -r requirements/prod.txt
COPY . .
RUN DATABASE_URL=postgres://unused/unused REDIS_URL=redis://unused:6379/0 \
    python manage.py collectstatic --noinput \
 && useradd --create-home --uid 10001 app && chown -R app /app
USER app

EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4", "--access-logfile", "-"]
