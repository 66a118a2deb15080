"""A completion its job process cannot record (PostgreSQL's answer lost, Redis out of reach too) is handed to
the supervisor in the report, never turned into a failed attempt and a rerun.

The defect this guards (seen in CI's partition test): the job process's commit landed but its answer was lost
with every link cut, parking it in Redis failed, the attempt was counted as failed and retried, and the rerun
found the mission completed with no worker having logged it completed.
"""

from __future__ import annotations

import json
import logging
import uuid

import pytest
import redis

import driftline.jobproc as jobproc
from driftline.db import MissionStore
from driftline.errors import DatabaseUnavailable
from driftline.pipeline import MissionOutcome
from driftline.protocol import JobReport
from tests.conftest import mission, results
from tests.integration.test_reliability import body, final_object, lease, new_queue, staged_attempt, worker_for
from tests.services import BlackHole
from worker import RunningJob


@pytest.fixture
def black_hole():
    hole = BlackHole()
    yield hole
    hole.close()


def answer_lost(monkeypatch) -> None:
    """PostgreSQL commits the completion, then its answer never arrives (a link cut while COMMIT was in flight)."""
    real = MissionStore.apply

    def apply(self, update, publish=None):
        real(self, update, publish)
        raise DatabaseUnavailable("PostgreSQL unavailable: PostgreSQL did not answer within 2 s")

    monkeypatch.setattr(MissionStore, "apply", apply)


def products_made(tmp_path):
    """run_mission stand-in: one product put through the job's (staged) object store, as the pipeline does."""

    def run(job, ctx):
        path = tmp_path / "summary.json"
        path.write_text(json.dumps({"mission": job.mission_id}))
        stored = ctx.objects.put("summary", f"{job.mission_id}/products/summary.json", path)
        return MissionOutcome([stored], {"timings_s": {}})

    return run


def test_a_completion_whose_answer_was_lost_with_redis_unreachable_is_handed_over(
    services, tmp_path, monkeypatch, black_hole
):
    w = worker_for(services, new_queue(), "handover", redis_url=f"redis://127.0.0.1:{black_hole.port}/0")
    mid, token = str(uuid.uuid4()), lease(7)
    MissionStore(services.database_url).ensure_queued(mid, {"duration_hours": 2})
    monkeypatch.setattr(jobproc, "run_mission", products_made(tmp_path))
    answer_lost(monkeypatch)
    job = jobproc.parse_job(body(mid), w.s)
    _, result, completion = jobproc._run(job, w.s, attempt=1, lease=token)  # old code: Redis's TimeoutError
    assert result == "handover"
    assert completion["op"] == "completed" and completion["lease"] == token and completion["staged"]
    assert mission(services, mid)["status"] == "completed"  # the commit landed: a rerun would have found it so
    report = JobReport.success(result, 1.0, {}, [], completion).to_dict()
    assert JobReport.from_dict(json.loads(json.dumps(report))).completion == completion  # survives the pipe


def test_the_supervisor_records_a_handed_over_completion_once(services, tmp_path, caplog, monkeypatch):
    queue = new_queue()
    w = worker_for(services, queue, "taker")
    mid, token = str(uuid.uuid4()), lease(3)
    MissionStore(services.database_url).ensure_queued(mid, {"duration_hours": 2})
    update = staged_attempt(services, w.s, tmp_path, mid, token, '{"mission": "handed over"}')
    raw = body(mid)
    w.queue.r.rpush(w.s.processing_list(), raw)
    job = RunningJob(None, None, raw, mid, 1, deadline=0, lease=token)
    message = {"ok": True, "result": "handover", "seconds": 1.0, "timings": {}, "warnings": [], "completion": update}
    real_ack, acks = w.queue.ack, []

    def ack_lost_once(*args):  # Redis goes away between the completion and the acknowledgement
        acks.append(args)
        if len(acks) == 1:
            raise redis.ConnectionError("Connection reset by peer")
        return real_ack(*args)

    monkeypatch.setattr(w.queue, "ack", ack_lost_once)
    caplog.set_level(logging.INFO)
    with pytest.raises(redis.ConnectionError):
        w.outcomes.finish(job, message)
    w.outcomes.finish(job, message)  # the loop finishes the job again once Redis answers
    assert mission(services, mid)["status"] == "completed"  # old code: only acknowledged, the row left queued
    assert set(results(services, mid)) == {"summary"}
    assert final_object(services, mid) == b'{"mission": "handed over"}'
    assert caplog.text.count(f"Mission {mid} completed successfully (handed over by its job process)") == 1
    assert w.queue.r.llen(w.s.processing_list()) == 0


def test_a_handed_over_completion_waits_in_the_outbox_while_postgresql_is_down(services, tmp_path, black_hole):
    w = worker_for(services, new_queue(), "taker2")
    mid, token = str(uuid.uuid4()), lease(4)
    update = staged_attempt(services, w.s, tmp_path, mid, token, '{"mission": "parked"}')
    w.store = MissionStore(f"postgresql://postgres@127.0.0.1:{black_hole.port}/postgres", 1, io_timeout_s=0.5)
    w.status.take_over_completion(update)
    assert [json.loads(x)["mission_id"] for x in w.queue.r.lrange(w.s.status_outbox, 0, -1)] == [mid]
    assert mission(services, mid) is None and final_object(services, mid) is None


def test_a_completion_whose_publication_meets_an_s3_outage_is_parked_and_published_later(
    services, tmp_path, monkeypatch, caplog
):
    """S3 fails while the staged objects are copied to their final keys: the completion waits in the outbox (the
    products are made and staged) instead of failing the attempt and simulating the mission again."""
    import driftline.fencing as fencing
    from driftline.errors import StorageUnavailable

    w = worker_for(services, new_queue(), "s3-out")
    mid, token = str(uuid.uuid4()), lease(9)
    MissionStore(services.database_url).ensure_queued(mid, {"duration_hours": 2})
    monkeypatch.setattr(jobproc, "run_mission", products_made(tmp_path))
    real_publish = fencing.publish

    def s3_down(*args):
        raise StorageUnavailable("S3 unreachable during publication of a product: EndpointConnectionError")

    monkeypatch.setattr(fencing, "publish", s3_down)
    job = jobproc.parse_job(body(mid), w.s)
    _, result, completion = jobproc._run(job, w.s, attempt=1, lease=token)  # old code: StorageUnavailable raised
    assert result == "parked" and completion is None
    assert mission(services, mid)["status"] == "queued" and final_object(services, mid) is None
    assert [json.loads(x)["mission_id"] for x in w.queue.r.lrange(w.s.status_outbox, 0, -1)] == [mid]
    w.status.drain_outbox()  # S3 still down: it waits in the outbox
    assert w.queue.r.llen(w.s.status_outbox) == 1 and mission(services, mid)["status"] == "queued"
    monkeypatch.setattr(fencing, "publish", real_publish)
    caplog.set_level(logging.INFO)
    w.status.drain_outbox()
    assert mission(services, mid)["status"] == "completed" and set(results(services, mid)) == {"summary"}
    assert json.loads(final_object(services, mid)) == {"mission": mid}
    assert caplog.text.count(f"Mission {mid} completed successfully (from the status outbox)") == 1
