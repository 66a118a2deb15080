"""Network partitions. The daemon runs in a network namespace of its own and reaches throwaway Redis,
PostgreSQL and moto S3 servers only through a veth pair the test made (addresses inside 10.231.0.0/16 on that
pair, nothing else). Its links to Redis, PostgreSQL and S3 are cut (iptables DROP both ways inside the
namespace: a black hole, not a refusal) one at a time and all together, while a mission is being claimed,
simulated, uploaded and completed, then restored. Every mission ends `completed` exactly once with one result
set in S3, and the worker never exits. Needs root (CI runs as root): without it the test fails, never skips.
"""

from __future__ import annotations

import json
import re
import sys
import time
import uuid

import pytest

from driftline.db import MissionStore
from tests.conftest import RESULTS_BUCKET, Services, apply_schema, mission, queue_keys, results, wait_for
from tests.e2e.test_chaos import KINDS
from tests.netns import NetMoto, NetPostgres, NetRedis, TestNet
from tests.services import Worker

LINKS = ("redis", "postgres", "s3")
PHASES = ("claim", "simulation", "upload", "completion")
FAULTS = [(links, phase) for phase in PHASES for links in (*((link,) for link in LINKS), LINKS)]
HOLD_S = 3.0  # one link: longer than the worker's I/O bound (TTL / 3 = 2 s), so a blocked call times out
HOLD_ALL_S = 7.0  # every link: longer than the heartbeat TTL, so the worker's heartbeat expires meanwhile
TTL_S = 6
ENV = {"HEARTBEAT_TTL_S": str(TTL_S), "REAPER_INTERVAL_S": "1", "RECONCILE_AFTER_S": "8", "POLL_INTERVAL": "1",
       "MAX_CONCURRENT_JOBS": "2", "RETRY_BASE_S": "0.5", "RETRY_MAX_S": "2", "SHUTDOWN_GRACE_S": "20"}  # fmt: skip


class NamespacedWorker(Worker):
    """The daemon started with `ip netns exec NS` (which execs it: the pid is the worker's own)."""

    def __init__(self, net: TestNet, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.net = net

    def start(self, wait_ready: bool = True, timeout_s: float = 120) -> NamespacedWorker:
        import subprocess

        from tests.services import ROOT

        self._log = self.log_path.open("ab")
        cmd = [*self.net.prefix(), sys.executable, str(ROOT / "worker.py")]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        if wait_ready:
            self.wait_ready(timeout_s)
        return self


@pytest.fixture
def net():
    """The test network; removed however the test ends (and by the next run if this process is killed)."""
    network = TestNet().open()
    yield network
    network.close()
    assert not network.exists()


@pytest.fixture
def net_services(net, tmp_path):
    started = []
    try:
        redis_server = NetRedis(net.host_ip).start()
        started.append(redis_server)
        pg = NetPostgres(net.host_ip, net.ns_ip).init().start()
        started.append(pg)
        moto = NetMoto(net.host_ip).start()
        started.append(moto)
        apply_schema(pg.url)
        yield (
            Services(redis_server.url, pg.url, moto.url, tmp_path),
            {"redis": redis_server.port, "postgres": pg.port, "s3": moto.port},
        )
    finally:
        for server in reversed(started):
            server.cleanup()


def params(i: int) -> dict:
    # ~2 s of simulation: long enough to cut a link while it runs, short enough for 16 missions in CI
    return {"latitude": 60.0, "longitude": 4.0 + i / 50, "start_time": "2024-01-01T00:00:00Z", "duration_hours": 12,
            "num_particles": 1000, "wind": {"speed_ms": 8, "from_deg": 250}}  # fmt: skip


def staged(local: Services, mid: str) -> int:
    out = local.s3().list_objects_v2(Bucket=RESULTS_BUCKET, Prefix=f".staging/{mid}/")
    return out.get("KeyCount", 0)


def completing(poll, ns_ip: str, mid: str) -> bool:
    """The mission's completion transaction is open: its row locked (FOR UPDATE) while its objects are published."""
    with poll.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE client_addr = %s AND state = 'idle in transaction' "
            "AND query LIKE %s",
            (ns_ip, f"SELECT status, lease FROM missions WHERE id = '{mid}' FOR UPDATE%"),
        )
        return cur.fetchone()[0] > 0


def status(poll, mid: str) -> str | None:
    with poll.cursor() as cur:
        cur.execute("SELECT status FROM missions WHERE id = %s", (mid,))
        return cur.fetchone()[0]


def wait_phase(phase: str, local: Services, poll, net: TestNet, worker: Worker, mid: str) -> bool:
    """Return as soon as mission `mid` is in `phase` (claim: at once, the cut comes before the push); False
    when its upload or completion was over before it could be seen (the fault is then made again on a new
    mission)."""
    if phase == "simulation":
        worker.wait_log(f"Mission {mid} started in job process", 90)
    elif phase == "upload":
        deadline = time.monotonic() + 90
        while staged(local, mid) == 0:
            assert time.monotonic() < deadline, f"mission {mid} never seen uploading"
            if status(poll, mid) == "completed":
                return False
            time.sleep(0.02)
    elif phase == "completion":
        deadline = time.monotonic() + 90
        while not completing(poll, net.ns_ip, mid):
            assert time.monotonic() < deadline, f"mission {mid} never seen completing"
            if status(poll, mid) == "completed":
                return False
    return True


