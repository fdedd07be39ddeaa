"""Native REST: a device registers or removes its push token (push.services).

`POST /api/v1/push/tokens/` {deviceID, vendor, token} registers (or replaces) the
token of one of the signed-in user's devices; `DELETE /api/v1/push/tokens/?deviceID=`
removes it. A user with a token is "PushOnline" while no device is connected
(accounts.presence), and offline pushes go to the token.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.fields import Unchecked, UncheckedStr, text, validated
from accounts.api.schema import ERROR_RESPONSES
from chat_project.api import JSONParser
from push import services
from push.models import PushToken


class VendorField(UncheckedStr):
    """Checked by the service (910003 names the allowed vendors)."""

    openapi = {"type": "string", "enum": PushToken.Vendor.values}


DEVICE_ID = {"type": "string", **text(64, min_length=1)}


class TokenField(Unchecked):
    """A vendor's token string; for webpush also the subscription object itself."""

    openapi: dict = {}


_B64URL = {"type": "string", "pattern": r"^[A-Za-z0-9_-]+={0,2}$"}
WEBPUSH_SUBSCRIPTION = {
    "type": "object", "required": ["endpoint", "keys"],
    "description": "PushSubscription.toJSON() (vendor webpush)",
    "properties": {
        "endpoint": {"type": "string", "format": "uri", "maxLength": 2048},
        "expirationTime": {"type": "number", "nullable": True},
        "keys": {"type": "object", "required": ["p256dh", "auth"],
                 "properties": {"p256dh": _B64URL, "auth": _B64URL}},
    },
}


class TokenRegisterSerializer(serializers.Serializer):
    deviceID = UncheckedStr(source="device_id",  # noqa: N815 (the SDK's name)
                            help_text="the device's ID, 1 to 64 characters, as it logs in",
                            schema=DEVICE_ID)
    vendor = VendorField(help_text="the push service the token belongs to")
    token = TokenField(
        help_text="the vendor's token; for webpush the browser's PushSubscription.toJSON() "
                  "(the object, or that object as a JSON string)",
        schema={"oneOf": [{"type": "string", "minLength": 1,
                           "maxLength": services.MAX_TOKEN_CHARS,
                           "pattern": r"^[^\x00]*[^\x00\s][^\x00]*$"},
                          WEBPUSH_SUBSCRIPTION]})


class TokenSerializer(serializers.Serializer):
    deviceID = serializers.CharField(source="device_id")  # noqa: N815
    vendor = serializers.ChoiceField(choices=PushToken.Vendor.values)
    platform = serializers.CharField(help_text="iOS, Android or Web")
    updatedAt = serializers.IntegerField(help_text="Unix seconds")  # noqa: N815


class TokenRemovedSerializer(serializers.Serializer):
    removed = serializers.BooleanField(help_text="false: the device had no token")


class PushTokensView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="push_token_register", summary="Register my device's push token",
        tags=["push"],
        description=(
            "One token per device: registering again replaces it. A token another account "
            "registered moves to you (the device changed hands). Errors: 910003 a bad "
            "deviceID, vendor or token; for webpush 910030 not a subscription, 910031 an "
            "endpoint that is not https, 910032 an endpoint whose address is refused "
            "(private, link-local, loopback)."),
        request=TokenRegisterSerializer,
        responses={201: TokenSerializer, **ERROR_RESPONSES})
    def post(self, request):
        row = services.push_token_register(user=request.user,
                                           **validated(TokenRegisterSerializer, request.data))
        return Response({"deviceID": row.device_id, "vendor": row.vendor,
                         "platform": row.platform,
                         "updatedAt": int(row.updated_at.timestamp())}, status=201)

    @extend_schema(
        operation_id="push_token_remove", summary="Remove my device's push token",
        tags=["push"],
        description="Idempotent: a device with no token answers `removed: false`. "
                    "Errors: 910003 a bad deviceID.",
        parameters=[OpenApiParameter("deviceID", DEVICE_ID, OpenApiParameter.QUERY,
                                     required=True, description="the device's ID")],
        request=None,
        responses={200: TokenRemovedSerializer, **ERROR_RESPONSES})
    def delete(self, request):
        device_id = request.query_params.get("deviceID")
        if device_id is None and isinstance(request.data, dict):
            device_id = request.data.get("deviceID")  # a client that sends a body
        removed = services.push_token_remove(user=request.user, device_id=device_id)
        return Response({"removed": removed})


@extend_schema(exclude=True)
class PushTokensNoSlashView(PushTokensView):
    """The same endpoint without the trailing slash (a redirect would lose a POST)."""


urlpatterns = [
    path("push/tokens/", PushTokensView.as_view(), name="api-push-tokens"),
    path("push/tokens", PushTokensNoSlashView.as_view()),
]
