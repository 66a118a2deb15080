"""Effort allocation: one rectangle per unit, placed and sized on the particles to maximise the plan's POS.

Each unit searches the cloud as it is at the unit's mid-search time (particle positions, not a fitted
Gaussian). Rectangles lie along the cloud's principal axis at that time and never overlap each other
(IAMSAR sub-areas). The plan's POS combines the units' detections correctly: a particle inside several
rectangles (at their own times) escapes detection with probability Π(1 − POD_i).

Optimiser: greedy by effort (largest first) on the weights left undetected by the units already placed,
a coarse grid over centre and size, then a compass (pattern) search on centre, length and width; then
one round in which every unit is re-optimised against all the others. Deterministic (no random draws).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import shapely

from driftline.search.contract import SearchUnit
from driftline.search.geo import LocalPlane, Rect, positions_at, principal_axis, rects_overlap
from driftline.search.pattern import Pattern, parallel_sweep
from driftline.search.theory import combined_pos, pod_exponential
from driftline.trajectory import Trajectories

MIN_SIGMA_NM = 0.05  # a cloud narrower than this (all particles at one point) is treated as this wide
REFINE_ROUNDS = 1
TABLE_CELLS = 400  # summed-area table per axis: cells of about σ/50 for a normal cloud


@dataclass
class UnitPlan:
    unit: SearchUnit
    rect: Rect  # first axis = long side, legs run along it
    corners_lonlat: np.ndarray  # (4, 2) rounded to 1e-6°, anticlockwise; the area is exactly this polygon
    pattern: Pattern
    coverage: float
    pod: float
    poc: float
    inside: np.ndarray = field(repr=False)  # (N,) particles inside at mid-search time

    @property
    def pos(self) -> float:
        return self.poc * self.pod


@dataclass
class SearchPlan:
    plane: LocalPlane
    units: list[UnitPlan]
    cumulative_pos: float
    seconds: float


@dataclass
class _Cloud:
    """One unit's view: particle coordinates along/across the cloud axis at its mid-search time."""

    x: np.ndarray
    y: np.ndarray
    ok: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    theta: float
    u: np.ndarray
    v: np.ndarray


def plan_search(traj: Trajectories, units: tuple[SearchUnit, ...], lkp: tuple[float, float]) -> SearchPlan:
    """The whole plan on the particles' current weights (after any searches done)."""
    started = time.perf_counter()
    weights = traj.shares()
    plane = _plane(traj, units, weights)
    clouds = [_cloud(traj, u, plane, weights) for u in units]
    order = sorted(range(len(units)), key=lambda i: (-units[i].effort_nm2, i))
    params: dict[int, tuple[float, float, float, float]] = {}
    for i in order:
        params[i] = _optimise(
            clouds[i], units[i], _left(clouds, units, params, weights, i), _fixed(clouds, units, params, i)
        )
    for _ in range(REFINE_ROUNDS):
        for i in order:
            left, fixed = _left(clouds, units, params, weights, i), _fixed(clouds, units, params, i)
            params[i] = _optimise(clouds[i], units[i], left, fixed, start=params[i])
    near = plane.to_xy(*lkp)
    plans = [_unit_plan(clouds[i], units[i], params[i], plane, weights, near) for i in range(len(units))]
    total = combined_pos(weights, [(p.inside, p.pod) for p in plans])
    return SearchPlan(plane, plans, total, time.perf_counter() - started)


def _plane(traj: Trajectories, units, weights: np.ndarray) -> LocalPlane:
    lon, lat, ok = positions_at(traj, units[0].mid_time)
    w = weights * ok
    if w.sum() <= 0:
        return LocalPlane.at(float(np.nanmean(traj.lon[:, 0])), float(np.nanmean(traj.lat[:, 0])))
    lat0 = float(w @ np.nan_to_num(lat) / w.sum())
    ref = float(np.nan_to_num(lon)[np.argmax(w)])
    dlon = (np.nan_to_num(lon) - ref + 180) % 360 - 180
    return LocalPlane.at(float((ref + w @ dlon / w.sum() + 180) % 360 - 180), lat0)


def _cloud(traj: Trajectories, unit: SearchUnit, plane: LocalPlane, weights: np.ndarray) -> _Cloud:
    lon, lat, ok = positions_at(traj, unit.mid_time)
    ok = ok & np.isfinite(lon) & np.isfinite(lat)
    x, y = plane.to_xy(np.where(ok, lon, plane.lon0), np.where(ok, lat, plane.lat0))
    theta = principal_axis(x[ok], y[ok], weights[ok])
    c, s = math.cos(theta), math.sin(theta)
    return _Cloud(x, y, ok, lon, lat, theta, x * c + y * s, -x * s + y * c)


