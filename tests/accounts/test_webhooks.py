"""Webhooks (tencent-rest.md §14) against a real local HTTP receiver
(tests/webhook_receiver.py): the before-send verdicts, the timeout policies, the §14.1
query and signature, the cached configuration, after-callbacks with retries (in
process and through a real Celery worker), and the admin pages."""

from __future__ import annotations

import hashlib
import subprocess
import time
import uuid

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts import webhook_tasks, webhooks
from accounts.models import User, WebhookAttempt, WebhookConfig
from accounts.webhook_tasks import deliver_after
from tests import webhook_receiver as receiver
from tests.celery_worker import celery_worker
from tests.webhook_receiver import Reply, use_webhooks

webhook_receiver = receiver.webhook_receiver  # the fixture

BODY = {"From_Account": "alice", "To_Account": "bob", "MsgSeq": 7, "MsgRandom": 42,
        "MsgTime": 1732201234, "MsgKey": "7_42_1732201234", "OnlineOnlyFlag": 0,
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}],
        "CloudCustomData": ""}
NEW_BODY = [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "h*"}}]

pytestmark = pytest.mark.django_db


def ask(platform="Web"):
    return webhooks.before_send(dict(BODY), platform=platform)


# --- off ------------------------------------------------------------------------------

def test_off_by_default_allows_without_a_call_or_a_query(webhook_receiver):
    assert not WebhookConfig.objects.exists()
    assert ask() is webhooks.ALLOW  # the first one loads the (missing) row
    with CaptureQueriesContext(connection) as ctx:
        for _ in range(100):
            assert ask() is webhooks.ALLOW
            assert not webhooks.is_enabled(webhooks.BEFORE_SEND)
    assert ctx.captured_queries == []
    assert webhook_receiver.requests == []
    assert not WebhookAttempt.objects.exists()


@pytest.mark.parametrize("config", [
    {"enabled": False},                                   # switched off
    {"callbacks": [webhooks.AFTER_SEND]},                 # before-send not ticked
    {"url": ""},                                          # no URL
])
def test_a_callback_that_is_off_makes_no_call(webhook_receiver, config):
    use_webhooks(webhook_receiver, **config)
    assert not webhooks.is_enabled(webhooks.BEFORE_SEND)
    with CaptureQueriesContext(connection) as ctx:
        assert ask() is webhooks.ALLOW
    assert ctx.captured_queries == []
    assert webhook_receiver.requests == []


# --- the verdicts ---------------------------------------------------------------------

@pytest.mark.parametrize("reply, expected", [
    (Reply.code(0), ("allow", 0, None, None)),
    (Reply.code(0, MsgBody=NEW_BODY, CloudCustomData="checked"),
     ("allow", 0, NEW_BODY, "checked")),
    # A malformed replacement is ignored: the original message goes out.
    (Reply.code(0, MsgBody=[{"MsgType": "TIMTextElem"}], CloudCustomData=5),
     ("allow", 0, None, None)),
    (Reply.code(0, MsgBody="hello"), ("allow", 0, None, None)),
    (Reply.code(1, "nope"), ("reject", 20006, None, None)),
    (Reply.code(2), ("drop", 0, None, None)),
    (Reply.code(120001, "no swearing"), ("reject", 120001, None, None)),
    (Reply.code(130000, "last of the range"), ("reject", 130000, None, None)),
])
def test_before_send_verdicts(webhook_receiver, reply, expected):
    use_webhooks(webhook_receiver, before_send_on_timeout="block")
    webhook_receiver.answer(reply)
    verdict = ask()
    assert (verdict.action, verdict.code, verdict.msg_body, verdict.cloud_custom_data) \
        == expected
    if verdict.code >= 120001:
        assert verdict.info == reply_info(reply)
    if verdict.code == 20006:
        assert verdict.info == "the before-send webhook rejected the message"
    [attempt] = WebhookAttempt.objects.all()
    assert (attempt.command, attempt.outcome, attempt.http_status, attempt.attempt) == (
        webhooks.BEFORE_SEND, "ok", 200, 1)
    assert attempt.body == {"CallbackCommand": webhooks.BEFORE_SEND, **BODY}


