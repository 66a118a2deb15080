"""A test network of its own: a network namespace joined to the host by a veth pair, and links cut inside it.

The worker runs in the namespace (`ip netns exec`); Redis, PostgreSQL and moto S3 listen on the host-side
veth address only, so the worker reaches them through the veth and nothing else. A link is cut with
iptables DROP rules inside the namespace in both directions (a black hole, like a partition: nothing is
refused, packets vanish), and restored by deleting them. Every name carries the creating process's pid, so
leftovers of a killed run are recognised and removed by the next one.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.services import MotoServer, PostgresServer, RedisServer, free_port, need

PREFIX = "dlpart"  # namespaces dlpart<pid>, veth dlh<pid> (host side) and dln<pid> (namespace side)


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def _must(*cmd: str) -> str:
    out = _run(*cmd)
    if out.returncode != 0:
        pytest.fail(f"`{' '.join(cmd)}` failed ({out.returncode}): {out.stderr.strip()}", pytrace=False)
    return out.stdout


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale() -> list[str]:
    """Namespaces and veth ends of earlier runs whose process is gone (a kill -9 skips every finalizer)."""
    removed = []
    for name in re.findall(rf"^({PREFIX}\d+)", _run("ip", "netns", "list").stdout, re.M):
        if not _alive(int(name.removeprefix(PREFIX))):
            _run("ip", "netns", "del", name)
            removed.append(name)
    for pid in re.findall(r"^\d+: dlh(\d+)[@:]", _run("ip", "-o", "link", "show").stdout, re.M):
        if not _alive(int(pid)):
            _run("ip", "link", "del", f"dlh{pid}")
            removed.append(f"dlh{pid}")
    return removed


def _free_subnet() -> int:
    """A /30 in 10.231.0.0/16 that no interface of this host uses (several runs may share the machine)."""
    used = set(re.findall(r"inet 10\.231\.(\d+)\.", _run("ip", "-o", "addr", "show").stdout))
    start = os.getpid() % 250
    for third in [*range(start, 250), *range(0, start)]:
        if str(third) not in used:
            return third
    pytest.fail("no free /30 left in 10.231.0.0/16 for the test network", pytrace=False)


class TestNet:
    """The namespace, its veth pair and the cuts; `close()` removes all of it (the namespace takes its end)."""

    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        if os.geteuid() != 0:
            pytest.fail("the partition test makes a network namespace: run it as root (CI does)", pytrace=False)
        for tool, package in (("ip", "iproute2"), ("iptables", "iptables")):
            if shutil.which(tool) is None:
                pytest.fail(f"{tool} not found: install it with `apt-get install {package}`", pytrace=False)
        remove_stale()
        pid = os.getpid()
        self.ns, self.host_if, self.ns_if = f"{PREFIX}{pid}", f"dlh{pid}", f"dln{pid}"
        third = _free_subnet()
        self.host_ip, self.ns_ip = f"10.231.{third}.1", f"10.231.{third}.2"
        self.cuts: dict[str, list[list[str]]] = {}

    def open(self) -> TestNet:
        _must("ip", "netns", "add", self.ns)
        _must("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
        _must("ip", "link", "set", self.ns_if, "netns", self.ns)
        _must("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
        _must("ip", "link", "set", self.host_if, "up")
        self.exec_ok("ip", "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_if)
        self.exec_ok("ip", "link", "set", self.ns_if, "up")
        self.exec_ok("ip", "link", "set", "lo", "up")
        self.exec_ok("iptables", "-w", "-S")  # the kernel and the tool can filter inside the namespace
        return self

    def exec_ok(self, *cmd: str) -> str:
        return _must("ip", "netns", "exec", self.ns, *cmd)

    def prefix(self) -> list[str]:
        """The command prefix that runs a program inside the namespace."""
        return ["ip", "netns", "exec", self.ns]

    def cut(self, name: str, port: int) -> None:
        """Drop every packet between the worker and host_ip:port, both ways, from now until restore(name)."""
        rules = [
            ["OUTPUT", "-d", self.host_ip, "-p", "tcp", "--dport", str(port), "-j", "DROP"],
            ["INPUT", "-s", self.host_ip, "-p", "tcp", "--sport", str(port), "-j", "DROP"],
        ]
        for rule in rules:
            self.exec_ok("iptables", "-w", "-I", *rule)
        self.cuts.setdefault(name, []).extend(rules)

    def restore(self, name: str) -> None:
        for rule in self.cuts.pop(name, []):
            self.exec_ok("iptables", "-w", "-D", *rule)

    def dropped(self) -> int:
        """Packets the cuts dropped so far (proof that a cut met traffic)."""
        out = self.exec_ok("iptables", "-w", "-L", "-v", "-n", "-x")
        return sum(int(m) for m in re.findall(r"^\s*(\d+)\s+\d+\s+DROP", out, re.M))

    def close(self) -> None:
        _run("ip", "netns", "del", self.ns)  # takes the namespace's veth end, and so the pair, with it
        _run("ip", "link", "del", self.host_if)

    def exists(self) -> bool:
        return self.ns in _run("ip", "netns", "list").stdout.split()


def wait_tcp(host: str, port: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(1)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout_s} s")


class NetRedis(RedisServer):
    """A throwaway Redis listening on the test network's host address only."""

    def __init__(self, host: str) -> None:
        super().__init__()
        self.host = host

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> NetRedis:
        args = ["--port", str(self.port), "--bind", self.host, "--save", "", "--appendonly", "no", "--dir", self.dir]
        args += ["--protected-mode", "no"]  # bound to the test network's host address only, no password
        self.proc = subprocess.Popen([self.binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_tcp(self.host, self.port)
        return self


class NetPostgres(PostgresServer):
    """A throwaway PostgreSQL on the test network's host address, trusting the namespace's address."""

    def __init__(self, host: str, client_ip: str) -> None:
        super().__init__()
        self.host, self.client_ip = host, client_ip

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/postgres"

    def init(self) -> NetPostgres:
        super().init()
        with (self.data / "pg_hba.conf").open("a") as fh:
            fh.write(f"host all all {self.client_ip}/32 trust\nhost all all {self.host}/32 trust\n")
        return self

    def start(self) -> NetPostgres:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses={self.host} -c fsync=off -c full_page_writes=off"
        cmd = [*self.runas, self.pg_ctl, "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w"]
        subprocess.run([*cmd, "-t", "60", "start"], check=True, capture_output=True)
        return self


class NetMoto(MotoServer):
    """A throwaway moto S3 server on the test network's host address."""

    def __init__(self, host: str) -> None:
        self.binary = need("moto_server", "pip install 'moto[server]'")
        self.host, self.port, self.proc = host, free_port(), None
        self.dir = tempfile.mkdtemp(prefix="drift-moto-")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> NetMoto:
        log = Path(self.dir) / "moto.log"
        self.proc = subprocess.Popen(
            [self.binary, "-H", self.host, "-p", str(self.port)], stdout=log.open("ab"), stderr=subprocess.STDOUT
        )
        wait_tcp(self.host, self.port)
        return self

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
