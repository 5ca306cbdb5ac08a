"""Reading database errors by what they are, not by the wording of their message."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, models
from django.db.models import Q
from django.db.models.constants import LOOKUP_SEP


def violated_constraint(error: IntegrityError) -> str | None:
    """The name of the constraint an IntegrityError violated (PostgreSQL's `diag.constraint_name`)."""
    diag = getattr(error.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


# ---------------------------------------------------------------------------- constraint messages
#
# Every model constraint carries a `violation_error_message` written for people, in field labels
# (tests/core/test_constraint_messages.py walks them all). Django reports a violated CheckConstraint,
# and a UniqueConstraint over several fields, as a form-wide error; these helpers put it on the field
# it is about, so a form shows it once, next to that field, and never the constraint's name.


def constraint_field(constraint: models.BaseConstraint) -> str | None:
    """The field a constraint's message belongs to: the first field its condition names
    (`ends_at` for `ends_at > starts_at`), or the last field of a unique constraint (`value` of
    campaign, kind, match, value)."""
    if isinstance(constraint, models.UniqueConstraint) and constraint.fields:
        return constraint.fields[-1]
    condition = getattr(constraint, "condition", None)
    for child in _q_children(condition):
        return child.split(LOOKUP_SEP)[0]
    return None


def _q_children(condition: Any) -> list[str]:
    if not isinstance(condition, Q):
        return []
    names: list[str] = []
    for child in condition.children:
        if isinstance(child, Q):
            names += _q_children(child)
        elif isinstance(child, tuple):
            names.append(child[0])
    return names


def constraint_for_message(model: type[models.Model], message: str) -> models.BaseConstraint | None:
    for constraint in model._meta.constraints:
        if constraint.get_violation_error_message() == message:
            return constraint
    return None


def constraint_message(model: type[models.Model], name: str | None) -> str | None:
    """The human message of the model's constraint `name` (e.g. from `violated_constraint`)."""
    for constraint in model._meta.constraints:
        if constraint.name == name:
            return constraint.get_violation_error_message()
    return None


def errors_by_field(model: type[models.Model], error: ValidationError) -> dict[str, list[str]]:
    """`error.message_dict` with each constraint's form-wide message moved to the field it is about,
    and each message once per field."""
    result: dict[str, list[str]] = {}
    for field, messages in error.message_dict.items():
        for message in messages:
            target = field
            if field == NON_FIELD_ERRORS:
                constraint = constraint_for_message(model, message)
                target = (constraint_field(constraint) if constraint else None) or field
            if message not in result.setdefault(target, []):
                result[target].append(message)
    return result
