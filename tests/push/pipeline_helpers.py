"""What the offline-push pipeline tests share: a fake FCM (tests/push/fake_fcm.py) and
a real Celery worker on a queue of its own (tests/celery_worker.py) whose settings point
FCM at the fake, and helpers to send and to wait for what reaches the vendor."""

from __future__ import annotations

import time
from contextlib import contextmanager

from messaging.commands import Origin
from messaging.services import message_send
from push.models import PushAttempt, PushDelivery
from push.services import push_token_register

from .fake_fcm import FakeFcm


def text(body: str) -> list:
    return [{"type": "TIMTextElem", "payload": {"text": body}}]


@contextmanager
def fcm_and_worker(tmp_path, name: str, **env):
    from push.tasks import push_deliver
    from tests.celery_worker import celery_worker

    fake = FakeFcm()
    fake.server.start()
    try:
        with celery_worker(push_deliver.app, tmp_path, name,
                           CHAT_PUSH_FCM_CREDENTIALS=fake.service_account_json(),
                           CHAT_PUSH_FCM_BASE_URL=fake.server.url,
                           CHAT_PUSH_FCM_PROJECT_ID="", CHAT_PUSH_FCM_TOKEN_URL="",
                           CHAT_PUSH_HTTP_TIMEOUT="5", **env) as worker:
            worker.env_queue = worker.queue
            worker.wait_ready()
            yield fake, worker
    finally:
        fake.server.stop()


def fcm_token(user, device_id: str = "phone", token: str | None = None):
    return push_token_register(user=user, device_id=device_id, vendor="fcm",
                               token=token or f"fcm-{user.user_id}-{device_id}-" + "t" * 20)


def send(sender, to: str, elements=None, **kw) -> dict:
    return message_send(origin=Origin.USER, sender=sender, to=to,
                        elements=elements or text("hello"), random=kw.pop("random", None)
                        or int(time.time() * 1000) % 2**32, **kw)


def requests_to(fake: FakeFcm, token: str) -> list[dict]:
    return [r.json()["message"] for r in list(fake.send_requests)
            if r.json().get("message", {}).get("token") == token]


def wait_for(condition, timeout: float = 30.0, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or condition}")


def settle(fake: FakeFcm, sentinel_sender, sentinel_receiver) -> None:
    """Send a message that is pushed and wait until it reaches the fake: the worker runs
    one task at a time, in order, so whatever was queued before has been handled."""
    token = fcm_token(sentinel_receiver, "sentinel-phone").token
    before = len(requests_to(fake, token))
    send(sentinel_sender, sentinel_receiver.user_id, text("sentinel"))
    wait_for(lambda: len(requests_to(fake, token)) > before, what="the sentinel push")


def deliveries(user) -> list[PushDelivery]:
    return list(PushDelivery.objects.filter(user=user).order_by("pk"))


def attempts(user) -> list[PushAttempt]:
    return list(PushAttempt.objects.filter(user=user).order_by("pk"))
