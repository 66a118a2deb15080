"""The project's compose files brought up by docker-compose on the tests' engine, on an internal network."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import Services
from tests.container.docker_env import Docker
from tests.services import ROOT

HERE = Path(__file__).resolve().parent
DEV_FILE = ROOT / "docker-compose.dev.yml"
PROD_FILE = ROOT / "docker-compose.prod.yml"
INTERNAL = HERE / "compose.internal.yml"
PROD_NETWORK = HERE / "compose.prod-network.yml"
# The credentials and names docker-compose.dev.yml gives its services.
DEV_DB = "postgresql://driftline:driftline@{host}:5432/driftline"
DEV_S3_KEY = "minioadmin"
PROJECT_LABEL = "com.docker.compose.project"


class Stack:
    """One compose project: `docker-compose -p NAME -f FILE...` and what it made (containers, network, volumes)."""

    def __init__(self, docker: Docker, files: list[Path], project: str, env: dict[str, str] | None = None) -> None:
        self.docker = docker
        self.files = files
        self.project = project
        self.env = env or {}
        self.volumes: set[str] = set()  # named and anonymous, recorded before `down -v`

    def __call__(self, *args: str, timeout_s: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        return self.docker.compose(self.files, self.project, *args, env=self.env, timeout_s=timeout_s, check=check)

    def containers(self, service: str) -> list[str]:
        """Container ids of one service (running or exited), by the labels compose sets."""
        out = self.docker(
            "ps",
            "-a",
            "-q",
            "--no-trunc",
            "--filter",
            f"label={PROJECT_LABEL}={self.project}",
            "--filter",
            f"label=com.docker.compose.service={service}",
        )
        return out.stdout.split()

    def inspect(self, service: str) -> dict:
        (cid,) = self.containers(service)
        return self.docker.inspect(cid)

    def ip(self, service: str, network: str | None = None) -> str:
        """The service's address on the network (default: the project's own), as the host reaches it."""
        nets = self.inspect(service)["NetworkSettings"]["Networks"]
        return nets[network or self.network]["IPAddress"]

    @property
    def network(self) -> str:
        return f"{self.project}_default"

    def up_isolated(self, *args: str, timeout_s: float = 600) -> None:
        """`up ARGS` on the project's internal network, made first as compose makes it (its labels, so `down`
        removes it) and with IPv4 forwarding off on its bridge before any container starts (compose.internal.yml)."""
        version = self.docker.compose(self.files, self.project, "version", "--short").stdout.strip()
        labels = {"network": "default", "project": self.project, "version": version}
        self.docker(
            "network",
            "create",
            "--internal",
            *[a for k, v in labels.items() for a in ("--label", f"com.docker.compose.{k}={v}")],
            self.network,
        )
        self.forwarding().write_text("0\n")
        self("up", *args, timeout_s=timeout_s)

    def forwarding(self) -> Path:
        """The IPv4 forwarding switch of the project network's bridge (br-<network id>) on the host."""
        bridge = "br-" + self.docker.inspect(self.network)["Id"][:12]
        return Path("/proc/sys/net/ipv4/conf") / bridge / "forwarding"

    def services(self, tmp: Path) -> Services:
        """The dev stack's Redis, PostgreSQL and object store, as the tests' helpers address services."""
        return Services(
            redis_url=f"redis://{self.ip('redis')}:6379/0",
            database_url=DEV_DB.format(host=self.ip("postgres")),
            s3_endpoint=f"http://{self.ip('minio')}:9000",
            tmp=tmp,
        )

    def record_volumes(self) -> None:
        for service in self("config", "--services").stdout.split():
            for cid in self.containers(service):
                self.volumes |= {m["Name"] for m in self.docker.inspect(cid)["Mounts"] if m["Type"] == "volume"}

    def down(self) -> None:
        """`down -v`: containers, the project's network, its named and anonymous volumes."""
        self.record_volumes()
        self("down", "-v", "--remove-orphans", "-t", "30", timeout_s=300)

    def leftovers(self) -> dict[str, list[str]]:
        """What of the project is still there after `down -v` (expected: nothing)."""
        label = f"label={PROJECT_LABEL}={self.project}"
        left = {
            "containers": self.docker("ps", "-a", "-q", "--filter", label).stdout.split(),
            "networks": self.docker("network", "ls", "-q", "--filter", label).stdout.split(),
            "volumes": self.docker("volume", "ls", "-q", "--filter", label).stdout.split(),
        }
        existing = set(self.docker("volume", "ls", "-q").stdout.split())
        left["volumes"] += sorted((self.volumes & existing) - set(left["volumes"]))
        return left


def wait_logged(docker: Docker, cid: str, text: str, timeout_s: float) -> None:
    """Until the container's log holds `text`; fail with its tail if it exits or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        proc = docker("logs", cid, check=False)
        if text in proc.stdout + proc.stderr:
            return
        if not docker.inspect(cid)["State"]["Running"]:
            break
        time.sleep(0.5)
    proc = docker("logs", "--tail", "60", cid, check=False)
    raise AssertionError(f"{cid[:12]} did not log {text!r} within {timeout_s} s:\n{proc.stdout}{proc.stderr}")


def run_test_worker(services: Services, *args: str, timeout_s: float = 900) -> tuple[list[str], str]:
    """`python test_worker.py ARGS` from the host against a stack's services: (mission ids pushed, output)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "REDIS_URL": services.redis_url,
        "DATABASE_URL": services.database_url,
        "QUEUE_NAME": "drift_jobs",
    }
    proc = subprocess.run(
        [sys.executable, "test_worker.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"test_worker.py {' '.join(args)} exited {proc.returncode}:\n{out[-3000:]}"
    return re.findall(r"^pushed mission (\S+)$", proc.stdout, re.M), out


def objects_by_mission(services: Services, bucket: str) -> dict[str, int]:
    """Number of objects under each top-level prefix of the bucket (staging prefixes included)."""
    s3 = services.s3()
    counts: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            top = obj["Key"].split("/", 1)[0]
            counts[top] = counts.get(top, 0) + 1
    return counts
