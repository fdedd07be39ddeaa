"""What an offline push says (push/content.py) and the one stored shape of the offline
push settings from each door's names (push/offline_info.py)."""

from __future__ import annotations

import json

import pytest

from chat_project.errors import ChatError
from push import offline_info
from push.content import TEXT_LIMIT, element_text, notification_for
from push.providers.apns import ApnsProvider
from push.providers.fcm import FcmProvider


def elem(kind: str, **payload) -> dict:
    return {"type": kind, "payload": payload}


@pytest.mark.parametrize("elements, expected", [
    ([elem("TIMTextElem", text="hi there")], "hi there"),
    ([elem("TIMTextElem", text="line\n  two")], "line two"),
    ([elem("TIMImageElem", uuid="u")], "[Image]"),
    ([elem("TIMSoundElem", url="u")], "[Voice]"),
    ([elem("TIMFileElem", url="u")], "[File]"),
    ([elem("TIMVideoFileElem", videoUrl="u")], "[Video]"),
    ([elem("TIMLocationElem", description="d")], "[Location]"),
    ([elem("TIMFaceElem", index=1)], "[Face]"),
    ([elem("TIMCustomElem", data="x", description="A card")], "A card"),
    ([elem("TIMCustomElem", data="x")], None),
    ([elem("TIMTextElem", text="look"), elem("TIMImageElem")], "look [Image]"),
])
def test_the_text_per_element_type(elements, expected):
    assert element_text(elements) == expected


def test_a_long_text_is_cut():
    text = element_text([elem("TIMTextElem", text="x" * 500)])
    assert len(text) == TEXT_LIMIT and text.endswith("…")


def note(**kw):
    base = {"elements": [elem("TIMTextElem", text="hi")], "nick": "Alice",
            "sender_user_id": "alice", "push_info": None, "badge": 4,
            "message_key": "1-2-3", "conversation_id": "C2Calice"}
    return notification_for(**{**base, **kw})


def test_defaults_and_settings():
    n = note()
    assert (n.title, n.body, n.badge, n.collapse_id) == ("Alice", "hi", 4, "1-2-3")
    assert note(nick="").title == "alice"
    n = note(push_info={"title": "T", "description": "D", "extension": "E",
                        "ignoreIOSBadge": True, "sound": "ding.caf",
                        "options": {"vivo_classification": 1}})
    assert (n.title, n.body, n.extension, n.badge, n.sound) == ("T", "D", "E", None, "ding.caf")
    assert n.options == {"vivo_classification": 1}
    assert note(push_info={"disablePush": True}) is None
    assert note(elements=[elem("TIMCustomElem", data="x")]) is None
    # A description in the settings makes a bare custom element pushable.
    assert note(elements=[elem("TIMCustomElem", data="x")],
                push_info={"description": "New order"}).body == "New order"


def test_web_and_v4_names_make_the_same_shape():
    web = offline_info.from_web({
        "disablePush": False, "title": "T", "description": "D", "extension": "E",
        "ignoreIOSBadge": True, "androidOPPOChannelID": "oppo", "androidVIVOClassification": 1,
        "androidHuaWeiImportance": "NORMAL", "androidHuaWeiCategory": "IM",
        "androidXiaoMiChannelID": "mi", "iOSSound": "a.caf", "iOSSubtitle": "sub",
        "iOSImage": "https://x/i.png", "iOSMutableContent": True})
    v4 = offline_info.from_v4({
        "PushFlag": 0, "Title": "T", "Desc": "D", "Ext": "E",
        "AndroidInfo": {"OPPOChannelID": "oppo", "VIVOClassification": 1,
                        "HuaWeiImportance": "NORMAL", "HuaWeiCategory": "IM",
                        "XiaoMiChannelID": "mi"},
        "ApnsInfo": {"Sound": "a.caf", "BadgeMode": 1, "SubTitle": "sub",
                     "Image": "https://x/i.png", "MutableContent": 1}})
    assert web == v4 == {
        "title": "T", "description": "D", "extension": "E", "ignoreIOSBadge": True,
        "options": {
            "apns_sound": "a.caf", "oppo_channel_id": "oppo", "vivo_classification": 1,
            "huawei_importance": "NORMAL", "huawei_category": "IM",
            "xiaomi_channel_id": "mi", "android_channel_id": "mi",
            "apns_subtitle": "sub", "apns_image": "https://x/i.png",
            "apns_mutable_content": True}}
    assert offline_info.from_v4({"PushFlag": 1}) == {"disablePush": True}
    assert offline_info.from_web({}) is None and offline_info.from_v4(None) is None
    assert offline_info.check_stored(web) == web