def reply_info(reply: Reply) -> str:
    import json
    return json.loads(reply.body)["ErrorInfo"]


FAILURES = [
    pytest.param(Reply.http(500), "failed", 500, id="http-500"),
    pytest.param(Reply.http(404, b'{"ErrorCode": 1}'), "failed", 404, id="http-404-json"),
    pytest.param(Reply.garbage(), "failed", 200, id="not-json"),
    pytest.param(Reply(body=b"[0]"), "failed", 200, id="json-not-object"),
    pytest.param(Reply.hang(3), "timeout", None, id="hangs"),
    # Answers at once, then a header line every 0.1 s: no single read waits long, the
    # whole answer takes 3 s. The deadline is the exchange's, not each read's.
    pytest.param(Reply.drip(3), "timeout", None, id="drips-its-headers"),
]
# ErrorCodes outside the catalogue are treated as a failed call too.
ODD_CODES = [
    pytest.param(Reply.code(3), id="code-3"),
    pytest.param(Reply.code(120000), id="code-120000"),
    pytest.param(Reply.code(130001), id="code-130001"),
    pytest.param(Reply(body=b'{"ErrorInfo": "no code"}'), id="no-code"),
]


@pytest.mark.parametrize("reply, outcome, status", FAILURES)
@pytest.mark.parametrize("policy", ["deliver", "block"])
def test_a_failed_call_follows_the_timeout_policy(webhook_receiver, reply, outcome, status,
                                                  policy):
    use_webhooks(webhook_receiver, timeout_ms=300, before_send_on_timeout=policy, retries=3)
    webhook_receiver.answer(reply)
    started = time.monotonic()
    verdict = ask()
    took = time.monotonic() - started
    if policy == "deliver":
        assert verdict == webhooks.ALLOW
    else:
        assert (verdict.action, verdict.code) == ("reject", 80003)
    assert took < 1.5  # bounded by timeout_ms (0.3 s), not by the receiver's 3 s
    [attempt] = WebhookAttempt.objects.all()  # before-send is never retried
    assert (attempt.outcome, attempt.http_status) == (outcome, status)
    assert attempt.error
    if outcome == "timeout":
        assert 250 <= attempt.duration_ms <= 1500
    assert len(webhook_receiver.wait_for(1)) == 1


@pytest.mark.parametrize("reply", ODD_CODES)
@pytest.mark.parametrize("policy, expected", [("deliver", ("allow", 0)),
                                              ("block", ("reject", 80003))])
def test_an_unknown_error_code_follows_the_timeout_policy(webhook_receiver, reply, policy,
                                                          expected):
    use_webhooks(webhook_receiver, before_send_on_timeout=policy)
    webhook_receiver.answer(reply)
    verdict = ask()
    assert (verdict.action, verdict.code) == expected


def test_an_unreachable_url_follows_the_policy_at_once():
    with socket_closed_port() as port:
        use_webhooks(f"http://127.0.0.1:{port}/hook", before_send_on_timeout="block")
        started = time.monotonic()
        assert ask().code == 80003
        assert time.monotonic() - started < 1
    [attempt] = WebhookAttempt.objects.all()
    assert attempt.outcome == "failed" and "Connection" in attempt.error


class socket_closed_port:  # noqa: N801 - used as a context manager
    """A local port nothing listens on (bound, then closed)."""

    def __enter__(self):
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def __exit__(self, *exc):
        return False


@pytest.fixture
def tls_receiver(tmp_path):
    """An HTTPS receiver with a self-signed certificate for 127.0.0.1."""
    import shutil

    if not shutil.which("openssl"):
        pytest.skip("needs the openssl command")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    server = receiver.WebhookReceiver(tls=(str(cert), str(key))).start()
    yield server, cert
    server.stop()
    webhooks.invalidate()
    webhooks._tls_context.cache_clear()


