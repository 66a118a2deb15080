"""`worker.py health`: is a worker alive here and can it reach Redis, PostgreSQL and S3?"""

from __future__ import annotations

from config import Settings, redact_url


def check_health(settings: Settings, max_heartbeat_age_s: float | None = None, liveness: bool = False) -> str | None:
    """None when healthy, else one line saying what is wrong. `liveness` checks the heartbeat only."""
    from driftline.db import MissionStore
    from driftline.objects import make_s3_client
    from driftline.queue import REDIS_ERRORS, RedisQueue

    try:
        queue = RedisQueue(settings)
        queue.r.ping()
    except REDIS_ERRORS as e:
        return f"Redis unreachable at {redact_url(settings.redis_url).rpartition('@')[2]}: {e}"
    if liveness:
        return _worker_problem(queue, settings, max_heartbeat_age_s or settings.heartbeat_ttl_s)
    try:
        settings.require_services()
        store = MissionStore(settings.database_url, io_timeout_s=settings.io_timeout_s)
        store.check_schema()
        if store.read_only():
            return "PostgreSQL: the server is read-only (a standby after a failover?): status writes wait"
    except Exception as e:  # noqa: BLE001 - any failure is the one-line answer
        return f"PostgreSQL: {e}"
    try:
        make_s3_client(settings, connect_timeout_s=3, read_timeout_s=5).head_bucket(Bucket=settings.results_bucket)
    except Exception as e:  # noqa: BLE001
        return f"S3: {type(e).__name__}: {e}"
    return _disk_problem() or _worker_problem(
        queue, settings, max_heartbeat_age_s or settings.heartbeat_ttl_s, need_ready=True
    )


def _disk_problem(min_free_mb: int = 100) -> str | None:
    """Job processes write their products below the temporary directory: a full disk stalls every mission."""
    import shutil
    import tempfile

    where = tempfile.gettempdir()
    free_mb = shutil.disk_usage(where).free // 2**20
    return (
        f"disk: only {free_mb} MB free in {where} (missions wait until space is freed)"
        if free_mb < min_free_mb
        else None
    )


def _worker_problem(queue, settings: Settings, max_age_s: float, need_ready: bool = False) -> str | None:
    """A fresh heartbeat; with need_ready also the preload done (a liveness probe must not wait for that)."""
    if settings.worker_id_explicit:
        return _heartbeat_problem(queue, settings.worker_id, max_age_s, need_ready)
    # Default ids are "{hostname}-{pid}": look for a worker of this host (this container).
    host = settings.worker_id.rsplit("-", 1)[0] + "-"
    local = [w for w in queue.stats()["workers"] if w.startswith(host)]
    problems = [_heartbeat_problem(queue, w, max_age_s, need_ready) for w in local]
    if local and None in problems:
        return None
    return problems[0] if problems else f"no worker of host {host[:-1]} has a heartbeat (is the worker running?)"


def _heartbeat_problem(queue, worker_id: str, max_age_s: float, need_ready: bool = False) -> str | None:
    from driftline.readiness import is_ready

    age = queue.heartbeat_age_s(worker_id)
    if age is None:
        return f"worker {worker_id} has no heartbeat (not running, or stopped)"
    if age > max_age_s:
        return f"worker {worker_id} heartbeat is {age:.0f} s old"
    if need_ready and not is_ready(worker_id):
        return f"worker {worker_id} is starting (preload not finished, not claiming jobs yet)"
    return None
