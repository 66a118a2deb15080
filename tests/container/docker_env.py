"""A Docker engine for the container tests: a reachable one, or a private dockerd started (and stopped) here.

The private daemon keeps its socket, pid file, data and exec roots under one temporary directory and runs
with no default bridge, no iptables/NAT rules and the host's forwarding switch left as it is
(`--bridge=none --iptables=false --ip-masq=false --ip-forward=false`), so it never touches a system daemon's
or the host's network state. The tests' `docker run`s share the host's network (`--network host`) to reach
their throwaway services on 127.0.0.1; compose stacks run on an internal network (tests/container/stacks.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

# DRIFTLINE_DOCKER_DATA keeps the private daemon's data root (images, build cache) between runs: a developer's
# second run then skips the stand-in and image builds. CI leaves it unset: everything is built from scratch.
KEEP_DATA_ENV = "DRIFTLINE_DOCKER_DATA"


def _tool(name: str, package: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if path is None:
        pytest.fail(f"{name} not found: install it with `apt-get install {package}`", pytrace=False)
    return path


class Docker:
    """The `docker` and `docker-compose` command lines bound to one engine (DOCKER_HOST)."""

    def __init__(self, host: str, own: bool) -> None:
        self.host = host
        self.own = own  # True: the tests' private daemon (pulls are never tried there)
        self.docker = _tool("docker", "docker.io")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "COMPOSE_"))}
        # The legacy builder: the engine's own, needs no buildx plugin, and builds with --network host.
        self.env.update(DOCKER_HOST=host, DOCKER_BUILDKIT="0", COMPOSE_DOCKER_CLI_BUILD="0")

    def __call__(self, *args: str, timeout_s: float = 120, check: bool = True, **kw) -> subprocess.CompletedProcess:
        return self.run([self.docker, *args], timeout_s=timeout_s, check=check, **kw)

    def run(self, argv: list[str], timeout_s: float = 120, check: bool = True, **kw) -> subprocess.CompletedProcess:
        env = {**self.env, **kw.pop("env", {})}
        kw.setdefault("capture_output", True)
        proc = subprocess.run(argv, env=env, text=True, timeout=timeout_s, **kw)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} exited {proc.returncode}:\n{(proc.stdout or '')[-3000:]}\n"
                f"{(proc.stderr or '')[-3000:]}"
            )
        return proc

    def compose(
        self,
        files: list[Path],
        project: str,
        *args: str,
        env: dict | None = None,
        timeout_s: float = 300,
        check: bool = True,
    ) -> subprocess.CompletedProcess:
        argv = [_tool("docker-compose", "docker-compose"), "-p", project]
        for f in files:
            argv += ["-f", str(f)]
        return self.run([*argv, *args], timeout_s=timeout_s, check=check, env=env or {})

    def image_exists(self, name: str) -> bool:
        return self("image", "inspect", name, check=False).returncode == 0

    def inspect(self, name: str) -> dict:
        return json.loads(self("inspect", name).stdout)[0]

    def reachable(self) -> bool:
        try:
            return self("version", "--format", "{{.Server.Version}}", check=False, timeout_s=15).returncode == 0
        except subprocess.TimeoutExpired:
            return False


class PrivateDaemon:
    """dockerd (and the containerd it starts) with everything under one directory; stop() ends both."""

    def __init__(self) -> None:
        self.dockerd = _tool("dockerd", "docker.io")
        # Short path: containerd's sockets live under the exec root (unix socket paths max 108 bytes).
        self.dir = Path(tempfile.mkdtemp(prefix="dl-docker-", dir="/tmp"))
        self.data = Path(os.environ[KEEP_DATA_ENV]) if os.environ.get(KEEP_DATA_ENV) else self.dir / "data"
        self.sock = self.dir / "docker.sock"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 60) -> Docker:
        (self.dir / "daemon.json").write_text("{}")  # no system /etc/docker/daemon.json
        self._log = (self.dir / "dockerd.log").open("ab")
        self.proc = subprocess.Popen(
            [
                self.dockerd,
                "--bridge=none",
                "--iptables=false",
                "--ip-masq=false",
                "--ip-forward=false",
                "--ip6tables=false",
                "--data-root",
                str(self.data),
                "--exec-root",
                str(self.dir / "exec"),
                "--pidfile",
                str(self.dir / "docker.pid"),
                "--config-file",
                str(self.dir / "daemon.json"),
                "-H",
                f"unix://{self.sock}",
                "--log-level",
                "warn",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        docker = Docker(f"unix://{self.sock}", own=True)
        deadline = time.monotonic() + timeout_s
        while not docker.reachable():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError("dockerd did not start:\n" + self.log()[-3000:])
            time.sleep(0.5)
        return docker

    def log(self) -> str:
        return (self.dir / "dockerd.log").read_text(errors="replace")

    def stop(self, timeout_s: float = 60) -> None:
        """SIGTERM (dockerd stops its containers and containerd), then SIGKILL the group; remove the directory."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # containerd and shims left behind, if any
            except ProcessLookupError:
                pass
            self.proc.wait()
            self._log.close()
        roots = [self.dir] if os.environ.get(KEEP_DATA_ENV) else [self.dir, self.data]
        for mount in mounts_under(*roots):
            subprocess.run(["umount", "-l", mount], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def mounts_under(*roots: Path) -> list[str]:
    """Mount points at or below the roots (the daemon's netns, overlays, shm), deepest first."""
    prefixes = [str(r.resolve()) for r in roots]
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if any(point == p or point.startswith(p + "/") for p in prefixes):
            found.append(point)
    return sorted(set(found), key=lambda m: m.count("/"), reverse=True)


def existing_engine() -> Docker | None:
    """An engine that is already running (DOCKER_HOST, or the default socket), used as it is; else None."""
    host = os.environ.get("DOCKER_HOST") or (
        "unix:///var/run/docker.sock" if Path("/var/run/docker.sock").exists() else None
    )
    if host is None:
        return None
    docker = Docker(host, own=False)
    return docker if docker.reachable() else None
