"""Native REST views of messaging: each translates a request to one service or selector.

Validation, permission and fan-out live in messaging.services, as for every door.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.fields import validated
from accounts.api.schema import EMPTY_RESPONSE, ERROR_RESPONSES, ErrorSerializer
from messaging import selectors, services
from messaging.uploads import upload_store

from .serializers import (
    ConversationListSerializer,
    FileUploadSerializer,
    MessagePageQuerySerializer,
    MessagePageSerializer,
    MessageSendSerializer,
    MessageSerializer,
    UnreadCountSerializer,
    UploadedElement,
)

CONVERSATION_ID = OpenApiParameter(
    "conversation_id", str, OpenApiParameter.PATH,
    description="`C2C` followed by the peer's UserID, e.g. C2Cbob")


class MessageSendView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="message_send", summary="Send a message", tags=["messages"],
        description=(
            "Sends one C2C message and returns it as stored. A retry with the same "
            "`random` to the same receiver within 10 minutes returns the message already "
            "stored. Errors: 90005 bad random, 90010 bad element, 93000 over 12 KB, "
            "20003 unknown receiver, 20012 sender muted, 910003 a field of the wrong type."),
        request=MessageSendSerializer,
        responses={201: MessageSerializer, **ERROR_RESPONSES},
    )
    def post(self, request):
        message = services.message_send(sender=request.user,
                                        **validated(MessageSendSerializer, request.data))
        return Response(message, status=201)


class ConversationListView(APIView):
    @extend_schema(operation_id="conversation_list", summary="My conversations",
                   description="Pinned first, then the most recent first.",
                   tags=["conversations"],
                   responses={200: ConversationListSerializer, **ERROR_RESPONSES})
    def get(self, request):
        return Response({"conversationList": selectors.conversation_list(user=request.user)})


class MessagePageView(APIView):
    @extend_schema(
        operation_id="conversation_messages", summary="A page of history", tags=["conversations"],
        description=(
            "Pages go back in time from the newest; each page is in chronological order. "
            "Pass the page's nextReqMessageID to get the page before it. Errors: 20003 "
            "unknown peer, 910003 bad conversationID or count, 910004 unknown "
            "nextReqMessageID."),
        parameters=[CONVERSATION_ID, MessagePageQuerySerializer],
        responses={200: MessagePageSerializer, **ERROR_RESPONSES},
    )
    def get(self, request, conversation_id):
        query = validated(MessagePageQuerySerializer, request.query_params)
        return Response(selectors.message_page(viewer=request.user,
                                               conversation_id=conversation_id, **query))


class ConversationReadView(APIView):
    @extend_schema(
        operation_id="conversation_mark_read", summary="Mark a conversation read",
        description=("Everything in the conversation up to now is read, on every device; "
                     "the peer learns it where read receipts apply."),
        tags=["conversations"], parameters=[CONVERSATION_ID], request=None,
        responses={200: EMPTY_RESPONSE, **ERROR_RESPONSES},
    )
    def post(self, request, conversation_id):
        return Response(services.conversation_mark_read(user=request.user,
                                                        conversation_id=conversation_id))


class UnreadCountView(APIView):
    @extend_schema(operation_id="unread_count", summary="My total unread count",
                   tags=["conversations"],
                   responses={200: UnreadCountSerializer, **ERROR_RESPONSES})
    def get(self, request):
        return Response({"totalUnreadCount": selectors.total_unread(request.user)})


class FileUploadView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="file_upload", summary="Upload a file for a message", tags=["files"],
        description=(
            "Stores the file and returns the element that carries it, ready to put in a "
            "message's `elements`. An image gets a large (720 px) and a thumbnail (198 px) "
            "copy. Limits: image and sound 28 MB, file and video 100 MB. Errors: 910003 "
            "no file or a bad kind, 910006 too large (HTTP 413), 910007 not an image."),
        request={"multipart/form-data": FileUploadSerializer},
        responses={
            201: UploadedElement, **ERROR_RESPONSES,
            413: OpenApiResponse(ErrorSerializer, description="910006: the file is too large"),
        },
    )
    def post(self, request):
        element = upload_store(user=request.user, absolute_url=request.build_absolute_uri,
                               **validated(FileUploadSerializer, request.data))
        return Response(element, status=201)
