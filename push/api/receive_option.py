"""Native REST: the signed-in user's global receive option (Tencent's
setAllReceiveMessageOpt / getAllReceiveMessageOpt), push.services."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.fields import Unchecked, UncheckedInt, int_range, validated
from accounts.api.schema import ERROR_RESPONSES
from chat_project.api import JSONParser
from push import services


class ReceiveOptionSetSerializer(serializers.Serializer):
    opt = Unchecked(help_text="0 or AcceptAndNotify; 2 or AcceptNotNotify (no offline push "
                              "inside the window)")
    startHour = UncheckedInt(source="start_hour", required=False,  # noqa: N815
                             schema=int_range(0, 23), help_text="UTC")
    startMinute = UncheckedInt(source="start_minute", required=False,  # noqa: N815
                               schema=int_range(0, 59))
    startSecond = UncheckedInt(source="start_second", required=False,  # noqa: N815
                               schema=int_range(0, 59))
    duration = UncheckedInt(required=False, schema=int_range(0, 86400),
                            help_text="seconds; 0 no window, 86400 all day")


class ReceiveOptionSerializer(serializers.Serializer):
    allReceiveMessageOpt = serializers.CharField()  # noqa: N815
    startHour = serializers.IntegerField()  # noqa: N815
    startMinute = serializers.IntegerField()  # noqa: N815
    startSecond = serializers.IntegerField()  # noqa: N815
    duration = serializers.IntegerField()


class ReceiveOptionView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(operation_id="receive_option_get", summary="My global receive option",
                   tags=["push"], responses={200: ReceiveOptionSerializer, **ERROR_RESPONSES})
    def get(self, request):
        return Response(services.receive_option_get(user=request.user))

    @extend_schema(
        operation_id="receive_option_set", summary="Set my global receive option",
        description="A daily quiet window (UTC) in which messages arrive but send no "
                    "offline push. Errors: 910020 a bad field.",
        tags=["push"], request=ReceiveOptionSetSerializer,
        responses={200: ReceiveOptionSerializer, **ERROR_RESPONSES})
    def put(self, request):
        fields = validated(ReceiveOptionSetSerializer, request.data)
        return Response(services.receive_option_set(user=request.user, **fields))


urlpatterns = [
    path("push/receive-option/", ReceiveOptionView.as_view(), name="api-push-receive-option"),
]
