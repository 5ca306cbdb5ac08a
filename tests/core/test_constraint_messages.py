"""Every model constraint speaks to people: a sentence in field labels, never its own name (issue 14).

The walk covers every constraint of every model of the project's apps; the admin test checks that
a campaign form shows one message per error, next to the field, for the cases people hit.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.test import Client
from django.utils import timezone

from core.db import constraint_field, errors_by_field

PROJECT_ROOT = str(settings.BASE_DIR)


def project_constraints() -> list[tuple[type[models.Model], models.BaseConstraint]]:
    found = []
    for model in apps.get_models():
        if not model.__module__.split(".")[0] or not apps.get_app_config(
            model._meta.app_label
        ).path.startswith(PROJECT_ROOT):
            continue
        found += [(model, constraint) for constraint in model._meta.constraints]
    return found


def test_the_walk_finds_the_constraints_of_every_app():
    labels = {model._meta.app_label for model, _constraint in project_constraints()}
    assert {"campaigns", "partners", "purchases", "dispatches", "awards", "core"} <= labels
    assert len(project_constraints()) >= 40


@pytest.mark.parametrize(
    ("model", "constraint"),
    project_constraints(),
    ids=lambda value: getattr(value, "name", None) or getattr(getattr(value, "_meta", None), "label", ""),
)
def test_every_constraint_has_a_human_message(model, constraint):
    message = constraint.get_violation_error_message()
    assert constraint.violation_error_message != constraint.default_violation_error_message, constraint.name
    assert constraint.name not in message
    assert "violated" not in message.lower()
    assert re.match(r"^[A-Z]", message) and message.endswith("."), message
    # Field names with underscores are code, not labels ("ends_at" → "End").
    field_names = {field.name for field in model._meta.get_fields() if "_" in field.name}
    assert not [name for name in field_names if name in message], message
    field = constraint_field(constraint)
    assert field is None or field in {f.name for f in model._meta.get_fields()}


def test_a_constraint_message_moves_to_its_field(brand_a):
    from campaigns.models import Campaign
    from tests.campaigns.factories import CampaignFactory

    campaign = CampaignFactory.build(ends_at=timezone.now() - timedelta(days=400))
    with pytest.raises(Exception) as raised:
        campaign.full_clean(exclude=["version", "status"])
    errors = errors_by_field(Campaign, raised.value)
    assert errors["ends_at"] == ["End must be after the start."]
    assert "__all__" not in errors


HOST = "brand-a.localhost"


@pytest.fixture
def editor(brand_a, django_user_model) -> Client:
    user = django_user_model.objects.create_user("constraint-editor", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="CRM editor"))
    client = Client(HTTP_HOST=HOST)
    client.force_login(user)
    return client


def _form(partner, **overrides):
    from tests.campaigns.test_admin import form_data

    return form_data(partner, **overrides)


def _messages(response) -> list[str]:
    form = response.context["adminform"].form
    return [message for messages in form.errors.values() for message in messages]


def test_admin_end_before_start_is_one_message_on_the_end(editor):
    from tests.partners.factories import PartnerFactory

    now = timezone.now()
    data = _form(
        PartnerFactory(),
        starts_at_0=(now + timedelta(days=10)).strftime("%Y-%m-%d"),
        ends_at_0=(now + timedelta(days=1)).strftime("%Y-%m-%d"),
    )
    response = editor.post("/admin/campaigns/campaign/add/", data)
    assert response.status_code == 200
    assert _messages(response) == ["End must be after the start."]
    assert list(response.context["adminform"].form.errors) == ["ends_at"]


def test_admin_currency_is_case_insensitive_and_an_unknown_one_is_one_message(editor):
    from campaigns.models import Campaign
    from tests.partners.factories import PartnerFactory

    partner = PartnerFactory()
    response = editor.post("/admin/campaigns/campaign/add/", _form(partner, currency="xyz"))
    assert response.status_code == 200
    assert len(_messages(response)) == 1
    assert "currency" in response.context["adminform"].form.errors
    assert "violated" not in response.content.decode()

    response = editor.post("/admin/campaigns/campaign/add/", _form(partner, currency="eur"))
    assert response.status_code == 302
    assert Campaign.objects.get(name="Carnival 2027").currency == "EUR"
