"""The Huawei, Honor, Xiaomi, OPPO, vivo and Meizu clients against a local server that
speaks each vendor's protocol (tests/push/fake_android.py): what arrives, how each answer
maps to an outcome, auth token caching and refresh, and a wrong secret."""

from __future__ import annotations

import json
import socket
import time

import pytest

from push.providers.base import Notification, Outcome, provider
from push.providers.vendor_http import forget_tokens

from .fake_android import CREDS, FakeAndroidVendors

VENDORS = ["huawei", "honor", "xiaomi", "oppo", "vivo", "meizu"]
WITH_AUTH_TOKEN = ["huawei", "honor", "oppo", "vivo"]
DEVICE = "device-token-0001"


@pytest.fixture(scope="module")
def fake():
    server = FakeAndroidVendors().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def vendors_at_fake(fake, settings):
    fake.reset()
    forget_tokens()
    hw, ho, mi = CREDS["huawei"], CREDS["honor"], CREDS["xiaomi"]
    op, vv, mz = CREDS["oppo"], CREDS["vivo"], CREDS["meizu"]
    settings.CHAT_PUSH_HTTP_TIMEOUT = 5.0
    settings.CHAT_PUSH_HUAWEI_APP_ID = hw["app_id"]
    settings.CHAT_PUSH_HUAWEI_APP_SECRET = hw["app_secret"]
    settings.CHAT_PUSH_HUAWEI_AUTH_URL = fake.url("huawei") + "/oauth2/v3/token"
    settings.CHAT_PUSH_HUAWEI_BASE_URL = fake.url("huawei")
    settings.CHAT_PUSH_HUAWEI_BADGE_CLASS = ""
    settings.CHAT_PUSH_HONOR_APP_ID = ho["app_id"]
    settings.CHAT_PUSH_HONOR_CLIENT_ID = ho["client_id"]
    settings.CHAT_PUSH_HONOR_CLIENT_SECRET = ho["client_secret"]
    settings.CHAT_PUSH_HONOR_AUTH_URL = fake.url("honor") + "/auth/token"
    settings.CHAT_PUSH_HONOR_BASE_URL = fake.url("honor")
    settings.CHAT_PUSH_HONOR_BADGE_CLASS = ""
    settings.CHAT_PUSH_XIAOMI_APP_SECRET = mi["app_secret"]
    settings.CHAT_PUSH_XIAOMI_PACKAGE = mi["package"]
    settings.CHAT_PUSH_XIAOMI_BASE_URL = fake.url("xiaomi")
    settings.CHAT_PUSH_OPPO_APP_KEY = op["app_key"]
    settings.CHAT_PUSH_OPPO_MASTER_SECRET = op["master_secret"]
    settings.CHAT_PUSH_OPPO_BASE_URL = fake.url("oppo")
    settings.CHAT_PUSH_VIVO_APP_ID = vv["app_id"]
    settings.CHAT_PUSH_VIVO_APP_KEY = vv["app_key"]
    settings.CHAT_PUSH_VIVO_APP_SECRET = vv["app_secret"]
    settings.CHAT_PUSH_VIVO_BASE_URL = fake.url("vivo")
    settings.CHAT_PUSH_MEIZU_APP_ID = mz["app_id"]
    settings.CHAT_PUSH_MEIZU_APP_SECRET = mz["app_secret"]
    settings.CHAT_PUSH_MEIZU_BASE_URL = fake.url("meizu")
    yield
    forget_tokens()


def note(**kw) -> Notification:
    fields = {"title": "alice", "body": "hello bob", "extension": '{"k":"v"}',
              "conversation_id": "C2Calice", "message_id": "144115-1-42", "badge": 3}
    fields.update(kw)
    return Notification(**fields)


