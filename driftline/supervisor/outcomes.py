"""Outcomes of a finished job: acknowledged, stood down, retried with backoff, requeued, or dead-lettered.

The retry policy, from the error's class alone (driftline/protocol.py): a service outage waits for the service
with its attempt given back, however long; a retryable job failure is retried up to MAX_ATTEMPTS with capped
exponential backoff; the rest is dead-lettered and the mission marked failed.
"""

from __future__ import annotations

import logging
import shutil
import time

from driftline.errors import DriftError, JobCrashed, JobTimeout
from driftline.limits import crash_error
from driftline.protocol import Failed, JobReport, Refund, Requeued, is_outage, should_retry
from driftline.supervisor.backoff import Backoff
from driftline.supervisor.running import SERVICE_FAULTS, RunningJob, Supervisor, pump
from driftline.supervisor.status import one_line

log = logging.getLogger("driftline.worker")
JOIN_S = 2.0  # a job that closed its report exits within this, or is killed
START_RETRY_S = 5.0  # a job that could not start through no fault of its own waits this long (disk, fork)


class Outcomes:
    """Turns each ended job process into its outcome in Redis and in the mission row."""

    def __init__(self, worker: Supervisor) -> None:
        self.w = worker

    def collect_finished(self) -> None:
        """Finish jobs whose process ended; a job leaves `running` only once its outcome is recorded.

        A job has ended when its report pipe is closed (only the job process holds the write end), not
        when the forkserver says so: a forkserver that dies reports every job it forked as exited.
        """
        now = time.monotonic()
        for pid, job in list(self.w.running.items()):
            if not pump(job):
                if now > job.deadline:
                    self.w.launcher.kill(job)
                    limit = f"{self.w.s.job_timeout_s:g} s"
                    self.finish_failed(job, JobTimeout(f"mission exceeded its time limit of {limit} and was stopped"))
                    self.clean_up(job)
                    del self.w.running[pid]
                continue
            job.process.join(timeout=JOIN_S)
            if job.process.is_alive():
                self.w.launcher.kill(job)  # closed its report but hangs on exit
            try:
                self.finish(job, job.message)  # may raise on a Redis outage: the job stays and is finished later
            except SERVICE_FAULTS:
                raise
            except Exception:  # noqa: BLE001 - one job's odd ending must not wedge the loop for every other job
                log.exception("Mission %s: its outcome could not be read; retried as a crash", job.mission_id)
                self.finish_failed(job, JobCrashed("job process ended in a way the worker could not read"))
            self.clean_up(job)
            del self.w.running[pid]
        self.w.metrics.in_progress.set(len(self.w.running))

    def finish(self, job: RunningJob, message: dict | None) -> None:
        """The outcome of a job whose process ended, from its report (None: it died without one)."""
        report = None if message is None else JobReport.from_dict(message)
        if report is None:
            self.finish_failed(job, crash_error(job.process.exitcode, job.oom_kills, alone=job.alone))
        elif report.ok and report.result == "superseded":
            self.stand_down(job, "a later claim superseded it or the mission is already finished")
        elif report.ok:
            if report.result == "handover" and not job.handed_over:  # finish() is retried after a Redis error
                self.w.status.take_over_completion(report.completion)
                job.handed_over = True
            self.w.queue.ack(job.raw, job.mission_id)
            self.w.metrics.completed.inc()
            self.w.metrics.observe_timings(report.timings)
            self.w.metrics.duration.labels(stage="total").observe(time.monotonic() - job.started)
        else:
            self.finish_failed(job, report.exception())

    def stand_down(self, job: RunningJob, why: str) -> None:
        """A copy that another worker took over (we were reaped while alive): no outcome, no attempt used."""
        log.warning("Mission %s: attempt %d stands down: %s", job.mission_id, job.attempt, why)
        self.w.queue.release(job.raw)
        if not job.refunded:  # finishing is retried after a Redis error: give the attempt back once
            self.w.queue.refund_attempt(job.mission_id)
            job.refunded = True
            self.w.status.record(job.mission_id, Refund(job.mission_id))

    def finish_failed(self, job: RunningJob, error: DriftError) -> None:
        """Wait out an outage, retry a retryable failure with backoff, or dead-letter: decided by the error's class."""
        retry = should_retry(error)
        self.w.metrics.failed.labels(reason=error.reason).inc()
        if not self.w.queue.holds(job.raw):
            self.stand_down(job, f"it was reaped while running; its failure ({error}) is not recorded")
            return
        if is_outage(error):
            # A service outage is not the job's fault: wait for the service, however long, never dead-letter,
            # and give the attempt back.
            delay = Backoff(self.w.s.retry_base_s, self.w.s.retry_max_s).delay(job.attempt)
            log.warning(
                "Mission %s waits for a service: %s; requeued, next try in %.1f s", job.mission_id, error, delay
            )
            self.w.queue.refund_attempt(job.mission_id)
            self.w.queue.retry_later(job.raw, delay)
            self.w.metrics.retried.inc()
            update = Requeued(job.mission_id, f"waiting to retry: {error}", job.lease, job.attempt - 1)
            self.w.status.record(job.mission_id, update)
            return
        if retry and job.attempt < self.w.s.max_attempts:
            delay = Backoff(self.w.s.retry_base_s, self.w.s.retry_max_s).delay(job.attempt)
            log.warning(
                "Mission %s attempt %d/%d failed: %s; retrying in %.1f s",
                job.mission_id,
                job.attempt,
                self.w.s.max_attempts,
                error,
                delay,
            )
            self.w.queue.retry_later(job.raw, delay)
            self.w.metrics.retried.inc()
            return
        suffix = f" (after {job.attempt} attempts)" if retry else ""
        self.give_up(job.raw, job.mission_id, error.reason, f"{error}{suffix}", job.attempt, lease=job.lease)

    def give_up(
        self, raw: bytes, mission_id: str | None, reason: str, error: str, attempts: int, lease: str | None = None
    ) -> None:
        """Dead-letter the job and mark the mission failed (when its id is valid)."""
        error = one_line(error)
        dropped = self.w.queue.dead_letter(raw, reason, error, attempts, mission_id)
        self.w.metrics.dead.inc()
        self.w.metrics.dead_dropped.inc(dropped)
        applied = None
        if mission_id:
            applied = self.w.status.record(mission_id, Failed(mission_id, error, self.w.s.worker_id, lease))
        if applied is False:  # fenced: another copy holds the mission (or it is finished); it keeps its state
            log.error("Job for mission %s dead-lettered (%s); the mission is held by another copy", mission_id, error)
        else:
            log.error("Mission %s failed: %s", mission_id or "(no valid mission_id)", error)

    def requeue_interrupted(self, job: RunningJob, why: str = "interrupted by a worker shutdown") -> None:
        """The job goes back to the queue head and the attempt is given back (not the job's fault)."""
        self.w.queue.requeue_front(job.raw)
        self.w.queue.refund_attempt(job.mission_id)
        self.w.status.record(job.mission_id, Requeued(job.mission_id, why, job.lease, job.attempt - 1))

    def not_started(self, job: RunningJob, e: BaseException) -> None:
        """A job this host could not start (no disk, no forkserver, no fork): back soon, its attempt given back."""
        from driftline.jobproc import disk_full

        full = disk_full(e)
        why = str(full) if full else f"the job process could not be started ({type(e).__name__}: {e})"
        log.error("Mission %s not started: %s; requeued, next try in %.0f s", job.mission_id, why, START_RETRY_S)
        self.w.queue.refund_attempt(job.mission_id)
        self.w.queue.retry_later(job.raw, START_RETRY_S)
        self.w.metrics.retried.inc()
        self.w.claim_after = time.monotonic() + START_RETRY_S  # claiming more would only fail the same way
        update = Requeued(job.mission_id, f"waiting to retry: {why}", job.lease, job.attempt - 1)
        self.w.status.record(job.mission_id, update)

    def clean_up(self, job: RunningJob) -> None:
        """Remove what a finished job leaves behind: its temporary directory and, unless done, its staged objects."""
        if job.workdir is not None:
            shutil.rmtree(job.workdir, ignore_errors=True)
        result = (job.message or {}).get("result")
        if job.lease and result not in ("completed", "parked", "handover", "superseded"):
            from driftline.fencing import discard, staging_prefix

            self.w.housekeeping.in_background(
                discard, self.w.s.results_bucket, staging_prefix(job.mission_id, job.lease)
            )
