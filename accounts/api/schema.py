"""OpenAPI pieces every native REST view shares: the error body and the UserSig scheme."""

from __future__ import annotations

from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """Every error body of the native REST API (chat_project.api.exception_handler)."""

    code = serializers.IntegerField(
        help_text="Tencent's error code where Tencent has one, else Parley's (91xxxx)")
    message = serializers.CharField()
    detail = serializers.JSONField(
        required=False, help_text="for 910003 from request parsing: which fields were wrong")


ERROR_RESPONSES = {
    400: OpenApiResponse(ErrorSerializer, description="the request was refused; see `code`"),
    401: OpenApiResponse(ErrorSerializer, description=(
        "not authenticated (910008), or a bad UserSig: 70001 expired, 70002 malformed "
        "header, 70003 undecodable, 70009 bad signature, 70013 another user's, "
        "70014 another SDKAppID's")),
    403: OpenApiResponse(ErrorSerializer, description=(
        "910009: a browser signed in by its session cookie sent no valid CSRF token")),
}


EMPTY_RESPONSE = OpenApiResponse(OpenApiTypes.OBJECT,
                                 description="`{}`: done, and nothing to return")


class UserSigScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.api.authentication.UserSigAuthentication"
    name = "UserSig"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`UserSig <UserID>:<UserSig>`, the UserSig as Tencent's "
                           "TLSSigAPIv2 issues it",
        }


class UncheckedFieldSchema(OpenApiSerializerFieldExtension):
    """An Unchecked field (accounts.api.fields): its type, then the constraints the
    service checks, so the schema states what is accepted."""

    target_class = "accounts.api.fields.Unchecked"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        base = field.openapi
        if isinstance(base, OpenApiTypes):
            base = build_basic_type(base)
        elif isinstance(base, serializers.BaseSerializer):  # e.g. the elements' proxy
            base = auto_schema._map_serializer_field(base, direction)
        return {**base, **field.constraints}


class TextFieldSchema(OpenApiSerializerFieldExtension):
    target_class = "accounts.api.fields.TextField"

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction,
                                                   bypass_extensions=True)
        return {**schema, "pattern": self.target.pattern}


class OneOrMoreSchema(OpenApiSerializerExtension):
    target_class = "accounts.api.fields.OneOrMore"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        if direction == "request":
            schema["anyOf"] = [{"required": [name]} for name in self.target.one_or_more]
        return schema


class ClosedBodySchema(OpenApiSerializerExtension):
    """A body that refuses keys it does not know (relationships.api.friends.Body) says
    so: `additionalProperties: false`."""

    target_class = "accounts.api.fields.ClosedBody"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        schema["additionalProperties"] = False
        return schema
