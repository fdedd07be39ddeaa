"""Web Push through the whole offline-push pipeline (push/pipeline.py): a message sent and
committed here, delivered by a real Celery worker with the real `webpush` provider to the
test's own push service (tests/push/test_webpush.py), which verifies the VAPID JWT and
decrypts what arrives with the browser-side keys; a read withdraws it under the same
Topic; a 410 removes the token."""

from __future__ import annotations

import pytest

from messaging import changes
from push import vapid
from push.models import PushToken
from push.providers.webpush import topic
from push.services import push_token_register

from .pipeline_helpers import deliveries, send, text, wait_for
from .test_webpush import Browser, PushService, check_vapid, new_pair

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def webpush_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    from push.tasks import push_deliver
    from tests.celery_worker import celery_worker

    private, public = new_pair()
    with django_db_blocker.unblock():
        with celery_worker(push_deliver.app, tmp_path_factory.mktemp("webpush"), "webpush",
                           CHAT_VAPID_PRIVATE_KEY=private, CHAT_VAPID_PUBLIC_KEY=public,
                           CHAT_VAPID_SUBJECT="https://chat.example.com/contact",
                           CHAT_WEBPUSH_ALLOW_LOOPBACK="1",
                           CHAT_PUSH_HTTP_TIMEOUT="5") as worker:
            worker.wait_ready()
            yield worker, public


@pytest.fixture
def service(webpush_worker, settings):
    worker, _ = webpush_worker
    settings.CHAT_PUSH_QUEUE = worker.queue
    settings.CHAT_WEBPUSH_ALLOW_LOOPBACK = True  # registration in this process
    vapid.reset()
    service = PushService()
    yield service
    service.close()


def test_a_message_arrives_encrypted_and_a_read_withdraws_it(webpush_worker, service,
                                                             make_user):
    _, public = webpush_worker
    alice, bob = make_user("alice", nick="Alice"), make_user("bob", nick="Bob")
    browser = Browser(service.endpoint("bob-laptop"))
    push_token_register(user=bob, device_id="bob-laptop", vendor="webpush",
                        token=browser.subscription)
    sent = send(alice, "bob", text("see you at 8"))

    [got] = wait_for(lambda: list(service.requests), what="the push")
    claims = check_vapid(got["headers"], service.origin, public)
    assert claims["sub"] == "https://chat.example.com/contact"
    assert got["headers"]["Topic"] == topic(sent["ID"])
    assert got["headers"]["Urgency"] == "high"
    assert browser.decrypt(got["body"]) == {
        "title": "Alice", "body": "see you at 8", "conversationID": "C2Calice",
        "messageID": sent["ID"], "extension": "", "badge": 1}
    wait_for(lambda: deliveries(bob)[0].state == "delivered", what="delivered")

    changes.conversation_mark_read(user=bob, peer=alice)  # read on another device
    _, withdrawal = wait_for(lambda: len(service.requests) == 2 and list(service.requests),
                             what="the withdrawal")
    assert withdrawal["headers"]["Topic"] == got["headers"]["Topic"]
    assert browser.decrypt(withdrawal["body"]) == {
        "withdraw": True, "conversationID": "C2Calice", "messageID": sent["ID"]}


def test_a_gone_subscription_is_removed(webpush_worker, service, make_user):
    alice, bob = make_user("alice", nick="Alice"), make_user("bob", nick="Bob")
    browser = Browser(service.endpoint("unsubscribed"))
    push_token_register(user=bob, device_id="bob-laptop", vendor="webpush",
                        token=browser.subscription)
    service.replies.append((410, {}, 0.0))
    send(alice, "bob", text("anyone there?"))
    wait_for(lambda: service.requests, what="the push")
    wait_for(lambda: not PushToken.objects.filter(user=bob).exists(), what="token removed")
    assert len(service.requests) == 1  # not retried
