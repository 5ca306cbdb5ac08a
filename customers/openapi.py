"""The DSL's JSON Schema (from the pydantic model) in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from customers.dsl import definition_json_schema

DEFINITION_REF = {"$ref": "#/components/schemas/SegmentDefinition"}


def add_dsl_components(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular postprocessing hook: `SegmentDefinition` and its `Dsl…` parts as components."""
    schema = definition_json_schema()
    components = result.setdefault("components", {}).setdefault("schemas", {})
    for name, part in schema.pop("$defs", {}).items():
        components[f"Dsl{name}"] = part
    components["SegmentDefinition"] = {
        **schema,
        "description": "A segment definition or eligibility rule (SPEC §11): all/any/not of attr, event and "
        "geo conditions. purchase.total, purchase.store_id and purchase.channel only in eligibility rules.",
    }
    return result


@extend_schema_field(DEFINITION_REF)
class DefinitionField(serializers.JSONField):
    """A DSL tree, documented by the pydantic model's schema (validated by the services)."""
