"""Push templates: Django's template language in a sandbox, validated when saved."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from core.templating import (
    DEFAULT_TEMPLATES,
    NotificationRenderError,
    render_notification,
    validate_notification_templates,
)

CONTEXT = {
    "customer_id": "cust-1",
    "award": {
        "value": "10.00",
        "currency": "EUR",
        "voucher_code": "XMAS",
        "expires_at": "2026-12-31T23:59:59+00:00",
        "message": "",
    },
    "campaign": {"id": 3, "name": "Christmas"},
}


def test_valid_templates_pass_and_render_with_the_context():
    notification = {
        "title": "{{ campaign.name|upper }} for {{ customer_id }}",
        "body": "{{ award.value }} {{ award.currency }} — code {{ award.voucher_code|default:'none' }}, "
        "until {{ award.expires_at|date:'d/m/Y' }}{% if award.message %}: {{ award.message }}{% endif %}",
    }
    validate_notification_templates(notification)
    assert render_notification(notification, CONTEXT) == (
        "CHRISTMAS for cust-1",
        "10.00 EUR — code XMAS, until 31/12/2026",
    )


def test_text_is_not_html_escaped_and_unknown_variables_render_empty():
    title, body = render_notification(
        {"title": "Tom & Jerry's <deal>", "body": "[{{ nope.nothing }}]{{ award.secret }}"}, CONTEXT
    )
    assert title == "Tom & Jerry's <deal>"
    assert body == "[]"


def test_missing_templates_use_the_defaults():
    validate_notification_templates({})
    validate_notification_templates(None)
    title, body = render_notification({}, CONTEXT)
    assert title == "Christmas"
    assert body == "You have a new reward: 10.00 EUR (code XMAS)."
    assert set(DEFAULT_TEMPLATES) == {"title", "body"}


@pytest.mark.parametrize(
    "source",
    [
        "{% if %}x{% endif %}",
        "{{ award.value|nosuchfilter }}",
        "{% if a %}unclosed",
        "{{ }}",
        "{{ a._private }}",
    ],
)
def test_a_syntax_error_is_a_validation_error_on_notification(source):
    with pytest.raises(ValidationError) as raised:
        validate_notification_templates({"title": "ok", "body": source})
    assert list(raised.value.message_dict) == ["notification"]
    assert raised.value.message_dict["notification"][0].startswith("body: ")


@pytest.mark.parametrize(
    "tag",
    [
        '{% include "x.html" %}',
        '{% extends "base.html" %}',
        "{% load static %}",
        "{% debug %}",
        '{% ssi "/etc/passwd" %}',
        "{% csrf_token %}",
        '{% url "admin:index" %}',
        '{% static "x.css" %}',
        "{% for c in customer_id %}{{ c }}{% endfor %}",
        "{% block x %}{% endblock %}",
        "{% cycle 'a' 'b' %}",
    ],
)
def test_forbidden_tags_are_rejected_by_name(tag):
    with pytest.raises(ValidationError) as raised:
        validate_notification_templates({"body": tag})
    word = tag.split()[1]
    assert raised.value.message_dict["notification"] == [
        f"body: the tag '{word}' is not allowed in notification templates."
    ]


@pytest.mark.parametrize(
    "source",
    [
        "{{ award.message|ljust:'1000000000' }}",
        "{{ award.message|stringformat:'1000000000s' }}",
        "{{ award.message|join:'xxxxxxxx' }}",
        "{{ award.message|pprint }}",
        "{{ award.message|wordwrap:1 }}",
    ],
)
def test_amplifying_or_introspecting_filters_are_not_available(source):
    with pytest.raises(ValidationError):
        validate_notification_templates({"body": source})


def test_floatformat_is_capped():
    assert (
        render_notification({"title": "{{ award.value|floatformat:2 }}", "body": "x"}, CONTEXT)[0] == "10.00"
    )
    assert (
        render_notification({"title": "{{ award.value|floatformat:100000 }}", "body": "x"}, CONTEXT)[0] == ""
    )


@pytest.mark.parametrize(
    ("notification", "message"),
    [
        ("Hello", 'Must be an object {"title": "...", "body": "..."}.'),
        ({"title": 3}, "title: must be a string."),
        ({"subject": "x"}, "subject: unknown field (allowed: title, body)."),
        ({"body": "x" * 2001}, "body: at most 2000 characters."),
    ],
)
def test_the_shape_is_validated(notification, message):
    with pytest.raises(ValidationError) as raised:
        validate_notification_templates(notification)
    assert raised.value.message_dict["notification"] == [message]


def test_the_context_is_flattened_to_plain_data():
    class Secretive:
        password = "hunter2"

        def __str__(self) -> str:
            return "plain"

    title, _ = render_notification(
        {"title": "{{ thing }}/{{ thing.password }}", "body": "x"}, {"thing": Secretive()}
    )
    assert title == "plain/"


def test_a_broken_stored_template_raises_a_render_error():
    with pytest.raises(NotificationRenderError):
        render_notification({"title": "{% if %}", "body": "x"}, CONTEXT)
    with pytest.raises(NotificationRenderError):
        render_notification({"title": "{% include 'x' %}", "body": "x"}, CONTEXT)


def test_rendered_text_is_capped():
    title, body = render_notification({"title": "{{ t }}", "body": "{{ t }}"}, {"t": "x" * 5000})
    assert (len(title), len(body)) == (255, 2000)


def test_stored_templates_that_are_not_an_object_raise_a_render_error():
    with pytest.raises(NotificationRenderError):
        render_notification(["title"], CONTEXT)


def test_the_field_validator_form_reports_the_same_messages():
    from core.templating import notification_templates_validator

    notification_templates_validator({"title": "{{ campaign.name }}"})
    with pytest.raises(ValidationError) as raised:
        notification_templates_validator({"body": "{% load static %}"})
    assert raised.value.messages == ["body: the tag 'load' is not allowed in notification templates."]
