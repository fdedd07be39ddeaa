"""What permessage-deflate without context takeover costs (chat_project/wsprotocol.py).

Compresses 200 message events shaped as MESSAGE_RECEIVED frames (the server's JSON, a
short text each) as a socket does: with context takeover (one compressor for the socket's
life, uvicorn's default) and without (a fresh one per frame, Parley's), both at window
bits 12 and memLevel 5. Prints bytes per frame on the wire and microseconds per frame.

    python bench/deflate_ratio.py
"""

from __future__ import annotations

import json
import random
import time
import zlib

TEXTS = ["hi", "see you at 5?", "ok \U0001f44d", "where are you now, I am at the station"]


def frames(n: int = 200) -> list[bytes]:
    rng = random.Random(7)
    out = []
    for i in range(n):
        out.append(json.dumps({"event": "MESSAGE_RECEIVED", "prevSeq": 1000 + i, "data": [{
            "ID": f"144115{rng.randrange(10**12)}-{1733400000 + i}-{rng.randrange(10**9)}",
            "conversationID": "C2Calice", "conversationType": "C2C", "from": "alice",
            "to": "bob", "flow": "in", "time": 1733400000 + i, "seq": 1000 + i,
            "random": rng.randrange(2**32), "nick": "Alice", "avatar": "",
            "priority": "Normal", "elements": [{"type": "TIMTextElem",
                                                "payload": {"text": rng.choice(TEXTS)}}],
            "cloudCustomData": "", "needReadReceipt": False, "isPeerRead": False,
            "isRevoked": False, "isModified": False, "version": 0, "isSystem": False,
            "status": "success"}]}, separators=(",", ":")).encode())
    return out


def deflate(data: list[bytes], *, takeover: bool) -> tuple[int, float]:
    """(bytes on the wire, seconds) for the frames, as RFC 7692 frames them (the empty
    block's 4 bytes dropped)."""
    start = time.perf_counter()
    shared = zlib.compressobj(wbits=-12, memLevel=5)
    total = 0
    for frame in data:
        z = shared if takeover else zlib.compressobj(wbits=-12, memLevel=5)
        total += len(z.compress(frame) + z.flush(zlib.Z_SYNC_FLUSH)) - 4
    return total, time.perf_counter() - start


def main() -> None:
    data = frames()
    raw = sum(len(f) for f in data) / len(data)
    for takeover in (True, False):
        runs = [deflate(data, takeover=takeover) for _ in range(20)]
        size = runs[0][0] / len(data)
        us = sorted(s for _, s in runs)[len(runs) // 2] / len(data) * 1e6
        name = "context takeover (uvicorn's)" if takeover else "no context takeover (Parley's)"
        print(f"{name:32} {raw:5.0f} B raw -> {size:5.0f} B per frame ({size / raw:.2f}),"
              f" {us:5.1f} us per frame")


if __name__ == "__main__":
    main()
