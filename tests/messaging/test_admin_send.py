"""The operator console's Send page (messaging/admin_send.py), through Django's test
client: each mode and target arrives over a real WebSocket at the receiver with the
right sender and flags; a list's progress; permissions; errors in words; the audit log."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from accounts.models import AuditEntry
from accounts.mute import FOREVER, mute_set
from messaging.models import BatchChunk, Conversation, Message
from messaging.tasks import send_to_many
from push.models import BroadcastTask
from push.services import user_tags_add
from tests.console import staff_client

SEND = "/admin/messaging/sendpage/"


def _form(**fields) -> dict:
    base = {"mode": "app", "target": "one", "kind": "text", "audience": "everyone",
            "custom_data_is_json": "on"}
    return {**base, **fields}


@pytest.fixture
def eager():
    """Celery tasks (the batch's chunks, push to all) run in this process."""
    app = send_to_many.app
    was = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = was


def _error(response) -> tuple[int, str]:
    match = re.search(rb'data-testid="send-error" data-code="(\d+)">([^<]*)<', response.content)
    assert match, response.content.decode()[:3000]
    return int(match[1]), match[2].decode()


# --- every mode over a real socket ------------------------------------------------------

@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_every_mode_and_target_arrives_over_a_socket(connect, make_user, eager):
    make_user("alice"), make_user("bob"), make_user("carol")
    user_tags_add(entries=[{"To_Account": "bob", "Tags": ["vip"]}])
    ops = staff_client("ops", "operator")
    bob = connect("bob")

    def received(**where) -> dict:
        ev = bob.wait_event("MESSAGE_RECEIVED", where=lambda e: all(
            e["data"][0].get(k) == v for k, v in where.items()))
        return ev["data"][0]

    # As the app admin, to one user.
    r = ops.post(SEND, _form(to="bob", text="from the app"), follow=True)
    assert b"Sent as administrator (app_admin)" in r.content
    m = received(**{"from": "administrator"})
    assert m["elements"][0]["payload"]["text"] == "from the app" and m["isSystem"] is False
    # As alice (impersonation), a custom element, not counted as unread.
    r = ops.post(SEND, _form(mode="user", sender="alice", to="bob", kind="custom",
                             custom_data='{"kind": "coupon"}', custom_description="A coupon",
                             no_unread="on"))
    assert r.status_code == 302, r.content
    m = received(**{"from": "alice"})
    assert m["elements"][0] == {"type": "TIMCustomElem", "payload": {
        "data": '{"kind": "coupon"}', "description": "A coupon", "extension": ""}}
    assert m["isSystem"] is False
    assert Conversation.objects.get(owner__user_id="bob", peer__user_id="alice").unread_count == 0
    # A system notice to one user: from the app admin, marked.
    ops.post(SEND, _form(mode="system", to="bob", text="Maintenance at 22:00"))
    m = received(isSystem=True)
    assert m["from"] == "administrator"
    assert m["elements"][0]["payload"]["text"] == "Maintenance at 22:00"
    # Online only: delivered, not stored.
    ops.post(SEND, _form(mode="system", to="bob", text="only now", online_only="on"))
    m = received(onlineUserOnly=True)
    assert m["isSystem"] is True and not Message.objects.filter(
        elements__0__payload__text="only now").exists()
    # A list of system notices, fanned out by the batch task.
    r = ops.post(SEND, _form(mode="system", target="list", to_list="bob\ncarol, ghost",
                             kind="location", location_description="Office",
                             longitude="2.35", latitude="48.85"), follow=True)
    assert b"Not sent to 1 UserID(s)" in r.content and b"ghost" in r.content
    assert b"2 of 2 receivers done" in r.content
    m = bob.wait_event("MESSAGE_RECEIVED", where=lambda e: e["data"][0]["elements"][0]["type"]
                       == "TIMLocationElem")["data"][0]
    assert m["isSystem"] is True and m["from"] == "administrator"
    assert Message.objects.filter(receiver__user_id="carol", is_system=True).count() == 1
    # A list as alice: a batch (no system mark).
    ops.post(SEND, _form(mode="user", sender="alice", target="list", to_list="bob carol",
                         text="hello both"))
    m = bob.wait_event("MESSAGE_RECEIVED", where=lambda e: e["data"][0]["elements"][0]
                       .get("payload", {}).get("text") == "hello both")["data"][0]
    assert m["from"] == "alice" and m["isSystem"] is False
    # An audience (tag vip: bob only), as a system notice through push to all.
    r = ops.post(SEND, _form(mode="system", target="audience", audience="TagsAnd",
                             audience_values="vip", text="for vips"), follow=True)
    assert b"(done)" in r.content, r.content.decode()[-3000:]
    m = bob.wait_event("MESSAGE_RECEIVED", where=lambda e: e["data"][0]["elements"][0]
                       .get("payload", {}).get("text") == "for vips")["data"][0]
    assert m["isSystem"] is True and m["from"] == "administrator"
    assert not Message.objects.filter(receiver__user_id="carol",
                                      elements__0__payload__text="for vips").exists()
    task = BroadcastTask.objects.get()
    assert (task.matched, task.delivered) == (1, 1)
    # Replayed from the sync log, the mark stays.
    late = connect("bob", since=0)
    replayed = [e["data"][0] for e in late.drain(quiet=0.5)
                if e.get("event") == "MESSAGE_RECEIVED"]
    assert {m["elements"][0]["payload"].get("text") for m in replayed if m["isSystem"]} \
        >= {"Maintenance at 22:00", "for vips"}


# --- a list's progress ---------------------------------------------------------------------

@pytest.mark.django_db
def test_a_lists_progress_is_shown_until_done(make_user):
    make_user("alice")
    for i in range(250):
        make_user(f"r{i}", password=None)
    ops = staff_client("ops", "operator")
    names = " ".join(f"r{i}" for i in range(250))
    # No worker runs the chunks yet: the page shows 0 of 250 and refreshes itself.
    r = ops.post(SEND, _form(target="list", to_list=names, text="to everyone"))
    assert r.status_code == 302 and "/batch/" in r["Location"]
    page = ops.get(r["Location"])
    assert b"0 of 250 receivers done" in page.content
    assert b'http-equiv="refresh"' in page.content
    chunks = list(BatchChunk.objects.order_by("pk"))
    assert [len(c.receivers) for c in chunks] == [100, 100, 50]
    send_to_many(chunks[0].sender_id, chunks[0].receivers, chunks[0].options,
                 batch_id=str(chunks[0].batch_id), chunk_id=chunks[0].pk)
    assert b"100 of 250 receivers done" in ops.get(r["Location"]).content
    for c in chunks[1:]:
        send_to_many(c.sender_id, c.receivers, c.options, batch_id=str(c.batch_id),
                     chunk_id=c.pk)
    page = ops.get(r["Location"])
    assert b"250 of 250 receivers done" in page.content and b"Done." in page.content
    assert b'http-equiv="refresh"' not in page.content
    assert Message.objects.filter(sender__user_id="administrator", is_system=False).count() == 250
    entry = AuditEntry.objects.get(action="send message")
    assert entry.detail["origin"] == "batch" and entry.detail["receivers"] == 250
    assert entry.detail["batch_id"] == str(chunks[0].batch_id)
    assert entry.detail["to"] == [f"r{i}" for i in range(100)]  # the first 100 named
    assert ops.get(SEND + "batch/not-a-uuid/").status_code == 404


@pytest.mark.django_db
def test_a_progress_page_of_no_such_send_is_a_404(make_user):
    """A batch or push id that names nothing (not a UUID, unknown, or holding a NUL
    character, which PostgreSQL text cannot) is a 404, never a 500."""
    ops = staff_client("ops", "operator")
    for path in ("batch/not-a-uuid/", "batch/%00/", "push/unknown-task/", "push/%00/",
                 "push/a%00b/", "push/" + "x" * 300 + "/"):
        assert ops.get(SEND + path).status_code == 404, path


# --- permissions ---------------------------------------------------------------------------

@pytest.mark.django_db
def test_support_is_refused_both_and_a_user_only_operator_the_app(make_user):
    make_user("alice"), make_user("bob")
    support = staff_client("helpdesk", "support")
    assert support.get(SEND).status_code == 403
    assert support.post(SEND, _form(to="bob", text="x")).status_code == 403
    assert support.post(SEND, _form(mode="user", sender="alice", to="bob",
                                    text="x")).status_code == 403
    assert support.post(SEND, _form(mode="system", to="bob", text="x")).status_code == 403
    assert support.get(SEND + "batch/00000000-0000-0000-0000-000000000000/").status_code == 403
    # The index and the message list show no way to it.
    assert b"sendpage" not in support.get("/admin/").content
    assert b"send-message-link" not in support.get("/admin/messaging/message/").content
    # Sending as a user only: impersonation yes, the app admin and notices no.
    impersonator = staff_client("imp", None, "accounts.send_as_user", "messaging.view_message")
    page = impersonator.get(SEND)
    assert page.status_code == 200
    assert b"You may send: as a user (impersonation)." in page.content  # words, not codes
    assert impersonator.post(SEND, _form(to="bob", text="x")).status_code == 403
    assert impersonator.post(SEND, _form(mode="system", to="bob", text="x")).status_code == 403
    assert impersonator.post(SEND, _form(mode="user", sender="alice", to="bob",
                                         text="as alice")).status_code == 302
    assert list(Message.objects.values_list("sender__user_id", flat=True)) == ["alice"]
    assert not AuditEntry.objects.filter(operator_name="helpdesk").exists()
    # An operator sees the links.
    ops = staff_client("ops", "operator")
    assert b"/admin/messaging/sendpage/" in ops.get("/admin/").content
    assert b"You may send: as the app admin, as a system notice, as a user (impersonation)." \
        in ops.get(SEND).content
    assert b"send-message-link" in ops.get("/admin/messaging/message/").content


# --- errors in words, never a 500 ------------------------------------------------------------

def _png(side: int = 4) -> io.BytesIO:
    buf = io.BytesIO()
    Image.new("RGB", (side, side), "red").save(buf, "PNG")
    buf.seek(0)
    buf.name = "dot.png"
    return buf


@pytest.mark.django_db
def test_errors_are_shown_in_words_with_their_code(make_user, settings):
    alice, _ = make_user("alice"), make_user("bob")
    mute_set(alice, c2c_seconds=FOREVER)
    ops = staff_client("ops", "operator")
    cases = [
        (_form(to="ghost", text="x"), 20003),
        (_form(mode="user", sender="alice", to="bob", text="x"), 20012),
        (_form(mode="user", sender="nobody", to="bob", text="x"), 20003),
        (_form(mode="user", to="bob", text="x"), 20003),
        (_form(to="bob", text=""), 90010),
        (_form(to="bob", text="x" * 13000), 93000),
        (_form(to="", text="x"), 910040),
        (_form(to="bob", kind="custom", custom_data="{not json"), 910042),
        (_form(to="bob", kind="custom"), 90010),
        (_form(target="list", to_list=" \n ", text="x"), 910040),
        (_form(target="list", to_list=" ".join(f"u{i}" for i in range(10001)), text="x"), 910041),
        (_form(target="audience", audience="AttrsAnd", audience_values="no-equals", text="x"),
         910040),
        (_form(target="audience", audience="TagsOr", audience_values="", text="x"), 910040),
        (_form(target="audience", text="x", no_unread="on"), 910043),
        (_form(to="bob", kind="location", longitude="east", latitude="1"), 910040),
        (_form(to="bob", kind="location", longitude="200", latitude="1"), 90010),
        (_form(to="bob", kind="image"), 910040),
        (_form(to="bob", text="x", lifetime="-5"), 90044),
        (_form(to="bob", text="x", lifetime="9999999"), 90044),
        (_form(to="bob", text="x", lifetime="²"), 90044),  # a digit int() refuses
        (_form(to="bob", kind="custom", custom_data="[" * 5000), 910042),  # past recursion
        (_form(mode="nonsense", to="bob", text="x"), 910040),
        (_form(to="bob", text="x", push_text="p" * 4000), 90043),
    ]
    for form, code in cases:
        response = ops.post(SEND, form)
        assert response.status_code == 400, (form, response.status_code)
        got, words = _error(response)
        assert got == code, (form, got, words)
        assert words and not words.startswith("error"), words
    # Not an image: the upload pipeline's own code.
    bad = io.BytesIO(b"not an image at all")
    bad.name = "x.png"
    got, _ = _error(ops.post(SEND, _form(to="bob", kind="image", upload=bad)))
    assert got == 910007
    assert not Message.objects.exists()
    refused = AuditEntry.objects.filter(action="send message refused")
    assert refused.count() == len(cases) + 1 - 1  # the invalid mode never reached a send
    assert {e.detail["code"] for e in refused} >= {20003, 20012, 93000, 910042, 910041}


@pytest.mark.django_db
def test_an_image_and_a_file_by_upload(make_user):
    make_user("bob")
    ops = staff_client("ops", "operator")
    r = ops.post(SEND, _form(mode="system", to="bob", kind="image", upload=_png()))
    assert r.status_code == 302
    doc = io.BytesIO(b"%PDF-1.4 hello")
    doc.name = "terms.pdf"
    assert ops.post(SEND, _form(to="bob", kind="file", upload=doc)).status_code == 302
    image, file = Message.objects.order_by("pk")
    assert image.is_system and image.elements[0]["type"] == "TIMImageElem"
    assert len(image.elements[0]["payload"]["imageInfoArray"]) == 3
    assert file.elements[0]["type"] == "TIMFileElem"
    assert file.elements[0]["payload"]["fileName"] == "terms.pdf"
    # The uploads count toward the operator's own limits.
    from messaging.models import Upload

    assert set(Upload.objects.values_list("uploader__user_id", flat=True)) == {"ops"}


@pytest.mark.django_db
def test_each_send_is_audited_with_mode_sender_target_and_message_ids(make_user):
    make_user("alice"), make_user("bob")
    ops = staff_client("ops", "operator")
    ops.post(SEND, _form(mode="user", sender="alice", to="bob", text="hi"))
    ops.post(SEND, _form(mode="system", to="bob", text="notice"))
    first, second = AuditEntry.objects.filter(action="send message").order_by("pk")
    msg_alice = Message.objects.get(sender__user_id="alice")
    msg_system = Message.objects.get(is_system=True)
    assert first.operator_name == "ops" and first.target == "bob" and first.page == SEND
    assert first.detail["mode"] == "user" and first.detail["sender"] == "alice"
    assert first.detail["origin"] == "app_admin" and first.detail["receivers"] == 1
    assert first.detail["message_ids"] == [f"{msg_alice.pk}-{msg_alice.time}-{msg_alice.random}"]
    assert second.detail["mode"] == "system" and second.detail["origin"] == "system"
    assert second.detail["sender"] == "administrator"
    assert second.detail["message_ids"][0].startswith(f"{msg_system.pk}-")
