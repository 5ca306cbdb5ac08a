"""DSL definitions as the services take them: parsed, or a 400 with readable messages."""

from __future__ import annotations

from typing import Any

from core.exceptions import ValidationFailed
from customers.dsl import DefinitionError, parse_tree


def parse_definition(data: Any, *, purchase: bool = False, field: str = "definition") -> Any:
    """The parsed tree (`customers.dsl`), or `ValidationFailed` with the messages under `field`."""
    try:
        return parse_tree(data, purchase=purchase, field=field)
    except DefinitionError as error:
        raise ValidationFailed(error.fields) from None
