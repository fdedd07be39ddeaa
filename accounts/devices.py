"""Device logins: the multi-device policy, kicks, account deletion, and the
State.StateChange callback.

The login policy (one LoginPolicy row, edited in admin; read through a one-second memo
in each process) says how many devices of one user may be online at once. Platform
classes: mobile (iOS, Android, iPad), desktop (Windows, Mac, Linux, Unknown) and Web.

| mode | who is pushed out when a device logs in |
| --- | --- |
| per_platform (default) | the user's other socket on the same platform (iOS, Android, iPad, Windows, Mac, Linux; a client that names no platform, Unknown, is not limited) |
| single | every other mobile or desktop socket: one of them at a time |
| dual | the other socket of the same class: one mobile and one desktop |
| unlimited | nobody |

Web sessions (browser tabs) coexist up to `web_sessions` in every mode but unlimited (0:
no limit); beyond it the oldest tabs go. A login of the client of a socket that is
still open (the same `deviceID` and `instanceID`) always replaces that socket: it is the
same client reconnecting. The tabs of one browser share its `deviceID` (one Device row
per browser, kept by the page in localStorage) and differ by `instanceID` (one per
page load), so they coexist as separate web sessions. The one pushed out gets
`KICKED_OUT {"reason": "multipleDevice"}` and is closed (4001).

A kick (`user_kick`: /v4 im_open_login_svc/kick, the admin's "Kick out" action) bumps
`User.session_epoch` and closes every socket of the user with KICKED_OUT and the reason
(REST_API_Kick). Sockets logged in before the kick are closed; frames that still arrive
on them fail (70002, log in first). A web session holds the epoch it was signed in at
(`remember_session_epoch`, on Django's user_logged_in): a session cookie minted before
the kick no longer logs a socket in (910008), nor does a UserSig issued before it
(70001; one stamped in the kick's own second too); a newer UserSig logs in at once. The HTTP doors check the same: a kicked web
session is signed out at its next request (SessionEpochMiddleware), and the REST door's
UserSig header is refused as a socket's login is (70001). A kick's layer message can be
lost: a socket's sends are checked against its epoch in the send transaction too
(messaging/services.py, `_sender_now`), and after a channel-layer outage each socket
checks its account (chat_resync).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.db.models import F

from chat_project.errors import ChatError

from . import presence
from .events import layer_send_now, layer_send_on_commit, publish_on_commit, user_group
from .models import Device, LoginPolicy, User
from .presence import Conn
from .services import device_login, is_app_admin, sync_publish

log = logging.getLogger(__name__)

# Web SDK kick reasons (tencent-rest.md §15.2).
KICK_MULTIPLE_DEVICE = "multipleDevice"
KICK_REST_API = "REST_API_Kick"

MOBILE, DESKTOP, WEB = "mobile", "desktop", "web"
PLATFORM_CLASS = {"iOS": MOBILE, "Android": MOBILE, "iPad": MOBILE, "Windows": DESKTOP,
                  "Mac": DESKTOP, "Linux": DESKTOP, "Unknown": DESKTOP, "Web": WEB}

SESSION_EPOCH_KEY = "parley_session_epoch"


def platform_class(platform: str) -> str:
    return PLATFORM_CLASS.get(platform, DESKTOP)


# --- the policy ---------------------------------------------------------------------------

POLICY_MEMO_SECONDS = 1.0
_policy_memo: tuple[float, LoginPolicy] | None = None
_policy_lock = threading.Lock()


def login_policy() -> LoginPolicy:
    """The policy row (a default one when none was saved), at most a second old."""
    global _policy_memo
    memo = _policy_memo
    now = time.monotonic()
    if memo is not None and memo[0] > now:
        return memo[1]
    with _policy_lock:
        row = LoginPolicy.objects.order_by("pk").first() or LoginPolicy()
        _policy_memo = (now + POLICY_MEMO_SECONDS, row)
        return row


def login_policy_set(*, mode: str, web_sessions: int) -> LoginPolicy:
    """Change the one policy row (admin); logins in every process obey it within 1 s."""
    global _policy_memo
    if mode not in LoginPolicy.Mode.values:
        raise ChatError(910003, f"mode must be one of {LoginPolicy.Mode.values}")
    row = LoginPolicy.objects.order_by("pk").first() or LoginPolicy(pk=1)
    row.mode, row.web_sessions = mode, web_sessions
    row.save()
    _policy_memo = None
    return row


def conns_to_push_out(policy: LoginPolicy, new: Conn, live: list[Conn]) -> list[Conn]:
    """The user's other live sockets that the login `new` pushes out, by the policy."""
    others = [c for c in live if c.channel != new.channel]
    out = [c for c in others if c.client == new.client]
    rest = [c for c in others if c.client != new.client]
    mode = policy.mode
    if mode == LoginPolicy.Mode.UNLIMITED:
        return out
    cls = platform_class(new.platform)
    if cls == WEB:
        limit = policy.web_sessions
        tabs = sorted((c for c in rest if platform_class(c.platform) == WEB),
                      key=lambda c: c.logged_in_at)
        if limit and len(tabs) + 1 > limit:
            out += tabs[:len(tabs) + 1 - limit]
    elif mode == LoginPolicy.Mode.SINGLE:
        out += [c for c in rest if platform_class(c.platform) != WEB]
    elif mode == LoginPolicy.Mode.DUAL:
        out += [c for c in rest if platform_class(c.platform) == cls]
    elif new.platform in Device.EXCLUSIVE_PLATFORMS:  # per_platform
        out += [c for c in rest if c.platform == new.platform]
    return out


