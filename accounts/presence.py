"""Online status: who is online, on which platforms, derived from socket heartbeats.

Each logged-in socket (a "connection") is an entry with an expiry time. The consumer
writes it at login, refreshes it from the socket's own traffic (at most once per
`ttl() / 3` seconds, and only when a frame came in since the last refresh: one Redis
round trip per heartbeat, never one per message), and removes it at a clean close. A
server that dies never removes its entries: they lapse `ttl()` seconds after their last
refresh (90 s by default, three times the web client's 30 s ping), and the user reads
as Offline from then on.

A user's status (tencent-rest.md §5, §15.2):
- Online: at least one connection has not lapsed.
- PushOnline: none has, but the push app marked a platform push-reachable within
  PUSH_ONLINE_DAYS (7) days (`set_push_reachable` / `clear_push_reachable`).
- Offline: neither.
The Web SDK's numbers: 1 online, 2 offline (PushOnline counts as offline there), 3
never logged in.

Status events (USER_STATUS_UPDATED to subscribers) mark the moments a user's first
connection appears and the last one goes. A connection goes by a clean close (`leave`)
or, when it lapsed, by the purge (`reap`, accounts/tasks.py, every minute), so a
crashed server's users are announced Offline within ttl() plus a minute. Status reads
never wait for the purge: a lapsed connection is simply not counted.

Storage: with REDIS_URL set, raw Redis (each change is one Lua script, atomic, so two
servers never both announce the same transition): a sorted set per user of its
connections scored by expiry, one sorted set of every connection (for the purge), a
hash per user of push-reachable platforms, a string per user for the custom status.
Keys live under the cache's KEY_PREFIX + ":presence:". Embedded mode (no Redis) is one
process, so a dictionary in this process holds the same structures, as the local-memory
cache would.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings

# Web SDK statusType values (TencentCloudChat.TYPES.USER_STATUS_*).
STATUS_ONLINE = 1
STATUS_OFFLINE = 2
STATUS_UNLOGINED = 3

ONLINE, PUSH_ONLINE, OFFLINE = "Online", "PushOnline", "Offline"
PUSH_ONLINE_DAYS = 7
CUSTOM_STATUS_MAX_BYTES = 100

# Tencent's platform names in query_online_status's Detail (tencent-rest.md §5).
TENCENT_PLATFORM = {"iOS": "iPhone", "Android": "Android", "Web": "Web", "Windows": "PC",
                    "Linux": "PC", "Unknown": "PC", "Mac": "Mac", "iPad": "iPad"}


def ttl() -> float:
    """Seconds a connection stays online after its last heartbeat (CHAT_PRESENCE_TTL)."""
    return max(1.0, float(settings.CHAT_PRESENCE_TTL))


def status_group(user_pk: int) -> str:
    """The channel-layer group of the sockets subscribed to this user's status."""
    return f"status.{user_pk}"


@dataclass(frozen=True)
class Conn:
    """One logged-in socket: its channel name, device, platform and login time, and
    the client instance on the device (a browser tab: the tabs of one browser share
    its deviceID and differ by instance; "" for a client that names none)."""

    channel: str
    device_id: str
    platform: str
    logged_in_at: float
    instance: str = ""

    @property
    def client(self) -> tuple[str, str]:
        """Which client this socket is: a login of the same one replaces it."""
        return self.device_id, self.instance

    def member(self) -> str:
        fields = [self.channel, self.device_id, self.platform, repr(self.logged_in_at)]
        if self.instance:
            fields.append(self.instance)
        return "\t".join(fields)

    @classmethod
    def parse(cls, member: str | bytes) -> Conn:
        if isinstance(member, bytes):
            member = member.decode()
        channel, device_id, platform, at, *instance = member.split("\t")
        return cls(channel, device_id, platform, float(at), instance[0] if instance else "")


