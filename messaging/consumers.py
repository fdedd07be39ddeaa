"""The realtime door: one WebSocket per device, speaking PROTOCOL.md.

The consumer only translates frames: it parses a request, calls the service that owns
the action, and writes the reply or the error. Events come in from the channel layer
(`chat.events` -> `chat_events`) and go out as frames.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from uvicorn.protocols.utils import ClientDisconnected

from accounts import announcer, devices, presence
from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts import ws_ops as account_ops
from accounts.events import NO_DEVICE, user_group, with_prev_seq
from chat_project import unavailable, wire
from chat_project.errors import ChatError
from push import offline_info
from push import services as push_services
from relationships import ws_ops as relationship_ops

from . import layer_watch, message_ws, selectors
from .batching import batcher
from .commands import Origin, SendCommand

log = logging.getLogger(__name__)

# Close codes (4000-4999 are the application's).
CLOSE_LOGOUT = 1000
CLOSE_TOO_BIG = 1009  # RFC 6455 "message too big", as uvicorn's --ws-max-size closes
CLOSE_IDLE = 4000
CLOSE_KICKED = 4001
CLOSE_FLOOD = 4008


def _too_big(frame: str | bytes | None) -> bool:
    """Over CHAT_SOCKET_MAX_FRAME bytes: uvicorn started as README says refuses such a
    frame itself (--ws-max-size); this holds when it was started without the flag."""
    limit = settings.CHAT_SOCKET_MAX_FRAME
    if frame is None or len(frame) * 4 <= limit:  # a character is at most 4 UTF-8 bytes
        return False
    return len(frame) > limit or (isinstance(frame, str) and len(frame.encode()) > limit)


def _frame(text: str) -> dict | None:
    """A request frame as an object, or None for one that is not a JSON object."""
    try:
        frame = wire.loads(text)
    except wire.JSONDecodeError:
        return None
    return frame if isinstance(frame, dict) else None


def _request_id(frame: dict) -> str | int | None:
    rid = frame.get("id")
    return rid if isinstance(rid, str | int) and not isinstance(rid, bool) else None


def _device_group(user_pk: int, device_id: str, instance: str = "") -> str:
    """The group of one client's sockets (a device, or one instance on it: a tab)."""
    key = f"{device_id}\t{instance}" if instance else device_id
    return f"dev.{user_pk}.{hashlib.sha1(key.encode()).hexdigest()[:20]}"


_running: set[asyncio.Task] = set()


def _background(coro) -> asyncio.Task:
    """Run `coro` as a task of its own, referenced until it ends (the event loop keeps
    only a weak reference to a task)."""
    task = asyncio.get_running_loop().create_task(coro)
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task


INSTANCE_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


