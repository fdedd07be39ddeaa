"""The console's conversation pages (messaging/admin_timeline.py): the timeline with
every element type rendered and escaped, paging, recall per message, text search
(full-text with its GIN index), the JSON export; support may do all of it, staff
without permissions none of it."""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditEntry, SyncEntry
from messaging import admin_timeline
from messaging.commands import Origin
from messaging.models import Message
from messaging.search import search_messages
from messaging.selectors import message_page
from messaging.services import message_send
from tests.console import staff_client

pytestmark = pytest.mark.django_db

XSS = "<script>alert(1)</script>"
ELEMENTS = {
    "text": {"type": "TIMTextElem", "payload": {"text": f"hello {XSS} world"}},
    "face": {"type": "TIMFaceElem", "payload": {"index": 3, "data": "<b>face</b>"}},
    "location": {"type": "TIMLocationElem", "payload": {
        "description": "<i>the pier</i>", "longitude": 2.35, "latitude": 48.85}},
    "custom": {"type": "TIMCustomElem", "payload": {
        "data": "<img src=x onerror=alert(2)>", "description": "custom desc",
        "extension": "ext<"}},
    "image": {"type": "TIMImageElem", "payload": {"uuid": "img-1", "format": "PNG",
              "imageInfoArray": [
                  {"type": 1, "size": 2048, "width": 640, "height": 480,
                   "url": "/media/uploads/photo.png"},
                  {"type": 3, "size": 512, "width": 198, "height": 148,
                   "url": "/media/uploads/photo_198.png"}]}},
    "sound": {"type": "TIMSoundElem", "payload": {
        "uuid": "snd-1", "url": "/media/uploads/voice.m4a", "size": 4096, "second": 7}},
    "video": {"type": "TIMVideoFileElem", "payload": {
        "videoUUID": "vid-1", "videoUrl": "/media/uploads/clip.mp4", "videoSize": 8192,
        "videoSecond": 12, "thumbUrl": "/media/uploads/clip.jpg"}},
    "file": {"type": "TIMFileElem", "payload": {
        "uuid": "file-1", "url": "/media/uploads/report.pdf",
        "fileName": "<b>quarterly</b> report.pdf", "fileSize": 3 * 1024 * 1024}},
    "merged": {"type": "TIMRelayElem", "payload": {
        "title": "<u>Chat of alice and bob</u>", "abstractList": [f"alice: {XSS}", "bob: ok"],
        "compatibleText": "upgrade", "messageList": [
            {"from": "alice", "elements": [{"type": "TIMTextElem",
                                            "payload": {"text": "inner"}}]}]}},
}


def _send(sender, to: str, elements: list[dict], random: int) -> Message:
    sent = message_send(origin=Origin.USER, sender=sender, to=to, random=random,
                        elements=elements)
    return Message.objects.get(pk=int(sent["ID"].split("-")[0]))


def _timeline(a, b) -> str:
    return f"/admin/messaging/message/timeline/{a.pk}/{b.pk}/"


