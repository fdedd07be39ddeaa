"""Keeping a vendor's payload within its size limit by cutting its text fields, never
by having the vendor refuse it (APNs and FCM take 4096 bytes).

The settings' own limits (title 256 bytes, description and extension 3 KB together,
image, channel and sound 512 each; push/offline_info.py) add up past 4 KB, and JSON
escapes make bytes hard to predict (a quote is 2, a control character 6): each field
is cut to its longest prefix that fits, by a binary search on the encoded size.
"""

from __future__ import annotations

from collections.abc import Callable


def cut_to_fit(cuts: list[tuple[dict, str, str]], size: Callable[[], int], limit: int) -> int:
    """Cut `holder[key]` for each (holder, key, mark) in turn, to the longest prefix
    (plus `mark`, "…" for a shown text) for which `size()` is within `limit`, until it
    is. A shown text cut to nothing keeps its mark. Returns the final size."""
    current = size()
    for holder, key, mark in cuts:
        if current <= limit:
            break
        if key not in holder:
            continue
        text = str(holder[key])
        lo, hi = 0, len(text)  # the longest prefix that fits is in lo..hi
        while lo < hi:
            mid = (lo + hi + 1) // 2
            holder[key] = text[:mid] + mark
            if size() <= limit:
                lo = mid
            else:
                hi = mid - 1
        holder[key] = text[:lo] + mark if lo or mark else ""
        current = size()
    return current