@pytest.mark.parametrize("convert, info", [
    (offline_info.from_web, "x"),
    (offline_info.from_web, {"title": 5}),
    (offline_info.from_web, {"disablePush": "yes"}),
    (offline_info.from_web, {"description": "d" * 3000, "extension": "e" * 200}),
    (offline_info.from_web, {"androidVIVOClassification": 7}),
    (offline_info.from_v4, {"PushFlag": 2}),
    (offline_info.from_v4, {"Desc": ["x"]}),
    (offline_info.from_v4, {"AndroidInfo": "x"}),
    (offline_info.from_v4, {"ApnsInfo": {"BadgeMode": 3}}),
    (offline_info.check_stored, {"PushFlag": 1}),
    (offline_info.check_stored, {"options": []}),
    (offline_info.from_web, {"title": "a\x00b"}),
])
def test_bad_settings_are_90043(convert, info):
    with pytest.raises(ChatError) as err:
        convert(info)
    assert err.value.code == 90043


def test_old_rows_convert():
    assert offline_info.from_any_stored({"PushFlag": 1, "Desc": "x"}) == \
        {"disablePush": True, "description": "x"}
    assert offline_info.from_any_stored({"description": "x", "ignoreIOSBadge": True}) == \
        {"description": "x", "ignoreIOSBadge": True}
    assert offline_info.from_any_stored({"PushFlag": "junk"}) is None


def _sounds(push_info, elements=None) -> tuple[str, str]:
    """(APNs aps.sound, FCM android.notification.sound) of the push of a message."""
    n = note(push_info=push_info, **({"elements": elements} if elements else {}))
    _, payload = ApnsProvider.request_parts(n)
    return (json.loads(payload)["aps"]["sound"],
            FcmProvider.message("t", n)["android"]["notification"]["sound"])


@pytest.mark.parametrize("convert, info, expected", [
    # /v4 OfflinePushInfo: ApnsInfo.Sound for APNs, AndroidInfo.Sound for Android.
    (offline_info.from_v4, {"ApnsInfo": {"Sound": "ios.caf"},
                            "AndroidInfo": {"Sound": "ding"}}, ("ios.caf", "ding")),
    (offline_info.from_v4, {"ApnsInfo": {"Sound": "ios.caf"}}, ("ios.caf", "default")),
    (offline_info.from_v4, {"AndroidInfo": {"Sound": "ding"}}, ("default", "ding")),
    # The Web SDK's apnsInfo.sound / androidInfo.sound (flattened by sdk.js).
    (offline_info.from_web, {"iOSSound": "ios.caf", "androidSound": "ding"},
     ("ios.caf", "ding")),
    (offline_info.from_web, {"iOSSound": "ios.caf"}, ("ios.caf", "default")),
    (offline_info.from_web, {"androidSound": "ding"}, ("default", "ding")),
    # A flat `sound` (and a row stored before the split) is both platforms'.
    (offline_info.check_stored, {"sound": "both.caf"}, ("both.caf", "both.caf")),
    (offline_info.check_stored, {"sound": "both", "options": {"android_sound": "ding"}},
     ("both", "ding")),
])
def test_each_platform_gets_the_sound_named_for_it(convert, info, expected):
    assert _sounds(convert(info)) == expected


def test_a_custom_element_sound_is_the_apns_sound_without_offline_push_info():
    """TIMCustomElem.Sound is an APNs sound; with OfflinePushInfo, Tencent ignores the
    custom element's push settings (tencent-rest.md §2.3)."""
    card = [elem("TIMCustomElem", data="x", description="A card", sound="card.caf")]
    assert _sounds(None, card) == ("card.caf", "default")
    assert _sounds(offline_info.from_v4({"Title": "T"}), card) == ("default", "default")
    assert _sounds(offline_info.from_v4({"ApnsInfo": {"Sound": "ios.caf"}}), card) == \
        ("ios.caf", "default")
