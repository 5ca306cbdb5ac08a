"""The journeys admin: the flow as an indented list with counts per step, typed settings, the
activate/pause actions through the services, an enrollment's history."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine
from django.contrib.auth.models import Group
from django.test import Client

from core.models import AuditEvent
from journeys.executor import enrollments_advance_due
from journeys.models import Enrollment, Journey
from journeys.services import journey_create
from tests.journeys.helpers import ACTOR, active_journey, customers, ingest, welcome_flow

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def _client(django_user_model, group: str) -> Client:
    user = django_user_model.objects.create_user(username=f"j-{group}", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client(HTTP_HOST="brand-a.localhost")
    client.force_login(user)
    return client


def test_the_flow_reads_as_an_indented_list_with_counts(brand_a, django_user_model):
    journey = active_journey()
    customers(3, prefix="adm")
    with time_machine.travel(T0, tick=False):
        ingest("signup", ["adm00000", "adm00001", "adm00002"], T0)
        enrollments_advance_due()
    page = _client(django_user_model, "CRM viewer").get(f"/admin/journeys/journey/{journey.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<ol class='journey-flow'>" in html
    assert "<strong>pause</strong> — wait 2 d <small>(entered 3, waiting 3, exited 0)</small>" in html
    assert "if “purchase” gte 1 in 3 days → <code>thanks</code>" in html
    assert "else → <code>nudge</code>" in html
    assert "{&quot;" not in html and '{"event"' not in html  # no JSON for a person to read

    enrollment = Enrollment.objects.get(customer_id="adm00000")
    history = _client(django_user_model, "CRM editor").get(
        f"/admin/journeys/enrollment/{enrollment.pk}/change/"
    )
    assert history.status_code == 200
    assert "<td>welcome</td><td>send</td><td>sent</td>" in history.content.decode()


def test_activate_and_pause_actions_call_the_services(brand_a, django_user_model):
    journey = journey_create(
        data={"name": "Admin", "entry": {"event": "x"}, "steps": welcome_flow()}, actor=ACTOR
    )
    client = _client(django_user_model, "CRM editor")
    url = "/admin/journeys/journey/"
    client.post(url, {"action": "activate", "_selected_action": [journey.pk]})
    assert Journey.objects.get(pk=journey.pk).status == "active"
    client.post(url, {"action": "pause", "_selected_action": [journey.pk]})
    assert Journey.objects.get(pk=journey.pk).status == "paused"
    assert list(
        AuditEvent.objects.filter(object_type="journeys.journey", object_id=str(journey.pk))
        .order_by("id")
        .values_list("action", "actor")
    ) == [
        ("journey.created", ACTOR),
        ("journey.activated", "user:j-CRM editor"),
        ("journey.paused", "user:j-CRM editor"),
    ]
    viewer = _client(django_user_model, "CRM viewer")
    viewer.post(url, {"action": "activate", "_selected_action": [journey.pk]})
    assert Journey.objects.get(pk=journey.pk).status == "paused"
