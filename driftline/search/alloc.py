"""Joint effort allocation on particles: every unit's rectangle (centre, orientation, width, legs) optimised together.

Theory (Stone 1975 ch. 2; Charnes & Cooper 1958; IAMSAR Vol. II 4.6-4.7): for a concave detection function the
optimal plan spends effort where p·b'(c) is highest. Practical plans are rectangles swept at uniform
coverage, so we optimise over rectangles:

1. IAMSAR pooled effort: the one rectangle that maximises POC × POD(Z_total / A) for all units' effort
   together, divided into sub-areas proportional to each unit's effort (the "pooled split").
2. Sequential: each unit in commence order on the weight the earlier ones leave (replanning after each).
3. Coordinate descent from both: each unit in turn re-optimised (compass search over centre, orientation,
   width and leg count) on the weight all the others leave; overlap is allowed between units whose search
   windows do not overlap in time; detections combine per particle as Π(1 − POD_i). Every step can only
   raise the plan's POS. Deterministic (no random draws).

Scoring a rectangle here is the frozen-time rectangle formula in the frame drifting with the cloud (POC at
mid-search × POD(C)); the plan reports and chooses between candidates by detection along the flown tracks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely

from driftline.search.geo import rects_overlap
from driftline.search.pattern import leg_speed
from driftline.search.theory import max_coverage, pod

MIN_SIGMA_NM = 0.05
GRID_CELLS = 72  # particles are pooled per cell (per axis) while optimising: cells of ~σ/12 for a normal cloud
HALVINGS = 7
ROUNDS = 3
DIRS5 = np.vstack([np.eye(5), -np.eye(5)])


@dataclass
class View:
    """One unit's view of the cloud: positions (plane nm) at its mid-search time and its effort."""

    x: np.ndarray
    y: np.ndarray
    ok: np.ndarray
    speed_kn: float
    hours: float
    effort_nm2: float
    law: str
    kind: str  # "auto", "PS", "CS" or "SS"
    drift: np.ndarray  # (2,) kn the pattern compensates
    start_s: float  # search window in seconds from the cloud's t0
    end_s: float

    def __post_init__(self):
        """Cells of a GRID_CELLS² grid over the cloud; each cell is represented by the mean of its particles."""
        good = self.ok & np.isfinite(self.x) & np.isfinite(self.y)
        if not good.any():
            self.cell, self.px, self.py = np.zeros(len(self.x), int), np.zeros(1), np.zeros(1)
            return
        lo = np.array([self.x[good].min(), self.y[good].min()])
        size = np.maximum(np.array([self.x[good].max(), self.y[good].max()]) - lo, 1e-9) / GRID_CELLS * (1 + 1e-9)
        i = np.clip(((self.x - lo[0]) / size[0]).astype(int), 0, GRID_CELLS - 1)
        j = np.clip(((self.y - lo[1]) / size[1]).astype(int), 0, GRID_CELLS - 1)
        raw = np.where(good, i * GRID_CELLS + j, -1)
        used, cell = np.unique(raw[good], return_inverse=True)
        self.cell = np.full(len(self.x), len(used))
        self.cell[good] = cell
        counts = np.bincount(cell, minlength=len(used))
        self.px = np.bincount(cell, self.x[good], len(used)) / counts
        self.py = np.bincount(cell, self.y[good], len(used)) / counts

    def pooled(self, left: np.ndarray) -> np.ndarray:
        """The weights `left` summed per cell (particles not present dropped)."""
        return np.bincount(self.cell, np.where(self.ok, left, 0.0), len(self.px) + 1)[:-1]

    def track(self, theta) -> np.ndarray:
        """Relative track length (nm) the unit flies in the drifting frame with legs along theta."""
        th = np.atleast_1d(np.asarray(theta, np.float64))
        if not self.drift.any():
            return np.full(th.shape, self.speed_kn * self.hours)
        return leg_speed(self.speed_kn, self.drift, th) * self.hours


