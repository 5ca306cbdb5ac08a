"""Serializer fields shared by the apps."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class SlugRelatedField(serializers.SlugRelatedField):
    """DRF's SlugRelatedField, refusing values PostgreSQL cannot even compare (NUL characters).

    DRF's CharField rejects NUL through `ProhibitNullCharactersValidator`, but a related
    field queries the database with the raw value first, and psycopg raises ValueError
    on a NUL: a 500 for bad input (found by the schemathesis suite, ADR 0009).
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) and "\x00" in data:
            self.fail("does_not_exist", slug_name=self.slug_field, value=data.replace("\x00", "\\x00"))
        return super().to_internal_value(data)
