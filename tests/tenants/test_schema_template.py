"""A brand's schema is a copy of the migrated template: the same objects, its own rows and sequences."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django_tenants.utils import schema_context, schema_exists

from tenants.models import Brand, Domain
from tenants.schema_template import (
    TemplateNotCopyable,
    schema_is_current,
    template_catalog,
    template_ensure,
    template_schema_name,
)
from tenants.services import brand_create

_SHAPE = {
    "columns": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity,
               a.attgenerated, pg_get_expr(d.adbin, d.adrelid)
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relnamespace = %(schema)s::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
          AND c.relkind = 'r'
    """,
    "constraints": """
        SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid), k.condeferrable, k.condeferred
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        WHERE c.relnamespace = %(schema)s::regnamespace
    """,
    "indexes": """
        SELECT c.relname, replace(pg_get_indexdef(i.indexrelid), %(prefix)s, '')
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relnamespace = %(schema)s::regnamespace
    """,
    "triggers": """
        SELECT replace(pg_get_triggerdef(t.oid), %(prefix)s, '') FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relnamespace = %(schema)s::regnamespace AND NOT t.tgisinternal
    """,
    "functions": """
        SELECT p.proname, p.prosrc, pg_get_function_result(p.oid) FROM pg_proc p
        WHERE p.pronamespace = %(schema)s::regnamespace
    """,
    "sequences": """
        SELECT c.relname, s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache,
               s.seqcycle FROM pg_sequence s
        JOIN pg_class c ON c.oid = s.seqrelid WHERE c.relnamespace = %(schema)s::regnamespace
    """,
}


def schema_shape(schema: str) -> dict[str, set[tuple]]:
    """Every object of a schema as comparable rows; names inside the schema unqualified."""
    shape = {}
    with connection.cursor() as cursor:
        cursor.execute(f'SET LOCAL search_path = "{schema}"')
        for kind, query in _SHAPE.items():
            cursor.execute(query, {"schema": f'"{schema}"', "prefix": f"{schema}."})
            shape[kind] = set(cursor.fetchall())
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = %s::regnamespace AND relkind = 'r'",
            [f'"{schema}"'],
        )
        rows = {}
        for (table,) in cursor.fetchall():
            cursor.execute(f'SELECT count(*) FROM "{table}"')
            rows[table] = cursor.fetchone()[0]
        shape["row_counts"] = set(rows.items())
    return shape


@pytest.fixture
def template(brands, db) -> str:
    template_ensure()
    return template_schema_name()


def test_a_new_brand_schema_has_exactly_the_objects_and_rows_of_the_migrated_template(template):
    brand_create(schema_name="copy_check", name="Copy check", domain="copy-check.localhost")
    copied, migrated = schema_shape("copy_check"), schema_shape(template)
    assert migrated["columns"] and migrated["indexes"] and migrated["triggers"]
    for kind in migrated:
        assert copied[kind] == migrated[kind], kind


def test_the_existing_brands_equal_the_template_they_were_copied_from(template):
    migrated = schema_shape(template)
    migrated.pop("row_counts")  # other tests commit rows in the session's brands
    for schema in ("brand_a", "brand_b"):
        shape = schema_shape(schema)
        shape.pop("row_counts")
        assert shape == migrated


def test_a_copy_has_its_own_sequences_rows_and_working_triggers(template):
    brand_create(schema_name="copy_own", name="Copy own", domain="copy-own.localhost")
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT max(id) FROM "{template}".django_migrations')
        template_last = cursor.fetchone()[0]
    with schema_context("copy_own"), connection.cursor() as cursor:
        # The copied django_migrations rows continue from the template's position, not from 1.
        cursor.execute(
            "INSERT INTO django_migrations (app, name, applied) VALUES ('x', 'y', now()) RETURNING id"
        )
        assert cursor.fetchone()[0] == template_last + 1
        cursor.execute("INSERT INTO auth_group (name) VALUES ('only in copy_own')")
        cursor.execute(
            "INSERT INTO core_auditevent (at, actor, action, object_type, object_id, changes, request_id) "
            "VALUES (now(), 'test', 'brand.checked', 'x', '1', '{}', '')"
        )
        with pytest.raises(Exception, match="append-only"), transaction.atomic():
            cursor.execute("UPDATE core_auditevent SET actor = 'changed'")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM \"{template}\".auth_group WHERE name = 'only in copy_own'")
        assert cursor.fetchone()[0] == 0
        cursor.execute(f'SELECT max(id) FROM "{template}".django_migrations')
        assert cursor.fetchone()[0] == template_last


def test_a_missing_template_is_migrated_before_the_first_copy(template):
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # deferred FK checks of this test's transaction
        cursor.execute(f'DROP SCHEMA "{template}" CASCADE')
    assert not schema_exists(template)
    result = brand_create(schema_name="after_template", name="After template", domain="after.localhost")
    assert result.created
    assert schema_exists(template) and schema_is_current(template)
    assert schema_is_current("after_template")


def test_a_template_with_a_migration_not_applied_is_not_current(template):
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM \"{template}\".django_migrations WHERE app = 'campaigns' "
            f"AND id = (SELECT max(id) FROM \"{template}\".django_migrations WHERE app = 'campaigns')"
        )
    assert not schema_is_current(template)
    assert schema_is_current("brand_a")


def test_a_template_object_the_copy_cannot_reproduce_stops_onboarding(template):
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE VIEW "{template}".report AS SELECT 1 AS one')
    with pytest.raises(TemplateNotCopyable, match="report"):
        template_catalog(template)


def test_the_template_schema_name_is_not_a_brand(brands, db):
    with pytest.raises(CommandError, match="platform"):
        call_command(
            "create_brand", "--schema", template_schema_name(), "--name", "T", "--domain", "t.localhost"
        )
    assert not Brand.objects.filter(schema_name=template_schema_name()).exists()


def test_a_failed_copy_leaves_no_brand_no_host_and_no_schema(template, monkeypatch):
    import tenants.schema_template as schema_template

    def broken_script(catalog, new_schema):
        return f'CREATE SCHEMA "{new_schema}"; SELECT no_such_function()'

    monkeypatch.setattr(schema_template, "clone_script", broken_script)
    with pytest.raises(Exception, match="no_such_function"):
        brand_create(schema_name="half_done", name="Half done", domain="half-done.localhost")
    assert not Brand.objects.filter(schema_name="half_done").exists()
    assert not Domain.objects.filter(domain="half-done.localhost").exists()
    assert not schema_exists("half_done")
