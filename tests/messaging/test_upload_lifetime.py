"""Uploaded files are deleted from storage when no message refers to them any more:
recalled, modified away, deleted by both sides, purged with history, or never sent
within a day; a file forwarded in another message stays while that one does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.devices import user_delete
from messaging import changes
from messaging.commands import Origin
from messaging.models import Message, Upload, UploadUse
from messaging.services import history_purge, message_send
from messaging.tasks import purge_uploads
from messaging.upload_refs import delete_unused_uploads, upload_uuids, uploads_sweep
from tests.celery_worker import celery_worker
from tests.conftest import server_env
from tests.messaging.test_upload import image_bytes, storage_name, upload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def users(make_user):
    return {name: make_user(name) for name in ("alice", "bob", "carol")}


@pytest.fixture
def client(users, usersig):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"UserSig alice:{usersig('alice')}")
    return client


@pytest.fixture
def eager():
    """The tasks queued after a commit run here, as in the embedded default."""
    app = delete_unused_uploads.app
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def an_image(client) -> dict:
    return upload(client, "image", image_bytes((1440, 720)), name="photo.png").json()


def names(element) -> list[str]:
    payload = element["payload"]
    urls = [i["url"] for i in payload.get("imageInfoArray", [])] \
        + [payload[k] for k in ("url", "videoUrl", "thumbUrl") if payload.get(k)]
    return sorted({storage_name(u) for u in urls})


def on_storage(element) -> list[bool]:
    return [default_storage.exists(name) for name in names(element)]


def send(sender, to, element, random) -> int:
    sent = message_send(origin=Origin.USER, sender=sender, to=to, elements=[element], random=random)
    return int(sent["ID"].split("-", 1)[0])


def test_the_upload_record_knows_every_file(client, users):
    element = an_image(client)
    row = Upload.objects.get(uuid=element["payload"]["uuid"])
    assert sorted(row.names) == names(element) and len(row.names) == 3
    assert row.uploader == users["alice"] and row.kind == "image"
    assert row.delete_after > timezone.now() + timedelta(hours=23)  # unsent: a day
    send(users["alice"], "bob", element, 1)
    row.refresh_from_db()
    assert row.delete_after is None
    assert UploadUse.objects.filter(upload=row).count() == 1


def test_a_recalled_messages_files_are_deleted(client, users, eager,
                                               django_capture_on_commit_callbacks):
    element = an_image(client)
    pk = send(users["alice"], "bob", element, 1)
    assert on_storage(element) == [True, True, True]
    with django_capture_on_commit_callbacks(execute=True):
        changes.message_revoke(message_pk=pk, actor=users["alice"])
    assert on_storage(element) == [False, False, False]
    row = Upload.objects.get(uuid=element["payload"]["uuid"])
    # Its row stays for the day's quota, with nothing left to delete.
    assert row.is_gone and row.names == [] and row.size > 0


def test_a_file_forwarded_in_two_messages_survives_one_recall(
        client, users, eager, django_capture_on_commit_callbacks):
    element = an_image(client)
    first = send(users["alice"], "bob", element, 1)
    forward = send(users["bob"], "carol", element, 2)  # a forward reuses the element
    with django_capture_on_commit_callbacks(execute=True):
        changes.message_revoke(message_pk=first, actor=users["alice"])
    assert on_storage(element) == [True, True, True]
    assert Upload.objects.get(uuid=element["payload"]["uuid"]).delete_after is None
    with django_capture_on_commit_callbacks(execute=True):
        changes.message_revoke(message_pk=forward, actor=users["bob"])
    assert on_storage(element) == [False, False, False]


def test_a_file_inside_a_merged_message_counts_as_referred_to(
        client, users, eager, django_capture_on_commit_callbacks):
    element = an_image(client)
    first = send(users["alice"], "bob", element, 1)
    merged = {"type": "TIMRelayElem", "payload": {
        "title": "chat", "compatibleText": "[Chat History]", "abstractList": ["alice: [Image]"],
        "messageList": [{"from": "alice", "messageBody": [element]}]}}
    assert upload_uuids([merged]) == {element["payload"]["uuid"]}
    send(users["bob"], "carol", merged, 2)
    with django_capture_on_commit_callbacks(execute=True):
        changes.message_revoke(message_pk=first, actor=users["alice"])
    assert on_storage(element) == [True, True, True]


def test_a_file_in_a_merged_list_stored_apart_stays_while_the_list_is_read(
        client, users, eager, django_capture_on_commit_callbacks):
    """A list over 12 KB is stored apart (messaging/merged.py): its files are referred to
    by every message naming it (its own, a forward by downloadKey, a list nesting it)."""
    alice, bob, carol = users["alice"], users["bob"], users["carol"]
    element = an_image(client)
    first = send(alice, "bob", element, 1)
    padding = [{"from": "alice", "elements": [{"type": "TIMTextElem",
                                               "payload": {"text": "x" * 200}}]}] * 60
    relay = {"type": "TIMRelayElem", "payload": {
        "title": "chat", "compatibleText": "[Chat History]",
        "messageList": [{"from": "alice", "elements": [element]}, *padding]}}
    own = message_send(origin=Origin.USER, sender=bob, to="carol", elements=[relay], random=2)
    key = own["elements"][0]["payload"]["downloadKey"]
    assert "messageList" not in own["elements"][0]["payload"]
    # Forwarded by key, and nested by key in a list of carol's.
    forward = send(carol, "alice", {"type": "TIMRelayElem", "payload": {
        "title": "chat", "compatibleText": "c", "downloadKey": key}}, 3)
    nesting = {"type": "TIMRelayElem", "payload": {
        "title": "chat", "compatibleText": "c", "messageList": [
            *padding, {"elements": [{"type": "TIMRelayElem", "payload": {
                "title": "inner", "compatibleText": "c", "downloadKey": key}}]}]}}
    nest = send(carol, "bob", nesting, 4)
    uuid = element["payload"]["uuid"]
    assert UploadUse.objects.filter(upload__uuid=uuid).count() == 4
    for pk, actor in ((first, alice), (int(own["ID"].split("-")[0]), bob), (forward, carol)):
        with django_capture_on_commit_callbacks(execute=True):
            changes.message_revoke(message_pk=pk, actor=actor)
        assert on_storage(element) == [True, True, True]
    with django_capture_on_commit_callbacks(execute=True):
        changes.message_revoke(message_pk=nest, actor=carol)
    assert on_storage(element) == [False, False, False]


def test_a_link_to_the_file_anywhere_in_a_message_counts(
        client, users, eager, django_capture_on_commit_callbacks):
    """A forward rebuilt by a client with a uuid of its own, and a URL pasted in a text,
    refer to the file as much as the original element does."""
    element = an_image(client)
    first = send(users["alice"], "bob", element, 1)
    rebuilt = {"type": "TIMImageElem", "payload": dict(element["payload"],
                                                       uuid="client-made-uuid")}
    forward = send(users["bob"], "carol", rebuilt, 2)
    url = element["payload"]["imageInfoArray"][0]["url"]
    pasted = send(users["carol"], "alice", {"type": "TIMTextElem",
                                            "payload": {"text": f"look: {url}"}}, 3)
    for pk, actor in ((first, "alice"), (forward, "bob")):
        with django_capture_on_commit_callbacks(execute=True):
            changes.message_revoke(message_pk=pk, actor=users[actor])
        assert on_storage(element) == [True, True, True]
    with django_capture_on_commit_callbacks(execute=True):
        changes.message_revoke(message_pk=pasted, actor=users["carol"])
    assert on_storage(element) == [False, False, False]


def test_a_modify_that_drops_the_file_releases_it(client, users, eager,
                                                  django_capture_on_commit_callbacks):
    element, other = an_image(client), an_image(client)
    pk = send(users["alice"], "bob", element, 1)
    with django_capture_on_commit_callbacks(execute=True):
        changes.message_modify(message_pk=pk, actor=users["alice"], elements=[other])
    assert on_storage(element) == [False, False, False]
    assert on_storage(other) == [True, True, True]
    assert Upload.objects.get(uuid=other["payload"]["uuid"]).delete_after is None


def test_deleted_by_one_side_stays_deleted_by_both_goes(client, users, eager,
                                                        django_capture_on_commit_callbacks):
    element = an_image(client)
    pk = send(users["alice"], "bob", element, 1)
    message_id = Message.objects.get(pk=pk).public_id
    with django_capture_on_commit_callbacks(execute=True):
        changes.messages_delete(user=users["alice"], message_ids=[message_id])
    assert uploads_sweep() == 0
    assert on_storage(element) == [True, True, True]  # bob still has it
    with django_capture_on_commit_callbacks(execute=True):
        changes.messages_delete(user=users["bob"], message_ids=[message_id])
    assert on_storage(element) == [False, False, False]


def test_history_cleared_on_both_sides_deletes_the_files(client, users, eager,
                                                         django_capture_on_commit_callbacks):
    element = an_image(client)
    send(users["alice"], "bob", element, 1)
    later = an_image(client)
    with django_capture_on_commit_callbacks(execute=True):
        changes.conversation_clear_history(user=users["alice"], peer=users["bob"])
    assert on_storage(element) == [True, True, True]
    send(users["alice"], "bob", later, 2)  # after alice's clearing: she still sees it
    with django_capture_on_commit_callbacks(execute=True):
        changes.conversation_delete(user=users["bob"], peer=users["alice"])
    assert on_storage(element) == [False, False, False]
    assert on_storage(later) == [True, True, True]


def test_history_purge_releases_the_files_and_the_sweep_deletes_them(client, users):
    old, new = an_image(client), an_image(client)
    old_pk = send(users["alice"], "bob", old, 1)
    send(users["alice"], "bob", new, 2)
    Message.objects.filter(pk=old_pk).update(
        created_at=timezone.now() - timedelta(days=settings.CHAT_HISTORY_DAYS + 1))
    assert history_purge(before=timezone.now() - timedelta(days=settings.CHAT_HISTORY_DAYS)) == 1
    assert not UploadUse.objects.filter(message_id=old_pk).exists()
    assert purge_uploads.apply().get() == 1
    assert on_storage(old) == [False, False, False]
    assert on_storage(new) == [True, True, True]


def test_an_unsent_upload_goes_after_a_day_a_sent_one_stays(client, users):
    unsent, sent, fresh = an_image(client), an_image(client), an_image(client)
    send(users["alice"], "bob", sent, 1)
    day_ago = timezone.now() - timedelta(days=1, minutes=1)
    Upload.objects.filter(uuid__in=[unsent["payload"]["uuid"], sent["payload"]["uuid"]]) \
        .update(created_at=day_ago)
    Upload.objects.filter(uuid=unsent["payload"]["uuid"]).update(
        delete_after=day_ago + timedelta(seconds=settings.CHAT_UPLOAD_UNSENT_SECONDS))

    assert purge_uploads.apply().get() == 1
    assert on_storage(unsent) == [False, False, False]
    assert not Upload.objects.filter(uuid=unsent["payload"]["uuid"]).exists()  # past the day
    assert on_storage(sent) == [True, True, True]
    assert on_storage(fresh) == [True, True, True]  # unsent, but not for a day yet
    assert purge_uploads.apply().get() == 0  # idempotent


def test_the_sweep_goes_in_batches_and_spares_a_file_referred_to_again(client, users):
    elements = [an_image(client) for _ in range(5)]
    send(users["alice"], "bob", elements[0], 1)
    # As if a release had raced a forward: marked, but a message refers to it.
    Upload.objects.update(delete_after=timezone.now() - timedelta(seconds=1))
    assert uploads_sweep(batch_size=2) == 4
    assert [on_storage(e) == [True] * 3 for e in elements] == [True] + [False] * 4
    assert Upload.objects.get(uuid=elements[0]["payload"]["uuid"]).delete_after is None


def test_files_of_a_deleted_account_s_dialogs_go(client, users):
    element = an_image(client)
    send(users["alice"], "bob", element, 1)
    kept = an_image(client)
    send(users["alice"], "carol", kept, 2)
    user_delete(user=users["bob"])  # the dialog and its messages go by Django's cascade
    assert purge_uploads.apply().get() == 1
    assert on_storage(element) == [False, False, False]
    assert on_storage(kept) == [True, True, True]
    assert Upload.objects.get(uuid=kept["payload"]["uuid"]).delete_after is None


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (make test sets it)")
def test_a_real_worker_deletes_unsent_uploads(client, users, transactional_db, tmp_path,
                                              settings):
    settings.MEDIA_ROOT = server_env()["MEDIA_ROOT"]  # the worker's
    unsent = an_image(client)
    assert on_storage(unsent) == [True, True, True]
    Upload.objects.update(delete_after=timezone.now() - timedelta(seconds=1))
    assert purge_uploads.app.conf.task_always_eager is False
    with celery_worker(purge_uploads.app, tmp_path, "uploads") as worker:
        worker.run_until(lambda: not any(on_storage(unsent)),
                         lambda: purge_uploads.apply_async(queue=worker.queue))
    assert Upload.objects.get().is_gone


def test_a_file_uploaded_before_under_its_uploaders_number_still_serves_and_counts(
        client, users, eager, django_capture_on_commit_callbacks):
    """Files uploaded before the folders lost the uploader's pk keep their URLs
    (uploads/<user pk>/<uuid>/...): served, sent by their uploader as the element or
    as a link in a text (both refer to the upload), deleted when no message does."""
    alice = users["alice"]
    row = Upload.objects.create(uuid="0123456789abcdef0123456789abcdef", uploader=alice,
                                kind="sound", size=53, created_at=timezone.now(),
                                delete_after=timezone.now() + timedelta(days=1))
    name = default_storage.save(f"uploads/{alice.pk}/{row.uuid}/voice.mp3",
                                ContentFile(b"ID3" + b"\x01" * 50))
    Upload.objects.filter(pk=row.pk).update(names=[name])
    url = f"http://testserver{settings.MEDIA_URL}{name}"
    response = client.get(f"{settings.MEDIA_URL}{name}")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"ID3" + b"\x01" * 50

    element = {"type": "TIMSoundElem", "payload": {"uuid": row.uuid, "url": url,
                                                   "size": 53, "second": 2}}
    pasted = {"type": "TIMTextElem", "payload": {"text": f"again: {url}"}}
    sent = [client.post("/api/v1/messages/", {"to": "bob", "elements": [e], "random": i},
                        format="json") for i, e in enumerate((element, pasted), start=1)]
    assert [r.status_code for r in sent] == [201, 201], [r.json() for r in sent]
    row.refresh_from_db()
    assert row.delete_after is None and UploadUse.objects.filter(upload=row).count() == 2

    for response in sent:
        with django_capture_on_commit_callbacks(execute=True):
            changes.message_revoke(message_pk=int(response.json()["ID"].split("-", 1)[0]),
                                   actor=alice)
        assert default_storage.exists(name) == (response is sent[0])
