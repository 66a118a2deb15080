"""IAMSAR search patterns (Manual Vol. II ch. 5 / App. K): parallel sweep PS, creeping line CS, expanding square SS,
sector search VS, track line TSR / TSN; laid out in the frame drifting with the object, then flown over ground.

A pattern is first built as a path relative to the drifting cloud at the unit's mid-search time (`rel`). It is
flown drift-compensated: every waypoint is where that relative point is when the unit gets there (the frame
moves with the mean drift d of the particles the unit searches, so a parallel sweep stays a parallel sweep
on the moving object, as IAMSAR's drift-corrected datum). The unit holds its speed V over ground: on a
relative leg of direction e it makes good V_rel = −d·e + √(V² − (d×e)²) (needs V > |d|).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from driftline.search.geo import Rect

PATTERNS = ("PS", "CS", "SS", "VS", "TSR", "TSN")
NAMES = {
    "PS": "parallel sweep (PS)", "CS": "creeping line (CS)", "SS": "expanding square (SS)",
    "VS": "sector search (VS)", "TSR": "track line, return (TSR)", "TSN": "track line, non-return (TSN)",
}  # fmt: skip
MAX_COMPENSATED_DRIFT = 0.9  # drift compensation only while the drift is below 90 % of the unit's speed


def legs_for(length_nm: float, width_nm: float, track_nm: float) -> int:
    """Number of legs along the long side: as many as the track allows with full-length legs (n·L ≤ track).

    0 when the rectangle cannot hold one leg of at least one track spacing inside its end margins.
    """
    if length_nm <= 0 or width_nm <= 0:
        return 0
    n = int(math.floor(track_nm / length_nm * (1 + 1e-12)))
    if n == 1 and length_nm < 2 * width_nm:  # a single leg of L − S must be at least S long
        return 0
    return max(n, 0)


@dataclass(frozen=True)
class Pattern:
    """A pattern: relative waypoints (plane nm, frame of the cloud at mid-search), and once flown, over ground."""

    kind: str
    waypoints: np.ndarray  # (K, 2) over ground (plane nm), in order from the commence search point
    legs: int
    spacing_nm: float
    rel: np.ndarray | None = None  # (K, 2) relative to the drifting frame
    times_s: np.ndarray | None = None  # (K,) seconds after the unit's commence time
    creep_deg: float | None = None  # true direction in which successive legs advance (PS/CS), None otherwise
    drift_kn: tuple[float, float] = (0.0, 0.0)  # the frame's drift (east, north) the waypoints compensate

    @property
    def track_length_nm(self) -> float:
        return float(np.hypot(*np.diff(self.waypoints, axis=0).T).sum())

    @property
    def leg_lengths_nm(self) -> np.ndarray:
        return np.hypot(*np.diff(self.waypoints, axis=0).T)

    @property
    def hours(self) -> float:
        return float(self.times_s[-1] / 3600.0) if self.times_s is not None else 0.0


def rel_speed(v_kn: float, drift: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Speed made good relative to the drifting frame along unit directions `e` (…, 2) at ground speed V."""
    de = e[..., 0] * drift[0] + e[..., 1] * drift[1]
    cross = e[..., 0] * drift[1] - e[..., 1] * drift[0]
    return -de + np.sqrt(np.maximum(v_kn * v_kn - cross * cross, 0.0))


def leg_speed(v_kn: float, drift: np.ndarray, theta):
    """Harmonic mean of the relative speeds up and down legs along theta: (V² − |d|²) / √(V² − (d×e)²)."""
    cross = np.cos(theta) * drift[1] - np.sin(theta) * drift[0]
    return (v_kn**2 - float(drift @ drift)) / np.sqrt(np.maximum(v_kn**2 - cross**2, 1e-12))


def fly(kind: str, rel: np.ndarray, legs: int, spacing: float, v_kn: float, drift: np.ndarray, t_mid_s: float,
        creep_deg: float | None = None) -> Pattern:  # fmt: skip
    """Ground waypoints and times (from commence) of a relative path flown at ground speed V in the drifting frame.

    `t_mid_s` is the frame's reference time (seconds after commence): at it relative = ground position.
    """
    seg = np.diff(rel, axis=0)
    ell = np.hypot(*seg.T)
    e = seg / np.maximum(ell, 1e-12)[:, None]
    dt_h = np.where(ell > 0, ell / np.maximum(rel_speed(v_kn, drift, e), 1e-9), 0.0)
    t_s = np.concatenate([[0.0], np.cumsum(dt_h) * 3600.0])
    ground = rel + drift[None, :] * ((t_s - t_mid_s) / 3600.0)[:, None]
    return Pattern(kind, ground, legs, spacing, rel, t_s, creep_deg, (float(drift[0]), float(drift[1])))


