"""Capped exponential backoff with full jitter: service reconnects, the loop's fault pauses and job retries."""

from __future__ import annotations

import random


class Backoff:
    """Capped exponential backoff with full jitter."""

    def __init__(self, base_s: float, cap_s: float):
        self.base_s, self.cap_s, self.n = base_s, cap_s, 0
        self._peek: float | None = None

    def delay(self, attempt: int) -> float:
        # The exponent stops growing long before the cap: 2**n of an outage's n-th retry never overflows a float.
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(max(0, attempt - 1), 64))
        return random.uniform(ceiling / 2, ceiling)

    def peek(self) -> float:
        if self._peek is None:
            self.n += 1
            self._peek = self.delay(self.n)
        return self._peek

    def next(self) -> float:
        value = self.peek()
        self._peek = None
        return value

    def reset(self) -> None:
        self.n, self._peek = 0, None
