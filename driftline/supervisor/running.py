"""A job process as the supervisor sees it, and the service faults that never count against a job."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from driftline.errors import RetryableError
from driftline.limits import oom_kill_count
from driftline.queue import REDIS_ERRORS

if TYPE_CHECKING:
    from config import Settings
    from driftline.db import MissionStore
    from driftline.metrics import Metrics
    from driftline.queue import RedisQueue

# Faults of a service (or of this host), not of a job: back off and retry, never dead-letter because of them.
SERVICE_FAULTS = (*REDIS_ERRORS, RetryableError)


@dataclass
class RunningJob:
    process: multiprocessing.process.BaseProcess
    report: object  # read end of the Pipe
    raw: bytes
    mission_id: str
    attempt: int
    deadline: float
    started: float = field(default_factory=time.monotonic)
    message: dict | None = None  # the job process's report, once read
    lease: str | None = None  # the attempt token its status and completion writes are fenced on
    workdir: Path | None = None  # its temporary files, removed however it ends
    ended: bool = False  # its process closed the report pipe
    refunded: bool = False  # its attempt was given back (standing down)
    handed_over: bool = False  # the completion it handed over is recorded (applied or in the outbox)
    oom_kills: int | None = field(default_factory=oom_kill_count)  # the cgroup's count when the job started
    alone: bool = True  # no other job ran beside it (the cgroup's OOM count is then its own)


def pump(job: RunningJob) -> bool:
    """Read the job's report if one arrived; True once the job process has closed its end (it has ended)."""
    if job.ended:
        return True
    try:
        while job.report.poll():
            job.message = job.report.recv()
    except (EOFError, OSError):
        job.ended = True
    return job.ended


class Supervisor(Protocol):
    """What the supervisor's parts share: DriftWorker (worker.py) holds it; its parts each get the worker."""

    s: Settings
    metrics: Metrics
    running: dict[int, RunningJob]
    signals: int
    queue: RedisQueue
    store: MissionStore
    claim_after: float  # no claims before (monotonic): a job could not start through no fault of its own
    reconnect_max_s: float
    launcher: Any
    admission: Any
    outcomes: Any
    status: Any
    housekeeping: Any

    def quietly(self, fn: Callable, *args: Any) -> None: ...
