"""Throwaway Redis, PostgreSQL and S3 (moto) servers for the tests, and the daemon as a subprocess.

A missing binary fails with one line saying what to install; nothing is skipped.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need(binary: str, install: str) -> str:
    # The test environment's own tools first (moto_server pinned in requirements-dev), then the system's.
    path = str(VENV_BIN / binary) if (VENV_BIN / binary).exists() else shutil.which(binary)
    if path is None:
        for base in Path("/usr/lib/postgresql").glob("*/bin"):
            if (base / binary).exists():
                return str(base / binary)
        pytest.fail(f"{binary} not found: install it with `{install}`", pytrace=False)
    return path


def wait_port(port: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout_s} s")


class RedisServer:
    def __init__(self, *args: str) -> None:
        self.binary = need("redis-server", "apt-get install redis-server")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="drift-redis-")
        self.proc: subprocess.Popen | None = None
        self.args = args  # extra redis-server options, e.g. to allow DEBUG in fault tests

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
                *self.args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class PostgresServer:
    """initdb + pg_ctl in a temp dir (as the postgres user when running as root)."""

    def __init__(self) -> None:
        self.initdb = need("initdb", "apt-get install postgresql")
        self.pg_ctl = need("pg_ctl", "apt-get install postgresql")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="drift-pg-"))
        self.data = self.dir / "data"
        self.runas: list[str] = []
        if os.geteuid() == 0:
            self.runas = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.dir, "postgres", "postgres")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> PostgresServer:
        subprocess.run(
            [
                *self.runas,
                self.initdb,
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
        )
        return self

    def start(self) -> PostgresServer:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        subprocess.run(
            [
                *self.runas,
                self.pg_ctl,
                "-D",
                str(self.data),
                "-o",
                opts,
                "-l",
                str(self.dir / "log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            capture_output=True,
        )
        return self

    def stop(self) -> None:
        subprocess.run(
            [*self.runas, self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"], capture_output=True
        )

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class MotoServer:
    def __init__(self) -> None:
        self.binary = need("moto_server", "pip install 'moto[server]'")
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        self.proc = subprocess.Popen(
            [self.binary, "-H", "127.0.0.1", "-p", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Worker:
    """The real daemon (`python worker.py`) as a subprocess with its log in a file."""

    def __init__(self, env: dict[str, str], log_path: Path, args: tuple[str, ...] = ()) -> None:
        self.env = env
        self.log_path = log_path
        self.args = args
        self.proc: subprocess.Popen | None = None

    def start(self, wait_ready: bool = True, timeout_s: float = 120) -> Worker:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py"), *self.args],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if wait_ready:
            self.wait_ready(timeout_s)
        return self

    def wait_ready(self, timeout_s: float = 120) -> Worker:
        """Wait for the worker's first claim (its start costs ~11 s: workers started together overlap it)."""
        self.wait_log(f"Worker {self.env['WORKER_ID']} listening", timeout_s)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, text: str, timeout_s: float = 60, count: int = 1) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.log().count(text) >= count:
                return
            if self.proc and self.proc.poll() is not None:
                raise AssertionError(
                    f"worker exited ({self.proc.returncode}) before logging {text!r}:\n" + self.log()[-3000:]
                )
            time.sleep(0.1)
        raise AssertionError(f"worker did not log {text!r} within {timeout_s} s:\n" + self.log()[-3000:])

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def kill_group(self) -> None:
        """kill -9 the worker and everything it started (forkserver, job processes)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def children(self) -> list[int]:
        out = subprocess.run(["pgrep", "-g", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split() if int(p) != self.proc.pid]

    def stop(self, timeout_s: float = 90) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill_group()
            raise
        finally:
            self._log.close()


class BlackHole:
    """A TCP server that accepts connections and never answers: a frozen or black-holed service."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)  # the kernel completes the handshakes; nobody ever reads or writes
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


class FakeS3:
    """A tiny HTTP server answering every S3 request with the error set in `.error` (or 200 when None)."""

    def __init__(self) -> None:
        import http.server
        import threading

        fake = self
        self.error: tuple[int, str] | None = None
        self.requests = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # answers botocore's "Expect: 100-continue" at once

            def _answer(self) -> None:
                fake.requests += 1
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                status, code = fake.error or (200, "")
                body = (
                    b""
                    if not code
                    else (
                        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                        f"<Message>{code} from the fake S3</Message><RequestId>1</RequestId></Error>"
                    ).encode()
                )
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _answer

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
