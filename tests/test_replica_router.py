"""Read replicas in process: with none configured (the default) they cost nothing; the
router's rules. The real standby is in tests/test_replica.py."""

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from chat_project import replicas
from tests.messaging.test_api import client_for, history, send, text


@pytest.mark.django_db
def test_no_replica_configured_costs_no_query_and_no_redis_call(make_user, usersig):
    assert settings.DATABASE_REPLICAS == [] and not getattr(settings, "DATABASE_ROUTERS", [])
    assert "chat_project.replicas.AdminReadsFromReplica" not in settings.MIDDLEWARE
    alice, bob = make_user("alice"), make_user("bob")
    as_alice, as_bob = client_for(alice, usersig), client_for(bob, usersig)
    replicas._redis.cache_clear()
    with CaptureQueriesContext(connection) as queries:
        assert send(as_alice, elements=text("one")).status_code == 201
        page = as_bob.get(history("C2Calice")).json()
        assert [m["elements"] for m in page["messageList"]] == [text("one")]
        mine = as_alice.get(history("C2Cbob")).json()
        assert [m["elements"] for m in mine["messageList"]] == [text("one")]
    assert not [q["sql"] for q in queries.captured_queries if "wal_" in q["sql"]]
    assert replicas._redis.cache_info().currsize == 0  # no Redis client was ever made
    assert replicas.replica_for(alice.pk) is None


@pytest.mark.django_db(transaction=True)  # no test-wide transaction around it
def test_router_reads_from_the_chosen_copy_only_outside_transactions():
    router = replicas.ReplicaRouter()
    assert router.db_for_read(None) == "default"
    with replicas.reads_from("replica1"):
        assert router.db_for_read(None) == "replica1"
        assert router.db_for_write(None) == "default"
        with transaction.atomic():
            assert router.db_for_read(None) == "default"
        with replicas.reads_from(None):
            assert router.db_for_read(None) == "default"
        assert router.db_for_read(None) == "replica1"
    assert router.db_for_read(None) == "default"
    assert router.allow_migrate("default", "messaging") is True
    assert router.allow_migrate("replica1", "messaging") is False
