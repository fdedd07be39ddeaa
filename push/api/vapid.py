"""Native REST: the server's VAPID public key, which a browser subscribes with
(`pushManager.subscribe({applicationServerKey})`, static/parley/notify.js)."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.schema import ERROR_RESPONSES
from chat_project.errors import ChatError
from push import vapid


class VapidKeySerializer(serializers.Serializer):
    publicKey = serializers.CharField(  # noqa: N815 (the browser's name)
        help_text="the uncompressed P-256 point, base64url (applicationServerKey)")


class VapidKeyView(APIView):
    @extend_schema(
        operation_id="push_vapid_key", summary="The Web Push (VAPID) public key",
        tags=["push"],
        description="Subscribe with it, then register the subscription as a `webpush` "
                    "token. Errors: 910033 the server's VAPID keys are misconfigured.",
        responses={200: VapidKeySerializer, **ERROR_RESPONSES})
    def get(self, request):
        try:
            key = vapid.public_key()
        except vapid.VapidKeyError as exc:
            raise ChatError(910033, str(exc), http_status=503) from None
        return Response({"publicKey": key})


urlpatterns = [
    path("push/vapid-key/", VapidKeyView.as_view(), name="api-push-vapid-key"),
]
