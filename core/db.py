"""Reading database errors by what they are, not by the wording of their message."""

from __future__ import annotations

from django.db import IntegrityError


def violated_constraint(error: IntegrityError) -> str | None:
    """The name of the constraint an IntegrityError violated (PostgreSQL's `diag.constraint_name`)."""
    diag = getattr(error.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)
