"""Native REST views of the blocklist: each translates a request to one service or
selector (relationships.services / relationships.selectors), as the WebSocket ops do.

Batches answer 200 with every UserID's result (Tencent's ResultItem), even when some or
all failed; a malformed request is 400 with its code.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.fields import (
    Unchecked,
    UncheckedInt,
    UncheckedStr,
    int_range,
    user_ids,
    validated,
)
from accounts.api.schema import ERROR_RESPONSES
from chat_project.api import JSONParser
from relationships import selectors, services
from relationships.blocklist import BATCH_MAX

# --- shapes -----------------------------------------------------------------------------


class UserIDListField(Unchecked):
    """UserIDs, handed to the service as sent (it answers 910003/30001 with the reason)."""

    openapi = user_ids(BATCH_MAX)


class UserIDListSerializer(serializers.Serializer):
    userIDList = UserIDListField(source="user_ids",  # noqa: N815 (the Web SDK's name)
                                 help_text="at most 1,000 UserIDs; duplicates count once")


class BlockCheckRequestSerializer(UserIDListSerializer):
    checkType = UncheckedStr(  # noqa: N815
        source="check_type", required=False, default=selectors.BlackCheck.SINGLE,
        schema={"enum": [selectors.BlackCheck.SINGLE, selectors.BlackCheck.BOTH]},
        help_text="`BlackCheckResult_Type_Single` (default) or `BlackCheckResult_Type_Both`")


class BlockPageQuerySerializer(serializers.Serializer):
    startIndex = UncheckedInt(source="start_index", required=False, default=0,  # noqa: N815
                              help_text="where the page starts (0 first)",
                              schema=int_range(0, selectors.START_INDEX_MAX))
    maxLimited = UncheckedInt(source="max_limited", required=False,  # noqa: N815
                              default=100, help_text="page size, 1 to 1,000 (default 100)",
                              schema=int_range(1, selectors.BLOCKLIST_PAGE_MAX))

    def to_internal_value(self, data):
        out = super().to_internal_value(data)
        for key in ("start_index", "max_limited"):  # query strings carry text
            value = out.get(key)
            if isinstance(value, str):
                try:
                    out[key] = int(value)
                except ValueError:
                    pass  # the selector answers 910003
        return out


class ResultItemSerializer(serializers.Serializer):
    userID = serializers.CharField()  # noqa: N815
    code = serializers.IntegerField(help_text="0 done; 30001 already in (or not in) the "
                                              "list or yourself, 30003 no such user, "
                                              "30013 blocklist full")
    message = serializers.CharField(allow_blank=True)


class ResultListSerializer(serializers.Serializer):
    resultItem = ResultItemSerializer(many=True)  # noqa: N815


class BlockEntrySerializer(serializers.Serializer):
    userID = serializers.CharField()  # noqa: N815
    addTime = serializers.IntegerField(help_text="when it was blocked, Unix seconds")  # noqa: N815


class BlockPageSerializer(serializers.Serializer):
    blackList = BlockEntrySerializer(many=True)  # noqa: N815
    nextStartIndex = serializers.IntegerField(help_text="0 when this is the last page")  # noqa: N815
    isCompleted = serializers.BooleanField()  # noqa: N815


class BlockCheckItemSerializer(serializers.Serializer):
    userID = serializers.CharField()  # noqa: N815
    relation = serializers.ChoiceField(choices=[
        selectors.BlackCheck.BOTH_WAY, selectors.BlackCheck.A_WITH_B,
        selectors.BlackCheck.B_WITH_A, selectors.BlackCheck.NO])
    code = serializers.IntegerField(help_text="0, or 30003 no such user")
    message = serializers.CharField(allow_blank=True)


class BlockCheckSerializer(serializers.Serializer):
    blackListCheckItem = BlockCheckItemSerializer(many=True)  # noqa: N815


def _results(results) -> Response:
    return Response({"resultItem": [r.as_dict() for r in results]})


# --- views ------------------------------------------------------------------------------


class BlocklistView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="blocklist_list", summary="My blocklist, a page", tags=["blocklist"],
        description="Oldest first. Errors: 910003 a non-integer, 30001 out of range.",
        parameters=[BlockPageQuerySerializer],
        responses={200: BlockPageSerializer, **ERROR_RESPONSES})
    def get(self, request):
        query = validated(BlockPageQuerySerializer, request.query_params)
        return Response(selectors.block_list(owner=request.user, **query))

    @extend_schema(
        operation_id="blocklist_add", summary="Block users", tags=["blocklist"],
        description=(
            "Blocked users' messages to you fail with 20007, and friend requests between "
            "you are refused. Blocking ends the friendship both ways and cancels pending "
            "requests both ways. Every UserID gets its own result. Errors of the whole "
            "request: 910003 not a list of strings, 30001 empty or over 1,000."),
        request=UserIDListSerializer, responses={200: ResultListSerializer, **ERROR_RESPONSES})
    def post(self, request):
        return _results(services.block_add(owner=request.user,
                                           **validated(UserIDListSerializer, request.data)))


class BlocklistRemoveView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="blocklist_remove", summary="Unblock users", tags=["blocklist"],
        description="Every UserID gets its own result (30001 not in the list, 30003 no "
                    "such user). Ended friendships do not come back.",
        request=UserIDListSerializer, responses={200: ResultListSerializer, **ERROR_RESPONSES})
    def post(self, request):
        return _results(services.block_remove(owner=request.user,
                                              **validated(UserIDListSerializer, request.data)))


class BlocklistCheckView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="blocklist_check", summary="Who is blocked, either way",
        tags=["blocklist"],
        description="Single: AWithB (you block them) or NO. Both: BothWay, AWithB, BWithA "
                    "(they block you) or NO.",
        request=BlockCheckRequestSerializer,
        responses={200: BlockCheckSerializer, **ERROR_RESPONSES})
    def post(self, request):
        return Response({"blackListCheckItem": selectors.block_check(
            owner=request.user, **validated(BlockCheckRequestSerializer, request.data))})


urlpatterns = [
    path("blocklist/", BlocklistView.as_view(), name="api-blocklist"),
    path("blocklist/remove/", BlocklistRemoveView.as_view(), name="api-blocklist-remove"),
    path("blocklist/check/", BlocklistCheckView.as_view(), name="api-blocklist-check"),
]
