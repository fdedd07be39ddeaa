"""The send's statements are prepared once per connection (chat_project/db.py), with
generic plans; DB_PREPARED_STATEMENTS=0 (behind PgBouncer) prepares nothing."""

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from messaging.commands import Origin
from messaging.services import message_send

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL prepares"),
]

# What a lone send runs, each in a few words of its text (messaging/persist.py,
# accounts/services.py, accounts/locks.py, relationships/selectors.py, accounts/selectors.py).
SEND_STATEMENTS = ["FROM accounts_user WHERE user_id = ANY", "pg_advisory_xact_lock",
                   "relationships_sendpolicy", "INSERT INTO messaging_dialog",
                   "SELECT id FROM messaging_message WHERE created_at",
                   "INSERT INTO messaging_message", "INSERT INTO accounts_synchead",
                   "INSERT INTO messaging_conversation"]


def _send(sender, receiver, random):
    return message_send(origin=Origin.USER, sender=sender, to=receiver.user_id,
                        elements=[{"type": "TIMTextElem", "payload": {"text": "hi"}}],
                        random=random)


def _prepared() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def _fresh_connection():
    """The next query opens a new server connection (the pool keeps the old ones)."""
    connection.close()
    connection.close_pool()


def test_a_send_prepares_its_statements_once_per_connection(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    _fresh_connection()  # nothing prepared on it yet
    assert _prepared() == []
    first = _send(alice, bob, 1)
    prepared = _prepared()
    for words in SEND_STATEMENTS:
        assert [s for s in prepared if words in s], f"{words!r} was not prepared"
    with CaptureQueriesContext(connection) as ctx:  # still seen by Django's query log
        second = _send(alice, bob, 2)
    assert _prepared() == prepared  # the second send prepared nothing more
    assert second["seq"] == first["seq"] + 1
    assert any("INSERT INTO messaging_message" in q["sql"] for q in ctx.captured_queries)
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone() == ("force_generic_plan",)


@override_settings(DB_PREPARED_STATEMENTS=False)
def test_turned_off_a_send_prepares_nothing(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    _fresh_connection()
    _send(alice, bob, 1)
    _send(bob, alice, 2)
    assert _prepared() == []
