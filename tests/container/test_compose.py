"""`docker-compose up drift-worker` with the project's unchanged compose files, on an internal network (issue 25).

The dev file brings up Redis, PostgreSQL (with sql/init), the object store and its bucket step, then the worker;
a mission pushed from the host with `python test_worker.py` completes. The production file's three replicas,
attached to such a stack's services, share a queue of 12 missions. Where an image cannot be pulled its test
stand-in plays it (tests/container/standins/README.md). The host reaches the containers at their addresses on
the internal network's bridge (the engine routes nothing further: --iptables=false --ip-masq=false).
"""

from __future__ import annotations

import socket
import time
import uuid

import pytest
import yaml

from tests.conftest import RESULTS_BUCKET, mission, results
from tests.container.conftest import IMAGE, wait_container
from tests.container.stacks import (
    DEV_DB,
    DEV_FILE,
    DEV_S3_KEY,
    INTERNAL,
    PROD_FILE,
    PROD_NETWORK,
    Stack,
    objects_by_mission,
    run_test_worker,
    wait_logged,
)
from tests.container.workers import assert_result_set

DEV_WORKER_IMAGE = yaml.safe_load(DEV_FILE.read_text())["services"]["drift-worker"]["image"]
REPLICAS = 3
MISSIONS = 12


@pytest.fixture
def stacks(docker):
    """Compose projects made by a test; each is taken `down -v` afterwards even when the test failed."""
    made: list[Stack] = []

    def make(files, name: str, env: dict[str, str] | None = None) -> Stack:
        stack = Stack(docker, files, f"dl-{name}-{uuid.uuid4().hex[:6]}", env)
        made.append(stack)
        return stack

    yield make
    for stack in reversed(made):
        stack("down", "-v", "--remove-orphans", "-t", "10", check=False, timeout_s=300)


# The routes of a container (/proc/net/route): destination and gateway of each, little-endian hex.
ROUTES = "print(*(w for l in open('/proc/net/route').readlines()[1:] for w in l.split()[1:3]))"


def assert_internal_network(docker, stack: Stack) -> None:
    """Internal: no host port published, and no container has a route off its subnet (so no packet leaves)."""
    net = docker.inspect(stack.network)
    assert net["Internal"] is True and net["Driver"] == "bridge", net
    # With --iptables=false Docker's `internal` installs no DROP rules and still gives containers a default route:
    # its one gateway is the network's own bridge address on this machine, which forwards nothing received there.
    assert stack.forwarding().read_text().strip() == "0"
    gateway = net["IPAM"]["Config"][0]["Gateway"]
    routes = docker("exec", stack.inspect("drift-worker")["Id"], "python", "-c", ROUTES).stdout.split()
    via = {socket.inet_ntoa(bytes.fromhex(g)[::-1]) for g in routes[1::2] if g != "00000000"}
    assert via <= {gateway}, (routes, gateway)
    for service in ("redis", "postgres", "minio"):
        ports = stack.inspect(service)["NetworkSettings"]["Ports"] or {}
        assert not any(ports.values()), f"{service} published a host port on an internal network: {ports}"


def assert_services_up(stack: Stack) -> None:
    """Redis, PostgreSQL and the object store healthy (their compose health checks); the bucket step exited 0."""
    for service in ("redis", "postgres", "minio"):
        state = stack.inspect(service)["State"]
        assert state["Running"] and state["Health"]["Status"] == "healthy", (service, state)
    (init,) = stack.containers("minio-init")
    code = stack.docker("wait", init, timeout_s=120).stdout.strip()  # nothing waits for it when no worker is up
    assert code == "0", stack.docker("logs", init, check=False)


def test_dev_compose_up_drift_worker_completes_a_mission_pushed_by_test_worker_py(
    docker, image, figures, stacks, tmp_path
):
    docker("tag", image, DEV_WORKER_IMAGE)  # the image compose would build: the tested build, not a second one
    stack = stacks([DEV_FILE, INTERNAL], "dev")
    t0 = time.monotonic()
    stack.up_isolated("-d", "drift-worker")  # waits for the health/completion conditions of depends_on
    figures.add("dev compose: up -d drift-worker (services healthy, buckets made)", f"{time.monotonic() - t0:.0f} s")
    assert_internal_network(docker, stack)
    assert_services_up(stack)
    svc = stack.services(tmp_path)
    with svc.db().cursor() as cur:  # sql/init ran on the empty volume: both scripts' tables
        cur.execute("SELECT to_regclass('missions') IS NOT NULL, to_regclass('forcing_datasets') IS NOT NULL")
        assert cur.fetchone() == (True, True)
    assert {b["Name"] for b in svc.s3().list_buckets()["Buckets"]} >= {"driftline-results", "driftline-forcing"}
    worker = stack.inspect("drift-worker")
    wait_logged(docker, worker["Id"], " listening on queue drift_jobs", 240)
    (mission_id,), out = run_test_worker(svc, "--wait", "--timeout", "300")
    figures.add("dev compose: up to mission completed (test_worker.py --wait)", f"{time.monotonic() - t0:.0f} s")
    row = mission(svc, mission_id)
    assert row["status"] == "completed" and row["attempts"] == 1, (row, out)
    assert row["worker_id"].rsplit("-", 1)[0] == worker["Config"]["Hostname"], row["worker_id"]
    assert_result_set(svc, mission_id)
    # The compose file's own health check (30 s interval): the first one after the preload passes.
    wait_container(docker, worker["Id"], lambda i: i["State"]["Health"]["Status"] == "healthy", 150, "healthy")
    t1 = time.monotonic()
    stack.down()
    figures.add("dev compose: down -v", f"{time.monotonic() - t1:.0f} s")
    assert stack.volumes >= {f"{stack.project}_{v}" for v in ("redis-data", "pg-data", "minio-data", "forcing-cache")}
    assert stack.leftovers() == {"containers": [], "networks": [], "volumes": []}