@dataclass
class Presence:
    """What is known of one user now."""

    online: list[Conn] = field(default_factory=list)  # connections not lapsed
    push_platforms: list[str] = field(default_factory=list)  # push-reachable, no socket
    custom_status: str = ""

    @property
    def status(self) -> str:
        if self.online:
            return ONLINE
        return PUSH_ONLINE if self.push_platforms else OFFLINE

    def detail(self) -> list[dict]:
        """Tencent's Detail: one {Platform, Status} per platform, online ones first."""
        out: dict[str, str] = {}
        for conn in sorted(self.online, key=lambda c: c.logged_in_at):
            out.setdefault(TENCENT_PLATFORM.get(conn.platform, "PC"), ONLINE)
        for platform in self.push_platforms:
            out.setdefault(TENCENT_PLATFORM.get(platform, "PC"), PUSH_ONLINE)
        return [{"Platform": p, "Status": s} for p, s in out.items()]


# --- the two stores -----------------------------------------------------------------------

_JOIN = """
local n = redis.call('ZCARD', KEYS[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[4])
local first = 0
if n == 0 then first = 1 end
if ARGV[5] == '1' then
  return {first, redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf')}
end
return {first}
"""

_LEAVE = """
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[2])
if removed == 1 and redis.call('ZCARD', KEYS[1]) == 0 then return 1 end
return 0
"""

_REAP = """
local s = redis.call('ZSCORE', KEYS[2], ARGV[3])
if (not s) or tonumber(s) >= tonumber(ARGV[1]) then return {0, 0} end
redis.call('ZREM', KEYS[2], ARGV[3])
local removed = redis.call('ZREM', KEYS[1], ARGV[2])
local gone = 0
if removed == 1 and redis.call('ZCARD', KEYS[1]) == 0 then gone = 1 end
return {removed, gone}
"""


def _global_member(user_pk: int, conn: Conn) -> str:
    return f"{user_pk}\t{conn.member()}"