def _left(clouds, units, params: dict, weights: np.ndarray, skip: int) -> np.ndarray:
    """Weights not detected by the other units already placed (what unit `skip` can still find)."""
    left = weights.copy()
    for j, p in params.items():
        if j != skip:
            rect = _rect(clouds[j], units[j], p)
            pod = pod_exponential(units[j].sweep_width_nm * p[2] / rect.width_nm)
            left = np.where(rect.contains(clouds[j].x, clouds[j].y) & clouds[j].ok, left * (1 - pod), left)
    return left


def _fixed(clouds, units, params: dict, skip: int) -> list[list[tuple[float, float]]]:
    return [_rect(clouds[j], units[j], p).corners().tolist() for j, p in params.items() if j != skip]


def _rect(cloud: _Cloud, unit: SearchUnit, p: tuple[float, float, int, float]) -> Rect:
    """Plane rectangle of (centre along, centre across, legs, width) in cloud axes; length = track / legs."""
    cu, cv, legs, width = p
    c, s = math.cos(cloud.theta), math.sin(cloud.theta)
    return Rect(cu * c - cv * s, cu * s + cv * c, cloud.theta, unit.track_nm / legs, width)


class _Objective:
    """POC × POD of a candidate rectangle, in O(1): a summed-area table of the weights on a fine grid in cloud axes.

    A candidate is (centre along, centre across, legs n, width): the length is track / n, because for a
    given number of legs and width (hence POD = 1 − exp(−n·W / width)) a longer rectangle only adds POC.
    Weight is taken as uniform within a grid cell (bilinear cumulative table), which smooths the particle
    counts for the search; the final POC is counted exactly on the particles.
    """

    def __init__(self, cloud: _Cloud, unit: SearchUnit, left: np.ndarray, fixed: list):
        w = np.where(cloud.ok, left, 0.0)
        live = w > 0
        u, v = (cloud.u[live], cloud.v[live]) if live.any() else (np.zeros(1), np.zeros(1))
        self.u0, self.v0 = float(u.min()) - 1e-6, float(v.min()) - 1e-6
        self.du = max(float(u.max()) + 1e-6 - self.u0, 1e-6) / TABLE_CELLS
        self.dv = max(float(v.max()) + 1e-6 - self.v0, 1e-6) / TABLE_CELLS
        hist, _, _ = np.histogram2d(
            u, v, bins=TABLE_CELLS, weights=w[live] if live.any() else np.zeros(1),
            range=[[self.u0, self.u0 + TABLE_CELLS * self.du], [self.v0, self.v0 + TABLE_CELLS * self.dv]],
        )  # fmt: skip
        table = np.zeros((TABLE_CELLS + 1, TABLE_CELLS + 1))
        table[1:, 1:] = hist.cumsum(0).cumsum(1) / max(left.sum(), 1e-300)
        self.table = table.tolist()
        self.unit, self.fixed = unit, fixed
        self.cos, self.sin = math.cos(cloud.theta), math.sin(cloud.theta)

    def _cum(self, u: float, v: float) -> float:
        """Share of the weight with along < u and across < v (bilinear in the table)."""
        x = min(max((u - self.u0) / self.du, 0.0), TABLE_CELLS - 1e-9)
        y = min(max((v - self.v0) / self.dv, 0.0), TABLE_CELLS - 1e-9)
        i, j = int(x), int(y)
        fx, fy = x - i, y - j
        t0, t1 = self.table[i], self.table[i + 1]
        return (t0[j] * (1 - fy) + t0[j + 1] * fy) * (1 - fx) + (t1[j] * (1 - fy) + t1[j + 1] * fy) * fx

    def __call__(self, p: tuple[float, float, int, float], floor: float = -math.inf) -> float:
        """The score, or −1 when infeasible; the overlap test is skipped for scores not above `floor`."""
        cu, cv, legs, width = p
        length = self.unit.track_nm / legs
        if width > length or (legs == 1 and length < 2 * width) or width <= 0:
            return -1.0
        a, b = length / 2, width / 2
        poc = (
            self._cum(cu + a, cv + b)
            - self._cum(cu - a, cv + b)
            - self._cum(cu + a, cv - b)
            + self._cum(cu - a, cv - b)
        )
        score = poc * pod_exponential(self.unit.sweep_width_nm * legs / width)
        if score > floor and self.fixed and any(rects_overlap(self._corners(cu, cv, a, b), f) for f in self.fixed):
            return -1.0
        return score

    def _corners(self, cu: float, cv: float, a: float, b: float) -> list[tuple[float, float]]:
        c, s = self.cos, self.sin
        return [((cu + du) * c - (cv + dv) * s, (cu + du) * s + (cv + dv) * c)
                for du, dv in ((-a, -b), (a, -b), (a, b), (-a, b))]  # fmt: skip


