"""Manual check of a real model file through the daemon: `forcing add`, automatic pick, drift vs plain OpenDrift.

    .venv/bin/python bench/forcing_check.py FILE.nc --lat 70 --lon 10 --start 2016-02-02T00:00:00Z [--hours 24]

Starts throwaway Redis, PostgreSQL and S3 servers and one worker (as the tests do), registers FILE with
`worker.py forcing add`, runs a mission inside its coverage without naming the file, then runs OpenDrift
directly on the same file with the same parameters and seed, and prints both mean end positions. It also
runs ten more missions on the file and reports how often the worker downloaded it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import xarray as xr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import RESULTS_BUCKET, Services, apply_schema, push_job, wait_status  # noqa: E402
from tests.services import MotoServer, PostgresServer, RedisServer, Worker  # noqa: E402


def plain_opendrift(path: Path, lat: float, lon: float, start: datetime, hours: float, n: int, seed: int):
    """The same mission as a user would run it with OpenDrift directly."""
    from opendrift.models.leeway import Leeway
    from opendrift.readers.reader_netCDF_CF_generic import Reader

    o = Leeway(loglevel=50, seed=seed)
    o.add_reader(Reader(str(path)))
    for var in ("x_wind", "y_wind"):
        o.set_config(f"environment:fallback:{var}", 0.0)
    o.seed_elements(lon=lon, lat=lat, radius=1000, number=n, time=start, object_type=1)
    o.run(duration=timedelta(hours=hours), time_step=600, time_step_output=3600)
    return float(np.nanmean(o.result.lon[:, -1])), float(np.nanmean(o.result.lat[:, -1]))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", type=Path)
    p.add_argument("--lat", type=float, required=True)
    p.add_argument("--lon", type=float, required=True)
    p.add_argument("--start", required=True)
    p.add_argument("--hours", type=float, default=24)
    p.add_argument("--particles", type=int, default=1000)
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="forcing-check-"))
    redis, pg, moto = RedisServer().start(), PostgresServer().init().start(), MotoServer().start()
    worker = None
    try:
        apply_schema(pg.url)
        services = Services(redis.url, pg.url, moto.url, tmp)
        queue = f"q-{uuid.uuid4().hex[:8]}"
        worker = Worker(services.env(queue, "check"), tmp / "worker.log").start()
        add = subprocess.run(
            [sys.executable, "worker.py", "forcing", "add", str(args.file)],
            cwd=ROOT,
            env=worker.env,
            capture_output=True,
            text=True,
            check=True,
        )
        print(add.stdout.strip().splitlines()[0])
        params = {
            "latitude": args.lat,
            "longitude": args.lon,
            "start_time": args.start,
            "duration_hours": args.hours,
            "num_particles": args.particles,
            "random_seed": 7,
            "radius_m": 1000,
        }
        mid = push_job(services, queue, params)
        row = wait_status(services, mid, timeout_s=600)
        summary = json.loads(
            services.s3().get_object(Bucket=RESULTS_BUCKET, Key=f"{mid}/products/summary.json")["Body"].read()
        )
        print("mission", row["status"], "forcing:", json.dumps(summary["forcing"][0]["sources"]))
        print("domain fraction:", summary["forcing"][0]["domain_fraction"], "warnings:", summary["warnings"])
        compare_with_plain(services, mid, args, tmp)
        check_cache(services, worker, queue, params)
        return 0
    finally:
        if worker is not None:
            worker.stop()
        moto.stop()
        pg.cleanup()
        redis.cleanup()


def compare_with_plain(services, mid: str, args, tmp: Path) -> None:
    """The mission's mean end position against plain OpenDrift on the same file."""
    services.s3().download_file(RESULTS_BUCKET, f"{mid}/raw/particles.nc", str(tmp / "p.nc"))
    ds = xr.open_dataset(tmp / "p.nc")
    ours = float(np.nanmean(ds.lon[:, -1])), float(np.nanmean(ds.lat[:, -1]))
    start = datetime.fromisoformat(args.start.replace("Z", "+00:00")).replace(tzinfo=None)
    direct = plain_opendrift(args.file, args.lat, args.lon, start, args.hours, args.particles, 7)
    drift_km = np.hypot((ours[0] - args.lon) * 111.32 * np.cos(np.radians(args.lat)), (ours[1] - args.lat) * 111.32)
    diff_m = np.hypot((ours[0] - direct[0]) * 111320 * np.cos(np.radians(args.lat)), (ours[1] - direct[1]) * 111320)
    print(
        f"mean end position: worker {ours[1]:.5f}N {ours[0]:.5f}E, plain OpenDrift {direct[1]:.5f}N "
        f"{direct[0]:.5f}E; difference {diff_m:.1f} m on a {drift_km:.2f} km drift"
    )


def check_cache(services, worker, queue: str, params: dict) -> None:
    """Ten more missions on the same file: one download, then cache hits."""
    before = worker.log().count("Downloaded forcing")
    started = time.monotonic()
    ids = [push_job(services, queue, {**params, "num_particles": 100, "random_seed": i}) for i in range(10)]
    for m in ids:
        wait_status(services, m, timeout_s=600)
    log = worker.log()
    print(
        f"ten more missions: {log.count('Downloaded forcing') - before} download(s), "
        f"{log.count('Forcing cache hit')} cache hits in all, {time.monotonic() - started:.1f} s for the ten"
    )
    for line in log.splitlines():
        if "Downloaded forcing" in line:
            print("  ", line.split("driftline.forcing: ")[-1][:160])


if __name__ == "__main__":
    sys.exit(main())
