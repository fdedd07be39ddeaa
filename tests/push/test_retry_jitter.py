"""Retry jitter (push/pipeline.py retry_countdown): when a vendor answers 429 to a whole
batch with one Retry-After, the deliveries' retries must not all land at the same
instant. Deterministic: the countdowns of many deliveries, not timings."""

from __future__ import annotations

from collections import Counter

import pytest

from push.pipeline import retry_countdown


@pytest.fixture
def cap(settings):
    settings.CHAT_TASK_RETRY_MAX_COUNTDOWN = 1800
    return 1800.0


def test_a_batch_answered_429_with_one_retry_after_retries_spread(cap):
    countdowns = [retry_countdown(1, 10.0, key=pk) for pk in range(1, 1001)]
    # never before the vendor's Retry-After, at most a bounded jitter after it
    assert all(10.0 <= c <= 10.0 + 2.5 for c in countdowns)
    assert max(countdowns) - min(countdowns) >= 2.0  # spread over the jitter's range
    # evenly: each quarter of the range gets a fair share, no instant holds many
    quarters = Counter(min(3, int((c - 10.0) / 2.5 * 4)) for c in countdowns)
    assert all(180 <= quarters[q] <= 320 for q in range(4)), quarters
    assert max(Counter(round(c, 2) for c in countdowns).values()) <= 10
    # the same delivery and attempt get the same countdown (a task run twice agrees)
    assert retry_countdown(1, 10.0, key=7) == retry_countdown(1, 10.0, key=7)


def test_backoff_without_retry_after_is_spread_too(cap):
    countdowns = [retry_countdown(3, None, key=pk) for pk in range(1, 501)]
    assert all(4.0 <= c <= 5.0 for c in countdowns)  # 4 s, and at most 1 s more
    assert max(countdowns) - min(countdowns) >= 0.8


def test_the_cap_holds_and_is_spread_below_it(settings):
    settings.CHAT_TASK_RETRY_MAX_COUNTDOWN = 60
    countdowns = [retry_countdown(1, 3600.0, key=pk) for pk in range(1, 501)]
    assert all(45.0 <= c <= 60.0 for c in countdowns)
    assert max(countdowns) - min(countdowns) >= 10.0