def _optimise(cloud: _Cloud, unit: SearchUnit, left: np.ndarray, fixed: list, start=None):
    f = _Objective(cloud, unit, left, fixed)
    w = np.where(cloud.ok, left, 0.0)
    total = max(w.sum(), 1e-300)
    mu, mv = w @ cloud.u / total, w @ cloud.v / total
    su = max(math.sqrt(max(w @ (cloud.u - mu) ** 2 / total, 0.0)), MIN_SIGMA_NM)
    sv = max(math.sqrt(max(w @ (cloud.v - mv) ** 2 / total, 0.0)), MIN_SIGMA_NM)
    best = start if start is not None else _grid_start(f, mu, mv, su, sv, bool(fixed), unit)
    steps = (0.25 * su, 0.25 * sv, 0.25)
    fine = tuple(s / 4 for s in steps)  # neighbouring leg counts: start from the best point with small steps
    best, score = _compass(f, best, steps)
    for direction in (1, -1):  # walk the number of legs while it helps
        while best[2] + direction >= 1:
            p, s = _compass(f, (best[0], best[1], best[2] + direction, best[3]), fine)
            if s <= score + 1e-12:
                break
            best, score = p, s
    return best


def _grid_start(f: _Objective, mu, mv, su, sv, crowded: bool, unit: SearchUnit):
    """Best of a coarse grid over legs, width and (when other rectangles are in the way) centre."""
    n_lo = max(1, math.floor(unit.track_nm / (8 * su)))
    n_hi = max(n_lo, min(5000, math.ceil(unit.track_nm / (0.1 * min(su, sv)))))
    legs = np.unique(np.round(np.geomspace(n_lo, n_hi, 6 if crowded else 20)).astype(int))
    offsets = np.linspace(-3, 3, 5) if crowded else np.zeros(1)
    widths = np.geomspace(0.1, 8, 5 if crowded else 16) * sv
    best, best_score = (mu, mv, int(legs[0]), float(widths[0])), -math.inf
    for n in legs:
        for width in widths:
            for du in offsets:
                for dv in offsets:
                    p = (
                        mu + du * su,
                        mv + dv * sv,
                        int(n),
                        min(float(width), unit.track_nm / n / (2 if n == 1 else 1)),
                    )
                    score = f(p, best_score)
                    if score > best_score:
                        best, best_score = p, score
    return best


def _compass(f: _Objective, p, steps) -> tuple[tuple[float, float, int, float], float]:
    """Compass search on (centre along, centre across, log width) at fixed legs, halving steps to converge."""
    legs = int(p[2])
    x = np.array([p[0], p[1], math.log(p[3])])
    step = np.array(steps, dtype=float)
    directions = np.vstack([np.eye(3), -np.eye(3)])
    current = f((x[0], x[1], legs, math.exp(x[2])))
    halvings = 0
    while halvings <= 8:
        candidates = x + directions * step
        scores = [f((c[0], c[1], legs, math.exp(c[2])), current) for c in candidates]
        k = int(np.argmax(scores))
        if scores[k] > current + 1e-12:
            x, current = candidates[k], scores[k]
            continue
        halvings += 1
        step = step / 2
    return (float(x[0]), float(x[1]), legs, float(math.exp(x[2]))), current


def _unit_plan(cloud: _Cloud, unit: SearchUnit, p, plane: LocalPlane, weights: np.ndarray, near) -> UnitPlan:
    """Final numbers of one unit: the area is the polygon of rounded corners, so a recount gives the same POC."""
    rect, legs = _rect(cloud, unit, p), p[2]
    lon, lat = plane.to_lonlat(*rect.corners().T)
    corners = np.round(np.column_stack([lon, lat]), 6)
    inside = shapely.contains_xy(shapely.Polygon(corners), cloud.lon, cloud.lat) & cloud.ok
    total = weights.sum()
    c = unit.sweep_width_nm * legs / rect.width_nm
    pattern = parallel_sweep(rect, legs, (float(near[0]), float(near[1])))
    poc = float(weights @ inside / total) if total > 0 else 0.0
    return UnitPlan(unit, rect, corners, pattern, c, pod_exponential(c), poc, inside)
