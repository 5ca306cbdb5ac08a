"""Creating an API key is audited; the event names the key by its prefix, never by the key or its hash."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command
from django_tenants.utils import schema_context

from accounts.models import ApiKey
from core.models import AuditEvent


def test_create_api_key_records_an_event_without_the_key(brands, db):
    out = StringIO()
    call_command("create_api_key", schema="brand_a", role="crm", name="reporting", stdout=out)
    key = out.getvalue().strip().splitlines()[-1]
    with schema_context("brand_a"):
        api_key = ApiKey.objects.get(name="reporting")
        event = AuditEvent.objects.get(action="api_key.created", object_id=api_key.prefix)
        assert (event.actor, event.object_type) == ("system", "accounts.apikey")
        assert event.changes == {
            "name": {"before": None, "after": "reporting"},
            "role": {"before": None, "after": "crm"},
            "prefix": {"before": None, "after": api_key.prefix},
        }
        stored = str(event.changes) + event.object_id
        assert key not in stored and api_key.hashed_key not in stored