class _RedisStore:
    """Presence in Redis, shared by every server process."""

    def __init__(self, url: str):
        import redis
        import redis.asyncio

        self.url = url
        # Every call has a time limit (REDIS_TIMEOUT): a silent Redis fails a status
        # read or a heartbeat after it instead of hanging the request or the socket.
        self.timeouts = {"socket_timeout": settings.REDIS_TIMEOUT,
                         "socket_connect_timeout": settings.REDIS_CONNECT_TIMEOUT}
        self.sync = redis.Redis.from_url(url, **self.timeouts)
        self._async_mod = redis.asyncio
        self._async: dict[int, object] = {}
        self._scripts = {name: self.sync.register_script(src)
                         for name, src in (("join", _JOIN), ("leave", _LEAVE), ("reap", _REAP))}

    @staticmethod
    def prefix() -> str:
        # Read each time: tests give each run its own KEY_PREFIX.
        return f"{settings.CACHES['default'].get('KEY_PREFIX', '') or 'parley'}:presence"

    def keys(self, user_pk: int) -> tuple[str, str]:
        p = self.prefix()
        return f"{p}:c:{user_pk}", f"{p}:all"

    def _aclient(self):
        loop = asyncio.get_running_loop()
        entry = self._async.get(id(loop))
        if entry is None or entry[0] is not loop:
            # A blocking pool: when every connection is busy (2,000 sockets logging in
            # at once), a call waits for one instead of failing (redis-py's default
            # pool raises MaxConnectionsError past 100).
            pool = self._async_mod.BlockingConnectionPool.from_url(
                self.url, max_connections=64, timeout=20, **self.timeouts)
            client = self._async_mod.Redis(connection_pool=pool)
            entry = (loop, client, {name: client.register_script(src) for name, src in
                                    (("join", _JOIN), ("leave", _LEAVE))})
            self._async[id(loop)] = entry
        return entry[1], entry[2]

    # connections (the consumer, on its event loop)
    async def ajoin(self, user_pk: int, conn: Conn, *, now: float, expires: float,
                    want_live: bool) -> tuple[bool, list[Conn]]:
        _, scripts = self._aclient()
        res = await scripts["join"](keys=self.keys(user_pk), args=[
            now, expires, conn.member(), _global_member(user_pk, conn), "1" if want_live else "0"])
        live = [Conn.parse(m) for m in res[1]] if want_live else []
        return bool(res[0]), live

    async def acustoms(self, user_pks: list[int]) -> dict[int, str]:
        client, _ = self._aclient()
        values = await client.mget([f"{self.prefix()}:s:{pk}" for pk in user_pks])
        return {pk: v.decode() if v else "" for pk, v in zip(user_pks, values, strict=True)}

    async def aleave(self, user_pk: int, conn: Conn) -> bool:
        _, scripts = self._aclient()
        return bool(await scripts["leave"](keys=self.keys(user_pk), args=[
            conn.member(), _global_member(user_pk, conn)]))

    # the purge
    def lapsed(self, now: float, limit: int) -> list[tuple[int, Conn]]:
        members = self.sync.zrangebyscore(self.keys(0)[1], "-inf", f"({now}", start=0,
                                          num=limit)
        out = []
        for m in members:
            pk, _, rest = m.decode().partition("\t")
            out.append((int(pk), Conn.parse(rest)))
        return out

    def reap(self, user_pk: int, conn: Conn, now: float) -> tuple[bool, bool]:
        removed, gone = self._scripts["reap"](keys=self.keys(user_pk), args=[
            now, conn.member(), _global_member(user_pk, conn)])
        return bool(removed), bool(gone)

    # reads
    def snapshot(self, user_pks: list[int], now: float) -> dict[int, Presence]:
        p = self.prefix()
        pipe = self.sync.pipeline(transaction=False)
        for pk in user_pks:
            pipe.zrangebyscore(f"{p}:c:{pk}", now, "+inf")
            pipe.hgetall(f"{p}:p:{pk}")
            pipe.get(f"{p}:s:{pk}")
        res = pipe.execute()
        out = {}
        since = now - PUSH_ONLINE_DAYS * 86400
        for i, pk in enumerate(user_pks):
            conns, push, custom = res[3 * i:3 * i + 3]
            out[pk] = Presence(
                online=[Conn.parse(m) for m in conns],
                push_platforms=sorted(k.decode() for k, v in push.items() if float(v) >= since),
                custom_status=custom.decode() if custom else "")
        return out

    def online(self, now: float, limit: int) -> tuple[int, set[int]]:
        """Sockets online now and the users of the first `limit` of them (the global
        set: one ZCOUNT and one bounded range read, in one round trip)."""
        key = self.keys(0)[1]
        pipe = self.sync.pipeline(transaction=False)
        pipe.zcount(key, now, "+inf")
        pipe.zrangebyscore(key, now, "+inf", start=0, num=limit)
        sockets, members = pipe.execute()
        return sockets, {int(m.split(b"\t", 1)[0]) for m in members}

    # push markers and custom status
    def set_push(self, user_pk: int, platform: str, now: float) -> None:
        key = f"{self.prefix()}:p:{user_pk}"
        pipe = self.sync.pipeline(transaction=False)
        pipe.hset(key, platform, now)
        pipe.expire(key, PUSH_ONLINE_DAYS * 86400)
        pipe.execute()

    def clear_push(self, user_pk: int, platform: str | None) -> None:
        key = f"{self.prefix()}:p:{user_pk}"
        if platform is None:
            self.sync.delete(key)
        else:
            self.sync.hdel(key, platform)

    def set_custom(self, user_pk: int, text: str) -> None:
        key = f"{self.prefix()}:s:{user_pk}"
        if text:
            self.sync.set(key, text)
        else:
            self.sync.delete(key)

    def forget(self, user_pk: int) -> None:
        """Drop everything of a deleted account (its connections stay in the global set
        until the purge finds them lapsed, or the sockets close)."""
        p = self.prefix()
        self.sync.delete(f"{p}:p:{user_pk}", f"{p}:s:{user_pk}")


