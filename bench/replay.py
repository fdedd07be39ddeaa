"""Replay of missed messages at login, against a running Parley (bench/compare.py starts it).

Per round: a fresh receiver logs in once (its sync head is noted) and leaves; `peers`
fresh senders each send it `per_peer` messages (pipelined on their sockets; every one
must be acknowledged); then the receiver logs in again with `since` = the noted head
(shared/PROTOCOL.md, Session 3-4) and we time, from the moment the login frame is sent,
until it holds every missed message (and until SDK_READY). The offline cache replays
at most 100 messages per peer, so 1,000 missed messages come from 10 peers.

Every message must arrive exactly once, each peer's in order: otherwise `ok` is false and
bench/compare.py exits 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import sys
import time
from pathlib import Path

import TLSSigAPIv2
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loadgen  # noqa: E402
from common import percentile  # noqa: E402

TIMEOUT = 60.0


async def _login(url: str, user_id: str, sig: str, since: int | None = None):
    """Open a socket; send login (with `since`); return (ws, time the login frame was sent)."""
    ws = await connect(url, compression="deflate", ping_interval=None, max_queue=None,
                       open_timeout=20, close_timeout=3)
    data = {"userID": user_id, "userSig": sig, "deviceID": "replay", "platform": "Web"}
    if since is not None:
        data["since"] = since
    t0 = time.monotonic()
    await ws.send(json.dumps({"id": "login", "op": "login", "data": data}))
    return ws, t0


async def _until_ready(ws, on_frame=None) -> int:
    """Read frames until SDK_READY; return the head seq of the login reply."""
    head = None
    deadline = time.monotonic() + TIMEOUT
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic())))
        if frame.get("id") == "login":
            if not frame.get("ok"):
                raise RuntimeError(f"login failed: {frame}")
            head = int(frame["data"]["seq"])
        elif frame.get("event") == "SDK_READY":
            return head
        elif on_frame is not None:
            on_frame(frame)


async def _send_burst(ws, to: str, count: int) -> int:
    """Send `count` messages without waiting, then collect the replies; return the errors."""
    for n in range(1, count + 1):
        await ws.send(json.dumps({"id": str(n), "op": "sendMessage", "data": {
            "to": to, "random": n,
            "elements": [{"type": "TIMTextElem", "payload": {"text": f"missed {n}"}}]}},
            separators=(",", ":")))
    replies, errors = 0, 0
    deadline = time.monotonic() + TIMEOUT
    while replies < count:
        frame = json.loads(await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic())))
        rid = frame.get("id")
        if isinstance(rid, str) and rid.isdigit():
            replies += 1
            errors += 0 if frame.get("ok") else 1
    return errors


async def one_round(url: str, sdkappid: int, key: str, *, peers: int, per_peer: int) -> dict:
    api = TLSSigAPIv2.TLSSigAPIv2(sdkappid, key)
    tag = f"rp{secrets.token_hex(3)}"
    receiver = f"{tag}r"
    ws, _ = await _login(url, receiver, api.gen_sig(receiver))
    try:
        since = await _until_ready(ws)
    finally:
        await ws.close()
    spec = loadgen.Spec(kind="closed", url=url, sdkappid=sdkappid, key=key, prefix=tag)
    sender_ids = [f"{tag}s{i}" for i in range(peers)]
    senders, failures = await loadgen._open_many(spec, sender_ids)
    try:
        if failures:
            raise RuntimeError(f"{len(failures)} sender logins failed: {failures[0]}")
        t_send = time.monotonic()
        errors = sum(await asyncio.gather(*(_send_burst(s, receiver, per_peer) for s in senders)))
        send_s = time.monotonic() - t_send
    finally:
        await loadgen._close_all(senders)

    want = peers * per_peer
    got: dict[str, list[int]] = {uid: [] for uid in sender_ids}
    unexpected = 0
    t_all = None

    def on_frame(frame):
        nonlocal unexpected, t_all
        if frame.get("event") != "MESSAGE_RECEIVED":
            return
        for msg in frame.get("data") or []:
            try:
                n = int(msg["elements"][0]["payload"]["text"].removeprefix("missed "))
                got[msg["from"]].append(n)
            except (KeyError, IndexError, ValueError, TypeError):
                unexpected += 1
        if t_all is None and sum(len(v) for v in got.values()) >= want:
            t_all = time.monotonic()

    ws, t_login = await _login(url, receiver, api.gen_sig(receiver), since=since)
    try:
        await _until_ready(ws, on_frame)
        t_ready = time.monotonic()
    finally:
        with contextlib.suppress(Exception):
            await ws.close()
    received = sum(len(v) for v in got.values())
    in_order = all(v == list(range(1, per_peer + 1)) for v in got.values())
    return {
        "missed": want, "received": received, "send_errors": errors, "unexpected": unexpected,
        "in_order_once": in_order, "since": since, "send_s": send_s,
        "login_to_all_ms": None if t_all is None else (t_all - t_login) * 1000,
        "login_to_ready_ms": (t_ready - t_login) * 1000,
        "ok": received == want and in_order and not errors and not unexpected,
    }


async def replay(url: str, sdkappid: int, key: str, *, peers: int = 10, per_peer: int = 100,
                 rounds: int = 3) -> dict:
    runs = [await one_round(url, sdkappid, key, peers=peers, per_peer=per_peer)
            for _ in range(rounds)]
    times = sorted(r["login_to_all_ms"] for r in runs if r["login_to_all_ms"] is not None)
    return {"missed": peers * per_peer, "peers": peers, "rounds": runs,
            "login_to_all_ms_median": percentile(times, 0.5),
            "login_to_all_ms_max": times[-1] if times else None,
            "ok": all(r["ok"] for r in runs)}


def run(url: str, sdkappid: int, key: str, **kw) -> dict:
    runner = loadgen.uvloop.run if loadgen.uvloop is not None else asyncio.run
    return runner(replay(url, sdkappid, key, **kw))