def test_https_checks_the_certificate(tls_receiver, monkeypatch):
    server, cert = tls_receiver
    use_webhooks(server, before_send_on_timeout="block")
    server.answer(Reply.code(120002, "over TLS"))
    webhooks._tls_context.cache_clear()
    verdict = ask()  # a self-signed certificate is not trusted
    assert (verdict.action, verdict.code) == ("reject", 80003)
    assert "CERTIFICATE_VERIFY_FAILED" in WebhookAttempt.objects.get().error

    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # now it is
    webhooks._tls_context.cache_clear()
    assert (ask().code, len(server.requests)) == (120002, 1)
    assert server.requests[0].query["CallbackCommand"] == webhooks.BEFORE_SEND


# --- the request ----------------------------------------------------------------------

def test_the_request_carries_the_query_body_and_signature(webhook_receiver):
    use_webhooks(webhook_receiver, token="s3cret-token")
    before = int(time.time())
    webhooks.before_send(dict(BODY), platform="Android", client_ip="203.0.113.9")
    after = int(time.time())
    [request] = webhook_receiver.wait_for(1)
    assert request.method == "POST" and request.path == "/hook"
    query = request.query
    assert query["SdkAppid"] == str(settings.CHAT_SDKAPPID)
    assert query["CallbackCommand"] == "C2C.CallbackBeforeSendMsg"
    assert query["contenttype"] == "json"
    assert query["ClientIP"] == "203.0.113.9"
    assert query["OptPlatform"] == "Android"
    assert before <= int(query["RequestTime"]) <= after
    assert query["Sign"] == hashlib.sha256(
        ("s3cret-token" + query["RequestTime"]).encode()).hexdigest()
    assert request.body == {"CallbackCommand": "C2C.CallbackBeforeSendMsg", **BODY}
    assert request.headers["Content-Type"].startswith("application/json")


def test_no_token_no_signature_and_the_urls_own_query_is_kept(webhook_receiver):
    use_webhooks(webhook_receiver.url + "?app=parley&x=1")
    webhooks.before_send(dict(BODY), platform="tvOS")  # not a Tencent platform
    [request] = webhook_receiver.wait_for(1)
    assert "Sign" not in request.query and "RequestTime" not in request.query
    assert request.query["app"] == "parley" and request.query["x"] == "1"
    assert request.query["OptPlatform"] == "Unknown"
    assert request.query["CallbackCommand"] == webhooks.BEFORE_SEND


@pytest.mark.parametrize("command, platform, sent", [
    (webhooks.BEFORE_SEND, "iOS", "iOS"),
    (webhooks.BEFORE_SEND, "IOS", "iOS"),
    (webhooks.STATE_CHANGE, "iOS", "IOS"),     # Tencent's spelling for this one only
    (webhooks.STATE_CHANGE, "IOS", "IOS"),
    (webhooks.STATE_CHANGE, "Web", "Web"),
    (webhooks.AFTER_SEND, "RESTAPI", "RESTAPI"),
    (webhooks.AFTER_SEND, "", "Unknown"),
    (webhooks.AFTER_SEND, "Linux", "Unknown"),
])
def test_opt_platform(command, platform, sent):
    assert webhooks.opt_platform(command, platform) == sent


def test_sign_is_plain_sha256_of_token_and_time():
    assert webhooks.sign("xxx", "yyy") == hashlib.sha256(b"xxxyyy").hexdigest()


# --- the cached configuration ---------------------------------------------------------

def test_a_save_is_seen_at_once_in_this_process(webhook_receiver):
    assert not webhooks.is_enabled(webhooks.BEFORE_SEND)
    use_webhooks(webhook_receiver)
    assert webhooks.is_enabled(webhooks.BEFORE_SEND)
    row = WebhookConfig.objects.get()
    row.callbacks = [webhooks.AFTER_SEND]
    row.save()  # as the admin does
    assert not webhooks.is_enabled(webhooks.BEFORE_SEND)
    assert webhooks.is_enabled(webhooks.AFTER_SEND)
    row.delete()
    assert not webhooks.is_enabled(webhooks.AFTER_SEND)


