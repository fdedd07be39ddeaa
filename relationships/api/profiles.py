"""Native REST views of profiles: mine (/me/), others' in batches, and user search.

They live in relationships because a change of my profile reaches my friends too
(relationships.services.profile_update), and accounts does not know friends.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.fields import UncheckedInt, UncheckedStr, int_range, text, user_ids, validated
from accounts.api.schema import ERROR_RESPONSES
from accounts.api.serializers import ProfileSerializer, ProfileUpdateSerializer
from accounts.selectors import profile_full
from chat_project.api import JSONParser
from relationships import selectors, services


class UserSearchQuerySerializer(serializers.Serializer):
    search = UncheckedStr(source="keyword",
                          help_text="a UserID prefix or a part of a nick (case folded)",
                          schema={**text(500), "pattern": r"^[^\x00]*[^\x00\s][^\x00]*$"})
    count = UncheckedInt(required=False, default=20, help_text="1 to 50 (default 20)",
                         schema=int_range(1, selectors.USER_SEARCH_MAX))

    def to_internal_value(self, data):
        out = super().to_internal_value(data)
        if isinstance(out.get("count"), str):  # query strings carry text
            try:
                out["count"] = int(out["count"])
            except ValueError:
                pass  # the selector answers 910003
        return out


class UserListSerializer(serializers.Serializer):
    userList = ProfileSerializer(many=True)  # noqa: N815


class ProfileListSerializer(serializers.Serializer):
    profileList = ProfileSerializer(many=True)  # noqa: N815


USER_IDS = OpenApiParameter(
    "userID", user_ids(selectors.PROFILES_BATCH_MAX), OpenApiParameter.QUERY, required=True,
    description="repeat for each user, at most 100: `?userID=alice&userID=bob`")


class MeView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(operation_id="me_get", summary="My profile", tags=["profile"],
                   responses={200: ProfileSerializer, **ERROR_RESPONSES})
    def get(self, request):
        return Response(profile_full(request.user))

    @extend_schema(
        operation_id="me_update", summary="Change my profile", tags=["profile"],
        description=(
            "Only the fields sent change; my devices and my friends' devices get "
            "PROFILE_UPDATED. Errors: 40601 too long, 40605 a bad value, 40009 not a "
            "custom field, 910003 a field that is not mine to set."),
        request=ProfileUpdateSerializer, responses={200: ProfileSerializer, **ERROR_RESPONSES})
    def patch(self, request):
        fields = validated(ProfileUpdateSerializer, request.data, partial=True)
        return Response(profile_full(services.profile_update(user=request.user, **fields)))


class UserProfilesView(APIView):
    @extend_schema(
        operation_id="user_profiles", summary="Others' profiles", tags=["profile"],
        description="In the order asked; unknown UserIDs are left out. Errors: 40001 none "
                    "or over 100.",
        parameters=[USER_IDS], responses={200: ProfileListSerializer, **ERROR_RESPONSES})
    def get(self, request):
        return Response({"profileList": selectors.profiles_get(
            user_ids=request.query_params.getlist("userID"))})


class UserSearchView(APIView):
    @extend_schema(
        operation_id="user_search", summary="Find users", tags=["profile"],
        description="Active users whose UserID starts with `search` or whose nick holds "
                    "it; an exact UserID first. Errors: 910003 no search, 40001 a bad count.",
        parameters=[UserSearchQuerySerializer],
        responses={200: UserListSerializer, **ERROR_RESPONSES})
    def get(self, request):
        query = validated(UserSearchQuerySerializer, request.query_params)
        return Response({"userList": selectors.user_search(**query)})


urlpatterns = [
    path("me/", MeView.as_view(), name="api-me"),
    path("users/", UserSearchView.as_view(), name="api-user-search"),
    path("users/profiles/", UserProfilesView.as_view(), name="api-user-profiles"),
]
