"""Operator commands: `replay_dead` and the `fake_partner` server."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from io import StringIO

import jwt
import pytest
import requests
from django.core.management import CommandError, call_command

from core.http.signing import signed_headers
from dispatches.models import Dispatch
from dispatches.services import dispatch_send_batch
from outbox.models import OutboxMessage
from partners.management.commands.fake_partner import FakePartner, build_server, secrets_of_schema
from tests.campaigns.factories import CampaignFactory
from tests.dispatches.factories import make_dispatch
from tests.partners.factories import PartnerFactory, make_whsec

# --- replay_dead


def test_replay_dead_replays_a_campaigns_dead_dispatches(brand_a, partner, httpserver, capsys):
    campaign = CampaignFactory(partner=partner, status="active")
    targeted = [
        make_dispatch(partner=partner, campaign=campaign, status="dead", attempts=1) for _ in range(3)
    ]
    other_campaign_dead = make_dispatch(partner=partner, status="dead", attempts=1)
    still_retrying = make_dispatch(partner=partner, campaign=campaign, status="retrying", attempts=1)
    out = StringIO()

    call_command("replay_dead", "--schema", "brand_a", "--campaign", str(campaign.id), stdout=out)

    assert f"Replayed 3 dead dispatch(es) of brand_a (campaign {campaign.id})." in out.getvalue()
    assert "replaying" in capsys.readouterr().err  # the tqdm progress bar
    statuses = dict(Dispatch.objects.values_list("id", "status"))
    assert {statuses[d.id] for d in targeted} == {"pending"}
    assert statuses[other_campaign_dead.id] == "dead"
    assert statuses[still_retrying.id] == "retrying"
    [message] = OutboxMessage.objects.filter(task_name="partners.send_dispatches")
    assert sorted(message.args[0]) == sorted(str(d.id) for d in targeted)

    httpserver.expect_request("/submissions").respond_with_data("ok")
    assert dispatch_send_batch(dispatch_ids=message.args[0]).sent == 3


def test_replay_dead_without_campaign_replays_all_and_is_harmless_to_rerun(brand_a, partner):
    for _ in range(2):
        make_dispatch(partner=partner, status="dead", attempts=2)
    out = StringIO()
    call_command("replay_dead", "--schema", "brand_a", "--no-progress", stdout=out)
    assert "Replayed 2 dead dispatch(es) of brand_a (all campaigns)." in out.getvalue()
    out = StringIO()
    call_command("replay_dead", "--schema", "brand_a", "--no-progress", stdout=out)
    assert "Replayed 0" in out.getvalue()


def test_replay_dead_refuses_unknown_schema_or_campaign(brand_a):
    with pytest.raises(CommandError, match="No brand"):
        call_command("replay_dead", "--schema", "nope")
    with pytest.raises(CommandError, match="No brand"):
        call_command("replay_dead", "--schema", "public")
    with pytest.raises(CommandError, match="No campaign"):
        call_command("replay_dead", "--schema", "brand_a", "--campaign", "999999")


# --- fake_partner


@pytest.fixture
def running_fake() -> Iterator[tuple[FakePartner, str, str]]:
    secret = make_whsec()
    fake = FakePartner(secrets=[secret], seed=1)
    server = build_server(fake, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}", secret
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _post(base: str, secret: str, msg_id: str, payload: dict) -> requests.Response:
    body = json.dumps(payload).encode()
    return requests.post(
        f"{base}/submissions", data=body, headers=signed_headers(secret=secret, msg_id=msg_id, body=body)
    )


def test_fake_partner_verifies_signatures(running_fake):
    fake, base, secret = running_fake
    assert _post(base, secret, "msg-1", {"dispatch_id": "msg-1"}).status_code == 200
    assert _post(base, make_whsec(), "msg-2", {"dispatch_id": "msg-2"}).status_code == 401
    assert requests.post(f"{base}/submissions", data=b"{}").status_code == 401
    assert fake.stats["accepted"] == 1 and fake.stats["bad_signature"] == 2


def test_fake_partner_honours_idempotency_key(running_fake):
    _, base, secret = running_fake
    first = _post(base, secret, "msg-1", {"dispatch_id": "msg-1"})
    again = _post(base, secret, "msg-1", {"dispatch_id": "msg-1"})
    assert first.status_code == again.status_code == 200
    assert again.json()["idempotent_replay"] is True
    assert {k: v for k, v in again.json().items() if k != "idempotent_replay"} == first.json()
    stats = requests.get(f"{base}/stats").json()
    assert stats["accepted"] == 1 and stats["duplicates"] == 1


def test_fake_partner_fails_a_share_of_new_calls_and_does_not_remember_failures(running_fake):
    fake, base, secret = running_fake
    fake.fail_rate = 1.0
    assert _post(base, secret, "msg-1", {}).status_code == 500
    fake.fail_rate = 0.0
    assert _post(base, secret, "msg-1", {}).status_code == 200  # the retry succeeds
    fake.fail_rate = 0.5
    codes = [_post(base, secret, f"m-{i}", {}).status_code for i in range(200)]
    assert 60 < codes.count(500) < 140


def test_fake_partner_serves_the_participation_landing(running_fake):
    _, base, secret = running_fake
    key = base64.b64decode(secret.removeprefix("whsec_"))
    token = jwt.encode({"sub": "cust-9", "aud": "acme", "iss": "brand_a"}, key, algorithm="HS256")
    page = requests.get(f"{base}/participate", params={"token": token})
    assert page.status_code == 200
    assert "cust-9" in page.text and "valid signature" in page.text
    assert requests.get(f"{base}/participate").status_code == 400


def test_dispatches_to_the_fake_partner_are_accepted_once(brand_a, running_fake):
    fake, base, secret = running_fake
    partner = PartnerFactory(slug="fake", submission_url=f"{base}/submissions", secret=secret)
    dispatch = make_dispatch(partner=partner)

    assert dispatch_send_batch(dispatch_ids=[dispatch.id]).sent == 1
    # A re-send with the same key (a lost worker, a replay) is not counted twice by the partner.
    Dispatch.objects.filter(pk=dispatch.pk).update(status="dead")
    from dispatches.services import dispatch_replay

    dispatch_replay(dispatch_id=dispatch.id, actor="system")
    assert dispatch_send_batch(dispatch_ids=[dispatch.id]).sent == 1
    assert fake.stats["accepted"] == 1
    assert fake.stats["duplicates"] == 1


def test_secrets_of_a_schema_include_previous_secrets(brand_a):
    current, previous = make_whsec(), make_whsec()
    PartnerFactory(slug="rotating", secret=current, previous_secret=previous)
    assert {current, previous} <= set(secrets_of_schema("brand_a"))


def test_fake_partner_command_refuses_bad_arguments(brand_a):
    with pytest.raises(CommandError, match="--secret"):
        call_command("fake_partner", "--port", "0")
    with pytest.raises(CommandError, match="fail-rate"):
        call_command("fake_partner", "--port", "0", "--secret", make_whsec(), "--fail-rate", "2")
    with pytest.raises(CommandError, match="No brand"):
        call_command("fake_partner", "--port", "0", "--schema", "nope")
