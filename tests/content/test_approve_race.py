"""Deciding one draft at once: 8 threads (each its own connection) released by one barrier, half
approving, half rejecting. Exactly one wins (one conditional UPDATE); the others get 409."""

from __future__ import annotations

import threading

from django.db import connections
from django_tenants.utils import schema_context

from content.models import Draft, Generation
from content.services import draft_approve, draft_reject, drafts_generate
from core.exceptions import ConflictError
from core.models import AuditEvent
from tests.support.committed import in_committed_connection

THREADS = 8


def test_concurrent_decisions_of_one_draft_leave_exactly_one_winner(brands, db):
    def create():
        generation = drafts_generate(
            channel="push", brief="Race boots", facts={"product": "boots"}, actor="system"
        )
        return generation.pk, generation.drafts.get().pk

    generation_id, draft_id = in_committed_connection(create, schema="brand_a")
    barrier = threading.Barrier(THREADS)
    wins: list[str] = []
    conflicts: list[str] = []
    errors: list[BaseException] = []

    def decider(index: int) -> None:
        service = draft_approve if index % 2 == 0 else draft_reject
        try:
            with schema_context("brand_a"):
                barrier.wait(timeout=20)
                try:
                    wins.append(service(draft_id=draft_id, actor=f"user:racer{index}").status)
                except ConflictError as error:
                    conflicts.append(error.code)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
        finally:
            connections.close_all()

    try:
        threads = [threading.Thread(target=decider, args=(i,)) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors, errors
        assert len(wins) == 1 and conflicts == ["draft_decided"] * (THREADS - 1)

        def stored():
            draft = Draft.objects.get(pk=draft_id)
            events = AuditEvent.objects.filter(object_type="content.draft", object_id=str(draft_id)).count()
            return draft.status, events

        assert in_committed_connection(stored, schema="brand_a") == (wins[0], 1)
    finally:
        in_committed_connection(
            lambda: Generation.objects.filter(pk=generation_id).delete(), schema="brand_a"
        )