def sweep_rel(rect: Rect, legs: int, near: tuple[float, float]) -> tuple[np.ndarray, float]:
    """Parallel legs along the rectangle's first axis, S/2 inside every edge, from the corner nearest `near`.

    Returns the relative waypoints and the creep direction (plane radians). Track = legs·(L − S) + (legs − 1)·S.
    """
    length, width = rect.length_nm, rect.width_nm
    spacing = width / legs
    u_end = max(length / 2 - spacing / 2, 0.0)
    v = -width / 2 + spacing / 2 + spacing * np.arange(legs)
    u = np.where(np.arange(legs) % 2 == 0, -u_end, u_end)
    local = np.column_stack([np.column_stack([u, -u]).ravel(), np.repeat(v, 2)])
    best = None
    for su, sv in ((1, 1), (-1, 1), (1, -1), (-1, -1)):
        xy = np.column_stack(rect.to_plane(su * local[:, 0], sv * local[:, 1]))
        d = math.hypot(xy[0, 0] - near[0], xy[0, 1] - near[1])
        if best is None or d < best[0] - 1e-9:
            best = (d, xy, rect.theta + (math.pi / 2 if sv > 0 else -math.pi / 2))
    return best[1], best[2]


def parallel_sweep(rect: Rect, legs: int, near: tuple[float, float] = (0.0, 0.0)) -> Pattern:
    """A still-water parallel sweep (no drift): the relative path is the ground path."""
    rel, creep = sweep_rel(rect, legs, near)
    return Pattern("PS", rel, legs, rect.width_nm / legs, rel, None, _bearing(creep))


def expanding_square_rel(centre: np.ndarray, theta: float, spacing: float, track_nm: float) -> np.ndarray:
    """Expanding square from the datum: legs S, S, 2S, 2S, 3S, …, 90° right turns, as many as `track_nm` holds.

    The last leg is shortened to end exactly when the track is used up.
    """
    pts, heading, left, k = [np.asarray(centre, float)], theta, track_nm, 0
    while left > 1e-9 and k < 2000:
        leg = min(spacing * (k // 2 + 1), left)
        pts.append(pts[-1] + leg * np.array([math.cos(heading), math.sin(heading)]))
        left -= leg
        heading -= math.pi / 2
        k += 1
    return np.array(pts)


def sector_rel(centre: np.ndarray, theta: float, radius: float, patterns: int = 1) -> np.ndarray:
    """Sector search from the datum: 9 legs of the radius per pattern, 120° right turns; a second pattern is turned
    30° (IAMSAR Vol. II 5.3.4)."""
    pts = [np.asarray(centre, float)]
    for p in range(patterns):
        heading = theta - p * math.pi / 6  # each pattern of 9 legs ends on the datum
        for _ in range(9):
            pts.append(pts[-1] + radius * np.array([math.cos(heading), math.sin(heading)]))
            heading -= 2 * math.pi / 3
    return np.array(pts)


def track_line_rel(route: np.ndarray, start_nm: float, length_nm: float, offsets: list[float]) -> np.ndarray:
    """Passes along a route (plane polyline) from `start_nm` for `length_nm`, each offset sideways (left +),
    alternating direction: TSN one pass on the route, TSR out at +S/2 and back at −S/2."""
    part = _sub_line(route, start_nm, start_nm + length_nm)
    pts = []
    for i, off in enumerate(offsets):
        line = _offset(part, off)
        pts.append(line if i % 2 == 0 else line[::-1])
    return np.vstack(pts)


def _sub_line(line: np.ndarray, a: float, b: float) -> np.ndarray:
    seg = np.hypot(*np.diff(line, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    a, b = max(0.0, a), min(float(cum[-1]), b)
    s = np.concatenate([[a], cum[(cum > a) & (cum < b)], [b]])
    return np.column_stack([np.interp(s, cum, line[:, 0]), np.interp(s, cum, line[:, 1])])


def _offset(line: np.ndarray, off: float) -> np.ndarray:
    if off == 0 or len(line) < 2:
        return line
    seg = np.diff(line, axis=0)
    n = np.column_stack([-seg[:, 1], seg[:, 0]]) / np.maximum(np.hypot(*seg.T), 1e-12)[:, None]
    normals = np.vstack([n[:1], (n[:-1] + n[1:]) / 2, n[-1:]])
    normals /= np.maximum(np.hypot(*normals.T), 1e-12)[:, None]
    return line + off * normals


def route_length(route: np.ndarray) -> float:
    return float(np.hypot(*np.diff(route, axis=0).T).sum())


def _bearing(theta: float) -> float:
    """Plane direction (radians from east, anticlockwise) as a true heading in [0, 360)."""
    return round((90.0 - math.degrees(theta)) % 360.0, 1)
