"""Supervisor faults through the real start path: the daemon as a subprocess against
throwaway Redis, PostgreSQL and S3. A valid mission never ends `failed` and the worker never exits because
its host ran out of disk or processes, its forkserver died, its database froze or a job died oddly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import apply_schema, mission, push_job, wait_for, wait_status
from tests.e2e.test_chaos import forkserver_pid
from tests.services import PostgresServer

SMALL = {"latitude": 60.0, "longitude": 4.0, "start_time": "2024-01-01T00:00:00Z", "duration_hours": 2,
         "num_particles": 50, "time_step_minutes": 30}  # fmt: skip
LONG = {"latitude": 60.0, "longitude": 4.0, "start_time": "2024-01-01T00:00:00Z", "duration_hours": 48,
        "num_particles": 5000, "wind": {"speed_ms": 8, "from_deg": 250}}  # fmt: skip


def new_queue() -> str:
    return f"sf-{uuid.uuid4().hex[:8]}"


def job_pid(worker, mission_id: str) -> int:
    pattern = rf"Mission {mission_id} started in job process (\d+)"
    return int(wait_for(lambda: re.search(pattern, worker.log()), 60, "the job process to start").group(1))


def never_failed(services, ids: list[str]) -> None:
    bad = {m: row for m in ids if (row := mission(services, m)) and row["status"] == "failed"}
    assert not bad, bad


# --- defect 1: the supervisor's disk is full --------------------------------------------------------------------
@pytest.fixture
def small_tmp(tmp_path):
    """A 4 MiB tmpfs with 256 inodes as the daemon's TMPDIR (job directories live there), unmounted afterwards."""
    mnt = tmp_path / "tmp"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,nr_inodes=256", "tmpfs", str(mnt)], check=True)
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill_data(path: Path) -> Path:
    filler = path / "filler"
    with open(filler, "wb", buffering=0) as fh:  # unbuffered: close() has nothing left to flush
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError:
            pass
    return filler


def fill_inodes(path: Path) -> list[Path]:
    (path / "inodes").mkdir()
    made = []
    try:
        while True:
            made.append(path / "inodes" / str(len(made)))
            made[-1].touch()
    except OSError:
        made.pop()
    return made


@pytest.mark.faults
def test_a_full_disk_never_charges_or_fails_missions_supervisor_side_or_job_side(services, spawn, small_tmp):
    queue = new_queue()
    worker = spawn(services, queue, "disk-1", TMPDIR=str(small_tmp), MAX_ATTEMPTS="3")
    filler, inodes = fill_data(small_tmp), fill_inodes(small_tmp)
    ids = [push_job(services, queue, SMALL) for _ in range(3)]
    worker.wait_log("not started: no space left on the worker's disk", 30)  # the supervisor's mkdir: ENOSPC
    time.sleep(8)  # long enough for the old code to use up every attempt of all three (seen: 5 s)
    never_failed(services, ids)
    for path in inodes:  # job directories can be made again; their files cannot be written (HDF5: EACCES)
        path.unlink()
    worker.wait_log("waits for a service: no space left on the worker's disk", 60)
    time.sleep(8)
    never_failed(services, ids)
    assert worker.proc.poll() is None
    filler.unlink()
    for m in ids:
        row = wait_status(services, m, timeout_s=120)
        assert row["status"] == "completed", row
    assert worker.proc.poll() is None


# --- defect 3: the forkserver dies, or fork() is refused, while jobs start ----------------------------------------
@pytest.mark.faults
def test_forkserver_killed_again_and_again_while_missions_start_none_fails(services, spawn):
    queue = new_queue()
    worker = spawn(services, queue, "fs-kill", MAX_CONCURRENT_JOBS="2")
    ids = [push_job(services, queue, SMALL) for _ in range(8)]
    kills = 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        rows = [mission(services, m) for m in ids]
        if all(r and r["status"] in ("completed", "failed") for r in rows):
            break
        pid = forkserver_pid(worker)
        if pid is not None and kills < 10:
            os.kill(pid, signal.SIGKILL)
            kills += 1
        time.sleep(1.5 if kills < 10 else 0.5)
    assert kills >= 5, f"only {kills} forkserver kills happened: the fault was not exercised"
    statuses = {m: mission(services, m)["status"] for m in ids}
    print(f"forkserver killed {kills} times while {len(ids)} missions started: {statuses}")
    assert set(statuses.values()) == {"completed"}, statuses
    assert worker.proc.poll() is None


