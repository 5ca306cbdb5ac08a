from django.db import transaction

from accounts.models import ApiKey
from core.actors import SYSTEM_ACTOR
from core.audit import audit_record, changes_between, values_of
from core.exceptions import validate_model


@transaction.atomic
def api_key_create(*, name: str, role: str, actor: str = SYSTEM_ACTOR) -> tuple[ApiKey, str]:
    """Create a key in the current brand's schema; returns the row and the key (shown once).

    Keys are made by operators' commands (`create_api_key`), hence the `system` default.
    The audit event names the key by its prefix and never holds the key or its hash.
    """
    api_key = ApiKey(name=name, role=role)
    validate_model(api_key, exclude=["id", "prefix", "hashed_key"])
    key = ApiKey.objects.assign_key(api_key)
    api_key.save()
    audit_record(
        actor=actor,
        action="api_key.created",
        obj_or_type=api_key,
        changes=changes_between(None, values_of(api_key, ("name", "role", "prefix"))),
    )
    return api_key, key
