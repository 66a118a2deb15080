"""Noticing that Redis lost its data from the epoch counter going back."""

from __future__ import annotations

from driftline.redis_loss import LOSS_MODE_S, LossDetector


def test_a_growing_counter_is_no_loss_and_a_counter_going_back_is():
    d = LossDetector(grace_s=7.5)
    assert not d.observe(40, now=0.0) and not d.observe(41, now=1.0) and not d.observe(45, now=2.0)
    assert not d.after_loss(now=3.0)
    assert d.observe(1, now=10.0)  # FLUSHALL: the key was recreated by someone's INCR
    assert not d.after_loss(now=12.0)  # live workers get the grace to put their running jobs back
    assert d.after_loss(now=17.5) and d.after_loss(now=17.5 + LOSS_MODE_S)
    assert not d.after_loss(now=18.0 + LOSS_MODE_S)
    assert not d.observe(2, now=20.0)


def test_a_failover_to_a_lagging_replica_is_a_loss_and_a_fresh_redis_seen_first_is_one():
    d = LossDetector(grace_s=1)
    d.observe(500)
    assert d.observe(480)  # the replica is behind: data written since were lost
    assert LossDetector(grace_s=1).observe(1)  # a worker starting on an empty Redis reconciles promptly
    assert not LossDetector(grace_s=1).observe(7)  # a worker (re)starting on a Redis with data: no loss
