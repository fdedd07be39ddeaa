"""Input and output shapes of the messaging endpoints (PROTOCOL.md names).

Inputs carry the client's values to the services unchecked (accounts.api.fields): the
services validate, so this door answers with the same Tencent codes as the others.
Outputs describe, for the OpenAPI schema, the dicts the selectors already build in
the wire shape every door shares; views return those dicts as they are.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from accounts.api.fields import Unchecked, UncheckedBool, UncheckedFile, UncheckedInt, UncheckedStr
from messaging.models import Priority
from messaging.uploads import KINDS

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
    text = serializers.CharField()


class FacePayload(serializers.Serializer):
    index = serializers.IntegerField(min_value=0)
    data = serializers.CharField(required=False, allow_blank=True)


class LocationPayload(serializers.Serializer):
    description = serializers.CharField(required=False, allow_blank=True)
    longitude = serializers.FloatField(min_value=-180, max_value=180)
    latitude = serializers.FloatField(min_value=-90, max_value=90)


class CustomPayload(serializers.Serializer):
    """At least one of the three must be non-empty."""

    data = serializers.CharField(required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    extension = serializers.CharField(required=False, allow_blank=True)


class ImageInfo(serializers.Serializer):
    type = serializers.IntegerField(help_text="1 original, 2 large (at most 720 px a side), "
                                              "3 thumbnail (at most 198 px a side)")
    size = serializers.IntegerField(help_text="bytes")
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    url = serializers.CharField()


class ImagePayload(serializers.Serializer):
    uuid = serializers.CharField()
    format = serializers.CharField(help_text="JPG, GIF, PNG, BMP, WEBP or UNKNOWN")
    imageInfoArray = ImageInfo(many=True)  # noqa: N815 (the Web SDK's name)


class SoundPayload(serializers.Serializer):
    uuid = serializers.CharField()
    url = serializers.CharField()
    size = serializers.IntegerField(help_text="bytes")
    second = serializers.IntegerField(help_text="duration in seconds")


class FilePayload(serializers.Serializer):
    uuid = serializers.CharField()
    url = serializers.CharField()
    fileName = serializers.CharField()  # noqa: N815
    fileSize = serializers.IntegerField(help_text="bytes")  # noqa: N815


class VideoPayload(serializers.Serializer):
    videoUUID = serializers.CharField()  # noqa: N815
    videoUrl = serializers.CharField()  # noqa: N815
    videoSize = serializers.IntegerField(help_text="bytes")  # noqa: N815
    videoSecond = serializers.IntegerField(help_text="duration in seconds")  # noqa: N815
    videoFormat = serializers.CharField(required=False, help_text="e.g. mp4")  # noqa: N815
    thumbUUID = serializers.CharField(required=False, allow_blank=True)  # noqa: N815
    thumbUrl = serializers.CharField(required=False, allow_blank=True)  # noqa: N815
    thumbWidth = serializers.IntegerField(required=False)  # noqa: N815
    thumbHeight = serializers.IntegerField(required=False)  # noqa: N815


class RelayPayload(serializers.Serializer):
    title = serializers.CharField()
    abstractList = serializers.ListField(child=serializers.CharField(), required=False)  # noqa: N815
    compatibleText = serializers.CharField()  # noqa: N815
    messageList = serializers.ListField(child=serializers.DictField())  # noqa: N815


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


@extend_schema_field(PolymorphicProxySerializer(
    component_name="MessageElement",
    serializers=[TextElement, FaceElement, LocationElement, CustomElement, ImageElement,
                 SoundElement, FileElement, VideoElement, RelayElement],
    resource_type_field_name="type", many=True))
class ElementsField(Unchecked):
    """A message body: 1 to 20 elements, at most 12 KB as UTF-8 JSON."""


UploadedElement = PolymorphicProxySerializer(
    component_name="UploadedElement",
    serializers=[ImageElement, SoundElement, FileElement, VideoElement],
    resource_type_field_name="type")


# --- messages -------------------------------------------------------------------------


class OfflinePushInfo(serializers.Serializer):
    disablePush = serializers.BooleanField(required=False)  # noqa: N815
    title = serializers.CharField(required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    extension = serializers.CharField(required=False, allow_blank=True)
    ignoreIOSBadge = serializers.BooleanField(required=False)  # noqa: N815
    androidOPPOChannelID = serializers.CharField(required=False, allow_blank=True)  # noqa: N815


@extend_schema_field(OfflinePushInfo)
class OfflinePushInfoField(Unchecked):
    pass


@extend_schema_field({"type": "string", "enum": Priority.values})
class PriorityField(UncheckedStr):
    pass


class MessageControlInfoSerializer(serializers.Serializer):
    excludedFromUnreadCount = UncheckedBool(  # noqa: N815
        source="excluded_from_unread", required=False,
        help_text="the receiver's unread count does not grow")
    excludedFromLastMessage = UncheckedBool(  # noqa: N815
        source="excluded_from_last_message", required=False,
        help_text="the conversations' last message does not change")


class MessageSendSerializer(serializers.Serializer):
    """One message to send; each name is the keyword argument of message_send."""

    to = UncheckedStr(help_text="the receiver's UserID")
    elements = ElementsField()
    random = UncheckedInt(help_text="0 to 4294967295, chosen by the client; a retry with "
                                    "the same random within 10 minutes returns the message "
                                    "already stored")
    priority = PriorityField(required=False, help_text="Normal unless given")
    cloudCustomData = UncheckedStr(source="cloud_custom_data", required=False)  # noqa: N815
    needReadReceipt = UncheckedBool(source="need_read_receipt", required=False)  # noqa: N815
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
    nextReqMessageID = serializers.CharField(  # noqa: N815
        source="next_req_message_id", required=False, allow_blank=True,
        help_text="the previous page's nextReqMessageID; none for the newest page")
    count = serializers.IntegerField(required=False, help_text="1 to 100; 15 unless given")


class MessagePageSerializer(serializers.Serializer):
    messageList = MessageSerializer(many=True, help_text="in chronological order")  # noqa: N815
    nextReqMessageID = serializers.CharField(  # noqa: N815
        allow_blank=True, help_text="pass it to get the page before; empty when complete")
    isCompleted = serializers.BooleanField()  # noqa: N815


class MessageModifySerializer(serializers.Serializer):
    """New content; at least one of elements and cloudCustomData."""

    elements = ElementsField(required=False)
    cloudCustomData = UncheckedStr(source="cloud_custom_data", required=False)  # noqa: N815
    version = UncheckedStr(required=False, help_text=(
        "the message's version as you last saw it: if another modify won meanwhile, "
        "20028 and nothing changes; without it the last modify wins"))


class MessageIDListSerializer(serializers.Serializer):
    messageIDList = serializers.ListField(  # noqa: N815
        child=UncheckedStr(), source="message_ids",
        help_text="message IDs of one conversation (1 to 30)")


class MessageIDListResultSerializer(serializers.Serializer):
    messageIDList = serializers.ListField(child=serializers.CharField())  # noqa: N815


class ConversationDeleteSerializer(serializers.Serializer):
    clearHistoryMessage = UncheckedBool(  # noqa: N815
        source="clear_history", required=False,
        help_text="also clear your history of it (true unless given)")


class ConversationPinSerializer(serializers.Serializer):
    isPinned = UncheckedBool(source="is_pinned")  # noqa: N815


class ConversationDraftSerializer(serializers.Serializer):
    draftText = UncheckedStr(source="draft_text", help_text="empty clears it")  # noqa: N815


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


class ConversationListSerializer(serializers.Serializer):
    conversationList = ConversationSerializer(many=True)  # noqa: N815


class UnreadCountSerializer(serializers.Serializer):
    totalUnreadCount = serializers.IntegerField()  # noqa: N815


# --- files ----------------------------------------------------------------------------


@extend_schema_field({"type": "string", "enum": list(KINDS)})
class KindField(UncheckedStr):
    pass


class FileUploadSerializer(serializers.Serializer):
    """A multipart upload; each name is the keyword argument of upload_store."""

    file = UncheckedFile()
    kind = KindField()
    second = serializers.IntegerField(
        required=False, help_text="duration of a sound or video, in seconds")
    thumb = UncheckedFile(required=False, help_text="a video's cover image")