def arrived(vendor: str, body: dict) -> tuple[str, str, dict]:
    """(title, text, app data) as the vendor received them, from its own fields."""
    if vendor == "huawei":
        n = body["message"]["android"]["notification"]
        return n["title"], n["body"], json.loads(body["message"]["data"])
    if vendor == "honor":
        n = body["android"]["notification"]
        return n["title"], n["body"], json.loads(body["data"])
    if vendor == "xiaomi":
        return body["title"], body["description"], json.loads(body["payload"])
    if vendor == "oppo":
        n = json.loads(body["message"])["notification"]
        return n["title"], n["content"], json.loads(n["action_parameters"])
    if vendor == "vivo":
        return body["title"], body["content"], body["clientCustomMap"]
    message = json.loads(body["messageJson"])
    bar = message["noticeBarInfo"]
    return bar["title"], bar["content"], message["clickTypeInfo"]["parameters"]


def target(vendor: str, body: dict) -> str:
    return {
        "huawei": lambda: body["message"]["token"][0],
        "honor": lambda: body["token"][0],
        "xiaomi": lambda: body["registration_id"],
        "oppo": lambda: json.loads(body["message"])["target_value"],
        "vivo": lambda: body["regId"],
        "meizu": lambda: body["pushIds"],
    }[vendor]()


@pytest.mark.parametrize("vendor", VENDORS)
def test_delivered_with_title_text_and_app_data(fake, vendor):
    client = provider(vendor)
    assert client.configured()

    result = client.send(DEVICE, note())

    assert result.outcome == Outcome.DELIVERED, result
    sends = fake.seen(vendor, "send")
    assert [s.answered for s in sends] == ["ok"]
    assert target(vendor, sends[0].body) == DEVICE
    assert arrived(vendor, sends[0].body) == (
        "alice", "hello bob",
        {"ext": '{"k":"v"}', "conversationID": "C2Calice", "messageID": "144115-1-42"})


@pytest.mark.parametrize("vendor,code", [
    ("huawei", "80300007"), ("honor", "expireTokens"), ("xiaomi", "bad_regids"),
    ("oppo", "10000"), ("vivo", "10302"), ("meizu", "110002"),
])
def test_dead_token(fake, vendor, code):
    fake.plan(vendor, "dead")

    result = provider(vendor).send(DEVICE, note())

    assert (result.outcome, result.vendor_code) == (Outcome.DEAD_TOKEN, code)


def test_xiaomi_no_valid_targets_is_dead_token_another_send_failure_is_not(fake):
    fake.plan("xiaomi", "dead_code", "send_failed")
    client = provider("xiaomi")

    no_target = client.send(DEVICE, note())
    other = client.send(DEVICE, note())

    assert (no_target.outcome, no_target.vendor_code) == (Outcome.DEAD_TOKEN, "20301")
    assert (other.outcome, other.vendor_code) == (Outcome.FAILED, "20301")


@pytest.mark.parametrize("vendor,code,retry_after", [
    ("huawei", "503", 7.0), ("honor", "429", 5.0), ("xiaomi", "10027", None),
    ("oppo", "-2", None), ("vivo", "10072", None), ("meizu", "110010", None),
])
def test_throttled_is_retry(fake, vendor, code, retry_after):
    fake.plan(vendor, "throttle")

    result = provider(vendor).send(DEVICE, note())

    assert (result.outcome, result.vendor_code, result.retry_after) == (
        Outcome.RETRY, code, retry_after)


@pytest.mark.parametrize("vendor,code", [("xiaomi", "10034"), ("oppo", "33"), ("vivo", "10070")])
def test_daily_quota_spent_is_failed_not_retried(fake, vendor, code):
    fake.plan(vendor, "quota")

    result = provider(vendor).send(DEVICE, note())

    assert (result.outcome, result.vendor_code) == (Outcome.FAILED, code)
    assert result.detail.startswith("daily quota spent")


@pytest.mark.parametrize("vendor", VENDORS)
def test_server_error_is_retry_then_delivered(fake, vendor):
    fake.plan(vendor, "5xx")
    client = provider(vendor)

    first = client.send(DEVICE, note())
    second = client.send(DEVICE, note())

    assert first.outcome == Outcome.RETRY and first.http_status >= 500
    assert second.outcome == Outcome.DELIVERED


