"""Template variables: a typo is an error when the campaign is saved, and the list the admin shows
(core.templating.TEMPLATE_VARIABLES) is exactly what a real award's context holds."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from core.templating import (
    TEMPLATE_VARIABLES,
    sample_context,
    unknown_variables,
    validate_notification_templates,
)
from notifications.services import notification_context


def _paths(context: dict, prefix: str = "") -> set[str]:
    paths = set()
    for key, value in context.items():
        if isinstance(value, dict):
            paths |= _paths(value, f"{prefix}{key}.")
        else:
            paths.add(f"{prefix}{key}")
    return paths


def test_the_listed_variables_are_the_context_of_a_real_award(make_award):
    assert _paths(notification_context(make_award())) == set(TEMPLATE_VARIABLES)
    assert _paths(sample_context()) == set(TEMPLATE_VARIABLES)


@pytest.mark.parametrize(
    ("source", "unknown"),
    [
        ("{{ award.valu }}", ["award.valu"]),
        ("{{ award.value|default:campaign.nam }}", ["campaign.nam"]),
        ("{% if award.mesage %}x{% elif customer_id == award.x %}y{% endif %}", ["award.mesage", "award.x"]),
        ("{% with v=award.value %}{{ v }}{% endwith %}{{ v }}", ["v"]),
        ("{% firstof award.message award.nope 'x' %}", ["award.nope"]),
        ("{% now 'Y' as year %}{{ year }} {% filter upper %}{{ campaign.name }}{% endfilter %}", []),
        ("{{ award.value }} {{ award.currency }} {{ customer_id }} {{ partner.name }}", []),
    ],
)
def test_unknown_variables_are_found_wherever_they_are_used(source, unknown):
    assert unknown_variables(source) == unknown


def test_a_typo_is_a_validation_error_that_lists_the_variables():
    with pytest.raises(ValidationError) as raised:
        validate_notification_templates({"title": "Hi", "body": "You won {{ award.valu }}"})
    [message] = raised.value.message_dict["notification"]
    assert message.startswith("body: {{ award.valu }} is not a variable; the variables are customer_id,")
