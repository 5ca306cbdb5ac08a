"""A brand's schema is a copy of a migrated template schema, not a fresh run of every migration.

Running the ~80 tenant migrations costs seconds per brand (6.4 s measured); copying the template's
tables, constraints, indexes, functions, triggers and rows costs one transaction of DDL. The
template (`BRAND_TEMPLATE_SCHEMA`, never a brand) is migrated like a brand schema, by
`migrate_schemas` and by `template_ensure()` whenever the code has migrations it has not applied,
so a copy is always as current as a migrated schema.

Why not django-tenants' `clone_schema()` (pg-clone-schema, `TENANT_BASE_SCHEMA`): one PL/pgSQL
call of ~1.8 s per schema plus a faked `migrate_schemas`, and a history of sequences and foreign
keys left pointing at the source schema (django-tenants #493, pg-clone-schema #22). Here the DDL
comes from PostgreSQL's own deparsers (`pg_get_constraintdef`, `pg_get_indexdef`,
`pg_get_triggerdef`) read with `search_path` set to the template alone, so every name inside the
template comes out unqualified and every name outside it (public, pg_catalog) qualified; the
copy then runs with `search_path` set to the new schema, where the unqualified names land.
Anything the copy does not know how to reproduce (a view, a sequence of its own, a default that
calls `nextval` on a template sequence) makes `TemplateNotCopyable` rather than a wrong copy.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django_tenants.utils import schema_exists

# pg_advisory_lock key of "migrate the template": two onboardings must not both migrate it.
_TEMPLATE_LOCK = 7_150_001


class TemplateNotCopyable(RuntimeError):
    """The template holds an object the copy does not reproduce; migrate brands the slow way."""


def template_schema_name() -> str:
    return settings.BRAND_TEMPLATE_SCHEMA


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# --- the template's catalog, as data ------------------------------------------------------------


@dataclass(frozen=True)
class IdentityCopy:
    """An identity column and its sequence (LIKE … INCLUDING IDENTITY would not keep its name or type)."""

    column: str
    generated: str  # "ALWAYS" or "BY DEFAULT"
    sequence: str  # its type is the column's
    start: int
    increment: int
    minimum: int
    maximum: int
    cache: int
    cycle: bool
    last_value: int | None  # None: never used (nextval not called yet)


@dataclass(frozen=True)
class TableCopy:
    name: str
    has_rows: bool
    identities: tuple[IdentityCopy, ...] = ()


@dataclass(frozen=True)
class TemplateCatalog:
    """What a brand schema is made of, read from the template (names unqualified)."""

    schema: str
    tables: tuple[TableCopy, ...]
    # (table, constraint, definition), foreign keys last. CHECK constraints come with the table
    # (LIKE … INCLUDING CONSTRAINTS copies their expression tree; deparsed text would not round-trip).
    constraints: tuple[tuple[str, str, str], ...]
    indexes: tuple[str, ...]  # CREATE INDEX statements of indexes no constraint owns
    functions: tuple[str, ...]  # CREATE FUNCTION statements, schema prefix removed
    triggers: tuple[str, ...]
    applied_migrations: frozenset[tuple[str, str]] = field(default_factory=frozenset)


def clone_script(catalog: TemplateCatalog, new_schema: str) -> str:
    """The SQL that makes `new_schema` a copy of the template: one script, one transaction."""
    source = _quote(catalog.schema)
    statements = [f"CREATE SCHEMA {_quote(new_schema)}", f"SET LOCAL search_path = {_quote(new_schema)}"]
    for table in catalog.tables:
        statements.append(
            f"CREATE TABLE {_quote(table.name)} (LIKE {source}.{_quote(table.name)} INCLUDING DEFAULTS "
            "INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMPRESSION)"
        )
    for table in catalog.tables:
        if table.has_rows:
            copy_rows = f"INSERT INTO {_quote(table.name)} OVERRIDING SYSTEM VALUE SELECT * FROM {source}."  # noqa: S608
            statements.append(copy_rows + _quote(table.name))
        for identity in table.identities:
            statements.append(
                f"ALTER TABLE {_quote(table.name)} ALTER COLUMN {_quote(identity.column)} "
                f"ADD GENERATED {identity.generated} AS IDENTITY (SEQUENCE NAME {_quote(identity.sequence)} "
                f"INCREMENT BY {int(identity.increment)} "
                f"MINVALUE {int(identity.minimum)} MAXVALUE {int(identity.maximum)} "
                f"START WITH {int(identity.start)} CACHE {int(identity.cache)} "
                f"{'CYCLE' if identity.cycle else 'NO CYCLE'})"
            )
            if identity.last_value is not None:
                statements.append(
                    f"SELECT setval({_literal(_quote(identity.sequence))}, {int(identity.last_value)})"
                )
    for table, name, definition in catalog.constraints:
        statements.append(f"ALTER TABLE {_quote(table)} ADD CONSTRAINT {_quote(name)} {definition}")
    statements.extend(catalog.indexes)
    statements.extend(catalog.functions)
    statements.extend(catalog.triggers)
    return ";\n".join(statements) + ";"


# --- reading the template ------------------------------------------------------------------------

_TABLES = """
SELECT c.oid, c.relname, c.relkind FROM pg_class c
WHERE c.relnamespace = %s::regnamespace AND c.relkind NOT IN ('i', 'S', 'I')
ORDER BY c.relname
"""
_OWN_SEQUENCES = """
SELECT s.relname FROM pg_class s
WHERE s.relnamespace = %s::regnamespace AND s.relkind = 'S'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = s.oid AND d.deptype = 'i')
"""
_NEXTVAL_DEFAULTS = """
SELECT c.relname, a.attname FROM pg_attrdef d
JOIN pg_class c ON c.oid = d.adrelid JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
WHERE c.relnamespace = %s::regnamespace AND pg_get_expr(d.adbin, d.adrelid) LIKE '%%nextval(%%'
"""
_IDENTITIES = """
SELECT c.relname, a.attname, a.attidentity, s.relname
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_depend d ON d.refobjid = c.oid AND d.refobjsubid = a.attnum AND d.deptype = 'i'
JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
WHERE c.relnamespace = %s::regnamespace AND c.relkind = 'r' AND a.attidentity <> '' AND a.attnum > 0
"""
_CONSTRAINTS = """
SELECT c.relname, k.conname, pg_get_constraintdef(k.oid), k.contype FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
WHERE c.relnamespace = %s::regnamespace AND k.contype <> 'c'
ORDER BY k.contype = 'f', c.relname, k.conname
"""
_INDEXES = """
SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
WHERE c.relnamespace = %s::regnamespace
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid)
ORDER BY 1
"""
_FUNCTIONS = """
SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p
WHERE p.pronamespace = %s::regnamespace ORDER BY p.proname
"""
_TRIGGERS = """
SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE c.relnamespace = %s::regnamespace AND NOT t.tgisinternal ORDER BY 1
"""
_OTHER_OBJECTS = """
SELECT 'type ' || t.typname FROM pg_type t
WHERE t.typnamespace = %s::regnamespace AND t.typtype NOT IN ('b', 'c') AND t.typrelid = 0
"""


def _unqualified_relation(definition: str, schema: str) -> str:
    """pg_get_indexdef/pg_get_triggerdef always qualify their table (`ON brand_template.t`): unqualify it."""
    for qualifier in (f"{_quote(schema)}.", f"{schema}."):
        for keyword in (" ON ONLY ", " ON "):
            marker = keyword + qualifier
            if marker in definition:
                definition = definition.replace(marker, keyword, 1)
                if qualifier in definition:
                    break
                return definition
    raise TemplateNotCopyable(f"cannot place this definition in another schema: {definition}")


def template_catalog(schema: str) -> TemplateCatalog:
    """Read the template's objects; with search_path = the template, so its names come unqualified."""
    quoted = _quote(schema)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL search_path = {quoted}")
        cursor.execute(_TABLES, [quoted])
        tables = cursor.fetchall()
        odd = [f"{name} (relkind {kind})" for _, name, kind in tables if kind != "r"]
        cursor.execute(_OWN_SEQUENCES, [quoted])
        odd += [f"sequence {name}" for (name,) in cursor.fetchall()]
        cursor.execute(_NEXTVAL_DEFAULTS, [quoted])
        odd += [f"nextval default on {table}.{column}" for table, column in cursor.fetchall()]
        cursor.execute(_OTHER_OBJECTS, [quoted])
        odd += [name for (name,) in cursor.fetchall()]
        if odd:
            raise TemplateNotCopyable(f"the template schema {schema!r} holds {', '.join(odd)}")

        identities: dict[str, list[IdentityCopy]] = {}
        cursor.execute(_IDENTITIES, [quoted])
        for table, column, generated, sequence in cursor.fetchall():
            cursor.execute(
                "SELECT seqstart, seqincrement, seqmin, seqmax, seqcache, "
                "seqcycle FROM pg_sequence WHERE seqrelid = %s::regclass",
                [_quote(sequence)],
            )
            options = cursor.fetchone()
            cursor.execute(f"SELECT last_value, is_called FROM {_quote(sequence)}")  # noqa: S608 - catalog name
            last_value, is_called = cursor.fetchone()
            identities.setdefault(table, []).append(
                IdentityCopy(
                    column,
                    "ALWAYS" if generated == "a" else "BY DEFAULT",
                    sequence,
                    *options,
                    last_value=last_value if is_called else None,
                )
            )
        copies = []
        for _, name, _ in tables:
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {_quote(name)})")  # noqa: S608 - catalog name
            copies.append(
                TableCopy(
                    name=name,
                    has_rows=cursor.fetchone()[0],
                    identities=tuple(identities.get(name, ())),
                )
            )

        cursor.execute(_CONSTRAINTS, [quoted])
        constraints = tuple((table, name, definition) for table, name, definition, _ in cursor.fetchall())
        cursor.execute(_INDEXES, [quoted])
        indexes = tuple(_unqualified_relation(definition, schema) for (definition,) in cursor.fetchall())
        cursor.execute(_FUNCTIONS, [quoted])
        functions = []
        for name, definition in cursor.fetchall():
            # pg_get_functiondef always qualifies the function's own name: drop that one prefix.
            header = f"CREATE OR REPLACE FUNCTION {quoted}.{_quote(name)}("
            bare_header = f"CREATE OR REPLACE FUNCTION {schema}.{name}("
            for prefix in (header, bare_header):
                if definition.startswith(prefix):
                    definition = f"CREATE OR REPLACE FUNCTION {_quote(name)}(" + definition[len(prefix) :]
                    break
            else:
                raise TemplateNotCopyable(f"function {name}: unexpected definition header")
            if f"{schema}." in definition:
                raise TemplateNotCopyable(f"function {name} names the template schema in its body")
            functions.append(definition.strip())
        cursor.execute(_TRIGGERS, [quoted])
        triggers = tuple(_unqualified_relation(definition, schema) for (definition,) in cursor.fetchall())
        cursor.execute("SELECT app, name FROM django_migrations")
        applied = frozenset(cursor.fetchall())
    return TemplateCatalog(
        schema=schema,
        tables=tuple(copies),
        constraints=constraints,
        indexes=indexes,
        functions=tuple(functions),
        triggers=triggers,
        applied_migrations=applied,
    )


