"""Driftline drift worker: the queue daemon (`python worker.py`) and its command line.

The supervising process holds the Redis/PostgreSQL connections and never runs
OpenDrift itself. Each job runs in a child forked from a forkserver whose
preload imported OpenDrift and built the landmask, so children start warm,
share the landmask copy-on-write and inherit no threads or sockets.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path

from config import ConfigError, Settings, redact_url
from driftline.contract.parse import extract_mission_id, parse_job
from driftline.db import DatabaseRejected, MissionStore
from driftline.errors import DatabaseUnavailable, DriftError, InvalidJob, JobCrashed, JobTimeout, RetryableError
from driftline.limits import check_fits, crash_error, oom_kill_count
from driftline.logs import setup_logging
from driftline.metrics import Metrics
from driftline.queue import REDIS_ERRORS, RedisQueue, describe_redis_error
from driftline.readiness import clear_ready, mark_ready
from driftline.redis_loss import LossDetector

log = logging.getLogger("driftline.worker")
MAINTENANCE_INTERVAL_S = 1.0
STAGING_SWEEP_INTERVAL_S = 600.0
OUTAGE_REASONS = {"s3_unavailable", "db_unavailable", "redis_unavailable", "forcing_unavailable", "disk_full"}
# Faults of a service (or of this host), not of a job: back off and retry, never dead-letter because of them.
SERVICE_FAULTS = (*REDIS_ERRORS, RetryableError)
MESSAGE_MAX = 1000  # characters of an error stored for users
FORKSERVER_RETRY_MAX_S = 30.0
JOIN_S = 2.0  # a job that closed its report exits within this, or is killed
KILL_JOIN_S = 3.0
OUTBOX_BUDGET_FRACTION = 0.2  # of the heartbeat TTL: one outbox pass never holds the loop longer
START_RETRY_S = 5.0  # a job that could not start through no fault of its own waits this long (disk, fork)


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
    oom_kills: int | None = field(default_factory=oom_kill_count)  # the cgroup's count when the job started
    alone: bool = True  # no other job ran beside it (the cgroup's OOM count is then its own)


class DriftWorker:
    """Claim → run (in a warm child) → finish, with heartbeats, reaping, retries and a clean stop."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None):
        self.s = settings
        self.metrics = metrics or Metrics()
        self.running: dict[int, RunningJob] = {}
        self.signals = 0
        self.queue: RedisQueue | None = None
        self.store = MissionStore(
            settings.database_url,
            connect_timeout_s=max(2, int(settings.io_timeout_s)),
            io_timeout_s=settings.io_timeout_s,
        )
        self._next_maintenance = 0.0
        self._next_reap = 0.0
        self._next_reconcile = 0.0
        self._next_sweep = 0.0
        self._last_beat: float | None = None  # last heartbeat renewal that reached Redis
        self._reap_after = 0.0
        self._reconnect_max_s = min(30.0, max(1.0, settings.heartbeat_ttl_s / 3))
        self._forkserver_restart: threading.Thread | None = None
        self._claim_lease: str | None = None
        self._claim_after = 0.0  # no claims before (monotonic): a job could not start through no fault of its own
        self._loss = LossDetector(grace_s=settings.heartbeat_ttl_s / 2)  # live workers renew well within it
        self._s3_client = None
        self._s3_main = None
        self._s3_lock = threading.Lock()
        self._housekeeping = ThreadPoolExecutor(1, thread_name_prefix="housekeeping")
        self._jobs_dir = Path(tempfile.gettempdir()) / "driftline-jobs"
        self._mp = multiprocessing.get_context("forkserver")

    # --- lifecycle ---------------------------------------------------------------------------
    def run(self) -> int:
        self._install_signal_handlers()
        clear_ready(self.s.worker_id)
        # The forkserver (a fresh interpreter: it inherits no sockets) loads while we connect: first claim sooner.
        with ThreadPoolExecutor(1, thread_name_prefix="forkserver-start") as pool:
            warm = pool.submit(self._forkserver_until_ready)
            self._connect_services()
            warm.result()
        self._serve_metrics()
        log.info(
            "Worker %s listening on queue %s (max %d concurrent jobs)",
            self.s.worker_id,
            self.s.queue_name,
            self.s.max_concurrent_jobs,
        )
        mark_ready(self.s.worker_id)
        backoff = Backoff(self.s.retry_base_s / 2 or 0.5, self._reconnect_max_s)
        while self.signals == 0:
            self._run_once(backoff)
        self._shutdown()
        return 0

    def _run_once(self, backoff: Backoff) -> None:
        """One loop step; whatever it raises is logged in one line and waited out, never the end of the worker."""
        try:
            self._step()
        except Exception as e:  # noqa: BLE001 - the supervisor must outlive any fault of a service or a job
            delay = backoff.next()
            if isinstance(e, REDIS_ERRORS):
                log.error("%s (retrying in %.1f s)", describe_redis_error(e), delay)
            elif isinstance(e, RetryableError):
                log.error("%s (retrying in %.1f s)", e, delay)
            else:
                log.exception("Unexpected error in the worker loop (retrying in %.1f s)", delay)
            self.metrics.up.set(0)
            self._pause(delay)
        else:
            backoff.reset()
            self.metrics.up.set(1)

    def _pause(self, delay_s: float) -> None:
        """Back off while children keep running; renew the heartbeat when Redis lets us, so we are not reaped."""
        deadline = time.monotonic() + delay_s
        while self.signals == 0 and (left := deadline - time.monotonic()) > 0:
            self._wait_children(min(left, self.s.io_timeout_s))
            try:
                self.queue.heartbeat()
            except REDIS_ERRORS:
                pass  # the loop already said Redis is failing; one line per retry is enough

    def _serve_metrics(self) -> None:
        try:
            self.metrics.serve(self.s.metrics_port)
        except OSError as e:
            log.error(
                "Metrics port %d cannot be opened (%s): running without /metrics; set METRICS_PORT to a free port",
                self.s.metrics_port,
                e.strerror or e,
            )

    def _step(self) -> None:
        self._maintain()
        self._collect_finished()
        can_start = time.monotonic() >= self._claim_after and self._forkserver_ready()
        if len(self.running) < self.s.max_concurrent_jobs and can_start:
            raw = self.queue.claim(0 if self.running else self.s.poll_interval_s)
            if raw is not None and self.signals:
                self.queue.requeue_front(raw)  # the stop signal arrived while we were blocked in BLMOVE
            elif raw is not None:
                self._take(raw)
            elif self.running:
                self._wait_children(0.05)
        else:
            self._wait_children(MAINTENANCE_INTERVAL_S)

    def _install_signal_handlers(self) -> None:
        def handler(signum, _frame):
            self.signals += 1
            what = "stopping at once" if self.signals > 1 else f"draining (grace {self.s.shutdown_grace_s:g} s)"
            log.warning("Received %s: %s", signal.Signals(signum).name, what)

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def _start_forkserver(self) -> None:
        """Start (or restart) the forkserver and wait for its preload (OpenDrift, landmask)."""
        started = time.monotonic()
        # The forkserver is a fresh interpreter: with glibc's malloc on transparent huge pages its 2.5 GB
        # (landmask, OpenDrift) needs 1/512 of the page-table entries, so each job's fork and exit cost
        # about half (measured: 80 -> 50 ms start, 180 -> 70 ms start + exit). Harmless where THP is off.
        os.environ.setdefault("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1")
        self._mp.set_forkserver_preload(["driftline.warm"])
        from driftline.jobproc import noop

        proc = self._mp.Process(target=noop)  # starts the forkserver and waits for its preload
        proc.start()
        proc.join()
        log.info("OpenDrift loaded and landmask built in %.1f s", time.monotonic() - started)

    def _connect_services(self) -> None:
        """Wait for Redis, PostgreSQL and S3 in turn (however long), then announce this worker."""
        from driftline.objects import ensure_buckets, make_s3_client

        self._until_ready("Redis", self._connect_redis)
        log.info("Connected to Redis at %s", redact_url(self.s.redis_url))
        # A restarted container keeps its worker id: jobs our previous life held go back to the queue.
        recovered = self._until_ready("Redis", self.queue.unregister)
        if recovered:
            log.warning("Requeued %d job(s) left in this worker's processing list by a previous run", recovered)
        self._until_ready("PostgreSQL", self.store.check_schema)
        log.info("Connected to PostgreSQL at %s", redact_url(self.s.database_url))
        timeout_s = self.s.io_timeout_s
        s3 = make_s3_client(self.s, connect_timeout_s=min(5, timeout_s), read_timeout_s=timeout_s, attempts=1)
        self._until_ready("S3", ensure_buckets, s3, [self.s.results_bucket, self.s.forcing_bucket])
        log.info("Connected to S3 at %s", self.s.s3_endpoint or "AWS")
        self._until_ready("Redis", self.queue.heartbeat)
        self.metrics.up.set(1)

    def _connect_redis(self) -> None:
        self.queue = RedisQueue(self.s)
        self.queue.r.ping()

    def _until_ready(self, service: str, fn, *args):
        """Call fn until it succeeds, backing off on service faults; a stop signal exits cleanly (0)."""
        backoff = Backoff(1, 30)
        while self.signals == 0:
            try:
                return fn(*args)
            except SERVICE_FAULTS as e:
                text = describe_redis_error(e) if isinstance(e, REDIS_ERRORS) else str(e)
                delay = backoff.next()
                log.error("%s not ready: %s (retrying in %.1f s)", service, text, delay)
                self.metrics.up.set(0)
                deadline = time.monotonic() + delay
                while self.signals == 0 and time.monotonic() < deadline:
                    time.sleep(min(0.2, delay))
        raise SystemExit(0)

    # --- one job -----------------------------------------------------------------------------
    def _take(self, raw: bytes) -> None:
        """The job boundary: anything a claimed body makes go wrong ends that job only, never the worker."""
        self._claim_lease = None  # set once the attempt is counted: a later failure write is fenced on it
        try:
            self._start_job(raw)
        except SERVICE_FAULTS:
            # Not the job's fault: hand it back if Redis still listens (else the stranded-job check finds it).
            self._quietly(self.queue.requeue_front, raw)
            raise
        except Exception as e:  # noqa: BLE001 - a body no validator foresaw must not crash the fleet
            mission_id = _peek_mission_id(raw, self.s.max_job_bytes)
            log.exception("Unexpected error starting mission %s", mission_id or "(no valid mission_id)")
            if self.queue.r.lpos(self.s.processing_list(), raw) is None:
                return  # already dead-lettered (or handed back) before the error: never twice
            error = f"internal error: {type(e).__name__}: {e}"
            self._give_up(raw, mission_id, "internal", error, attempts=1, lease=self._claim_lease)

    def _start_job(self, raw: bytes) -> None:
        claimed = time.monotonic()
        self.metrics.received.inc()
        mission_id = _peek_mission_id(raw, self.s.max_job_bytes)
        log.info("Received job from queue (mission %s, %d bytes)", mission_id or "unknown", len(raw))
        try:
            job = parse_job(raw, self.s)
            check_fits(job.params, self.s)
        except InvalidJob as e:
            self._give_up(raw, getattr(e, "mission_id", mission_id), e.reason, str(e), attempts=1)
            return
        if self._already_completed(job.mission_id):
            log.warning("Mission %s is already completed: duplicate delivery acknowledged", job.mission_id)
            self.queue.ack(raw, job.mission_id)
            return
        begun = self._begin_attempt(raw, job.mission_id)
        if begun is None:
            return
        attempt, lease = begun
        self._claim_lease = lease
        self._record(
            job.mission_id,
            {
                "op": "processing",
                "mission_id": job.mission_id,
                "params": job.params.as_record(),
                "worker_id": self.s.worker_id,
                "lease": lease,
                "attempt": attempt,
                "queue": self.s.queue_name,
            },
        )
        self._spawn(raw, job.mission_id, attempt, lease, deadline=claimed + self.s.job_timeout_s)

    def _begin_attempt(self, raw: bytes, mission_id: str) -> tuple[int, str] | None:
        """Count the attempt and make its lease; None (dead-lettered) when earlier attempts used them all up.

        Attempts that ended through no fault of the job are given back, so an attempt count above
        MAX_ATTEMPTS here means earlier runs took their worker down with them (e.g. out of memory).
        """
        try:
            state = self.store.claim_state(mission_id)
        except DatabaseUnavailable:
            state = None
        floor, after = (state[1], state[2]) if state else (0, None)
        attempt, lease = self.queue.count_attempt(mission_id, floor=floor, after=after)
        if attempt <= self.s.max_attempts:
            return attempt, lease
        if self.queue.copies_held(mission_id) > 1:
            # Not a crash loop: other copies of the body are running. This surplus one stands down unseen.
            log.warning("Mission %s: a surplus copy (attempt %d) dropped; another copy holds it", mission_id, attempt)
            self.queue.release(raw)
            self.queue.refund_attempt(mission_id)
            return None
        error = f"job process died with its worker in each of {attempt - 1} attempts (out of memory?)"
        self._give_up(raw, mission_id, "crashed", error, attempt - 1, lease=lease)
        return None

    def _spawn(self, raw: bytes, mission_id: str, attempt: int, lease: str, deadline: float) -> None:
        if not self._forkserver_ready():  # it died while we claimed: starting now would wait for its preload
            job = RunningJob(None, None, raw, mission_id, attempt, deadline=deadline, lease=lease)
            log.warning("Mission %s returned to the queue: the forkserver is being restarted", mission_id)
            self._requeue_interrupted(job, "waiting for a restarted forkserver")
            return
        reader, writer = self._mp.Pipe(duplex=False)
        from driftline.jobproc import job_main

        workdir = self._jobs_dir / f"{os.getpid()}-{lease}"
        proc = self._mp.Process(
            target=job_main,
            args=(raw, self.s, attempt, os.getpid(), writer),
            kwargs={"lease": lease, "workdir": str(workdir)},
            name=f"job-{mission_id}",
            daemon=False,
        )
        try:
            workdir.mkdir(parents=True, exist_ok=True)
            proc.start()
        except (EOFError, OSError) as e:  # disk full here, the forkserver died, fork() refused (EAGAIN)
            writer.close()
            reader.close()
            shutil.rmtree(workdir, ignore_errors=True)
            self._not_started(RunningJob(None, None, raw, mission_id, attempt, deadline=deadline, lease=lease), e)
            return
        writer.close()
        for other in self.running.values():
            other.alone = False
        self.running[proc.pid] = RunningJob(
            proc, reader, raw, mission_id, attempt, deadline=deadline, lease=lease, workdir=workdir
        )
        self.running[proc.pid].alone = len(self.running) == 1
        self.metrics.in_progress.set(len(self.running))
        log.info("Mission %s started in job process %d (attempt %d)", mission_id, proc.pid, attempt)

    def _not_started(self, job: RunningJob, e: BaseException) -> None:
        """A job this host could not start (no disk, no forkserver, no fork): back soon, its attempt given back."""
        from driftline.jobproc import disk_full

        full = disk_full(e)
        why = str(full) if full else f"the job process could not be started ({type(e).__name__}: {e})"
        log.error("Mission %s not started: %s; requeued, next try in %.0f s", job.mission_id, why, START_RETRY_S)
        self.queue.refund_attempt(job.mission_id)
        self.queue.retry_later(job.raw, START_RETRY_S)
        self.metrics.retried.inc()
        self._claim_after = time.monotonic() + START_RETRY_S  # claiming more would only fail the same way
        update = {"op": "requeued", "mission_id": job.mission_id, "error": f"waiting to retry: {why}"}
        self._record(job.mission_id, {**update, "lease": job.lease, "attempts": job.attempt - 1})

    def _already_completed(self, mission_id: str) -> bool:
        try:
            return self.store.status(mission_id) == "completed"
        except DatabaseUnavailable:
            return False  # cannot tell; at-least-once is safe because every write is idempotent

    def _collect_finished(self) -> None:
        """Finish jobs whose process ended; a job leaves `running` only once its outcome is recorded.

        A job has ended when its report pipe is closed (only the job process holds the write end), not
        when the forkserver says so: a forkserver that dies reports every job it forked as exited.
        """
        now = time.monotonic()
        for pid, job in list(self.running.items()):
            if not _pump(job):
                if now > job.deadline:
                    self._kill(job)
                    limit = f"{self.s.job_timeout_s:g} s"
                    self._finish_failed(
                        job, JobTimeout(f"mission exceeded its time limit of {limit} and was stopped"), retry=False
                    )
                    self._clean_up(job)
                    del self.running[pid]
                continue
            job.process.join(timeout=JOIN_S)
            if job.process.is_alive():
                self._kill(job)  # closed its report but hangs on exit
            try:
                self._finish(job, job.message)  # may raise on a Redis outage: the job stays and is finished later
            except SERVICE_FAULTS:
                raise
            except Exception:  # noqa: BLE001 - one job's odd ending must not wedge the loop for every other job
                log.exception("Mission %s: its outcome could not be read; retried as a crash", job.mission_id)
                self._finish_failed(job, JobCrashed("job process ended in a way the worker could not read"), True)
            self._clean_up(job)
            del self.running[pid]
        self.metrics.in_progress.set(len(self.running))

    def _finish(self, job: RunningJob, message: dict | None) -> None:
        if message is None:
            error = crash_error(job.process.exitcode, job.oom_kills, alone=job.alone)
            self._finish_failed(job, error, retry=isinstance(error, JobCrashed))
        elif message["ok"] and message.get("result") == "superseded":
            self._stand_down(job, "a later claim superseded it or the mission is already finished")
        elif message["ok"]:
            self.queue.ack(job.raw, job.mission_id)
            self.metrics.completed.inc()
            self.metrics.observe_timings(message.get("timings", {}))
            self.metrics.duration.labels(stage="total").observe(time.monotonic() - job.started)
        else:
            error = DriftError(message["error"])
            error.reason = message["reason"]
            self._finish_failed(job, error, retry=message["retryable"])

    def _stand_down(self, job: RunningJob, why: str) -> None:
        """A copy that another worker took over (we were reaped while alive): no outcome, no attempt used."""
        log.warning("Mission %s: attempt %d stands down: %s", job.mission_id, job.attempt, why)
        self.queue.release(job.raw)
        if not job.refunded:  # finishing is retried after a Redis error: give the attempt back once
            self.queue.refund_attempt(job.mission_id)
            job.refunded = True
            self._record(job.mission_id, {"op": "refund", "mission_id": job.mission_id})

    def _finish_failed(self, job: RunningJob, error: DriftError, retry: bool) -> None:
        self.metrics.failed.labels(reason=error.reason).inc()
        if not self.queue.holds(job.raw):
            self._stand_down(job, f"it was reaped while running; its failure ({error}) is not recorded")
            return
        if error.reason in OUTAGE_REASONS:
            # A service outage is not the job's fault: wait for the service, however long, never dead-letter,
            # and give the attempt back.
            delay = Backoff(self.s.retry_base_s, self.s.retry_max_s).delay(job.attempt)
            log.warning(
                "Mission %s waits for a service: %s; requeued, next try in %.1f s", job.mission_id, error, delay
            )
            self.queue.refund_attempt(job.mission_id)
            self.queue.retry_later(job.raw, delay)
            self.metrics.retried.inc()
            self._record(
                job.mission_id,
                {
                    "op": "requeued",
                    "mission_id": job.mission_id,
                    "error": f"waiting to retry: {error}",
                    "lease": job.lease,
                    "attempts": job.attempt - 1,
                },
            )
            return
        if retry and job.attempt < self.s.max_attempts:
            delay = Backoff(self.s.retry_base_s, self.s.retry_max_s).delay(job.attempt)
            log.warning(
                "Mission %s attempt %d/%d failed: %s; retrying in %.1f s",
                job.mission_id,
                job.attempt,
                self.s.max_attempts,
                error,
                delay,
            )
            self.queue.retry_later(job.raw, delay)
            self.metrics.retried.inc()
            return
        suffix = f" (after {job.attempt} attempts)" if retry else ""
        self._give_up(job.raw, job.mission_id, error.reason, f"{error}{suffix}", job.attempt, lease=job.lease)

    def _give_up(
        self, raw: bytes, mission_id: str | None, reason: str, error: str, attempts: int, lease: str | None = None
    ) -> None:
        """Dead-letter the job and mark the mission failed (when its id is valid)."""
        error = _one_line(error)
        dropped = self.queue.dead_letter(raw, reason, error, attempts, mission_id)
        self.metrics.dead.inc()
        self.metrics.dead_dropped.inc(dropped)
        applied = None
        if mission_id:
            update = {"op": "failed", "mission_id": mission_id, "error": error, "worker_id": self.s.worker_id}
            applied = self._record(mission_id, {**update, "lease": lease})
        if applied is False:  # fenced: another copy holds the mission (or it is finished); it keeps its state
            log.error("Job for mission %s dead-lettered (%s); the mission is held by another copy", mission_id, error)
        else:
            log.error("Mission %s failed: %s", mission_id or "(no valid mission_id)", error)

    def _record(self, mission_id: str, update: dict) -> bool | None:
        """Apply a status update now, or park it in the Redis outbox while PostgreSQL is down (None)."""
        update = _storable(update)  # no NUL or lone surrogate reaches PostgreSQL (or the outbox)
        try:
            return self.store.apply(update)
        except DatabaseUnavailable as e:
            log.warning("%s: %s update for mission %s kept in the Redis status outbox", e, update["op"], mission_id)
            self.queue.push_status(update)
        except DatabaseRejected as e:
            log.error("%s: %s update for mission %s dropped", e, update["op"], mission_id)
        return None

    # --- housekeeping ------------------------------------------------------------------------
    def _maintain(self) -> None:
        now = time.monotonic()
        if now < self._next_maintenance:
            return
        self._next_maintenance = now + MAINTENANCE_INTERVAL_S
        self.queue.heartbeat()  # first, so others never see us silent longer than needed
        if self._last_beat is not None:
            self._after_own_outage(now - self._last_beat)
        self._last_beat = now
        first = self._loss.last is None
        if self._loss.observe(self.queue.tick_epoch(), now):
            self._after_redis_loss(now, first)
        self._watch_forkserver()
        self.queue.promote_due()
        self.metrics.queue_length.set(self.queue.r.llen(self.s.queue_name))
        self.metrics.up.set(1)
        if now >= self._next_reap:
            self._next_reap = now + self.s.reaper_interval_s
            if now >= self._reap_after:
                self.queue.reap(grace_s=self.s.heartbeat_ttl_s)
            self._sync_held()
            self._drain_outbox()
            self._sweep_workdirs()
        if now >= self._next_reconcile:
            after_loss = self._loss.after_loss(now)  # then every reaper interval, without the usual waits
            normal = max(self.s.reaper_interval_s, self.s.reconcile_after_s / 4)
            every = self.s.reaper_interval_s if after_loss else normal
            self._next_reconcile = now + every
            self._reconcile(after_loss)

    def _after_redis_loss(self, now: float, first: bool) -> None:
        """Redis lost data: our running jobs go back now; reconcile from PostgreSQL once all live workers did."""
        what = "Redis has no epoch for this queue yet (a new queue, or Redis lost its data)"
        log.warning(
            "%s: running jobs put back; re-enqueueing lost missions from PostgreSQL in %.0f s",
            what if first else "Redis lost its data (epoch counter went back)",
            self._loss.grace_s,
        )
        self._sync_held()
        self._next_reconcile = now + self._loss.grace_s

    def _after_own_outage(self, silent_s: float) -> None:
        """After we could not reach Redis, give the others time to reconnect before reaping anyone."""
        if silent_s <= self.s.heartbeat_ttl_s / 2 + self.s.poll_interval_s:
            return
        grace = self.s.heartbeat_ttl_s + self._reconnect_max_s
        self.queue.forget_missing()
        self._reap_after = time.monotonic() + grace
        log.warning("Heartbeat renewed after %.1f s without Redis; no reaping for the next %.0f s", silent_s, grace)

    def _sync_held(self) -> None:
        stranded, restored = self.queue.sync_held([j.raw for j in self.running.values()])
        if stranded:
            log.warning("Requeued %d stranded job(s) from this worker's processing list", stranded)
        if restored:
            log.warning("Put %d running job(s) that Redis had lost back into this worker's processing list", restored)

    def _drain_outbox(self) -> None:
        try:
            budget_s = OUTBOX_BUDGET_FRACTION * self.s.heartbeat_ttl_s
            applied = self.queue.drain_status(self._apply_parked, budget_s=budget_s, between=self.queue.heartbeat)
            if applied:
                log.info("Applied %d status update(s) from the outbox to PostgreSQL", applied)
        except DatabaseUnavailable as e:
            log.warning("Status outbox waiting: %s", e)
        except DriftError as e:
            log.warning("Status outbox waiting for S3: %s", e)

    def _apply_parked(self, update: dict) -> None:
        """Apply one outbox update; a completion publishes the objects its job process staged."""
        from driftline.fencing import apply_update, discard, staging_prefix

        try:
            applied = apply_update(self.store, update, self._s3_bounded, self.s.results_bucket)
        except (DatabaseUnavailable, RetryableError):
            raise
        except Exception:  # noqa: BLE001 - an update PostgreSQL refuses must not block the ones behind it
            log.exception("Status update %s for mission %s dropped", update.get("op"), update.get("mission_id"))
            return
        if update["op"] == "completed" and update.get("lease"):
            if applied:
                log.info("Mission %s completed successfully (from the status outbox)", update["mission_id"])
            self._in_background(discard, self.s.results_bucket, staging_prefix(update["mission_id"], update["lease"]))

    def _reconcile(self, after_loss: bool = False) -> None:
        from driftline.fencing import sweep
        from driftline.reconcile import reconcile

        try:
            reconcile(self.s, self.store, self.queue, after_loss=after_loss)
            if time.monotonic() >= self._next_sweep:
                self._next_sweep = time.monotonic() + STAGING_SWEEP_INTERVAL_S
                age_s = max(3600.0, 2 * self.s.job_timeout_s)
                self._in_background(sweep, self.s.results_bucket, age_s, self._parked_prefixes)
        except DatabaseUnavailable as e:
            log.debug("Reconciler skipped: %s", e)
        except Exception as e:  # noqa: BLE001 - S3 answers: housekeeping retries next time
            log.warning("Housekeeping skipped: %s", e)

    def _parked_prefixes(self) -> set[str]:
        """Staging prefixes the sweep must keep: completions waiting in the outbox (read from Redis each time)."""
        from driftline.fencing import parked_prefixes

        return parked_prefixes(self.queue.r.lrange(self.s.status_outbox, 0, -1))

    def _in_background(self, fn, *args) -> None:
        """S3 housekeeping (fn(client, *args)) in a thread, so a slow object store never delays the heartbeat."""

        def run() -> None:
            try:
                done = fn(self._s3(), *args)
                if any(done if isinstance(done, tuple) else (done,)):
                    log.info("S3 housekeeping: %s removed %s", fn.__name__, done)
            except Exception as e:  # noqa: BLE001 - leftovers are swept later
                log.warning("S3 housekeeping (%s) failed, retried later: %s", fn.__name__, e)

        self._housekeeping.submit(run)

    def _s3_bounded(self):
        """The main loop's own S3 client: one attempt, every wait within IO timeout (the heartbeat's third)."""
        if self._s3_main is None:
            from driftline.objects import make_s3_client

            io_s = self.s.io_timeout_s
            # botocore's max_attempts counts retries: 0 is the one attempt (1 made two, 2 x IO timeout)
            self._s3_main = make_s3_client(self.s, connect_timeout_s=min(2, io_s), read_timeout_s=io_s, attempts=0)
        return self._s3_main

    def _s3(self):
        with self._s3_lock:  # used from the housekeeping thread
            if self._s3_client is None:
                from driftline.objects import make_s3_client

                self._s3_client = make_s3_client(self.s, connect_timeout_s=3, read_timeout_s=10)
            return self._s3_client

    def _forkserver_ready(self) -> bool:
        """True when a job can start without waiting (a restart blocks Process.start() for the preload)."""
        self._watch_forkserver()
        return self._forkserver_restart is None

    def _watch_forkserver(self) -> None:
        """Notice a dead forkserver and start a new one in a thread, so the heartbeat never stops."""
        if self._forkserver_restart is not None:
            if not self._forkserver_restart.is_alive():
                self._forkserver_restart = None
            return
        from multiprocessing import forkserver

        pid = forkserver._forkserver._forkserver_pid  # noqa: SLF001 - no public accessor
        if pid is None or _child_running(pid):
            return
        log.error("The forkserver (pid %d) died: starting a new one; running jobs continue", pid)
        self._forkserver_restart = threading.Thread(target=self._restart_forkserver, name="forkserver", daemon=True)
        self._forkserver_restart.start()

    def _restart_forkserver(self) -> None:
        self._forkserver_until_ready()

    def _forkserver_until_ready(self) -> None:
        """(Re)start the forkserver until its preload finishes, with bounded backoff; a stop signal ends it.

        The forkserver (1.3 GB of landmask) is the OOM killer's likeliest victim and needs a fork to start:
        killed during its preload, or fork() refused (EAGAIN at a pids limit), it is tried again, never fatal.
        """
        backoff = Backoff(1.0, FORKSERVER_RETRY_MAX_S)
        while self.signals == 0:
            try:
                return self._start_forkserver()
            except Exception as e:  # noqa: BLE001 - EOFError, BlockingIOError, OSError: all mean "try again"
                delay = backoff.next()
                log.error("Forkserver start failed (%s: %s); retrying in %.1f s", type(e).__name__, e, delay)
                deadline = time.monotonic() + delay
                while self.signals == 0 and time.monotonic() < deadline:
                    time.sleep(0.1)

    def _clean_up(self, job: RunningJob) -> None:
        """Remove what a finished job leaves behind: its temporary directory and, unless done, its staged objects."""
        if job.workdir is not None:
            shutil.rmtree(job.workdir, ignore_errors=True)
        result = (job.message or {}).get("result")
        if job.lease and result not in ("completed", "parked", "superseded"):
            from driftline.fencing import discard, staging_prefix

            self._in_background(discard, self.s.results_bucket, staging_prefix(job.mission_id, job.lease))

    def _sweep_workdirs(self) -> None:
        """Temporary directories of job processes whose supervisor is gone (kill -9) or that were not cleaned."""
        mine = {j.workdir for j in self.running.values()}
        for path in self._jobs_dir.glob("*-*") if self._jobs_dir.is_dir() else []:
            owner = int(path.name.split("-", 1)[0]) if path.name.split("-", 1)[0].isdigit() else 0
            if path not in mine and (owner == os.getpid() or not _process_exists(owner)):
                shutil.rmtree(path, ignore_errors=True)

    def _wait_children(self, timeout_s: float) -> None:
        # Report pipes, not sentinels (a dead forkserver makes those ready); not those of jobs that ended but
        # could not be finished yet (Redis down): their pipe stays readable and would make this a busy loop.
        handles = [j.report for j in self.running.values() if not j.ended]
        if handles:
            wait(handles, timeout=timeout_s)
        else:
            time.sleep(timeout_s)

    def _kill(self, job: RunningJob) -> None:
        job.process.kill()
        job.process.join(timeout=KILL_JOIN_S)  # SIGKILL is not refused; a process in D state is left to the kernel

    # --- shutdown ----------------------------------------------------------------------------
    def _shutdown(self) -> None:
        deadline = time.monotonic() + self.s.shutdown_grace_s
        log.info(
            "Stopped claiming; waiting up to %.0f s for %d running job(s)", self.s.shutdown_grace_s, len(self.running)
        )
        while self.running and self.signals < 2 and time.monotonic() < deadline:
            self._wait_children(0.5)
            self._guarded(self._collect_finished)
            self._guarded(self.queue.heartbeat)
        for job in list(self.running.values()):
            self._kill(job)
            log.warning("Mission %s interrupted by shutdown: returned to the head of the queue", job.mission_id)
            self._guarded(self._requeue_interrupted, job)
            self._clean_up(job)
        self.running.clear()
        clear_ready(self.s.worker_id)
        self._guarded(self.queue.unregister)
        self.metrics.up.set(0)
        log.info("Worker %s stopped", self.s.worker_id)

    def _requeue_interrupted(self, job: RunningJob, why: str = "interrupted by a worker shutdown") -> None:
        """The job goes back to the queue head and the attempt is given back (not the job's fault)."""
        self.queue.requeue_front(job.raw)
        self.queue.refund_attempt(job.mission_id)
        update = {"op": "requeued", "mission_id": job.mission_id, "error": why}
        self._record(job.mission_id, {**update, "lease": job.lease, "attempts": job.attempt - 1})

    def _guarded(self, fn, *args) -> None:
        try:
            fn(*args)
        except REDIS_ERRORS as e:
            log.error("Redis connection error during shutdown: %s", e)

    def _quietly(self, fn, *args) -> None:
        try:
            fn(*args)
        except REDIS_ERRORS as e:
            log.debug("best effort %s failed: %s", getattr(fn, "__name__", fn), e)


