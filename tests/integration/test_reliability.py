"""Leases, reaping, ordering, reconciliation and housekeeping on real Redis, PostgreSQL and S3.

These drive the worker's own code paths (DriftWorker methods, the Lua scripts, the SQL guards)
without starting a daemon, so each runs in well under a second; tests/e2e/test_chaos.py runs the
same faults against three real daemons.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import uuid
from types import SimpleNamespace

from config import Settings
from driftline.db import MissionStore
from driftline.errors import StorageUnavailable
from driftline.fencing import StagedStore, apply_update, discard, staging_prefix, sweep
from driftline.objects import S3Store, ensure_buckets
from driftline.queue import RedisQueue
from driftline.reconcile import reconcile
from driftline.supervisor.running import pump
from tests.conftest import RESULTS_BUCKET, Services, apply_schema, mission, results
from worker import DriftWorker, RunningJob

SHORT = {"latitude": 60.0, "longitude": 4.0, "start_time": "2024-01-01T00:00:00Z", "duration_hours": 2}


def settings_for(services: Services, queue: str, worker_id: str = "w1", **changes) -> Settings:
    base = Settings(
        database_url=services.database_url,
        redis_url=services.redis_url,
        s3_endpoint=services.s3_endpoint,
        s3_access_key="testing",
        s3_secret_key="testing",
        queue_name=queue,
        worker_id=worker_id,
        heartbeat_ttl_s=2,
        reaper_interval_s=0.5,
        reconcile_after_s=1,
        poll_interval_s=0.5,
    )
    return base.with_overrides(**changes)


def worker_for(services: Services, queue: str, worker_id: str, **changes) -> DriftWorker:
    w = DriftWorker(settings_for(services, queue, worker_id, **changes))
    w.queue = RedisQueue(w.s)
    return w


def maintain(w: DriftWorker, reap: bool = True) -> None:
    w.housekeeping.next_maintenance = 0.0
    if reap:
        w.housekeeping.next_reap = 0.0
    w.housekeeping.maintain()


def body(mission_id: str, params: dict | None = None) -> bytes:
    return json.dumps({"mission_id": mission_id, "params": params or SHORT}).encode()


def new_queue() -> str:
    return f"r-{uuid.uuid4().hex[:8]}"


def lease(n: int) -> str:
    return f"{n:016x}-test"


def sql(services: Services, query: str, *args) -> int:
    conn = services.db()
    with conn.cursor() as cur:
        cur.execute(query, args)
        count = cur.rowcount
    conn.close()
    return count


# --- SQL: allowed transitions and fencing ---------------------------------------------------------------
def test_schema_reapplies_and_status_moves_only_along_allowed_transitions(services):
    apply_schema(services.database_url)  # idempotent: a second run changes nothing and does not fail
    store = MissionStore(services.database_url)
    mid = str(uuid.uuid4())
    store.ensure_queued(mid, SHORT)
    assert store.mark_processing(mid, None, "w1", lease(1), 1, "r-transitions")
    assert store.mark_processing(mid, None, "w2", lease(2), 2)  # the job was reaped and claimed again
    assert not store.mark_processing(mid, None, "w1", lease(1), 1)  # a stale processing (outbox) is refused
    assert not store.set_progress(mid, 0.5, lease(1)) and not store.mark_requeued(mid, "x", lease(1))
    assert store.set_progress(mid, 0.5, lease(2))
    assert store.mark_failed(mid, "forcing does not cover", "w2", lease=lease(2))
    assert not store.mark_processing(mid, None, "w3", lease(3), 3)  # never processing over failed
    assert sql(services, "UPDATE missions SET status = 'processing' WHERE id = %s", mid) == 0  # the trigger
    assert mission(services, mid)["status"] == "failed"
    assert store.requeue_failed(mid) and store.mark_processing(mid, None, "w3", lease(3), 1)  # operator requeue

    done = str(uuid.uuid4())
    assert store.mark_processing(done, None, "w1", lease(5), 1)
    assert store.mark_completed(done, [], "s3://b/x/", None, lease(5))
    for status in ("queued", "processing", "failed"):
        assert sql(services, "UPDATE missions SET status = %s WHERE id = %s", status, done) == 0
    assert not store.mark_failed(done, "late", "w9", lease=lease(9))
    assert not store.mark_processing(done, None, "w9", lease(9), 2)
    assert not store.mark_requeued(done, "late", lease(5))
    assert mission(services, done)["status"] == "completed"


def test_completion_that_overtook_its_parked_processing_update_applies_and_the_late_processing_does_not(services):
    store = MissionStore(services.database_url)
    mid = str(uuid.uuid4())
    store.ensure_queued(mid, None)  # the processing write went to the outbox (PostgreSQL was down)
    assert store.mark_completed(mid, [], "s3://b/x/", None, lease(7))
    assert not store.mark_processing(mid, None, "w1", lease(7), 1)  # drained later: must not reopen
    assert mission(services, mid)["status"] == "completed"


# --- one consistent result set -------------------------------------------------------------------------
def staged_attempt(services, settings, tmp_path, mid: str, token: str, text: str):
    objects = StagedStore(S3Store(settings, services.s3()), mid, token)
    path = tmp_path / f"{token}.json"
    path.write_text(text)
    stored = objects.put("summary", f"{mid}/products/summary.json", path)
    update = {
        "op": "completed",
        "mission_id": mid,
        "stored": [stored.__dict__],
        "location": f"s3://{RESULTS_BUCKET}/{mid}/",
        "lease": token,
        "staged": objects.staged,
    }
    return update


def final_object(services, mid: str) -> bytes | None:
    try:
        return services.s3().get_object(Bucket=RESULTS_BUCKET, Key=f"{mid}/products/summary.json")["Body"].read()
    except services.s3().exceptions.NoSuchKey:
        return None


def assert_rows_describe_objects(services, mid: str) -> None:
    for kind, row in results(services, mid).items():
        data = services.s3().get_object(Bucket=RESULTS_BUCKET, Key=row["uri"].split("/", 3)[3])["Body"].read()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (row["size_bytes"], row["sha256"]), kind


def test_a_reaped_copy_that_finishes_late_publishes_nothing_and_rows_match_the_objects(services, tmp_path):
    s = settings_for(services, new_queue())
    ensure_buckets(services.s3(), [RESULTS_BUCKET])
    store, s3 = MissionStore(services.database_url), services.s3()
    mid = str(uuid.uuid4())
    store.mark_processing(mid, SHORT, "paused", lease(1), 1, s.queue_name)
    late = staged_attempt(services, s, tmp_path, mid, lease(1), "copy A (paused, then reaped)")
    store.mark_processing(mid, SHORT, "rescuer", lease(2), 2)  # A was reaped; B claimed the job
    current = staged_attempt(services, s, tmp_path, mid, lease(2), "copy B, the current attempt")
    assert not apply_update(store, late, lambda: s3, RESULTS_BUCKET)  # A resumes first: fenced out
    assert final_object(services, mid) is None and mission(services, mid)["status"] == "processing"
    assert apply_update(store, current, lambda: s3, RESULTS_BUCKET)
    assert apply_update(store, current, lambda: s3, RESULTS_BUCKET)  # an outbox replay is harmless
    assert not apply_update(store, late, lambda: s3, RESULTS_BUCKET)
    assert final_object(services, mid) == b"copy B, the current attempt"
    assert_rows_describe_objects(services, mid)


def test_when_the_reaped_copy_finishes_before_anyone_reclaims_it_wins_and_the_rerun_stands_down(services, tmp_path):
    s = settings_for(services, new_queue())
    ensure_buckets(services.s3(), [RESULTS_BUCKET])
    store, s3 = MissionStore(services.database_url), services.s3()
    mid = str(uuid.uuid4())
    store.mark_processing(mid, SHORT, "paused", lease(1), 1, s.queue_name)
    first = staged_attempt(services, s, tmp_path, mid, lease(1), "copy A")
    rerun = staged_attempt(services, s, tmp_path, mid, lease(2), "copy B, started before A's completion")
    assert apply_update(store, first, lambda: s3, RESULTS_BUCKET)
    assert not store.mark_processing(mid, SHORT, "rescuer", lease(2), 2)
    assert not apply_update(store, rerun, lambda: s3, RESULTS_BUCKET)
    assert final_object(services, mid) == b"copy A"
    assert_rows_describe_objects(services, mid)


def test_staged_leftovers_and_abandoned_multipart_uploads_are_removed(services):
    s3 = services.s3()
    ensure_buckets(s3, [RESULTS_BUCKET])
    mid = str(uuid.uuid4())
    prefix = staging_prefix(mid, lease(1))
    s3.put_object(Bucket=RESULTS_BUCKET, Key=prefix + "raw/particles.nc", Body=b"partial")
    s3.create_multipart_upload(Bucket=RESULTS_BUCKET, Key=prefix + "products/animation.mp4")
    other = staging_prefix(str(uuid.uuid4()), lease(2)) + "raw/particles.nc"
    s3.create_multipart_upload(Bucket=RESULTS_BUCKET, Key=other)
    assert discard(s3, RESULTS_BUCKET, prefix) == 2
    uploads = s3.list_multipart_uploads(Bucket=RESULTS_BUCKET).get("Uploads", [])
    assert [u["Key"] for u in uploads if u["Key"].startswith(prefix)] == []
    assert other in {u["Key"] for u in uploads}
    objects, aborted = sweep(s3, RESULTS_BUCKET, older_than_s=-1)  # (moto dates every upload in 2010)
    assert aborted >= 1 and not s3.list_multipart_uploads(Bucket=RESULTS_BUCKET).get("Uploads")


# --- status outbox ---------------------------------------------------------------------------------------
def test_two_workers_draining_the_outbox_at_once_lose_nothing_and_keep_the_order(services):
    q = new_queue()
    a, b = (RedisQueue(settings_for(services, q, w)) for w in ("a", "b"))
    for i in range(300):
        a.push_status({"op": "progress", "mission_id": "m", "seq": i})
    applied: list[int] = []

    def apply(update: dict) -> None:
        applied.append(update["seq"])
        time.sleep(0.0005)

    def drain(queue: RedisQueue) -> None:
        while queue.r.llen(queue.s.status_outbox):
            queue.drain_status(apply)

    threads = [threading.Thread(target=drain, args=(x,)) for x in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    collapsed = [x for i, x in enumerate(applied) if i == 0 or applied[i - 1] != x]  # replays of the head only
    assert collapsed == list(range(300))
    assert not a.r.exists(a.s.status_outbox, f"{a.s.status_outbox}:lock")


# --- reaping -----------------------------------------------------------------------------------------------
def test_after_a_redis_outage_longer_than_the_ttl_live_workers_are_not_reaped_dead_ones_are(services):
    q = new_queue()
    first, other = worker_for(services, q, "first"), worker_for(services, q, "slow-to-reconnect")
    job = body(str(uuid.uuid4()))
    other.queue.r.rpush(other.s.processing_list(), job)
    other.running[1] = SimpleNamespace(raw=job, workdir=None)
    for w in (first, other):
        maintain(w)
    first.queue.r.delete(first.s.heartbeat_key(), other.s.heartbeat_key())  # every heartbeat expired
    first.housekeeping.last_beat = other.housekeeping.last_beat = time.monotonic() - 30  # both cut off for 30 s
    deadline = time.monotonic() + first.s.heartbeat_ttl_s + 0.5
    while time.monotonic() < deadline:  # the first one back keeps reaping; the other is still away
        maintain(first)
        time.sleep(0.1)
    assert first.queue.r.lrange(other.s.processing_list(), 0, -1) == [job]
    assert first.housekeeping.reap_after > 0  # it knew it had been cut off and gave the others a grace period
    maintain(other)  # it reconnects within the grace and renews its heartbeat
    first.housekeeping.reap_after = 0.0
    for _ in range(3):
        maintain(first)
    assert first.queue.r.lrange(other.s.processing_list(), 0, -1) == [job]
    other.queue.r.delete(other.s.heartbeat_key())  # now it really dies
    deadline = time.monotonic() + 10
    while first.queue.r.llen(other.s.processing_list()) and time.monotonic() < deadline:
        maintain(first)
        time.sleep(0.2)
    # once: (missions of other tests' rows without a queue may be re-enqueued here by the reconciler too)
    assert first.queue.r.lrange(q, 0, -1).count(job) == 1
    assert time.monotonic() < deadline


def test_reap_checks_the_heartbeat_and_requeues_in_one_step(services):
    q = new_queue()
    reaper, holder = RedisQueue(settings_for(services, q, "reaper")), RedisQueue(settings_for(services, q, "holder"))
    job = body(str(uuid.uuid4()))
    holder.r.rpush(holder.s.processing_list(), job)
    holder.r.sadd(holder.s.workers_set, "holder")
    reaper._missing_since["holder"] = time.monotonic() - 100  # seen silent long ago ...
    holder.heartbeat()  # ... but it renewed just now
    assert (
        reaper._scripts["reap"](
            keys=[holder.s.heartbeat_key(), holder.s.processing_list(), q, holder.s.workers_set], args=["holder"]
        )
        == -1
    )
    assert reaper.reap(grace_s=0) == 0 and holder.r.llen(holder.s.processing_list()) == 1


def test_stranded_jobs_are_requeued_within_one_reaper_interval_and_lost_running_jobs_put_back(services):
    q = new_queue()
    w, peer = worker_for(services, q, "w"), worker_for(services, q, "peer")
    running, lost, stranded, peers = (body(str(uuid.uuid4())) for _ in range(4))
    r = w.queue.r
    r.rpush(w.s.processing_list(), running, stranded)  # stranded: claimed, but no job process was started
    r.rpush(peer.s.processing_list(), peers)  # a job another worker took over: not ours to put back
    w.running = {i: SimpleNamespace(raw=raw, workdir=None) for i, raw in enumerate((running, lost, peers))}
    maintain(w)
    assert r.lrange(q, 0, -1) == [stranded]
    assert sorted(r.lrange(w.s.processing_list(), 0, -1)) == sorted([running, lost])
    assert r.lrange(peer.s.processing_list(), 0, -1) == [peers]


# --- attempts ------------------------------------------------------------------------------------------------
def test_attempts_count_real_attempts_and_a_job_that_kills_its_worker_is_dead_lettered(services):
    q = new_queue()
    w = worker_for(services, q, "w", max_attempts=3)
    store, r = w.store, w.queue.r
    mid = str(uuid.uuid4())
    raw = body(mid)
    store.ensure_queued(mid, None)

    def start() -> RunningJob | None:
        r.rpush(w.s.processing_list(), raw)
        begun = w.admission.begin_attempt(raw, mid)
        if begun is None:
            return None
        attempt, token = begun
        store.mark_processing(mid, SHORT, "w", token, attempt, q)
        return RunningJob(None, None, raw, mid, attempt, deadline=0, lease=token)

    job = start()
    w.outcomes.finish_failed(job, StorageUnavailable("S3 unreachable during upload"))  # outage wait
    assert mission(services, mid)["attempts"] == 0 and r.zcard(w.s.delayed_queue) == 1
    r.delete(w.s.delayed_queue)
    job = start()
    w.outcomes.requeue_interrupted(job)  # shutdown past the grace period
    assert mission(services, mid)["attempts"] == 0 and r.lrange(q, 0, -1) == [raw]
    r.delete(q)
    job = start()
    r.lrem(w.s.processing_list(), 1, raw)  # reaped while paused: another worker runs it now
    r.rpush(q, raw)
    w.outcomes.finish(job, {"ok": True, "result": "superseded"})
    assert mission(services, mid)["attempts"] == 0 and not r.hget(w.s.attempts_hash, mid)
    w.outcomes.stand_down(job, "finishing retried after a Redis error")  # the attempt is given back once only
    assert mission(services, mid)["attempts"] == 0 and not r.hget(w.s.attempts_hash, mid)
    r.delete(q)
    for expected in (1, 2, 3):  # each run takes its worker down (OOM): nothing finishes, the count stays
        assert start().attempt == expected
        r.delete(w.s.processing_list())
    r.delete(w.s.attempts_hash)  # even if Redis forgets the count, PostgreSQL remembers it
    assert start() is None
    dead = json.loads(r.lindex(w.s.dead_queue, -1))
    assert dead["reason"] == "crashed" and dead["mission_id"] == mid and dead["attempts"] == 3
    row = mission(services, mid)
    assert row["status"] == "failed" and "died with its worker" in row["error_message"]


def test_a_refund_after_the_completion_leaves_one_attempt(services):
    """A copy standing down after its successor completed: both were attempt 1 when Redis lost the count."""
    store = MissionStore(services.database_url)
    done, waiting = str(uuid.uuid4()), str(uuid.uuid4())
    for mid in (done, waiting):
        store.ensure_queued(mid, SHORT)
        store.mark_processing(mid, SHORT, "w", "lease-1", 1, "q")
    store.mark_completed(done, [], "s3://driftline-results/x/", SHORT, "lease-1", attempt=1)
    store.mark_requeued(waiting, "S3 unreachable", "lease-1", attempts=1)
    for mid in (done, waiting):
        store.apply({"op": "refund", "mission_id": mid})
    assert (mission(services, done)["attempts"], mission(services, waiting)["attempts"]) == (1, 0)
    store.close()


def test_leases_of_later_claims_sort_later(services):
    q = RedisQueue(settings_for(services, new_queue()))
    leases = [q.count_attempt("m")[1] for _ in range(50)]
    assert leases == sorted(leases) and len(set(leases)) == 50


# --- reconciler ----------------------------------------------------------------------------------------------
def test_reconciler_re_enqueues_missions_redis_lost_from_their_row_one_worker_at_a_time(services):
    q = new_queue()
    s = settings_for(services, q, reconcile_after_s=1)
    store, queue = MissionStore(services.database_url), RedisQueue(s)
    lost, running_lost, present, broken = (str(uuid.uuid4()) for _ in range(4))
    for mid in (lost, present, broken):
        store.ensure_queued(mid, SHORT if mid != broken else {"latitude": "north"})
    store.mark_processing(running_lost, {**SHORT, "num_particles": 7}, "gone", lease(1), 1, q)
    queue.r.rpush(q, body(present))
    ids = (lost, running_lost, present, broken)
    # older than any other test's leftover rows: first in the reconciler's batch (BATCH, oldest first)
    sql(services, "UPDATE missions SET updated_at = '2000-01-01' WHERE id = ANY(%s::uuid[])", list(ids))
    holder = services.db()
    holder.autocommit = False
    with holder.cursor() as cur:  # another worker is reconciling: this one does nothing
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"driftline-reconcile:{q}",))
        assert reconcile(s, store, queue) == 0
    holder.rollback()
    assert reconcile(s, store, queue) == 0  # first seen missing now: not yet for RECONCILE_AFTER_S
    time.sleep(1.1)
    assert reconcile(s, store, queue) >= 3  # 2 re-enqueued, 1 failed (+ any leftovers of other tests)
    queued = [json.loads(x) for x in queue.r.lrange(q, 0, -1)]
    assert sorted(j["mission_id"] for j in queued if j["mission_id"] in ids) == sorted([lost, running_lost, present])
    assert next(j for j in queued if j["mission_id"] == running_lost)["params"]["num_particles"] == 7
    assert [mission(services, m)["status"] for m in ids] == ["queued", "queued", "queued", "failed"]
    assert "params cannot be re-enqueued" in mission(services, broken)["error_message"]
    assert not queue.r.exists(f"{q}:reconcile_suspects")
    assert reconcile(s, store, queue) == 0
    sql(services, "UPDATE missions SET queue = %s WHERE id = ANY(%s::uuid[])", q, list(ids))  # not the daemons'


# --- job processes and their leftovers -----------------------------------------------------------------------
def test_a_job_has_ended_when_its_report_pipe_closes_not_when_the_forkserver_says_so():
    import multiprocessing

    reader, writer = multiprocessing.Pipe(duplex=False)
    job = SimpleNamespace(report=reader, message=None, ended=False)
    assert not pump(job)
    writer.send({"ok": True, "result": "completed"})
    assert not pump(job) and job.message["result"] == "completed"  # reported, still exiting
    writer.close()
    assert pump(job)


def test_temporary_directories_of_dead_or_finished_jobs_are_removed(services, tmp_path):
    w = worker_for(services, new_queue(), "w")
    w.launcher.jobs_dir = tmp_path
    dead = tmp_path / "999999999-0000-dead"  # its supervisor was killed -9
    finished = tmp_path / f"{os.getpid()}-0000-leftover"
    live_other = tmp_path / "1-0000-other-worker"
    current = tmp_path / f"{os.getpid()}-0000-running"
    for d in (dead, finished, live_other, current):
        (d / "products").mkdir(parents=True)
        (d / "products" / "particles.nc").write_bytes(b"x" * 1000)
    w.running = {1: SimpleNamespace(raw=b"{}", workdir=current)}
    w.launcher.sweep_workdirs(w.running.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live_other.name, current.name])


def _slow_job(report, seconds: float) -> None:
    time.sleep(seconds)
    report.send({"ok": True, "result": "completed", "timings": {}})
    report.close()


def test_a_dead_forkserver_is_replaced_while_its_running_job_finishes_normally(services, monkeypatch):
    from multiprocessing import forkserver

    from driftline.jobproc import noop

    w = worker_for(services, new_queue(), "fs")

    def light_start() -> None:  # the real one preloads OpenDrift and the landmask (~12 s)
        w.launcher.context.set_forkserver_preload([])
        p = w.launcher.context.Process(target=noop)
        p.start()
        p.join()

    monkeypatch.setattr(w.launcher, "start_forkserver", light_start)
    light_start()
    mid = str(uuid.uuid4())
    raw = body(mid)
    w.queue.r.rpush(w.s.processing_list(), raw)
    reader, writer = w.launcher.context.Pipe(duplex=False)
    proc = w.launcher.context.Process(target=_slow_job, args=(writer, 3.0))
    proc.start()
    writer.close()
    w.running[proc.pid] = RunningJob(proc, reader, raw, mid, 1, deadline=time.monotonic() + 60)
    old = forkserver._forkserver._forkserver_pid
    os.kill(old, 9)
    time.sleep(0.5)
    assert not proc.is_alive()  # what multiprocessing now believes, wrongly
    w.outcomes.collect_finished()
    assert proc.pid in w.running  # still running: not reported as crashed
    w.launcher.watch()
    assert w.launcher.restarting is not None
    deadline = time.monotonic() + 15
    while w.running and time.monotonic() < deadline:
        w.outcomes.collect_finished()
        time.sleep(0.1)
    assert not w.running and w.metrics.completed._value.get() == 1
    assert w.queue.r.llen(w.s.processing_list()) == 0  # acknowledged as completed, not retried as crashed
    w.launcher.restarting.join(10)
    w.launcher.watch()
    assert w.launcher.restarting is None and forkserver._forkserver._forkserver_pid not in (None, old)


def test_a_job_process_sees_its_killed_supervisor_even_while_it_is_an_unreaped_zombie():
    import subprocess

    from driftline.jobproc import _running

    child = subprocess.Popen(["true"])
    deadline = time.monotonic() + 5
    while _running(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child.pid)  # exited, not yet reaped by its parent: a zombie
    child.wait()
    assert _running(os.getpid())
