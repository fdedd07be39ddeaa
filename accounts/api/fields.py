"""Serializer fields that hand the client's value to the service unchanged.

The services check every value and answer with Tencent's codes (90005 for a bad
`random`, 40605 for a bad gender, ...), the same codes the WebSocket and /v4 doors
give. A typed DRF field would refuse the value first with its own generic error, so
the REST door uses these instead: they only carry the value across, and tell the
OpenAPI schema what the value should look like.

A required value that is missing, or a null, reaches the service as None, so the
service reports it with its own code too.
"""

from __future__ import annotations

import re

from drf_spectacular.types import OpenApiTypes
from rest_framework import serializers
from rest_framework.fields import empty

from chat_project.errors import ChatError


def validated(serializer_class, data, **kwargs) -> dict:
    """The request data as the service's keyword arguments (910003 if malformed).

    Fields name their service argument with `source`, so the input serializer is the
    whole translation from wire names to the service's names.
    """
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# What the services accept, as JSON Schema pieces for the OpenAPI schema (`schema=` of
# an Unchecked field), so a client generated from it sends what passes. Lengths of text
# are the services' limits in UTF-8 bytes: the schema's maxLength counts characters,
# so it is exact for ASCII and each field's help says "bytes".
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL; every service refuses it
USER_ID = {"type": "string", "minLength": 1, "maxLength": 32, "pattern": r"^[\x20-\x7e]+$",
           "example": "bob"}
MESSAGE_ID = {"type": "string", "pattern": r"^[0-9]{1,19}-[0-9]{1,20}-[0-9]{1,20}$",
              "example": "42-1733300000-123"}
CONVERSATION_ID = {"type": "string", "minLength": 4, "maxLength": 35,
                   "pattern": r"^C2C[\x20-\x7e]+$", "example": "C2Cbob"}


def text(max_bytes: int | None = None, *, min_length: int = 0) -> dict:
    """A string without NUL, of `min_length` characters to `max_bytes` bytes."""
    out: dict = {"pattern": NO_NUL}
    if min_length:
        out["minLength"] = min_length
    if max_bytes is not None:
        out["maxLength"] = max_bytes
    return out


def user_ids(most: int, *, least: int = 1) -> dict:
    return {"type": "array", "items": USER_ID, "minItems": least, "maxItems": most}


def int_range(lo: int, hi: int) -> dict:
    return {"minimum": lo, "maximum": hi}


class TextField(serializers.CharField):
    """A string with a pattern the schema states (no NUL unless told otherwise), for
    serializers that describe what a service checks.

    drf-spectacular states a blank-allowed string with a pattern as `oneOf: [the
    pattern, ""]`, so there the pattern must not match "" too (or "" matches twice).
    """

    def __init__(self, *, pattern: str = NO_NUL, **kwargs):
        if kwargs.get("allow_blank") and pattern == NO_NUL:
            pattern = r"^[^\x00]+$"
        self.pattern = pattern
        super().__init__(**kwargs)


class ClosedBody(serializers.Serializer):
    """A JSON object of known keys; the values go to the service as they are."""

    # 910003 names a key the body does not know; the schema says so with
    # `additionalProperties: false` (accounts.api.schema.ClosedBodySchema).

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise ChatError(910003, "the body must be a JSON object")
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise ChatError(910003, f"unknown option(s): {', '.join(unknown)}")
        return super().to_internal_value(data)


class OneOrMore(serializers.Serializer):
    """A body that needs at least one of the fields named in `one_or_more`: the
    schema says so with `anyOf` (accounts.api.schema.OneOrMoreSchema); the service
    refuses a body with none."""

    one_or_more: tuple[str, ...] = ()


class Unchecked(serializers.Field):
    """The client's value, as it is; `openapi` is its type in the schema and the
    `schema=` keyword adds what the service checks (lengths, ranges, patterns)."""

    openapi = OpenApiTypes.ANY

    def __init__(self, *, schema: dict | None = None, **kwargs):
        self.constraints = schema or {}
        super().__init__(**kwargs)

    def validate_empty_values(self, data):
        if data is empty and self.required and not getattr(self.root, "partial", False):
            return True, None
        if data is None:
            return True, None
        return super().validate_empty_values(data)

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value


class UncheckedInt(Unchecked):
    openapi = OpenApiTypes.INT


class UncheckedQueryInt(UncheckedInt):
    """An integer in a query string: its digits as an int, anything else as sent, so
    the service refuses it with its own code (a typed field would answer 910003)."""

    def to_internal_value(self, data):
        if isinstance(data, str) and re.fullmatch(r"-?[0-9]{1,30}", data):
            return int(data)
        return data


class UncheckedStr(Unchecked):
    openapi = OpenApiTypes.STR


class UncheckedBool(Unchecked):
    openapi = OpenApiTypes.BOOL


class UncheckedObject(Unchecked):
    openapi = OpenApiTypes.OBJECT


class UncheckedFile(Unchecked):
    openapi = OpenApiTypes.BINARY
