"""Bounded chaos: three workers, dozens of missions, six faults, one consistent result per mission.

During the run: kill -9 of a busy worker, SIGSTOP of another (its whole process group, like a
paused VM) for longer than the heartbeat TTL and then SIGCONT, a Redis restart, a PostgreSQL
restart, a FLUSHALL of Redis and the death of a worker's forkserver. Nine of the missions, one of each
scenario kind (point, window, cone, area, backward, ensemble, mixed types, search, drifters), have no
producer row: after the FLUSHALL only the record their claim wrote can bring them back. No fault
is ever skipped: a fault whose target cannot be found fails the test. At the end every mission is
`completed` exactly once, with one set of result rows whose sizes and sha256 match the S3 objects and
nothing else under its final prefix, and nothing is left in any Redis list, set or hash of the queue.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import time
import uuid

import pytest

from driftline.db import MissionStore
from tests.conftest import RESULTS_BUCKET, Services, apply_schema, mission, queue_keys, results, wait_for
from tests.e2e.test_redis_loss_daemon import BASE as SCENARIO_BASE
from tests.e2e.test_redis_loss_daemon import KINDS as SCENARIO_KINDS
from tests.services import PostgresServer, RedisServer, Worker

SCENARIOS = {**SCENARIO_KINDS, "multi-scenario": {"scenarios": [
    {"name": "drifting", "weight": 2, "latitude": 60.0, "longitude": -3.0},
    {"name": "anchored", "weight": 1, "latitude": 60.05, "longitude": -2.95, "radius_m": 500}]}}  # fmt: skip

MISSIONS = 24
KINDS = {"particles", "density", "search_area", "search_area_kml", "shoreline", "animation", "preview", "summary"}
KINDS |= {"sap", "search_plan_gpx", "waypoints", "probability_tif", "report"}  # tasking products
TTL_S = 3
ENV = {
    "HEARTBEAT_TTL_S": str(TTL_S),
    "REAPER_INTERVAL_S": "1",
    "RECONCILE_AFTER_S": "4",
    "POLL_INTERVAL": "1",
    "MAX_CONCURRENT_JOBS": "2",
    "RETRY_BASE_S": "0.5",
    "RETRY_MAX_S": "2",
    "SHUTDOWN_GRACE_S": "20",
}


class PersistentRedis(RedisServer):
    """A Redis with an append-only file, as production should run it: a restart keeps the queue."""

    def start(self) -> PersistentRedis:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir, "--save", ""]
            + ["--appendonly", "yes", "--appendfsync", "always"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        from tests.services import wait_port

        wait_port(self.port)
        return self


def busy(workers: dict[str, Worker], exclude: set[str]) -> str:
    """A worker (not in exclude) with a job process running right now."""

    def running(w: Worker) -> bool:
        log = w.log()
        return log.count("started in job process") > len(re.findall(r"completed successfully|stands down|died", log))

    return wait_for(
        lambda: next((k for k, w in workers.items() if k not in exclude and running(w)), None), 30, "a busy worker"
    )


def forkserver_pid(worker: Worker) -> int | None:
    """The supervisor's forkserver: its child with that command line (job processes, forked from the
    forkserver, share the command line; after a PID wrap-around one may come first in the list)."""
    for pid in worker.children():
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
            ppid = int(open(f"/proc/{pid}/stat", "rb").read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if b"forkserver" in cmdline and ppid == worker.proc.pid:
            return pid
    return None


def push_rowless(local: Services, queue: str) -> dict[str, str]:
    """One job of each scenario kind with no producer row (a producer that only pushes): kind -> mission id."""
    ids = {}
    for i, (kind, extra) in enumerate(SCENARIOS.items()):
        ids[kind] = str(uuid.uuid4())
        params = {**SCENARIO_BASE, "duration_hours": 2, "num_particles": 100 + i, **extra}
        local.redis().rpush(queue, json.dumps({"mission_id": ids[kind], "params": params}))
    return ids


def final_keys(local: Services, mission_id: str) -> set[str]:
    pages = local.s3().get_paginator("list_objects_v2").paginate(Bucket=RESULTS_BUCKET, Prefix=f"{mission_id}/")
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


@pytest.mark.faults
def test_chaos_three_workers_six_faults_every_mission_completed_once(services, tmp_path):
    started = time.monotonic()
    redis_server, pg = PersistentRedis().start(), PostgresServer().init().start()
    workers: dict[str, Worker] = {}
    faults: list[str] = []
    try:
        apply_schema(pg.url)
        local = Services(redis_server.url, pg.url, services.s3_endpoint, services.tmp)
        q = f"chaos-{uuid.uuid4().hex[:6]}"
        for name in ("chaos-a", "chaos-b", "chaos-c"):
            workers[name] = Worker(local.env(q, name, **ENV), tmp_path / f"{name}.log").start(wait_ready=False)
        for name, w in workers.items():
            w.wait_log(f"Worker {name} listening", 120)
        ready = time.monotonic()

        store = MissionStore(pg.url)
        rowless = push_rowless(local, q)  # first in the queue: claimed (so recorded) before the FLUSHALL
        ids = []
        for i in range(MISSIONS):  # the producer: the row first (the source of truth), then the job
            mid, params = (
                str(uuid.uuid4()),
                {
                    "latitude": 60.0,
                    "longitude": 4.0 + i / 100,
                    "start_time": "2024-01-01T00:00:00Z",
                    "duration_hours": 1,
                    "num_particles": 10 + i,
                },
            )
            store.ensure_queued(mid, params)
            local.redis().rpush(q, json.dumps({"mission_id": mid, "params": params}))
            ids.append(mid)

        killed = busy(workers, set())
        os.kill(workers[killed].proc.pid, signal.SIGKILL)  # the supervisor only: its job processes follow it
        faults.append(f"kill -9 {killed}")
        paused = busy(workers, {killed})
        os.killpg(workers[paused].proc.pid, signal.SIGSTOP)
        faults.append(f"SIGSTOP {paused} for {3 * TTL_S} s")
        time.sleep(3 * TTL_S)  # > TTL + the reaper's own grace (TTL) + REAPER_INTERVAL_S
        os.killpg(workers[paused].proc.pid, signal.SIGCONT)
        (survivor,) = set(workers) - {killed, paused}
        fs = wait_for(lambda: forkserver_pid(workers[survivor]), 30, f"the forkserver of {survivor}")
        os.kill(fs, signal.SIGKILL)  # never skipped: no forkserver found within 30 s fails the test
        faults.append(f"forkserver of {survivor} killed")
        redis_server.stop()
        time.sleep(2)
        redis_server.start()
        faults.append("Redis restart (2 s down)")
        time.sleep(2)
        pg.stop()
        time.sleep(2)
        pg.start()
        faults.append("PostgreSQL restart (2 s down)")
        time.sleep(2)
        # A mission with no producer row that no worker claimed yet exists nowhere after a FLUSHALL: wait
        # until each has the row its claim writes (the FLUSHALL is never skipped; this waits at most 60 s).
        wait_for(lambda: all(mission(local, m) for m in rowless.values()), 60, "a claim of every row-less mission")
        unfinished = sum(mission(local, m)["status"] != "completed" for m in rowless.values())
        local.redis().flushall()
        faults.append(f"FLUSHALL ({unfinished} row-less missions not completed yet)")
        ids += list(rowless.values())

        def all_completed() -> bool:
            return all((mission(local, m) or {}).get("status") == "completed" for m in ids)

        wait_for(all_completed, max(10.0, 200 - (time.monotonic() - started)), "every mission to complete")
        finished = time.monotonic()
        for name in (paused, survivor):
            assert workers[name].stop(timeout_s=30) == 0

        logs = {name: w.log() for name, w in workers.items()}
        everything = "".join(logs.values())
        starts = {m: everything.count(f"Mission {m} started in job process") for m in ids}
        completions = {m: len(re.findall(rf"Mission {m} completed successfully", everything)) for m in ids}
        # At most one attempt published each mission (all are `completed`, above). The attempt that did may not
        # have logged it: a job process exits with its killed supervisor, possibly right after its commit.
        assert max(completions.values()) == 1, {m: n for m, n in completions.items() if n > 1}
        result_sets = 0
        for m in ids:
            rows = results(local, m)
            if m not in rowless.values():
                assert set(rows) == KINDS, m
            assert {"particles", "summary"} <= set(rows), (m, set(rows))
            keys = set()
            for kind, row in rows.items():
                key = row["uri"].removeprefix(f"s3://{RESULTS_BUCKET}/")
                data = local.s3().get_object(Bucket=RESULTS_BUCKET, Key=key)["Body"].read()
                assert (len(data), hashlib.sha256(data).hexdigest()) == (row["size_bytes"], row["sha256"]), (m, kind)
                keys.add(key)
            stray = final_keys(local, m) - keys
            assert not stray, f"objects under {m}/ that no result row names: {sorted(stray)}"
            result_sets += 1
        reaped = set(re.findall(r"held by dead worker (\S+)", everything))
        assert reaped <= {killed, paused}, f"live workers reaped: {reaped - {killed, paused}}"
        assert "job process died" not in logs[survivor] + logs[paused]  # pauses and forkserver loss are no crash
        assert f"The forkserver (pid {fs}) died" in logs[survivor]
        counters = (f"{q}:epoch", f"{q}:dead_dropped")  # the loss detector's epoch and the dead-letter drop count stay
        left = {k: v for k, v in queue_keys(local, q).items() if v != 0 and k not in counters}
        assert left == {}, left
        attempts = [mission(local, m)["attempts"] for m in ids]
        over = [m for m, n in zip(ids, attempts, strict=True) if n > 2]
        story = {m: [ln[:240] for ln in everything.splitlines() if m in ln] for m in over}  # to tell why, if ever
        assert 1 <= min(attempts) and max(attempts) <= 2, (attempts, faults, story)
        duplicates = sum(n - 1 for n in starts.values())
        stood_down = everything.count("stands down")
        print(
            f"chaos: {len(ids)} missions ({len(rowless)} with no producer row), {len(faults)} faults "
            f"({'; '.join(faults)}), {duplicates} extra job runs "
            f"({stood_down} stood down), {result_sets} result sets, each completed once; workers ready in "
            f"{ready - started:.0f} s, missions done {finished - ready:.0f} s after the push, "
            f"total {time.monotonic() - started:.0f} s; attempts {sorted(attempts)}"
        )
    finally:
        for w in workers.values():
            if w.proc is not None and w.proc.poll() is None:
                try:
                    os.killpg(w.proc.pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
                w.kill_group()
        redis_server.cleanup()
        pg.cleanup()