def test_another_processs_save_is_seen_within_the_ttl(webhook_receiver, settings):
    settings.CHAT_WEBHOOK_CONFIG_TTL = 0.3
    use_webhooks(webhook_receiver)
    assert webhooks.is_enabled(webhooks.BEFORE_SEND)
    # What a save in another process does: the row changes and the shared cache entry
    # goes; this process still holds its memo.
    WebhookConfig.objects.update(enabled=False)
    cache.delete(webhooks._CACHE_KEY)
    assert webhooks.is_enabled(webhooks.BEFORE_SEND)
    time.sleep(0.35)
    assert not webhooks.is_enabled(webhooks.BEFORE_SEND)


def test_the_shared_cache_spares_the_database(webhook_receiver, settings):
    settings.CHAT_WEBHOOK_CONFIG_TTL = 0  # no memo: every call asks the shared cache
    use_webhooks(webhook_receiver, callbacks=[webhooks.AFTER_SEND])
    webhooks.is_enabled(webhooks.BEFORE_SEND)
    with CaptureQueriesContext(connection) as ctx:
        for _ in range(10):
            assert ask() is webhooks.ALLOW
    assert ctx.captured_queries == []
    cache.delete(webhooks._CACHE_KEY)
    with CaptureQueriesContext(connection) as ctx:
        ask()
        ask()
    assert len(ctx.captured_queries) == 1


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs the Redis cache")
def test_a_cache_outage_falls_back_to_the_database(webhook_receiver, settings):
    use_webhooks(webhook_receiver)
    caches = settings.CACHES
    with socket_closed_port() as port:
        settings.CACHES = {"default": dict(caches["default"],
                                           LOCATION=f"redis://127.0.0.1:{port}/0")}
        try:
            webhooks.invalidate()
            webhook_receiver.answer(Reply.code(1))
            assert ask().code == 20006
        finally:
            settings.CACHES = caches


# --- after-callbacks ------------------------------------------------------------------

@pytest.fixture
def eager():
    app = deliver_after.app
    was = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = was


AFTER_BODY = {"From_Account": "alice", "To_Account": "bob", "MsgKey": "k",
              "SendMsgResult": 0, "ErrorInfo": "send msg succeed", "UnreadMsgNum": 1}


def test_after_waits_for_the_commit_and_retries_a_failing_receiver(
        webhook_receiver, eager, django_capture_on_commit_callbacks):
    use_webhooks(webhook_receiver, [webhooks.AFTER_SEND], retries=3, timeout_ms=500)
    webhook_receiver.script(Reply.http(503), Reply.garbage())
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        webhook_tasks.after(webhooks.AFTER_SEND, AFTER_BODY, platform="Web")
        assert webhook_receiver.requests == []  # not before the commit
    assert len(callbacks) == 1
    requests = webhook_receiver.wait_for(3)
    assert len(requests) == 3
    assert all(r.query["CallbackCommand"] == webhooks.AFTER_SEND for r in requests)
    assert requests[0].query["OptPlatform"] == "Web"
    assert requests[0].body == {"CallbackCommand": webhooks.AFTER_SEND, **AFTER_BODY}
    attempts = list(WebhookAttempt.objects.order_by("attempt"))
    assert [(a.attempt, a.outcome, a.http_status) for a in attempts] == [
        (1, "failed", 503), (2, "failed", 200), (3, "ok", 200)]
    assert len({a.delivery_id for a in attempts}) == 1


def test_after_gives_up_after_the_configured_retries(
        webhook_receiver, eager, django_capture_on_commit_callbacks):
    use_webhooks(webhook_receiver, [webhooks.AFTER_SEND], retries=1, timeout_ms=300)
    webhook_receiver.answer(Reply.http(500))
    with django_capture_on_commit_callbacks(execute=True):
        webhook_tasks.after(webhooks.AFTER_SEND, AFTER_BODY)
    assert [a.outcome for a in WebhookAttempt.objects.order_by("attempt")] == [
        "failed", "failed"]
    assert len(webhook_receiver.requests) == 2
    assert webhook_receiver.requests[0].query["OptPlatform"] == "RESTAPI"