def test_every_element_type_is_rendered_and_escaped(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    for i, element in enumerate(ELEMENTS.values(), start=1):
        _send(alice if i % 2 else bob, "bob" if i % 2 else "alice", [element], i)
    notice = _send(alice, "bob", [{"type": "TIMTextElem", "payload": {"text": "maintenance"}}], 90)
    Message.objects.filter(pk=notice.pk).update(is_system=True)
    edited = _send(bob, "alice", [{"type": "TIMTextElem", "payload": {"text": "edited"}}], 91)
    Message.objects.filter(pk=edited.pk).update(is_modified=True)
    gone = _send(alice, "bob", [{"type": "TIMTextElem", "payload": {"text": "secret"}}], 92)
    support = staff_client("helpdesk", "support")
    support.post(f"/admin/messaging/message/{gone.pk}/recall/", {})

    page = support.get(_timeline(alice, bob))
    assert page.status_code == 200
    html = page.content.decode()
    # Nothing a message holds becomes markup.
    for raw in (XSS, "<b>face</b>", "<i>the pier</i>", "<img src=x", "<b>quarterly</b>",
                "<u>Chat of", "ext<"):
        assert raw not in html, raw
    for escaped in ("hello &lt;script&gt;alert(1)&lt;/script&gt; world", "&lt;b&gt;face",
                    "&lt;i&gt;the pier&lt;/i&gt;", "&lt;img src=x onerror=alert(2)&gt;",
                    "&lt;b&gt;quarterly&lt;/b&gt; report.pdf", "&lt;u&gt;Chat of alice",
                    "alice: &lt;script&gt;"):
        assert escaped in html, escaped
    # Thumbnails, players, files, locations, merged cards.
    assert 'src="/media/uploads/photo_198.png"' in html
    assert 'href="/media/uploads/photo.png"' in html and "640×480" in html
    assert '<audio controls preload="none" src="/media/uploads/voice.m4a">' in html
    assert 'src="/media/uploads/clip.mp4" poster="/media/uploads/clip.jpg"' in html
    assert 'href="/media/uploads/report.pdf"' in html and "3.0\xa0MB" in html
    assert "mlat=48.85&amp;mlon=2.35" in html
    assert 'class="pc-merged"' in html and "1 message(s) inline" in html
    assert "custom desc" in html
    # Marks: system notice, edited, recalled (no content, no recall button).
    assert re.search(r'class="pc-msg [^"]*pc-system[^"]*" id="m' + str(notice.pk) + '"', html)
    assert "system notice</span>" in html and "edited</span>" in html
    recalled = html[html.index(f'id="m{gone.pk}"'):]
    recalled = recalled[:recalled.index("</li>")]
    assert "recalled</span>" in recalled and "secret" not in recalled
    assert "/recall/" not in recalled
    assert html.count('class="pc-recall"') == len(ELEMENTS) + 2


def test_the_timeline_pages_by_seq_newest_first_at_a_flat_query_count(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    for i in range(1, 121):
        _send(alice, "bob", [{"type": "TIMTextElem", "payload": {"text": f"n{i}."}}], i)
    support = staff_client("helpdesk", "support")
    support.get(_timeline(alice, bob))  # warm
    seen, url, counts = [], _timeline(alice, bob), []
    while url:
        with CaptureQueriesContext(connection) as queries:
            html = support.get(url).content.decode()
        counts.append(len(queries))
        seen += [int(n) for n in re.findall(r"n(\d+)\.", html)]
        older = re.search(r'href="\?before=(\d+)" class="pc-older"', html)
        url = f"{_timeline(alice, bob)}?before={older[1]}" if older else None
    assert seen == list(range(120, 0, -1))
    assert len(counts) == 3 and len(set(counts)) == 1, counts


def test_recall_from_the_timeline_is_a_post_with_csrf_and_audited(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    msg = _send(alice, "bob", [ELEMENTS["text"]], 1)
    support = staff_client("helpdesk", "support", enforce_csrf_checks=True)
    page = support.get(_timeline(alice, bob))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    recall = f"/admin/messaging/message/{msg.pk}/recall/"
    assert support.get(recall).status_code == 403  # never by a link
    assert support.post(recall, {"next": _timeline(alice, bob)}).status_code == 403  # no CSRF
    msg.refresh_from_db()
    assert not msg.is_revoked
    done = support.post(recall, {"csrfmiddlewaretoken": token,
                                 "next": _timeline(alice, bob) + "?before=5"})
    assert done.status_code == 302 and done["Location"] == _timeline(alice, bob) + "?before=5"
    msg.refresh_from_db()
    assert msg.is_revoked and msg.elements == []
    # Through message_revoke: both sides' devices learn it from their sync logs.
    assert SyncEntry.objects.filter(kind=SyncEntry.Kind.REVOKE, user__in=[alice, bob]).count() == 2
    entry = AuditEntry.objects.get(action="recall")
    assert entry.operator_name == "helpdesk" and entry.detail["pk"] == msg.pk
    assert entry.page == recall and entry.target == "alice -> bob"
    # A second recall changes nothing and says why; a foreign "next" is not followed.
    again = support.post(recall, {"csrfmiddlewaretoken": token, "next": "https://evil.test/"},
                         follow=True)
    assert b"already recalled" in again.content
    assert AuditEntry.objects.filter(action="recall").count() == 1


def test_staff_without_permissions_get_nothing(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    msg = _send(alice, "bob", [ELEMENTS["text"]], 1)
    nobody = staff_client("sam", None)
    for url in (_timeline(alice, bob), _timeline(alice, bob) + "export/",
                f"/admin/messaging/message/{msg.pk}/recall/",
                "/admin/messaging/message/timeline/987654/987655/",
                "/admin/messaging/message/987654/recall/"):
        assert nobody.get(url).status_code == 403, url
        assert nobody.post(url, {}).status_code == 403, url
    msg.refresh_from_db()
    assert not msg.is_revoked and not AuditEntry.objects.exists()


def test_ids_past_what_the_database_holds_are_not_found(make_user):
    support = staff_client("helpdesk", "support")
    huge = "9" * 23
    for url in (f"/admin/messaging/message/timeline/{huge}/3/",
                f"/admin/messaging/message/timeline/3/{huge}/export/",
                f"/admin/messaging/message/{huge}/recall/"):
        assert support.get(url).status_code == 404, url


def test_search_finds_words_by_prefix_and_uses_the_gin_index(make_user):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    texts = ["the quick brown fox", "a lazy dog", "Hello World", "你好世界 friends",
             "quick thinking"]
    for i, text in enumerate(texts, start=1):
        _send(alice, "bob", [{"type": "TIMTextElem", "payload": {"text": text}}], i)
    _send(bob, "carol", [ELEMENTS["file"]], 20)
    _send(carol, "alice", [ELEMENTS["merged"]], 21)

    def found(term):
        return sorted(m.seq for m in search_messages(Message.objects.all(), term)
                      if m.sender_id == alice.pk)

    assert found("quick") == [1, 5]
    assert found("QUICK fox") == [1]
    assert found("wor") == [3]  # a prefix
    assert found("你好") == [4]
    assert found("nothing-here") == []
    assert found("' & | ! :* \\") == []  # no words: nothing, and no error
    assert search_messages(Message.objects.all(), "report.pdf").get().sender_id == bob.pk
    assert search_messages(Message.objects.all(), "Chat alice").get().sender_id == carol.pk
    # The message list's search box: text, or a UserID.
    support = staff_client("helpdesk", "support")
    listed = support.get("/admin/messaging/message/", {"q": "quick"}).content.decode()
    assert "quick thinking" in listed and "lazy dog" not in listed
    listed = support.get("/admin/messaging/message/", {"q": "carol"}).content.decode()
    assert "[File]" in listed and "quick" not in listed
    # The timeline's box searches that dialog only.
    html = support.get(_timeline(alice, bob), {"q": "dog"}).content.decode()
    assert "a lazy dog" in html and "quick" not in html
    if connection.vendor == "postgresql":
        qs = search_messages(Message.objects.all(), "quick fox")
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            sql, params = qs.query.sql_with_params()
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "message_text_search_idx" in plan, plan


def _exported(response) -> dict:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert "attachment" in response["Content-Disposition"]
    return json.loads(b"".join(response).decode())


def test_export_is_the_history_apis_shape_bounded_and_audited(make_user, monkeypatch):
    alice, bob = make_user("alice"), make_user("bob")
    for i, element in enumerate(ELEMENTS.values(), start=1):
        _send(alice if i % 2 else bob, "bob" if i % 2 else "alice", [element], i)
    support = staff_client("helpdesk", "support")
    data = _exported(support.get(_timeline(alice, bob) + "export/"))
    history = message_page(viewer=alice, conversation_id="C2Cbob", count=100)["messageList"]
    assert data["messageList"] == history[::-1]  # newest first, the same dicts
    assert (data["conversationID"], data["count"], data["isCompleted"]) == \
        ("C2Cbob", len(ELEMENTS), True)
    entry = AuditEntry.objects.get(action="export conversation")
    assert entry.target == "alice -> bob" and entry.operator_name == "helpdesk"
    # At most EXPORT_MAX a file; nextBeforeSeq starts the next one.
    monkeypatch.setattr(admin_timeline, "EXPORT_MAX", 4)
    monkeypatch.setattr(admin_timeline, "EXPORT_CHUNK", 3)
    first = _exported(support.get(_timeline(alice, bob) + "export/"))
    assert [m["seq"] for m in first["messageList"]] == [9, 8, 7, 6]
    assert first["isCompleted"] is False and first["nextBeforeSeq"] == 6
    rest = _exported(support.get(_timeline(alice, bob) + "export/?before=6"))
    assert [m["seq"] for m in rest["messageList"]] == [5, 4, 3, 2]
    last = _exported(support.get(_timeline(alice, bob) + "export/?before=2"))
    assert [m["seq"] for m in last["messageList"]] == [1] and last["isCompleted"] is True
    assert AuditEntry.objects.filter(action="export conversation").count() == 4
    # Unknown users: 404, after the permission check.
    assert support.get("/admin/messaging/message/timeline/987654/987655/export/") \
        .status_code == 404


def test_the_header_does_not_call_a_reply_a_read(make_user):
    """A reply moves the conversation's read marker past the peer's messages without
    reading them (the count stays): the header says so instead of "read up to"."""
    alice, bob = make_user("alice"), make_user("bob")
    for i in (1, 2):
        _send(bob, "alice", [{"type": "TIMTextElem", "payload": {"text": f"q{i}"}}], i)
    _send(alice, "bob", [{"type": "TIMTextElem", "payload": {"text": "a reply"}}], 3)
    html = staff_client("helpdesk", "support").get(_timeline(alice, bob)).content.decode()
    header = re.search(r'<p class="pc-people">(.*?)</p>', html, re.S)[1]
    assert "(unread 2, read or replied up to seq 3)" in " ".join(header.split())
    assert "read up to" not in header


def test_rows_stored_before_the_checks_link_http_in_any_case_and_nothing_else(make_user):
    """Old rows (or imports) may hold any URL: HTTPS:// is a link (in lower case),
    JavaScript: and protocol-relative ones are not, nor those a browser reads as
    protocol-relative (a backslash or a tab for the second slash)."""
    alice, bob = make_user("alice"), make_user("bob")
    urls = ("HTTPS://files.example/Report.pdf", "JavaScript:alert(1)",
            "//evil.example/x.pdf", "/\\evil.example/x.pdf", "/\t/evil.example/x.pdf")
    message = _send(alice, "bob", [ELEMENTS["file"]] * len(urls), 1)
    elements = json.loads(json.dumps(message.elements))
    for element, url in zip(elements, urls, strict=True):
        element["payload"]["url"] = url
    Message.objects.filter(pk=message.pk).update(elements=elements)

    html = staff_client("helpdesk", "support").get(_timeline(alice, bob)).content.decode()
    assert 'href="https://files.example/Report.pdf"' in html
    assert "JavaScript:" not in html and "evil.example" not in html
    assert html.count("(no link)") == 4
