"""The search plan: every unit's pattern, chosen jointly, and its POD counted along the track it flies.

Allocation (alloc.py): the IAMSAR pooled-effort split and sequential replanning, each refined by coordinate
descent over all units together; sector and track-line searches are chosen among a few fitted layouts.
Every candidate plan is then flown: drift-compensated waypoints at each unit's speed against the particles
moving along their own trajectories (track.py), and the plan with the highest POS counted that way is kept,
so the plan is never worse than the pooled split or sequential replanning by the number it reports.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import numpy as np
import shapely
import shapely.affinity

from driftline.search import alloc
from driftline.search.contract import SearchUnit
from driftline.search.geo import LocalPlane, Rect, positions_at
from driftline.search.pattern import (
    MAX_COMPENSATED_DRIFT,
    Pattern,
    expanding_square_rel,
    fly,
    route_length,
    sector_rel,
    sweep_rel,
    track_line_rel,
)  # fmt: skip
from driftline.search.theory import pod as pod_law
from driftline.search.track import Kinematics, Track, near_track, pod_along
from driftline.trajectory import Trajectories

MIN_SIGMA_NM = alloc.MIN_SIGMA_NM


@dataclass
class UnitPlan:
    unit: SearchUnit
    rect: Rect  # the area's bounding rectangle at mid-search (PS/CS/SS: the area itself); first axis = legs
    corners_lonlat: np.ndarray  # (K, 2) the area's ring at mid-search, rounded to 1e-6°, lon unwrapped near lon0
    pattern: Pattern
    coverage: float  # W / S
    pod: float  # along-track POD of the weight inside the area
    poc: float  # share of the weight inside the area at mid-search
    inside: np.ndarray = field(repr=False)  # (N,) particles inside the area at mid-search
    detection: np.ndarray = field(repr=False, default=None)  # (N,) along-track POD of every particle
    pod_nominal: float = 0.0  # the law's POD at coverage C (frozen-time approximation)
    pos_along_track: float = 0.0  # share of the weight this unit alone detects (anywhere along its track)
    pos_added: float = 0.0  # what this unit adds to the plan's POS given all the others

    @property
    def pos(self) -> float:
        return self.poc * self.pod


@dataclass
class SearchPlan:
    plane: LocalPlane
    units: list[UnitPlan]
    cumulative_pos: float
    seconds: float
    candidates: dict = field(default_factory=dict)  # POS along the tracks of the plans compared
    chosen: str = ""


@dataclass
class _Ctx:
    traj: Trajectories
    units: tuple[SearchUnit, ...]
    weights: np.ndarray
    plane: LocalPlane
    kin: Kinematics
    views: list[alloc.View]
    near: np.ndarray
    route: np.ndarray | None
    cache: dict = field(default_factory=dict)


def plan_search(traj: Trajectories, units: tuple[SearchUnit, ...], lkp: tuple[float, float],
                route: tuple[tuple[float, float], ...] = ()) -> SearchPlan:  # fmt: skip
    """The whole plan on the particles' current weights (after any searches done)."""
    started = time.perf_counter()
    weights = traj.shares()
    plane = _plane(traj, units, weights)
    kin = Kinematics.of(traj, plane)
    views = [_view(kin, u, weights, traj) for u in units]
    near = np.array(plane.to_xy(*lkp), float)
    rxy = np.column_stack(plane.to_xy(*np.array(route).T)) if route else None
    ctx = _Ctx(traj, units, weights, plane, kin, views, near, rxy)
    fixed = {i: _best_fixed(ctx, i, weights) for i, u in enumerate(units) if u.pattern in ("VS", "TSR", "TSN")}
    candidates = _candidates(ctx, fixed)
    scored = {name: _evaluate(ctx, plan) for name, plan in candidates.items() if _safe(ctx, plan)}
    if not scored:  # cannot happen with the pooled split's side-by-side strips; kept as a guard
        scored = {name: _evaluate(ctx, plan) for name, plan in candidates.items()}
    chosen = max(scored, key=lambda k: (scored[k][0], -list(scored).index(k)))
    layouts = candidates[chosen]
    layouts = _try_other_patterns(ctx, layouts, scored[chosen][1])
    total, dets = _evaluate(ctx, layouts)
    plans = [_unit_plan(ctx, i, layouts[i], dets) for i in range(len(units))]
    out = {k: v[0] for k, v in scored.items()}
    return SearchPlan(plane, plans, total, time.perf_counter() - started, out, chosen)


