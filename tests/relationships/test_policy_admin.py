"""Operators in Django admin: the send policy (changed through the admin's HTTP form on a
real server, obeyed by the very next WebSocket send), and blocks, friendships, requests
and friend lists, whose admin writes go through the services so devices hear of them."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.parse
import urllib.request

import pytest
from django.contrib import admin as django_admin
from django.contrib.admin.models import LogEntry
from django.contrib.messages.storage.fallback import FallbackStorage
from django.test import Client, RequestFactory
from django.utils import timezone

from accounts.models import AllowType, SyncEntry, User
from chat_project.errors import ChatError
from messaging.models import Message
from relationships import services
from relationships.admin import FriendRequestAdmin
from relationships.models import Block, FriendGroup, FriendRequest, Friendship, SendPolicy
from tests.relationships.test_blocklist import befriend_both, log, rest, text

POLICY = "/admin/relationships/sendpolicy/"


class AdminBrowser:
    """A staff member's browser against a live server: session and CSRF cookies, forms."""

    def __init__(self, base_url: str):
        self.base = base_url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def _csrf(self) -> str:
        return next(c.value for c in self.jar if c.name == "csrftoken")

    def get(self, path: str) -> tuple[int, str, str]:
        with self.opener.open(self.base + path, timeout=10) as response:
            return response.status, response.geturl(), response.read().decode()

    def post(self, path: str, form: dict) -> tuple[int, str, str]:
        body = urllib.parse.urlencode({**form, "csrfmiddlewaretoken": self._csrf()}).encode()
        request = urllib.request.Request(self.base + path, data=body, method="POST")
        with self.opener.open(request, timeout=10) as response:
            return response.status, response.geturl(), response.read().decode()

    def login(self, user_id: str, password: str) -> None:
        self.get("/admin/login/")
        _, url, _ = self.post("/admin/login/?next=/admin/",
                              {"username": user_id, "password": password})
        assert url.endswith("/admin/"), url

    def set_policy(self, rule: str) -> None:
        status, url, page = self.get(POLICY)  # the list opens the one row's form
        assert status == 200 and url.endswith(f"{POLICY}1/change/"), url
        status, url, page = self.post(f"{POLICY}1/change/", {"rule": rule, "_save": "Save"})
        assert status == 200 and "errornote" not in page, page[:2000]


def rule_shown(page: str) -> str:
    return re.search(r'<option value="(\w+)" selected>', page).group(1)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_policy_change_in_admin_holds_for_the_very_next_send(live_server_url, connect,  # noqa: F811
                                                               make_user):
    User.objects.create_superuser("ops", password="ops-pass-1")
    alice, carol = make_user("alice"), make_user("carol")
    make_user("bob")
    Friendship.objects.create(owner=alice, friend=carol, add_time=timezone.now())  # one way
    a = connect("alice")
    c = connect("carol")
    ops = AdminBrowser(live_server_url)
    ops.login("ops", "ops-pass-1")
    assert rule_shown(ops.get(POLICY)[2]) == "anyone"  # the default, before any save

    def send(ws, to, n):
        reply = ws.request("sendMessage", {"to": to, "elements": text(f"m{n}"), "random": n})
        return 0 if reply["ok"] else reply["code"]

    # strangers may talk; the server has the rule cached after this
    assert send(a, "bob", 1) == 0
    ops.set_policy("friends")
    assert SendPolicy.objects.get().rule == "friends"
    assert send(a, "bob", 2) == 20009  # the very next send
    assert send(a, "carol", 3) == 0  # alice has carol: one way is enough
    assert send(c, "alice", 4) == 0
    ops.set_policy("friends_both")
    assert rule_shown(ops.get(POLICY)[2]) == "friends_both"
    assert send(a, "carol", 5) == 20010  # carol does not have alice
    assert send(c, "alice", 6) == 20011  # carol does not have alice
    assert send(a, "bob", 7) == 20009
    ops.set_policy("anyone")
    assert send(a, "bob", 8) == 0
    assert send(c, "alice", 9) == 0
    # a refused send stored nothing
    assert sorted(Message.objects.values_list("random", flat=True)) == [1, 3, 4, 8, 9]


# --- the other admin pages, in process -------------------------------------------------------

@pytest.fixture
def ops(db):
    User.objects.create_superuser("ops", password="ops-pass-1")
    client = Client()
    assert client.login(user_id="ops", password="ops-pass-1")
    return client


def names(user: User, since: int = 0) -> list[str]:
    return [name for name, _ in log(user, since)]


def head(user: User) -> int:
    return SyncEntry.objects.filter(user=user).count()


def run(django_capture_on_commit_callbacks, fn):
    with django_capture_on_commit_callbacks(execute=True):
        return fn()