class Backoff:
    """Capped exponential backoff with full jitter."""

    def __init__(self, base_s: float, cap_s: float):
        self.base_s, self.cap_s, self.n = base_s, cap_s, 0
        self._peek: float | None = None

    def delay(self, attempt: int) -> float:
        # The exponent stops growing long before the cap: 2**n of an outage's n-th retry never overflows a float.
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(max(0, attempt - 1), 64))
        return random.uniform(ceiling / 2, ceiling)

    def peek(self) -> float:
        if self._peek is None:
            self.n += 1
            self._peek = self.delay(self.n)
        return self._peek

    def next(self) -> float:
        value = self.peek()
        self._peek = None
        return value

    def reset(self) -> None:
        self.n, self._peek = 0, None


def _pump(job: RunningJob) -> bool:
    """Read the job's report if one arrived; True once the job process has closed its end (it has ended)."""
    if job.ended:
        return True
    try:
        while job.report.poll():
            job.message = job.report.recv()
    except (EOFError, OSError):
        job.ended = True
    return job.ended


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


def _peek_mission_id(raw: bytes, limit: int) -> str | None:
    """The mission id of a body, for logs and the failed row; None for anything unreadable (never raises)."""
    if len(raw) > limit:
        return None
    try:
        return extract_mission_id(json.loads(raw))
    except (ValueError, RecursionError, TypeError):
        return None


