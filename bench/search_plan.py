"""Search-plan quality and timing: the tables of issue 22 ("A search plan worth acting on").

    .venv/bin/python bench/search_plan.py [--quick]

Pure numpy (no services, no OpenDrift run): clouds are sampled directly (tests/unit/search/helpers.py).
Every plan's POS is the one the planner reports (detection along each unit's track against the moving particles);
"recount" is an independent quadrature flying the same waypoints (helpers.recount). "today" is the planner of
commit db32df8 (before this issue), loaded from git, its claimed POS and its waypoints recounted the same way.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from driftline.search.geo import LocalPlane  # noqa: E402
from driftline.search.plan import plan_search  # noqa: E402
from driftline.search.theory import optimal_pos_bound  # noqa: E402
from tests.unit.search.helpers import LAT0, LON0, normal_cloud, raft_cloud, recount, trajectories, unit  # noqa: E402

TODAY = "db32df8"  # main when issue 22 was filed


def today_planner():
    """The plan module of commit TODAY, or None when git cannot show it."""
    try:
        src = subprocess.run(["git", "-C", str(ROOT), "show", f"{TODAY}:driftline/search/plan.py"], check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None
    path = Path(tempfile.mkdtemp()) / "today_plan.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("today_plan", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["today_plan"] = mod
    spec.loader.exec_module(mod)
    return mod


def circular(old, n: int) -> None:
    print("\n1. Circular normal cloud σ = 5 nm, identical units (10 kn, W 1 nm, 5 h searching, same time), exponential")
    print("   units  plan POS  recount  pooled split  sequential  bound   plan/bound  today claimed/recount")
    traj = normal_cloud(n=n, sigma_nm=5.0, hours=8)
    for k in (2, 4, 8):
        units = tuple(unit(f"U{i}", 10, 1.0, 5.0, 1.0) for i in range(k))
        plan = plan_search(traj, units, (LON0, LAT0))
        bound = optimal_pos_bound("exponential", sum(u.effort_nm2 for u in units), 5.0)
        c = plan.candidates
        print(f"   {k:5d}  {plan.cumulative_pos:.4f}    {recount(plan, traj):.4f}   {c['pooled split']:.4f}"
              f"        {c['sequential']:.4f}      {bound:.4f}  {plan.cumulative_pos / bound:.3f}       "
              f"{_today(old, traj, units)}")  # fmt: skip


def _today(old, traj, units) -> str:
    if old is None:
        return "(git unavailable)"
    p = old.plan_search(traj, units, (LON0, LAT0))
    return f"{p.cumulative_pos:.4f} / {recount(p, traj):.4f}"


def raft(old, n: int) -> None:
    print("\n2. Life raft adrift 1.05 kn (two lobes), two identical vessels 10 kn, W 0.5 nm, 6 h from T+4 h")
    traj = raft_cloud(n=n, hours=18)
    for label, units in (
        ("same time", (unit("V1", 10, 0.5, 6.0, 4.0), unit("V2", 10, 0.5, 6.0, 4.0))),
        ("second 7 h later", (unit("V1", 10, 0.5, 6.0, 4.0), unit("V2", 10, 0.5, 6.0, 11.0))),
    ):
        plan = plan_search(traj, units, (LON0, LAT0))
        again = recount(plan, traj)
        c = plan.candidates
        print(f"   {label}: plan POS {plan.cumulative_pos:.4f}, recount {again:.4f} "
              f"({(again / plan.cumulative_pos - 1) * 100:+.2f} %); pooled split {c['pooled split']:.4f}, "
              f"sequential {c['sequential']:.4f}")  # fmt: skip
        print(f"     today's plan: claimed / recounted along its waypoints {_today(old, traj, units)}")
        for p in plan.units:
            drift = math.hypot(*p.pattern.drift_kn)
            print(f"     {p.unit.name}: {p.pattern.kind} {p.rect.length_nm:.1f} x {p.rect.width_nm:.1f} nm, "
                  f"{p.pattern.legs} legs, S {p.pattern.spacing_nm:.2f} nm, drift {drift:.2f} kn compensated, "
                  f"POC {p.poc:.3f} POD {p.pod:.3f} POS {p.pos:.3f}")  # fmt: skip


def antimeridian(n: int) -> None:
    print("\n3. The same job at 170°E and at 179.97°E (cloud σ 3 x 2 nm drifting 1.26 kn, two units)")
    units = (unit("A", 12, 1.0, 4.0, 1.0), unit("B", 80, 1.5, 2.0, 2.0))
    plans = {}
    for lon0 in (170.0, 179.97):
        rng = np.random.default_rng(2)
        x, y = rng.standard_normal(n) * 3, rng.standard_normal(n) * 2
        steps = np.arange(9)
        traj = trajectories(x[:, None] + 1.2 * steps, y[:, None] + 0.4 * steps, lon0, -40.0)
        plans[lon0] = (plan_search(traj, units, (lon0, -40.0)), traj)
    (a, ta), (b, tb) = plans[170.0], plans[179.97]
    shift = max(_corner_shift(p, q, a.plane, b.plane) for p, q in zip(a.units, b.units))
    print(f"   170°E: POS {a.cumulative_pos:.4f} (recount {recount(a, ta):.4f}); 179.97°E: POS {b.cumulative_pos:.4f} "
          f"(recount {recount(b, tb):.4f}); relative difference {abs(b.cumulative_pos / a.cumulative_pos - 1):.2e}; "
          f"largest corner offset from a pure translation {shift * 1852:.2f} m")  # fmt: skip


def _corner_shift(p, q, pa: LocalPlane, pb: LocalPlane) -> float:
    xa, ya = pa.to_xy_unwrapped(*p.corners_lonlat.T)
    xb, yb = pb.to_xy_unwrapped(*q.corners_lonlat.T)
    return float(np.hypot(xa - xb, ya - yb).max())


def small_datum(n: int) -> None:
    print("\n4. Small-datum PIW (σ 0.4 nm, drifting 0.2 kn): expanding square and sector search")
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal(n) * 0.4, rng.standard_normal(n) * 0.4
    steps = np.arange(5)
    traj = trajectories(
        x[:, None] + 0.17 * steps, y[:, None] + 0.1 * steps + 0.05 * rng.standard_normal((n, 1)) * steps
    )
    for label, u in (
        ("SS, RHIB 15 kn, W 0.3 nm, 1 h", unit("RHIB", 15, 0.3, 1.0, 0.5, pattern="SS")),
        ("VS, helicopter 60 kn, W 0.4 nm, 0.5 h", unit("Heli", 60, 0.4, 0.5, 0.5, pattern="VS")),
        ("auto, RHIB 15 kn, W 0.3 nm, 1 h", unit("RHIB", 15, 0.3, 1.0, 0.5)),
    ):
        plan = plan_search(traj, (u,), (LON0, LAT0))
        p = plan.units[0]
        print(f"   {label}: {p.pattern.kind}, {p.pattern.legs} legs, S {p.pattern.spacing_nm:.2f} nm, "
              f"track {p.pattern.track_length_nm:.1f} nm in {p.pattern.hours:.2f} h; POS {plan.cumulative_pos:.4f}, "
              f"recount {recount(plan, traj):.4f}")  # fmt: skip


def track_line(n: int) -> None:
    print("\n5. Track-line search along a 40 nm route (missing craft anywhere on it, cross-track σ 1 nm)")
    rng = np.random.default_rng(6)
    s, c = rng.uniform(0, 40, n), rng.standard_normal(n) * 1.0
    heading = math.radians(20)
    x, y = s * math.cos(heading) - c * math.sin(heading), s * math.sin(heading) + c * math.cos(heading)
    steps = np.arange(6)
    traj = trajectories(x[:, None] + 0.3 * steps, y[:, None] + 0.1 * steps)
    plane = LocalPlane.at(LON0, LAT0)
    rlon, rlat = plane.to_lonlat(np.array([0, 40 * math.cos(heading)]), np.array([0, 40 * math.sin(heading)]))
    route = tuple(zip(rlon.tolist(), rlat.tolist()))
    for kind in ("TSR", "TSN"):
        u = unit("Aircraft", 150, 2.0, 0.5, 1.0, pattern=kind)
        plan = plan_search(traj, (u,), (LON0, LAT0), route)
        p = plan.units[0]
        print(f"   {kind}: track {p.pattern.track_length_nm:.1f} nm in {p.pattern.hours:.2f} h, "
              f"POS {plan.cumulative_pos:.4f}, recount {recount(plan, traj):.4f}")  # fmt: skip


def timing(n: int, runs: int) -> None:
    print(f"\n6. Time to plan: {n} particles, 10 units (mixed speeds and commence times), drifting stretched cloud")
    traj = normal_cloud(n=n, sigma_nm=5.0, hours=12, drift_kn=(1.0, 0.3), stretch=1.5)
    units = tuple(
        unit(f"U{i}", [10, 90, 15, 140][i % 4], [1.0, 1.5, 0.5, 2.0][i % 4], 4.0, 1 + i % 3) for i in range(10)
    )
    seconds, plans = [], []
    for _ in range(runs):
        start = time.perf_counter()
        plans.append(plan_search(traj, units, (LON0, LAT0)))
        seconds.append(time.perf_counter() - start)
    same = all([p.corners_lonlat.tolist() for p in q.units] == [p.corners_lonlat.tolist() for p in plans[0].units]
               for q in plans)  # fmt: skip
    print(f"   median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s over {runs} runs; "
          f"identical: {same}; POS {plans[0].cumulative_pos:.4f} ({plans[0].chosen})")  # fmt: skip


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer particles (2000) and runs")
    args = ap.parse_args()
    n = 2000 if args.quick else 10_000
    old = today_planner()
    circular(old, n)
    raft(old, 3000 if args.quick else 6000)
    antimeridian(4000)
    small_datum(4000)
    track_line(4000)
    timing(10_000, 2 if args.quick else 5)
