"""The retry policy of a finished job, decided from its error's class, against an in-memory queue and status."""

from __future__ import annotations

from types import SimpleNamespace
from unittest.mock import MagicMock

import pytest

from driftline.errors import DatabaseUnavailable, InvalidJob, JobCrashed
from driftline.protocol import Failed, Refund, Requeued
from driftline.supervisor.outcomes import Outcomes
from driftline.supervisor.running import RunningJob

RAW = b'{"mission_id": "m-1"}'


class FakeQueue:
    """Records the queue operations an outcome performs; `held` says whether the job is still ours."""

    def __init__(self, held: bool = True):
        self.held, self.calls = held, []

    def holds(self, raw):
        return self.held

    def __getattr__(self, name):
        return lambda *args: self.calls.append((name, *args)) or 0


class FakeStatus:
    def __init__(self):
        self.updates = []

    def record(self, mission_id, update):
        self.updates.append(update)
        return True


def worker(held: bool = True, max_attempts: int = 3):
    s = SimpleNamespace(retry_base_s=2.0, retry_max_s=60.0, max_attempts=max_attempts, worker_id="w-1")
    return SimpleNamespace(s=s, queue=FakeQueue(held), status=FakeStatus(), metrics=MagicMock())


def job(attempt: int) -> RunningJob:
    return RunningJob(MagicMock(), None, RAW, "m-1", attempt, deadline=0.0, lease="L1", oom_kills=None)


def test_an_outage_is_requeued_with_its_attempt_given_back_even_past_max_attempts():
    w = worker(max_attempts=3)
    Outcomes(w).finish_failed(job(7), DatabaseUnavailable("db down"))
    names = [c[0] for c in w.queue.calls]
    assert names == ["refund_attempt", "retry_later"]
    delay = w.queue.calls[1][2]
    assert 30.0 <= delay <= 60.0  # attempt 7: 2 * 2**6 = 128 s, capped at 60, full jitter over the upper half
    assert w.status.updates == [Requeued("m-1", "waiting to retry: db down", "L1", 6)]


@pytest.mark.parametrize("attempt", [1, 2])
def test_a_retryable_failure_below_max_attempts_is_retried_with_backoff_and_no_refund(attempt):
    w = worker(max_attempts=3)
    Outcomes(w).finish_failed(job(attempt), JobCrashed("killed"))
    ((name, raw, delay),) = w.queue.calls
    ceiling = 2.0 * 2 ** (attempt - 1)
    assert (name, raw) == ("retry_later", RAW) and ceiling / 2 <= delay <= ceiling
    assert w.status.updates == []


def test_a_retryable_failure_at_max_attempts_is_dead_lettered_naming_the_attempts():
    w = worker(max_attempts=3)
    Outcomes(w).finish_failed(job(3), JobCrashed("killed\n by  signal 9"))
    assert w.queue.calls == [("dead_letter", RAW, "crashed", "killed by signal 9 (after 3 attempts)", 3, "m-1")]
    assert w.status.updates == [Failed("m-1", "killed by signal 9 (after 3 attempts)", "w-1", "L1")]


def test_a_permanent_failure_is_dead_lettered_at_once_without_an_attempt_count():
    w = worker(max_attempts=3)
    Outcomes(w).finish_failed(job(1), InvalidJob("bad params"))
    assert w.queue.calls == [("dead_letter", RAW, "invalid_job", "bad params", 1, "m-1")]
    w.metrics.failed.labels.assert_called_with(reason="invalid_job")


def test_a_reaped_job_stands_down_and_gives_its_attempt_back_only_once():
    w = worker(held=False)
    outcomes, j = Outcomes(w), job(2)
    outcomes.finish_failed(j, InvalidJob("bad"))
    outcomes.finish_failed(j, InvalidJob("bad"))  # finishing retried after a Redis error
    assert [c[0] for c in w.queue.calls] == ["release", "refund_attempt", "release"]
    assert w.status.updates == [Refund("m-1")] and j.refunded


def test_a_superseded_report_stands_down_and_a_success_is_acknowledged():
    w = worker()
    Outcomes(w).finish(job(1), {"ok": True, "result": "superseded"})
    assert [c[0] for c in w.queue.calls] == ["release", "refund_attempt"]
    w = worker()
    Outcomes(w).finish(job(1), {"ok": True, "result": "completed", "timings": {}})
    assert w.queue.calls == [("ack", RAW, "m-1")]
    w.metrics.completed.inc.assert_called_once()