class _LocalStore:
    """Presence in this process (embedded mode: one process serves everything)."""

    url = ""

    def __init__(self):
        self.lock = threading.Lock()
        self.conns: dict[int, dict[str, float]] = {}
        self.push: dict[int, dict[str, float]] = {}
        self.custom: dict[int, str] = {}

    def _join(self, user_pk, conn, now, expires, want_live):
        with self.lock:
            mine = self.conns.setdefault(user_pk, {})
            first = not mine
            mine[conn.member()] = expires
            live = [Conn.parse(m) for m, exp in mine.items() if exp >= now] if want_live else []
            return first, live

    async def ajoin(self, user_pk, conn, *, now, expires, want_live):
        return self._join(user_pk, conn, now, expires, want_live)

    async def acustoms(self, user_pks):
        return {pk: self.custom.get(pk, "") for pk in user_pks}

    async def aleave(self, user_pk, conn):
        with self.lock:
            mine = self.conns.get(user_pk, {})
            removed = mine.pop(conn.member(), None) is not None
            if not mine:
                self.conns.pop(user_pk, None)
            return removed and not mine

    def lapsed(self, now, limit):
        with self.lock:
            out = [(pk, Conn.parse(m)) for pk, mine in self.conns.items()
                   for m, exp in mine.items() if exp < now]
        return out[:limit]

    def reap(self, user_pk, conn, now):
        with self.lock:
            mine = self.conns.get(user_pk, {})
            exp = mine.get(conn.member())
            if exp is None or exp >= now:
                return False, False
            del mine[conn.member()]
            if not mine:
                self.conns.pop(user_pk, None)
            return True, not mine

    def snapshot(self, user_pks, now):
        since = now - PUSH_ONLINE_DAYS * 86400
        with self.lock:
            return {pk: Presence(
                online=[Conn.parse(m) for m, exp in self.conns.get(pk, {}).items() if exp >= now],
                push_platforms=sorted(p for p, t in self.push.get(pk, {}).items() if t >= since),
                custom_status=self.custom.get(pk, "")) for pk in user_pks}

    def online(self, now, limit):
        with self.lock:
            live = {pk: sum(1 for exp in mine.values() if exp >= now)
                    for pk, mine in self.conns.items()}
        return sum(live.values()), set([pk for pk, n in live.items() if n][:limit])

    def set_push(self, user_pk, platform, now):
        with self.lock:
            self.push.setdefault(user_pk, {})[platform] = now

    def clear_push(self, user_pk, platform):
        with self.lock:
            if platform is None:
                self.push.pop(user_pk, None)
            else:
                self.push.get(user_pk, {}).pop(platform, None)

    def set_custom(self, user_pk, text):
        with self.lock:
            if text:
                self.custom[user_pk] = text
            else:
                self.custom.pop(user_pk, None)

    def forget(self, user_pk):
        with self.lock:
            self.push.pop(user_pk, None)
            self.custom.pop(user_pk, None)


_store = None
_store_lock = threading.Lock()


def store():
    """The presence store of this process (Redis when REDIS_URL is set)."""
    global _store
    url = getattr(settings, "REDIS_URL", "")
    current = _store
    if current is not None and getattr(current, "url", "") == url:
        return current
    with _store_lock:
        if _store is None or getattr(_store, "url", "") != url:
            _store = _RedisStore(url) if url else _LocalStore()
        return _store


# --- the connection's life (called by the consumer) ---------------------------------------

async def connection_open(user_pk: int, conn: Conn) -> tuple[bool, list[Conn]]:
    """Record a new socket; (the user just came online, the live connections now)."""
    now = time.time()
    return await store().ajoin(user_pk, conn, now=now, expires=now + ttl(), want_live=True)


async def connection_heartbeat(user_pk: int, conn: Conn) -> bool:
    """Push the socket's expiry on; True if it had been reaped and the user came back."""
    now = time.time()
    first, _ = await store().ajoin(user_pk, conn, now=now, expires=now + ttl(),
                                   want_live=False)
    return first


async def connection_close(user_pk: int, conn: Conn) -> bool:
    """Forget a socket that closed; True if it was the user's last one."""
    return await store().aleave(user_pk, conn)


async def custom_statuses_of(user_pks: list[int]) -> dict[int, str]:
    """Several users' custom statuses in one round trip, from async code."""
    return await store().acustoms(user_pks) if user_pks else {}


def reap_lapsed(*, now: float | None = None, limit: int = 1000) -> list[tuple[int, Conn, bool]]:
    """Remove connections whose heartbeat lapsed: [(user_pk, conn, user went offline)]."""
    now = time.time() if now is None else now
    out = []
    s = store()
    for pk, conn in s.lapsed(now, limit):
        removed, gone = s.reap(pk, conn, now)
        if removed:
            out.append((pk, conn, gone))
    return out


