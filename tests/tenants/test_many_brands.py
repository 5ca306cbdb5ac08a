"""Onboarding many brands (`create_brands`) and migrating them all (`migrate_schemas --executor=parallel`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from tenants.models import Brand, Domain
from tenants.services import brand_create
from tests.support.committed import in_committed_connection, subprocess_database_url

ROOT = Path(__file__).resolve().parents[2]


def test_create_brands_makes_numbered_brands_and_a_rerun_changes_nothing(brands, db, capsys):
    call_command("create_brands", "--count", "3", "--prefix", "load_t")
    assert "3 brands created, 0 already existed" in capsys.readouterr().out
    made = Brand.objects.filter(schema_name__startswith="load_t_").order_by("schema_name")
    assert [(b.schema_name, b.name) for b in made] == [
        ("load_t_1", "Load T 1"),
        ("load_t_2", "Load T 2"),
        ("load_t_3", "Load T 3"),
    ]
    assert Domain.objects.get(tenant__schema_name="load_t_2").domain == "load-t-2.localhost"
    call_command("create_brands", "--count", "4", "--prefix", "load_t")
    assert "1 brands created, 3 already existed" in capsys.readouterr().out
    assert Brand.objects.filter(schema_name__startswith="load_t_").count() == 4


def test_create_brands_stops_with_a_clear_error_on_a_clash(brands, db):
    brand_create(schema_name="clash_2", name="Someone else", domain="someone.localhost")
    with pytest.raises(CommandError, match=r"clash_2: .*stopped after 1 created"):
        call_command("create_brands", "--count", "3", "--prefix", "clash")
    assert Brand.objects.filter(schema_name="clash_1").exists()
    assert not Brand.objects.filter(schema_name="clash_3").exists()


def _latest_migration(app_label: str) -> tuple[str, str]:
    """The app's newest migration, which nothing depends on, and the one before it."""
    from django.db.migrations.loader import MigrationLoader

    graph = MigrationLoader(None).graph
    (leaf,) = [name for app, name in graph.leaf_nodes() if app == app_label]
    (parent,) = [name for app, name in graph.node_map[(app_label, leaf)].parents if app == app_label]
    return leaf, parent


def _migrate_all(*args: str) -> str:
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": subprocess_database_url(),
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate_schemas", *(args or ["--executor=parallel"])],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _sql(statement: str):
    def run():
        with connection.cursor() as cursor:
            cursor.execute(statement)
            return cursor.fetchall() if cursor.description else None

    return in_committed_connection(run)


def test_parallel_migrate_applies_only_what_a_schema_lacks_and_says_how_far_it_got(brands, db):
    in_committed_connection(
        lambda: brand_create(
            schema_name="migrate_check", name="Migrate check", domain="migrate-check.localhost"
        )
    )
    # The brand is put behind by unapplying the newest campaigns migration (its schema change too),
    # so the parallel executor has one real migration to apply to one schema.
    leaf, parent = _latest_migration("campaigns")
    lacking = f"app = 'campaigns' AND name = '{leaf}'"
    try:
        _migrate_all("--schema=migrate_check", "campaigns", parent)
        assert _sql(f"SELECT count(*) FROM migrate_check.django_migrations WHERE {lacking}") == [(0,)]
        output = _migrate_all()
        assert "1 to migrate" in output, output
        assert "[1/1 100%] migrate_check migrated" in output, output
        assert _sql(f"SELECT count(*) FROM migrate_check.django_migrations WHERE {lacking}") == [(1,)]
        again = _migrate_all()
        assert " 0 to migrate" in again, again
    finally:
        _sql("DROP SCHEMA IF EXISTS migrate_check CASCADE")
        in_committed_connection(lambda: Brand.objects.filter(schema_name="migrate_check").delete())
