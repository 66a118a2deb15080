"""The launcher forks a job with its report pipe and temporary directory, and cleans both up when it cannot."""

from __future__ import annotations

import os

import pytest

from config import Settings
from driftline.supervisor.launcher import Launcher
from tests.inprocess import NoJobProcesses


class RefusedFork(NoJobProcesses):
    """fork() refused (EAGAIN at a pids limit)."""

    def Process(self, *args, **kwargs):  # noqa: N802 - the multiprocessing context's name
        process = super().Process(*args, **kwargs)

        def refuse() -> None:
            raise BlockingIOError(11, "Resource temporarily unavailable")

        process.start = refuse
        return process


def test_a_started_job_has_its_pipe_its_workdir_and_the_launch_recorded(tmp_path):
    context = NoJobProcesses()
    launcher = Launcher(Settings(), context=context, jobs_dir=tmp_path)
    job = launcher.start(b"{}", "m-1", 2, "lease-1", deadline=123.0)
    assert context.launched == ["job-m-1"]
    assert job.workdir == tmp_path / f"{os.getpid()}-lease-1" and job.workdir.is_dir()
    assert (job.mission_id, job.attempt, job.lease, job.deadline) == ("m-1", 2, "lease-1", 123.0)
    with pytest.raises(EOFError):  # the supervisor keeps the read end only: no job process holds the write end here
        job.report.recv()
    job.report.close()


def test_a_refused_fork_leaves_no_directory_and_raises_for_the_caller(tmp_path):
    launcher = Launcher(Settings(), context=RefusedFork(), jobs_dir=tmp_path)
    with pytest.raises(BlockingIOError):
        launcher.start(b"{}", "m-1", 1, "lease-2", deadline=0.0)
    assert list(tmp_path.iterdir()) == []


def test_workdirs_of_gone_supervisors_are_swept_and_running_ones_kept(tmp_path):
    launcher = Launcher(Settings(), context=NoJobProcesses(), jobs_dir=tmp_path)
    running = launcher.start(b"{}", "m-1", 1, "lease-3", deadline=0.0)
    gone = tmp_path / "999999999-old"
    gone.mkdir()
    launcher.sweep_workdirs([running])
    assert sorted(p.name for p in tmp_path.iterdir()) == [running.workdir.name]
    running.report.close()
