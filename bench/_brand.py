"""Shared set-up of the benchmarks: Django, the database, and throw-away brands.

Every Django benchmark starts with `setup_django()` (CREATE DATABASE when DATABASE_URL names
one that does not exist yet, then `django.setup()`) and gets its brand from `brand_ready()`,
which migrates the public schema and the brand's schema first: a bench runs alone on an empty
database (`.venv/bin/python bench/archive.py`) as well as under `make bench`.

The campaign benchmarks share the brand `bench_campaigns`: it is kept between runs, its
campaigns are replaced by each run.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_SCHEMA = "bench_campaigns"
BENCH_HOST = "bench-campaigns.localhost"


def setup_django(**environ: str) -> None:
    """Configure and set up Django; `environ` are defaults for settings read at start-up."""
    # Before django.setup(): the project root ahead of bench/ (sys.path[0] when run as a script),
    # so that `archive` is the app, not bench/archive.py.
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    for name, value in environ.items():
        os.environ.setdefault(name, value)
    ensure_database()
    import django

    django.setup()


def ensure_database() -> None:
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


def migrate_public() -> None:
    """Apply the public schema's migrations (nothing to do costs about a second)."""
    from django.core.management import call_command

    call_command("migrate_schemas", "--shared", "--executor=standard", verbosity=0)


def brand_ready(schema: str, name: str, host: str):
    """The brand `schema` with host `host`, created or reused, its schema migrated; public first."""
    from django.core.management import call_command

    from tenants.services import brand_create

    migrate_public()
    # Creating a brand migrates its schema and prints every migration: not a benchmark's output.
    with contextlib.redirect_stdout(io.StringIO()):
        result = brand_create(schema_name=schema, name=name, domain=host)
    if not result.created:
        # A schema kept from an earlier run: bring it up to the code's migrations.
        call_command("migrate_schemas", "--tenant", "--executor=standard", f"--schema={schema}", verbosity=0)
    return result.brand


def ensure_bench_brand():
    """The campaign benchmarks' brand (`bench_campaigns`), migrated."""
    return brand_ready(BENCH_SCHEMA, "Bench campaigns", BENCH_HOST)


def drop_brand(schema: str) -> None:
    """Remove a throw-away bench brand: its schema, its host and its row (no-op when absent)."""
    from django.db import connection

    from tenants.models import Brand, Domain

    migrate_public()  # on an empty database the tables below do not exist yet
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    Domain.objects.filter(tenant__schema_name=schema).delete()
    Brand.objects.filter(schema_name=schema).delete()


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