def devices_signed_out(*, user: User, policy: LoginPolicy, device_id: str,
                       platform: str) -> list[str]:
    """The user's other devices, online or not, that a login of `device_id` on
    `platform` signs out by the policy (conns_to_push_out's rule over the Device rows):
    their push tokens go, as an online one's do when its socket is pushed out, or a
    phone offline at the time would go on getting pushes while signed out. Browsers are
    never signed out so: the policy limits their sessions, not the browsers."""
    mode = policy.mode
    cls = platform_class(platform)
    if mode == LoginPolicy.Mode.UNLIMITED or cls == WEB:
        return []
    others = list(Device.objects.filter(user=user).exclude(device_id=device_id)
                  .values_list("device_id", "platform"))
    if mode == LoginPolicy.Mode.SINGLE:
        return [d for d, p in others if platform_class(p) != WEB]
    if mode == LoginPolicy.Mode.DUAL:
        return [d for d, p in others if platform_class(p) == cls]
    if platform in Device.EXCLUSIVE_PLATFORMS:  # per_platform
        return [d for d, p in others if p == platform]
    return []


# --- logging in ---------------------------------------------------------------------------

def device_connect(*, user: User, device_id: str, platform: str
                   ) -> tuple[Device, LoginPolicy, bool]:
    """A socket logs in: record the device; (the device, the policy, whether
    State.StateChange is on). The Device row is also what tells "offline" from "never
    logged in" (statusType 3) for a user who never signed in to the web pages. (A
    UserSig issued before the user's last kick is refused earlier, by
    accounts.services.user_login_with_usersig.)"""
    device = device_login(user=user, device_id=device_id, platform=platform)
    return device, login_policy(), state_change_enabled()


def since_trusted(*, device: Device, since: int | None) -> bool:
    """Whether a login's `since` may be replayed from: a since of 0 (or none) always;
    a higher one only from a device this account had seen before this login (its
    Device row existed). A since held by a device of a deleted account whose UserID
    was registered again is a position in another incarnation's sync log (the new
    one's seqs start again from 1): replaying the new log from it would put the new
    account's entries on top of the old state, so it gets SYNC_RESET. So does a device
    whose row the stale-device purge removed (a browser away past WEB_DEVICE_HOURS, a
    device away past DEVICE_DAYS): a reload, which its offline cache would mostly have
    cost it anyway."""
    return not since or not getattr(device, "is_new", False)


def remember_session_epoch(sender, request, user, **kwargs) -> None:
    """At every sign-in (web pages, admin): the session remembers the user's epoch."""
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_EPOCH_KEY] = getattr(user, "session_epoch", 0)


user_logged_in.connect(remember_session_epoch, dispatch_uid="parley-session-epoch")


