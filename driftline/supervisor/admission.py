"""Admission of a claimed body: validate it, count the attempt, mark the mission processing, start its process.

The job boundary: whatever a body makes go wrong ends that job only (dead-lettered), never the supervisor.
"""

from __future__ import annotations

import json
import logging
import time

from driftline.contract.parse import extract_mission_id, parse_job
from driftline.errors import DatabaseUnavailable, InvalidJob
from driftline.limits import check_fits
from driftline.protocol import Processing
from driftline.supervisor.running import SERVICE_FAULTS, RunningJob, Supervisor

log = logging.getLogger("driftline.worker")


class Admission:
    """Takes one claimed body up to its running job process (or its dead letter)."""

    def __init__(self, worker: Supervisor) -> None:
        self.w = worker
        self.claim_lease: str | None = None  # the attempt's lease once counted: a later failure is fenced on it

    def take(self, raw: bytes) -> None:
        """The job boundary: anything a claimed body makes go wrong ends that job only, never the worker."""
        self.claim_lease = None  # set once the attempt is counted: a later failure write is fenced on it
        try:
            self._start_job(raw)
        except SERVICE_FAULTS:
            # Not the job's fault: hand it back if Redis still listens (else the stranded-job check finds it).
            self.w.quietly(self.w.queue.requeue_front, raw)
            raise
        except Exception as e:  # noqa: BLE001 - a body no validator foresaw must not crash the fleet
            mission_id = peek_mission_id(raw, self.w.s.max_job_bytes)
            log.exception("Unexpected error starting mission %s", mission_id or "(no valid mission_id)")
            if self.w.queue.r.lpos(self.w.s.processing_list(), raw) is None:
                return  # already dead-lettered (or handed back) before the error: never twice
            error = f"internal error: {type(e).__name__}: {e}"
            self.w.outcomes.give_up(raw, mission_id, "internal", error, attempts=1, lease=self.claim_lease)

    def _start_job(self, raw: bytes) -> None:
        claimed = time.monotonic()
        self.w.metrics.received.inc()
        mission_id = peek_mission_id(raw, self.w.s.max_job_bytes)
        log.info("Received job from queue (mission %s, %d bytes)", mission_id or "unknown", len(raw))
        try:
            job = parse_job(raw, self.w.s)
            check_fits(job.params, self.w.s)
        except InvalidJob as e:
            self.w.outcomes.give_up(raw, getattr(e, "mission_id", mission_id), e.reason, str(e), attempts=1)
            return
        if self._already_completed(job.mission_id):
            log.warning("Mission %s is already completed: duplicate delivery acknowledged", job.mission_id)
            self.w.queue.ack(raw, job.mission_id)
            return
        begun = self.begin_attempt(raw, job.mission_id)
        if begun is None:
            return
        attempt, lease = begun
        self.claim_lease = lease
        update = Processing(
            job.mission_id, job.params.as_record(), self.w.s.worker_id, lease, attempt, self.w.s.queue_name
        )
        self.w.status.record(job.mission_id, update)
        self._spawn(raw, job.mission_id, attempt, lease, deadline=claimed + self.w.s.job_timeout_s)

    def begin_attempt(self, raw: bytes, mission_id: str) -> tuple[int, str] | None:
        """Count the attempt and make its lease; None (dead-lettered) when earlier attempts used them all up.

        Attempts that ended through no fault of the job are given back, so an attempt count above
        MAX_ATTEMPTS here means earlier runs took their worker down with them (e.g. out of memory).
        """
        try:
            state = self.w.store.claim_state(mission_id)
        except DatabaseUnavailable:
            state = None
        floor, after = (state[1], state[2]) if state else (0, None)
        attempt, lease = self.w.queue.count_attempt(mission_id, floor=floor, after=after)
        if attempt <= self.w.s.max_attempts:
            return attempt, lease
        if self.w.queue.copies_held(mission_id) > 1:
            # Not a crash loop: other copies of the body are running. This surplus one stands down unseen.
            log.warning("Mission %s: a surplus copy (attempt %d) dropped; another copy holds it", mission_id, attempt)
            self.w.queue.release(raw)
            self.w.queue.refund_attempt(mission_id)
            return None
        error = f"job process died with its worker in each of {attempt - 1} attempts (out of memory?)"
        self.w.outcomes.give_up(raw, mission_id, "crashed", error, attempt - 1, lease=lease)
        return None

    def _spawn(self, raw: bytes, mission_id: str, attempt: int, lease: str, deadline: float) -> None:
        w = self.w
        if not w.launcher.ready():  # it died while we claimed: starting now would wait for its preload
            job = RunningJob(None, None, raw, mission_id, attempt, deadline=deadline, lease=lease)
            log.warning("Mission %s returned to the queue: the forkserver is being restarted", mission_id)
            w.outcomes.requeue_interrupted(job, "waiting for a restarted forkserver")
            return
        try:
            job = w.launcher.start(raw, mission_id, attempt, lease, deadline)
        except (EOFError, OSError) as e:  # disk full here, the forkserver died, fork() refused (EAGAIN)
            w.outcomes.not_started(RunningJob(None, None, raw, mission_id, attempt, deadline=deadline, lease=lease), e)
            return
        for other in w.running.values():
            other.alone = False
        job.alone = not w.running
        w.running[job.process.pid] = job
        w.metrics.in_progress.set(len(w.running))
        log.info("Mission %s started in job process %d (attempt %d)", mission_id, job.process.pid, attempt)

    def _already_completed(self, mission_id: str) -> bool:
        try:
            return self.w.store.status(mission_id) == "completed"
        except DatabaseUnavailable:
            return False  # cannot tell; at-least-once is safe because every write is idempotent


def peek_mission_id(raw: bytes, limit: int) -> str | None:
    """The mission id of a body, for logs and the failed row; None for anything unreadable (never raises)."""
    if len(raw) > limit:
        return None
    try:
        return extract_mission_id(json.loads(raw))
    except (ValueError, RecursionError, TypeError):
        return None
