"""Input and output shapes of the messaging endpoints (PROTOCOL.md names).

Inputs carry the client's values to the services unchecked (accounts.api.fields): the
services validate, so this door answers with the same Tencent codes as the others.
Outputs describe, for the OpenAPI schema, the dicts the selectors already build in
the wire shape every door shares; views return those dicts as they are.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from accounts.api.fields import (
    MESSAGE_ID,
    NO_NUL,
    USER_ID,
    ClosedBody,
    OneOrMore,
    TextField,
    Unchecked,
    UncheckedBool,
    UncheckedFile,
    UncheckedInt,
    UncheckedQueryInt,
    UncheckedStr,
    int_range,
    text,
    user_ids,
)
from messaging.changes import MAX_DELETE, MAX_DRAFT_BYTES
from messaging.elements import MAX_ELEMENTS, MAX_INTEGER, MAX_MERGED_MESSAGES, MERGED_KEY_LENGTH
from messaging.models import Priority, RemindType
from messaging.uploads import KINDS

UINT32_MAX = 2**32 - 1
Text = TextField  # no NUL, as messaging.elements checks
URL = r"(https?://|/)[^\x00]*"  # an http(s) URL or a path on this server


def Url(**kwargs) -> TextField:  # noqa: N802 (reads as a field class)
    return TextField(pattern=f"^{URL}$", max_length=2048, **kwargs)


def Count(**kwargs) -> serializers.IntegerField:  # noqa: N802
    """A non-negative integer a client can read back exactly (JavaScript's range)."""
    return serializers.IntegerField(min_value=0, max_value=MAX_INTEGER, **kwargs)

# --- elements -------------------------------------------------------------------------


class ElementTypeField(serializers.CharField):
    """An element's `type`: the one value its element serializer stands for."""

    def __init__(self, value: str, **kwargs):
        self.value = value
        super().__init__(**kwargs)

    def to_representation(self, _):
        return self.value


class ElementTypeFieldSchema(OpenApiSerializerFieldExtension):
    # A one-value enum, so a plain JSON Schema validator can tell the element kinds
    # apart in `oneOf` (it does not read OpenAPI's discriminator).
    target_class = ElementTypeField

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "enum": [self.target.value]}


class TextPayload(serializers.Serializer):
    text = Text()


class FacePayload(serializers.Serializer):
    index = Count()
    data = Text(required=False, allow_blank=True)


class LocationPayload(serializers.Serializer):
    description = Text(required=False, allow_blank=True)
    longitude = serializers.FloatField(min_value=-180, max_value=180)
    latitude = serializers.FloatField(min_value=-90, max_value=90)


class CustomPayload(serializers.Serializer):
    """At least one of the three must be non-empty."""

    data = Text(required=False, allow_blank=True)
    description = Text(required=False, allow_blank=True)
    extension = Text(required=False, allow_blank=True)


class ImageInfo(serializers.Serializer):
    type = serializers.IntegerField(
        min_value=0, max_value=3, help_text="1 original, 2 large (at most 720 px a side), "
                                            "3 thumbnail (at most 198 px a side)")
    size = serializers.IntegerField(min_value=0, max_value=settings.CHAT_MAX_IMAGE_BYTES,
                                    help_text="bytes")
    width = Count()
    height = Count()
    url = Url()


class ImagePayload(serializers.Serializer):
    uuid = Text(max_length=128)
    format = serializers.ChoiceField(["JPG", "JPEG", "GIF", "PNG", "BMP", "WEBP", "UNKNOWN"])
    imageInfoArray = serializers.ListField(  # noqa: N815 (the Web SDK's name)
        child=ImageInfo(), min_length=1, max_length=3)


class SoundPayload(serializers.Serializer):
    uuid = Text(max_length=128)
    # Optional: Tencent's legacy bodies name the file by its UUID only.
    url = Url(required=False, allow_blank=True)
    size = serializers.IntegerField(min_value=0, max_value=settings.CHAT_MAX_SOUND_BYTES,
                                    help_text="bytes")
    second = Count(help_text="duration in seconds")


class FilePayload(serializers.Serializer):
    uuid = Text(max_length=128)
    # Optional: Tencent's legacy bodies name the file by its UUID only.
    url = Url(required=False, allow_blank=True)
    fileName = Text(max_length=255)  # noqa: N815
    fileSize = serializers.IntegerField(  # noqa: N815
        min_value=0, max_value=settings.CHAT_MAX_FILE_BYTES, help_text="bytes")