class SessionEpochMiddleware:
    """HTTP doors (pages, the REST door's session auth, admin): a web session signed in
    before the user's last kick is signed out at its next request, as its sockets are
    (check_session_epoch). No query of its own: the user's row is the one Django's
    authentication loads for the request, and a request without a signed-in session
    does not load it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if SESSION_KEY in request.session:
            user = request.user
            if user.is_authenticated and \
                    request.session.get(SESSION_EPOCH_KEY, 0) != user.session_epoch:
                logout(request)
        return self.get_response(request)


def session_epoch_of(user_pk: int) -> int | None:
    """The user's session epoch now; None if the account is deleted or deactivated."""
    return User.objects.filter(pk=user_pk, is_active=True) \
        .values_list("session_epoch", flat=True).first()


def check_session_epoch(*, user: User, session) -> int:
    """910008 if the session was signed in before the user's last kick; else the epoch."""
    current = session_epoch_of(user.pk)
    signed_in_at = session.get(SESSION_EPOCH_KEY, 0) if session is not None else 0
    if current is None or signed_in_at != current:
        raise ChatError(910008, "this session was signed out (kicked); sign in again")
    return current


# --- kicks and deletion -------------------------------------------------------------------

def _kick_message(reason: str, **extra) -> dict:
    return {"type": "chat.kick", "reason": reason, "at": time.time(), **extra}


def user_kick(*, user: User, reason: str = KICK_REST_API) -> int:
    """Sign the user out everywhere: bump the session epoch and close every socket with
    KICKED_OUT {reason}; UserSigs issued before now no longer log in. Returns the new
    epoch.

    The sockets learn it from a layer message. When that cannot be published (Redis
    down or too slow), the epoch stays bumped and RealtimeUnavailable is raised after
    the commit: the door answers "busy, retry" rather than a success that left sockets
    open, and a retry kicks again. A socket whose server lost the channel layer checks
    the epoch itself once the layer is back (messaging/consumers.py, chat_resync)."""
    with transaction.atomic():
        now = int(time.time())
        User.objects.filter(pk=user.pk).update(session_epoch=F("session_epoch") + 1,
                                               kicked_at=now)
        epoch = User.objects.filter(pk=user.pk).values_list("session_epoch", flat=True).get()
        user.session_epoch, user.kicked_at = epoch, now
        layer_send_on_commit([(user_group(user.pk), _kick_message(reason, epoch=epoch))],
                             required=True)
    return epoch


# What the deleted account's peers lose lives in apps above this one (messaging: their
# conversation with it; relationships: the friend, the request, the block), and accounts
# imports neither: each registers a notice in its AppConfig.ready. A notice runs in the
# deletion's transaction before the rows go and returns a function that runs after,
# returning (sync events for sync_publish, live frames for publish_on_commit) that tell
# the peers' devices, online now or back later, what changed.
PeerNotice = Callable[[User], Callable[[], tuple[list, list]]]
_peer_notices: list[PeerNotice] = []


def on_user_delete(notice: PeerNotice) -> PeerNotice:
    """Register a notice for user_delete (see _peer_notices)."""
    if notice not in _peer_notices:
        _peer_notices.append(notice)
    return notice


def check_deletable(user: User) -> None:
    """ChatError 70402 for an account user_delete refuses (an app admin's)."""
    if is_app_admin(user.user_id):
        raise ChatError(70402, f"UserID {user.user_id!r} is an app admin "
                               "(CHAT_ADMIN_USERS): its account cannot be deleted")


def user_delete(*, user: User) -> None:
    """Delete an account (v4 account_delete): its sockets are closed (REST_API_Kick),
    its profile, devices, sync log, friends, requests, friend lists and blocks go, and so
    do its dialogs: the conversations with it and their messages leave the peers'
    lists and histories too (the message tables cascade from both users). The peers'
    devices are told in the same transaction's sync log (the notices registered with
    on_user_delete): the conversation isDeleted, the unread total, the friend, request
    and block gone. The UserID is free again: an import or a UserSig login registers a new, empty account.

    A kick that could not be published is not an error here (the account is gone; a
    retry would find nothing to delete): what a deleted user's socket can still do
    fails (its sends find no sender), and a socket whose server lost the channel layer
    closes once the layer is back (chat_resync finds no account).

    An app admin's account (CHAT_ADMIN_USERS) is refused, ChatError 70402 (Tencent has
    no code of its own for it): its dialogs hold every message sent as the app, from
    every user's history, and the seeded one is the console's superuser."""
    check_deletable(user)
    pk = user.pk
    with transaction.atomic():
        afters = [notice(user) for notice in _peer_notices]
        User.objects.filter(pk=pk).delete()
        logged, live = [], []
        for after in afters:
            events, frames = after()
            logged += events
            live += frames
        if logged:  # one statement locks every peer's sync head, sorted
            sync_publish(logged)
        publish_on_commit(live)
        layer_send_on_commit([(user_group(pk), _kick_message(KICK_REST_API, epoch=2**62))])
        transaction.on_commit(lambda: presence.forget_user(pk))


