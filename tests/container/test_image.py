"""The project's image, built from the unchanged Dockerfile, run with `docker run` as operators run it.

Each container shares the host's network (the private engine has no bridge) to reach the tests' throwaway Redis,
PostgreSQL and S3 on 127.0.0.1, and runs hardened as in production: non-root, read-only root filesystem, /tmp
a tmpfs, the forcing cache a volume.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.conftest import mission, push_job, queue_keys, wait_for, wait_status
from tests.container.conftest import wait_container
from tests.container.workers import SMALL, WorkerContainer, assert_result_set, worker_env
from tests.services import PostgresServer

# The real uid of every process in the container.
UIDS = (
    "import os; print(*(l.split()[1] for p in os.listdir('/proc') if p.isdigit() "
    "for l in open(f'/proc/{p}/status') if l.startswith('Uid:')))"
)
# Minutes of simulation (2880 steps x 25000 particles; history hourly, so memory stays small): still running when
# `docker stop` comes, however fast the machine. 1728 steps x 5000 particles finished inside the drain on an idle
# machine here, 72 h at 10 min steps on a loaded one.
LONG = {**SMALL, "duration_hours": 240, "num_particles": 25000, "time_step_minutes": 5}


@pytest.fixture
def containers(docker, image):
    started: list[WorkerContainer] = []

    def start(env: dict[str, str], *opts: str) -> WorkerContainer:
        c = WorkerContainer(docker, image, env, *opts)
        started.append(c)
        return c.start()

    yield start
    for c in started:
        c.remove()


def test_mission_completes_in_a_hardened_container_that_writes_nowhere_else(services, containers, figures, docker):
    queue = f"q-c1-{uuid.uuid4().hex[:6]}"
    mission_id = push_job(services, queue, SMALL)  # waiting before the worker starts: its first claim is timed
    c = containers(worker_env(services, queue, "c1"))
    c.wait_listening()
    row = wait_status(services, mission_id, timeout_s=180)
    assert row["status"] == "completed", row
    figures.add(
        "start to listening (container start -> 'listening' log line)", f"{c.since_start(' listening on'):.1f} s"
    )
    claimed = (row["started_at"] - c.started_at()).total_seconds()
    figures.add("start to first claim (container start -> mission started_at)", f"{claimed:.1f} s")
    assert row["worker_id"] == "c1" and row["attempts"] == 1
    assert_result_set(services, mission_id)
    # Non-root, read-only root filesystem; writable only /tmp (tmpfs) and the forcing cache (a volume).
    assert c.exec("id", "-u").stdout.strip() == "10001"
    uids = c.exec("python", "-c", UIDS).stdout.split()
    assert len(uids) >= 3 and set(uids) == {"10001"}, uids  # tini, the worker, its forkserver (and this exec)
    for path in ("/app/x", "/opt/venv/x", "/home/driftline/x", "/var/tmp/x", "/x"):
        denied = c.exec("python", "-c", f"open({path!r}, 'w')", check=False)
        assert denied.returncode != 0 and "Read-only file system" in denied.stderr, (path, denied.stderr)
    assert c.exec("python", "-c", "open('/var/cache/driftline/probe', 'w').write('x')", check=False).returncode == 0
    assert docker("diff", c.name).stdout.strip() == "", "the container changed its root filesystem"
    mounts = {m["Destination"]: m["Type"] for m in docker.inspect(c.name)["Mounts"]}
    assert mounts == {"/var/cache/driftline": "volume"}, mounts
    assert docker.inspect(c.name)["HostConfig"]["ReadonlyRootfs"] is True


def test_healthcheck_turns_healthy_after_preload_and_unhealthy_without_postgres(
    services, containers, figures, image, docker
):
    """The image's own HEALTHCHECK command and start period; the interval is shortened for the test."""
    check = docker.inspect(image)["Config"]["Healthcheck"]
    assert check["Test"] == ["CMD", "python", "worker.py", "health"], check
    assert check["StartPeriod"] == 120 * 10**9 and check["Retries"] == 3
    pg = PostgresServer().init().start()
    try:
        from tests.conftest import apply_schema

        apply_schema(pg.url)
        env = worker_env(services, f"q-hc-{uuid.uuid4().hex[:6]}", "hc1", DATABASE_URL=pg.url)
        c = containers(env, "--health-interval", "3s", "--health-timeout", "10s", "--health-retries", "2")
        healthy = wait_container(docker, c.name, lambda i: i["State"]["Health"]["Status"] == "healthy", 180, "healthy")
        figures.add("start to healthy (health interval 3 s)", f"{time.monotonic() - c.started:.1f} s")
        assert healthy and c.logs().count(" listening on queue ") == 1
        pg.stop()
        stopped = time.monotonic()
        state = wait_container(docker, c.name, lambda i: i["State"]["Health"], 60, "a failing check")
        wait_container(docker, c.name, lambda i: i["State"]["Health"]["Status"] == "unhealthy", 60, "unhealthy")
        figures.add("PostgreSQL stopped to unhealthy (2 retries x 3 s)", f"{time.monotonic() - stopped:.1f} s")
        last = docker.inspect(c.name)["State"]["Health"]["Log"][-1]
        assert last["ExitCode"] == 1 and "postgres" in last["Output"].lower(), last
        assert c.state()["Running"], "the worker rides out a database outage; it is not restarted or stopped"
        pg.start()
        wait_container(docker, c.name, lambda i: i["State"]["Health"]["Status"] == "healthy", 60, "healthy again")
        assert state
    finally:
        pg.cleanup()