# --- keeping the template current ----------------------------------------------------------------

_code_migrations: frozenset[tuple[str, str]] | None = None
_catalog: TemplateCatalog | None = None
_lock = threading.Lock()


def code_migrations() -> frozenset[tuple[str, str]]:
    """Every migration the code has (app label, name): a schema that applied them all is current."""
    global _code_migrations
    if _code_migrations is None:
        from django.db.migrations.loader import MigrationLoader

        loader = MigrationLoader(None, ignore_no_migrations=True)
        _code_migrations = frozenset(loader.disk_migrations)
    return _code_migrations


def applied_migrations(schema: str) -> frozenset[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [f"{_quote(schema)}.django_migrations"])
        if cursor.fetchone()[0] is None:
            return frozenset()
        cursor.execute(f"SELECT app, name FROM {_quote(schema)}.django_migrations")  # noqa: S608 - quoted
        return frozenset(cursor.fetchall())


def schema_is_current(schema: str) -> bool:
    return code_migrations() <= applied_migrations(schema)


def template_ensure(*, verbosity: int = 0) -> bool:
    """Create or migrate the template when the code has migrations it lacks. True when it did."""
    schema = template_schema_name()
    if schema_exists(schema) and schema_is_current(schema):
        return False
    # A session lock, not a transaction: a migration may be non-atomic (CREATE INDEX CONCURRENTLY).
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [_TEMPLATE_LOCK])
    try:
        if not schema_exists(schema):
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE SCHEMA {_quote(schema)}")
        elif schema_is_current(schema):
            return False  # another process migrated it while we waited for the lock
        call_command(
            "migrate_schemas",
            tenant=True,
            schema_name=schema,
            interactive=False,
            verbosity=verbosity,
        )
    finally:
        # migrate_schemas closes its connection after migrating, which releases the lock already.
        if connection.connection is not None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [_TEMPLATE_LOCK])
        connection.set_schema_to_public()
    connection.set_schema_to_public()
    return True


def _current_catalog() -> TemplateCatalog:
    """The template's catalog, read again only when the template's migrations changed."""
    global _catalog
    schema = template_schema_name()
    with _lock:
        if _catalog is None or _catalog.applied_migrations != applied_migrations(schema):
            _catalog = template_catalog(schema)
        return _catalog


def schema_clone(schema_name: str, *, verbosity: int = 0) -> None:
    """Create `schema_name` as a copy of the template (migrated first if behind), in one transaction."""
    template_ensure(verbosity=verbosity)
    catalog = _current_catalog()
    script = clone_script(catalog, schema_name)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(script)
    connection.set_schema_to_public()