def _plane(traj: Trajectories, units, weights: np.ndarray) -> LocalPlane:
    """A plane centred on the weighted centre of the cloud at the first unit's mid-search (longitudes unwrapped)."""
    lon, lat, ok = positions_at(traj, units[0].mid_time)
    w = weights * ok
    if w.sum() <= 0:
        lon0 = np.nan_to_num(traj.lon[:, 0])
        return LocalPlane.at(float(lon0[0]) if lon0.size else 0.0, float(np.nanmean(traj.lat[:, 0])))
    lat0 = float(w @ np.nan_to_num(lat) / w.sum())
    ref = float(np.nan_to_num(lon)[np.argmax(w)])
    dlon = (np.nan_to_num(lon) - ref + 180) % 360 - 180
    return LocalPlane.at(float((ref + w @ dlon / w.sum() + 180) % 360 - 180), lat0)


def _seconds(traj: Trajectories, when) -> float:
    return float((np.datetime64(when.replace(tzinfo=None), "s") - traj.times[0]) / np.timedelta64(1, "s"))


def _view(kin: Kinematics, u: SearchUnit, weights: np.ndarray, traj: Trajectories) -> alloc.View:
    t0, t1 = _seconds(traj, u.commence_time), _seconds(traj, u.search_end_time)
    x, y, ok = kin.at((t0 + t1) / 2)
    kind = u.pattern if u.pattern in ("PS", "CS", "SS") else "auto"
    view = alloc.View(x, y, ok, u.speed_kn, u.search_hours, u.effort_nm2, u.detection, kind, np.zeros(2), t0, t1)
    view.drift = _drift(kin, view, weights)
    return view


def _drift(kin: Kinematics, view: alloc.View, w: np.ndarray) -> np.ndarray:
    """Mean drift (kn, east/north) of the weight `w` over the unit's search window; 0 when not compensable."""
    xa, ya, oka = kin.at(view.start_s)
    xb, yb, okb = kin.at(view.end_s)
    ww = np.where(oka & okb, w, 0.0)
    hours = (view.end_s - view.start_s) / 3600
    if ww.sum() <= 0 or hours <= 0:
        return np.zeros(2)
    d = np.array([ww @ (xb - xa), ww @ (yb - ya)]) / ww.sum() / hours
    return d if math.hypot(*d) < MAX_COMPENSATED_DRIFT * view.speed_kn else np.zeros(2)


def _candidates(ctx: _Ctx, fixed: dict) -> dict[str, list]:
    """Pooled split and sequential replanning, raw and jointly refined (layouts per unit)."""
    opt = [i for i in range(len(ctx.units)) if i not in fixed]
    if not opt:
        return {"fixed": [fixed[i][0] for i in range(len(ctx.units))]}
    views = [ctx.views[i] for i in opt]
    left = ctx.weights * np.prod([1 - fixed[i][1] for i in fixed], axis=0) if fixed else ctx.weights
    ref = max(range(len(opt)), key=lambda k: (views[k].effort_nm2, -k))
    order = sorted(range(len(opt)), key=lambda k: (views[k].start_s, k))
    starts = {"pooled split": alloc.pooled_split(views, left, ref), "sequential": alloc.sequential(views, left, order)}
    frozen = {name: alloc.frozen_pos(views, left, params) for name, params in starts.items()}
    out = {}
    for name, params in starts.items():
        out[name] = _integer_legs(views, left, params)
        if frozen[name] >= 0.9 * max(frozen.values()):  # refining a start far behind the other is wasted time
            out[f"joint from {name}"] = _integer_legs(views, left, alloc.refine(views, left, params, {}))
    result = {}
    for name, params in out.items():
        layout = [fixed[i][0] if i in fixed else None for i in range(len(ctx.units))]
        for k, i in enumerate(opt):
            layout[i] = ("SS" if ctx.views[i].kind == "SS" else "rect", params[k])
        result[name] = layout
    return result


def _safe(ctx: _Ctx, layouts: list) -> bool:
    """No two units searching at the same time have overlapping areas (moved with the cloud to the same time)."""
    areas = [shapely.Polygon(_pattern(ctx, i, lay)[1]) for i, lay in enumerate(layouts)]
    for i in range(len(layouts)):
        for j in range(i + 1, len(layouts)):
            if alloc.overlap_in_time(ctx.views[i], ctx.views[j]):
                shift = alloc._shift(ctx.views[j], ctx.views[i], ctx.weights)
                other = shapely.affinity.translate(areas[j], *shift)
                if areas[i].intersection(other).area > 1e-6 * min(areas[i].area, other.area):
                    return False
    return True


