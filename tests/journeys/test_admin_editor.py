"""The journey editor in the admin: a CRM person builds and edits a journey's steps with forms (no
JSON), through the same services as the API; the services' messages land on the step they name."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from core.models import AuditEvent
from experiments.services import VariantSpec, experiment_create
from journeys.forms import StepForm, initial_of
from journeys.models import Journey
from journeys.services import steps_of
from tests.campaigns.factories import CampaignFactory
from tests.journeys.helpers import active_journey, welcome_flow

ADD = "/admin/journeys/journey/add/"


def _client(django_user_model, group: str) -> Client:
    user = django_user_model.objects.create_user(username=f"e-{group}", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client(HTTP_HOST="brand-a.localhost")
    client.force_login(user)
    return client


def _post_data(
    steps: list[dict[str, Any]], *, initial: int = 0, extra: int = 2, **settings: Any
) -> dict[str, Any]:
    """What the browser posts: the settings, the formset's management form and one block per step."""
    data: dict[str, Any] = {
        "steps-TOTAL_FORMS": str(len(steps) + extra),
        "steps-INITIAL_FORMS": str(initial),
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
        **settings,
    }
    for index, step in enumerate(steps):
        data[f"steps-{index}-ORDER"] = str(index + 1)
        data[f"steps-{index}-category"] = "marketing"
        for name, value in step.items():
            data[f"steps-{index}-{name}"] = "" if value is None else str(value)
    for index in range(len(steps), len(steps) + extra):
        # What a browser sends for an empty form: each select's first option.
        data[f"steps-{index}-kind"] = ""
        data[f"steps-{index}-category"] = "marketing"
        data[f"steps-{index}-channel"] = ""
    return data


WELCOME_FORMS = [
    {
        "key": "welcome",
        "kind": "send",
        "channel": "in_app",
        "body_text": "message welcome",
        "next_key": "pause",
    },
    {"key": "pause", "kind": "wait", "wait_days": 2, "next_key": "bought"},
    {
        "key": "bought",
        "kind": "branch",
        "if1_type": "event",
        "if1_name": "purchase",
        "if1_op": "gte",
        "if1_value": "1",
        "if1_days": 3,
        "if1_next": "thanks",
        "next_key": "nudge",
    },
    {"key": "thanks", "kind": "send", "channel": "in_app", "body_text": "message thanks", "next_key": "done"},
    {"key": "nudge", "kind": "send", "channel": "in_app", "body_text": "message nudge", "next_key": "done"},
    {"key": "done", "kind": "exit"},
]
SETTINGS = {"name": "Welcome by forms", "entry_event": "signup", "re_entry": "never"}