def rect_of(view: View, p: np.ndarray) -> tuple[float, float, float, float, float, float]:
    """(cx, cy, theta, length, width, legs) of parameters p = (cx, cy, theta, log width, log legs)."""
    n = math.exp(p[4])
    track = float(view.track(p[2])[0])
    if view.kind == "SS":
        return float(p[0]), float(p[1]), float(p[2]), track / n, track / n, n
    width = math.exp(p[3])
    return float(p[0]), float(p[1]), float(p[2]), (track + width / n) / n, width, n


def corners(cx: float, cy: float, theta: float, length: float, width: float) -> list[tuple[float, float]]:
    c, s, a, b = math.cos(theta), math.sin(theta), length / 2, width / 2
    return [(cx + u * c - v * s, cy + u * s + v * c) for u, v in ((-a, -b), (a, -b), (a, b), (-a, b))]


def scores(view: View, P: np.ndarray, left: np.ndarray) -> np.ndarray:
    """POC × POD of K candidate rectangles (rows of P) on the weights `left`; −1 where infeasible."""
    theta = P[:, 2]
    n = np.exp(P[:, 4])
    track = view.track(theta)
    if view.kind == "SS":
        length = width = track / n
    else:  # n legs of L − S plus n − 1 crossings of S use the whole track: L = (track + S) / n
        width = np.exp(P[:, 3])
        length = (track + width / n) / n
    spacing = width / n
    feasible = (n >= 1 - 1e-9) & (length - spacing >= spacing)
    feasible &= view.effort_nm2 / (length * width) <= max_coverage(view.law) * (1 + 1e-9)  # no saturated sliver
    if view.kind == "PS":
        feasible &= length >= width
    elif view.kind == "CS":
        feasible &= length <= width
    c, s = np.cos(theta)[:, None], np.sin(theta)[:, None]
    dx, dy = view.px[None, :] - P[:, 0:1], view.py[None, :] - P[:, 1:2]
    u, v = dx * c + dy * s, dy * c - dx * s
    inside = (np.abs(u) <= length[:, None] / 2) & (np.abs(v) <= width[:, None] / 2)
    poc = inside.astype(np.float64) @ left
    out = poc * pod(view.law, view.effort_nm2 / (length * width))
    return np.where(feasible, out, -1.0)


def compass(view: View, p: np.ndarray, left: np.ndarray, blocked: list, scale: float) -> tuple[np.ndarray, float]:
    """Compass search (Torczon 1997) from p: ±steps on each parameter, halving when nothing improves.

    `left` per particle; `blocked`: corner lists of rectangles this one may not overlap (same search time).
    """
    left = view.pooled(left)
    step = np.array([0.25 * scale, 0.25 * scale, math.radians(15), 0.25, 0.25])
    if view.kind == "SS":
        step[3] = 0.0
    best = float(scores(view, p[None, :], left)[0])
    if best >= 0 and blocked and _overlaps(view, p, blocked):
        best = -0.5  # a start that overlaps: any feasible move that clears it is better
    halvings = 0
    while halvings <= HALVINGS:
        cands = p + DIRS5 * step
        s = scores(view, cands, left)
        moved = False
        for k in np.argsort(-s, kind="stable"):
            if s[k] <= best + 1e-13:
                break
            if blocked and _overlaps(view, cands[k], blocked):
                continue
            p, best, moved = cands[k], float(s[k]), True
            break
        if not moved:
            step = step / 2
            halvings += 1
    return p, best


def _overlaps(view: View, p: np.ndarray, blocked: list) -> bool:
    cx, cy, th, length, width, _ = rect_of(view, p)
    mine = corners(cx, cy, th, length, width)
    return any(rects_overlap(mine, other) for other in blocked)


def detection(view: View, p: np.ndarray) -> np.ndarray:
    """(N,) frozen-time POD of the rectangle p for every particle (POD inside, 0 outside)."""
    cx, cy, th, length, width, n = rect_of(view, p)
    c, s = math.cos(th), math.sin(th)
    dx, dy = view.x - cx, view.y - cy
    inside = (np.abs(dx * c + dy * s) <= length / 2) & (np.abs(dy * c - dx * s) <= width / 2) & view.ok
    return np.where(inside, pod(view.law, view.effort_nm2 / (length * width)), 0.0)