class VideoPayload(serializers.Serializer):
    videoUUID = Text(max_length=128)  # noqa: N815
    videoUrl = Url()  # noqa: N815
    videoSize = serializers.IntegerField(  # noqa: N815
        min_value=0, max_value=settings.CHAT_MAX_VIDEO_BYTES, help_text="bytes")
    videoSecond = Count(help_text="duration in seconds")  # noqa: N815
    videoFormat = Text(required=False, max_length=16, help_text="e.g. mp4")  # noqa: N815
    thumbUUID = Text(required=False, allow_blank=True, max_length=128)  # noqa: N815
    thumbUrl = Url(required=False, allow_blank=True)  # noqa: N815
    thumbWidth = Count(required=False)  # noqa: N815
    thumbHeight = Count(required=False)  # noqa: N815
    thumbSize = Count(required=False, help_text="bytes")  # noqa: N815
    thumbFormat = Text(required=False, max_length=16, help_text="e.g. JPG")  # noqa: N815


class RelayPayload(serializers.Serializer):
    """A merged message: its messageList, or the downloadKey of a stored one."""

    title = Text()
    abstractList = serializers.ListField(child=Text(allow_blank=True), required=False)  # noqa: N815
    compatibleText = Text()  # noqa: N815
    messageList = serializers.ListField(  # noqa: N815
        child=serializers.DictField(), min_length=1, max_length=MAX_MERGED_MESSAGES,
        required=False, help_text=(
            "the merged messages, at most 300 and 200 KB as UTF-8 JSON (910013, 910014); "
            "they do not count toward the 12 KB. A message over 12 KB with them is "
            "stored and delivered with a downloadKey instead"))
    downloadKey = TextField(  # noqa: N815
        required=False, pattern=f"^[A-Za-z0-9_-]{{{MERGED_KEY_LENGTH}}}$", help_text=(
            "instead of messageList: the stored list (GET /api/v1/merged/{downloadKey}/). "
            "Sending one (a forward) needs a key you may read (20022 otherwise)"))


class MergedListSerializer(serializers.Serializer):
    messageList = serializers.ListField(  # noqa: N815
        child=serializers.DictField(), help_text="the merged messages, as their sender gave them")


class TextElement(serializers.Serializer):
    type = ElementTypeField("TIMTextElem")
    payload = TextPayload()


class FaceElement(serializers.Serializer):
    type = ElementTypeField("TIMFaceElem")
    payload = FacePayload()


class LocationElement(serializers.Serializer):
    type = ElementTypeField("TIMLocationElem")
    payload = LocationPayload()


class CustomElement(serializers.Serializer):
    type = ElementTypeField("TIMCustomElem")
    payload = CustomPayload()


class ImageElement(serializers.Serializer):
    type = ElementTypeField("TIMImageElem")
    payload = ImagePayload()


class SoundElement(serializers.Serializer):
    type = ElementTypeField("TIMSoundElem")
    payload = SoundPayload()


class FileElement(serializers.Serializer):
    type = ElementTypeField("TIMFileElem")
    payload = FilePayload()


class VideoElement(serializers.Serializer):
    type = ElementTypeField("TIMVideoFileElem")
    payload = VideoPayload()


class RelayElement(serializers.Serializer):
    type = ElementTypeField("TIMRelayElem")
    payload = RelayPayload()


class ElementsField(Unchecked):
    """A message body: 1 to 20 elements, at most 12 KB as UTF-8 JSON."""

    openapi = PolymorphicProxySerializer(
        component_name="MessageElement",
        serializers=[TextElement, FaceElement, LocationElement, CustomElement, ImageElement,
                     SoundElement, FileElement, VideoElement, RelayElement],
        resource_type_field_name="type", many=True)


# What a send or a modify accepts (a recalled message's elements are empty).
NEW_ELEMENTS = {"minItems": 1, "maxItems": MAX_ELEMENTS}
CLOUD_CUSTOM_DATA = text(settings.CHAT_MAX_CONTENT_BYTES)


UploadedElement = PolymorphicProxySerializer(
    component_name="UploadedElement",
    serializers=[ImageElement, SoundElement, FileElement, VideoElement],
    resource_type_field_name="type")


# --- messages -------------------------------------------------------------------------


class AndroidPushInfo(serializers.Serializer):
    sound = Text(required=False, help_text="Android's sound (FCM and the vendors)")
    OPPOChannelID = Text(required=False)  # noqa: N815


class ApnsPushInfo(serializers.Serializer):
    sound = Text(required=False, help_text="APNs' sound")
    ignoreIOSBadge = serializers.BooleanField(required=False)  # noqa: N815


