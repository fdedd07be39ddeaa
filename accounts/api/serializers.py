"""Input and output shapes of the profile endpoints (Web SDK Profile names)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import AdminForbidType, AllowType, Gender
from accounts.services import PROFILE_CUSTOM_MAX_KEYS, profile_custom_from_wire

from .fields import ClosedBody, Unchecked, UncheckedInt, UncheckedStr, int_range, text

UINT32_MAX = 2**32 - 1


@extend_schema_field({"type": "string", "enum": Gender.values})
class GenderField(UncheckedStr):
    pass


@extend_schema_field({"type": "string", "enum": AllowType.values})
class AllowTypeField(UncheckedStr):
    pass


@extend_schema_field({"type": "string", "enum": AdminForbidType.values})
class AdminForbidTypeField(UncheckedStr):
    pass


class ProfileCustomFieldInput(Unchecked):
    """[{key, value}] as the service's {tag: value}; the service checks keys and values."""

    openapi = {"type": "array", "maxItems": PROFILE_CUSTOM_MAX_KEYS, "items": {
        "type": "object", "required": ["key", "value"], "additionalProperties": False,
        "properties": {"key": {"type": "string", "example": "Tag_Profile_Custom_Hobby",
                               "pattern": r"^Tag_Profile_Custom_[A-Za-z]{1,8}$"},
                       "value": {"type": "string", **text(500)}}}}

    def to_internal_value(self, data):
        return profile_custom_from_wire(data)


class ProfileUpdateSerializer(ClosedBody):
    """The fields a user may change on their own profile; only those sent change.

    accounts.services.profile_update checks the values (40601 too long, 40605 bad,
    40009 not a custom field).
    """

    nick = UncheckedStr(required=False, help_text="at most 500 bytes (UTF-8)",
                        schema=text(500))
    avatar = UncheckedStr(required=False, help_text="avatar URL, at most 500 bytes (UTF-8)",
                          schema=text(500))
    gender = GenderField(required=False)
    birthday = UncheckedInt(required=False, help_text="e.g. 19900214",
                            schema=int_range(0, UINT32_MAX))
    location = UncheckedStr(required=False, help_text="at most 16 bytes (UTF-8)",
                            schema=text(16))
    selfSignature = UncheckedStr(source="self_signature", required=False,  # noqa: N815
                                 help_text="at most 500 bytes (UTF-8)", schema=text(500))
    allowType = AllowTypeField(source="allow_type", required=False)  # noqa: N815
    language = UncheckedInt(required=False, schema=int_range(0, UINT32_MAX))
    profileCustomField = ProfileCustomFieldInput(  # noqa: N815
        source="profile_custom", required=False,
        help_text="custom fields to set: key `Tag_Profile_Custom_` and 1 to 8 letters, value "
                  "a string of at most 500 bytes (\"\" removes it); others are kept")

    def to_internal_value(self, data):
        # A misspelt field would otherwise be dropped without a word, and the client
        # would believe it had changed something.
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["not a profile field a user may set"] for name in unknown})
        return super().to_internal_value(data)


class ProfileCustomFieldSerializer(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.CharField(allow_blank=True)


class ProfileSerializer(serializers.Serializer):
    """A user's full profile (accounts.selectors.profile_full), for the schema."""

    userID = serializers.CharField()  # noqa: N815
    nick = serializers.CharField(allow_blank=True)
    avatar = serializers.CharField(allow_blank=True)
    gender = GenderField()
    birthday = serializers.IntegerField()
    location = serializers.CharField(allow_blank=True)
    selfSignature = serializers.CharField(allow_blank=True)  # noqa: N815
    allowType = AllowTypeField()  # noqa: N815
    language = serializers.IntegerField()
    adminForbidType = AdminForbidTypeField()  # noqa: N815
    level = serializers.IntegerField()
    role = serializers.IntegerField()
    profileCustomField = ProfileCustomFieldSerializer(many=True)  # noqa: N815