def _integer_legs(views, left, params):
    """Whole legs: the better of the two neighbouring leg counts for each unit, clear of the units searching at the
    same time (moved sideways when both counts would overlap one)."""
    params = [p.copy() for p in params]
    for i, v in enumerate(views):
        others = [alloc.detection(views[j], params[j]) for j in range(len(views)) if j != i]
        li = np.where(v.ok, left * (np.prod([1 - d for d in others], axis=0) if others else 1.0), 0.0)
        blocked = [alloc._blocked(v, views[j], params[j], left) for j in range(len(views))
                   if j != i and alloc.overlap_in_time(v, views[j])]  # fmt: skip
        n = math.exp(params[i][4])
        options = []
        for m in sorted({max(1, math.floor(n)), max(1, math.ceil(n))}):
            p = params[i].copy()
            p[4] = math.log(m)
            clear = not (blocked and alloc._overlaps(v, p, blocked))
            options.append((clear, float(alloc.scores(v, p[None, :], v.pooled(li))[0]), -m, p))
        best = max(options, key=lambda o: o[:3])
        p = best[3]
        if not best[0]:
            _, _, _, su, sv = alloc.moments(v.x, v.y, li)
            p = alloc._clear(v, p, li, blocked, math.sqrt(su * sv))
        params[i] = p
    return params


def _best_fixed(ctx: _Ctx, i: int, left: np.ndarray):
    """Sector or track-line search: the fitted layout with the highest along-track POS on `left`."""
    best = None
    for layout in _fixed_layouts(ctx, i, left):
        det = _detect(ctx, i, layout)
        score = float(left @ det)
        if best is None or score > best[2] + 1e-12:
            best = (layout, det, score)
    return best[0], best[1]


def _fixed_layouts(ctx: _Ctx, i: int, left: np.ndarray) -> list:
    u, v = ctx.units[i], ctx.views[i]
    w = np.where(v.ok, left, 0.0)
    mx, my, *_ = alloc.moments(v.x, v.y, w)
    if u.pattern == "VS":
        return [("VS", np.array([mx, my]), k) for k in (1, 2, 3)]
    passes = 1 if u.pattern == "TSN" else 2
    length = route_length(ctx.route)
    cover = min(length, v.track(0.0)[0] / passes)
    return [(u.pattern, f * max(length - cover, 0.0), cover) for f in (0.0, 0.25, 0.5, 0.75, 1.0)]


def _try_other_patterns(ctx: _Ctx, layouts: list, dets: list) -> list:
    """For units with pattern "auto": an expanding square or sector search where it beats the chosen sweep."""
    layouts = list(layouts)
    for i, u in enumerate(ctx.units):
        if u.pattern != "auto":
            continue
        others = [dets[j] for j in range(len(layouts)) if j != i]
        left = ctx.weights * (np.prod([1 - d for d in others], axis=0) if others else 1.0)
        current = float(left @ dets[i])
        for alt in _auto_alternatives(ctx, i, left):
            det = _detect(ctx, i, alt)
            if float(left @ det) > current * 1.005 + 1e-12:
                layouts[i], dets[i], current = alt, det, float(left @ det)
    return layouts


def _auto_alternatives(ctx: _Ctx, i: int, left: np.ndarray) -> list:
    v = ctx.views[i]
    w = np.where(v.ok, left, 0.0)
    mx, my, th, su, sv = alloc.moments(v.x, v.y, w)
    spread = math.sqrt(su * sv)
    if v.effort_nm2 < 2 * math.pi * (3 * spread) ** 2:
        return []  # not a small datum (IAMSAR 5.3: SS and VS when the datum is known within a small area)
    out = [("VS", np.array([mx, my]), 1)]
    ss = dataclasses.replace(v, kind="SS")
    p = alloc.single(ss, left)
    out.append(("SS", p))
    return out


