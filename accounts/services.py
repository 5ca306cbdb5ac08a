from django.db import transaction

from accounts.models import ApiKey


@transaction.atomic
def api_key_create(*, name: str, role: str) -> tuple[ApiKey, str]:
    """Create a key in the current brand's schema; returns the row and the key (shown once)."""
    api_key = ApiKey(name=name, role=role)
    api_key.full_clean(exclude=["id", "prefix", "hashed_key"])
    key = ApiKey.objects.assign_key(api_key)
    api_key.save()
    return api_key, key
