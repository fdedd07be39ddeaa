"""OpenAPI pieces every native REST view shares: the error body and the UserSig scheme."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
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
