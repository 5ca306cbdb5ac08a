"""Who did it: the `actor` string services write into audit rows."""

from __future__ import annotations

from typing import Any

SYSTEM_ACTOR = "system"
USER_PREFIX = "user:"
API_KEY_PREFIX = "api-key:"


def actor_for(request_user: Any) -> str:
    """`"api-key:<key name>"` for an API key, `"user:<username>"` for a session user.

    Audit rows keep a string, not a foreign key: an API key or a user can be
    deleted later and the history must still say who did it.
    """
    if request_user is None or not getattr(request_user, "is_authenticated", False):
        return "anonymous"
    if getattr(request_user, "role", None) is not None:
        return f"{API_KEY_PREFIX}{request_user.name}"
    return f"{USER_PREFIX}{request_user.get_username()}"


def is_actor(value: Any) -> bool:
    """One of the three kinds of actor an audit row may name (docs/adr/0010-audit-events.md)."""
    if not isinstance(value, str):
        return False
    if value == SYSTEM_ACTOR:
        return True
    return any(
        value.startswith(prefix) and len(value) > len(prefix) for prefix in (USER_PREFIX, API_KEY_PREFIX)
    )