def test_docker_stop_drains_a_running_mission_and_exits_0_within_the_grace_period(
    services, containers, figures, docker
):
    """A short job finishes within SHUTDOWN_GRACE_S; a long one is requeued at the head; neither is lost."""
    queue = f"q-drain-{uuid.uuid4().hex[:6]}"
    env = worker_env(services, queue, "drain1", SHUTDOWN_GRACE_S="10", MAX_CONCURRENT_JOBS="2")
    c = containers(env)
    c.wait_listening()
    long_id = push_job(services, queue, LONG)
    wait_for(lambda: (mission(services, long_id) or {}).get("progress", 0) > 0.02, 180, "the long mission under way")
    short_id = push_job(services, queue, SMALL)
    wait_status(services, short_id, ("processing",), timeout_s=30)
    t0 = time.monotonic()
    docker("stop", "-t", "40", c.name, timeout_s=120)  # 40 s: docker's grace, above SHUTDOWN_GRACE_S + requeue
    drain = time.monotonic() - t0
    state = c.state()
    figures.add("drain on docker stop (one job finished, one requeued; SHUTDOWN_GRACE_S=10)", f"{drain:.1f} s")
    assert state["ExitCode"] == 0 and not state["OOMKilled"], (state, c.logs()[-3000:])
    assert drain < 40, "docker had to SIGKILL: the drain exceeded the grace period"
    assert mission(services, short_id)["status"] == "completed"
    assert_result_set(services, short_id)
    assert mission(services, long_id)["status"] != "completed", "LONG finished before the stop: make it longer"
    # The long one is back at the head of the queue, nothing is left in the container's processing list.
    waiting = [json.loads(j)["mission_id"] for j in services.redis().lrange(queue, 0, -1)]
    assert waiting == [long_id], (waiting, queue_keys(services, queue))
    assert not services.redis().exists(f"{queue}:processing:drain1")
    assert mission(services, long_id)["status"] in ("queued", "processing")
    # The same container, started again, finishes it (read-only root, its cache volume kept).
    docker("start", c.name)
    row = wait_status(services, long_id, timeout_s=400)
    assert row["status"] == "completed" and row["attempts"] == 1, row  # a shutdown gives the attempt back
    assert_result_set(services, long_id)


def test_two_replicas_share_the_queue_with_one_result_set_per_mission(services, containers, figures, docker):
    """Default WORKER_ID (<hostname>-<pid>): each host-networked replica gets its own --hostname."""
    queue = f"q-rep-{uuid.uuid4().hex[:6]}"
    ids = [push_job(services, queue, {**SMALL, "random_seed": i}) for i in range(8)]
    replicas = [
        containers(worker_env(services, queue, "", MAX_CONCURRENT_JOBS="2"), "--hostname", f"replica{i}")
        for i in range(2)
    ]
    t0 = time.monotonic()
    rows = [wait_status(services, m, timeout_s=300) for m in ids]
    figures.add("two replicas: 8 small missions, start to all completed", f"{time.monotonic() - t0:.1f} s")
    assert all(r["status"] == "completed" and r["attempts"] == 1 for r in rows), rows
    by_worker = {r["worker_id"].rsplit("-", 1)[0] for r in rows}
    assert by_worker == {"replica0", "replica1"}, [r["worker_id"] for r in rows]
    for m in ids:
        assert_result_set(services, m)
    for c in replicas:
        assert c.logs().count(" completed successfully") >= 1, c.logs()[-2000:]
