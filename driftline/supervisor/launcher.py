"""Job processes: the forkserver (started, watched, restarted), forking a job, killing and waiting for it.

The forkserver's preload (driftline/warm.py) imported OpenDrift and built the landmask, so every job process starts
warm. Tests inject a Launcher with another multiprocessing context (one that records launches instead of forking).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from multiprocessing.connection import wait
from pathlib import Path

from config import Settings
from driftline.supervisor.backoff import Backoff
from driftline.supervisor.running import RunningJob

log = logging.getLogger("driftline.worker")
FORKSERVER_RETRY_MAX_S = 30.0
KILL_JOIN_S = 3.0


class Launcher:
    """Starts job processes from a warm forkserver, and kills and waits for them."""

    def __init__(self, settings: Settings, context=None, jobs_dir: Path | None = None) -> None:
        self.s = settings
        self.context = context or multiprocessing.get_context("forkserver")
        self.jobs_dir = jobs_dir or Path(tempfile.gettempdir()) / "driftline-jobs"
        self.restarting: threading.Thread | None = None
        self.stopping: Callable[[], bool] = lambda: False  # the supervisor's stop signal (set by DriftWorker)

    def start(self, raw: bytes, mission_id: str, attempt: int, lease: str, deadline: float) -> RunningJob:
        """Fork the job process (from the forkserver) with its report pipe and temporary directory.

        Raises EOFError or OSError (disk full, the forkserver died, fork() refused) after cleaning up.
        """
        reader, writer = self.context.Pipe(duplex=False)
        from driftline.jobproc import job_main

        workdir = self.jobs_dir / f"{os.getpid()}-{lease}"
        proc = self.context.Process(
            target=job_main,
            args=(raw, self.s, attempt, os.getpid(), writer),
            kwargs={"lease": lease, "workdir": str(workdir)},
            name=f"job-{mission_id}",
            daemon=False,
        )
        try:
            workdir.mkdir(parents=True, exist_ok=True)
            proc.start()
        except (EOFError, OSError):
            writer.close()
            reader.close()
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        writer.close()
        return RunningJob(proc, reader, raw, mission_id, attempt, deadline=deadline, lease=lease, workdir=workdir)

    def start_forkserver(self) -> None:
        """Start (or restart) the forkserver and wait for its preload (OpenDrift, landmask)."""
        started = time.monotonic()
        # The forkserver is a fresh interpreter: with glibc's malloc on transparent huge pages its 2.5 GB
        # (landmask, OpenDrift) needs 1/512 of the page-table entries, so each job's fork and exit cost
        # about half (measured: 80 -> 50 ms start, 180 -> 70 ms start + exit). Harmless where THP is off.
        os.environ.setdefault("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1")
        self.context.set_forkserver_preload(["driftline.warm"])
        from driftline.jobproc import noop

        proc = self.context.Process(target=noop)  # starts the forkserver and waits for its preload
        proc.start()
        proc.join()
        log.info("OpenDrift loaded and landmask built in %.1f s", time.monotonic() - started)

    def ready(self) -> bool:
        """True when a job can start without waiting (a restart blocks Process.start() for the preload)."""
        self.watch()
        return self.restarting is None

    def watch(self) -> None:
        """Notice a dead forkserver and start a new one in a thread, so the heartbeat never stops."""
        if self.restarting is not None:
            if not self.restarting.is_alive():
                self.restarting = None
            return
        from multiprocessing import forkserver

        pid = forkserver._forkserver._forkserver_pid  # noqa: SLF001 - no public accessor
        if pid is None or _child_running(pid):
            return
        log.error("The forkserver (pid %d) died: starting a new one; running jobs continue", pid)
        self.restarting = threading.Thread(target=self._restart, name="forkserver", daemon=True)
        self.restarting.start()

    def _restart(self) -> None:
        self.until_ready()

    def until_ready(self) -> None:
        """(Re)start the forkserver until its preload finishes, with bounded backoff; a stop signal ends it.

        The forkserver (1.3 GB of landmask) is the OOM killer's likeliest victim and needs a fork to start:
        killed during its preload, or fork() refused (EAGAIN at a pids limit), it is tried again, never fatal.
        """
        backoff = Backoff(1.0, FORKSERVER_RETRY_MAX_S)
        while not self.stopping():
            try:
                return self.start_forkserver()
            except Exception as e:  # noqa: BLE001 - EOFError, BlockingIOError, OSError: all mean "try again"
                delay = backoff.next()
                log.error("Forkserver start failed (%s: %s); retrying in %.1f s", type(e).__name__, e, delay)
                deadline = time.monotonic() + delay
                while not self.stopping() and time.monotonic() < deadline:
                    time.sleep(0.1)

    def kill(self, job: RunningJob) -> None:
        job.process.kill()
        job.process.join(timeout=KILL_JOIN_S)  # SIGKILL is not refused; a process in D state is left to the kernel

    def wait(self, jobs: Iterable[RunningJob], timeout_s: float) -> None:
        """Until one of the jobs reports or ends, or timeout_s."""
        # Report pipes, not sentinels (a dead forkserver makes those ready); not those of jobs that ended but
        # could not be finished yet (Redis down): their pipe stays readable and would make this a busy loop.
        handles = [j.report for j in jobs if not j.ended]
        if handles:
            wait(handles, timeout=timeout_s)
        else:
            time.sleep(timeout_s)

    def sweep_workdirs(self, jobs: Iterable[RunningJob]) -> None:
        """Temporary directories of job processes whose supervisor is gone (kill -9) or that were not cleaned."""
        mine = {j.workdir for j in jobs}
        for path in self.jobs_dir.glob("*-*") if self.jobs_dir.is_dir() else []:
            owner = int(path.name.split("-", 1)[0]) if path.name.split("-", 1)[0].isdigit() else 0
            if path not in mine and (owner == os.getpid() or not _process_exists(owner)):
                shutil.rmtree(path, ignore_errors=True)


def _child_running(pid: int) -> bool:
    """True unless our child pid has exited (looked at without reaping it: multiprocessing reaps it)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
    except ChildProcessError:
        return True  # already reaped: multiprocessing restarted it itself


def _process_exists(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
