"""Native REST views of messaging: each translates a request to one service or selector.

Validation, permission and fan-out live in messaging.services, as for every door.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import fields
from accounts.api.fields import validated
from accounts.api.schema import EMPTY_RESPONSE, ERROR_RESPONSES, ErrorSerializer
from chat_project.api import JSONParser
from messaging import changes, extensions, merged, reactions, selectors, services
from messaging.commands import Origin
from messaging.uploads import upload_store
from messaging.views import extension_page_dict, extension_results_dict
from push import offline_info

from .serializers import (
    ConversationDeleteSerializer,
    ConversationDraftSerializer,
    ConversationIDSerializer,
    ConversationListSerializer,
    ConversationPinSerializer,
    ExtensionDeleteSerializer,
    ExtensionPageSerializer,
    ExtensionQuerySerializer,
    ExtensionResultsSerializer,
    ExtensionSetSerializer,
    FileUploadSerializer,
    MergedListSerializer,
    MessageIDListResultSerializer,
    MessageIDListSerializer,
    MessageModifySerializer,
    MessagePageQuerySerializer,
    MessagePageSerializer,
    MessageSendSerializer,
    MessageSerializer,
    ReactionBodySerializer,
    ReactionListSerializer,
    ReactionQuerySerializer,
    ReactionUserPageSerializer,
    ReactionUsersQuerySerializer,
    RemindTypeSerializer,
    UnreadCountSerializer,
    UploadedElement,
)

CONVERSATION_ID = OpenApiParameter(
    "conversation_id", fields.CONVERSATION_ID, OpenApiParameter.PATH,
    description="`C2C` followed by the peer's UserID, e.g. C2Cbob")
MESSAGE_ID = OpenApiParameter("message_id", fields.MESSAGE_ID, OpenApiParameter.PATH,
                              description="the message's ID, as the server gave it")


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
        fields = validated(MessageSendSerializer, request.data)
        if "offline_push_info" in fields:  # the one stored shape (push/offline_info.py)
            fields["offline_push_info"] = offline_info.from_web(fields["offline_push_info"])
        message = services.message_send(origin=Origin.USER, sender=request.user,
                                        client_ip=request.META.get("REMOTE_ADDR", ""),
                                        **fields)
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
        return Response(changes.conversation_mark_read(
            user=request.user, peer=changes.peer_for(conversation_id), platform="Unknown"))


# --- changes to stored messages (messaging/changes.py) ---------------------------------

class MessageRevokeView(APIView):
    @extend_schema(
        operation_id="message_revoke", summary="Recall a message you sent",
        description=(
            "Within 2 minutes of sending. The message keeps its place in both histories "
            "with isRevoked true and no content; both users' devices get MESSAGE_REVOKED. "
            "Errors: 20016 too late, 20022 not found or not yours, 20023 already recalled."),
        tags=["messages"], parameters=[MESSAGE_ID], request=None,
        responses={200: MessageSerializer, **ERROR_RESPONSES},
    )
    def post(self, request, message_id):
        return Response(changes.message_revoke(message_pk=changes.message_pk(message_id),
                                               actor=request.user, platform="Unknown"))


class MessageModifyView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="message_modify", summary="Change a message you sent",
        description=(
            "New elements and/or cloudCustomData, checked as a send's. Both users' devices "
            "get MESSAGE_MODIFIED. Errors: 20022 not found or not yours, 20023 recalled, "
            "20028 `version` is stale, 90010 bad element, 93000 over 12 KB."),
        tags=["messages"], parameters=[MESSAGE_ID], request=MessageModifySerializer,
        responses={200: MessageSerializer, **ERROR_RESPONSES},
    )
    def post(self, request, message_id):
        return Response(changes.message_modify(
            message_pk=changes.message_pk(message_id), actor=request.user,
            **validated(MessageModifySerializer, request.data)))


_EXTENSION_ERRORS = ("Errors: 23002 the message was sent without isSupportExtension, "
                     "23004 not in your history (or recalled), 10004 a bad field.")
_EXTENSION_WRITE_ERRORS = (_EXTENSION_ERRORS[:-1] + ", 23003 (HTTP 429) over 200 writes "
                           "a minute on this message (sets and deletes, both users' and "
                           "the app admin's).")
_TOO_FREQUENT = {429: OpenApiResponse(ErrorSerializer, description=(
    "23003: over 200 extension writes a minute on this message"))}


class MessageExtensionsView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="message_extensions_get", summary="A message's key-value extensions",
        description=("The keys at startSeq or later, by version, 200 at most. "
                     + _EXTENSION_ERRORS),
        tags=["messages"], parameters=[MESSAGE_ID, ExtensionQuerySerializer],
        responses={200: ExtensionPageSerializer, **ERROR_RESPONSES},
    )
    def get(self, request, message_id):
        query = validated(ExtensionQuerySerializer, request.query_params)
        return Response(extension_page_dict(extensions.extensions_get(
            message_pk=changes.message_pk(message_id), actor=request.user, **query)))

    @extend_schema(
        operation_id="message_extensions_set", summary="Set keys of a message's extensions",
        description=("Compare-and-set per key: a key changed since the seq you name is "
                     "answered code 23001 with what is stored; the other keys are set. Both "
                     "users' devices get MESSAGE_EXTENSIONS_UPDATED. 910050: over 300 keys "
                     "on the message. " + _EXTENSION_WRITE_ERRORS),
        tags=["messages"], parameters=[MESSAGE_ID], request=ExtensionSetSerializer,
        responses={200: ExtensionResultsSerializer, **ERROR_RESPONSES, **_TOO_FREQUENT},
    )
    def post(self, request, message_id):
        body = validated(ExtensionSetSerializer, request.data)
        return Response(extension_results_dict(extensions.extensions_set(
            message_pk=changes.message_pk(message_id), actor=request.user,
            items=extensions.items_from_wire(body.get("extensions"), with_values=True))))


class MessageExtensionsDeleteView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="message_extensions_delete", summary="Delete keys of a message's extensions",
        description=("The keys named (compare-and-set per key, as a set), or every key "
                     "when none is named. Both users' devices get MESSAGE_EXTENSIONS_DELETED. "
                     + _EXTENSION_WRITE_ERRORS),
        tags=["messages"], parameters=[MESSAGE_ID], request=ExtensionDeleteSerializer,
        responses={200: ExtensionResultsSerializer, **ERROR_RESPONSES, **_TOO_FREQUENT},
    )
    def post(self, request, message_id):
        body = validated(ExtensionDeleteSerializer, request.data)
        return Response(extension_results_dict(extensions.extensions_delete(
            message_pk=changes.message_pk(message_id), actor=request.user,
            items=extensions.items_from_wire(body.get("extensions"), body.get("keyList"),
                                             with_values=False))))


_REACTION_ERRORS = ("Errors: 23004 not in your history, 10004 a bad field "
                    "(messaging/reactions.py).")


class MessageReactionsView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="message_reactions_get", summary="A message's reactions",
        description=("Each reaction ID with its count, its first people and whether you "
                     "are among them (getMessageReactions for one message); a recalled "
                     "message has none. " + _REACTION_ERRORS),
        tags=["messages"], parameters=[MESSAGE_ID, ReactionQuerySerializer],
        responses={200: ReactionListSerializer, **ERROR_RESPONSES},
    )
    def get(self, request, message_id):
        query = validated(ReactionQuerySerializer, request.query_params)
        [(msg, infos)] = reactions.reactions_get(
            message_pks=[changes.message_pk(message_id)], actor=request.user, **query)
        return Response(reactions.reaction_list_dict(msg, infos))

    @extend_schema(
        operation_id="message_reaction_add", summary="React to a message",
        description=("Both people's devices get MESSAGE_REACTIONS_UPDATED. 23007 you "
                     "have already, 23005 the message holds 20 reaction IDs, 20023 "
                     "recalled. " + _REACTION_ERRORS),
        tags=["messages"], parameters=[MESSAGE_ID], request=ReactionBodySerializer,
        responses={200: EMPTY_RESPONSE, **ERROR_RESPONSES},
    )
    def post(self, request, message_id):
        reactions.reaction_add(message_pk=changes.message_pk(message_id), actor=request.user,
                               **validated(ReactionBodySerializer, request.data))
        return Response({})


class MessageReactionDeleteView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="message_reaction_remove", summary="Take your reaction back",
        description=("Both people's devices get MESSAGE_REACTIONS_UPDATED. 23008 you "
                     "have not reacted so, 20023 recalled. " + _REACTION_ERRORS),
        tags=["messages"], parameters=[MESSAGE_ID], request=ReactionBodySerializer,
        responses={200: EMPTY_RESPONSE, **ERROR_RESPONSES},
    )
    def post(self, request, message_id):
        reactions.reaction_remove(message_pk=changes.message_pk(message_id),
                                  actor=request.user,
                                  **validated(ReactionBodySerializer, request.data))
        return Response({})


class MessageReactionUsersView(APIView):
    @extend_schema(
        operation_id="message_reaction_users", summary="The people of one reaction",
        description=("In the order they reacted, `count` from `nextSeq` "
                     "(getAllUserListOfMessageReaction). " + _REACTION_ERRORS),
        tags=["messages"], parameters=[MESSAGE_ID, ReactionUsersQuerySerializer],
        responses={200: ReactionUserPageSerializer, **ERROR_RESPONSES},
    )
    def get(self, request, message_id):
        query = validated(ReactionUsersQuerySerializer, request.query_params)
        return Response(reactions.reaction_users(
            message_pk=changes.message_pk(message_id), actor=request.user, **query))


class MessageDeleteView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="message_delete", summary="Delete messages from your own history",
        description=("The peer keeps them; your other devices get MESSAGE_DELETED. Errors: "
                     "20022 not yours, 910003 not one conversation or not 1 to 30 IDs."),
        tags=["messages"], request=MessageIDListSerializer,
        responses={200: MessageIDListResultSerializer, **ERROR_RESPONSES},
    )
    def post(self, request):
        return Response(changes.messages_delete(
            user=request.user, **validated(MessageIDListSerializer, request.data)))


class ReadReceiptView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="message_read_receipt", summary="Send read receipts",
        description=("For messages you received, of one conversation: it is read up to "
                     "the newest of them, and the sender gets MESSAGE_READ_BY_PEER naming "
                     "them. Errors: 20022 not a message you received, 910003."),
        tags=["messages"], request=MessageIDListSerializer,
        responses={200: EMPTY_RESPONSE, **ERROR_RESPONSES},
    )
    def post(self, request):
        ids = validated(MessageIDListSerializer, request.data)["message_ids"]
        return Response(changes.message_read_receipt(
            user=request.user, message_pks=changes.message_pks(ids), platform="Unknown"))


class ConversationDeleteView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="conversation_delete", summary="Delete a conversation from your list",
        description=("A new message brings it back. With clearHistoryMessage (the "
                     "default) your history of it is cleared too; the peer keeps theirs."),
        tags=["conversations"], parameters=[CONVERSATION_ID],
        request=ConversationDeleteSerializer,
        responses={200: ConversationIDSerializer, **ERROR_RESPONSES},
    )
    def post(self, request, conversation_id):
        return Response(changes.conversation_delete(
            user=request.user, peer=changes.peer_for(conversation_id),
            **validated(ConversationDeleteSerializer, request.data)))


class ConversationClearHistoryView(APIView):
    @extend_schema(
        operation_id="conversation_clear_history", summary="Clear your history of it",
        description="It stays in your list, empty; the peer keeps their history.",
        tags=["conversations"], parameters=[CONVERSATION_ID], request=None,
        responses={200: ConversationIDSerializer, **ERROR_RESPONSES},
    )
    def post(self, request, conversation_id):
        return Response(changes.conversation_clear_history(
            user=request.user, peer=changes.peer_for(conversation_id)))


class RemindTypeView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="conversation_remind_type", summary="Set my receive option for peers",
        description=(
            "setMessageRemindType: AcceptAndNotify (default), AcceptNotNotify (received, "
            "no offline push) or Discard (not delivered live, no push, kept in history) "
            "for messages from each peer. Your devices get CONVERSATION_LIST_UPDATED with "
            "`messageRemindType`. Errors: 910021 a bad type, 910022 a bad list, 20003 an "
            "unknown UserID."),
        tags=["conversations"], request=RemindTypeSerializer,
        responses={200: EMPTY_RESPONSE, **ERROR_RESPONSES},
    )
    def post(self, request):
        return Response(changes.conversation_remind_set(
            user=request.user, **validated(RemindTypeSerializer, request.data)))


class ConversationPinView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="conversation_pin", summary="Pin or unpin a conversation",
        description="Pinned ones come first. Errors: 51012 over 50 pinned, 910004 none.",
        tags=["conversations"], parameters=[CONVERSATION_ID], request=ConversationPinSerializer,
        responses={200: ConversationIDSerializer, **ERROR_RESPONSES},
    )
    def post(self, request, conversation_id):
        return Response(changes.conversation_pin(
            user=request.user, peer=changes.peer_for(conversation_id),
            **validated(ConversationPinSerializer, request.data)))


class ConversationDraftView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="conversation_draft", summary="Keep a draft on a conversation",
        description="Your other devices get it in CONVERSATION_LIST_UPDATED.",
        tags=["conversations"], parameters=[CONVERSATION_ID],
        request=ConversationDraftSerializer,
        responses={200: EMPTY_RESPONSE, **ERROR_RESPONSES},
    )
    def post(self, request, conversation_id):
        return Response(changes.conversation_set_draft(
            user=request.user, peer=changes.peer_for(conversation_id),
            **validated(ConversationDraftSerializer, request.data)))


class MergedListView(APIView):
    @extend_schema(
        operation_id="merged_list", summary="The list of a stored merged message",
        tags=["messages"],
        description=(
            "A merged message (TIMRelayElem) too large to travel inline carries a "
            "`downloadKey` instead of its `messageList`; this returns the list (the "
            "socket's downloadMergerMessage does the same). Only to a user who has a "
            "message carrying the key, or a merged list nesting it, in their history "
            "(sent or received; not recalled, deleted or cleared): anyone else, and any "
            "key that does not exist, gets 20022 (HTTP 404)."),
        parameters=[OpenApiParameter(
            "download_key", str, OpenApiParameter.PATH,
            description="the TIMRelayElem's downloadKey")],
        responses={200: MergedListSerializer, **ERROR_RESPONSES,
                   404: OpenApiResponse(ErrorSerializer, description=(
                       "20022: no merged list with this key that you may read"))},
    )
    def get(self, request, download_key):
        return Response(merged.access_merged_list(user=request.user,
                                                  download_key=download_key))


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
            "copy. Limits: image and sound 28 MB, file and video 100 MB, an image 40 MP "
            "(CHAT_MAX_IMAGE_PIXELS), 30 uploads a minute and 1 GiB a day per user "
            "(CHAT_UPLOAD_RATE, CHAT_UPLOAD_DAILY_BYTES). The files are deleted once no "
            "stored message carries them (recalled, deleted by both sides, purged), or a "
            "day after the upload if none ever did. Errors: 910003 no file or a bad kind, "
            "910006 too large (HTTP 413), 910007 not an image, 910012 an image of too many "
            "pixels, 910005 too many uploads this minute and 910011 the day's bytes used "
            "up (HTTP 429)."),
        request={"multipart/form-data": FileUploadSerializer},
        responses={
            201: UploadedElement, **ERROR_RESPONSES,
            413: OpenApiResponse(ErrorSerializer, description="910006: the file is too large"),
            429: OpenApiResponse(ErrorSerializer, description=(
                "910005: too many uploads this minute; 910011: the day's upload bytes "
                "are used up")),
        },
    )
    def post(self, request):
        element = upload_store(user=request.user, absolute_url=request.build_absolute_uri,
                               **validated(FileUploadSerializer, request.data))
        return Response(element, status=201)