def test_in_process_a_timeout_ends_the_retries(
        webhook_receiver, eager, django_capture_on_commit_callbacks):
    """Tasks in process run in the caller's thread (a send, a login; on a socket, the
    thread every socket's database work shares): a receiver that does not answer holds
    it once, not once per retry (up to 10 × 30 s with the admin's bounds)."""
    use_webhooks(webhook_receiver, [webhooks.AFTER_SEND], retries=3, timeout_ms=300)
    webhook_receiver.answer(Reply.hang(3))
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        webhook_tasks.after(webhooks.AFTER_SEND, AFTER_BODY)
    assert time.monotonic() - started < 0.9
    assert [a.outcome for a in WebhookAttempt.objects.all()] == ["timeout"]


def test_after_is_a_no_op_when_that_callback_is_off(
        webhook_receiver, eager, django_capture_on_commit_callbacks):
    use_webhooks(webhook_receiver, [webhooks.BEFORE_SEND])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        webhook_tasks.after(webhooks.AFTER_SEND, AFTER_BODY)
    assert callbacks == []
    assert webhook_receiver.requests == [] and not WebhookAttempt.objects.exists()


def test_a_rolled_back_transaction_sends_nothing(
        webhook_receiver, eager, django_capture_on_commit_callbacks):
    use_webhooks(webhook_receiver, [webhooks.AFTER_SEND])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                webhook_tasks.after(webhooks.AFTER_SEND, AFTER_BODY)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
    assert callbacks == []
    assert webhook_receiver.requests == []


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (make test sets it)")
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_retries_with_backoff(webhook_receiver, settings, tmp_path):
    """Through Redis to a real Celery worker: two failures, then success; retry n+1
    waits retry_backoff_seconds * 2**n."""
    assert deliver_after.app.conf.task_always_eager is False
    use_webhooks(webhook_receiver, [webhooks.AFTER_SEND], retries=3, retry_backoff_seconds=1,
                 timeout_ms=500)
    webhook_receiver.script(Reply.http(500), Reply.hang(3))

    with celery_worker(deliver_after.app, tmp_path, "hooks") as worker:
        settings.CHAT_WEBHOOK_QUEUE = worker.queue
        # Sent once the worker listens; this task cannot simply be resent (it counts
        # attempts): sent again only if the worker never got it (no attempts then).
        worker.wait_ready()
        deadline = time.monotonic() + 60
        sent = 0.0
        while WebhookAttempt.objects.filter(outcome="ok").count() < 1:
            worker.check(deadline)
            if not sent or (time.monotonic() - sent > 10
                            and "deliver_after[" not in worker.log()):
                with transaction.atomic():
                    webhook_tasks.after(webhooks.AFTER_SEND, AFTER_BODY, platform="iOS")
                sent = time.monotonic()
            time.sleep(0.1)

    attempts = list(WebhookAttempt.objects.order_by("attempt"))
    assert [(a.attempt, a.outcome) for a in attempts] == [
        (1, "failed"), (2, "timeout"), (3, "ok")]
    assert len({a.delivery_id for a in attempts}) == 1
    requests = webhook_receiver.requests
    assert len(requests) == 3 and requests[0].query["OptPlatform"] == "iOS"
    # The waits, measured where the calls arrived: 1 s after the first failure, then
    # 2 s after the second one ended (the timeout of 0.5 s).
    gap1 = requests[1].at - requests[0].at
    gap2 = requests[2].at - requests[1].at
    assert 0.9 <= gap1 < 3, (gap1, gap2)
    assert 2.4 <= gap2 < 5, (gap1, gap2)


# --- retention ------------------------------------------------------------------------

