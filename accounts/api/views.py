"""Native REST views of accounts: each translates a request to one service or selector."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import profile_full
from accounts.services import profile_update

from .fields import validated
from .schema import ERROR_RESPONSES
from .serializers import ProfileSerializer, ProfileUpdateSerializer


class MeView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(operation_id="me_get", summary="My profile", tags=["profile"],
                   responses={200: ProfileSerializer, **ERROR_RESPONSES})
    def get(self, request):
        return Response(profile_full(request.user))

    @extend_schema(operation_id="me_update", summary="Change my profile", tags=["profile"],
                   request=ProfileUpdateSerializer,
                   responses={200: ProfileSerializer, **ERROR_RESPONSES})
    def patch(self, request):
        fields = validated(ProfileUpdateSerializer, request.data, partial=True)
        user = profile_update(user=request.user, **fields)
        return Response(profile_full(user))
