"""Housekeeping schedules, against a fake clock and in-memory queue: heartbeat, reaping, Redis loss, sweeps."""

from __future__ import annotations

import json
import logging
from itertools import count
from types import SimpleNamespace
from unittest.mock import MagicMock

import pytest

from config import Settings
from driftline.errors import DatabaseUnavailable
from driftline.fencing import sweep
from driftline.supervisor import housekeeping
from driftline.supervisor.housekeeping import Housekeeping

# Defaults: heartbeat TTL 15 s, poll 5 s, reaper interval 10 s, reconcile_after 120 s (reconcile every 30 s).
SETTINGS = Settings.from_env({})


class Clock:
    def __init__(self):
        self.now = 0.0

    def monotonic(self):
        return self.now


@pytest.fixture
def setup(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(housekeeping, "time", clock)
    reconciles = []
    monkeypatch.setattr("driftline.reconcile.reconcile", lambda s, store, q, after_loss: reconciles.append(after_loss))
    queue = MagicMock()
    epochs = count(5)
    queue.tick_epoch.side_effect = lambda: next(epochs)
    queue.sync_held.return_value = (0, 0)
    w = SimpleNamespace(
        s=SETTINGS, queue=queue, running={}, launcher=MagicMock(), metrics=MagicMock(), status=MagicMock()
    )
    w.reconnect_max_s, w.store = 30.0, MagicMock()
    hk = Housekeeping(w)
    hk.in_background = lambda fn, *args: None
    yield SimpleNamespace(clock=clock, w=w, q=queue, hk=hk, reconciles=reconciles)
    hk.executor.shutdown(wait=True)


def at(env, t: float) -> None:
    env.clock.now = t
    env.hk.maintain()


def test_each_task_runs_on_its_own_schedule(setup):
    for t in (0.0, 0.5, 1.0, 9.0, 10.0, 20.0, 29.0, 30.0):
        at(setup, t)
    assert setup.q.heartbeat.call_count == 7  # not at 0.5 s: within the maintenance interval
    assert setup.q.reap.call_count == 4  # at 0, 10, 20 and 30 s
    setup.q.reap.assert_called_with(grace_s=15.0)
    assert setup.w.status.drain_outbox.call_count == 4
    assert setup.reconciles == [False, False]  # at 0 and 30 s


def test_after_its_own_redis_outage_a_worker_reaps_no_one_for_a_while(setup):
    at(setup, 0.0)
    at(setup, 12.0)  # 12 s silent: within TTL/2 + poll interval (12.5 s)
    assert setup.q.forget_missing.call_count == 0 and setup.q.reap.call_count == 2
    at(setup, 33.0)  # 21 s silent: no reaping until 33 + 15 + 30 = 78 s
    for t in (43.0, 53.0, 63.0, 73.0):
        at(setup, t)
    assert setup.q.forget_missing.call_count == 1 and setup.q.reap.call_count == 2
    at(setup, 83.0)
    assert setup.q.reap.call_count == 3


def test_a_lost_redis_puts_running_jobs_back_and_reconciles_in_loss_mode_after_the_grace(setup):
    setup.q.tick_epoch.side_effect = None
    setup.q.tick_epoch.return_value = 1  # no epoch key yet: Redis lost its data
    at(setup, 0.0)
    assert setup.q.sync_held.call_count == 2  # at once, and the reaper's sync
    assert setup.reconciles == []  # the other workers get half a TTL to put their jobs back
    setup.q.tick_epoch.return_value = 2
    at(setup, 7.5)
    assert setup.reconciles == [True]


def test_reconcile_survives_a_database_outage_and_schedules_the_staging_sweep_once_per_interval(setup):
    background = []
    setup.hk.in_background = lambda fn, *args: background.append((fn, args))
    setup.hk.reconcile()
    setup.clock.now = 599.0
    setup.hk.reconcile()
    assert background == [
        (sweep, (SETTINGS.results_bucket, max(3600.0, 2 * SETTINGS.job_timeout_s), setup.hk._parked_prefixes))
    ]
    setup.clock.now = 600.0
    setup.hk.reconcile()
    assert len(background) == 2 and setup.reconciles == [False] * 3

    def down(*args, **kwargs):
        raise DatabaseUnavailable("db down")

    import driftline.reconcile

    driftline.reconcile.reconcile = down  # restored by monkeypatch at teardown
    setup.clock.now = 1200.0
    setup.hk.reconcile()  # logged, not raised
    assert len(background) == 2


def test_background_work_gets_the_s3_client_and_a_failure_is_only_logged(setup, caplog):
    hk = Housekeeping(setup.w)
    hk._s3 = lambda: "s3-client"
    done = []

    def discard(client, bucket, prefix):
        done.append((client, bucket, prefix))
        return 3

    def broken(client):
        raise RuntimeError("S3 said no")

    with caplog.at_level(logging.INFO, "driftline.worker"):
        hk.in_background(discard, "results", ".staging/m/L/")
        hk.in_background(broken)
        hk.executor.shutdown(wait=True)
    assert done == [("s3-client", "results", ".staging/m/L/")]
    messages = [r.getMessage() for r in caplog.records]
    assert "S3 housekeeping: discard removed 3" in messages
    assert "S3 housekeeping (broken) failed, retried later: S3 said no" in messages


def test_the_sweep_keeps_the_prefixes_of_completions_parked_in_the_outbox(setup):
    outbox = [json.dumps({"op": "completed", "mission_id": "m-1", "lease": "L1"}).encode(), b"{}"]
    setup.q.r.lrange.return_value = outbox
    assert setup.hk._parked_prefixes() == {".staging/m-1/L1/"}
    setup.q.r.lrange.assert_called_with(SETTINGS.status_outbox, 0, -1)