def test_old_attempts_are_purged_in_batches(settings):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.webhook_tasks import purge_webhook_attempts

    now = timezone.now()
    ages = [9, 8, 1, 9, 0, 8, 9, 2]  # days; 9 before 1: ids only roughly follow time
    rows = [WebhookAttempt.objects.create(
        delivery_id=uuid.uuid4(), command=webhooks.AFTER_SEND, url="http://x/", body={},
        outcome="ok", created_at=now - timedelta(days=d, minutes=1)) for d in ages]
    kept = {r.pk for r, d in zip(rows, ages, strict=True) if d < 7}
    with CaptureQueriesContext(connection) as ctx:
        gone = webhooks.attempts_purge(before=now - timedelta(days=7), batch_size=3)
    assert gone == 5
    assert set(WebhookAttempt.objects.values_list("pk", flat=True)) == kept
    deletes = [q for q in ctx.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 3  # ids first..newest old one (7 rows), 3 at a time
    assert webhooks.attempts_purge(before=now - timedelta(days=7)) == 0

    settings.CHAT_WEBHOOK_ATTEMPT_DAYS = 1
    assert purge_webhook_attempts.apply().get() == 1 + 1  # the 1- and 2-day-old ones
    assert list(WebhookAttempt.objects.values_list("pk", flat=True)) == [rows[4].pk]


# --- admin ----------------------------------------------------------------------------

@pytest.fixture
def ops():
    User.objects.create_superuser("ops", password="ops-pass-1")
    client = Client()
    assert client.login(user_id="ops", password="ops-pass-1")
    return client


CONFIG_URL = "/admin/accounts/webhookconfig/"


def test_admin_config_is_a_singleton_with_callback_checkboxes(ops, webhook_receiver):
    assert ops.get(CONFIG_URL).url == CONFIG_URL + "add/"
    page = ops.get(CONFIG_URL + "add/")
    assert page.status_code == 200
    for name, _ in webhooks.CALLBACKS:
        assert f'value="{name}"'.encode() in page.content
    for name in ("Sns.CallbackPrevFriendAdd", "Sns.CallbackPrevFriendResponse"):
        assert f'value="{name}"'.encode() in page.content
    form = {"enabled": "on", "url": webhook_receiver.url, "token": "t",
            "callbacks": [webhooks.BEFORE_SEND, webhooks.AFTER_SEND], "timeout_ms": "800",
            "before_send_on_timeout": "block", "retries": "2", "retry_backoff_seconds": "3"}
    assert ops.post(CONFIG_URL + "add/", form).status_code == 302
    row = WebhookConfig.objects.get()
    assert row.callbacks == [webhooks.BEFORE_SEND, webhooks.AFTER_SEND]
    assert (row.timeout_ms, row.before_send_on_timeout, row.retries) == (800, "block", 2)
    # The save reached the cached configuration.
    assert webhooks.is_enabled(webhooks.BEFORE_SEND)
    webhook_receiver.answer(Reply.code(1))
    assert ask().code == 20006

    assert ops.get(CONFIG_URL).url == f"{CONFIG_URL}{row.pk}/change/"
    assert ops.get(CONFIG_URL + "add/").status_code == 403  # one row only
    change = ops.get(f"{CONFIG_URL}{row.pk}/change/")
    assert change.status_code == 200
    assert change.context["adminform"].form.initial["callbacks"] == [
        webhooks.BEFORE_SEND, webhooks.AFTER_SEND]
    form.update(callbacks=[webhooks.AFTER_SEND])
    assert ops.post(f"{CONFIG_URL}{row.pk}/change/", form).status_code == 302
    assert not webhooks.is_enabled(webhooks.BEFORE_SEND)
    assert ask() is webhooks.ALLOW


@pytest.mark.parametrize("change, field", [
    ({"url": ""}, b"a callback URL is needed"),
    ({"callbacks": ["No.SuchCallback"]}, b"Select a valid choice"),
    ({"timeout_ms": "0"}, b"greater than or equal to 100"),
])
def test_admin_config_refuses_bad_values(ops, change, field):
    form = {"enabled": "on", "url": "http://127.0.0.1:9/hook", "token": "",
            "callbacks": [webhooks.BEFORE_SEND], "timeout_ms": "2000",
            "before_send_on_timeout": "deliver", "retries": "0",
            "retry_backoff_seconds": "5", **change}
    page = ops.post(CONFIG_URL + "add/", form)
    assert page.status_code == 200 and field in page.content
    assert not WebhookConfig.objects.exists()


def test_admin_attempts_are_listed_filtered_searched_and_read_only(ops, webhook_receiver):
    use_webhooks(webhook_receiver, timeout_ms=300)
    webhook_receiver.script(Reply.code(0), Reply.http(500))
    ask()
    webhooks.before_send(dict(BODY, From_Account="zed-sender"), platform="Web")
    url = "/admin/accounts/webhookattempt/"
    page = ops.get(url)
    assert page.status_code == 200 and page.content.count(b"C2C.CallbackBeforeSendMsg") >= 2
    failed = ops.get(url, {"outcome": "failed"})
    assert failed.status_code == 200 and b"HTTP 500" in failed.content
    assert ops.get(url, {"outcome": "ok"}).content.count(b"HTTP 500") == 0
    assert ops.get(url, {"command": webhooks.BEFORE_SEND}).status_code == 200
    found = ops.get(url, {"q": "zed-sender"})
    assert found.status_code == 200 and b"1 webhook attempt" in found.content
    attempt = WebhookAttempt.objects.first()
    assert ops.get(f"{url}{attempt.pk}/change/").status_code == 200  # view only
    assert ops.post(f"{url}{attempt.pk}/change/", {"outcome": "ok"}).status_code == 403
    assert ops.get(url + "add/").status_code == 403



# --- a live server --------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_a_live_server_sees_a_change_within_about_a_second(connect, make_user,
                                                           webhook_receiver):
    """The server is another process: it keeps the configuration for up to
    CHAT_WEBHOOK_CONFIG_TTL (1 s); a save here reaches it within that."""
    make_user("alice"), make_user("bob")
    alice = connect("alice")
    counter = iter(range(1000, 2000))

    def send():
        return alice.request("sendMessage", {
            "to": "bob", "random": next(counter),
            "elements": [{"type": "TIMTextElem", "payload": {"text": "hi"}}]})

    first = send()
    assert first["ok"], first  # the server now holds "off"
    webhook_receiver.live = True  # the fixture waits for the server to forget it
    webhook_receiver.answer(Reply.code(120001, "not today"))
    saved = time.monotonic()
    use_webhooks(webhook_receiver, [webhooks.BEFORE_SEND])
    while (reply := send())["ok"]:
        assert time.monotonic() - saved < 3.0, "the server did not see the change"
        time.sleep(0.05)
    seen = time.monotonic() - saved
    assert (reply["code"], reply["message"]) == (120001, "not today")
    [request] = webhook_receiver.requests
    assert request.body["From_Account"] == "alice" and request.query["OptPlatform"]

    saved = time.monotonic()
    webhooks.config_set(enabled=False)
    while not (reply := send())["ok"]:
        assert time.monotonic() - saved < 3.0, "the server did not see the change"
        time.sleep(0.05)
    print(f"seen after {seen:.2f} s, then {time.monotonic() - saved:.2f} s")