def prod_env(services: Stack) -> dict[str, str]:
    """The production file's required settings: the services stack's names on the shared internal network."""
    return {
        "DRIFTLINE_IMAGE": image_repo(),
        "DRIFTLINE_TAG": "test",
        "DATABASE_URL": DEV_DB.format(host="postgres"),
        "REDIS_URL": "redis://redis:6379/0",
        "S3_ENDPOINT": "http://minio:9000",
        "S3_ACCESS_KEY": DEV_S3_KEY,
        "S3_SECRET_KEY": DEV_S3_KEY,
        "DRIFTLINE_TEST_NETWORK": services.network,
    }


def image_repo() -> str:
    """The tested image as the production file names it: ${DRIFTLINE_IMAGE}:${DRIFTLINE_TAG}."""
    repo, tag = IMAGE.rsplit(":", 1)
    assert tag == "test"
    return repo


def test_prod_compose_three_replicas_share_a_queue_of_12_missions_with_one_result_set_each(
    docker, image, figures, stacks, tmp_path
):
    services = stacks([DEV_FILE, INTERNAL], "svc")
    services.up_isolated("-d", "redis", "postgres", "minio-init")
    assert_services_up(services)
    svc = services.services(tmp_path)
    prod = stacks([PROD_FILE, PROD_NETWORK], "prod", prod_env(services))
    t0 = time.monotonic()
    prod("--compatibility", "up", "-d", timeout_s=600)  # --compatibility: docker-compose 1.29 applies deploy:
    replicas = prod.containers("drift-worker")
    assert len(replicas) == REPLICAS, replicas
    for cid in replicas:
        host = docker.inspect(cid)["HostConfig"]
        assert host["ReadonlyRootfs"] and host["Memory"] == 6 * 2**30 and host["CapDrop"] == ["ALL"], host
        wait_logged(docker, cid, "listening on queue drift_jobs", 300)
    figures.add(f"prod compose: up to {REPLICAS} replicas listening", f"{time.monotonic() - t0:.0f} s")
    t1 = time.monotonic()
    ids, out = run_test_worker(svc, "--multiple", str(MISSIONS), "--wait", "--timeout", "900")
    took = time.monotonic() - t1
    assert len(ids) == MISSIONS, out
    hostnames = {docker.inspect(cid)["Config"]["Hostname"]: cid for cid in replicas}
    done_by = {h: 0 for h in hostnames}
    for mission_id in ids:
        row = mission(svc, mission_id)
        assert row["status"] == "completed" and row["attempts"] == 1, row
        done_by[row["worker_id"].rsplit("-", 1)[0]] += 1
        assert_result_set(svc, mission_id)
    figures.add(
        f"prod compose: {MISSIONS} missions on {REPLICAS} replicas (MAX_CONCURRENT_JOBS=2 each)",
        f"{took:.0f} s, per replica {sorted(done_by.values(), reverse=True)}",
    )
    assert set(done_by) == set(hostnames) and all(done_by.values()), done_by
    assert_one_result_set_each(docker, svc, replicas, ids)
    prod.down()
    services.down()
    assert prod.leftovers() == services.leftovers() == {"containers": [], "networks": [], "volumes": []}


def assert_one_result_set_each(docker, svc, replicas: list[str], ids: list[str]) -> None:
    """Each mission completed by exactly one replica; the bucket holds the 12 result sets and nothing else."""
    completions: dict[str, int] = {}
    for cid in replicas:
        proc = docker("logs", cid, check=False)
        for line in (proc.stdout + proc.stderr).splitlines():
            if "completed successfully" in line:
                for mission_id in (m for m in ids if m in line):
                    completions[mission_id] = completions.get(mission_id, 0) + 1
    assert completions == dict.fromkeys(ids, 1), completions
    counts = objects_by_mission(svc, RESULTS_BUCKET)
    assert set(counts) == set(ids), counts  # no staging leftovers, nothing of another mission
    for mission_id in ids:
        assert counts[mission_id] == len(results(svc, mission_id)), mission_id