def _pattern(ctx: _Ctx, i: int, layout) -> tuple[Pattern, np.ndarray, Rect]:
    """The layout's pattern flown by unit i, its area ring at mid-search (plane nm) and bounding rectangle."""
    u, v = ctx.units[i], ctx.views[i]
    half = v.hours * 3600 / 2
    kind = layout[0]
    if kind == "rect":
        return _sweep(ctx, i, layout[1])
    if kind == "SS":
        return _square(ctx, i, layout[1])
    if kind == "VS":
        centre, k = layout[1], layout[2]
        radius = _fit_track(lambda r: sector_rel(centre, math.pi / 2, r, k), v, v.track(0.0)[0] / (9 * k))
        rel = sector_rel(centre, math.pi / 2, radius, k)
        pat = fly("VS", rel, 9 * k, radius, u.speed_kn, v.drift, half)
        ang = np.linspace(0, 2 * math.pi, 7)[:-1] + math.pi / 2
        ring = centre + radius * np.column_stack([np.cos(ang), np.sin(ang)])
        return pat, ring, Rect(centre[0], centre[1], 0.0, 2 * radius, 2 * radius)
    return _track_line(ctx, i, layout)


def _fit_track(build, v: alloc.View, size: float) -> float:
    """Largest `size` (≤ the first guess) whose relative path the unit flies within its search hours."""
    for _ in range(6):
        rel = build(size)
        pat = fly("x", rel, 1, 1.0, v.speed_kn, v.drift, 0.0)
        hours = pat.hours
        if hours <= v.hours * (1 + 1e-9):
            return size
        size *= v.hours / hours * (1 - 1e-6)
    return size


def _sweep(ctx: _Ctx, i: int, p: np.ndarray):
    u, v = ctx.units[i], ctx.views[i]
    cx, cy, th, length, width, n = alloc.rect_of(v, p)
    legs = max(1, int(round(n)))
    near = ctx.near if length >= width else _dense_end(v, ctx.weights, cx, cy, th, length, width)
    kind = "PS" if v.kind == "PS" or (v.kind == "auto" and length >= width) else "CS"

    def build(scale):
        return sweep_rel(Rect(cx, cy, th, length * scale, width), legs, tuple(near))[0]

    scale = _fit_track(build, v, 1.0)
    rect = Rect(cx, cy, th, length * scale, width)
    rel, creep = sweep_rel(rect, legs, tuple(near))
    pat = fly(kind, rel, legs, width / legs, u.speed_kn, v.drift, v.hours * 1800, _true(creep))
    return pat, rect.corners(), rect


