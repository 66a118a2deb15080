"""Capped exponential backoff with full jitter: bounds of each delay, and the peek/next/reset counter."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from driftline.supervisor.backoff import Backoff

bases = st.floats(min_value=0.001, max_value=100.0)
caps = st.floats(min_value=0.001, max_value=1e6)


@given(bases, caps, st.integers(min_value=-5, max_value=10_000))
def test_a_delay_lies_between_half_and_all_of_the_capped_exponential(base, cap, attempt):
    ceiling = min(cap, base * 2.0 ** max(0, attempt - 1)) if attempt < 1000 else cap
    delay = Backoff(base, cap).delay(attempt)
    assert math.isfinite(delay)
    assert ceiling / 2 <= delay <= ceiling


def test_the_first_attempts_double_then_stop_at_the_cap():
    b = Backoff(1.0, 10.0)
    assert 0.5 <= b.delay(0) <= 1.0  # attempt 0 and 1 both use the base
    assert 0.5 <= b.delay(1) <= 1.0
    assert 4.0 <= b.delay(4) <= 8.0
    assert all(5.0 <= b.delay(n) <= 10.0 for n in (5, 6, 100, 10**9))


def test_peek_repeats_until_next_consumes_it_and_the_counter_grows():
    b = Backoff(1.0, 1000.0)
    first = b.peek()
    assert b.peek() == first and b.n == 1
    assert b.next() == first
    second = b.next()
    assert b.n == 2 and 1.0 <= second <= 2.0  # the second retry's window
    third = b.peek()
    assert b.n == 3 and 2.0 <= third <= 4.0


def test_reset_starts_the_sequence_over():
    b = Backoff(1.0, 1000.0)
    for _ in range(8):
        b.next()
    b.peek()
    b.reset()
    assert b.n == 0
    assert 0.5 <= b.next() <= 1.0 and b.n == 1