class ChatConsumer(AsyncWebsocketConsumer):
    user = None
    # The socket was closed, by us or by the client: nothing more can be written to it.
    # uvicorn raises ClientDisconnected into a write to a socket the client left, and
    # refuses one after our own close; either, let through, would end this consumer
    # without `disconnect` (presence would say Online for its TTL with nobody there).
    # So a write to an ended socket does nothing, and the websocket.disconnect that
    # uvicorn has queued by then runs `disconnect` as for any end.
    ended = False

    async def connect(self):
        self.user = None
        self.logged_in_at = float("inf")
        self.device_id = None
        # Presence (accounts/presence.py): this socket's entry, kept after a kick so
        # the close can remove it; subscriptions to others' status: {user pk: UserID}.
        self.conn: presence.Conn | None = None
        self.user_pk: int | None = None
        self.user_id: str | None = None
        self.epoch = 0
        self.touched = time.monotonic()
        self.closing: str | None = None  # why the server closes it: idle, flood, a kick reason
        self.status_subs: dict[int, str] = {}
        self.groups_joined: list[str] = []
        # The event chain (PROTOCOL.md "prevSeq"; see chat_events): every sync-log entry
        # up to `covered` was sent, replayed or deliberately not sent to this socket;
        # `told` is the seq the device holds as far as this socket knows.
        self.covered = 0
        self.told = 0
        self.replay_due: tuple[int | None, int] | None = None  # (since, head) after the reply
        # The login's since is from a device this account has not seen: SYNC_RESET.
        self.since_untrusted = False
        # The head at login: the entries after it were this socket's to send live.
        self.live_from: int | None = None
        self.last_frame = time.monotonic()
        self.tokens = float(settings.CHAT_SOCKET_RATE)
        self.token_time = time.monotonic()
        self.strikes = 0
        # The webhooks' ClientIP: the socket's peer (behind nginx, the client's address,
        # which uvicorn takes from X-Forwarded-For).
        self.client_ip = (self.scope.get("client") or ("",))[0] or ""
        await self.accept()
        self._arm_watch()

    async def disconnect(self, code):
        watchdog = getattr(self, "watchdog", None)
        if watchdog is not None:
            watchdog.cancel()
        conn, self.conn = getattr(self, "conn", None), None
        if conn is not None:
            try:
                if await presence.connection_close(self.user_pk, conn):
                    # Waited for a moment: a server shutting down closes every socket
                    # and then stops its loop, and the Offline must have left by then.
                    await announcer.settle(self._announce_status(presence.STATUS_OFFLINE),
                                           settings.CHAT_PUBLISH_TIMEOUT)
            except Exception:  # the entry lapses by itself; the purge announces it
                log.exception("presence close failed")
            action, reason = self._close_cause()
            if action:
                try:
                    await database_sync_to_async(devices.state_change)(
                        user_id=self.user_id, action=action, reason=reason,
                        platform=conn.platform, client_ip=self.client_ip)
                except Exception:
                    log.exception("State.StateChange failed")
        groups = list(getattr(self, "groups_joined", []))
        groups += [presence.status_group(pk) for pk in getattr(self, "status_subs", {})]
        for group in groups:
            await self.channel_layer.group_discard(group, self.channel_name)

    def _close_cause(self) -> tuple[str | None, str]:
        """State.StateChange's Action and Reason for this socket's end (§14.2)."""
        if self.closing == devices.KICK_MULTIPLE_DEVICE:
            return None, ""  # the login that pushed it out reports it (KickedDevice)
        if self.closing == "idle":
            return "Disconnect", "TimeOut"
        if self.closing in (None, "flood", "error"):
            return "Disconnect", "LinkClose"
        return "Logout", "Unregister"  # kicked by an operator or REST

    def _arm_watch(self) -> None:
        """The idle watch (`_watch`) in `tick` seconds: a timer handle per socket, not a
        sleeping task (a task and its frame are ~0.9 KB that every idle socket would
        hold; bench/README.md "Issue 13, fourth round")."""
        timeout = settings.CHAT_SOCKET_IDLE_TIMEOUT
        tick = min(timeout, 15, presence.ttl() / 3)
        self.watchdog = asyncio.get_running_loop().call_later(tick, self._watch)

    def _watch(self) -> None:
        """Close a silent socket; refresh this socket's presence (its heartbeat) when
        frames came in since the last refresh: one Redis call per ttl/3 at most."""
        now = time.monotonic()
        if now - self.last_frame > settings.CHAT_SOCKET_IDLE_TIMEOUT:
            self.closing = "idle"
            self.watchdog = None
            _background(self.close(code=CLOSE_IDLE))
            return
        if self.conn is not None and self.last_frame > self.touched:
            self.touched = now
            _background(self._heartbeat(self.conn))
        self._arm_watch()

    async def _heartbeat(self, conn: presence.Conn) -> None:
        try:
            if await presence.connection_heartbeat(self.user_pk, conn):
                self._announce_status(presence.STATUS_ONLINE)
        except Exception:
            log.exception("presence heartbeat failed")

    def _announce_status(self, status_type: int) -> asyncio.Future:
        """USER_STATUS_UPDATED to the sockets subscribed to this socket's user, sent with
        this process's other announcements (accounts/announcer.py)."""
        return announcer.announce(self.channel_layer, self.user_pk, self.user_id,
                                  status_type)

    # --- frames in --------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        self.last_frame = time.monotonic()
        if _too_big(text_data if text_data is not None else bytes_data):
            await self.close(code=CLOSE_TOO_BIG)
            return
        if not self._take_token(text_data):
            return
        if text_data is None:
            await self._send({"event": "ERROR", "data": ChatError(910002).as_dict()})
            return
        frame = _frame(text_data)
        if frame is None:
            await self._send({"event": "ERROR", "data": ChatError(910002).as_dict()})
            return
        rid = _request_id(frame)
        op = frame.get("op")
        handler = OPS.get(op) if isinstance(op, str) else None
        try:
            if handler is None:
                raise ChatError(910001, f"unknown op {op!r}")
            data = frame.get("data", {})
            if data is None:
                data = {}
            if not isinstance(data, dict):
                raise ChatError(910003, "data must be an object")
            if self.user is None and op not in ("login", "ping"):
                raise ChatError(70002, "log in first")
            result = await handler(self, data)
        except ChatError as exc:
            await self._reply_error(rid, exc)
            return
        except Exception as exc:
            log.exception("op %s failed", op)
            await self._reply_error(rid, unavailable.error_for(exc))  # 910503 or 20005
            return
        if rid is not None or op != "ack":
            await self._send({"id": rid, "ok": True, "data": result if result is not None else {}})
        await self._after_reply(op)

    def _take_token(self, text_data: str | None) -> bool:
        """Token bucket: a socket over its rate is answered 910005 (to the request's id,
        so a client waiting on it is not left waiting), then closed."""
        now = time.monotonic()
        rate = settings.CHAT_SOCKET_RATE
        self.tokens = min(rate, self.tokens + (now - self.token_time) * rate)
        self.token_time = now
        if self.tokens >= 1:
            self.tokens -= 1
            if self.tokens >= rate / 2:  # recovered: an old burst is forgiven
                self.strikes = 0
            return True
        self.strikes += 1
        if self.strikes > rate:
            self.closing = "flood"
            _background(self.close(code=CLOSE_FLOOD))
        else:
            frame = _frame(text_data) if text_data is not None else None
            rid = _request_id(frame) if frame is not None else None
            _background(self._reply_error(rid, ChatError(910005)))
        return False

    async def _reply_error(self, rid, exc: ChatError):
        if rid is None:
            await self._send({"event": "ERROR", "data": exc.as_dict()})
        else:
            await self._send({"id": rid, "ok": False, "code": exc.code, "message": exc.message})

    async def _send(self, frame: dict):
        await self.send(text_data=wire.dumps(frame))

    async def send(self, text_data=None, bytes_data=None, close=False):
        if self.ended:
            return
        try:
            await super().send(text_data, bytes_data)
        except ClientDisconnected:
            self.ended = True
            return
        if close:
            await self.close(close)

    async def close(self, code=None, reason=None):
        if self.ended:
            return
        self.ended = True
        try:
            await super().close(code, reason)
        except ClientDisconnected:
            pass

    async def dispatch(self, message):
        # Channels closes stale database connections before every handler, a hop to the
        # database thread per frame and per event. Every database call here goes
        # through database_sync_to_async, which does that itself, in that thread.
        #
        # A handler that fails unexpectedly (a bug, a malformed layer message, a
        # database error while catching up) must not end the consumer: an exception out
        # of here ends it without `disconnect`, leaving the socket's presence, groups and
        # State.StateChange behind. The socket is closed instead (1013 when a backing
        # service is unavailable, else 1011; the client reconnects with `since` and
        # misses nothing), and its disconnect runs.
        kind = message["type"]
        handler = getattr(self, get_handler_name(message), None)
        try:
            if handler is None:
                raise ValueError(f"no handler for message type {kind}")
            await handler(message)
        except Exception as exc:
            if isinstance(exc, StopConsumer) or kind in ("websocket.connect",
                                                         "websocket.disconnect"):
                raise  # before the accept: chat_project.unavailable.HandshakeGuard's
            busy = unavailable.is_unavailable(exc)
            if busy:
                log.warning("%s failed, a backing service is unavailable: %r", kind, exc)
            else:
                log.exception("%s failed", kind)
            self.closing = self.closing or "error"
            await self.close(code=unavailable.CLOSE_TRY_AGAIN if busy
                             else unavailable.CLOSE_INTERNAL)

    # --- events in --------------------------------------------------------------------

    async def chat_events(self, message):
        """Live events from the user's group, in the order they were published.

        Each seq-carrying frame goes out once, in seq order: one at or below `covered`
        (replayed at login or by `sync` while it was queued, or a repeat) is dropped.
        Its `prevSeq` is the seq the device should hold before it (`told`), unless an
        entry between is missing here (a publish lost or overtaken): then it is the
        publisher's previous entry, above what the device holds, and the device asks
        `sync`. Entries this socket must not get (its own send, which it has in its
        reply; roaming-only entries, marked NO_DEVICE) close the chain without a frame.
        Seqs are dense per user (accounts.services.sync_append) and every entry is
        published, as a frame or a marker, so the previous entry is always seq - 1.
        """
        if self.user is None:
            return
        skip = message.get("skip")
        for i, (seq, text) in enumerate(zip(message["seqs"], message["frames"], strict=True)):
            skipped = skip is not None and skip[i] in (self.channel_name, NO_DEVICE)
            if seq is None:
                if not skipped:
                    await self.send(text_data=text)
            elif seq > self.covered:
                contiguous = seq - 1 <= self.covered
                if skipped:
                    if contiguous:
                        self.covered = seq
                    continue  # a gap before it shows in the next frame's prevSeq
                prev = self.told if contiguous else seq - 1
                self.covered = self.told = seq
                await self.send(text_data=with_prev_seq(text, prev))

    async def chat_resync(self, message):
        """The channel layer was out (messaging/layer_watch.py): what was published then
        is lost, and no later event may come to show the gap. Send the device what this
        socket has not had, chained from what it holds; and the status, as it is now,
        of each user it subscribed to (an announcement published then is lost too).
        A kick published then is lost as well: the socket of a user kicked (or deleted,
        or deactivated) since it logged in is closed as the kick would have."""
        if self.user is None:
            return
        epoch = await database_sync_to_async(devices.session_epoch_of)(self.user.pk)
        if epoch is None or epoch > self.epoch:
            await self.chat_kick({"type": "chat.kick", "reason": devices.KICK_REST_API,
                                  "epoch": epoch if epoch is not None else 2**62})
            return
        head = await database_sync_to_async(account_selectors.sync_head)(self.user.pk)
        if head > self.covered:
            await self._replay(self.covered, head, ready=False, chain_from=self.told)
        if self.status_subs:
            now = await database_sync_to_async(presence.user_status_list)(
                list(self.status_subs.values()))
            if now["successUserList"] and self.user is not None:
                await self._send({"event": "USER_STATUS_UPDATED",
                                  "data": now["successUserList"]})

    async def chat_kick(self, message):
        if message.get("keep") == self.channel_name or self.user is None:
            return
        epoch = message.get("epoch")
        if epoch is not None:
            # A user kick (accounts.devices.user_kick) is for the sockets that logged
            # in with an older session epoch.
            if self.epoch >= epoch:
                return
        elif message.get("at", 0) < self.logged_in_at:
            # A device kick is for the sockets that were there when it was sent: one
            # still in flight must not push out a device that logged in after it.
            return
        self.closing = message["reason"]
        self.user = None  # frames still on their way get 70002
        await self._send({"event": "KICKED_OUT", "data": {"reason": message["reason"]}})
        await self.close(code=CLOSE_KICKED)

    async def chat_status(self, message):
        if self.user is not None:
            await self._send({"event": "USER_STATUS_UPDATED", "data": message["items"]})

    # --- ops --------------------------------------------------------------------------

    async def op_ping(self, data):
        return {}

    async def op_logout(self, data):
        """The user signs out on this device: the reply, then the socket closes (1000),
        and State.StateChange says Logout / Unregister rather than a lost link."""
        self.closing = "logout"
        user, self.user = self.user, None  # frames still on their way get 70002
        # Tencent sends no push to a device after it logged out.
        await database_sync_to_async(push_services.push_tokens_forget)(
            user=user, device_ids=[self.device_id])
        return {}

    async def op_login(self, data):
        if self.user is not None:
            raise ChatError(910003, "this socket is already logged in")
        since = data.get("since")
        if since is not None and (isinstance(since, bool) or not isinstance(since, int)
                                  or since < 0):
            raise ChatError(910003, "since must be a non-negative integer")
        if "userID" in data or "userSig" in data:
            user = await database_sync_to_async(account_services.user_login_with_usersig)(
                user_id=data.get("userID"), usersig=data.get("userSig"))
            default_platform = "Unknown"
            epoch = user.session_epoch
        else:
            session_user = self.scope.get("user")
            if session_user is None or not session_user.is_authenticated:
                raise ChatError(70002, "send userID and userSig, or sign in first")
            user = session_user
            default_platform = "Web"
            # A cookie minted before the user's last kick no longer logs in.
            epoch = await database_sync_to_async(devices.check_session_epoch)(
                user=user, session=self.scope.get("session"))
        # Only a missing (or null) deviceID gets one made up; any other value goes to
        # the service, which refuses what is not one (accounts.services.device_login).
        device_id = data.get("deviceID")
        if device_id is None:
            device_id = f"{default_platform.lower()}-{self.channel_name[-12:]}"
        platform = data.get("platform") or default_platform
        if not isinstance(platform, str):
            raise ChatError(910003, "platform must be a string")
        # Likewise only a missing (or null) instanceID means none: 0, false or "" is
        # refused, not taken for "this device's only socket".
        instance = data.get("instanceID")
        if instance is None:
            instance = ""
        elif not isinstance(instance, str) or not INSTANCE_ID.fullmatch(instance):
            raise ChatError(910003, "instanceID must be 1 to 32 letters, digits, _ or -")
        device, policy, state_change = await database_sync_to_async(devices.device_connect)(
            user=user, device_id=device_id, platform=platform)
        device_id = device.device_id
        self.logged_in_at = time.time()
        conn = presence.Conn(self.channel_name, device_id, device.platform, self.logged_in_at,
                             instance)
        try:
            came_online, live = await presence.connection_open(user.pk, conn)
        except Exception:  # presence is not worth a refused login; the heartbeat retries
            log.exception("presence open failed")
            came_online, live = False, []
        self.conn, self.user_pk, self.user_id, self.epoch = conn, user.pk, user.user_id, epoch
        self.touched = time.monotonic()

        # Push out the older socket of the same device (through its group, so even one
        # whose presence lapsed goes), and the sockets the login policy says must go.
        kick = {"type": "chat.kick", "reason": devices.KICK_MULTIPLE_DEVICE,
                "keep": self.channel_name, "at": self.logged_in_at}
        dev_group = _device_group(user.pk, device_id, instance)
        await self.channel_layer.group_send(dev_group, kick)
        pushed_out = devices.conns_to_push_out(policy, conn, live)
        for other in pushed_out:
            if other.client != conn.client:
                await self.channel_layer.send(other.channel, kick)
        signed_out = await database_sync_to_async(devices.devices_signed_out)(
            user=user, policy=policy, device_id=device_id, platform=device.platform)
        gone = sorted({c.device_id for c in pushed_out if c.device_id != device_id}
                      | set(signed_out))
        if gone:  # a device pushed out by another login (online or not) is signed out:
            # no push for it
            await database_sync_to_async(push_services.push_tokens_forget)(
                user=user, device_ids=gone)
        for group in [user_group(user.pk), dev_group]:
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.append(group)

        self.user, self.device_id, self.platform = user, device_id, device.platform
        if came_online:
            self._announce_status(presence.STATUS_ONLINE)
        if state_change:
            await database_sync_to_async(devices.state_change)(
                user_id=user.user_id, action="Login", reason="Register",
                platform=device.platform, kicked=[c.platform for c in pushed_out],
                client_ip=self.client_ip)
        head = await database_sync_to_async(account_selectors.sync_head)(user.pk)
        self.replay_due = (since, head)
        self.since_untrusted = not devices.since_trusted(device=device, since=since)
        layer_watch.watch(self)
        return {"userID": user.user_id, "seq": head}

    async def op_sync(self, data):
        """Catch up without reconnecting (PROTOCOL.md, "sync"): the reply (with the head,
        where the device will be once the replay is in), then the entries after `since`
        as at login, without SDK_READY, except that the entries after this socket's
        login are all replayed (see _replay). A device asks when an event's prevSeq is
        above the last seq it holds: a publish was lost on its way."""
        since = data.get("since")
        if isinstance(since, bool) or not isinstance(since, int) or since < 0:
            raise ChatError(910003, "since must be a non-negative integer")
        head = await database_sync_to_async(account_selectors.sync_head)(self.user.pk)
        self.replay_due = (since, head)
        return {"seq": head}

    async def _after_reply(self, op):
        if self.replay_due is not None and op in ("login", "sync"):
            (since, head), self.replay_due = self.replay_due, None
            await self._replay(since, head, ready=op == "login")
        elif op == "logout":
            await self.close(code=CLOSE_LOGOUT)

    async def _replay(self, since, head, *, ready: bool, chain_from: int | None = None):
        """Replay the offline cache after `since` up to `head`; at login, then SDK_READY.

        Live events that arrive meanwhile wait in the channel layer's queue (a consumer
        handles one thing at a time) and go out after it, those at or below the head
        dropped (chat_events): each entry reaches the device once, in order.

        The cache is the sync log, bounded (PROTOCOL.md, Session step 3): entries older
        than CHAT_OFFLINE_CACHE_DAYS are gone, and of one peer's messages only the newest
        100 are replayed (selectors.sync_replay); the client pages the rest from history.
        A `since` ahead of the head, or older than the oldest entry still in the cache
        (the entries after it were purged, or expired while still in the table), or a
        login's since above 0 from a device the account had not seen (another
        incarnation's position: accounts.devices.since_trusted), gets SYNC_RESET and no
        replay: the client reloads its conversations and history.
        Replayed events carry `prevSeq` chained from `since` (or `chain_from`, what the
        device holds when the server starts the replay itself), over the entries skipped.

        The per-peer cut is for what the device missed while offline. Entries after the
        head at this socket's login (`live_from`) were this socket's to send live: a
        replay of them (a `sync` after a lost publish, chat_resync after a layer outage)
        skips none, or a Redis outage of more than 100 of one peer's messages would lose
        the older ones for good (the chain runs over skipped entries, so the device
        cannot tell, and an open conversation does not reload its history).
        """
        prev = since if chain_from is None else chain_from
        if since is not None:
            oldest = await database_sync_to_async(
                account_selectors.oldest_cached_seq)(self.user.pk)
            untrusted, self.since_untrusted = self.since_untrusted, False
            if untrusted or since > head or (oldest is not None and since + 1 < oldest) \
                    or (oldest is None and since < head):
                await self._send({"event": "SYNC_RESET", "data": {"seq": head}})
            else:
                cut_upto = head if self.live_from is None \
                    else min(head, max(since, self.live_from))
                reached, replayed = since, 0
                while reached < head:
                    cut = reached < cut_upto  # the offline part, cut as at login
                    events, new_reached = await database_sync_to_async(
                        selectors.sync_replay)(user=self.user, since=reached,
                                               upto=cut_upto if cut else head,
                                               per_peer_cut=cut)
                    if new_reached <= reached:
                        break
                    for event in events:
                        event["prevSeq"], prev = prev, event["seq"]
                        await self._send(event)
                    replayed += sum(e["event"] == "MESSAGE_RECEIVED" for e in events)
                    reached = new_reached
                if replayed:
                    # The seed's order: cached messages, the updated conversation
                    # list, then SDK_READY (sync complete).
                    convs, total = await database_sync_to_async(_conversations_now)(
                        self.user)
                    await self._send({"event": "CONVERSATION_LIST_UPDATED", "data": convs})
                    await self._send({"event": "TOTAL_UNREAD_MESSAGE_COUNT_UPDATED",
                                      "data": total})
        # The device holds `head` now: SDK_READY says so at login, the sync's reply did;
        # after a replay of the server's own, it holds the last event sent.
        self.covered = max(self.covered, head)
        self.told = head if chain_from is None else prev
        if ready:
            self.live_from = head
            await self._send({"event": "SDK_READY", "data": {"seq": head}})

    async def op_ack(self, data):
        seq = data.get("seq")
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise ChatError(910003, "seq must be a non-negative integer")
        await database_sync_to_async(account_services.device_ack)(
            user=self.user, device_id=self.device_id, seq=seq)
        return {}

    async def op_sendMessage(self, data):  # noqa: N802 (the Web SDK's name)
        control = data.get("messageControlInfo") or {}
        if not isinstance(control, dict):
            raise ChatError(910003, "messageControlInfo must be an object")
        cmd = SendCommand(
            origin=Origin.USER,
            sender=self.user,
            to=data.get("to"),
            elements=data.get("elements"),
            random=data.get("random"),
            priority=data.get("priority", "Normal"),
            cloud_custom_data=data.get("cloudCustomData", ""),
            need_read_receipt=data.get("needReadReceipt", False),
            support_extension=data.get("isSupportExtension", False),
            online_user_only=data.get("onlineUserOnly", False),
            offline_push_info=offline_info.from_web(data.get("offlinePushInfo")),
            excluded_from_unread=control.get("excludedFromUnreadCount", False),
            excluded_from_last_message=control.get("excludedFromLastMessage", False),
            origin_channel=self.channel_name,
            session_epoch=self.epoch,
            client_ip=self.client_ip,
        )
        return await batcher().send(cmd)

    async def op_getMessageList(self, data):  # noqa: N802
        return await database_sync_to_async(selectors.message_page)(
            viewer=self.user, conversation_id=data.get("conversationID"),
            next_req_message_id=data.get("nextReqMessageID"), count=data.get("count"))

    async def op_getConversationList(self, data):  # noqa: N802
        convs = await database_sync_to_async(selectors.conversation_list)(user=self.user)
        return {"conversationList": convs}

    async def op_getTotalUnreadMessageCount(self, data):  # noqa: N802
        return await database_sync_to_async(selectors.total_unread)(self.user)


# Every op of the realtime door: messaging's own, then each app's ws_ops.
def _conversations_now(user) -> tuple[list, int]:
    return selectors.conversation_list(user=user), selectors.total_unread(user)


OPS = {
    **account_ops.OPS,
    **relationship_ops.OPS,
    "ping": ChatConsumer.op_ping,
    "login": ChatConsumer.op_login,
    "logout": ChatConsumer.op_logout,
    "sync": ChatConsumer.op_sync,
    "ack": ChatConsumer.op_ack,
    "sendMessage": ChatConsumer.op_sendMessage,
    "getMessageList": ChatConsumer.op_getMessageList,
    "getConversationList": ChatConsumer.op_getConversationList,
    "getTotalUnreadMessageCount": ChatConsumer.op_getTotalUnreadMessageCount,
    # Last, so an op moved to messaging/message_ws.py replaces the consumer's own.
    **message_ws.OPS,
}