@pytest.mark.parametrize("vendor", VENDORS)
def test_unreachable_vendor_is_retry(settings, vendor):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/{vendor}"
    setting = f"CHAT_PUSH_{vendor.upper()}_BASE_URL"
    setattr(settings, setting, closed)
    if vendor in ("huawei", "honor"):
        setattr(settings, f"CHAT_PUSH_{vendor.upper()}_AUTH_URL", closed + "/token")

    result = provider(vendor).send(DEVICE, note())

    assert (result.outcome, result.vendor_code) == (Outcome.RETRY, "ConnectError")


def test_timeout_is_retry(fake, settings):
    settings.CHAT_PUSH_HTTP_TIMEOUT = 0.3
    fake.slow_seconds = 1.5
    fake.plan("xiaomi", "slow")
    try:
        result = provider("xiaomi").send(DEVICE, note())
    finally:
        fake.slow_seconds = 2.0

    assert (result.outcome, result.vendor_code) == (Outcome.RETRY, "ReadTimeout")


@pytest.mark.parametrize("vendor", WITH_AUTH_TOKEN)
def test_auth_token_is_fetched_once_and_reused(fake, vendor):
    client = provider(vendor)

    results = [client.send(f"{DEVICE}-{i}", note(message_id=f"m{i}")) for i in range(3)]

    assert [r.outcome for r in results] == [Outcome.DELIVERED] * 3
    assert len(fake.seen(vendor, "auth")) == 1
    assert len(fake.seen(vendor, "send")) == 3


@pytest.mark.parametrize("vendor", WITH_AUTH_TOKEN)
def test_expired_auth_token_is_refreshed_and_the_send_repeated(fake, vendor):
    client = provider(vendor)
    assert client.send(DEVICE, note()).outcome == Outcome.DELIVERED
    fake.expire_tokens(vendor)

    result = client.send(DEVICE, note(message_id="144115-1-43"))

    assert result.outcome == Outcome.DELIVERED, result
    trail = [(s.endpoint, s.answered) for s in fake.requests if s.vendor == vendor]
    assert trail == [("auth", "ok"), ("send", "ok"),
                     ("send", "refused"), ("auth", "ok"), ("send", "ok")]


@pytest.mark.parametrize("vendor,code", [
    ("huawei", "80200003"), ("honor", "80200003"), ("oppo", "11"), ("vivo", "10000"),
])
def test_a_fresh_token_refused_too_is_failed_after_one_refresh(fake, vendor, code):
    fake.plan(vendor, "refuse_token", "refuse_token")

    result = provider(vendor).send(DEVICE, note())

    assert (result.outcome, result.vendor_code) == (Outcome.FAILED, code)
    assert len(fake.seen(vendor, "auth")) == 2
    assert len(fake.seen(vendor, "send")) == 2


@pytest.mark.parametrize("vendor,setting,code", [
    ("huawei", "CHAT_PUSH_HUAWEI_APP_SECRET", "1101"),
    ("honor", "CHAT_PUSH_HONOR_CLIENT_SECRET", "1101"),
    ("xiaomi", "CHAT_PUSH_XIAOMI_APP_SECRET", "21301"),
    ("oppo", "CHAT_PUSH_OPPO_MASTER_SECRET", "16"),
    ("vivo", "CHAT_PUSH_VIVO_APP_SECRET", "10205"),
    ("meizu", "CHAT_PUSH_MEIZU_APP_SECRET", "1006"),
])
def test_wrong_secret_gets_the_vendors_refusal_and_is_failed(fake, settings, vendor, setting,
                                                              code):
    setattr(settings, setting, "not-the-secret")

    result = provider(vendor).send(DEVICE, note())

    assert (result.outcome, result.vendor_code) == (Outcome.FAILED, code)
    if vendor in WITH_AUTH_TOKEN:
        assert [s.answered for s in fake.seen(vendor, "auth")] == ["refused"]
        assert fake.seen(vendor, "send") == []
    else:
        assert [s.answered for s in fake.seen(vendor, "send")] == ["refused"]


