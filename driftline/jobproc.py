"""The job process: one mission in a child forked from the warm forkserver.

It opens its own PostgreSQL, Redis and S3 clients (nothing is inherited), runs
the pipeline with its products staged under its lease (driftline/fencing.py),
records completion fenced on that lease (or parks it in the Redis outbox when
PostgreSQL is down), reports one message to the supervisor and exits. Its
temporary files live in a directory the supervisor made for it and removes
after it ends, however it ends.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import tempfile
import threading
import time

from config import Settings
from driftline.contract.params import Job
from driftline.contract.parse import parse_job
from driftline.errors import DatabaseUnavailable, DiskFull, DriftError, StorageUnavailable
from driftline.logs import mission_var, setup_logging
from driftline.pipeline import MissionContext, MissionOutcome, describe_error, run_mission
from driftline.protocol import Completed, JobReport

log = logging.getLogger("driftline.job")
# Imported by the forkserver preload (driftline/warm.py): what a job process imports, and what the daemon's
# script imports at its top. multiprocessing runs that script again in each job process (as __mp_main__;
# the forkserver's "__main__" preload does not reach it in Python 3.11), and a first import of redis there
# alone cost ~0.25 s per job. tests/unit/test_jobproc_preload.py checks that the script imports nothing more.
PRELOAD_MODULES = (
    "config",
    "driftline.db",
    "driftline.fencing",
    "driftline.forcing",
    "driftline.jobproc",
    "driftline.limits",
    "driftline.metrics",
    "driftline.objects",
    "driftline.queue",
    "driftline.readiness",
    "driftline.redis_loss",
    "driftline.supervisor.admission",
    "driftline.supervisor.backoff",
    "driftline.supervisor.housekeeping",
    "driftline.supervisor.launcher",
    "driftline.supervisor.outcomes",
    "driftline.supervisor.running",
    "driftline.supervisor.startup",
    "driftline.supervisor.status",
)
PROGRESS_MIN_INTERVAL_S = 1.0
PROGRESS_PAUSE_AFTER_FAILURE_S = 60.0


def job_main(
    raw: bytes,
    settings: Settings,
    attempt: int,
    supervisor_pid: int,
    report,
    lease: str | None = None,
    workdir: str | None = None,
) -> None:
    """Entry point of the job process; `report` is the write end of a Pipe to the supervisor."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the supervisor decides
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    setup_logging(settings.log_level, settings.log_format)
    _exit_with_supervisor(supervisor_pid)
    if workdir:
        tempfile.tempdir = workdir  # every temporary file of this job, removed by the supervisor afterwards
        os.environ["TMPDIR"] = workdir  # and those of tools it starts (ffmpeg)
    started = time.monotonic()
    try:
        job = parse_job(raw, settings)
        mission_var.set(job.mission_id)
        outcome, result, completion = _run(job, settings, attempt, lease)
        seconds = time.monotonic() - started
        timings = outcome.summary["timings_s"]
        _send(report, JobReport.success(result, seconds, timings, outcome.warnings, completion).to_dict())
    except DriftError as e:
        full = disk_full(e)
        log.debug("Mission failed", exc_info=True)
        _send(report, _failure(full or e))
    except Exception as e:  # noqa: BLE001 - unexpected: keep the traceback in the log, retry within MAX_ATTEMPTS
        full = disk_full(e)
        if full:
            log.error("%s", full)
        else:
            log.exception("Unexpected error in job process")
        _send(report, _failure(full or e))
    finally:
        report.close()


def _send(report, message: dict) -> None:
    """Report to the supervisor; one log line (no traceback) when it is gone (killed: nobody reads the pipe)."""
    try:
        report.send(message)
    except OSError as e:  # BrokenPipeError, ConnectionResetError
        log.warning("Supervisor gone, outcome not reported (%s): %s", type(e).__name__, message.get("result"))


def _run(job: Job, settings: Settings, attempt: int, lease: str | None) -> tuple[MissionOutcome, str, dict | None]:
    """Run the mission and record its completion: (outcome, result, the completion update if handed over).

    The result is `completed`, `parked` (outbox), `handover` (the supervisor records it) or `superseded`."""
    from driftline.db import MissionStore
    from driftline.fencing import StagedStore
    from driftline.forcing import ForcingContext
    from driftline.objects import S3Store, make_s3_client

    # Bounded like the supervisor's: a frozen PostgreSQL costs io_timeout_s per call, then the completion is
    # parked in the outbox (a retry, never a JobTimeout) and progress writes pause.
    io_s = settings.io_timeout_s
    store = MissionStore(settings.database_url, connect_timeout_s=max(2, int(io_s)), io_timeout_s=io_s)
    s3 = make_s3_client(settings)
    objects = S3Store(settings, s3) if lease is None else StagedStore(S3Store(settings, s3), job.mission_id, lease)
    ctx = MissionContext(
        settings=settings,
        objects=objects,
        forcing=ForcingContext(settings=settings, s3=s3, db=store.connect),
        progress=progress_writer(store, job.mission_id, lease),
        attempt=attempt,
        worker_id=settings.worker_id,
    )
    outcome = run_mission(job, ctx)
    stored, location = [s.__dict__ for s in outcome.stored], ctx.objects.location(job.mission_id)
    # `attempt`: the `processing` write may still be parked in the outbox (or lost with it)
    staged = getattr(objects, "staged", None)
    update = Completed(job.mission_id, stored, location, job.params.as_record(), lease, attempt, staged).to_dict()
    result = _record_completion(store, s3, settings, update)
    if result in ("parked", "handover"):
        return outcome, result, update if result == "handover" else None
    if isinstance(objects, StagedStore):
        _discard_quietly(s3, settings.results_bucket, objects.prefix)
    if result == "superseded":
        log.warning(
            "Mission %s: this attempt was superseded by a later claim or the mission is already finished; "
            "standing down without publishing its results",
            job.mission_id,
        )
        return outcome, result, None
    warn = f" with warnings: {'; '.join(outcome.warnings)}" if outcome.warnings else ""
    log.info("Mission %s completed successfully%s", job.mission_id, warn)
    return outcome, result, None


