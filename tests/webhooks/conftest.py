from __future__ import annotations

import pytest

from core.actors import SYSTEM_ACTOR
from outbox import events
from webhooks.services import webhook_endpoint_create


@pytest.fixture
def receiver(httpserver):
    """The brand's own system: a real local HTTP server at /hooks."""
    return httpserver


@pytest.fixture
def make_endpoint(brand_a, receiver, settings):
    """`make_endpoint(event_types=[...])` → (endpoint, secret) posting to the local receiver."""
    settings.WEBHOOK_TIMEOUT_SECONDS = 2
    # The subscription cache outlives a rolled-back test transaction (Redis, process memo): start clean.
    events.subscriptions_changed()

    def make(event_types=("award.created",), path="/hooks", **fields):
        created = webhook_endpoint_create(
            actor=SYSTEM_ACTOR, url=receiver.url_for(path), event_types=list(event_types), **fields
        )
        return created.endpoint, created.secret

    yield make
    events.subscriptions_changed()
