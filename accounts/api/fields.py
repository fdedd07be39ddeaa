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

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty


def validated(serializer_class, data, **kwargs) -> dict:
    """The request data as the service's keyword arguments (910003 if malformed).

    Fields name their service argument with `source`, so the input serializer is the
    whole translation from wire names to the service's names.
    """
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class Unchecked(serializers.Field):
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


@extend_schema_field(OpenApiTypes.INT)
class UncheckedInt(Unchecked):
    pass


@extend_schema_field(OpenApiTypes.STR)
class UncheckedStr(Unchecked):
    pass


@extend_schema_field(OpenApiTypes.BOOL)
class UncheckedBool(Unchecked):
    pass


@extend_schema_field(OpenApiTypes.OBJECT)
class UncheckedObject(Unchecked):
    pass


@extend_schema_field(OpenApiTypes.BINARY)
class UncheckedFile(Unchecked):
    pass
