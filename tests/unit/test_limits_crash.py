"""How a job process that died without reporting is labelled (defect 6 and the co-running OOM risk)."""

from __future__ import annotations

import signal

import pytest

from driftline.errors import JobCrashed
from driftline.limits import JobOutOfMemory, crash_error, signal_name


@pytest.mark.parametrize("number", range(signal.SIGRTMIN, signal.SIGRTMAX + 1))
def test_a_job_killed_by_a_real_time_signal_is_a_crash_named_after_its_signal(tmp_path, number):
    error = crash_error(-number, None, tmp_path)
    assert isinstance(error, JobCrashed) and signal_name(number) in str(error)
    assert signal_name(number).startswith("SIGRT")


def test_an_oom_kill_while_other_jobs_ran_is_retried_alone_it_is_out_of_memory(tmp_path):
    (tmp_path / "memory.events").write_text("oom 1\noom_kill 1\n")
    shared = crash_error(-signal.SIGKILL, 0, tmp_path, alone=False)  # the count is the whole cgroup's
    assert type(shared) is JobCrashed and "other jobs ran beside it" in str(shared)
    assert isinstance(crash_error(-signal.SIGKILL, 0, tmp_path, alone=True), JobOutOfMemory)