class OfflinePushInfo(serializers.Serializer):
    disablePush = serializers.BooleanField(required=False)  # noqa: N815
    title = Text(required=False, allow_blank=True)
    description = Text(required=False, allow_blank=True)
    extension = Text(required=False, allow_blank=True)
    ignoreIOSBadge = serializers.BooleanField(required=False)  # noqa: N815
    androidOPPOChannelID = Text(required=False, allow_blank=True)  # noqa: N815
    sound = Text(required=False, help_text="both platforms' sound, under each one's own")
    androidInfo = AndroidPushInfo(required=False)  # noqa: N815
    apnsInfo = ApnsPushInfo(required=False)  # noqa: N815


class OfflinePushInfoField(Unchecked):
    openapi = OfflinePushInfo()


class PriorityField(UncheckedStr):
    openapi = {"type": "string", "enum": Priority.values}


class MessageControlInfoSerializer(serializers.Serializer):
    excludedFromUnreadCount = UncheckedBool(  # noqa: N815
        source="excluded_from_unread", required=False,
        help_text="the receiver's unread count does not grow")
    excludedFromLastMessage = UncheckedBool(  # noqa: N815
        source="excluded_from_last_message", required=False,
        help_text="the conversations' last message does not change")


class MessageSendSerializer(serializers.Serializer):
    """One message to send; each name is the keyword argument of message_send."""

    to = UncheckedStr(help_text="the receiver's UserID", schema=USER_ID)
    elements = ElementsField(schema=NEW_ELEMENTS)
    random = UncheckedInt(help_text="0 to 4294967295, chosen by the client; a retry with "
                                    "the same random within 10 minutes returns the message "
                                    "already stored", schema=int_range(0, UINT32_MAX))
    priority = PriorityField(required=False, help_text="Normal unless given")
    cloudCustomData = UncheckedStr(source="cloud_custom_data", required=False,  # noqa: N815
                                   schema=CLOUD_CUSTOM_DATA,
                                   help_text="counts in the 12 KB of the message")
    needReadReceipt = UncheckedBool(source="need_read_receipt", required=False)  # noqa: N815
    isSupportExtension = UncheckedBool(  # noqa: N815
        source="support_extension", required=False,
        help_text="its participants may attach key-value extensions to it")
    onlineUserOnly = UncheckedBool(  # noqa: N815
        source="online_user_only", required=False,
        help_text="deliver only to devices online now and store nothing")
    offlinePushInfo = OfflinePushInfoField(source="offline_push_info", required=False)  # noqa: N815
    messageControlInfo = MessageControlInfoSerializer(source="*", required=False)  # noqa: N815


class MessageSerializer(serializers.Serializer):
    """A message as the viewer sees it (PROTOCOL.md "Messages")."""

    ID = serializers.CharField(help_text="<server id>-<time>-<random>")
    conversationID = serializers.CharField()  # noqa: N815
    conversationType = serializers.CharField()  # noqa: N815
    to = serializers.CharField()
    flow = serializers.CharField(help_text="in or out, from the viewer's side")
    time = serializers.IntegerField(help_text="Unix seconds")
    seq = serializers.IntegerField(help_text="position in the dialog")
    random = serializers.IntegerField()
    priority = serializers.CharField()
    elements = ElementsField()
    nick = serializers.CharField(allow_blank=True, help_text="the sender's, when sent")
    avatar = serializers.CharField(allow_blank=True, help_text="the sender's, when sent")
    cloudCustomData = serializers.CharField(allow_blank=True)  # noqa: N815
    needReadReceipt = serializers.BooleanField()  # noqa: N815
    isSupportExtension = serializers.BooleanField()  # noqa: N815
    isPeerRead = serializers.BooleanField()  # noqa: N815
    isRevoked = serializers.BooleanField()  # noqa: N815
    isModified = serializers.BooleanField()  # noqa: N815
    version = serializers.CharField(
        allow_blank=True, help_text="the content version a modify may name: empty until "
                                    "the message is first modified")
    isSystem = serializers.BooleanField()  # noqa: N815
    status = serializers.CharField()
    onlineUserOnly = serializers.BooleanField(required=False)  # noqa: N815

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.CharField()  # a Python keyword, so not an attribute
        return fields


class MessagePageQuerySerializer(serializers.Serializer):
    nextReqMessageID = UncheckedStr(  # noqa: N815
        source="next_req_message_id", required=False,
        schema={"pattern": f"^({MESSAGE_ID['pattern'][1:-1]})?$"},
        help_text="the previous page's nextReqMessageID; none for the newest page")
    count = serializers.IntegerField(required=False, min_value=1, max_value=100,
                                     help_text="1 to 100; 15 unless given")