def one_result_set(local: Services, mid: str) -> None:
    """The product rows are the expected kinds and the objects under the final prefix are exactly those rows."""
    rows = results(local, mid)
    assert set(rows) == KINDS, (mid, set(rows) ^ KINDS)
    named = {row["uri"].removeprefix(f"s3://{RESULTS_BUCKET}/") for row in rows.values()}
    out = local.s3().list_objects_v2(Bucket=RESULTS_BUCKET, Prefix=f"{mid}/")
    assert {o["Key"] for o in out.get("Contents", [])} == named, mid


@pytest.mark.faults
def test_partitions_of_every_link_in_every_phase_each_mission_completed_once(net, net_services, tmp_path):
    started = time.monotonic()
    local, ports = net_services
    queue = f"part-{uuid.uuid4().hex[:6]}"
    worker = NamespacedWorker(net, local.env(queue, "part-1", **ENV), tmp_path / "worker.log")
    try:
        worker.start(timeout_s=60)
        ready = time.monotonic()
        figures, missed = run_faults(local, net, worker, queue, ports)
        ids = [m for m, _ in figures]
        wait_for(lambda: all(mission(local, m)["status"] == "completed" for m in ids), 120, "every mission to complete")
        done = time.monotonic()
        assert worker.proc.poll() is None, "the worker exited"
        assert worker.stop(timeout_s=30) == 0  # a clean stop: it also empties its heartbeat and registration
        check_outcome(local, worker, queue, ids, figures, started, ready, done, missed)
    finally:
        if worker.proc is not None and worker.proc.poll() is None:
            worker.kill_group()


def run_faults(local, net, worker, queue, ports) -> tuple[list[tuple[str, str]], int]:
    """Inject every fault of FAULTS on a mission of its own: ([(mission id, what was done)], completions missed).

    A completion fault counts only when the mission's row is still uncommitted with the cut in place; one that
    came too late is made again on a new mission (never skipped), at most three times.
    """
    r, figures, store, missed = local.redis(), [], MissionStore(local.database_url), 0
    poll = local.db()
    for i, (links, phase) in enumerate(FAULTS):
        for _ in range(3):
            mid = str(uuid.uuid4())
            store.ensure_queued(mid, params(i))  # the producer: the row first, then the job
            body = json.dumps({"mission_id": mid, "params": params(i)})
            if phase != "claim":
                r.rpush(queue, body)
                if not wait_phase(phase, local, poll, net, worker, mid):
                    figures.append((mid, f"({phase} of {mid} over before it was seen: fault made again)"))
                    missed += 1
                    continue
            for link in links:
                net.cut(link, ports[link])
            late = phase == "completion" and links != ("redis",) and status(poll, mid) == "completed"
            if phase == "claim":
                r.rpush(queue, body)
            time.sleep(HOLD_ALL_S if len(links) > 1 else HOLD_S)
            drops = net.dropped()  # the cut's own rules: they are removed with it
            for link in links:
                net.restore(link)
            what = f"{'+'.join(links)} cut {'all' if len(links) > 1 else 'alone'} during {phase}: {drops} packets"
            figures.append((mid, f"{what} dropped" + (" (late: fault made again)" if late else "")))
            print(figures[-1][1])
            missed += late
            if not late:
                break
        else:
            pytest.fail(f"{'+'.join(links)} could not be cut during a {phase} in three missions")
    poll.close()
    return figures, missed


def check_outcome(local, worker, queue, ids, figures, started, ready, done, missed) -> None:
    log = worker.log()
    starts = {m: log.count(f"Mission {m} started in job process") for m in ids}
    completions = {m: len(re.findall(rf"Mission {m} completed successfully", log)) for m in ids}
    wrong = {m: n for m, n in completions.items() if n != 1}
    assert not wrong, "\n".join(
        [f"{m}: completed {n} times; fault: {dict(figures).get(m)}" for m, n in wrong.items()]
        + [line for line in log.splitlines() if any(m in line for m in wrong)][-60:]
    )
    for m in ids:
        one_result_set(local, m)
    failed_lines = [line for line in log.splitlines() if " failed: " in line and "Mission " in line]
    assert not [x for x in failed_lines if "attempt" not in x], failed_lines  # no mission dead-lettered
    counters = (f"{queue}:epoch", f"{queue}:dead_dropped")

    left = {k: v for k, v in queue_keys(local, queue).items() if v and k not in counters}
    assert not left, left
    attempts = sorted(mission(local, m)["attempts"] for m in ids)
    silent = [what for _, what in figures if " 0 packets" in what and "late" not in what]
    assert not silent, f"faults that met no traffic: {silent}"
    duplicates = sum(starts.values()) - len(ids)
    print(
        f"partition: {len(ids)} missions, {len(FAULTS)} faults ({missed} made again), {duplicates} duplicate job runs,"
        f" {len(ids)} result sets, each completed once; worker ready {ready - started:.0f} s, faults and missions"
        f" done {done - ready:.0f} s after, total {time.monotonic() - started:.0f} s; attempts {attempts}"
    )
