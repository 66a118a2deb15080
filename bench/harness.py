"""The benchmark's harness: the workloads' scene, throwaway services, the daemon under test and memory sampling.

Shared by bench/run.py (speed) and bench/capacity.py (the largest missions), so neither imports the other.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# Open sea in the central North Sea: the plume drifts ~80 km east in 48 h, far from any coast.
SCENE = {
    "latitude": 57.0, "longitude": 3.0, "start_time": "2024-01-01T00:00:00Z", "object_type": "PIW-1",
    "wind": {"speed_ms": 8, "from_deg": 250}, "current": {"speed_ms": 0.3, "to_deg": 90},
    "time_step_minutes": 10, "output_step_minutes": 60, "random_seed": 1,
}  # fmt: skip


PRODUCT_COUNT = 8  # at least: particles.nc, density.nc, search_area.geojson/.kml, shoreline.geojson, animation.mp4,
# preview.png, summary.json; the tasking products (sap.txt, report.html, ...) come on top where the version makes them
POLL_S = 0.005


GRID_KEY = "bench/grid-300x300x48h.nc"  # workload G's forcing file in the forcing bucket (bench/gridded.py)


@dataclass(frozen=True)
class Workload:
    name: str
    particles: int
    hours: float
    forcing_file: str | None = None  # a local CF file (gridded workload): uploaded for the worker, read by OpenDrift

    def params(self) -> dict:
        """Job params for the daemon."""
        forcing = {"forcing": [f"s3://driftline-forcing/{GRID_KEY}"]} if self.forcing_file else {}
        return {**SCENE, "num_particles": self.particles, "duration_hours": self.hours, **forcing}

    def plain_spec(self) -> dict:
        """The same scenario for bench/plain_opendrift.py (which does not import driftline)."""
        from config import leeway_object

        keep = ("latitude", "longitude", "start_time", "wind", "current", "time_step_minutes", "output_step_minutes")
        return {
            **{k: SCENE[k] for k in keep}, "name": self.name, "particles": self.particles, "hours": self.hours,
            "object_number": leeway_object(SCENE["object_type"]).number, "seed": SCENE["random_seed"],
            "forcing_file": self.forcing_file,
        }  # fmt: skip


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def read_or_empty(path: str) -> str:
    """The text of a file (/proc), or "" when it cannot be read."""
    try:
        return Path(path).read_text()
    except OSError:
        return ""


@contextmanager
def services(work: Path) -> Iterator:
    """Throwaway Redis, PostgreSQL and moto S3 (tests/services.py) with the schema applied."""
    from tests.conftest import Services, apply_schema
    from tests.services import MotoServer, PostgresServer, RedisServer

    started: list = []
    try:
        redis_server = RedisServer()
        started.append(redis_server)
        redis_server.start()
        pg = PostgresServer()
        started.append(pg)
        pg.init().start()
        moto = MotoServer()
        started.append(moto)
        moto.start()
        apply_schema(pg.url)
        yield Services(redis_server.url, pg.url, moto.url, work)
    finally:
        for server in reversed(started):
            getattr(server, "cleanup", server.stop)()


class Daemon:
    """`worker.py` as a subprocess, a job pusher and a 5 ms PostgreSQL status poller."""

    def __init__(self, svc, work: Path, worker_id: str = "bench-1", **env: str) -> None:
        from tests.services import Worker

        self.svc = svc
        self.queue = f"bench-{uuid.uuid4().hex[:8]}"
        env = {"MAX_CONCURRENT_JOBS": "2", **env}
        self.worker = Worker(svc.env(self.queue, worker_id, **env), work / f"{worker_id}.log")
        self.redis = svc.redis()
        self.db = svc.db()

    def __enter__(self) -> Daemon:
        started = time.perf_counter()
        self.worker.start(timeout_s=300)
        log(f"worker ready in {time.perf_counter() - started:.1f} s")
        return self

    def __exit__(self, *exc) -> None:
        self.worker.stop()
        self.db.close()

    @property
    def pid(self) -> int:
        return self.worker.proc.pid

    def push(self, params: dict) -> tuple[str, float]:
        mission_id = str(uuid.uuid4())
        body = json.dumps({"mission_id": mission_id, "params": params})
        pushed = time.perf_counter()
        self.redis.rpush(self.queue, body)
        return mission_id, pushed

    def statuses(self, ids: list[str]) -> dict[str, str]:
        with self.db.cursor() as cur:
            cur.execute("SELECT id::text, status FROM missions WHERE id = ANY(%s::uuid[])", (ids,))
            return dict(cur.fetchall())

    def wait(
        self, pushed: dict[str, float], timeout_s: float = 900, poll_s: float = POLL_S
    ) -> dict[str, dict[str, float]]:
        """Seconds from each push to `processing` and to `completed`, polling every poll_s (5 ms)."""
        seen: dict[str, dict[str, float]] = {m: {} for m in pushed}
        deadline = time.perf_counter() + timeout_s
        while any("completed" not in s for s in seen.values()):
            rows = self.statuses(list(pushed))
            now = time.perf_counter()
            for mission_id, status in rows.items():
                if status == "failed":
                    raise RuntimeError(f"mission {mission_id} failed:\n{self.worker.log()[-3000:]}")
                if status in ("processing", "completed"):
                    seen[mission_id].setdefault("processing", now - pushed[mission_id])
                if status == "completed":
                    seen[mission_id].setdefault("completed", now - pushed[mission_id])
            if now > deadline:
                raise TimeoutError(f"missions not completed after {timeout_s} s: {rows}")
            time.sleep(poll_s)
        return seen

    def run_one(self, w: Workload) -> dict:
        mission_id, pushed = self.push(w.params())
        times = self.wait({mission_id: pushed})[mission_id]
        summary = self.check_products(mission_id)
        return times | {"timings": summary["timings_s"], "counts": summary["counts"]}

    def check_products(self, mission_id: str) -> dict:
        """All product files in S3 and in mission_results; returns summary.json."""
        from tests.conftest import RESULTS_BUCKET, bucket_keys, results

        keys, rows = bucket_keys(self.svc, f"{mission_id}/"), results(self.svc, mission_id)
        body = self.svc.s3().get_object(Bucket=RESULTS_BUCKET, Key=f"{mission_id}/products/summary.json")["Body"]
        summary = json.loads(body.read())
        listed = {p["key"] for p in summary["products"]} | {f"{mission_id}/products/summary.json"}
        if len(listed) < PRODUCT_COUNT or set(keys) != listed or len(rows) != len(listed):
            raise RuntimeError(f"mission {mission_id}: {len(keys)} objects, {len(rows)} result rows, "
                               f"{len(listed)} files in summary.json")  # fmt: skip
        return summary


def tree_memory(pid: int) -> dict[str, float]:
    """Summed RSS and PSS (MB, from /proc/PID/smaps_rollup) of a process and all its descendants."""
    import psutil

    try:
        pids = [pid] + [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return {"rss_mb": 0.0, "pss_mb": 0.0, "procs": 0}
    rss = pss = 0.0
    count = 0
    for p in pids:
        fields = _smaps_rollup(p)
        if fields:
            rss, pss, count = rss + fields.get("Rss", 0) / 1024, pss + fields.get("Pss", 0) / 1024, count + 1
    return {"rss_mb": round(rss, 1), "pss_mb": round(pss, 1), "procs": count}


def _smaps_rollup(pid: int) -> dict[str, int]:
    text = read_or_empty(f"/proc/{pid}/smaps_rollup")
    return {ln.split(":")[0]: int(ln.split()[1]) for ln in text.splitlines()[1:] if ln.endswith("kB")}


class TreeSampler:
    """Samples tree_memory(pid) every `interval_s` in a thread; `peak` is the largest total PSS/RSS seen."""

    def __init__(self, pid: int, interval_s: float = 0.1) -> None:
        self.pid, self.interval_s = pid, interval_s
        self.samples: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(tree_memory(self.pid))
            self._stop.wait(self.interval_s)

    @property
    def peak(self) -> dict:
        return {
            "pss_mb": max(s["pss_mb"] for s in self.samples), "rss_mb": max(s["rss_mb"] for s in self.samples),
            "max_procs": max(s["procs"] for s in self.samples), "samples": len(self.samples),
        }  # fmt: skip
