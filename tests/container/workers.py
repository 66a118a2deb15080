"""The project's image run as drift workers (`docker run`) against the tests' throwaway services on 127.0.0.1."""

from __future__ import annotations

import time
import uuid
from datetime import datetime

from tests.conftest import RESULTS_BUCKET, Services, bucket_keys, mission, results
from tests.container.conftest import remove, run_logs
from tests.container.docker_env import Docker
from tests.services import free_port

# The image's hardening, as docker-compose.prod.yml applies it: non-root (the image's USER), read-only root
# filesystem, /tmp in memory, the forcing cache on a volume, no capabilities, no privilege gain.
HARDENING = (
    "--read-only",
    "--tmpfs",
    "/tmp:rw,nosuid,nodev,size=1g",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges:true",
)
SMALL = {
    "latitude": 60.0,
    "longitude": -3.0,
    "start_time": "2024-01-01T12:00:00Z",
    "duration_hours": 6,
    "num_particles": 200,
    "object_type": 1,
    "wind": {"speed_ms": 8.0, "from_deg": 270},
    "current": {"speed_ms": 0.3, "to_deg": 45},
}


def worker_env(services: Services, queue: str, worker_id: str = "", **extra: str) -> dict[str, str]:
    """The container's whole environment: only settings, nothing of the test process's own environment."""
    env = {
        "DATABASE_URL": services.database_url,
        "REDIS_URL": services.redis_url,
        "S3_ENDPOINT": services.s3_endpoint,
        "S3_ACCESS_KEY": "testing",
        "S3_SECRET_KEY": "testing",
        "QUEUE_NAME": queue,
        "WORKER_ID": worker_id,
        "POLL_INTERVAL": "1",
        "METRICS_PORT": str(free_port()),  # host network: each container its own port
        "LOG_LEVEL": "INFO",
        "HEARTBEAT_TTL_S": "6",
        "REAPER_INTERVAL_S": "2",
        "SHUTDOWN_GRACE_S": "30",
    }
    env.update(extra)
    return env


class WorkerContainer:
    """One `docker run -d` of the image with host networking; its cache volume is removed with it."""

    def __init__(self, docker: Docker, image: str, env: dict[str, str], *opts: str, name: str = "") -> None:
        self.docker = docker
        self.image = image
        self.env = env
        self.opts = opts
        self.name = name or f"dl-worker-{uuid.uuid4().hex[:8]}"
        self.volume = f"{self.name}-cache"
        self.started = 0.0

    def start(self) -> WorkerContainer:
        env = [a for k, v in self.env.items() for a in ("-e", f"{k}={v}")]
        self.started = time.monotonic()
        self.docker(
            "run",
            "-d",
            "--name",
            self.name,
            "--network",
            "host",
            *HARDENING,
            "-v",
            f"{self.volume}:/var/cache/driftline",
            *env,
            *self.opts,
            self.image,
        )
        return self

    def logs(self) -> str:
        return run_logs(self.docker, self.name)

    def wait_log(self, text: str, timeout_s: float = 120, count: int = 1) -> float:
        """Seconds since start when the log holds `text` `count` times."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.logs().count(text) >= count:
                return time.monotonic() - self.started
            if self.state()["Status"] == "exited":
                raise AssertionError(f"{self.name} exited before logging {text!r}:\n{self.logs()[-3000:]}")
            time.sleep(0.25)
        raise AssertionError(f"{self.name} did not log {text!r} within {timeout_s} s:\n{self.logs()[-3000:]}")

    def wait_listening(self, timeout_s: float = 180) -> float:
        return self.wait_log(" listening on queue ", timeout_s)

    def since_start(self, text: str) -> float:
        """Seconds from the container's start (State.StartedAt) to its first log line holding `text`."""
        started = parse_ts(self.state()["StartedAt"])
        out = self.docker("logs", "-t", self.name)
        for line in (out.stdout + out.stderr).splitlines():
            if text in line:
                return (parse_ts(line.split(" ", 1)[0]) - started).total_seconds()
        raise AssertionError(f"{self.name} never logged {text!r}")

    def started_at(self) -> datetime:
        return parse_ts(self.state()["StartedAt"])

    def state(self) -> dict:
        return self.docker.inspect(self.name)["State"]

    def exec(self, *argv: str, check: bool = True):
        return self.docker("exec", self.name, *argv, check=check)

    def remove(self) -> None:
        remove(self.docker, self.name)
        self.docker("volume", "rm", "-f", self.volume, check=False)


def parse_ts(text: str) -> datetime:
    """Docker's RFC 3339 time with nanoseconds -> an aware datetime (microseconds)."""
    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00")


def assert_result_set(services: Services, mission_id: str) -> dict[str, dict]:
    """Completed, with one mission_results row per S3 object under the mission's prefix, sizes agreeing."""
    row = mission(services, mission_id)
    assert row is not None and row["status"] == "completed", row
    assert row["result_location"] == f"s3://{RESULTS_BUCKET}/{mission_id}/"
    keys = bucket_keys(services, f"{mission_id}/")
    rows = results(services, mission_id)
    assert {f"{mission_id}/raw/particles.nc", f"{mission_id}/products/summary.json"} <= set(keys), keys
    assert sorted(r["uri"].removeprefix(f"s3://{RESULTS_BUCKET}/") for r in rows.values()) == sorted(keys)
    for kind, r in rows.items():
        assert keys[r["uri"].removeprefix(f"s3://{RESULTS_BUCKET}/")] == r["size_bytes"], kind
    return rows
