"""Offline-push sounds as the Web SDK names them (tencent-rest.md "Web SDK":
`offlinePushInfo {androidInfo{sound, ...}, apnsInfo{sound, ignoreIOSBadge}}`), over the
socket and the native REST door against the live server: stored in the one shape
(push/offline_info.py), and what APNs and FCM are told comes from it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from accounts.usersig import gen_usersig
from messaging.models import Message
from push.content import notification_for
from push.providers.apns import ApnsProvider
from push.providers.fcm import FcmProvider

pytestmark = pytest.mark.django_db(transaction=True)

TEXT = [{"type": "TIMTextElem", "payload": {"text": "ring"}}]
NESTED = {"title": "T", "apnsInfo": {"sound": "ios.caf"}, "androidInfo": {"sound": "ding"}}


def rest_send(url: str, sender: str, data: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{url}/api/v1/messages/", method="POST", data=json.dumps(data).encode(),
        headers={"Content-Type": "application/json",
                 "Authorization": f"UserSig {sender}:{gen_usersig(sender)}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def pushed_sounds(message: Message) -> tuple[str, str]:
    """(APNs aps.sound, FCM android.notification.sound) of the message's push, built
    from the stored row as the send's push job and a later re-note build it."""
    note = notification_for(elements=message.elements, nick="", sender_user_id="alice",
                            push_info=message.offline_push_info, badge=1,
                            message_key=message.public_id, conversation_id="C2Calice")
    _, payload = ApnsProvider.request_parts(note)
    return (json.loads(payload)["aps"]["sound"],
            FcmProvider.message("t", note)["android"]["notification"]["sound"])


def test_nested_sounds_sent_over_the_socket_are_each_platforms(make_user, connect):
    make_user("alice"), make_user("bob")
    sent = connect("alice").ok("sendMessage", {"to": "bob", "elements": TEXT, "random": 1,
                                               "offlinePushInfo": NESTED})
    stored = Message.objects.get(random=1)
    assert stored.public_id == sent["ID"]
    assert stored.offline_push_info == {
        "title": "T", "options": {"apns_sound": "ios.caf", "android_sound": "ding"}}
    assert pushed_sounds(stored) == ("ios.caf", "ding")


def test_nested_sounds_over_rest_are_stored_as_the_sockets(make_user, live_server_url):
    make_user("alice"), make_user("bob")
    status, body = rest_send(live_server_url, "alice", {
        "to": "bob", "elements": TEXT, "random": 2,
        "offlinePushInfo": {"apnsInfo": {"sound": "ios.caf", "ignoreIOSBadge": True}}})
    assert status == 201, body
    stored = Message.objects.get(random=2)
    assert stored.offline_push_info == {"ignoreIOSBadge": True,
                                        "options": {"apns_sound": "ios.caf"}}
    assert pushed_sounds(stored) == ("ios.caf", "default")


def test_a_flat_name_wins_over_the_nested_one(make_user, connect):
    """The SDK flattens (static/parley/sdk.js: a flat key given by the caller first):
    the server reads both the same way."""
    make_user("alice"), make_user("bob")
    connect("alice").ok("sendMessage", {"to": "bob", "elements": TEXT, "random": 3,
                                        "offlinePushInfo": {**NESTED, "iOSSound": "flat.caf"}})
    assert pushed_sounds(Message.objects.get(random=3)) == ("flat.caf", "ding")


@pytest.mark.parametrize("info", [
    {"apnsInfo": "ios.caf"}, {"androidInfo": ["ding"]}, {"apnsInfo": {"sound": 7}},
    {"androidInfo": {"sound": "x" * 513}}, {"apnsInfo": {"ignoreIOSBadge": "yes"}},
])
def test_a_bad_nested_field_is_90043(make_user, connect, info):
    make_user("alice"), make_user("bob")
    reply = connect("alice").request("sendMessage", {"to": "bob", "elements": TEXT,
                                                     "random": 4, "offlinePushInfo": info})
    assert not reply["ok"] and reply["code"] == 90043, reply
    assert not Message.objects.exists()
