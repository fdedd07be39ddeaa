"""UserSig is byte-compatible with Tencent's TLSSigAPIv2 (the `tls-sig-api-v2` package)."""

import base64
import json
import time
import tracemalloc
import zlib

import pytest
import TLSSigAPIv2

from accounts.usersig import MAX_USERSIG_CHARS, check_usersig, gen_usersig
from chat_project.errors import ChatError

APP = 1400000001
KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"


def _decode(sig: str) -> dict:
    raw = base64.b64decode(sig.replace("*", "+").replace("-", "/").replace("_", "="))
    return json.loads(zlib.decompress(raw))


def _codes(sig, user_id="alice", **kw):
    with pytest.raises(ChatError) as err:
        check_usersig(user_id, sig, sdkappid=APP, key=KEY, **kw)
    return err.value.code


def test_signature_from_tencent_package_verifies():
    sig = TLSSigAPIv2.TLSSigAPIv2(APP, KEY).gen_sig("alice", 3600)
    check_usersig("alice", sig, sdkappid=APP, key=KEY)  # does not raise


def test_ours_is_byte_identical_to_tencents():
    now = int(time.time())
    theirs = TLSSigAPIv2.TLSSigAPIv2(APP, KEY).gen_sig("bob", 86400)
    decoded = _decode(theirs)
    ours = gen_usersig("bob", 86400, sdkappid=APP, key=KEY, now=decoded["TLS.time"])
    assert ours == theirs
    assert abs(decoded["TLS.time"] - now) < 5


def test_user_ids_with_odd_printable_characters():
    for user_id in ("a b", "x@y.z", "~!#$%^&*()", "0" * 32):
        sig = TLSSigAPIv2.TLSSigAPIv2(APP, KEY).gen_sig(user_id)
        check_usersig(user_id, sig, sdkappid=APP, key=KEY)


def test_expired_is_70001():
    sig = TLSSigAPIv2.TLSSigAPIv2(APP, KEY).gen_sig("alice", 10)
    assert _codes(sig, now=time.time() + 11) == 70001


def test_wrong_key_is_70009():
    sig = TLSSigAPIv2.TLSSigAPIv2(APP, "another-key").gen_sig("alice")
    assert _codes(sig) == 70009


def test_tampered_expiry_is_70009():
    doc = _decode(TLSSigAPIv2.TLSSigAPIv2(APP, KEY).gen_sig("alice", 10))
    doc["TLS.expire"] = 10**9
    forged = base64.b64encode(zlib.compress(json.dumps(doc).encode())).decode()
    forged = forged.replace("+", "*").replace("/", "-").replace("=", "_")
    assert _codes(forged) == 70009


def test_other_sdkappid_is_70014():
    sig = TLSSigAPIv2.TLSSigAPIv2(APP + 1, KEY).gen_sig("alice")
    assert _codes(sig) == 70014


def test_other_user_is_70013():
    sig = TLSSigAPIv2.TLSSigAPIv2(APP, KEY).gen_sig("mallory")
    assert _codes(sig, user_id="alice") == 70013


def test_userbuf_signature_is_refused():
    sig = TLSSigAPIv2.TLSSigAPIv2(APP, KEY).gen_sig_with_userbuf("alice", 3600, b"room")
    assert _codes(sig) == 70009


@pytest.mark.parametrize("garbage", ["", "not-a-sig", "eJx" + "A" * 40, "////"])
def test_garbage_is_refused(garbage):
    assert _codes(garbage) in (70002, 70003)


def test_numeric_strings_are_accepted_as_ints():
    doc = _decode(TLSSigAPIv2.TLSSigAPIv2(APP, KEY).gen_sig("alice", 3600))
    doc["TLS.sdkappid"] = str(doc["TLS.sdkappid"])
    sig = base64.b64encode(zlib.compress(json.dumps(doc).encode())).decode()
    check_usersig("alice", sig.replace("+", "*").replace("/", "-").replace("=", "_"),
                  sdkappid=APP, key=KEY)


def _bomb(inflated_bytes: int) -> str:
    """A UserSig-shaped zlib bomb: `inflated_bytes` of JSON-ish padding, compressed in
    chunks so the test itself never holds the inflated text."""
    packer = zlib.compressobj(9)
    parts = [packer.compress(b'{"TLS.identifier": "alice", "pad": "')]
    chunk = b"0" * (1 << 20)
    for _ in range(inflated_bytes // len(chunk)):
        parts.append(packer.compress(chunk))
    parts.append(packer.compress(b"0" * (inflated_bytes % len(chunk)) + b'"}'))
    parts.append(packer.flush())
    raw = b"".join(parts)
    return base64.b64encode(raw).decode().translate(str.maketrans("+/=", "*-_"))


def _peak_bytes_of_check(sig: str) -> tuple[int, int]:
    """(code, peak bytes allocated while check_usersig refuses `sig`)."""
    tracemalloc.start()
    try:
        code = _codes(sig)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return code, peak


def test_a_zlib_bomb_under_the_length_cap_is_refused_without_inflating_it():
    # 1,000 characters of base64 inflating to 700 KB: the old check inflated it whole.
    sig = _bomb(700_000)
    assert len(sig) <= MAX_USERSIG_CHARS
    code, peak = _peak_bytes_of_check(sig)
    assert code == 70003
    assert peak < 64 * 1024, f"{peak} bytes allocated"


def _deep(levels: int = 1020) -> str:
    """A 24-character UserSig of JSON nested past Python's recursion limit ("[" x 1,020
    inflates to under 1 KB, so it passes both size caps)."""
    raw = zlib.compress(b"[" * levels)
    return base64.b64encode(raw).decode().translate(str.maketrans("+/=", "*-_"))


def test_json_nested_past_the_recursion_limit_is_70003():
    with pytest.raises(ChatError) as err:
        check_usersig("alice", _deep())
    assert err.value.code == 70003


def test_an_oversized_usersig_is_refused_before_decoding():
    sig = _bomb(20_000_000)  # about 27,000 characters inflating to 20 MB
    assert len(sig) > MAX_USERSIG_CHARS
    code, peak = _peak_bytes_of_check(sig)
    assert code == 70003
    assert peak < 16 * 1024, f"{peak} bytes allocated"
    # Padding a real UserSig past the cap is refused too; a real one is far under it.
    real = TLSSigAPIv2.TLSSigAPIv2(APP, KEY).gen_sig("0" * 32)
    assert len(real) < MAX_USERSIG_CHARS // 4
    assert _codes(real + " " * MAX_USERSIG_CHARS, user_id="0" * 32) == 70003


def test_a_truncated_usersig_is_70003():
    raw = base64.b64decode(gen_usersig("alice", sdkappid=APP, key=KEY)
                           .translate(str.maketrans("*-_", "+/=")))
    cut = base64.b64encode(raw[:-8]).decode().translate(str.maketrans("+/=", "*-_"))
    assert _codes(cut) == 70003