def _one_line(text: str) -> str:
    """An error as users see it: one line, bounded, nothing PostgreSQL or a JSON log cannot hold."""
    return _storable(" ".join(str(text).split()))[:MESSAGE_MAX]


def _storable(value):
    """The value with NUL characters and lone surrogates escaped in every string (PostgreSQL refuses both)."""
    if isinstance(value, str):
        return value.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_storable(v) for v in value]
    return value


# --- command line ----------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as e:
        print(f"configuration error: {e}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.log_format)
    command = args.command or "daemon"
    try:
        return COMMANDS[command](args, settings)
    except ConfigError as e:
        print(f"configuration error: {e}", file=sys.stderr)
        return 2
    except DriftError as e:
        log.error("%s", e)
        return 1


def cmd_daemon(args, settings: Settings) -> int:
    settings.require_services()
    return DriftWorker(settings).run()


def cmd_run(args, settings: Settings) -> int:
    """One mission locally: no Redis, PostgreSQL or S3; files land in OUT/{mission_id}/."""
    from driftline.forcing import ForcingContext
    from driftline.objects import LocalStore
    from driftline.pipeline import MissionContext, run_mission

    params = {
        k: v
        for k, v in {
            "latitude": args.latitude,
            "longitude": args.longitude,
            "start_time": args.start_time,
            "duration_hours": args.duration_hours,
            "num_particles": args.num_particles,
            "object_type": _int_or_key(args.object_type),
            "radius_m": args.radius_m,
            "random_seed": args.seed,
            "wind": _vector(args.wind, "from_deg"),
            "current": _vector(args.current, "to_deg"),
        }.items()
        if v is not None
    }
    if args.params:
        params.update(_params_arg(args.params))
    if args.drifters:
        from driftline.track_files import read_track_file

        params["drifters"] = [t for path in args.drifters for t in read_track_file(path)]
    params.setdefault("start_time", time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime()))
    body = json.dumps({"mission_id": args.mission_id or str(uuid.uuid4()), "params": params})
    job = parse_job(body, settings)
    from driftline.simulation import warm_up

    warm_up()
    out = Path(args.out)
    ctx = MissionContext(
        settings=settings,
        objects=LocalStore(out),
        forcing=ForcingContext(settings=settings, s3=None, db=None, local_files=[Path(f) for f in args.forcing]),
        progress=_print_progress,
    )
    started = time.monotonic()
    outcome = run_mission(job, ctx)
    print(f"\nMission {job.mission_id} completed in {time.monotonic() - started:.1f} s: {out / job.mission_id}")
    for item in outcome.stored:
        print(f"  {item.key:60s} {item.size_bytes:>10,d} bytes")
    for warning in outcome.warnings:
        print(f"  warning: {warning}")
    return 0


