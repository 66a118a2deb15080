"""Soak: does a long-running worker's memory, file descriptors or disk grow with the number of jobs?

    flock /tmp/driftline-heavy.lock .venv/bin/python bench/soak.py [--jobs 200] [--out bench/soak.json]

One daemon (MAX_CONCURRENT_JOBS=2) with throwaway Redis, PostgreSQL and moto S3 runs N small
missions (10-40 particles, 1 h) pushed at once. Every 20 completed missions it samples the
supervisor's RSS and open file descriptors, the forkserver's RSS, the worker's process count, the
files and bytes under the worker's TMPDIR, and the objects left under `.staging/` in the bucket.
Growth is judged between the sample after the first 20 jobs (warm) and the last.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=200)
    p.add_argument("--out", default=None, help="write the samples as JSON")
    args = p.parse_args(argv)
    from tests.conftest import RESULTS_BUCKET, Services, apply_schema
    from tests.services import MotoServer, PostgresServer, RedisServer, Worker

    servers = [RedisServer().start(), PostgresServer().init().start(), MotoServer().start()]
    tmp = Path(tempfile.mkdtemp(prefix="drift-soak-"))
    worker = None
    try:
        apply_schema(servers[1].url)
        svc = Services(servers[0].url, servers[1].url, servers[2].url, tmp)
        job_tmp = tmp / "worker-tmp"
        job_tmp.mkdir()
        env = svc.env("soak", "soak-1", MAX_CONCURRENT_JOBS="2", TMPDIR=str(job_tmp))
        worker = Worker(env, tmp / "worker.log").start(wait_ready=False)
        worker.wait_log("Worker soak-1 listening", 240)
        time.sleep(1)
        samples = run(svc, worker, job_tmp, args.jobs, RESULTS_BUCKET)
    finally:
        if worker is not None and worker.proc is not None:
            worker.stop()
        for server in reversed(servers):
            getattr(server, "cleanup", server.stop)()
    report(samples)
    if args.out:
        Path(args.out).write_text(json.dumps(samples, indent=2))
    return 0


def run(svc, worker, job_tmp: Path, jobs: int, bucket: str) -> list[dict]:
    r = svc.redis()
    ids = []
    for i in range(jobs):
        mid = str(uuid.uuid4())
        params = {"latitude": 60.0, "longitude": 4.0, "start_time": "2024-01-01T00:00:00Z"}
        params.update(duration_hours=1, num_particles=10 + i % 31)
        r.rpush("soak", json.dumps({"mission_id": mid, "params": params}))
        ids.append(mid)
    samples, started, next_mark = [], time.monotonic(), 20
    while True:
        done = completed(svc)
        if done >= next_mark or done >= jobs:
            time.sleep(0.5)  # let the supervisor collect the last job of the batch
            samples.append({"jobs": done, "elapsed_s": round(time.monotonic() - started, 1), **sample(svc, worker)})
            samples[-1].update(tmp_usage(job_tmp), staged=staged_objects(svc, bucket))
            print(json.dumps(samples[-1]), flush=True)
            next_mark = (done // 20 + 1) * 20
            if done >= jobs:
                return samples
        if time.monotonic() - started > 60 + 3 * jobs:
            raise SystemExit(f"only {done}/{jobs} jobs completed")
        time.sleep(0.2)


def completed(svc) -> int:
    conn = svc.db()
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM missions WHERE status = 'completed'")
        n = cur.fetchone()[0]
    conn.close()
    return n


def sample(svc, worker) -> dict:
    import psutil

    sup = psutil.Process(worker.proc.pid)
    children = sup.children(recursive=True)
    forkserver = [c for c in children if "forkserver" in " ".join(c.cmdline())]
    return {
        "supervisor_rss_mb": round(sup.memory_info().rss / 2**20, 1),
        "supervisor_fds": sup.num_fds(),
        "forkserver_rss_mb": round(forkserver[0].memory_info().rss / 2**20, 1) if forkserver else None,
        "processes": 1 + len(children),
        "threads": sup.num_threads(),
    }


def tmp_usage(root: Path) -> dict:
    files = [p for p in root.rglob("*") if p.is_file()]
    return {"tmp_files": len(files), "tmp_bytes": sum(p.stat().st_size for p in files)}


def staged_objects(svc, bucket: str) -> int:
    out = svc.s3().list_objects_v2(Bucket=bucket, Prefix=".staging/")
    return out.get("KeyCount", 0)


def report(samples: list[dict]) -> None:
    first, last = samples[0], samples[-1]
    print(f"\nsoak: {last['jobs']} jobs in {last['elapsed_s']} s")
    for key in ("supervisor_rss_mb", "supervisor_fds", "forkserver_rss_mb", "processes", "tmp_files", "tmp_bytes"):
        before, after = f"after {first['jobs']:>3} jobs: {first[key]!s:>10}", f"{last['jobs']:>3}: {last[key]!s:>10}"
        print(f"  {key:20s} {before}   after {after}")
    print(f"  staged objects left in S3: {last['staged']}")


if __name__ == "__main__":
    sys.exit(main())
