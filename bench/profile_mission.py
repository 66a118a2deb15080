"""Where a mission's time goes: pyinstrument over `driftline.pipeline.run_mission` in a warm process.

    .venv/bin/python bench/profile_mission.py [--workloads A,C] [--services] [--out bench/profiles]
    .venv/bin/python bench/profile_mission.py --workloads G --services    # the gridded workload (needs S3)

The process warms up as the forkserver does (`driftline.warm`), runs one unprofiled mission, then each workload
under pyinstrument. By default files go to a LocalStore; with --services the job process's setup is reproduced
(throwaway PostgreSQL/Redis/moto S3: S3Store uploads, forcing catalog lookup, progress writes). Writes
profile-<name>.txt/.html and prints the pipeline's own stage timings next to the profile's biggest frames.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness import Workload, services  # noqa: E402
from bench.run import FULL, GRIDDED, upload_grid, write_grid_file  # noqa: E402


def make_context(svc, work: Path, mission_id: str):
    """A MissionContext like the job process's (svc: S3, catalog, progress) or like `worker.py run` (LocalStore)."""
    from config import Settings
    from driftline.forcing import ForcingContext
    from driftline.objects import LocalStore
    from driftline.pipeline import MissionContext

    if svc is None:
        settings = Settings()
        return settings, MissionContext(settings, LocalStore(work / "out"), ForcingContext(settings=settings))
    from driftline.db import MissionStore
    from driftline.jobproc import progress_writer
    from driftline.objects import S3Store, ensure_buckets, make_s3_client

    settings = Settings.from_env(svc.env("profile", "profile-1"))
    s3, store = make_s3_client(settings), MissionStore(settings.database_url)
    ensure_buckets(s3, [settings.results_bucket, settings.forcing_bucket])
    forcing = ForcingContext(settings=settings, s3=s3, db=store.connect)
    return settings, MissionContext(settings, S3Store(settings, s3), forcing, progress_writer(store, mission_id))


def run_once(w: Workload, svc, work: Path, profiler=None) -> dict:
    from driftline.contract.parse import parse_job
    from driftline.pipeline import run_mission

    mission_id = str(uuid.uuid4())
    settings, ctx = make_context(svc, work, mission_id)
    job = parse_job(json.dumps({"mission_id": mission_id, "params": w.params()}), settings)
    started = time.perf_counter()
    if profiler:
        profiler.start()
    try:
        outcome = run_mission(job, ctx)
    finally:
        if profiler:
            profiler.stop()
    return {"total_s": time.perf_counter() - started, **outcome.summary["timings_s"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", default="A,C", help="comma-separated names from bench/run.py's FULL (default A,C)")
    p.add_argument("--services", action="store_true", help="S3/PostgreSQL like the job process (default LocalStore)")
    p.add_argument("--out", default=str(ROOT / "out" / "profiles"), help="directory for the profiles (out/ is ignored)")
    p.add_argument("--interval", type=float, default=0.001, help="pyinstrument sampling interval (s)")
    args = p.parse_args(argv)
    from pyinstrument import Profiler

    import driftline.warm  # noqa: F401 - the forkserver's preload: OpenDrift imported, landmask built

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="drift-profile-") as tmp, ExitStack() as stack:
        svc = stack.enter_context(services(Path(tmp))) if args.services else None
        workloads = _workloads(args.workloads.split(","), svc, Path(tmp))
        run_once(FULL["A"], svc, Path(tmp))  # first mission: lazy imports, caches
        for w in workloads:
            if w.forcing_file:
                run_once(w, svc, Path(tmp))  # the first job naming the file downloads it: not profiled
        for w in workloads:
            name = w.name
            profiler = Profiler(interval=args.interval)
            timings = run_once(w, svc, Path(tmp), profiler)
            (out / f"profile-{name}.txt").write_text(profiler.output_text(unicode=False, color=False, show_all=True))
            (out / f"profile-{name}.html").write_text(profiler.output_html())
            print(f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in timings.items()))
    print(f"profiles written to {out}/profile-*.txt|html")
    return 0


def _workloads(names: list[str], svc, work: Path) -> list[Workload]:
    """FULL's workloads by name; G (bench/run.py's gridded workload) with its forcing file uploaded."""
    out = [FULL[name] for name in names if name not in GRIDDED]
    if "G" in names:
        if svc is None:
            raise SystemExit("workload G reads its forcing file from S3: add --services")
        grid = Workload("G", *GRIDDED["G"], forcing_file=str(write_grid_file(work)))
        make_context(svc, work, str(uuid.uuid4()))  # makes the buckets
        upload_grid(svc, {"G": grid})
        out.append(grid)
    return out


if __name__ == "__main__":
    sys.exit(main())
