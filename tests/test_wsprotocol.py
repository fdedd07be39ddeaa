"""The lighter socket (chat_project/wsprotocol.py, chat_project/leanqueue.py): what
each idle socket no longer holds, and that nothing a client sees changed."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from chat_project.leanqueue import LeanEvent, LeanQueue
from chat_project.wsprotocol import DEFLATE

# --- permessage-deflate without context takeover ---------------------------------------


def _handshake(server: ServerProtocol, client: ClientProtocol) -> None:
    client.send_request(client.connect())
    server.receive_data(b"".join(client.data_to_send()))
    [request] = server.events_received()
    server.send_response(server.accept(request))
    client.receive_data(b"".join(server.data_to_send()))
    client.events_received()


def test_deflate_keeps_no_zlib_state_between_messages():
    """Our answer to a browser's offer: both sides reset after each message, so the
    server's extension holds a compressor and a decompressor only while a frame is
    in hand (uvicorn's own answer keeps both, ~41 KB, for the socket's life)."""
    server = ServerProtocol(extensions=[ServerPerMessageDeflateFactory(**DEFLATE)])
    client = ClientProtocol(parse_uri("ws://h/ws/"),
                            extensions=[ClientPerMessageDeflateFactory()])
    _handshake(server, client)
    [ext] = server.extensions
    assert ext.local_no_context_takeover and ext.remote_no_context_takeover
    [client_ext] = client.extensions
    assert client_ext.local_no_context_takeover  # the client agreed to reset too
    text = '{"op":"sendMessage","data":{"text":"' + "hello " * 500 + '"}}'
    for _ in range(3):
        client.send_text(text.encode())
        wire = b"".join(client.data_to_send())
        assert len(wire) < len(text) / 10  # compressed
        server.receive_data(wire)
        [frame] = server.events_received()
        assert frame.data.decode() == text
        server.send_text(text.encode())
        client.receive_data(b"".join(server.data_to_send()))
        [back] = client.events_received()
        assert back.data.decode() == text
        assert not hasattr(ext, "encoder") and not hasattr(ext, "decoder")


def test_uvicorns_own_answer_would_keep_the_state():
    """The check above can fail: with context takeover the objects stay."""
    server = ServerProtocol(extensions=[ServerPerMessageDeflateFactory(
        server_max_window_bits=12, client_max_window_bits=12,
        compress_settings={"memLevel": 5})])
    client = ClientProtocol(parse_uri("ws://h/ws/"),
                            extensions=[ClientPerMessageDeflateFactory()])
    _handshake(server, client)
    [ext] = server.extensions
    assert hasattr(ext, "encoder") and hasattr(ext, "decoder")


@pytest.mark.django_db(transaction=True)
def test_a_live_socket_negotiates_it_and_carries_large_messages(connect):
    alice, bob = connect("wsp_alice"), connect("wsp_bob")
    answer = alice.conn.response.headers["Sec-WebSocket-Extensions"]
    assert "permessage-deflate" in answer
    assert "server_no_context_takeover" in answer
    assert "client_no_context_takeover" in answer
    texts = [f"{i} " + "long message body " * 400 for i in range(3)]
    for i, text in enumerate(texts):
        sent = alice.ok("sendMessage", {"to": "wsp_bob", "random": 7100 + i, "elements": [
            {"type": "TIMTextElem", "payload": {"text": text}}]})
        assert sent["elements"][0]["payload"]["text"] == text
    got = [m for _ in texts for m in bob.wait_event("MESSAGE_RECEIVED")["data"]]
    assert [m["elements"][0]["payload"]["text"] for m in got] == texts


@pytest.mark.django_db(transaction=True)
def test_a_client_without_compression_gets_none(live_server_url):
    from websockets.sync.client import connect

    url = live_server_url.replace("http://", "ws://") + "/ws/"
    with connect(url, compression=None, open_timeout=10) as conn:
        assert "Sec-WebSocket-Extensions" not in conn.response.headers
        conn.send('{"id": "p", "op": "ping"}')
        assert json.loads(conn.recv(timeout=10)) == {"id": "p", "ok": True, "data": {}}


# --- LeanQueue and LeanEvent -------------------------------------------------------------


def test_lean_queue_is_fifo_and_holds_nothing_when_empty():
    async def go():
        q = LeanQueue()
        assert q.empty() and q.qsize() == 0 and q._items is None
        for i in range(5):
            q.put_nowait(i)
        assert q.qsize() == 5 and not q.empty()
        assert [await q.get() for _ in range(5)] == [0, 1, 2, 3, 4]
        assert q._items is None and q._getters is None
        with pytest.raises(asyncio.QueueEmpty):
            q.get_nowait()

    asyncio.run(go())


def test_lean_queue_wakes_a_waiting_reader_once_per_item():
    async def go():
        q = LeanQueue()
        readers = [asyncio.create_task(q.get()) for _ in range(3)]
        await asyncio.sleep(0)
        q.put_nowait("a")
        await asyncio.sleep(0)
        done = [r for r in readers if r.done()]
        assert len(done) == 1 and done[0].result() == "a"
        q.put_nowait("b")
        q.put_nowait("c")
        await asyncio.gather(*readers)
        assert sorted(r.result() for r in readers) == ["a", "b", "c"]
        assert q._getters is None

    asyncio.run(go())


def test_lean_queue_a_cancelled_reader_passes_its_item_on():
    """Woken, then cancelled before it ran: the item stays queued for the next reader,
    as asyncio.Queue does."""
    async def go():
        q = LeanQueue()
        first = asyncio.create_task(q.get())
        second = asyncio.create_task(q.get())
        await asyncio.sleep(0)
        q.put_nowait("x")  # wakes `first`
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await asyncio.wait_for(second, 1) == "x"
        cancelled = asyncio.create_task(q.get())
        await asyncio.sleep(0)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert not q._getters  # the cancelled reader left nothing behind

    asyncio.run(go())


def test_lean_event():
    async def go():
        ev = LeanEvent()
        assert not ev.is_set()
        waiters = [asyncio.create_task(ev.wait()) for _ in range(2)]
        await asyncio.sleep(0)
        assert not any(w.done() for w in waiters)
        ev.set()
        assert await asyncio.gather(*waiters) == [True, True]
        assert ev.is_set() and ev._waiters is None
        assert await ev.wait() is True
        ev.clear()
        late = asyncio.create_task(ev.wait())
        await asyncio.sleep(0)
        late.cancel()
        with pytest.raises(asyncio.CancelledError):
            await late
        assert not ev._waiters

    asyncio.run(go())