@pytest.mark.django_db
def test_the_policy_page_is_one_row(ops):
    response = ops.get(POLICY)
    assert response.status_code == 302 and response.url == f"{POLICY}1/change/"
    assert ops.get(f"{POLICY}add/").status_code == 403
    assert ops.get(f"{POLICY}2/change/").status_code == 302  # no such row: back out
    assert ops.post(f"{POLICY}1/change/", {"rule": "nobody"}).status_code == 200  # invalid
    assert not SendPolicy.objects.exists()
    response = ops.post(f"{POLICY}1/change/", {"rule": "friends", "_save": "Save"})
    assert response.status_code == 302
    assert SendPolicy.current_rule() == "friends"
    assert ops.get(f"{POLICY}1/delete/").status_code == 403
    assert LogEntry.objects.filter(object_repr__contains="only friends").exists()


@pytest.mark.django_db
def test_a_block_added_in_admin_is_a_users_block(ops, make_user,
                                                 django_capture_on_commit_callbacks):
    alice, bob = make_user("alice"), make_user("bob")
    befriend_both(alice, bob)
    FriendRequest.objects.all().delete()
    before = {u.user_id: head(u) for u in (alice, bob)}
    response = run(django_capture_on_commit_callbacks, lambda: ops.post(
        "/admin/relationships/block/add/", {"owner": alice.pk, "blocked": bob.pk}))
    assert response.status_code == 302, response.content.decode()[:3000]
    block = Block.objects.get()
    assert (block.owner, block.blocked) == (alice, bob)
    assert not Friendship.objects.exists()
    assert names(alice, before["alice"]) == ["BLACKLIST_UPDATED", "FRIEND_LIST_UPDATED"]
    assert log(alice, before["alice"])[0][1] == ["bob"]
    assert names(bob, before["bob"]) == ["FRIEND_LIST_UPDATED"]
    # the service's rules, as form errors: already blocked, oneself
    for owner, blocked, needle in [(alice, bob, "already in the blocklist"),
                                   (alice, alice, "cannot block yourself")]:
        response = ops.post("/admin/relationships/block/add/",
                            {"owner": owner.pk, "blocked": blocked.pk})
        page = response.content.decode()
        assert response.status_code == 200 and page.count(needle) == 1, page
        # said once: not again by Django's check of the (owner, blocked) constraint
        assert "already exists" not in page
    assert Block.objects.count() == 1
    # a block is not edited in place
    page = ops.get(f"/admin/relationships/block/{block.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    # deleting it is block_remove: the owner's devices learn of it
    mark = head(alice)
    response = run(django_capture_on_commit_callbacks, lambda: ops.post(
        f"/admin/relationships/block/{block.pk}/delete/", {"post": "yes"}))
    assert response.status_code == 302
    assert not Block.objects.exists()
    assert log(alice, mark) == [("BLACKLIST_UPDATED", [])]


@pytest.mark.django_db
def test_bulk_deletes_go_through_the_services(ops, make_user,
                                              django_capture_on_commit_callbacks):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    services.block_add(owner=alice, user_ids=["bob", "carol"])
    services.block_add(owner=bob, user_ids=["carol"])
    marks = {u.user_id: head(u) for u in (alice, bob, carol)}
    response = run(django_capture_on_commit_callbacks, lambda: ops.post(
        "/admin/relationships/block/",
        {"action": "delete_selected", "_selected_action": list(
            Block.objects.exclude(owner=bob, blocked=carol).values_list("pk", flat=True))
         + list(Block.objects.filter(owner=bob).values_list("pk", flat=True)),
         "post": "yes"}))
    assert response.status_code == 302
    assert not Block.objects.exists()
    assert [data for _, data in log(alice, marks["alice"])][-1] == []
    assert log(bob, marks["bob"]) == [("BLACKLIST_UPDATED", [])]
    assert log(carol, marks["carol"]) == []


@pytest.mark.django_db
def test_friendships_requests_and_lists_are_deleted_through_the_services(
        ops, make_user, django_capture_on_commit_callbacks):
    alice, bob, carol, dave = (make_user(u) for u in ("alice", "bob", "carol", "dave"))
    befriend_both(alice, bob)
    befriend_both(alice, carol)
    assert ops.get("/admin/relationships/friendship/add/").status_code == 403
    one = Friendship.objects.get(owner=alice, friend=bob)
    assert 'name="_save"' not in ops.get(
        f"/admin/relationships/friendship/{one.pk}/change/").content.decode()

    marks = {u.user_id: head(u) for u in (alice, bob, carol)}
    response = run(django_capture_on_commit_callbacks, lambda: ops.post(
        f"/admin/relationships/friendship/{one.pk}/delete/", {"post": "yes"}))
    assert response.status_code == 302
    assert not Friendship.objects.filter(owner=alice, friend=bob).exists()
    assert Friendship.objects.filter(owner=bob, friend=alice).exists()  # one way only
    assert log(alice, marks["alice"]) == [
        ("FRIEND_LIST_UPDATED", {"added": [], "updated": [], "deleted": ["bob"]})]
    assert names(bob, marks["bob"]) == []

    both = Friendship.objects.get(owner=alice, friend=carol)
    response = run(django_capture_on_commit_callbacks, lambda: ops.post(
        "/admin/relationships/friendship/",
        {"action": "delete_both_ways", "_selected_action": [both.pk]}))
    assert response.status_code == 302
    assert not Friendship.objects.filter(owner__in=[alice, carol], friend__in=[alice, carol]) \
        .exists()
    assert names(carol, marks["carol"]) == ["FRIEND_LIST_UPDATED"]

    User.objects.filter(pk=dave.pk).update(allow_type=AllowType.NEED_CONFIRM)
    request = FriendRequest.objects.create(requester=alice, target=dave,
                                           created_at=timezone.now())
    assert ops.get("/admin/relationships/friendrequest/add/").status_code == 403
    marks = {u.user_id: head(u) for u in (alice, dave)}
    response = run(django_capture_on_commit_callbacks, lambda: ops.post(
        f"/admin/relationships/friendrequest/{request.pk}/delete/", {"post": "yes"}))
    assert response.status_code == 302
    assert not FriendRequest.objects.exists()
    assert names(alice, marks["alice"]) == ["FRIEND_APPLICATION_LIST_UPDATED"]
    assert names(dave, marks["dave"]) == ["FRIEND_APPLICATION_LIST_UPDATED"]

    group = FriendGroup.objects.create(owner=bob, name="old pals")
    mark = head(bob)
    response = run(django_capture_on_commit_callbacks, lambda: ops.post(
        f"/admin/relationships/friendgroup/{group.pk}/delete/", {"post": "yes"}))
    assert response.status_code == 302
    assert not FriendGroup.objects.exists()
    assert names(bob, mark) == ["FRIEND_GROUP_LIST_UPDATED"]


@pytest.mark.django_db
def test_a_refusal_of_a_service_is_a_message_not_an_error_page(ops, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    request = FriendRequest.objects.create(requester=alice, target=bob,
                                           created_at=timezone.now())
    # withdrawn by the user while the operator looked at it
    FriendRequest.objects.filter(pk=request.pk).delete()
    http = RequestFactory().post("/")
    http.user = User.objects.get(user_id="ops")
    http.session = {}
    http._messages = FallbackStorage(http)
    model_admin = FriendRequestAdmin(FriendRequest, django_admin.site)
    model_admin.delete_model(http, request)
    answer = model_admin.response_delete(http, str(request), request.pk)
    shown = [str(m) for m in http._messages]
    assert len(shown) == 1 and "(30614)" in shown[0] and "not deleted" in shown[0]
    assert answer["Location"] == "/admin/relationships/friendrequest/"  # the row is gone


@pytest.mark.django_db
def test_the_pages_open_for_operators_only(ops, make_user):
    alice, bob = make_user("alice", password="alice-pass"), make_user("bob")
    befriend_both(alice, bob)
    Block.objects.create(owner=alice, blocked=make_user("carol"), created_at=timezone.now())
    FriendRequest.objects.create(requester=make_user("dave"), target=alice,
                                 created_at=timezone.now())
    FriendGroup.objects.create(owner=alice, name="pals")
    pages = ["/admin/relationships/block/", "/admin/relationships/friendship/",
             "/admin/relationships/friendrequest/", "/admin/relationships/friendgroup/",
             "/admin/relationships/block/add/", f"{POLICY}1/change/",
             "/admin/relationships/block/?q=alice"]
    for page in pages:
        assert ops.get(page).status_code == 200, page
    user = Client()
    assert user.login(user_id="alice", password="alice-pass")
    for page in pages:
        assert user.get(page).status_code == 302, page


@pytest.mark.django_db
def test_the_policy_codes_through_rest(make_user):
    alice, carol = make_user("alice"), make_user("carol")
    make_user("bob")
    Friendship.objects.create(owner=alice, friend=carol, add_time=timezone.now())

    def send(sender, to, n):
        response = rest(sender).post("/api/v1/messages/", {"to": to, "elements": text("x"),
                                                           "random": n}, format="json")
        return 0 if response.status_code == 201 else response.json()["code"]

    services.send_policy_set(rule=SendPolicy.Rule.FRIENDS)
    assert [send("alice", "bob", 1), send("alice", "carol", 2), send("carol", "alice", 3)] \
        == [20009, 0, 0]
    services.send_policy_set(rule=SendPolicy.Rule.FRIENDS_BOTH)
    assert [send("alice", "carol", 4), send("carol", "alice", 5), send("bob", "alice", 6)] \
        == [20010, 20011, 20009]
    services.send_policy_set(rule=SendPolicy.Rule.ANYONE)
    assert send("bob", "alice", 7) == 0
    with pytest.raises(ChatError) as err:
        services.send_policy_set(rule="everyone")
    assert err.value.code == 910003
