"""What a hostile UserSig costs the check every door runs before it knows the caller.

    python bench/usersig_bomb.py

For UserSig-shaped zlib bombs of growing inflated size, and for a real UserSig, prints
the UserSig's length, the code `accounts.usersig.check_usersig` answers, its time and
the peak memory it allocated (tracemalloc). Before the caps (issue 9), a 259 KB bomb
took 7 s and 449 MB under tracemalloc; with them every bomb is refused in well under a
millisecond with a few KB.
"""

from __future__ import annotations

import base64
import os
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat_project.settings")


def bomb(inflated_bytes: int) -> str:
    packer = zlib.compressobj(9)
    parts = [packer.compress(b'{"TLS.identifier": "alice", "pad": "')]
    chunk = b"0" * (1 << 20)
    for _ in range(inflated_bytes // len(chunk)):
        parts.append(packer.compress(chunk))
    parts.append(packer.compress(b"0" * (inflated_bytes % len(chunk)) + b'"}'))
    parts.append(packer.flush())
    return base64.b64encode(b"".join(parts)).decode().translate(str.maketrans("+/=", "*-_"))


def main() -> None:
    import django

    django.setup()
    from accounts.usersig import check_usersig, gen_usersig
    from chat_project.errors import ChatError

    cases = [("real UserSig", gen_usersig("alice"))]
    cases += [(f"bomb, {n:,} B inflated", bomb(n))
              for n in (700_000, 20_000_000, 200_000_000)]
    print(f"{'case':<32} {'chars':>8} {'code':>6} {'ms':>9} {'peak KB':>9}")
    for name, sig in cases:
        tracemalloc.start()
        started = time.perf_counter()
        try:
            check_usersig("alice", sig)
            code = 0
        except ChatError as exc:
            code = exc.code
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"{name:<32} {len(sig):>8,} {code:>6} {elapsed * 1000:>9.3f} {peak / 1024:>9.1f}")


if __name__ == "__main__":
    main()