def _record_completion(store, s3, settings: Settings, update: dict) -> str:
    """Commit the completion (`completed` or `superseded`); while PostgreSQL is down, or S3 cannot publish the
    staged objects, park it in the Redis outbox (`parked`), and with Redis out of reach too hand it to the
    supervisor in the report (`handover`).

    Never a failure once the products are made and staged: a commit whose answer was lost may have landed (a
    rerun would then find the mission completed with nobody having recorded it), and a rerun would simulate the
    whole mission again; the supervisor applies the same completion instead.
    """
    from driftline.fencing import apply_update
    from driftline.queue import REDIS_ERRORS, RedisQueue

    mission_id = update["mission_id"]
    try:
        applied = apply_update(store, update, lambda: s3, settings.results_bucket)
    except (DatabaseUnavailable, StorageUnavailable) as e:
        try:
            RedisQueue(settings).push_status(update)  # applied by a supervisor when PostgreSQL is back
        except REDIS_ERRORS as r:
            log.warning("%s; Redis out of reach too (%s): completion of mission %s handed to the supervisor", e,
                        type(r).__name__, mission_id)  # fmt: skip
            return "handover"
        log.warning("%s: completion of mission %s kept in the Redis status outbox", e, mission_id)
        return "parked"
    return "completed" if applied else "superseded"


def _discard_quietly(s3, bucket: str, prefix: str) -> None:
    from driftline.fencing import discard

    try:
        discard(s3, bucket, prefix)
    except Exception as e:  # noqa: BLE001 - leftovers are swept later; the mission's outcome stands
        log.warning("Staged objects under %s not removed (swept later): %s", prefix, e)


def progress_writer(store, mission_id: str, lease: str | None = None, min_interval_s: float = PROGRESS_MIN_INTERVAL_S):
    """Write missions.progress at every 10 % step, at most once per `min_interval_s` (best effort: progress
    must not fail a mission). A mission of a second or two is not worth ten database commits."""
    last = [-1]
    due = [time.monotonic() + min_interval_s]

    def write(fraction: float) -> None:
        decile = int(fraction * 10)
        if decile <= last[0] or time.monotonic() < due[0]:
            return
        last[0], due[0] = decile, time.monotonic() + min_interval_s
        try:
            store.set_progress(mission_id, round(fraction, 3), lease)
        except DriftError as e:
            # PostgreSQL is out: each write would cost a whole time bound; stop trying for a while.
            due[0] = time.monotonic() + PROGRESS_PAUSE_AFTER_FAILURE_S
            log.debug("progress not written: %s", e)

    return write


DISK_FREE_MIN_BYTES = 1 << 20  # below this, a file system error is taken for a full disk


def disk_full(e: BaseException) -> DiskFull | None:
    """A DiskFull error when ENOSPC/EDQUOT is anywhere in the exception's chain (libraries wrap it), else None.

    HDF5 (netCDF4) reports a file it cannot write on a full tmpfs as "Permission denied" (errno 13): any
    OSError in the chain while the file system it names (or the temporary directory) has no room left
    is disk full too.
    """
    seen, io_error = set(), None
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if (isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)) or "No space left on device" in str(e):
            where = getattr(e, "filename", None) or tempfile.gettempdir()
            return DiskFull(f"no space left on the worker's disk (writing {where}); the mission waits and is retried")
        if isinstance(e, OSError) and io_error is None:
            io_error = e
        e = e.__cause__ or e.__context__
    where = getattr(io_error, "filename", None) or tempfile.gettempdir()
    if io_error is not None and _no_room(str(where)):
        return DiskFull(f"no space left on the worker's disk (writing {where}); the mission waits and is retried")
    return None


def _no_room(path: str) -> bool:
    """The file system holding path (or its nearest existing parent) has under 1 MiB or no inode left."""
    target = os.path.abspath(path)
    while target and not os.path.exists(target):
        target = os.path.dirname(target)
    try:
        st = os.statvfs(target or "/")
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < DISK_FREE_MIN_BYTES or (st.f_files > 0 and st.f_favail == 0)


def _failure(e: BaseException) -> dict:
    return JobReport.failure(e, describe_error(e)).to_dict()


def noop() -> None:
    """Target of the supervisor's first child: returning proves the forkserver preload finished."""


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (a killed supervisor stays one until its parent reaps it)."""
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except ProcessLookupError:
        return False
    except OSError:
        return True


def _exit_with_supervisor(supervisor_pid: int) -> None:
    """A job whose supervisor was killed must not live on and finish a mission another worker now owns."""

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if not _running(supervisor_pid):
                os._exit(70)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()