CREDENTIALS = {
    "huawei": ["CHAT_PUSH_HUAWEI_APP_ID", "CHAT_PUSH_HUAWEI_APP_SECRET"],
    "honor": ["CHAT_PUSH_HONOR_APP_ID", "CHAT_PUSH_HONOR_CLIENT_ID",
              "CHAT_PUSH_HONOR_CLIENT_SECRET"],
    "xiaomi": ["CHAT_PUSH_XIAOMI_APP_SECRET", "CHAT_PUSH_XIAOMI_PACKAGE"],
    "oppo": ["CHAT_PUSH_OPPO_APP_KEY", "CHAT_PUSH_OPPO_MASTER_SECRET"],
    "vivo": ["CHAT_PUSH_VIVO_APP_ID", "CHAT_PUSH_VIVO_APP_KEY", "CHAT_PUSH_VIVO_APP_SECRET"],
    "meizu": ["CHAT_PUSH_MEIZU_APP_ID", "CHAT_PUSH_MEIZU_APP_SECRET"],
}


@pytest.mark.parametrize("vendor,setting",
                         [(v, name) for v, names in CREDENTIALS.items() for name in names])
def test_a_missing_credential_leaves_the_vendor_not_configured(settings, vendor, setting):
    assert provider(vendor).configured() is True
    setattr(settings, setting, "")

    assert provider(vendor).configured() is False


@pytest.mark.parametrize("vendor", VENDORS)
def test_withdraw_sends_nothing(fake, vendor):
    result = provider(vendor).send(DEVICE, note(withdraw=True, collapse_id="144115-1-42"))

    assert result.outcome == Outcome.DELIVERED
    assert fake.seen(vendor) == []


def test_huawei_maps_importance_category_badge_and_image(fake, settings):
    settings.CHAT_PUSH_HUAWEI_BADGE_CLASS = "com.example.parley.MainActivity"

    provider("huawei").send(DEVICE, note(badge=5, options={
        "huawei_importance": "LOW", "huawei_category": "IM",
        "image": "https://img.example/a.png"}))

    android = fake.seen("huawei", "send")[0].body["message"]["android"]
    assert android["category"] == "IM"
    assert android["notification"]["importance"] == "LOW"
    assert android["notification"]["image"] == "https://img.example/a.png"
    assert android["notification"]["badge"] == {
        "set_num": 5, "class": "com.example.parley.MainActivity"}


def test_an_image_url_with_an_upper_case_scheme_goes_in_lower_case(fake):
    """HTTPS:// is https (RFC 3986 3.1); JavaScript: is still left out."""
    provider("huawei").send(DEVICE, note(options={"image": "HTTPS://img.example/A.png"}))
    provider("honor").send(DEVICE, note(options={"image": "JavaScript:alert(1)"}))

    huawei = fake.seen("huawei", "send")[0].body["message"]["android"]["notification"]
    assert huawei["image"] == "https://img.example/A.png"
    assert "image" not in fake.seen("honor", "send")[0].body["android"]["notification"]


def test_android_vendors_play_the_android_sound_never_the_apns_one(fake):
    """AndroidInfo.Sound (options.android_sound) is Android's; ApnsInfo.Sound
    (options.apns_sound) names a file of the iOS app, not for an Android device."""
    for sounds in ({"apns_sound": "ios.caf", "android_sound": "ding"}, {"apns_sound": "ios.caf"}):
        for vendor in ("huawei", "xiaomi"):
            assert provider(vendor).send(DEVICE, note(options=sounds)).outcome == \
                Outcome.DELIVERED
    huawei = [s.body["message"]["android"]["notification"] for s in fake.seen("huawei", "send")]
    assert [(n.get("sound"), n["default_sound"]) for n in huawei] == \
        [("ding", False), (None, True)]
    xiaomi = [s.body.get("extra.sound_uri") for s in fake.seen("xiaomi", "send")]
    assert xiaomi == [f"android.resource://{CREDS['xiaomi']['package']}/raw/ding", None]