def _documents_without_defaults(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    defaults = {"category": "marketing", "topic": "", "subject": ""}
    return [{k: v for k, v in d.items() if defaults.get(k, object()) != v} for d in documents]


def test_a_crm_editor_builds_a_journey_with_forms_only(brand_a, django_user_model):
    editor = _client(django_user_model, "CRM editor")
    page = editor.get(ADD)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="steps-0-kind"' in html and 'name="steps-0-if1_type"' in html
    assert "<textarea" in html and '{"event"' not in html

    response = editor.post(ADD, _post_data(WELCOME_FORMS, **SETTINGS))

    assert response.status_code == 302, response.content.decode()[:2000]
    journey = Journey.objects.get(name="Welcome by forms")
    assert response["Location"] == f"/admin/journeys/journey/{journey.pk}/change/"
    assert (journey.status, journey.entry_event, journey.version) == ("draft", "signup", 1)
    assert _documents_without_defaults(steps_of(journey)) == _documents_without_defaults(welcome_flow())
    (created,) = AuditEvent.objects.filter(action="journey.created", object_id=str(journey.pk))
    assert created.actor == "user:e-CRM editor"
    flow = editor.get(f"/admin/journeys/journey/{journey.pk}/change/").content.decode()
    assert f'href="/admin/journeys/journey/{journey.pk}/steps/"' in flow


def test_editing_an_active_journey_makes_a_new_version_from_the_prefilled_forms(brand_a, django_user_model):
    journey = active_journey()
    editor = _client(django_user_model, "CRM editor")
    url = f"/admin/journeys/journey/{journey.pk}/steps/"
    page = editor.get(url).content.decode()
    assert "saved steps become version 2" in page
    assert 'name="steps-1-wait_days" value="2"' in page  # 2 days, not 172800 seconds
    assert 'name="steps-2-if1_name" value="purchase"' in page
    changed = [dict(form) for form in WELCOME_FORMS]
    changed[4]["body_text"] = "We miss you"

    response = editor.post(url, _post_data(changed, initial=len(changed)))

    assert response.status_code == 302, response.content.decode()[:2000]
    journey.refresh_from_db()
    assert journey.version == 2
    nudge = next(step for step in steps_of(journey) if step["key"] == "nudge")
    assert nudge["body_text"] == "We miss you"
    assert (
        next(s for s in steps_of(journey, version=1) if s["key"] == "nudge")["body_text"] == "message nudge"
    )


def test_the_services_messages_land_on_the_step_they_name_and_nothing_is_saved(brand_a, django_user_model):
    editor = _client(django_user_model, "CRM editor")
    broken = [dict(form) for form in WELCOME_FORMS]
    broken[0]["next_key"] = "nowhere"
    broken[2] = {
        **broken[2],
        "if1_type": "attr",
        "if1_name": "favourite_colour",
        "if1_op": "eq",
        "if1_value": "red",
    }

    response = editor.post(ADD, _post_data(broken, **SETTINGS))

    assert response.status_code == 200
    html = response.content.decode()
    assert "No step has the key &#x27;nowhere&#x27;." in html
    assert "unknown path &#x27;favourite_colour&#x27;" in html
    assert not Journey.objects.filter(name="Welcome by forms").exists()
    # What was typed is still there, to be mended.
    assert 'name="steps-0-next_key" value="nowhere"' in html

    half_branch = [dict(form) for form in WELCOME_FORMS]
    half_branch[2] = {**half_branch[2], "if1_days": ""}
    html = editor.post(ADD, _post_data(half_branch, **SETTINGS)).content.decode()
    assert "Say over how many days the events count." in html
    assert not Journey.objects.filter(name="Welcome by forms").exists()

    no_entry = editor.post(ADD, _post_data(WELCOME_FORMS, name="No entry", re_entry="never"))
    assert "Customers enter by a segment or by an event" in no_entry.content.decode()
    assert not Journey.objects.filter(name="No entry").exists()


def test_a_crm_viewer_reads_the_steps_but_cannot_save_or_add(brand_a, django_user_model):
    journey = active_journey()
    viewer = _client(django_user_model, "CRM viewer")
    url = f"/admin/journeys/journey/{journey.pk}/steps/"
    page = viewer.get(url)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert viewer.post(url, _post_data(WELCOME_FORMS, initial=6)).status_code == 403
    assert viewer.get(ADD).status_code == 403
    assert Journey.objects.get(pk=journey.pk).version == 1


@pytest.mark.parametrize(
    "document",
    [
        {"key": "s", "kind": "send", "channel": "email", "category": "transactional", "topic": "news",
         "subject": "Hi", "body_text": "Hello {{ customer.customer_id }}", "next": "w"},
        {"key": "w", "kind": "wait", "duration_seconds": 86400 + 2 * 3600 + 5 * 60, "next": None},
        {"key": "w", "kind": "wait", "until_local_time": "10:00", "next": "x"},
        {"key": "e", "kind": "wait_for_event", "event": "open", "timeout_seconds": 48 * 3600, "next": "a",
         "timeout_next": "b"},
        {"key": "b", "kind": "branch", "next": "d", "branches": [
            {"condition": {"event": "purchase", "within_days": 7, "count": {"op": "eq", "value": 0}}, "next": "x"},
            {"condition": {"attr": "stats.orders_total", "op": "gte", "value": 3}, "next": "y"},
            {"condition": {"all": [{"attr": "country", "op": "in", "value": ["ES", "PT"]}]}, "next": None},
        ]},
        {"key": "b", "kind": "branch", "next": None, "branches": [
            {"condition": {"attr": "attributes.vip", "op": "eq", "value": True}, "next": "x"},
            {"condition": {"attr": "attributes.tier", "op": "exists"}, "next": "y"},
        ]},
        {"key": "b", "kind": "branch", "next": None, "branches": [  # more rows than the three shown blank
            {"condition": {"attr": "stats.orders_total", "op": "gte", "value": n}, "next": f"s{n}"} for n in range(5)
        ]},
        {"key": "x", "kind": "exit"},
    ],
)  # fmt: skip
def test_a_step_document_round_trips_through_its_form(brand_a, document):
    initial = initial_of(document)
    data = {name: "" if value is None else value for name, value in initial.items()}
    data.setdefault("category", "marketing")
    form = StepForm(data=data)
    assert form.is_valid(), form.errors
    written = form.document()
    if document["kind"] == "send":
        assert written == document
    else:
        assert written == {
            **document,
            **({"next": document.get("next")} if document["kind"] != "exit" else {}),
        }


def test_a_split_routes_variants_line_by_line(brand_a):
    campaign = CampaignFactory()
    experiment = experiment_create(
        campaign=campaign, variants=[VariantSpec("A"), VariantSpec("B")], actor="system", name="Split"
    )
    document = {"key": "ab", "kind": "split", "experiment_id": experiment.pk, "variants": {"A": "x", "B": None},
                "next": "z"}  # fmt: skip
    form = StepForm(data={**initial_of(document), "next_key": "z", "category": "marketing"})
    assert form.is_valid(), form.errors
    assert form.document() == document
    bad = StepForm(data={"key": "ab", "kind": "split", "variant_routes": "A thanks", "category": "marketing"})
    assert bad.is_valid()
    bad.document()
    assert bad.errors["variant_routes"] == ["Line 1: write `variant: step name`."]


def test_a_branch_with_more_conditions_than_the_blank_rows_keeps_them_all_when_saved(
    brand_a, django_user_model
):
    branches = [
        {"condition": {"attr": "stats.orders_total", "op": "gte", "value": n}, "next": "done"}
        for n in range(5)
    ]
    steps = [
        {"key": "many", "kind": "branch", "branches": branches, "next": "done"},
        {"key": "done", "kind": "exit"},
    ]
    journey = active_journey(steps=steps)
    editor = _client(django_user_model, "CRM editor")
    url = f"/admin/journeys/journey/{journey.pk}/steps/"
    page = editor.get(url).content.decode()
    assert 'name="steps-0-if5_value" value="4"' in page
    forms = [
        {"key": "many", "kind": "branch", "next_key": "done",
         **{f"if{n + 1}_{part}": value for n in range(5)
            for part, value in {"type": "attr", "name": "stats.orders_total", "op": "gte", "value": n,
                                "next": "done"}.items()}},
        {"key": "done", "kind": "exit"},
    ]  # fmt: skip
    assert editor.post(url, _post_data(forms, initial=2)).status_code == 302
    journey.refresh_from_db()
    assert journey.version == 2 and steps_of(journey)[0]["branches"] == branches
