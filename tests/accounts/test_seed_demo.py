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


def test_seed_demo_gives_alice_and_bob_a_conversation_once(settings):
    from messaging.models import Message
    from messaging.selectors import conversation_list, total_unread
    from relationships.models import Friendship

    call_command("seed_demo", quiet=True)
    call_command("seed_demo", quiet=True)  # not twice
    alice, bob = User.objects.get(user_id="alice"), User.objects.get(user_id="bob")
    texts = list(Message.objects.filter(sender__in=[alice, bob], receiver__in=[alice, bob])
                 .order_by("seq").values_list("sender__user_id", "elements"))
    assert [s for s, _ in texts] == ["bob", "alice", "bob"]
    assert texts[0][1][0]["payload"]["text"].startswith("Hi Alice")
    assert Friendship.objects.filter(owner=alice, friend=bob).exists()
    assert Friendship.objects.filter(owner=bob, friend=alice).exists()
    # What alice's page lists first: bob, his last message, two unread.
    [conv] = conversation_list(user=alice)
    assert conv["conversationID"] == "C2Cbob" and conv["unreadCount"] == 2
    assert total_unread(alice) == 2
    carol = User.objects.get(user_id="carol")
    assert not Message.objects.filter(receiver=carol).exists()
    assert not Friendship.objects.filter(owner=carol).exists()
