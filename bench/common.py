"""Small helpers shared by the comparison scripts (floor.py, minimal_consumer.py, compare.py)."""

from __future__ import annotations

import math

# A run is wrong, not just slow, when any of these is not zero.
INTEGRITY_KEYS = ("lost", "unacked", "duplicates", "out_of_order", "corrupt", "unexpected",
                  "seq_mismatch", "errors", "closed_loop_timeouts")


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1,
                             max(0, math.ceil(q * len(sorted_values)) - 1))]


def integrity(row: dict) -> dict:
    """What went wrong in a load run (empty when every message arrived once, in order)."""
    bad = {k: row[k] for k in INTEGRITY_KEYS if row.get(k)}
    if not row.get("received_total"):
        bad["received_total"] = 0
    return bad


def fmt(x, spec="{:.1f}", none="-") -> str:
    return none if x is None else spec.format(x)


def summary_line(row: dict) -> str:
    return (f"  {row['run']:<24} {row['delivered_per_s']:>8.0f} msgs/s"
            f"  p50 {fmt(row['p50_ms'], '{:.2f}'):>7} ms  p99 {fmt(row['p99_ms']):>7} ms"
            f"  lost {row['lost']}  dup {row['duplicates']}  ooo {row['out_of_order']}")
