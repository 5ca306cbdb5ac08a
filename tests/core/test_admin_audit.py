"""Admin pages that write without a service (users, groups, API keys) write their audit event."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from accounts.models import ApiKey
from core.models import AuditEvent

HOST = "brand-a.localhost"


_baseline: dict[str, int] = {}


@pytest.fixture
def admin(brand_a, django_user_model) -> Client:
    # Tests that commit leave their (append-only) events behind: count only this test's.
    _baseline["id"] = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    user = django_user_model.objects.create_user("lead", password="pw", is_staff=True, is_superuser=True)
    client = Client(HTTP_HOST=HOST)
    client.force_login(user)
    return client


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, id__gt=_baseline["id"]).order_by("id"))


def test_group_created_changed_and_deleted_in_the_admin_leave_one_event_each(admin):
    response = admin.post("/admin/auth/group/add/", {"name": "Desk"})
    assert response.status_code == 302
    group = Group.objects.get(name="Desk")
    (created,) = events("group.created")
    assert (created.actor, created.object_id) == ("user:lead", str(group.pk))
    assert created.changes == {"name": {"before": None, "after": "Desk"}}

    assert admin.post(f"/admin/auth/group/{group.pk}/change/", {"name": "Front desk"}).status_code == 302
    (changed,) = events("group.updated")
    assert changed.changes == {"name": {"before": "Desk", "after": "Front desk"}}

    assert admin.post(f"/admin/auth/group/{group.pk}/delete/", {"post": "yes"}).status_code == 302
    (deleted,) = events("group.deleted")
    assert deleted.object_id == str(group.pk)


def test_a_users_groups_and_password_are_audited_the_password_redacted(admin):
    group = Group.objects.create(name="CRM viewer 2")
    response = admin.post(
        "/admin/auth/user/add/",
        {
            "username": "new-person",
            "password1": "a-Long-pass-123",
            "password2": "a-Long-pass-123",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(username="new-person")
    (created,) = events("user.created")
    assert created.object_id == str(user.pk)
    assert "a-Long-pass-123" not in str(created.changes)

    data = {
        "username": "new-person",
        "is_active": "on",
        "is_staff": "on",
        "groups": [group.pk],
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
    }
    assert admin.post(f"/admin/auth/user/{user.pk}/change/", data).status_code == 302
    (changed,) = events("user.updated")
    assert changed.changes["groups"] == {"before": [], "after": ["CRM viewer 2"]}
    assert changed.changes["is_staff"] == {"before": False, "after": True}


def test_an_api_key_created_and_revoked_in_the_admin_is_audited(admin):
    assert admin.post("/admin/accounts/apikey/add/", {"name": "pos", "role": "ingest"}).status_code == 302
    key = ApiKey.objects.get(name="pos")
    (created,) = events("api_key.created")
    assert created.object_id == key.prefix  # never the hash (ADR 0010)
    assert key.hashed_key not in str(created.changes)
    assert (
        admin.post(
            f"/admin/accounts/apikey/{key.pk}/change/", {"name": "pos", "role": "ingest", "revoked": "on"}
        ).status_code
        == 302
    )
    (revoked,) = events("api_key.updated")
    assert revoked.changes["revoked"] == {"before": False, "after": True}
