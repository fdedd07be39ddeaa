"""JSON for the realtime wire: orjson (several times faster than json) behind one name,
and the one check of a client's JSON value before it is stored or sent on."""

import math

import orjson


def dumps(obj) -> str:
    return orjson.dumps(obj).decode()


def loads(text: str | bytes):
    return orjson.loads(text)


JSONDecodeError = orjson.JSONDecodeError

# No message, option or profile value nests deeper than this; orjson refuses to write
# deeper than 254 (so it could not be published) and to read deeper than 1024.
MAX_DEPTH = 32
INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # PostgreSQL's bigint; orjson writes 64 bits


def junk_in(value, *, max_depth: int = MAX_DEPTH) -> str | None:
    """Why a client's JSON value cannot be stored or sent on, or None if it can.

    A NUL character in a string or a key (PostgreSQL text cannot hold one, and its
    error would carry the client's content into the server log), a number beyond 64
    bits or not finite, or nesting deeper than `max_depth` (a scalar is depth 0, `[]`
    depth 1). Validators raise their own code with the reason.

    Floats too: PostgreSQL's jsonb keeps 6e19 as the numeric 60000000000000000000,
    which comes back as a Python int that orjson cannot write.
    """
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "a string holds a NUL character"
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not INT_MIN <= item <= INT_MAX:
                return "an integer is outside the 64-bit range"
        elif isinstance(item, float):
            if not (math.isfinite(item) and INT_MIN <= item <= INT_MAX):
                return "a number is not finite or is outside the 64-bit range"
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                return f"the value nests deeper than {max_depth} levels"
            if isinstance(item, dict):
                for key, sub in item.items():
                    if not isinstance(key, str) or "\x00" in key:
                        return "a key holds a NUL character"
                    stack.append((sub, depth + 1))
            else:
                stack.extend((sub, depth + 1) for sub in item)
        else:
            return f"a value of type {type(item).__name__} is not JSON"
    return None
