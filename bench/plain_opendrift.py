"""Plain OpenDrift, as a user would script it without Driftline; run by bench/run.py in a fresh process.

    plain: import OpenDrift, seed, run with a NetCDF outfile, then `animation(fast=True)` to MP4; prints one JSON line
           with the animation time and the network calls seen (there must be none: no internet, no Natural Earth).
    bare:  warm up once (import, landmask, a tiny run), then time `run` alone (no outfile) for each workload;
           prints one JSON line with the seconds of every run.
    serve: warm up as bare, print READY, then for each workload (a JSON line on stdin) time `run` alone and
           print its seconds: bench/run.py interleaves these with the worker's runs of the same workload.

Only OpenDrift, matplotlib and imageio-ffmpeg are used (no driftline import), with the settings the worker uses:
constant wind/current fallbacks (behind a CF forcing file's reader when the workload names one), coastline
stranding, export buffer of the whole run.
"""

from __future__ import annotations

import time

T_START = time.perf_counter()  # before the heavy imports: the process wall clock from here

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
from datetime import datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

NETWORK_EVENTS = ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "urllib.Request")
network_calls: list[str] = []


def _audit(event: str, args: tuple) -> None:
    if event in NETWORK_EVENTS:
        network_calls.append(f"{event} {args!r}"[:200])


def wind_components(speed_ms: float, from_deg: float) -> tuple[float, float]:
    rad = math.radians(from_deg)
    return -speed_ms * math.sin(rad), -speed_ms * math.cos(rad)


def current_components(speed_ms: float, to_deg: float) -> tuple[float, float]:
    rad = math.radians(to_deg)
    return speed_ms * math.sin(rad), speed_ms * math.cos(rad)


def make_model(w: dict, loglevel: int = 50):
    """A seeded Leeway model for workload `w` (keys of bench/run.py's Workload.plain_spec)."""
    import numpy as np
    from opendrift.models.leeway import Leeway

    np.random.seed(w.get("seed", 1))
    o = Leeway(loglevel=loglevel)
    if w.get("forcing_file"):  # gridded forcing (bench/gridded.py), with the constants as fallback outside it
        from opendrift.readers.reader_netCDF_CF_generic import Reader

        o.add_reader(Reader(w["forcing_file"]))
    u, v = wind_components(w["wind"]["speed_ms"], w["wind"]["from_deg"])
    cu, cv = current_components(w["current"]["speed_ms"], w["current"]["to_deg"])
    for var, value in {"x_wind": u, "y_wind": v, "x_sea_water_velocity": cu, "y_sea_water_velocity": cv}.items():
        o.set_config(f"environment:fallback:{var}", float(value))
    o.set_config("general:coastline_action", "stranding")
    start = datetime.fromisoformat(w["start_time"].replace("Z", ""))
    o.seed_elements(
        lon=w["longitude"], lat=w["latitude"], radius=w.get("radius_m", 1000.0), number=w["particles"], time=start,
        object_type=w["object_number"],
    )  # fmt: skip
    return o


def run_model(o, w: dict, outfile: str | None = None) -> float:
    """OpenDrift's `run` with the workload's steps; returns its seconds."""
    steps_out = int(round(w["hours"] * 60 / w["output_step_minutes"]))
    started = time.perf_counter()
    o.run(
        duration=timedelta(hours=w["hours"]),
        time_step=timedelta(minutes=w["time_step_minutes"]),
        time_step_output=timedelta(minutes=w["output_step_minutes"]),
        export_buffer_length=steps_out + 2,
        outfile=outfile,
    )
    return time.perf_counter() - started


def plain(w: dict, out_dir: Path) -> dict:
    import imageio_ffmpeg
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["animation.ffmpeg_path"] = imageio_ffmpeg.get_ffmpeg_exe()
    out_dir.mkdir(parents=True, exist_ok=True)
    o = make_model(w)
    t_run = run_model(o, w, outfile=str(out_dir / "particles.nc"))
    mp4 = out_dir / "animation.mp4"
    started = time.perf_counter()
    o.animation(fast=True, filename=str(mp4))
    t_anim = time.perf_counter() - started
    frames = int(o.result.sizes["time"]) if getattr(o, "result", None) is not None else None
    return {
        "run_s": t_run, "animation_s": t_anim, "frames": frames, "mp4_bytes": mp4.stat().st_size,
        "network_calls": network_calls, "process_s": time.perf_counter() - T_START,
    }  # fmt: skip


def warm_up(w: dict) -> None:
    """The landmask, first-run lazy imports and caches: what a warm process has."""
    from opendrift.readers import reader_global_landmask

    reader_global_landmask.get_mask()
    tiny = dict(w, particles=10, hours=1)
    run_model(make_model(tiny), tiny)


def serve(w: dict) -> dict:
    warm_up(w)
    print("READY", flush=True)
    for line in sys.stdin:
        spec = json.loads(line)
        print("BENCH " + json.dumps({"run_s": run_model(make_model(spec), spec)}), flush=True)
    return {"network_calls": network_calls}


def bare(workloads: list[dict], runs: int) -> dict:
    warm_up(workloads[0])
    seconds = {w["name"]: [run_model(make_model(w), w) for _ in range(runs)] for w in workloads}
    return {"run_s": seconds, "network_calls": network_calls}


def main(argv: list[str] | None = None) -> int:
    sys.addaudithook(_audit)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=("plain", "bare", "serve"))
    p.add_argument("workloads", help="JSON: one workload (plain, serve: the warm-up's) or a list of them (bare)")
    p.add_argument("--out", default="out/plain", help="output directory (plain)")
    p.add_argument("--runs", type=int, default=1, help="runs per workload (bare)")
    args = p.parse_args(argv)
    logging.getLogger("opendrift").setLevel(logging.ERROR)
    spec = json.loads(args.workloads)
    modes = {
        "plain": lambda: plain(spec, Path(args.out)),
        "bare": lambda: bare(spec, args.runs),
        "serve": lambda: serve(spec),
    }
    result = modes[args.mode]()
    print("BENCH " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