def test_huawei_leaves_the_badge_alone_without_a_badge_class(fake):
    provider("huawei").send(DEVICE, note(badge=5))

    assert "badge" not in fake.seen("huawei", "send")[0].body["message"]["android"]["notification"]


def test_honor_maps_importance_and_badge(fake, settings):
    settings.CHAT_PUSH_HONOR_BADGE_CLASS = "com.example.parley.MainActivity"

    provider("honor").send(DEVICE, note(badge=2, options={"honor_importance": "LOW"}))

    sent = fake.seen("honor", "send")[0]
    assert sent.body["android"]["notification"]["importance"] == "LOW"
    assert sent.body["android"]["notification"]["badge"] == {
        "setNum": 2, "badgeClass": "com.example.parley.MainActivity"}


def test_xiaomi_channel_and_one_notify_id_per_message(fake):
    client = provider("xiaomi")
    client.send(DEVICE, note(message_id="m1", options={"android_channel_id": "chat"}))
    client.send(DEVICE, note(message_id="m2"))

    first, second = (s.body for s in fake.seen("xiaomi", "send"))
    assert first["extra.channel_id"] == "chat"
    assert "extra.channel_id" not in second
    assert first["notify_id"] != second["notify_id"]
    assert first["pass_through"] == "0"


def test_oppo_channel(fake):
    provider("oppo").send(DEVICE, note(options={"oppo_channel_id": "im"}))

    message = json.loads(fake.seen("oppo", "send")[0].body["message"])
    assert message["notification"]["channel_id"] == "im"


def test_vivo_classification_and_category(fake):
    client = provider("vivo")
    client.send(DEVICE, note(message_id="m1"))
    client.send(DEVICE, note(message_id="m2",
                             options={"vivo_classification": 0, "vivo_category": "MARKETING"}))

    first, second = (s.body for s in fake.seen("vivo", "send"))
    assert (first["classification"], first["category"]) == (1, "IM")
    assert (second["classification"], second["category"]) == (0, "MARKETING")
    assert first["appId"] == int(CREDS["vivo"]["app_id"])


def test_vivo_request_id_is_stable_per_message_and_device(fake):
    client = provider("vivo")
    client.send(DEVICE, note(message_id="m1"))
    client.send(DEVICE, note(message_id="m1"))   # the pipeline retrying the same push
    client.send("other-device", note(message_id="m1"))

    assert [s.answered for s in fake.seen("vivo", "send")] == ["ok", "repeated", "ok"]


def test_long_text_is_cut_to_the_vendors_limits(fake):
    long = "x" * 500
    for vendor in VENDORS:
        assert provider(vendor).send(DEVICE, note(title=long, body=long)).outcome == \
            Outcome.DELIVERED, vendor
    title, text, _ = arrived("meizu", fake.seen("meizu", "send")[0].body)
    assert (len(title), len(text)) == (32, 100)


def notification_bytes(vendor: str, body: dict) -> int:
    """Encoded bytes of what carries the notification in the request the vendor got: the
    JSON body (Huawei, Honor, vivo), the form's fields as JSON (Xiaomi), the JSON in
    the form's `message` (OPPO) or `messageJson` (Meizu)."""
    if vendor == "oppo":
        return len(body["message"].encode())
    if vendor == "meizu":
        return len(body["messageJson"].encode())
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())


