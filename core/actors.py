"""Who did it: the `actor` string services write into audit rows."""

from __future__ import annotations

from typing import Any

SYSTEM_ACTOR = "system"


def actor_for(request_user: Any) -> str:
    """`"api-key:<key name>"` for an API key, `"user:<username>"` for a session user.

    Audit rows keep a string, not a foreign key: an API key or a user can be
    deleted later and the history must still say who did it.
    """
    if request_user is None or not getattr(request_user, "is_authenticated", False):
        return "anonymous"
    if getattr(request_user, "role", None) is not None:
        return f"api-key:{request_user.name}"
    return f"user:{request_user.get_username()}"
