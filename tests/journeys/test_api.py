"""The journeys API of SPEC §19: list/create, activate/pause, enrollments, enroll (ingest)."""

from __future__ import annotations

from core.models import AuditEvent
from customers.services import segment_create
from journeys.models import Enrollment, Journey
from tests.journeys.helpers import ACTOR, welcome_flow


def create(client, **overrides):
    body = {"name": "API journey", "entry": {"event": "signup"}, "steps": welcome_flow(), **overrides}
    return client.post("/api/v1/journeys/", body, format="json")


def test_create_list_activate_pause(crm_client):
    response = create(crm_client, exit_event="churned")
    assert response.status_code == 201, response.json()
    journey = response.json()
    assert (journey["status"], journey["version"], journey["entry"]) == ("draft", 1, {"event": "signup"})
    assert [s["key"] for s in journey["steps"]] == ["welcome", "pause", "bought", "thanks", "nudge", "done"]
    assert journey["steps"][1] == {
        "key": "pause",
        "kind": "wait",
        "duration_seconds": 172800,
        "next": "bought",
    }
    listed = crm_client.get("/api/v1/journeys/?status=draft").json()
    assert [j["id"] for j in listed["results"]] == [journey["id"]]

    assert crm_client.post(f"/api/v1/journeys/{journey['id']}/pause/").status_code == 409
    activated = crm_client.post(f"/api/v1/journeys/{journey['id']}/activate/")
    assert activated.status_code == 200 and activated.json()["status"] == "active"
    assert crm_client.post(f"/api/v1/journeys/{journey['id']}/activate/").json()["error"]["code"] == (
        "invalid_transition"
    )
    paused = crm_client.post(f"/api/v1/journeys/{journey['id']}/pause/")
    assert paused.json()["status"] == "paused"
    actions = list(
        AuditEvent.objects.filter(object_type="journeys.journey", object_id=str(journey["id"]))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["journey.created", "journey.activated", "journey.paused"]


def test_editing_steps_of_an_active_journey_is_a_new_version(crm_client):
    journey = create(crm_client).json()
    crm_client.post(f"/api/v1/journeys/{journey['id']}/activate/")
    steps = [{"key": "only", "kind": "send", "channel": "push", "body_text": "hi"}]
    edited = crm_client.patch(f"/api/v1/journeys/{journey['id']}/", {"steps": steps}, format="json")
    assert edited.status_code == 200
    assert edited.json()["version"] == 2 and [s["key"] for s in edited.json()["steps"]] == ["only"]
    event = AuditEvent.objects.filter(action="journey.updated").get()
    assert event.changes["version"] == {"before": 1, "after": 2}


def test_bad_bodies_are_400_with_the_fields(crm_client):
    cases = [
        ({"entry": {"segment": 99999}}, "entry.segment"),
        ({"entry": {"event": "a", "segment": 1}}, "entry"),
        ({"entry": "signup"}, "entry"),
        ({"steps": []}, "steps"),
        ({"steps": [{"key": "a", "kind": "wait", "next": "nowhere", "duration_seconds": 5}]}, "steps[0]"),
        (
            {
                "steps": [
                    {"key": "a", "kind": "wait_for_event", "event": "open", "timeout_seconds": 32 * 86400}
                ]
            },
            "steps[0].timeout_seconds",
        ),
        (
            {
                "steps": [
                    {"key": "a", "kind": "branch", "branches": [{"condition": {"attr": "nope", "op": "eq"}}]}
                ]
            },
            "steps[0].branches[0].condition",
        ),
        (
            {"steps": [{"key": "a", "kind": "split", "experiment_id": 2**62, "variants": {"A": None}}]},
            "steps[0].experiment_id",
        ),
        ({"steps": [{"key": "a", "kind": "teleport"}]}, "steps[0]"),
        ({"re_entry": "after_days"}, "re_entry_days"),
        ({"entry": {"event": "sign\x00up"}}, "entry"),
        ({"steps": [{"key": "a", "kind": "send", "channel": "sms", "body_text": "hi\x00"}]}, "steps"),
    ]
    for overrides, field in cases:
        response = create(crm_client, **overrides)
        assert response.status_code == 400, (overrides, response.json())
        fields = response.json()["error"]["fields"]
        assert any(key == field or key.startswith(field) for key in fields), (overrides, fields)
    assert not Journey.objects.exists()
    create(crm_client)
    assert list(create(crm_client).json()["error"]["fields"]) == ["name"]


def test_enroll_by_ingest_and_the_enrollments_with_history(crm_client, ingest_client):
    journey = create(crm_client).json()
    url = f"/api/v1/journeys/{journey['id']}/enroll/"
    assert ingest_client.post(url, {"customer_id": "e-1"}, format="json").json()["error"]["code"] == (
        "journey_not_active"
    )
    crm_client.post(f"/api/v1/journeys/{journey['id']}/activate/")
    first = ingest_client.post(url, {"customer_id": "e-1"}, format="json")
    assert first.status_code == 201 and first.json()["state"] == "active"
    again = ingest_client.post(url, {"customer_id": "e-1"}, format="json")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert ingest_client.post(url, {}, format="json").status_code == 400
    assert crm_client.post(url, {"customer_id": "e-2"}, format="json").status_code == 403
    from journeys.executor import enrollments_advance_due

    enrollments_advance_due()
    listed = crm_client.get(f"/api/v1/journeys/{journey['id']}/enrollments/?state=waiting").json()
    (row,) = listed["results"]
    assert (row["customer_id"], row["step"], row["version"]) == ("e-1", "pause", 1)
    assert [(h["step"], h["outcome"]) for h in row["history"]] == [("welcome", "sent"), ("pause", "waiting")]
    assert crm_client.get(f"/api/v1/journeys/{journey['id']}/enrollments/?state=bogus").status_code == 400
    detail = crm_client.get(f"/api/v1/journeys/{journey['id']}/").json()
    assert {c["key"]: c["waiting"] for c in detail["counts"]}["pause"] == 1
    assert crm_client.get("/api/v1/journeys/999999/").status_code == 404


def test_segment_entry_enrols_members_when_computed_and_by_the_tick(crm_client, brand_a):
    from customers.services import customers_upsert, segment_compute
    from journeys.services_tick import journeys_run_due

    customers_upsert(bodies=[{"customer_id": f"de-{n}", "country": "DE"} for n in range(3)], actor="system")
    segment = segment_create(
        name="Germans", definition={"attr": "country", "op": "eq", "value": "DE"}, actor=ACTOR
    )
    journey = create(crm_client, entry={"segment": segment.pk}).json()
    crm_client.post(f"/api/v1/journeys/{journey['id']}/activate/")
    journeys_run_due()  # the first tick after activation enrols the current members
    assert Enrollment.objects.filter(journey_id=journey["id"]).count() == 3
    customers_upsert(bodies=[{"customer_id": "de-new", "country": "DE"}], actor="system")
    segment_compute(segment_id=segment.pk)
    assert Enrollment.objects.filter(journey_id=journey["id"], customer_id="de-new").exists()