# --- reads ------------------------------------------------------------------------------

def presence_of(user_pks: Iterable[int]) -> dict[int, Presence]:
    """Each user's presence now, in one round trip."""
    pks = list(dict.fromkeys(user_pks))
    if not pks:
        return {}
    return store().snapshot(pks, time.time())


ONLINE_SCAN_MAX = 50_000  # connections one "who is online" read looks at


def online_now(*, limit: int = ONLINE_SCAN_MAX) -> tuple[int, set[int]]:
    """(sockets online now, the users of the first `limit` of them): one round trip, a
    bounded read (the console's dashboard and "online now" filter)."""
    return store().online(time.time(), limit)


def online_user_pks(*, limit: int = ONLINE_SCAN_MAX) -> set[int]:
    """The users with a live connection now, read from the first `limit` live
    connections (the operator console's "online now" filter)."""
    return online_now(limit=limit)[1]


# --- writes by other apps ---------------------------------------------------------------

def set_push_reachable(user_pk: int, platform: str) -> None:
    """The push app registered a token for this platform: the user reads PushOnline
    (when no socket is online) for PUSH_ONLINE_DAYS days from now."""
    store().set_push(user_pk, platform, time.time())


def clear_push_reachable(user_pk: int, platform: str | None = None) -> None:
    """The platform (every platform when None) can no longer be pushed to."""
    store().clear_push(user_pk, platform)


def set_custom_status(user_pk: int, text: str) -> None:
    store().set_custom(user_pk, text)


def forget_user(user_pk: int) -> None:
    store().forget(user_pk)


# --- statuses as the doors show them ------------------------------------------------------

def _users(user_ids: list[str]):
    from .models import Device, User
    from .selectors import could_exist

    users = {u.user_id: u for u in User.objects.filter(
        user_id__in=[u for u in user_ids if could_exist(u)]).only("id", "user_id", "last_login")}
    unsure = [u.pk for u in users.values() if u.last_login is None]
    has_device = set(Device.objects.filter(user_id__in=unsure).values_list("user_id", flat=True)
                     .distinct()) if unsure else set()
    return users, has_device


def status_type(user, presence: Presence, has_device: bool) -> int:
    if presence.online:
        return STATUS_ONLINE
    if user.last_login is None and not has_device:
        return STATUS_UNLOGINED
    return STATUS_OFFLINE


def user_status_list(user_ids: list[str]) -> dict:
    """getUserStatus: {successUserList: [{userID, statusType, customStatus}],
    failureUserList: [{userID, code, message}]} (70107 for an unknown UserID). Two
    queries and one Redis round trip for the whole list."""
    users, has_device = _users(user_ids)
    found = presence_of(u.pk for u in users.values())
    success, failure = [], []
    for user_id in dict.fromkeys(user_ids):
        user = users.get(user_id)
        if user is None:
            failure.append({"userID": user_id, "code": 70107,
                            "message": "UserID does not exist"})
            continue
        p = found[user.pk]
        success.append({"userID": user_id,
                        "statusType": status_type(user, p, user.pk in has_device),
                        "customStatus": p.custom_status})
    return {"successUserList": success, "failureUserList": failure}


def online_status(user_ids: list[str], *, need_detail: bool) -> tuple[list[dict], list[str]]:
    """/v4 query_online_status: ([{To_Account, Status, State[, Detail]}], unknown IDs)."""
    from .models import User
    from .selectors import could_exist

    users = {u.user_id: u.pk for u in User.objects.filter(
        user_id__in=[u for u in user_ids if could_exist(u)]).only("id", "user_id")}
    found = presence_of(users.values())
    results, unknown = [], []
    for user_id in dict.fromkeys(user_ids):
        pk = users.get(user_id)
        if pk is None:
            unknown.append(user_id)
            continue
        p = found[pk]
        item = {"To_Account": user_id, "Status": p.status, "State": p.status}
        if need_detail:
            item["Detail"] = p.detail()
        results.append(item)
    return results, unknown
