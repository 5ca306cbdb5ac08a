"""Open pixel and signed click redirects → delivery events and §11 customer events."""

from __future__ import annotations

import re

from django.test import Client

from customers.models import Customer, Event
from notifications.messages import message_deliver, message_send
from notifications.models import MessageEvent
from tests.conftest import BRAND_A


def test_opens_and_clicks_become_delivery_and_customer_events(brand_a, settings):
    from django.core import mail

    settings.MESSAGE_EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    Customer.objects.create(customer_id="t-1", email="t1@example.com")
    message = message_send(
        customer_id="t-1",
        channel="email",
        subject="Hi",
        body_html='<html><body><a href="https://shop.example.com/sale?x=1">Sale</a></body></html>',
    )
    message_deliver(message_id=message.pk)
    html = mail.outbox[0].alternatives[0][0]
    assert "https://shop.example.com/sale" not in html  # links go through the redirect
    click = re.search(r'href="https://brand-a\.localhost(/t/c/[^"]+)"', html).group(1)
    pixel = re.search(r'src="https://brand-a\.localhost(/t/o/[^"]+)"', html).group(1)
    client = Client(HTTP_HOST=BRAND_A.host)
    opened = client.get(pixel)
    assert opened.status_code == 200 and opened["Content-Type"] == "image/gif"
    client.get(pixel)  # a second open: a delivery event, the same §11 event
    redirect = client.get(click)
    assert redirect.status_code == 302 and redirect["Location"] == "https://shop.example.com/sale?x=1"
    kinds = sorted(MessageEvent.objects.filter(message=message).values_list("kind", flat=True))
    assert kinds == ["clicked", "opened", "opened"]
    names = sorted(Event.objects.filter(customer__customer_id="t-1").values_list("name", flat=True))
    assert names == ["message_clicked", "message_opened"]


def test_a_tampered_click_token_is_404_and_a_bad_pixel_is_still_a_gif(brand_a):
    client = Client(HTTP_HOST=BRAND_A.host)
    assert client.get("/t/c/abc:def/").status_code == 404
    assert client.get("/t/o/abc:def/").status_code == 200
    assert not MessageEvent.objects.exists()
