"""Synthetic particle clouds and an independent along-track recount for the search tests and bench/search_plan.py.

The recount flies every unit's ground waypoints in short time steps (W/8 of track) against the particles
interpolated in time, and sums the two-dimensional detection-rate density of its law at each step: a plain
quadrature that shares nothing with track.py's closed-form segment integrals but the law's definition.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np

from driftline.search.contract import SearchUnit
from driftline.search.geo import LocalPlane
from driftline.search.track import Kinematics
from driftline.trajectory import ACTIVE, Trajectories

T0 = datetime(2024, 1, 1, tzinfo=UTC)
LON0, LAT0 = 2.0, 65.0


def trajectories(x: np.ndarray, y: np.ndarray, lon0: float = LON0, lat0: float = LAT0, step_s: int = 3600):
    """Trajectories from plane positions (N, T) in nm around (lon0, lat0), outputs every `step_s` from T0."""
    plane = LocalPlane.at(lon0, lat0)
    lon, lat = plane.to_lonlat(x, y)
    times = np.datetime64("2024-01-01T00:00:00", "s") + np.arange(x.shape[1]) * np.timedelta64(step_s, "s")
    n = x.shape[0]
    return Trajectories(
        times, lon, lat, np.full(lon.shape, ACTIVE, np.int8), np.zeros(n, np.int16), np.ones(n, np.int16)
    )


def normal_cloud(n=10_000, sigma_nm=5.0, hours=12, drift_kn=(0.0, 0.0), stretch=1.0, seed=1, lon0=LON0, lat0=LAT0):
    """Circular (or stretched along x) normal cloud drifting at a constant velocity, hourly outputs."""
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal(n) * sigma_nm * stretch, rng.standard_normal(n) * sigma_nm
    steps = np.arange(hours + 1)
    return trajectories(x[:, None] + drift_kn[0] * steps, y[:, None] + drift_kn[1] * steps, lon0, lat0)


def raft_cloud(n=6000, hours=14, seed=4, lon0=LON0, lat0=LAT0, lobes=True, sigma_nm=2.0, divergence_kn=0.3):
    """A life raft adrift at about 1.05 kn (leeway in a 15 m/s wind) whose cloud spreads and, with jibing, splits
    into two lobes either side of the downwind direction (Leeway divergence), hourly outputs."""
    rng = np.random.default_rng(seed)
    x0, y0 = rng.standard_normal(n) * sigma_nm, rng.standard_normal(n) * sigma_nm
    side = np.where(rng.random(n) < 0.5, -1.0, 1.0) if lobes else np.zeros(n)
    down = 1.05 + 0.08 * rng.standard_normal(n)
    cross = side * divergence_kn + 0.05 * rng.standard_normal(n)
    heading = math.radians(30.0)  # downwind to 060° true: plane angle 30° from east
    vx = down * math.cos(heading) - cross * math.sin(heading)
    vy = down * math.sin(heading) + cross * math.cos(heading)
    steps = np.arange(hours + 1)
    return trajectories(x0[:, None] + vx[:, None] * steps, y0[:, None] + vy[:, None] * steps, lon0, lat0)


def unit(name="A", speed=10.0, sweep=1.0, hours=5.0, commence_h=1.0, **kw) -> SearchUnit:
    return SearchUnit(name, speed, sweep, hours, T0 + timedelta(hours=commence_h), **kw)


def recount(plan, traj: Trajectories, weights: np.ndarray | None = None, law: str | None = None) -> float:
    """POS of the plan's flown waypoints against the moving particles, by plain quadrature along the tracks."""
    kin = Kinematics.of(traj, plan.plane)
    w = traj.shares() if weights is None else weights
    left = w.astype(np.float64).copy()
    for up in plan.units:
        pat = up.pattern
        times = _seconds(traj, up.unit.commence_time) + (pat.times_s if pat.times_s is not None else _times(pat, up))
        smear = pat.spacing_nm if pat.kind in ("PS", "CS", "SS") else 0.0
        left *= np.exp(-_glimpses(kin, pat.waypoints, times, up.unit.sweep_width_nm, law or up.unit.detection, smear))
    return 1.0 - float(left.sum()) / float(w.sum())


def recount_track(kin: Kinematics, xy: np.ndarray, t_s: np.ndarray, w_nm: float, law: str, smear_nm: float):
    """(N,) POD of one track (plane waypoints, seconds) by quadrature."""
    return -np.expm1(-_glimpses(kin, xy, t_s, w_nm, law, smear_nm))


def _glimpses(kin, xy, t_s, w_nm, law, spacing_nm) -> np.ndarray:
    sigma = max(w_nm, spacing_nm) / 2
    # k/r³ peaks sharply on close passes: midpoints w/16 apart missed 0.02 of POD there (w/64: below 0.0015)
    step = min(w_nm, sigma) / (32 if law == "inverse_cube" else 8)
    total = np.zeros(kin.x.shape[0])
    for a in range(len(xy) - 1):
        length = math.hypot(*(xy[a + 1] - xy[a]))
        m = max(1, math.ceil(length / step))
        for k in range(m):
            f = (k + 0.5) / m
            p = xy[a] + f * (xy[a + 1] - xy[a])
            t = t_s[a] + f * (t_s[a + 1] - t_s[a])
            x, y, ok = kin.at(t)
            r2 = (x - p[0]) ** 2 + (y - p[1]) ** 2
            if law == "inverse_cube":
                rho = w_nm * w_nm / (8 * math.pi) / np.maximum(r2, (w_nm / 50) ** 2) ** 1.5
            else:
                rho = w_nm / (2 * math.pi * sigma * sigma) * np.exp(-r2 / (2 * sigma * sigma))
            total += np.where(ok, rho * length / m, 0.0)
    return total


def _seconds(traj: Trajectories, when: datetime) -> float:
    return float((np.datetime64(when.replace(tzinfo=None), "s") - traj.times[0]) / np.timedelta64(1, "s"))


def _times(pat, up) -> np.ndarray:
    """Seconds from commence at each waypoint of a pattern flown at the unit's speed over ground (no drift)."""
    d = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pat.waypoints, axis=0).T))])
    return d / up.unit.speed_kn * 3600.0
