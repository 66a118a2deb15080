"""A job as the supervisor sees it: reading its report pipe, and which faults never count against a job."""

from __future__ import annotations

import multiprocessing

import pytest
import redis

from driftline.errors import DiskFull, InvalidJob, JobCrashed, QueueUnavailable
from driftline.supervisor.running import SERVICE_FAULTS, RunningJob, pump


def job_with_pipe():
    read, write = multiprocessing.Pipe(duplex=False)
    job = RunningJob(None, read, b"{}", "m-1", 1, deadline=0.0, oom_kills=None)
    return job, write


def test_pump_keeps_the_last_report_while_the_job_runs():
    job, write = job_with_pipe()
    assert pump(job) is False and job.message is None
    write.send({"ok": True, "progress": 0.5})
    write.send({"ok": True, "result": "completed"})
    assert pump(job) is False
    assert job.message == {"ok": True, "result": "completed"} and not job.ended
    write.close()


def test_pump_sees_the_end_once_the_write_end_is_closed_and_keeps_the_report():
    job, write = job_with_pipe()
    write.send({"ok": False, "error": "boom"})
    write.close()
    assert pump(job) is True
    assert job.ended and job.message == {"ok": False, "error": "boom"}
    job.report.close()  # once ended, the pipe is never read again
    assert pump(job) is True


def test_a_new_job_starts_alone_unrefunded_and_not_ended():
    job, write = job_with_pipe()
    assert (job.ended, job.refunded, job.alone, job.lease, job.workdir) == (False, False, True, None, None)
    write.close()


@pytest.mark.parametrize("error", [QueueUnavailable("x"), DiskFull("x"), JobCrashed("x"), redis.ConnectionError("x")])
def test_service_faults_cover_retryable_errors_and_redis_errors(error):
    assert isinstance(error, SERVICE_FAULTS)


def test_a_permanent_job_error_is_not_a_service_fault():
    assert not isinstance(InvalidJob("bad"), SERVICE_FAULTS)
    assert not isinstance(ValueError("bad"), SERVICE_FAULTS)