def cmd_health(args, settings: Settings) -> int:
    from driftline.health import check_health

    problem = check_health(settings, max_heartbeat_age_s=args.max_age, liveness=args.liveness)
    print(problem or "ok")
    return 1 if problem else 0


def cmd_forcing(args, settings: Settings) -> int:
    from driftline import forcing

    if args.forcing_command == "add":
        row = forcing.forcing_add(settings, Path(args.file), args.name)
        print(json.dumps(row, indent=2, default=str))
    elif args.forcing_command == "add-remote":
        options = {"variables": args.variables, "storage_options": args.storage_option, "required": args.required}
        row = forcing.forcing_add_remote(settings, args.url, args.name, licence=args.licence, **options)
        print(json.dumps(row, indent=2, default=str))
    elif args.forcing_command == "sync":
        return 1 if forcing.forcing_sync(settings) else 0
    elif args.forcing_command == "presets":
        return 1 if forcing.load_presets(settings, args.names, args.file) else 0
    else:
        print(forcing.format_catalog(forcing.forcing_list(settings)))
    return 0


COMMANDS = {"daemon": cmd_daemon, "run": cmd_run, "health": cmd_health, "forcing": cmd_forcing}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="worker.py", description="Driftline drift worker (OpenDrift Leeway)")
    sub = p.add_subparsers(dest="command")
    sub.add_parser("daemon", help="run the queue worker (the default)")
    run = sub.add_parser("run", help="run one mission locally, without Redis, PostgreSQL or S3")
    run.add_argument("--latitude", type=float, required=True)
    run.add_argument("--longitude", type=float, required=True)
    run.add_argument("--start-time", default=None, help="ISO 8601, default now (UTC)")
    run.add_argument("--duration-hours", type=float)
    run.add_argument("--num-particles", type=int)
    run.add_argument("--object-type", help="Leeway number 1..85 or key, e.g. PIW-1 or LIFE-RAFT-NB-1")
    run.add_argument("--radius-m", type=float)
    run.add_argument("--seed", type=int, help="random seed (reproducible runs)")
    run.add_argument("--wind", help="on-scene wind SPEED_MS,FROM_DEG (meteorological)")
    run.add_argument("--current", help="on-scene current SPEED_MS,TO_DEG (oceanographic)")
    run.add_argument("--forcing", action="append", default=[], help="local forcing NetCDF file (repeatable)")
    run.add_argument("--params", help="extra job params as JSON text or a JSON file (scenarios)")
    run.add_argument("--drifters", action="append", default=[], help="on-scene drifter track, CSV or GPX (repeatable)")
    run.add_argument("--mission-id", help="UUID (default: a new one)")
    run.add_argument("--out", default="out", help="output directory (default ./out)")
    health = sub.add_parser("health", help="exit 0 if the worker and its services are healthy")
    health.add_argument("--max-age", type=float, default=None, help="max heartbeat age in s (default: TTL)")
    health.add_argument(
        "--liveness",
        action="store_true",
        help="only check this worker's heartbeat (a liveness probe must not restart workers "
        "during a database or S3 outage)",
    )
    forcing = sub.add_parser("forcing", help="manage the forcing catalog")
    fsub = forcing.add_subparsers(dest="forcing_command", required=True)
    add = fsub.add_parser("add", help="upload a NetCDF file to the forcing bucket and register it")
    add.add_argument("file")
    add.add_argument("--name")
    fsub.add_parser("list", help="print the forcing catalog")
    remote = fsub.add_parser("add-remote", help="register a remote OPeNDAP dataset or s3://….zarr store")
    remote.add_argument("url")
    remote.add_argument("--name")
    remote.add_argument("--variables", nargs="+", help="source variables to use (default: found by standard name)")
    remote.add_argument("--storage-option", action="append", default=[], help="KEY=VALUE for Zarr (endpoint_url…)")
    remote.add_argument("--required", action="store_true", help="if unreachable, missions wait (no fallback)")
    remote.add_argument("--licence", help="the data licence, shown in the catalog")
    fsub.add_parser("sync", help="refresh remote sources' coverage (run on a schedule)")
    presets = fsub.add_parser("presets", help="register ready-made remote sources (driftline/forcing/presets.json)")
    presets.add_argument("names", nargs="*", help="preset names (default: all)")
    presets.add_argument("--file", help="another presets file")
    return p


def _params_arg(text: str) -> dict:
    """--params: inline JSON (an object) or the path of a JSON file."""
    if text.lstrip().startswith("{"):
        return json.loads(text)
    return json.loads(Path(text).read_text())


def _int_or_key(value: str | None):
    if value is None:
        return None
    return int(value) if value.strip().isdigit() else value


def _vector(text: str | None, direction_key: str) -> dict | None:
    if not text:
        return None
    speed, direction = (float(x) for x in text.split(","))
    return {"speed_ms": speed, direction_key: direction}


def _print_progress(fraction: float, _last: list[int] = [-1]) -> None:  # noqa: B006 - remembers the last step
    step = int(fraction * 20)
    if step != _last[0]:
        _last[0] = step
        print(f"\r[{'#' * step:<20}] {fraction:4.0%}", end="", flush=True)


if __name__ == "__main__":
    sys.exit(main())