def test_an_attempt_record_keeps_no_signature(webhook_receiver, eager,
                                              django_capture_on_commit_callbacks):
    """Attempt records are read by support staff in the admin: with the Sign of the
    call, a captured URL could be sent to the app again while its RequestTime is
    accepted. The record keeps the rest (command, RequestTime, outcome)."""
    use_webhooks(webhook_receiver, [webhooks.BEFORE_SEND, webhooks.AFTER_SEND],
                 token="s3cret-token")
    webhooks.before_send(dict(BODY), platform="Android")
    with django_capture_on_commit_callbacks(execute=True):
        webhook_tasks.after(webhooks.AFTER_SEND, AFTER_BODY)
    sent = [r.query for r in webhook_receiver.wait_for(2)]
    assert all(q["Sign"] for q in sent)  # the app still gets it
    attempts = list(WebhookAttempt.objects.order_by("pk"))
    assert [a.command for a in attempts] == [webhooks.BEFORE_SEND, webhooks.AFTER_SEND]
    for attempt, query in zip(attempts, sent, strict=True):
        assert "Sign" not in attempt.url and query["Sign"] not in attempt.url
        assert f"RequestTime={query['RequestTime']}" in attempt.url
        assert f"CallbackCommand={attempt.command}" in attempt.url
        assert attempt.outcome == "ok"
    # Nor when the call fails before it is made (its error quotes the URL).
    use_webhooks("ftp://127.0.0.1/hook", [webhooks.BEFORE_SEND], token="s3cret-token")
    webhooks.before_send(dict(BODY), platform="Android")
    failed = WebhookAttempt.objects.order_by("pk").last()
    assert failed.outcome == "failed" and "unsupported URL" in failed.error
    assert "Sign" not in failed.url + failed.error
