"""Audit events (SPEC §18): the one way to write them, and the helpers that say what changed.

A service that changes state calls `audit_record(...)` once per state change,
inside its own `@transaction.atomic`: the row commits with the change or rolls
back with it, so the history never claims a change that did not happen. The
request id comes from the logging context (`core.logging.request_id_var`, set
by `RequestContextMiddleware` for a request and by the Celery signals in
`core/celery_signals.py` for a task sent from one).

`changes` is `{"field": {"before": <json>, "after": <json>}}` with only the
fields that changed. `model_update` applies new values to a model instance and
returns that dict; `values_of` + `changes_between` build it for a creation
(before `None`) or a deletion (after `None`). Values are made JSON here, once:
decimals as minimal text (`0.50` and `0.5` are both `"0.5"`, and are equal, so
they are no change), datetimes in UTC ISO 8601, related objects by their
`str()` (a partner by its slug), secrets as `"[redacted]"`.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.db.models import QuerySet

from core.actors import is_actor
from core.logging import request_id_var
from core.models import ACTION_PATTERN, AuditEvent

REDACTED = "[redacted]"
REQUEST_ID_MAX_LENGTH = AuditEvent._meta.get_field("request_id").max_length

Change = dict[str, Any]  # {"before": ..., "after": ...}
Changes = dict[str, Change]
ObjectRef = models.Model | type[models.Model] | str

_ACTION = re.compile(ACTION_PATTERN)


# --------------------------------------------------------------------------- JSON values


def json_value(value: Any) -> Any:
    """`value` as the JSON the `changes` column keeps (see the module docstring)."""
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value.is_finite() else str(value)
    if isinstance(value, datetime):
        text = value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted(json_value(item) for item in value)
    return str(value)


def _same(field: models.Field, old: Any, new: Any) -> bool:
    """Equal as the column would hold them: `Decimal("0.50")`, `"0.5"` and `Decimal("0.5000")` are one value."""
    if isinstance(field, models.DecimalField) and new is not None and not isinstance(new, Decimal):
        try:
            new = field.to_python(new)
        except DjangoValidationError:
            return False
    return old == new or json_value(old) == json_value(new)


# --------------------------------------------------------------------------- what changed


def values_of(instance: models.Model, fields: Iterable[str], *, redact: Iterable[str] = ()) -> dict[str, Any]:
    """The JSON values of `fields` of `instance` (for `changes_between`); `redact`ed ones hidden."""
    hidden = set(redact)
    return {
        name: (
            REDACTED if name in hidden and getattr(instance, name) else json_value(getattr(instance, name))
        )
        for name in fields
    }


def changes_between(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> Changes:
    """`{field: {"before", "after"}}` of the keys whose values differ; `None` for a side that does not exist."""
    before, after = before or {}, after or {}
    keys = dict.fromkeys([*before, *after])
    return {
        key: {"before": json_value(before.get(key)), "after": json_value(after.get(key))}
        for key in keys
        if json_value(before.get(key)) != json_value(after.get(key))
    }


def model_update(
    instance: models.Model,
    data: Mapping[str, Any],
    *,
    fields: Iterable[str] | None = None,
    redact: Iterable[str] = (),
    clean: Callable[[models.Model], None] | None = None,
) -> Changes:
    """Set on `instance` the values of `data` that differ from its own; return them as audit changes.

    Only keys in `fields` count (every key of `data` when `fields` is None); others
    are ignored, as the services ignore read-only keys. Nothing is saved: the
    caller validates and saves `update_fields=[*changes, ...]` (its save may need
    `F()` expressions or an IntegrityError mapping). `clean(instance)` runs after
    the values are set when something changed, for a validation that normalises
    values in place (`campaign_validate`); a field it brings back to its old value
    is not a change, and the `after` values are the normalised ones. Fields in
    `redact` are reported as changed with `"[redacted]"` on both sides.
    """
    allowed = set(data) if fields is None else set(fields) & set(data)
    hidden = set(redact)
    before: dict[str, Any] = {}
    for name in [key for key in data if key in allowed]:
        field = instance._meta.get_field(name)
        old = getattr(instance, name)
        if not _same(field, old, data[name]):
            before[name] = old
            setattr(instance, name, data[name])
    if before and clean is not None:
        clean(instance)
    changes: Changes = {}
    for name, old in before.items():
        new = getattr(instance, name)
        if _same(instance._meta.get_field(name), old, new):
            continue
        if name in hidden:
            changes[name] = {"before": REDACTED if old else None, "after": REDACTED if new else None}
        else:
            changes[name] = {"before": json_value(old), "after": json_value(new)}
    return changes


# --------------------------------------------------------------------------- writing


def audit_id_field(model: type[models.Model]) -> str:
    """The field an audit event names an object by: the primary key unless the model says otherwise
    (`audit_id_field = "prefix"` on API keys, whose primary key embeds the key's hash)."""
    return getattr(model, "audit_id_field", "pk")


def _object_ref(obj_or_type: ObjectRef, object_id: Any) -> tuple[str, str]:
    if isinstance(obj_or_type, models.Model):
        object_type = obj_or_type._meta.label_lower
        if object_id is None:
            object_id = getattr(obj_or_type, audit_id_field(type(obj_or_type)))
    elif isinstance(obj_or_type, type) and issubclass(obj_or_type, models.Model):
        object_type = obj_or_type._meta.label_lower
    elif isinstance(obj_or_type, str) and "." in obj_or_type:
        object_type = obj_or_type.lower()
    else:
        raise ValueError(f"obj_or_type must be a model instance, a model or 'app.model', not {obj_or_type!r}")
    if object_id is None or str(object_id) == "":
        raise ValueError(f"An audit event about {object_type} needs the object's id.")
    return object_type, str(object_id)


def _checked(actor: str, action: str) -> None:
    # Programming errors, not input errors: a service passed something that is not an actor string.
    if not is_actor(actor):
        raise ValueError(f"{actor!r} is not an actor (user:<name>, api-key:<name> or system).")
    if not _ACTION.match(action):
        raise ValueError(f"{action!r} is not an audit action (dotted lower-case words: campaign.activated).")


def _request_id(request_id: str | None) -> str:
    value = request_id if request_id is not None else request_id_var.get()
    return (value or "")[:REQUEST_ID_MAX_LENGTH]


def audit_record(
    *,
    actor: str,
    action: str,
    obj_or_type: ObjectRef,
    object_id: Any = None,
    changes: Changes | None = None,
    request_id: str | None = None,
) -> AuditEvent:
    """Write one audit event in the caller's transaction.

    `obj_or_type` is the changed instance (its label and primary key are used),
    or a model / `"app.model"` label with `object_id` (for an object already
    deleted). The request id defaults to the current logging context's.
    """
    _checked(actor, action)
    object_type, object_id = _object_ref(obj_or_type, object_id)
    return AuditEvent.objects.create(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        changes=json_value(changes or {}),
        request_id=_request_id(request_id),
    )


def audit_record_many(
    *, actor: str, action: str, entries: Iterable[tuple[models.Model, Changes]]
) -> list[AuditEvent]:
    """One audit event per (instance, changes), in one INSERT: the same action done to many rows at once."""
    _checked(actor, action)
    request_id = _request_id(None)
    events = []
    for instance, changes in entries:
        object_type, object_id = _object_ref(instance, None)
        events.append(
            AuditEvent(
                actor=actor,
                action=action,
                object_type=object_type,
                object_id=object_id,
                changes=json_value(changes),
                request_id=request_id,
            )
        )
    return AuditEvent.objects.bulk_create(events, batch_size=1000)


# --------------------------------------------------------------------------- reading


def audit_events_of(obj_or_type: ObjectRef, object_id: Any = None) -> QuerySet[AuditEvent]:
    """The history of one object, newest first."""
    object_type, object_id = _object_ref(obj_or_type, object_id)
    return AuditEvent.objects.filter(object_type=object_type, object_id=object_id)