def _square(ctx: _Ctx, i: int, p: np.ndarray):
    u, v = ctx.units[i], ctx.views[i]
    cx, cy, th, length, _, n = alloc.rect_of(v, p)
    spacing = length / max(n, 1.0)
    budget = 0.5 * (v.track(th)[0] + v.track(th + math.pi / 2)[0])
    centre = np.array([cx, cy])
    budget = _fit_track(lambda b: expanding_square_rel(centre, th, spacing, b), v, budget)
    rel = expanding_square_rel(centre, th, spacing, budget)
    pat = fly("SS", rel, len(rel) - 1, spacing, u.speed_kn, v.drift, v.hours * 1800)
    lo, hi = rel.min(axis=0) - spacing / 2, rel.max(axis=0) + spacing / 2
    c = Rect((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, 0.0, hi[0] - lo[0], hi[1] - lo[1])
    if abs(math.sin(2 * th)) > 1e-9:  # a turned square: its own frame
        uu, vv = Rect(cx, cy, th, 1, 1).local(rel[:, 0], rel[:, 1])
        a0, a1, b0, b1 = uu.min() - spacing / 2, uu.max() + spacing / 2, vv.min() - spacing / 2, vv.max() + spacing / 2
        mx, my = Rect(cx, cy, th, 1, 1).to_plane((a0 + a1) / 2, (b0 + b1) / 2)
        c = Rect(float(mx), float(my), th, a1 - a0, b1 - b0)
    return pat, c.corners(), c


def _track_line(ctx: _Ctx, i: int, layout):
    u, v = ctx.units[i], ctx.views[i]
    kind, start, cover = layout
    w = np.where(v.ok & ctx.kin.ok[:, 0], ctx.weights, 0.0)
    x0, y0, _ = ctx.kin.at(0.0)
    shift = np.array([w @ (v.x - x0), w @ (v.y - y0)]) / max(w.sum(), 1e-300) if w.sum() > 0 else np.zeros(2)
    route = ctx.route + shift  # the route moved with the cloud to mid-search (the datum line)
    offsets = [0.0] if kind == "TSN" else [u.sweep_width_nm / 2, -u.sweep_width_nm / 2]
    cover = _fit_track(lambda c: track_line_rel(route, start, c, offsets), v, cover)
    rel = track_line_rel(route, start, cover, offsets)
    pat = fly(kind, rel, len(offsets), u.sweep_width_nm, u.speed_kn, v.drift, v.hours * 1800)
    half = u.sweep_width_nm * len(offsets) / 2
    poly = shapely.LineString(track_line_rel(route, start, cover, [0.0])).buffer(half, cap_style="flat")
    ring = np.asarray(poly.exterior.coords)[:-1] if not poly.is_empty else rel[:3]
    lo, hi = ring.min(axis=0), ring.max(axis=0)
    return pat, ring, Rect((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, 0.0, hi[0] - lo[0], hi[1] - lo[1])


def _dense_end(v: alloc.View, w: np.ndarray, cx, cy, th, length, width) -> np.ndarray:
    """The corner on the side of the creep axis holding more weight (a creeping line starts there: IAMSAR 5.3.7)."""
    r = Rect(cx, cy, th, length, width)
    uu, vv = r.local(v.x, v.y)
    inside = (np.abs(uu) <= length / 2) & (np.abs(vv) <= width / 2) & v.ok
    side = 1.0 if w[inside & (vv > 0)].sum() >= w[inside & (vv <= 0)].sum() else -1.0
    return np.array(r.to_plane(-length / 2, side * width / 2), float)


def _true(theta: float) -> float:
    return round((90.0 - math.degrees(theta)) % 360.0, 1)


def _track(ctx: _Ctx, i: int, pat: Pattern) -> Track:
    u, v = ctx.units[i], ctx.views[i]
    smear = max(u.sweep_width_nm, pat.spacing_nm if pat.kind in ("PS", "CS", "SS") else 0.0) / 2
    return Track(pat.waypoints, v.start_s + pat.times_s, u.sweep_width_nm, u.detection, smear)


def _detect(ctx: _Ctx, i: int, layout) -> np.ndarray:
    """(N,) along-track POD of unit i flying this layout (cached)."""
    key = (i, layout[0], tuple(np.round(np.atleast_1d(np.asarray(layout[1], float)), 9)), *layout[2:])
    if key not in ctx.cache:
        pat = _pattern(ctx, i, layout)[0]
        track = _track(ctx, i, pat)
        w = track.sweep_width_nm
        margin = 25 * w if track.law == "inverse_cube" else 5 * max(track.smear_nm or w / 2, w / 2)
        ctx.cache[key] = pod_along(track, ctx.kin, near_track(track, ctx.kin, margin))
    return ctx.cache[key]


def _evaluate(ctx: _Ctx, layouts: list) -> tuple[float, list[np.ndarray]]:
    dets = [_detect(ctx, i, lay) for i, lay in enumerate(layouts)]
    left = ctx.weights * np.prod([1 - d for d in dets], axis=0)
    total = float(ctx.weights.sum())
    return (1.0 - float(left.sum()) / total if total > 0 else 0.0), dets


def _unit_plan(ctx: _Ctx, i: int, layout, dets: list[np.ndarray]) -> UnitPlan:
    """Final numbers of one unit: the area is the polygon of rounded corners, so a recount gives the same POC."""
    u, v = ctx.units[i], ctx.views[i]
    pat, ring, rect = _pattern(ctx, i, layout)
    lon, lat = ctx.plane.to_lonlat_unwrapped(ring[:, 0], ring[:, 1])
    corners = np.round(np.column_stack([lon, lat]), 6)
    cx, cy = ctx.plane.to_xy_unwrapped(corners[:, 0], corners[:, 1])
    inside = shapely.contains_xy(shapely.Polygon(np.column_stack([cx, cy])), v.x, v.y) & v.ok
    w, total = ctx.weights, max(float(ctx.weights.sum()), 1e-300)
    det = dets[i]
    poc = float(w @ inside) / total
    found_inside = float((w * inside) @ det) / total
    others = np.prod([1 - dets[j] for j in range(len(dets)) if j != i], axis=0) if len(dets) > 1 else 1.0
    coverage = u.sweep_width_nm / pat.spacing_nm if pat.kind in ("PS", "CS", "SS") else float("nan")
    nominal = pod_law(u.detection, coverage) if math.isfinite(coverage) else float("nan")
    return UnitPlan(
        u,
        rect,
        corners,
        pat,
        coverage,
        found_inside / poc if poc > 0 else 0.0,
        poc,
        inside,
        det,
        nominal,
        float(w @ det) / total,
        float((w * others) @ det) / total,
    )


def drift_speed_kn(p: UnitPlan) -> float:
    return math.hypot(*p.pattern.drift_kn)


__all__ = ["SearchPlan", "UnitPlan", "plan_search"]
