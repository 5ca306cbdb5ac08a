"""The purchases admin: lists, the dead-lettered filter, and the retry action (same service as the sweep)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.test import Client

from outbox.models import OutboxMessage
from purchases.models import Purchase
from purchases.services import MAX_EVALUATION_ATTEMPTS, purchases_ingest
from tests.purchases.conftest import purchase_body


def staff_client(brand_a) -> Client:
    user = get_user_model().objects.create_superuser("crm-admin", "crm@brand-a.localhost", "pw-123456789")
    client = Client(HTTP_HOST="brand-a.localhost")
    client.force_login(user)
    return client


def test_dead_lettered_purchases_are_listed_and_can_be_retried(brand_a):
    results = purchases_ingest(bodies=[purchase_body(), purchase_body()])
    dead_id, fine_id = (r.purchase_id for r in results)
    Purchase.objects.filter(pk=dead_id).update(evaluation_attempts=MAX_EVALUATION_ATTEMPTS)
    client = staff_client(brand_a)

    listing = client.get("/admin/purchases/purchase/?evaluation=dead")
    assert listing.status_code == 200
    dead = Purchase.objects.get(pk=dead_id)
    assert dead.external_id in listing.content.decode()
    assert Purchase.objects.get(pk=fine_id).external_id not in listing.content.decode()
    assert client.get(f"/admin/purchases/purchase/{dead_id}/change/").status_code == 200

    OutboxMessage.objects.all().delete()
    response = client.post(
        "/admin/purchases/purchase/",
        {"action": "retry_evaluation", "_selected_action": [dead_id]},
    )
    assert response.status_code == 302
    dead.refresh_from_db()
    assert dead.evaluation_attempts == 0
    (message,) = OutboxMessage.objects.all()
    assert (message.task_name, message.args) == ("purchases.evaluate_batch", [[dead_id]])
    assert client.get("/admin/purchases/evaluation/").status_code == 200