class MessagePageSerializer(serializers.Serializer):
    messageList = MessageSerializer(many=True, help_text="in chronological order")  # noqa: N815
    nextReqMessageID = serializers.CharField(  # noqa: N815
        allow_blank=True, help_text="pass it to get the page before; empty when complete")
    isCompleted = serializers.BooleanField()  # noqa: N815


class MessageModifySerializer(OneOrMore):
    """New content; at least one of elements and cloudCustomData."""

    one_or_more = ("elements", "cloudCustomData")

    elements = ElementsField(required=False, schema=NEW_ELEMENTS)
    cloudCustomData = UncheckedStr(source="cloud_custom_data", required=False,  # noqa: N815
                                   schema=CLOUD_CUSTOM_DATA)
    version = UncheckedStr(required=False, help_text=(
        "the message's version as you last saw it: if another modify won meanwhile, "
        "20028 and nothing changes; without it the last modify wins"))


_EXTENSION_KEY = {"type": "string", "minLength": 1, "maxLength": 100, "pattern": NO_NUL,
                  "description": "1 to 100 bytes"}
_EXTENSION_SEQ = {"type": "integer", "minimum": 0, "maximum": 2**63 - 1,
                  "description": "the key's version as you last saw it; 0 (or none): a new key"}


class ExtensionSetSerializer(ClosedBody):
    extensions = Unchecked(schema={
        "type": "array", "minItems": 1, "maxItems": 20, "items": {
            "type": "object", "required": ["key", "value"], "properties": {
                "key": _EXTENSION_KEY,
                "value": {"type": "string", "maxLength": 1000, "pattern": NO_NUL,
                          "description": "at most 1,000 bytes"},
                "seq": _EXTENSION_SEQ}}},
        help_text="1 to 20 keys to set, each with the version you last saw of it")


class ExtensionDeleteSerializer(ClosedBody):
    extensions = Unchecked(required=False, schema={
        "type": "array", "minItems": 1, "maxItems": 20, "items": {
            "type": "object", "required": ["key"], "properties": {
                "key": _EXTENSION_KEY, "seq": _EXTENSION_SEQ}}},
        help_text="keys to delete, each with the version you last saw of it")
    keyList = Unchecked(required=False, schema={  # noqa: N815
        "type": "array", "minItems": 1, "maxItems": 20, "items": _EXTENSION_KEY},
        help_text="keys to delete, each as at version 0 (use extensions to name versions); "
                  "neither extensions nor keyList: delete every key")


_REACTION_ID = {"type": "string", "minLength": 1, "maxLength": 100, "pattern": NO_NUL,
                "description": "1 to 100 bytes, e.g. an emoji"}


class ReactionBodySerializer(ClosedBody):
    reactionID = UncheckedStr(source="reaction_id", schema=_REACTION_ID)  # noqa: N815


class ReactionQuerySerializer(serializers.Serializer):
    # Query fields reach the service unchecked, as the body's and the socket's do, so a
    # bad one is 10004 on every door (README "Message reactions").
    maxUserCountPerReaction = UncheckedQueryInt(  # noqa: N815
        source="max_users", required=False, schema=int_range(0, 10),
        help_text="people shown per reaction, 0 to 10; 10 unless given")


class ReactionUsersQuerySerializer(serializers.Serializer):
    reactionID = UncheckedStr(source="reaction_id", schema=_REACTION_ID)  # noqa: N815
    nextSeq = UncheckedQueryInt(  # noqa: N815
        source="next_seq", required=False, schema=int_range(0, 2**31 - 1),
        help_text="where to read on: 0 first, then the nextSeq of the last answer")
    count = UncheckedQueryInt(required=False, schema=int_range(1, 100),
                              help_text="1 to 100; 20 unless given")


class ReactionUserSerializer(serializers.Serializer):
    userID = serializers.CharField()  # noqa: N815
    nick = serializers.CharField(allow_blank=True)
    avatar = serializers.CharField(allow_blank=True)


class ReactionInfoSerializer(serializers.Serializer):
    reactionID = serializers.CharField()  # noqa: N815
    totalUserCount = serializers.IntegerField()  # noqa: N815
    partialUserList = ReactionUserSerializer(  # noqa: N815
        many=True, help_text="the first maxUserCountPerReaction people, in the order they came")
    reactedByMyself = serializers.BooleanField()  # noqa: N815


class ReactionListSerializer(serializers.Serializer):
    messageID = serializers.CharField()  # noqa: N815
    reactionList = ReactionInfoSerializer(  # noqa: N815
        many=True, help_text="in the order each reaction first came")


class ReactionUserPageSerializer(serializers.Serializer):
    userList = ReactionUserSerializer(many=True)  # noqa: N815
    nextSeq = serializers.IntegerField(help_text="ask this next; 0 when complete")  # noqa: N815
    isCompleted = serializers.BooleanField()  # noqa: N815


