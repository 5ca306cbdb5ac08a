"""Shared set-up of the campaign benchmarks: Django, and a throw-away brand `bench_campaigns`.

The brand lives in the database of DATABASE_URL (created with `CREATE DATABASE`
and migrated here when missing); it is kept between runs, its campaigns are
replaced by each run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_SCHEMA = "bench_campaigns"
BENCH_HOST = "bench-campaigns.localhost"


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    _ensure_database()
    import django

    django.setup()


def _ensure_database() -> None:
    """CREATE DATABASE when DATABASE_URL names one that does not exist yet (a fresh machine)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return  # the embedded server: settings create what they need
    import psycopg

    base, _, name = url.rpartition("/")
    name = name.split("?", 1)[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def ensure_bench_brand():
    """Migrate the public schema if needed and create (or reuse) the bench brand."""
    from django.core.management import call_command
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('public.tenants_brand')")
        migrated = cursor.fetchone()[0] is not None
    if not migrated:
        call_command("migrate_schemas", "--shared", verbosity=0)
    from tenants.services import brand_create

    return brand_create(schema_name=BENCH_SCHEMA, name="Bench campaigns", domain=BENCH_HOST).brand


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int, *, workers: int = 1) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.base", "DJANGO_DEBUG": "false"}
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )


# The partner row the archive and dashboard benchmarks insert in raw SQL (their data is made
# server-side, far faster than the ORM); its secret is a fixed, valid whsec_ value.
BENCH_PARTNER_SQL = """
    INSERT INTO partners_partner (slug, name, submission_url, auth_url, secret, previous_secret,
        timeout_seconds, max_attempts, is_active, created_at, updated_at)
    VALUES ('bench', 'Bench', 'http://127.0.0.1:9/s', 'http://127.0.0.1:9/a',
        'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', '', 10, 8, true, now(), now())
    RETURNING id
"""


def insert_bench_partner(cursor) -> int:
    cursor.execute(BENCH_PARTNER_SQL)
    return cursor.fetchone()[0]


def drop_brand(schema: str) -> None:
    """Remove a throw-away bench brand: its schema, its host and its row."""
    from django.db import connection

    from tenants.models import Brand, Domain

    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    Domain.objects.filter(tenant__schema_name=schema).delete()
    Brand.objects.filter(schema_name=schema).delete()
