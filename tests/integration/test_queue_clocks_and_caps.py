"""Reasoned risks on real Redis and PostgreSQL: the dead-letter list is capped; leases, retry due
times and reconcile stamps follow Redis's clock, never one worker's, and a lagging Redis clock never fences
out a new claim."""

from __future__ import annotations

import json
import time
import uuid

import driftline.queue as queue_module
from config import Settings
from tests.conftest import Services, mission
from tests.inprocess import forget_running, inprocess_worker

SHORT = {"latitude": 60.0, "longitude": 4.0, "start_time": "2024-01-01T00:00:00Z", "duration_hours": 2}


def settings_for(services: Services, queue: str, worker_id: str = "w") -> Settings:
    return Settings(
        database_url=services.database_url,
        redis_url=services.redis_url,
        s3_endpoint=services.s3_endpoint,
        queue_name=queue,
        worker_id=worker_id,
    )


def new_queue() -> str:
    return f"k-{uuid.uuid4().hex[:8]}"


def test_the_dead_letter_list_keeps_the_newest_and_counts_what_it_dropped(services, monkeypatch):
    monkeypatch.setattr(queue_module, "DEAD_LETTERS_MAX", 5, raising=False)
    w = inprocess_worker(settings_for(services, new_queue()))
    for i in range(8):
        raw = json.dumps({"mission_id": str(uuid.uuid4()), "params": {**SHORT, "num_particles": -i}}).encode()
        w.queue.r.rpush(w.s.processing_list(), raw)
        w.admission.take(raw)
    dead = [json.loads(x) for x in w.queue.r.lrange(w.s.dead_queue, 0, -1)]
    assert len(dead) == 5 and [json.loads(d["job"])["params"]["num_particles"] for d in dead] == [-3, -4, -5, -6, -7]
    assert w.queue.stats()["dead_dropped"] == 3
    assert w.metrics.registry.get_sample_value("drift_dead_letters_dropped_total") == 3


def test_a_new_claim_is_not_fenced_out_when_redis_clock_is_behind_the_last_lease(services):
    """A failover to a replica whose clock lags by an hour: the row's lease came from the old primary's clock."""
    w = inprocess_worker(settings_for(services, new_queue()))
    mid = str(uuid.uuid4())
    ahead = f"{int((time.time() + 3600) * 1e6):016x}-oldprim"
    assert w.store.mark_processing(mid, SHORT, "gone", ahead, 1, w.s.queue_name)
    raw = json.dumps({"mission_id": mid, "params": SHORT}).encode()
    w.queue.r.rpush(w.s.processing_list(), raw)
    w.admission.take(raw)
    job = next(iter(w.running.values()))
    assert job.lease > ahead
    row = mission(services, mid)
    assert row["status"] == "processing" and row["worker_id"] == "w" and row["attempts"] == 2, row
    assert w.store.mark_completed(mid, [], "s3://b/x/", None, job.lease)  # its completion is accepted too
    forget_running(w)


def test_retry_due_times_are_on_redis_clock_not_the_scheduling_workers(services, monkeypatch):
    """A worker whose clock is an hour ahead schedules a 1 s retry: another worker promotes it after ~1 s."""
    s = settings_for(services, new_queue())
    skewed, honest = inprocess_worker(s), inprocess_worker(s)
    raw = json.dumps({"mission_id": str(uuid.uuid4()), "params": SHORT}).encode()
    skewed.queue.r.rpush(s.processing_list(), raw)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3600)
    assert skewed.queue.retry_later(raw, 1.0)
    monkeypatch.setattr(time, "time", real)
    time.sleep(1.2)
    assert honest.queue.promote_due() == 1 and honest.queue.r.lrange(s.queue_name, 0, -1) == [raw]


def test_reconcile_suspect_stamps_are_on_redis_clock(services, monkeypatch):
    from driftline.reconcile import _due

    r = inprocess_worker(settings_for(services, new_queue())).queue.r
    key = f"k-{uuid.uuid4().hex[:8]}:reconcile_suspects"
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 3600)  # a worker an hour behind saw it missing first
    assert _due(r, key, ["m"], 120) == []
    monkeypatch.setattr(time, "time", lambda: real() + 3600)  # one an hour ahead sees it next, a second later
    assert _due(r, key, ["m"], 120) == []  # not due: only a second passed on the shared clock
