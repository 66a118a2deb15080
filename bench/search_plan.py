"""Search-plan timing and quality: 10,000 particles and 4 units, and one unit against Koopman's bound.

    .venv/bin/python bench/search_plan.py [--particles 10000] [--runs 5]

Pure numpy (no services, no OpenDrift run): the clouds are sampled directly, as in tests/unit/test_search.py.
Timing: a drifting cloud stretched 1.8:1 (σ 4 nm across), four units with different commence times; the plan is
computed `--runs` times and the median and maximum are printed (and the plans checked identical).
Quality: one unit on a circular normal cloud (σ = 2 nm) for several efforts Z; the plan's POS on the particles,
the exact POS of the chosen rectangle on the normal distribution, and Koopman's optimum 1 − (1 + u)e^(−u).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from driftline.search.plan import plan_search  # noqa: E402
from driftline.search.theory import koopman_optimal_pos  # noqa: E402
from tests.unit.test_search import LAT0, LON0, _true_pos, cloud, unit  # noqa: E402

UNITS = (
    ("Rescue 51", 90, 1.2, 2.5, 1.0), ("MRB Bergen", 20, 0.4, 4.0, 2.0), ("Fixed wing", 140, 2.0, 2.0, 1.5),
    ("Lifeboat", 12, 0.3, 3.0, 3.0),
)  # fmt: skip


def timing(particles: int, runs: int) -> None:
    traj = cloud(n=particles, sigma_nm=4.0, drift_kn=(1.0, 0.3), stretch=1.8)
    units = tuple(unit(*u) for u in UNITS)
    seconds, plans = [], []
    for _ in range(runs):
        start = time.perf_counter()
        plans.append(plan_search(traj, units, (LON0, LAT0)))
        seconds.append(time.perf_counter() - start)
    same = all([p.corners_lonlat.tolist() for p in q.units] == [p.corners_lonlat.tolist() for p in plans[0].units]
               for q in plans)  # fmt: skip
    print(f"plan, {particles} particles x {len(units)} units: median {statistics.median(seconds):.3f} s, "
          f"max {max(seconds):.3f} s over {runs} runs; identical plans: {same}")  # fmt: skip
    for p in plans[0].units:
        print(f"  {p.unit.name:11s} {p.rect.length_nm:5.1f} x {p.rect.width_nm:4.1f} nm, {p.pattern.legs:3d} legs, "
              f"S {p.pattern.spacing_nm:.2f} nm, POC {p.poc:.3f} POD {p.pod:.3f} POS {p.pos:.3f}")  # fmt: skip
    print(f"  cumulative POS {plans[0].cumulative_pos:.3f}")


def koopman(particles: int) -> None:
    sigma = 2.0
    traj = cloud(n=particles, sigma_nm=sigma)
    print("one unit, circular normal σ = 2 nm (speed 10 kn, sweep width 0.5 nm):")
    print("  Z nm²  Z/σ²   Koopman  plan(particles)  exact   exact/Koopman")
    for hours in (0.5, 1, 2, 4, 8, 16):
        u = unit("U", 10, 0.5, hours, 0)
        plan = plan_search(traj, (u,), (LON0, LAT0))
        bound, exact = koopman_optimal_pos(u.effort_nm2, sigma), _true_pos(plan.units[0], sigma)
        print(f"  {u.effort_nm2:5.1f} {u.effort_nm2 / sigma**2:5.2f}   {bound:.4f}   {plan.cumulative_pos:.4f}"
              f"           {exact:.4f}  {exact / bound:.3f}")  # fmt: skip


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--particles", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    timing(args.particles, args.runs)
    koopman(args.particles)