def test_forkserver_killed_during_the_start_up_preload_does_not_end_the_worker(services, spawn):
    queue = new_queue()
    worker = spawn(services, queue, "fs-preload", wait=False)
    pid = wait_for(lambda: forkserver_pid(worker), 60, "the forkserver to start its preload")
    os.kill(pid, signal.SIGKILL)
    worker.wait_log("Forkserver start failed", 60)
    worker.wait_ready(180)
    mid = push_job(services, queue, SMALL)
    assert wait_status(services, mid, timeout_s=120)["status"] == "completed"
    assert worker.proc.poll() is None


@pytest.fixture
def pids_cgroup():
    path = Path(f"/sys/fs/cgroup/pids/driftline-test-{uuid.uuid4().hex[:8]}")
    path.mkdir()
    yield path
    (path / "pids.max").write_text("max")
    deadline = time.monotonic() + 10  # the daemon still runs here (its fixture ends later) and may fork meanwhile
    while True:
        for pid in (path / "cgroup.procs").read_text().split():
            try:
                Path("/sys/fs/cgroup/pids/cgroup.procs").write_text(pid)
            except OSError:
                pass
        try:
            path.rmdir()
            return
        except OSError:  # EBUSY: a process forked into it after the move
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.faults
def test_fork_refused_at_a_pids_limit_requeues_and_completes_when_it_lifts(services, spawn, pids_cgroup):
    queue = new_queue()
    worker = spawn(services, queue, "fs-eagain")
    for pid in [worker.proc.pid, *worker.children()]:
        (pids_cgroup / "cgroup.procs").write_text(str(pid))
    (pids_cgroup / "pids.max").write_text((pids_cgroup / "pids.current").read_text().strip())
    mid = push_job(services, queue, SMALL)
    worker.wait_log("not started", 60)
    time.sleep(6)
    assert mission(services, mid)["status"] != "failed" and worker.proc.poll() is None
    (pids_cgroup / "pids.max").write_text("max")
    row = wait_status(services, mid, timeout_s=120)
    assert row["status"] == "completed" and row["attempts"] == 1, row
    assert worker.proc.poll() is None


# --- defect 4: PostgreSQL freezes while a job runs -----------------------------------------------------------
@pytest.fixture
def own_pg():
    server = PostgresServer().init().start()
    apply_schema(server.url)
    yield server
    server.cleanup()


def postgres_pids(server) -> list[int]:
    """The postmaster (first line of postmaster.pid) and every backend and helper it started."""
    root = int((server.data / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(["pgrep", "-P", str(root)], capture_output=True, text=True).stdout
    return [root, *(int(p) for p in children.split())]


@pytest.mark.faults
def test_a_database_frozen_during_a_job_ends_as_a_retry_never_a_failure(services, spawn, own_pg):
    from dataclasses import replace

    queue = new_queue()
    pg_services = replace(services, database_url=own_pg.url)
    worker = spawn(pg_services, queue, "pg-freeze", JOB_TIMEOUT_S="25")
    mid = push_job(pg_services, queue, LONG)
    job_pid(worker, mid)
    pids = postgres_pids(own_pg)
    assert pids, "no PostgreSQL processes found to freeze"
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(35)  # past JOB_TIMEOUT_S: a job blocked on the database would be stopped and failed
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    row = wait_status(pg_services, mid, timeout_s=150)
    assert row["status"] == "completed", row
    assert worker.proc.poll() is None


# --- defect 6: a job killed by a real-time signal ------------------------------------------------------------
def test_a_job_killed_by_a_real_time_signal_is_retried_and_the_worker_goes_on(services, spawn):
    queue = new_queue()
    worker = spawn(services, queue, "rt-sig", MAX_CONCURRENT_JOBS="1")
    mid = push_job(services, queue, LONG)
    os.kill(job_pid(worker, mid), 40)  # SIGRTMIN+6: no signal.Signals member
    after = push_job(services, queue, SMALL)  # the loop must still claim
    assert wait_status(services, after, timeout_s=180)["status"] == "completed"
    row = wait_status(services, mid, timeout_s=180)
    assert row["status"] == "completed", row
    assert "SIGRTMIN+6" in worker.log()
    assert worker.proc.poll() is None
