"""The supervisor (DriftWorker) in the test process against real services, with job process launches recorded
instead of forked: fast enough for property tests and fault injection on its own code paths."""

from __future__ import annotations

import itertools
import multiprocessing

from config import Settings
from driftline.queue import RedisQueue
from driftline.supervisor.launcher import Launcher
from worker import DriftWorker

_pids = itertools.count(10_000_000)


class RecordedProcess:
    """Stands in for a job process: `start` records the launch; nothing runs."""

    def __init__(self, launched: list[str], name: str | None) -> None:
        self.launched, self.name, self.pid = launched, name, next(_pids)
        self.exitcode = None

    def start(self) -> None:
        self.launched.append(self.name)

    def is_alive(self) -> bool:
        return False

    def join(self, timeout: float | None = None) -> None:
        pass

    def kill(self) -> None:
        pass


class NoJobProcesses:
    """A multiprocessing context for the Launcher that records launches instead of forking."""

    def __init__(self) -> None:
        self.launched: list[str] = []

    def Pipe(self, duplex: bool = False):  # noqa: N802 - the multiprocessing context's name
        return multiprocessing.Pipe(duplex=duplex)

    def Process(self, target=None, args=(), kwargs=None, name=None, daemon=None):  # noqa: N802
        return RecordedProcess(self.launched, name)


def inprocess_worker(settings: Settings) -> DriftWorker:
    """A DriftWorker connected to Redis and PostgreSQL whose job launches are only recorded."""
    worker = DriftWorker(settings, launcher=Launcher(settings, context=NoJobProcesses()))
    worker.queue = RedisQueue(settings)
    return worker


def forget_running(worker: DriftWorker) -> None:
    """Drop recorded launches (their bodies stay held in the processing list until the caller clears it)."""
    for job in worker.running.values():
        job.report.close()
    worker.running.clear()