@pytest.mark.parametrize("vendor", VENDORS)
def test_text_and_app_data_are_bounded_by_encoded_bytes(fake, vendor):
    """Desc and Ext may hold 3 KB together (Tencent's limit, checked at the send), and
    the app data is a JSON string inside the request's JSON: a quote in Ext arrives as
    4 bytes. The request stays within 4096 bytes (no per-field byte limit documented:
    the whole, as for APNs and FCM): the body is cut first, then the extension."""
    ext, body = '"' * 2000, "界" * 300
    assert len((ext + body).encode()) <= 3 * 1024
    result = provider(vendor).send(DEVICE, note(body=body, extension=ext,
                                                options={"image": "https://i.example/a.png"}))
    assert result.outcome == Outcome.DELIVERED, result
    sent = fake.seen(vendor, "send")[0].body
    assert notification_bytes(vendor, sent) <= 4096
    title, text, data = arrived(vendor, sent)
    assert title == "alice" and text.endswith("…") and body.startswith(text[:-1])
    assert ext.startswith(data.get("ext", "")) and len(data.get("ext", "")) > 500
    assert (data["conversationID"], data["messageID"]) == ("C2Calice", "144115-1-42")


def test_a_short_push_is_not_cut(fake):
    for vendor in VENDORS:
        provider(vendor).send(DEVICE, note(body="界" * 90, extension='"' * 300))
        _, text, data = arrived(vendor, fake.seen(vendor, "send")[-1].body)
        assert (text, data["ext"]) == ("界" * 90, '"' * 300), vendor


def test_option_values_a_vendor_would_refuse_are_left_out(fake):
    """offlinePushInfo is the sender's: a bad knob must not cost the receiver the push."""
    hostile = {"huawei_importance": "URGENT", "huawei_category": {"x": 1},
               "honor_importance": "HIGHEST", "image": "http://plain.example/a.png",
               "android_channel_id": "chat\nX-Injected: 1", "oppo_channel_id": "c" * 500,
               "vivo_classification": "abc", "vivo_category": ["IM"]}
    for vendor in VENDORS:
        result = provider(vendor).send(DEVICE, note(options=hostile))
        assert result.outcome == Outcome.DELIVERED, (vendor, result)

    huawei = fake.seen("huawei", "send")[0].body["message"]["android"]
    assert huawei["notification"]["importance"] == "NORMAL"
    assert "image" not in huawei["notification"] and "category" not in huawei
    assert fake.seen("honor", "send")[0].body["android"]["notification"]["importance"] == "NORMAL"
    assert "extra.channel_id" not in fake.seen("xiaomi", "send")[0].body
    oppo = json.loads(fake.seen("oppo", "send")[0].body["message"])["notification"]
    assert "channel_id" not in oppo
    vivo = fake.seen("vivo", "send")[0].body
    assert (vivo["classification"], vivo["category"]) == (1, "IM")


@pytest.mark.parametrize("vendor,answer,code", [
    ("huawei", "partial", "80100000"), ("honor", "failed_token", "failTokens"),
])
def test_the_one_token_reported_failed_is_dead(fake, vendor, answer, code):
    fake.plan(vendor, answer)

    result = provider(vendor).send(DEVICE, note())

    assert (result.outcome, result.vendor_code) == (Outcome.DEAD_TOKEN, code)


@pytest.mark.parametrize("vendor", ["huawei", "honor"])
def test_oauth_token_is_fetched_again_once_its_lifetime_is_over(fake, vendor):
    fake.oauth_expires_in = 1  # seconds: the cache keeps it at most that long
    try:
        client = provider(vendor)
        client.send(DEVICE, note(message_id="m1"))
        client.send(DEVICE, note(message_id="m2"))
        time.sleep(1.2)
        client.send(DEVICE, note(message_id="m3"))
    finally:
        fake.oauth_expires_in = 3600

    trail = [(s.endpoint, s.answered) for s in fake.requests if s.vendor == vendor]
    assert trail == [("auth", "ok"), ("send", "ok"), ("send", "ok"),
                     ("auth", "ok"), ("send", "ok")]


@pytest.mark.parametrize("vendor", VENDORS)
def test_an_answer_that_is_not_the_vendors_json_is_failed(fake, vendor):
    fake.plan(vendor, "garbage")

    result = provider(vendor).send(DEVICE, note())

    assert (result.outcome, result.http_status) == (Outcome.FAILED, 200)
    assert "Service Unavailable" in result.detail
