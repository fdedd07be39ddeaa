"""`make run` seeds demo users a newcomer can sign in with at once."""

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.models import User
from accounts.usersig import check_usersig

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_users_and_prints_a_working_usersig(capsys, settings):
    call_command("seed_demo", url="http://127.0.0.1:9000")
    call_command("seed_demo", quiet=True)  # idempotent
    out = capsys.readouterr().out
    assert User.objects.filter(user_id__in=["alice", "bob", "carol"]).count() == 3
    admin = User.objects.get(user_id=settings.CHAT_ADMIN_USERS[0])
    assert admin.is_staff and admin.is_superuser
    assert str(settings.CHAT_SDKAPPID) in out and "http://127.0.0.1:9000/" in out
    sig = out.split("UserSig for alice (180 days): ")[1].split()[0]
    check_usersig("alice", sig)
    assert Client().login(user_id="bob", password="parley-demo")


def test_seed_demo_prints_a_working_v4_url(capsys, live_server_url, transactional_db):
    import json
    import urllib.request

    call_command("seed_demo", url=live_server_url)
    out = capsys.readouterr().out
    url = out.split("Tencent REST: ")[1].split()[0]
    assert url.startswith(f"{live_server_url}/v4/openim/sendmsg?")
    body = {"To_Account": "bob", "MsgRandom": 1,
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hello"}}]}
    with urllib.request.urlopen(urllib.request.Request(
            url, data=json.dumps(body).encode()), timeout=30) as response:
        answer = json.loads(response.read())
    assert answer["ActionStatus"] == "OK", answer
    assert answer["MsgKey"] and answer["MsgTime"] > 0
