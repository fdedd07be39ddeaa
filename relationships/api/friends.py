"""Native REST views for friends, friend requests and friend lists.

Each view translates one request into one call of relationships.friends and returns
what it returns: the same names (the Web SDK's) and the same Tencent codes as the
WebSocket ops in relationships/friends_ws.py. Inputs pass through unchecked
(accounts.api.fields) so the service answers every bad value with the same code here
(30001 a broken rule, 910003 a missing value or a wrong type); a key a body does not
know is refused with 910003, not dropped.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.fields import USER_ID, ClosedBody, Unchecked, UncheckedStr, text, user_ids
from accounts.api.schema import EMPTY_RESPONSE, ERROR_RESPONSES
from accounts.api.serializers import ProfileSerializer
from chat_project.api import JSONParser
from relationships import friends
from relationships.models import AddType
from relationships.selectors import START_INDEX_MAX

# --- inputs -------------------------------------------------------------------------


def _enum(name: str, values) -> type:
    return type(name, (UncheckedStr,), {"openapi": {"type": "string", "enum": list(values)}})


AddTypeField = _enum("AddTypeField", AddType.values)
DeleteTypeField = _enum("DeleteTypeField", friends.DeleteType.values)
CheckTypeField = _enum("CheckTypeField", friends.CheckType.values)
PendencyTypeField = _enum("PendencyTypeField", friends.PendencyType.values)
PendencyOneWayField = _enum("PendencyOneWayField", (friends.PendencyType.COME_IN,
                                                     friends.PendencyType.SEND_OUT))
ResponseActionField = _enum("ResponseActionField", friends.ResponseAction.values)


class UserIDListField(Unchecked):
    openapi = user_ids(friends.MAX_USER_IDS)


class CustomFieldListField(Unchecked):
    openapi = {"type": "array", "maxItems": friends.MAX_CUSTOM_FIELDS, "items": {
        "type": "object", "additionalProperties": False, "required": ["key", "value"],
        "properties": {
            "key": {"type": "string", "pattern": r"^Tag_SNS_Custom_[A-Za-z0-9_]{1,8}$"},
            "value": {"type": "string", **text(friends.CUSTOM_VALUE_BYTES)}}}}


Body = ClosedBody
REMARK = text(friends.REMARK_BYTES)
GROUP_NAME = text(friends.GROUP_NAME_BYTES, min_length=1)


def _args(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class FriendAddSerializer(Body):
    to = UncheckedStr(help_text="the UserID to add", schema=USER_ID)
    source = UncheckedStr(help_text="AddSource_Type_ followed by 1 to 8 letters",
                          schema={"pattern": r"^AddSource_Type_[A-Za-z]{1,8}$",
                                  "example": "AddSource_Type_Web"})
    wording = UncheckedStr(required=False, help_text="at most 256 bytes",
                           schema=text(friends.WORDING_BYTES))
    type = AddTypeField(required=False, source="add_type",
                        help_text="Add_Type_Both (the default) or Add_Type_Single")
    remark = UncheckedStr(required=False, help_text="at most 96 bytes", schema=REMARK)
    groupName = UncheckedStr(required=False, source="group_name",  # noqa: N815
                             help_text="a friend list to put the friend in (created if "
                                       "missing), at most 30 bytes", schema=GROUP_NAME)


class FriendUpdateSerializer(Body):
    userID = UncheckedStr(source="user_id", schema=USER_ID)  # noqa: N815
    remark = UncheckedStr(required=False, help_text="at most 96 bytes", schema=REMARK)
    friendCustomField = CustomFieldListField(  # noqa: N815
        required=False, source="custom_fields",
        help_text="keys Tag_SNS_Custom_<1-8 letters, digits, _>, string values of at "
                  "most 500 bytes; an empty value removes the key")


class FriendDeleteSerializer(Body):
    userIDList = UserIDListField(source="user_ids", help_text="at most 1,000")  # noqa: N815
    type = DeleteTypeField(required=False, source="delete_type",
                           help_text="Delete_Type_Both (the default) or Delete_Type_Single")


class FriendDeleteAllSerializer(Body):
    # A plain string in the schema: an enum named once per component keeps
    # drf-spectacular's enum names free of collisions.
    type = UncheckedStr(
        required=False, source="delete_type", schema={"pattern": "^Delete_Type_(Single|Both)$"},
        help_text="Delete_Type_Single (the default) or Delete_Type_Both")


class FriendCheckSerializer(Body):
    userIDList = UserIDListField(source="user_ids", help_text="at most 1,000")  # noqa: N815
    type = CheckTypeField(required=False, source="check_type",
                          help_text="CheckResult_Type_Both (the default) or _Single")


class FriendProfilesSerializer(Body):
    userIDList = UserIDListField(source="user_ids", help_text="at most 100",  # noqa: N815
                                 schema={"maxItems": friends.MAX_PROFILE_IDS})


class FriendPageQuerySerializer(serializers.Serializer):
    startIndex = serializers.IntegerField(  # noqa: N815
        required=False, min_value=0, max_value=START_INDEX_MAX, help_text="0 by default")
    count = serializers.IntegerField(required=False, min_value=1,
                                     max_value=friends.FRIEND_PAGE_MAX,
                                     help_text="1 to 1,000; 100 by default")


class RequestListQuerySerializer(serializers.Serializer):
    type = serializers.ChoiceField(friends.PendencyType.values, required=False,
                                   help_text="Pendency_Type_Both by default")


class RequestAcceptSerializer(Body):
    userID = UncheckedStr(source="user_id", help_text="who sent the request",  # noqa: N815
                          schema=USER_ID)
    type = ResponseActionField(source="action")
    remark = UncheckedStr(required=False, schema=REMARK,
                          help_text="my remark for the requester (AgreeAndAdd)")


class RequestRefuseSerializer(Body):
    userID = UncheckedStr(source="user_id", help_text="who sent the request",  # noqa: N815
                          schema=USER_ID)


class RequestDeleteSerializer(Body):
    userID = UncheckedStr(source="user_id", schema=USER_ID)  # noqa: N815
    type = PendencyOneWayField(source="pendency_type",
                               help_text="ComeIn: one sent to me; SendOut: one I sent")


class GroupCreateSerializer(Body):
    name = UncheckedStr(help_text="1 to 30 bytes", schema=GROUP_NAME)
    userIDList = UserIDListField(required=False, source="user_ids")  # noqa: N815


class GroupNameSerializer(Body):
    name = UncheckedStr(schema=GROUP_NAME)


class GroupRenameSerializer(Body):
    oldName = UncheckedStr(source="old_name", schema=GROUP_NAME)  # noqa: N815
    newName = UncheckedStr(source="new_name", help_text="1 to 30 bytes",  # noqa: N815
                           schema=GROUP_NAME)


class GroupMembersSerializer(Body):
    name = UncheckedStr(schema=GROUP_NAME)
    userIDList = UserIDListField(source="user_ids")  # noqa: N815


# --- outputs (for the schema; views return the services' dicts) -------------------


class FriendCustomFieldSerializer(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.CharField(allow_blank=True)


class FriendSerializer(serializers.Serializer):
    userID = serializers.CharField()  # noqa: N815
    remark = serializers.CharField(allow_blank=True)
    groupList = serializers.ListField(child=serializers.CharField())  # noqa: N815
    source = serializers.CharField(allow_blank=True)
    wording = serializers.CharField(allow_blank=True)
    addTime = serializers.IntegerField(help_text="seconds since the epoch")  # noqa: N815
    profile = ProfileSerializer()
    friendCustomField = FriendCustomFieldSerializer(many=True)  # noqa: N815


class FriendPageSerializer(serializers.Serializer):
    friendList = FriendSerializer(many=True)  # noqa: N815
    nextStartIndex = serializers.IntegerField()  # noqa: N815
    isCompleted = serializers.BooleanField()  # noqa: N815
    friendNum = serializers.IntegerField(help_text="how many friends I have")  # noqa: N815


class FriendAddResultSerializer(serializers.Serializer):
    userID = serializers.CharField()  # noqa: N815
    code = serializers.IntegerField(help_text="0 added; 30539 a request waits for the peer")
    message = serializers.CharField(allow_blank=True)


class UserIDSerializer(serializers.Serializer):
    userID = serializers.CharField()  # noqa: N815


class FailureSerializer(serializers.Serializer):
    userID = serializers.CharField()  # noqa: N815
    code = serializers.IntegerField()
    message = serializers.CharField()


class FriendDeleteResultSerializer(serializers.Serializer):
    successUserIDList = UserIDSerializer(many=True)  # noqa: N815
    failureUserIDList = FailureSerializer(many=True)  # noqa: N815


class FriendDeleteAllResultSerializer(serializers.Serializer):
    successUserIDList = UserIDSerializer(many=True)  # noqa: N815


class RelationSerializer(serializers.Serializer):
    userID = serializers.CharField()  # noqa: N815
    code = serializers.IntegerField()
    relation = serializers.ChoiceField([
        friends.Relation.NONE, friends.Relation.A_WITH_B, friends.Relation.B_WITH_A,
        friends.Relation.BOTH_WAY])


class FriendCheckResultSerializer(serializers.Serializer):
    successUserIDList = RelationSerializer(many=True)  # noqa: N815
    failureUserIDList = FailureSerializer(many=True)  # noqa: N815


class FriendProfilesResultSerializer(serializers.Serializer):
    friendList = FriendSerializer(many=True)  # noqa: N815
    failureUserIDList = FailureSerializer(many=True)  # noqa: N815


class FriendApplicationSerializer(serializers.Serializer):
    userID = serializers.CharField()  # noqa: N815
    avatar = serializers.CharField(allow_blank=True)
    nick = serializers.CharField(allow_blank=True)
    time = serializers.IntegerField()
    source = serializers.CharField(allow_blank=True)
    wording = serializers.CharField(allow_blank=True)
    type = serializers.CharField(help_text="Pendency_Type_ComeIn (sent to me) or "
                                           "Pendency_Type_SendOut (sent by me)")


class FriendApplicationListSerializer(serializers.Serializer):
    friendApplicationList = FriendApplicationSerializer(many=True)  # noqa: N815
    unreadCount = serializers.IntegerField()  # noqa: N815


class FriendGroupSerializer(serializers.Serializer):
    name = serializers.CharField()
    userIDList = serializers.ListField(child=serializers.CharField())  # noqa: N815
    count = serializers.IntegerField()


class FriendGroupListSerializer(serializers.Serializer):
    friendGroupList = FriendGroupSerializer(many=True)  # noqa: N815


class FriendGroupResultSerializer(serializers.Serializer):
    friendGroup = FriendGroupSerializer()  # noqa: N815
    failureUserIDList = FailureSerializer(many=True)  # noqa: N815


class FriendGroupOnlySerializer(serializers.Serializer):
    friendGroup = FriendGroupSerializer()  # noqa: N815


# --- views --------------------------------------------------------------------------


def _int_param(value):
    """A query-string integer as int; anything else goes on as it is, for the service
    to refuse with its own code."""
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value
    return value


FRIENDS = ["friends"]
REQUESTS = ["friend requests"]
GROUPS = ["friend lists"]


class FriendsView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="friend_list", summary="A page of my friends", tags=FRIENDS,
        description="In the order they were added. Errors: 30001 bad startIndex or count.",
        parameters=[FriendPageQuerySerializer],
        responses={200: FriendPageSerializer, **ERROR_RESPONSES})
    def get(self, request):
        return Response(friends.friend_list(
            user=request.user, start_index=_int_param(request.query_params.get("startIndex")),
            count=_int_param(request.query_params.get("count"))))

    @extend_schema(
        operation_id="friend_add", summary="Add a friend", tags=FRIENDS,
        description=(
            "Follows the peer's allowType: AllowAny adds at once (code 0), NeedConfirm "
            "sends a request (code 30539, not an error), DenyAny refuses (30516). "
            "Errors: 30001 bad parameters, myself or already my friend; 30003 unknown "
            "UserID; 30010 my list is full; 30011 too many friend lists; 30012 too many "
            "pending requests; 30014 the peer's list is full; 30515 the peer is in my "
            "blocklist; 30525 I am in the peer's; 38000-39000 refused by the app "
            "(Sns.CallbackPrevFriendAdd, with its ResultInfo)."),
        request=FriendAddSerializer,
        responses={200: FriendAddResultSerializer, **ERROR_RESPONSES})
    def post(self, request):
        return Response(friends.client_action(
            "add", user=request.user, client_ip=request.META.get("REMOTE_ADDR", ""),
            **_args(FriendAddSerializer, request.data)))

    @extend_schema(
        operation_id="friend_update", summary="Change a friend's remark or custom fields",
        tags=FRIENDS, description="Errors: 30001 bad values or not my friend; 30003.",
        request=FriendUpdateSerializer, responses={200: FriendSerializer, **ERROR_RESPONSES})
    def patch(self, request):
        return Response(friends.friend_update(user=request.user,
                                              **_args(FriendUpdateSerializer, request.data)))


class FriendDeleteView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="friend_delete", summary="Delete friends", tags=FRIENDS,
        description="Per UserID: 31704 nothing to delete, 30003 unknown, 30001 myself.",
        request=FriendDeleteSerializer,
        responses={200: FriendDeleteResultSerializer, **ERROR_RESPONSES})
    def post(self, request):
        return Response(friends.friend_delete(user=request.user,
                                              **_args(FriendDeleteSerializer, request.data)))


class FriendDeleteAllView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="friend_delete_all", summary="Delete all my friends", tags=FRIENDS,
        request=FriendDeleteAllSerializer,
        responses={200: FriendDeleteAllResultSerializer, **ERROR_RESPONSES})
    def post(self, request):
        return Response(friends.friend_delete_all(
            user=request.user, **_args(FriendDeleteAllSerializer, request.data)))


class FriendCheckView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="friend_check", summary="Check relations", tags=FRIENDS,
        request=FriendCheckSerializer,
        responses={200: FriendCheckResultSerializer, **ERROR_RESPONSES})
    def post(self, request):
        return Response(friends.friend_check(user=request.user,
                                             **_args(FriendCheckSerializer, request.data)))


class FriendProfilesView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="friend_profiles", summary="Friends' data and profiles", tags=FRIENDS,
        description="Per UserID: 30001 not my friend, 30003 unknown.",
        request=FriendProfilesSerializer,
        responses={200: FriendProfilesResultSerializer, **ERROR_RESPONSES})
    def post(self, request):
        return Response(friends.friend_profiles(
            user=request.user, **_args(FriendProfilesSerializer, request.data)))


class FriendRequestsView(APIView):
    @extend_schema(
        operation_id="friend_request_list", summary="My pending friend requests",
        tags=REQUESTS, parameters=[RequestListQuerySerializer],
        responses={200: FriendApplicationListSerializer, **ERROR_RESPONSES})
    def get(self, request):
        return Response(friends.friend_request_list(
            user=request.user, pendency_type=request.query_params.get("type")))


class FriendRequestAcceptView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="friend_request_accept", summary="Accept a friend request",
        tags=REQUESTS,
        description=("Response_Action_Agree: the requester gets me in their list; "
                     "Response_Action_AgreeAndAdd: I also get them in mine. Errors: 30614 "
                     "no such request, 30010 my list full, 30014 theirs full, 30515, "
                     "30525, 30001, 30003; 38000-39000 refused by the app "
                     "(Sns.CallbackPrevFriendResponse)."),
        request=RequestAcceptSerializer, responses={200: UserIDSerializer, **ERROR_RESPONSES})
    def post(self, request):
        return Response(friends.client_action(
            "accept", user=request.user, client_ip=request.META.get("REMOTE_ADDR", ""),
            **_args(RequestAcceptSerializer, request.data)))


class FriendRequestRefuseView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="friend_request_refuse", summary="Refuse a friend request",
        tags=REQUESTS, description=("Errors: 30614 no such request, 30001, 30003; "
                                     "38000-39000 refused by the app "
                                     "(Sns.CallbackPrevFriendResponse)."),
        request=RequestRefuseSerializer, responses={200: UserIDSerializer, **ERROR_RESPONSES})
    def post(self, request):
        return Response(friends.client_action(
            "refuse", user=request.user, client_ip=request.META.get("REMOTE_ADDR", ""),
            **_args(RequestRefuseSerializer, request.data)))


class FriendRequestDeleteView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="friend_request_delete", summary="Delete a pending friend request",
        tags=REQUESTS, description="Errors: 30614 no such request, 30001, 30003.",
        request=RequestDeleteSerializer, responses={200: UserIDSerializer, **ERROR_RESPONSES})
    def post(self, request):
        return Response(friends.friend_request_delete(
            user=request.user, **_args(RequestDeleteSerializer, request.data)))


class FriendRequestReadView(APIView):
    @extend_schema(
        operation_id="friend_request_mark_read", summary="Mark the requests sent to me read",
        tags=REQUESTS, request=None, responses={200: EMPTY_RESPONSE, **ERROR_RESPONSES})
    def post(self, request):
        return Response(friends.friend_request_mark_read(user=request.user))


class FriendGroupsView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="friend_group_list", summary="My friend lists", tags=GROUPS,
        responses={200: FriendGroupListSerializer, **ERROR_RESPONSES})
    def get(self, request):
        return Response({"friendGroupList": friends.friend_group_list(user=request.user)})

    @extend_schema(
        operation_id="friend_group_create", summary="Create a friend list", tags=GROUPS,
        description=("Errors: 30001 bad or taken name, 30011 32 lists already. Per UserID: "
                     "32216 not my friend, 30003 unknown."),
        request=GroupCreateSerializer,
        responses={200: FriendGroupResultSerializer, **ERROR_RESPONSES})
    def post(self, request):
        return Response(friends.friend_group_create(
            user=request.user, **_args(GroupCreateSerializer, request.data)))


class FriendGroupDeleteView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="friend_group_delete", summary="Delete a friend list", tags=GROUPS,
        description="Its members stay friends. Errors: 30001 no such list.",
        request=GroupNameSerializer,
        responses={200: FriendGroupOnlySerializer, **ERROR_RESPONSES})
    def post(self, request):
        return Response(friends.friend_group_delete(
            user=request.user, **_args(GroupNameSerializer, request.data)))


class FriendGroupRenameView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="friend_group_rename", summary="Rename a friend list", tags=GROUPS,
        description="Errors: 30001 no such list, or the new name is bad or taken.",
        request=GroupRenameSerializer,
        responses={200: FriendGroupOnlySerializer, **ERROR_RESPONSES})
    def post(self, request):
        return Response(friends.friend_group_rename(
            user=request.user, **_args(GroupRenameSerializer, request.data)))


class FriendGroupAddMembersView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="friend_group_add_members", summary="Put friends in a friend list",
        tags=GROUPS,
        description="Errors: 30001 no such list. Per UserID: 32216 not my friend, 30003.",
        request=GroupMembersSerializer,
        responses={200: FriendGroupResultSerializer, **ERROR_RESPONSES})
    def post(self, request):
        return Response(friends.friend_group_add_members(
            user=request.user, **_args(GroupMembersSerializer, request.data)))


class FriendGroupRemoveMembersView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="friend_group_remove_members", summary="Take friends out of a list",
        tags=GROUPS,
        description=("Errors: 30001 no such list. Per UserID: 32216 not my friend, 30001 "
                     "not in the list, 30003."),
        request=GroupMembersSerializer,
        responses={200: FriendGroupResultSerializer, **ERROR_RESPONSES})
    def post(self, request):
        return Response(friends.friend_group_remove_members(
            user=request.user, **_args(GroupMembersSerializer, request.data)))


urlpatterns = [
    path("friends/", FriendsView.as_view(), name="api-friends"),
    path("friends/delete/", FriendDeleteView.as_view(), name="api-friends-delete"),
    path("friends/delete-all/", FriendDeleteAllView.as_view(), name="api-friends-delete-all"),
    path("friends/check/", FriendCheckView.as_view(), name="api-friends-check"),
    path("friends/profiles/", FriendProfilesView.as_view(), name="api-friends-profiles"),
    path("friend-requests/", FriendRequestsView.as_view(), name="api-friend-requests"),
    path("friend-requests/accept/", FriendRequestAcceptView.as_view(),
         name="api-friend-requests-accept"),
    path("friend-requests/refuse/", FriendRequestRefuseView.as_view(),
         name="api-friend-requests-refuse"),
    path("friend-requests/delete/", FriendRequestDeleteView.as_view(),
         name="api-friend-requests-delete"),
    path("friend-requests/read/", FriendRequestReadView.as_view(),
         name="api-friend-requests-read"),
    path("friend-groups/", FriendGroupsView.as_view(), name="api-friend-groups"),
    path("friend-groups/delete/", FriendGroupDeleteView.as_view(),
         name="api-friend-groups-delete"),
    path("friend-groups/rename/", FriendGroupRenameView.as_view(),
         name="api-friend-groups-rename"),
    path("friend-groups/add-members/", FriendGroupAddMembersView.as_view(),
         name="api-friend-groups-add-members"),
    path("friend-groups/remove-members/", FriendGroupRemoveMembersView.as_view(),
         name="api-friend-groups-remove-members"),
]