class ExtensionQuerySerializer(serializers.Serializer):
    startSeq = UncheckedQueryInt(  # noqa: N815
        source="start_seq", required=False, schema=int_range(0, 2**63 - 1),
        help_text="the keys at this version or later; 0 unless given (10004 if bad)")


class ExtensionSerializer(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.CharField(allow_blank=True)
    seq = serializers.IntegerField(help_text="the version its last write took")


class ExtensionResultSerializer(ExtensionSerializer):
    code = serializers.IntegerField(
        help_text="0, or 23001: changed meanwhile (value and seq are what is stored)")


class ExtensionResultsSerializer(serializers.Serializer):
    extensions = ExtensionResultSerializer(many=True, help_text="one per key asked, in order")


class ExtensionPageSerializer(serializers.Serializer):
    extensions = ExtensionSerializer(many=True, help_text="by version, at most 200")
    isCompleted = serializers.BooleanField(  # noqa: N815
        help_text="false: read on from the last seq + 1")
    latestSeq = serializers.IntegerField()  # noqa: N815
    clearSeq = serializers.IntegerField(  # noqa: N815
        help_text="every key a client holds at this version or older was cleared")


class MessageIDListField(Unchecked):
    openapi = {"type": "array", "items": MESSAGE_ID, "minItems": 1, "maxItems": MAX_DELETE}


class MessageIDListSerializer(serializers.Serializer):
    messageIDList = MessageIDListField(  # noqa: N815
        source="message_ids", help_text="message IDs of one conversation (1 to 30)")


class MessageIDListResultSerializer(serializers.Serializer):
    messageIDList = serializers.ListField(child=serializers.CharField())  # noqa: N815


class ConversationDeleteSerializer(serializers.Serializer):
    clearHistoryMessage = UncheckedBool(  # noqa: N815
        source="clear_history", required=False,
        help_text="also clear your history of it (true unless given)")


class ConversationPinSerializer(serializers.Serializer):
    isPinned = UncheckedBool(source="is_pinned")  # noqa: N815


class ConversationDraftSerializer(serializers.Serializer):
    draftText = UncheckedStr(source="draft_text", help_text="empty clears it",  # noqa: N815
                             schema=text(MAX_DRAFT_BYTES))


class ConversationIDSerializer(serializers.Serializer):
    conversationID = serializers.CharField()  # noqa: N815


# --- conversations --------------------------------------------------------------------


class ProfileBriefSerializer(serializers.Serializer):
    userID = serializers.CharField()  # noqa: N815
    nick = serializers.CharField(allow_blank=True)
    avatar = serializers.CharField(allow_blank=True)


class ConversationSerializer(serializers.Serializer):
    conversationID = serializers.CharField()  # noqa: N815
    type = serializers.CharField()
    userProfile = ProfileBriefSerializer()  # noqa: N815
    lastMessage = MessageSerializer(allow_null=True)  # noqa: N815
    unreadCount = serializers.IntegerField()  # noqa: N815
    isPinned = serializers.BooleanField()  # noqa: N815
    draftText = serializers.CharField(allow_blank=True)  # noqa: N815
    peerReadTime = serializers.IntegerField(help_text="Unix seconds; 0 if never")  # noqa: N815
    messageRemindType = serializers.ChoiceField(  # noqa: N815
        choices=RemindType.values, help_text="the receive option (setMessageRemindType)")


class RemindTypeSerializer(serializers.Serializer):
    userIDList = Unchecked(source="user_ids", schema=user_ids(30),  # noqa: N815
                           help_text="1 to 30 peers")
    messageRemindType = UncheckedStr(source="remind_type",  # noqa: N815
                                     schema={"type": "string", "enum": RemindType.values})


class ConversationListSerializer(serializers.Serializer):
    conversationList = ConversationSerializer(many=True)  # noqa: N815


class UnreadCountSerializer(serializers.Serializer):
    totalUnreadCount = serializers.IntegerField()  # noqa: N815


# --- files ----------------------------------------------------------------------------


class KindField(UncheckedStr):
    openapi = {"type": "string", "enum": list(KINDS)}


class FileUploadSerializer(serializers.Serializer):
    """A multipart upload; each name is the keyword argument of upload_store."""

    file = UncheckedFile()
    kind = KindField()
    second = serializers.IntegerField(
        required=False, min_value=0, max_value=UINT32_MAX,
        help_text="duration of a sound or video, in seconds")
    thumb = UncheckedFile(required=False, help_text="a video's cover image")