# --- status events ------------------------------------------------------------------------

def status_item(user_id: str, status_type: int, custom_status: str) -> dict:
    return {"userID": user_id, "statusType": status_type, "customStatus": custom_status}


def status_message(items: list[dict]) -> dict:
    """The layer message a subscribed socket turns into USER_STATUS_UPDATED."""
    return {"type": "chat.status", "items": items}


def status_to_subscribers(user_pk: int, user_id: str, status_type: int,
                          custom_status: str) -> tuple[str, dict]:
    """(group, layer message) that tells the sockets subscribed to this user its status:
    what every announcement publishes (this module's and accounts/announcer.py's)."""
    return (presence.status_group(user_pk),
            status_message([status_item(user_id, status_type, custom_status)]))


def status_announce(user_pk: int, user_id: str, status_type: int, *,
                    custom_status: str | None = None, to_self: bool = False) -> None:
    """Tell the sockets subscribed to this user (and with `to_self` the user's own
    devices) its status now. From sync code; the consumer sends its own."""
    if custom_status is None:
        custom_status = presence.presence_of([user_pk])[user_pk].custom_status
    to_subscribers = status_to_subscribers(user_pk, user_id, status_type, custom_status)
    batch = [to_subscribers]
    if to_self:
        batch.append((user_group(user_pk), to_subscribers[1]))
    layer_send_now(batch)


def statuses_announce(users: dict[int, str], status_type: int) -> None:
    """status_announce for several users ({pk: UserID}) at once: their custom statuses
    in one read, the announcements in one publish (one pipelined round trip per shard
    on Redis). The presence purge announces the users of a crashed server this way."""
    if not users:
        return
    now = presence.presence_of(users)
    layer_send_now([status_to_subscribers(pk, user_id, status_type, now[pk].custom_status)
                    for pk, user_id in users.items()])


def self_status_set(*, user: User, custom_status) -> dict:
    """setSelfStatus: the custom status (at most 100 bytes; "" clears it) reaches the
    user's devices and subscribers as USER_STATUS_UPDATED."""
    if not isinstance(custom_status, str) or "\x00" in custom_status:
        raise ChatError(910003, "customStatus must be a string")
    if len(custom_status.encode()) > presence.CUSTOM_STATUS_MAX_BYTES:
        raise ChatError(910003, f"customStatus is over {presence.CUSTOM_STATUS_MAX_BYTES} bytes")
    presence.set_custom_status(user.pk, custom_status)
    status_announce(user.pk, user.user_id, presence.STATUS_ONLINE,
                    custom_status=custom_status, to_self=True)
    return status_item(user.user_id, presence.STATUS_ONLINE, custom_status)


# --- State.StateChange (tencent-rest.md §14.2) ----------------------------------------

STATE_CHANGE = "State.StateChange"  # webhooks.STATE_CHANGE (webhooks imports late)


def state_change_enabled() -> bool:
    from . import webhooks

    return webhooks.is_enabled(STATE_CHANGE)


def state_change(*, user_id: str, action: str, reason: str, platform: str,
                 kicked: list[str] = (), client_ip: str = "") -> None:
    """Queue State.StateChange: action Login / Logout / Disconnect, reason Register /
    Unregister / LinkClose / TimeOut; `kicked` the platforms a login pushed out;
    `client_ip` the device's address (the query's ClientIP), when known."""
    from . import webhook_tasks, webhooks

    if not webhooks.is_enabled(STATE_CHANGE):
        return
    body = {"EventTime": int(time.time() * 1000),
            "Info": {"Action": action, "To_Account": user_id, "Reason": reason}}
    if kicked:
        body["KickedDevice"] = [{"Platform": p} for p in kicked]
    # The device's platform as is: webhooks.opt_platform names it as this callback
    # spells it (iOS is "IOS" here, Mac "macOS").
    webhook_tasks.after(STATE_CHANGE, body, platform=platform, client_ip=client_ip)
