"""The send pipeline: every element type, every rejection, dedupe, snapshots, counters."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AdminForbidType, SyncEntry
from accounts.selectors import sync_head
from chat_project.errors import ChatError
from messaging import changes, selectors
from messaging.changes import conversation_mark_read
from messaging.commands import Origin
from messaging.models import Conversation, Message
from messaging.services import message_send

pytestmark = pytest.mark.django_db

URL = "https://files.example/x"

VALID_ELEMENTS = {
    "TIMTextElem": {"text": "hello"},
    "TIMFaceElem": {"index": 3, "data": "smile"},
    "TIMLocationElem": {"description": "Shenzhen", "longitude": 113.94, "latitude": 22.54},
    "TIMCustomElem": {"data": '{"k":1}', "description": "card", "extension": "x"},
    "TIMImageElem": {"uuid": "img1", "format": "PNG", "imageInfoArray": [
        {"type": 1, "size": 1000, "width": 800, "height": 600, "url": URL},
        {"type": 3, "size": 100, "width": 198, "height": 148, "url": URL}]},
    "TIMSoundElem": {"uuid": "snd1", "url": URL, "size": 2048, "second": 4},
    "TIMFileElem": {"uuid": "f1", "url": URL, "fileName": "a.pdf", "fileSize": 5000},
    "TIMVideoFileElem": {"videoUUID": "v1", "videoUrl": URL, "videoSize": 9000,
                         "videoSecond": 7, "videoFormat": "mp4", "thumbUUID": "t1",
                         "thumbUrl": URL, "thumbWidth": 320, "thumbHeight": 240},
    "TIMRelayElem": {"title": "Chat history", "abstractList": ["a: hi"],
                     "compatibleText": "please upgrade", "messageList": [{"from": "a"}]},
}


def send(sender, to, elements=None, random=1, origin=Origin.USER, **kw):
    if elements is None:
        elements = [{"type": "TIMTextElem", "payload": {"text": "hi"}}]
    return message_send(origin=origin, sender=sender, to=getattr(to, "user_id", to),
                        elements=elements, random=random, **kw)


def code_of(fn, *args, **kw):
    with pytest.raises(ChatError) as err:
        fn(*args, **kw)
    return err.value.code


@pytest.mark.parametrize("etype", sorted(VALID_ELEMENTS))
def test_every_element_type_is_stored_and_read_back(make_user, etype):
    alice, bob = make_user("alice"), make_user("bob")
    sent = send(alice, bob, [{"type": etype, "payload": VALID_ELEMENTS[etype]}])
    assert sent["elements"][0]["type"] == etype
    page = selectors.message_page(viewer=bob, conversation_id="C2Calice")
    assert page["messageList"][0]["elements"] == sent["elements"]
    assert page["messageList"][0]["flow"] == "in"


BAD_ELEMENTS = [
    ([], "non-empty"),
    ("text", "non-empty"),
    ([{"type": "TIMNopeElem", "payload": {}}], "unknown element type"),
    ([{"type": "TIMTextElem"}], "payload"),
    ([{"type": "TIMTextElem", "payload": {"text": 5}}], "text"),
    ([{"type": "TIMTextElem", "payload": {"text": ""}}], "text"),
    ([{"type": "TIMFaceElem", "payload": {"index": "3"}}], "index"),
    ([{"type": "TIMLocationElem", "payload": {"longitude": 200, "latitude": 0}}], "longitude"),
    ([{"type": "TIMLocationElem", "payload": {"longitude": 1, "latitude": "x"}}], "latitude"),
    ([{"type": "TIMCustomElem", "payload": {}}], "custom element"),
    ([{"type": "TIMCustomElem", "payload": {"data": "a"}},
      {"type": "TIMCustomElem", "payload": {"data": "b"}}], "at most one"),
    ([{"type": "TIMImageElem", "payload": {"uuid": "i", "imageInfoArray": []}}],
     "imageInfoArray"),
    ([{"type": "TIMImageElem", "payload": {"uuid": "i", "format": "TIFF", "imageInfoArray": [
        {"type": 1, "size": 1, "width": 1, "height": 1, "url": URL}]}}], "format"),
    ([{"type": "TIMImageElem", "payload": {"uuid": "i", "imageInfoArray": [
        {"type": 1, "size": 29 * 1024 * 1024, "width": 1, "height": 1, "url": URL}]}}], "size"),
    ([{"type": "TIMImageElem", "payload": {"uuid": "i", "imageInfoArray": [
        {"type": 1, "size": 1, "width": 1, "height": 1, "url": "javascript:alert(1)"}]}}], "url"),
    ([{"type": "TIMSoundElem", "payload": {"uuid": "s", "url": URL, "size": 1}}], "second"),
    ([{"type": "TIMSoundElem", "payload": {"uuid": "s", "url": URL, "size": 29 * 2**20,
                                           "second": 1}}], "size"),
    ([{"type": "TIMFileElem", "payload": {"uuid": "f", "url": URL, "fileName": "a",
                                          "fileSize": 101 * 2**20}}], "fileSize"),
    ([{"type": "TIMFileElem", "payload": {"uuid": "f", "url": URL, "fileSize": 1}}], "fileName"),
    ([{"type": "TIMVideoFileElem", "payload": {"videoUUID": "v", "videoUrl": URL,
                                               "videoSize": -1, "videoSecond": 1}}], "videoSize"),
    ([{"type": "TIMRelayElem", "payload": {"title": "t", "compatibleText": "c",
                                           "messageList": []}}], "messageList"),
    (["not an object"], "object"),
]


@pytest.mark.parametrize(("elements", "needle"), BAD_ELEMENTS)
def test_bad_elements_are_90010_and_store_nothing(make_user, elements, needle):
    alice, bob = make_user("alice"), make_user("bob")
    with pytest.raises(ChatError) as err:
        send(alice, bob, elements)
    assert err.value.code == 90010
    assert needle in err.value.message
    assert not Message.objects.exists() and not SyncEntry.objects.exists()
    assert not Conversation.objects.exists()


def test_12_kb_limit_counts_elements_and_cloud_custom_data(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    overhead = len('[{"type":"TIMTextElem","payload":{"text":""}}]')
    send(alice, bob, [{"type": "TIMTextElem", "payload": {"text": "a" * (12288 - overhead)}}])
    assert code_of(send, alice, bob, [{"type": "TIMTextElem",
                                      "payload": {"text": "a" * (12289 - overhead)}}],
                   random=2) == 93000
    assert code_of(send, alice, bob, [{"type": "TIMTextElem", "payload": {"text": "a"}}],
                   random=3, cloud_custom_data="b" * 12288) == 93000
    # multi-byte characters count as their UTF-8 bytes
    assert code_of(send, alice, bob, [{"type": "TIMTextElem", "payload": {"text": "é" * 6200}}],
                   random=4) == 93000
    custom = {"type": "TIMCustomElem", "payload": {"data": "x" * 12300}}
    assert code_of(send, alice, bob, [custom], random=5) == 93000
    assert Message.objects.count() == 1


def test_unknown_receiver_is_20003(make_user):
    alice = make_user("alice")
    assert code_of(send, alice, "nobody") == 20003
    assert code_of(send, alice, "") == 20003
    assert code_of(send, alice, None) == 20003


def test_bad_random_is_90005(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    for bad in (None, -1, 2**32, "7", 1.5, True):
        assert code_of(send, alice, bob, random=bad) == 90005


def test_bad_options_are_910003(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    assert code_of(send, alice, bob, priority="Urgent") == 910003
    assert code_of(send, alice, bob, cloud_custom_data=5) == 910003
    assert code_of(send, alice, bob, need_read_receipt="yes") == 910003
    assert code_of(send, alice, bob, offline_push_info="x") == 910003


def test_forbidden_sender_is_refused(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    alice.admin_forbid_type = AdminForbidType.SEND_OUT
    alice.save()
    assert code_of(send, alice, bob) == 20012


def test_globally_muted_sender_is_20012_until_the_mute_ends(make_user):
    import time

    from accounts.models import User

    alice, bob = make_user("alice"), make_user("bob")
    for until, expected in ((4294967295, 20012), (int(time.time()) + 60, 20012)):
        User.objects.filter(pk=alice.pk).update(c2c_mute_until=until)
        assert code_of(send, alice, bob) == expected
        # the app admin's relationship bypass does not lift a mute
        assert code_of(send, alice, bob, origin=Origin.APP_ADMIN) == expected
    assert not Message.objects.exists()
    User.objects.filter(pk=alice.pk).update(c2c_mute_until=int(time.time()) - 1)
    assert send(alice, bob)["seq"] == 1
    assert send(bob, alice, random=2)["seq"] == 2  # a mute is the sender's only


def test_inactive_receiver_is_20003(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    bob.is_active = False
    bob.save()
    assert code_of(send, alice, bob) == 20003


def test_retry_with_same_random_returns_the_first_message(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    first = send(alice, bob, random=77)
    again = send(alice, bob, [{"type": "TIMTextElem", "payload": {"text": "changed"}}], random=77)
    assert again["ID"] == first["ID"] and again["seq"] == first["seq"]
    assert Message.objects.count() == 1
    assert SyncEntry.objects.count() == 2
    assert Conversation.objects.get(owner=bob).unread_count == 1
    # the next real message takes the next seq: no gap from the retry
    assert send(alice, bob, random=78)["seq"] == first["seq"] + 1
    # same random from the other direction is a different message
    assert send(bob, alice, random=77)["ID"] != first["ID"]


def test_seq_grows_per_dialog_and_sync_log_per_user(make_user):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    seqs = [send(alice, bob, random=i)["seq"] for i in range(3)]
    seqs += [send(bob, alice, random=i)["seq"] for i in range(3)]
    assert seqs == [1, 2, 3, 4, 5, 6]
    assert send(carol, bob, random=1)["seq"] == 1
    assert sync_head(bob.pk) == 7
    assert list(SyncEntry.objects.filter(user=bob).order_by("seq")
                .values_list("seq", flat=True)) == list(range(1, 8))


def test_sender_profile_is_snapshotted(make_user):
    alice, bob = make_user("alice", nick="Alice", avatar="https://a/1.png"), make_user("bob")
    send(alice, bob, random=1)
    alice.nick, alice.avatar = "Alicia", "https://a/2.png"
    alice.save()  # a stale User (sync head moved since it was loaded) must be harmless
    send(alice, bob, random=2)
    page = selectors.message_page(viewer=bob, conversation_id="C2Calice")["messageList"]
    assert [(m["nick"], m["avatar"]) for m in page] == [
        ("Alice", "https://a/1.png"), ("Alicia", "https://a/2.png")]


def test_conversations_unread_and_mark_read(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    for i in range(3):
        send(alice, bob, random=i)
    convs = selectors.conversation_list(user=bob)
    assert [(c["conversationID"], c["unreadCount"]) for c in convs] == [("C2Calice", 3)]
    assert convs[0]["lastMessage"]["random"] == 2
    assert selectors.conversation_list(user=alice)[0]["unreadCount"] == 0
    assert selectors.total_unread(bob) == 3
    conversation_mark_read(user=bob, peer=changes.peer_for("C2Calice"))
    assert selectors.total_unread(bob) == 0
    # the sender now sees its messages as read by the peer
    page = selectors.message_page(viewer=alice, conversation_id="C2Cbob")["messageList"]
    assert all(m["isPeerRead"] for m in page)
    assert code_of(changes.peer_for, "bob") == 910003
    assert code_of(changes.peer_for, "C2Cnobody") == 20003


def test_message_control_info(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    send(alice, bob, random=1)
    send(alice, bob, random=2, excluded_from_unread=True, excluded_from_last_message=True)
    conv = selectors.conversation_list(user=bob)[0]
    assert conv["unreadCount"] == 1
    assert conv["lastMessage"]["random"] == 1
    assert len(selectors.message_page(viewer=bob, conversation_id="C2Calice")["messageList"]) == 2


def test_online_only_stores_nothing(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    sent = send(alice, bob, random=9, online_user_only=True)
    assert sent["ID"].startswith("0-")
    assert not Message.objects.exists() and not SyncEntry.objects.exists()
    assert not Conversation.objects.exists()


def test_history_pages_back_in_time(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    for i in range(35):
        send(alice if i % 2 else bob, bob if i % 2 else alice, random=i)
    seen = []
    cursor = None
    while True:
        page = selectors.message_page(viewer=bob, conversation_id="C2Calice",
                                      next_req_message_id=cursor, count=15)
        seqs = [m["seq"] for m in page["messageList"]]
        assert seqs == sorted(seqs)
        seen = seqs + seen
        if page["isCompleted"]:
            assert page["nextReqMessageID"] == ""
            break
        cursor = page["nextReqMessageID"]
    assert seen == list(range(1, 36))
    assert code_of(selectors.message_page, viewer=bob, conversation_id="C2Calice",
                   count=101) == 910003
    assert code_of(selectors.message_page, viewer=bob, conversation_id="C2Calice",
                   next_req_message_id="999999-1-1") == 910004


def test_self_send(make_user):
    alice = make_user("alice")
    sent = send(alice, alice, random=1)
    assert sent["flow"] == "out"
    assert selectors.total_unread(alice) == 0
    assert SyncEntry.objects.filter(user=alice).count() == 1


# --- query counts: fixed, however much data there is -----------------------------------

def _count(fn):
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def test_query_counts_are_pinned(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    others = [make_user(f"peer{i}") for i in range(30)]
    send(alice, bob, random=0)  # the dialog and conversations exist from here on
    # send: savepoint, users with the pair lock (accounts.selectors.users_for_send), rule
    # and blocklist, dialog bump with the retry lookup (messaging/persist.py
    # _bump_dialogs), insert message, sync-log counters and rows (accounts.services
    # sync_append), both conversations and the receiver's unread total
    # (_upsert_conversations), release: one statement each on PostgreSQL.
    assert _count(lambda: send(alice, bob, random=1)) == 8
    for i, peer in enumerate(others):
        send(peer, bob, random=i)
        for j in range(3):
            send(bob, peer, random=100 + j)
    small = _count(lambda: selectors.conversation_list(user=alice))
    large = _count(lambda: selectors.conversation_list(user=bob))
    assert small == large == 1
    history = _count(lambda: selectors.message_page(viewer=bob, conversation_id="C2Cpeer1",
                                                    count=100))
    assert history == 2  # what the page depends on, then the page


def test_friends_only_rule_is_checked_in_the_send(make_user):
    from relationships.models import Block, Friendship, SendPolicy

    alice, bob = make_user("alice"), make_user("bob")
    policy = SendPolicy(rule=SendPolicy.Rule.FRIENDS)
    policy.save()
    assert code_of(send, alice, bob, random=1) == 20009
    Friendship.objects.create(owner=bob, friend=alice, add_time=alice.date_joined)
    assert send(alice, bob, random=2)["seq"] == 1  # one way is enough
    policy.rule = SendPolicy.Rule.FRIENDS_BOTH
    policy.save()
    assert code_of(send, alice, bob, random=3) == 20011  # alice does not have bob
    assert code_of(send, bob, alice, random=3) == 20010  # alice does not have bob
    Friendship.objects.create(owner=alice, friend=bob, add_time=alice.date_joined)
    assert send(alice, bob, random=4)["seq"] == 2
    Block.objects.create(owner=bob, blocked=alice, created_at=alice.date_joined)
    assert code_of(send, alice, bob, random=5) == 20007
    assert send(bob, alice, random=5)["seq"] == 3  # the blocker may still write
    assert send(alice, bob, random=6, origin=Origin.APP_ADMIN)["seq"] == 4
    assert Conversation.objects.get(owner=bob, peer=alice).unread_count == 3