def moments(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float, float, float, float]:
    """Weighted centre, principal direction and the standard deviations along / across it."""
    total = max(float(w.sum()), 1e-300)
    mx, my = float(w @ x) / total, float(w @ y) / total
    dx, dy = x - mx, y - my
    sxx, syy, sxy = float(w @ (dx * dx)) / total, float(w @ (dy * dy)) / total, float(w @ (dx * dy)) / total
    theta = 0.5 * math.atan2(2 * sxy, sxx - syy)
    c, s = math.cos(theta), math.sin(theta)
    su = math.sqrt(max(sxx * c * c + 2 * sxy * c * s + syy * s * s, 0.0))
    sv = math.sqrt(max(sxx * s * s - 2 * sxy * c * s + syy * c * c, 0.0))
    return mx, my, theta, max(su, MIN_SIGMA_NM), max(sv, MIN_SIGMA_NM)


def two_parts(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> list[np.ndarray] | None:
    """Split the cloud in two (weighted 2-means from the principal axis ends) when the parts stand apart."""
    mx, my, th, su, _ = moments(x, y, w)
    c, s = math.cos(th), math.sin(th)
    centres = np.array([[mx - su * c, my - su * s], [mx + su * c, my + su * s]])
    for _ in range(20):
        d = (x[:, None] - centres[None, :, 0]) ** 2 + (y[:, None] - centres[None, :, 1]) ** 2
        lab = np.argmin(d, axis=1)
        for k in range(2):
            wk = w * (lab == k)
            if wk.sum() > 0:
                centres[k] = (wk @ x / wk.sum(), wk @ y / wk.sum())
    masks = [lab == 0, lab == 1]
    if min(float(w[m].sum()) for m in masks) < 0.1 * float(w.sum()):
        return None
    spread = [moments(x[m], y[m], w[m]) for m in masks]
    gap = math.hypot(*(centres[1] - centres[0]))
    return masks if gap > 1.5 * (spread[0][3] + spread[1][3]) else None


def area_scores(x, y, left, law: str, effort: float, Q: np.ndarray) -> np.ndarray:
    """POC × POD(Z / A) of K rectangles Q = (cx, cy, theta, log length, log width) swept with effort Z."""
    length, width = _unsaturated(Q, law, effort)
    c, s = np.cos(Q[:, 2])[:, None], np.sin(Q[:, 2])[:, None]
    dx, dy = x[None, :] - Q[:, 0:1], y[None, :] - Q[:, 1:2]
    inside = (np.abs(dx * c + dy * s) <= length[:, None] / 2) & (np.abs(dy * c - dx * s) <= width[:, None] / 2)
    return (inside.astype(np.float64) @ left) * pod(law, effort / (length * width))


def _unsaturated(Q: np.ndarray, law: str, effort: float) -> tuple[np.ndarray, np.ndarray]:
    """Sides of the rectangles Q, scaled up (same shape) where the effort would exceed theory.max_coverage."""
    length, width = np.exp(Q[:, 3]), np.exp(Q[:, 4])
    grow = np.sqrt(np.maximum(1.0, effort / (length * width) / max_coverage(law)))
    return length * grow, width * grow


def best_area(view: View, left: np.ndarray, effort: float) -> np.ndarray:
    """IAMSAR's optimal search area for effort Z on these weights: the best rectangle swept at uniform coverage.

    Starts on the whole cloud and on each part of a split cloud, at several sizes; compass search from the best.
    """
    x, y, left, law = view.px, view.py, view.pooled(left), view.law
    groups = [np.ones_like(left, bool)] + (two_parts(x, y, left) or [])
    starts = []
    for g in groups:
        mx, my, th, su, sv = moments(x[g], y[g], left[g])
        for k in (0.5, 1.0, 1.5, 2.0, 3.0):
            starts.append((mx, my, th, math.log(2 * k * su), math.log(2 * k * sv)))
    Q = np.array(starts)
    sc = area_scores(x, y, left, law, effort, Q)
    q = Q[int(np.argmax(sc))]
    _, _, _, su, sv = moments(x, y, left)
    step = np.array([0.25 * su, 0.25 * sv, math.radians(15), 0.25, 0.25])
    best = float(sc.max())
    halvings = 0
    while halvings <= HALVINGS:
        cands = q + DIRS5 * step
        s = area_scores(x, y, left, law, effort, cands)
        k = int(np.argmax(s))
        if s[k] > best + 1e-13:
            q, best = cands[k], float(s[k])
        else:
            step, halvings = step / 2, halvings + 1
    length, width = _unsaturated(q[None, :], law, effort)
    return np.array([q[0], q[1], q[2], math.log(float(length[0])), math.log(float(width[0]))])


def unit_params(view: View, cx: float, cy: float, theta: float, a: float, b: float) -> np.ndarray:
    """Unit parameters for a sub-area a (along theta) × b: legs along its long side (PS, auto) or short side (CS),
    as many legs as the track fills; an expanding square gets the square of the same area."""
    if view.kind == "SS":
        side = math.sqrt(max(a * b, 1e-12))
        return np.array(
            [cx, cy, theta % math.pi, math.log(side), math.log(max(1.0, float(view.track(theta)[0]) / side))]
        )
    if (a < b) == (view.kind != "CS"):
        theta, a, b = theta + math.pi / 2, b, a
    track = float(view.track(theta)[0])
    n = max(1.0, round(track / max(a, 1e-9)))
    while n > 1 and (track + b / n) / n < 2 * b / n:  # each leg at least one spacing long
        n -= 1
    b = min(b, track / 1.5) if n == 1 else b  # a single leg of L − S ≥ S
    cap = max_coverage(view.law) * (1 - 1e-9)
    while n > 1 and view.effort_nm2 / ((track + b / n) / n * b) > cap:  # fewer legs, wider spacing
        n -= 1
    if view.effort_nm2 / ((track + b / n) / n * b) > cap:  # one leg: widen it
        b = min(track / 1.5, view.effort_nm2 / cap / track * 1.0001)
    return np.array([cx, cy, theta % math.pi, math.log(max(b, 1e-6)), math.log(n)])


def pooled_split(views: list[View], weights: np.ndarray, ref: int) -> list[np.ndarray]:
    """IAMSAR pooled effort: optimal area for the total effort on the reference unit's cloud, cut into strips
    across its long side in proportion to each unit's effort, each strip moved with the cloud to its unit's time."""
    v0 = views[ref]
    total = sum(v.effort_nm2 for v in views)
    q = best_area(v0, weights, total)
    cx, cy, th, length, width = q[0], q[1], q[2], math.exp(q[3]), math.exp(q[4])
    c, s = math.cos(th), math.sin(th)
    strips = [unit_params(v, 0.0, 0.0, th, length * v.effort_nm2 / total, width) for v in views]
    extents = [_extent_along(v, p, th) for v, p in zip(views, strips)]  # whole legs change a strip's length
    start, out = -sum(extents) / 2, []
    for v, p, e in zip(views, strips, extents):
        mid = start + e / 2
        start += e
        shift = _shift(v0, v, weights)
        p[0], p[1] = cx + mid * c + shift[0], cy + mid * s + shift[1]
        out.append(p)
    return out


def _extent_along(view: View, p: np.ndarray, theta: float) -> float:
    """Extent of the unit's rectangle along direction theta."""
    _, _, th, length, width, _ = rect_of(view, p)
    d = th - theta
    return abs(length * math.cos(d)) + abs(width * math.sin(d))


def _shift(v0: View, v: View, weights: np.ndarray) -> np.ndarray:
    """Mean displacement of the cloud from v0's mid-search time to v's."""
    ok = v0.ok & v.ok
    w = np.where(ok, weights, 0.0)
    if w.sum() <= 0:
        return np.zeros(2)
    return np.array([w @ (v.x - v0.x), w @ (v.y - v0.y)]) / w.sum()


def single(view: View, left: np.ndarray, blocked: list | None = None) -> np.ndarray:
    """One unit alone on `left`: its optimal area as a sub-area, then refined as a unit (clear of `blocked`)."""
    w = np.where(view.ok, left, 0.0)
    free = w.copy()
    for corners_ in blocked or []:  # another unit searches there at the same time: not this unit's weight
        free[shapely.contains_xy(shapely.Polygon(corners_), view.x, view.y)] = 0.0
    q = best_area(view, free, view.effort_nm2)
    p = unit_params(view, q[0], q[1], q[2], math.exp(q[3]), math.exp(q[4]))
    _, _, _, su, sv = moments(view.x, view.y, w)
    if blocked:
        p = _clear(view, p, free, blocked, math.sqrt(su * sv))
    return compass(view, p, w, blocked or [], math.sqrt(su * sv))[0]


def _clear(view: View, p: np.ndarray, left: np.ndarray, blocked: list, scale: float) -> np.ndarray:
    """The best of the start moved sideways (8 directions, growing distances) and shrunk until it overlaps nothing."""
    if not _overlaps(view, p, blocked):
        return p
    pooled = view.pooled(left)
    options = []
    for dist in (0.5, 1, 1.5, 2, 3, 4, 6, 8):
        for ang in np.arange(8) * math.pi / 4:
            for shrink in (0.0, -0.5, -1.0):
                q = p + np.array([dist * scale * math.cos(ang), dist * scale * math.sin(ang), 0, shrink, 0])
                if not _overlaps(view, q, blocked):
                    options.append((float(scores(view, q[None, :], pooled)[0]), q))
        if options and max(o[0] for o in options) >= 0:  # a feasible clear place (a shrunk one may saturate)
            break
    return max(options, key=lambda o: o[0])[1] if options else p


def sequential(views: list[View], weights: np.ndarray, order: list[int]) -> list[np.ndarray]:
    """Each unit in `order` planned alone on the weight the earlier ones leave (replanning after each search);
    units searching at the same time keep clear of each other's areas."""
    left = weights.copy()
    out: dict[int, np.ndarray] = {}
    for i in order:
        blocked = [_blocked(views[i], views[j], out[j], weights) for j in out if overlap_in_time(views[i], views[j])]
        out[i] = single(views[i], left, blocked)
        left = left * (1 - detection(views[i], out[i]))
    return [out[i] for i in range(len(views))]


def frozen_pos(views: list[View], weights: np.ndarray, params: list) -> float:
    """The plan's POS by the frozen-time rectangle formula (the optimiser's own measure)."""
    left = weights * np.prod([1 - detection(v, p) for v, p in zip(views, params)], axis=0)
    return 1.0 - float(left.sum()) / max(float(weights.sum()), 1e-300)


def overlap_in_time(a: View, b: View) -> bool:
    return a.start_s < b.end_s and b.start_s < a.end_s


def refine(views: list[View], weights: np.ndarray, params: list, fixed: dict[int, np.ndarray], rounds: int = ROUNDS):
    """Coordinate descent: each optimisable unit in turn on what all the others leave; stops when a round gains
    nothing. `fixed`: detection vectors of units not optimised here (sector and track-line searches)."""
    params = [None if p is None else p.copy() for p in params]
    det = [fixed[i] if i in fixed else detection(v, params[i]) for i, v in enumerate(views)]
    for _ in range(rounds):
        gained = 0.0
        for i, v in enumerate(views):
            if i in fixed:
                continue
            left = weights * np.prod([1 - det[j] for j in range(len(views)) if j != i], axis=0) if len(views) > 1 \
                else weights.copy()  # fmt: skip
            left = np.where(v.ok, left, 0.0)
            blocked = [_blocked(v, views[j], params[j], weights) for j in range(len(views))
                       if j != i and j not in fixed and overlap_in_time(v, views[j])]  # fmt: skip
            before = float(left @ det[i])
            _, _, _, su, sv = moments(v.x, v.y, np.where(det[i] > 0, left, 0.0) if det[i].any() else left)
            p, score = compass(v, params[i], left, blocked, math.sqrt(su * sv))
            if score > before + 1e-12:
                params[i], det[i] = p, detection(v, p)
                gained += score - before
        if gained < 1e-6:
            break
    return params


def _blocked(v: View, other: View, p: np.ndarray, weights: np.ndarray) -> list[tuple[float, float]]:
    """The other unit's rectangle moved with the cloud to v's mid-search time."""
    cx, cy, th, length, width, _ = rect_of(other, p)
    shift = _shift(other, v, weights)
    return corners(cx + shift[0], cy + shift[1], th, length, width)
