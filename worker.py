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
import signal
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path

from config import ConfigError, Settings, redact_url
from driftline.errors import DatabaseUnavailable, DriftError, InvalidJob, JobCrashed, JobTimeout, RetryableError
from driftline.jobs import extract_mission_id, parse_job
from driftline.limits import check_fits, crash_error, oom_kill_count
from driftline.logs import setup_logging
from driftline.metrics import Metrics
from driftline.queue import REDIS_ERRORS, RedisQueue, describe_redis_error
from driftline.store import DatabaseRejected, MissionStore

log = logging.getLogger("driftline.worker")
MAINTENANCE_INTERVAL_S = 1.0
OUTAGE_REASONS = {"s3_unavailable", "db_unavailable", "redis_unavailable", "forcing_unavailable", "disk_full"}
# Faults of a service (or of this host), not of a job: back off and retry, never dead-letter because of them.
SERVICE_FAULTS = (*REDIS_ERRORS, RetryableError)
MESSAGE_MAX = 1000  # characters of an error stored for users


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
    oom_kills: int | None = field(default_factory=oom_kill_count)  # the cgroup's count when the job started


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
        self._mp = multiprocessing.get_context("forkserver")

    # --- lifecycle ---------------------------------------------------------------------------
    def run(self) -> int:
        self._install_signal_handlers()
        # The forkserver (a fresh interpreter: it inherits no sockets) loads while we connect: first claim sooner.
        with ThreadPoolExecutor(1, thread_name_prefix="forkserver-start") as pool:
            warm = pool.submit(self._start_forkserver)
            self._connect_services()
            warm.result()
        self._serve_metrics()
        log.info(
            "Worker %s listening on queue %s (max %d concurrent jobs)",
            self.s.worker_id,
            self.s.queue_name,
            self.s.max_concurrent_jobs,
        )
        backoff = Backoff(self.s.retry_base_s / 2 or 0.5, 30)
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
        if len(self.running) < self.s.max_concurrent_jobs:
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
        from driftline.storage import ensure_buckets, make_s3_client

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
            self._give_up(raw, mission_id, "internal", f"internal error: {type(e).__name__}: {e}", attempts=1)

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
        attempt = self.queue.count_attempt(job.mission_id)
        self._record(
            job.mission_id,
            {
                "op": "processing",
                "mission_id": job.mission_id,
                "params": job.params.as_record(),
                "worker_id": self.s.worker_id,
            },
        )
        reader, writer = self._mp.Pipe(duplex=False)
        from driftline.jobproc import job_main

        proc = self._mp.Process(
            target=job_main,
            args=(raw, self.s, attempt, os.getpid(), writer),
            name=f"job-{job.mission_id}",
            daemon=False,
        )
        proc.start()
        writer.close()
        self.running[proc.pid] = RunningJob(
            proc, reader, raw, job.mission_id, attempt, deadline=claimed + self.s.job_timeout_s
        )
        self.metrics.in_progress.set(len(self.running))
        log.info("Mission %s started in job process %d (attempt %d)", job.mission_id, proc.pid, attempt)

    def _already_completed(self, mission_id: str) -> bool:
        try:
            return self.store.status(mission_id) == "completed"
        except DatabaseUnavailable:
            return False  # cannot tell; at-least-once is safe because every write is idempotent

    def _collect_finished(self) -> None:
        """Finish jobs whose process ended; a job leaves `running` only once its outcome is recorded."""
        now = time.monotonic()
        for pid, job in list(self.running.items()):
            job.message = job.message or _read_report(job.report)
            if job.message is None and job.process.is_alive():
                if now > job.deadline:
                    self._kill(job)
                    limit = f"{self.s.job_timeout_s:g} s"
                    self._finish_failed(
                        job, JobTimeout(f"mission exceeded its time limit of {limit} and was stopped"), retry=False
                    )
                    del self.running[pid]
                continue
            job.process.join(timeout=5)
            job.message = job.message or _read_report(job.report)
            self._finish(job, job.message)  # may raise on a Redis outage: the job stays and is finished later
            del self.running[pid]
        self.metrics.in_progress.set(len(self.running))

    def _finish(self, job: RunningJob, message: dict | None) -> None:
        if message is None:
            error = crash_error(job.process.exitcode, job.oom_kills)
            self._finish_failed(job, error, retry=isinstance(error, JobCrashed))
        elif message["ok"]:
            self.queue.ack(job.raw, job.mission_id)
            self.metrics.completed.inc()
            self.metrics.observe_timings(message.get("timings", {}))
            self.metrics.duration.labels(stage="total").observe(time.monotonic() - job.started)
        else:
            error = DriftError(message["error"])
            error.reason = message["reason"]
            self._finish_failed(job, error, retry=message["retryable"])

    def _finish_failed(self, job: RunningJob, error: DriftError, retry: bool) -> None:
        self.metrics.failed.labels(reason=error.reason).inc()
        if error.reason in OUTAGE_REASONS:
            # A service outage is not the job's fault: wait for the service, however long, never dead-letter.
            delay = Backoff(self.s.retry_base_s, self.s.retry_max_s).delay(job.attempt)
            log.warning(
                "Mission %s waits for a service: %s; requeued, next try in %.1f s", job.mission_id, error, delay
            )
            self.queue.retry_later(job.raw, delay)
            self.metrics.retried.inc()
            self._record(
                job.mission_id, {"op": "requeued", "mission_id": job.mission_id, "error": f"waiting to retry: {error}"}
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
        self._give_up(job.raw, job.mission_id, error.reason, f"{error}{suffix}", job.attempt)

    def _give_up(self, raw: bytes, mission_id: str | None, reason: str, error: str, attempts: int) -> None:
        """Dead-letter the job and mark the mission failed (when its id is valid)."""
        error = _one_line(error)
        self.queue.dead_letter(raw, reason, error, attempts, mission_id)
        self.metrics.dead.inc()
        if mission_id:
            self._record(
                mission_id, {"op": "failed", "mission_id": mission_id, "error": error, "worker_id": self.s.worker_id}
            )
        log.error("Mission %s failed: %s", mission_id or "(no valid mission_id)", error)

    def _record(self, mission_id: str, update: dict) -> None:
        """Apply a status update now, or park it in the Redis outbox while PostgreSQL is down."""
        update = _storable(update)  # no NUL or lone surrogate reaches PostgreSQL (or the outbox)
        try:
            self.store.apply(update)
        except DatabaseUnavailable as e:
            log.warning("%s: %s update for mission %s kept in the Redis status outbox", e, update["op"], mission_id)
            self.queue.push_status(update)
        except DatabaseRejected as e:
            log.error("%s: %s update for mission %s dropped", e, update["op"], mission_id)

    # --- housekeeping ------------------------------------------------------------------------
    def _maintain(self) -> None:
        now = time.monotonic()
        if now < self._next_maintenance:
            return
        self._next_maintenance = now + MAINTENANCE_INTERVAL_S
        self.queue.heartbeat()
        self.queue.promote_due()
        self.metrics.queue_length.set(self.queue.r.llen(self.s.queue_name))
        self.metrics.up.set(1)
        if now >= self._next_reap:
            self._next_reap = now + self.s.reaper_interval_s
            self.queue.reap()
            self._drain_outbox()

    def _drain_outbox(self) -> None:
        try:
            applied = self.queue.drain_status(self.store.apply)
            if applied:
                log.info("Applied %d status update(s) from the outbox to PostgreSQL", applied)
        except DatabaseUnavailable as e:
            log.warning("Status outbox waiting: %s", e)

    def _wait_children(self, timeout_s: float) -> None:
        handles = [j.process.sentinel for j in self.running.values()] + [j.report for j in self.running.values()]
        if handles:
            wait(handles, timeout=timeout_s)
        else:
            time.sleep(timeout_s)

    def _kill(self, job: RunningJob) -> None:
        job.process.kill()
        job.process.join(timeout=10)

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
            self._guarded(self.queue.requeue_front, job.raw)
        self.running.clear()
        self._guarded(self.queue.unregister)
        self.metrics.up.set(0)
        log.info("Worker %s stopped", self.s.worker_id)

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


def _read_report(conn) -> dict | None:
    try:
        return conn.recv() if conn.poll() else None
    except (EOFError, OSError):
        return None


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
    from driftline.pipeline import MissionContext, run_mission
    from driftline.storage import LocalStore

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
        params.update(
            json.loads(Path(args.params).read_text()) if Path(args.params).exists() else json.loads(args.params)
        )
    if args.drifters:
        from driftline.drifters import read_track_file

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
