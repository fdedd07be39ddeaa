"""The embedded default (`make run`: SQLite, in-process layer, tasks in process) sends,
lists, reads and blocks with the same pipeline the PostgreSQL tests cover."""

from tests.embedded import run_embedded

SCRIPT = r"""
import django; django.setup()
from accounts.models import User
from messaging import selectors
from messaging.commands import Origin, SendCommand
from messaging.services import message_send, message_send_many
from messaging.changes import conversation_mark_read, message_revoke
from accounts.models import SyncEntry
from relationships import services as rel
from chat_project.errors import ChatError
alice, bob = User.objects.get(user_id="alice"), User.objects.get(user_id="bob")
carol = User.objects.get(user_id="carol")
text = [{"type": "TIMTextElem", "payload": {"text": "hi"}}]
unread_before = selectors.total_unread(bob)  # seed_demo's conversation (alice's line)
first = message_send(origin=Origin.USER, sender=alice, to="bob", elements=text, random=1)
assert message_send(origin=Origin.USER,
                    sender=alice, to="bob", elements=text, random=1)["ID"] == first["ID"]
results = message_send_many([SendCommand(origin=Origin.USER,
                                         sender=alice, to="bob", elements=text, random=i)
                             for i in (2, 3)])
assert [r["seq"] for r in results] == [first["seq"] + 1, first["seq"] + 2], results
assert selectors.conversation_list(user=bob)[0]["unreadCount"] == unread_before + 3
conversation_mark_read(user=bob, peer=alice)
assert selectors.total_unread(bob) == 0
rel.block_add(owner=bob, user_ids=["alice"])
try:
    message_send(origin=Origin.USER, sender=alice, to="bob", elements=text, random=4)
except ChatError as exc:
    assert exc.code == 20007
else:
    raise AssertionError("blocked send went through")
# An import older than what the conversation shows (importmsg: its own statement that
# puts back the newest last message; SQLite once refused its UPDATE ... c alias).
old = message_send(origin=Origin.IMPORT, sender=carol, to="alice", elements=text, random=9,
                   time=1_600_000_000)
newer = message_send(origin=Origin.USER, sender=carol, to="alice", elements=text, random=10)
message_send(origin=Origin.IMPORT, sender=carol, to="alice", elements=text, random=11,
             time=1_600_000_001)
[conv] = [c for c in selectors.conversation_list(user=alice) if c["userProfile"]["userID"] == "carol"]
assert conv["lastMessage"]["ID"] == newer["ID"], (conv, old, newer)
# A recall erases the copies the sync log holds (the database finds them: a LIKE on the
# payload's text, which SQLite runs on its JSON text).
secret = message_send(origin=Origin.USER, sender=carol, to="alice", random=12,
                      elements=[{"type": "TIMTextElem", "payload": {"text": "code 4711"}}])
conversation_mark_read(user=alice, peer=carol)
assert [e for e in SyncEntry.objects.all() if "code 4711" in str(e.payload)]
message_revoke(message_pk=int(secret["ID"].split("-")[0]), actor=None)
assert not [e for e in SyncEntry.objects.all() if "code 4711" in str(e.payload)]
# The purge takes 3 of dave's 5 unread messages: bob's count reads 2 (portable purge).
from datetime import timedelta
from django.utils import timezone
from messaging.models import Message
from messaging.services import history_purge
dave = User.objects.create(user_id="dave")
sent = [message_send(origin=Origin.USER, sender=dave, to="bob", elements=text, random=20 + n)
        for n in range(5)]
Message.objects.filter(pk__in=[int(m["ID"].split("-")[0]) for m in sent[:3]]).update(
    created_at=timezone.now() - timedelta(days=30))
assert history_purge(before=timezone.now() - timedelta(days=7), batch_size=2) >= 3
[conv] = [c for c in selectors.conversation_list(user=bob) if c["userProfile"]["userID"] == "dave"]
assert conv["unreadCount"] == 2, conv
# Message extensions: the compare-and-set upsert and the recall's drop on SQLite.
from messaging.extensions import extensions_get, extensions_set
from messaging.models import Extension
vote = message_send(origin=Origin.USER, sender=carol, to="alice", elements=text, random=30,
                    support_extension=True)
vote_pk = int(vote["ID"].split("-")[0])
assert [r.code for r in extensions_set(message_pk=vote_pk, actor=alice,
                                       items=[("a", "1", 0), ("b", "2", 0)])] == [0, 0]
assert [(r.code, r.value) for r in extensions_set(message_pk=vote_pk, actor=carol,
        items=[("a", "x", 0), ("b", "y", 1)])] == [(23001, "1"), (0, "y")]
page = extensions_get(message_pk=vote_pk, actor=carol)
assert [(e.key, e.value, e.seq) for e in page.extensions] == [("a", "1", 1), ("b", "y", 2)]
message_revoke(message_pk=vote_pk, actor=None)
assert not Extension.objects.filter(message_id=vote_pk).exists()
# The portable purge takes a message's reactions along (it left them behind).
from messaging.models import Reaction
from messaging.reactions import reaction_add
liked = message_send(origin=Origin.USER, sender=carol, to="alice", elements=text, random=31)
liked_pk = int(liked["ID"].split("-")[0])
reaction_add(message_pk=liked_pk, actor=alice, reaction_id="up")
Message.objects.filter(pk=liked_pk).update(created_at=timezone.now() - timedelta(days=30))
assert history_purge(before=timezone.now() - timedelta(days=7)) == 1
assert not Reaction.objects.filter(message_id=liked_pk).exists()
print("embedded ok")
"""


def test_embedded_sqlite_runs_the_pipeline(tmp_path):
    assert "embedded ok" in run_embedded(tmp_path, SCRIPT)
