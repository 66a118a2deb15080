"""Noticing that Redis lost its data (FLUSHALL, a restart without persistence, failover to a lagging replica).

Every worker increments one counter, `{QUEUE_NAME}:epoch`, at each maintenance step and remembers the value.
The counter only grows while Redis keeps its data; a value not above the last one seen means the data went
back (lost, or replaced by an older copy); a first value of 1 means the key did not exist, which on a Redis
that served this fleet before is the same loss. On a loss the worker puts its own running jobs back at once
and, after half a heartbeat TTL (every live worker runs a maintenance step well within it and does the
same; one that did not costs a duplicate run, fenced to one result set), reconciles
from PostgreSQL without the usual waits (driftline/reconcile.py, `after_loss`).
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)
LOSS_MODE_S = 60.0  # reconcile in loss mode this long after the grace: rows in the producer window age out


class LossDetector:
    """The epoch counter's last value, and when to reconcile after a loss (monotonic seconds)."""

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self.last: int | None = None
        self.reconcile_from: float | None = None  # loss mode: reconcile after_loss from here ...
        self.reconcile_until = 0.0  # ... until here

    def observe(self, value: int, now: float | None = None) -> bool:
        """Record the counter's new value; True when it shows a loss of Redis data."""
        now = time.monotonic() if now is None else now
        lost = value <= self.last if self.last is not None else value == 1
        self.last = value
        if lost:
            self.reconcile_from = now + self.grace_s
            self.reconcile_until = self.reconcile_from + LOSS_MODE_S
        return lost

    def after_loss(self, now: float | None = None) -> bool:
        """Whether a reconcile now runs in loss mode (grace over, loss mode not over yet)."""
        now = time.monotonic() if now is None else now
        return self.reconcile_from is not None and self.reconcile_from <= now <= self.reconcile_until
