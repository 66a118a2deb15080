"""Parallel-sweep (track-line) pattern inside a search rectangle (IAMSAR Vol. II, parallel sweep search PS)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from driftline.search.geo import Rect


def legs_for(length_nm: float, width_nm: float, track_nm: float) -> int:
    """Number of legs along the long side: as many as the track allows with full-length legs (n·L ≤ track).

    The claimed effort n·L·W then never exceeds V·T·W, so POD = 1 − exp(−W/S) with S = width / n is honest.
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
    """Waypoints (plane, nm) from the commence search point, legs, track spacing and flown track length."""

    waypoints: np.ndarray  # (2 * legs, 2)
    legs: int
    spacing_nm: float

    @property
    def track_length_nm(self) -> float:
        return float(np.hypot(*np.diff(self.waypoints, axis=0).T).sum())


def parallel_sweep(rect: Rect, legs: int, near: tuple[float, float] = (0.0, 0.0)) -> Pattern:
    """Legs along the rectangle's first (long) axis, S/2 inside every edge, starting at the corner nearest `near`.

    Track length = legs·(L − S) + (legs − 1)·S = legs·L − S.
    """
    length, width = rect.length_nm, rect.width_nm
    spacing = width / legs
    u_end = length / 2 - spacing / 2
    v = -width / 2 + spacing / 2 + spacing * np.arange(legs)
    u = np.where(np.arange(legs) % 2 == 0, -u_end, u_end)
    local = np.column_stack([np.column_stack([u, -u]).ravel(), np.repeat(v, 2)])
    best = None
    for su, sv in ((1, 1), (-1, 1), (1, -1), (-1, -1)):
        xy = np.column_stack(rect.to_plane(su * local[:, 0], sv * local[:, 1]))
        d = math.hypot(xy[0, 0] - near[0], xy[0, 1] - near[1])
        if best is None or d < best[0] - 1e-9:
            best = (d, xy)
    return Pattern(best[1], legs, spacing)
