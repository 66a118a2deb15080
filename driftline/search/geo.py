"""Geometry for search planning: a local plane in nautical miles, oriented rectangles, positions at a time.

The plane is linear in longitude and latitude (WGS84 radii of curvature at its origin), so a rectangle's
four corners joined by straight lines in degrees — what GeoJSON (RFC 7946) and KML draw — are exactly
the planned rectangle, and "inside" means the same in the plan, the files and a recount.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from driftline import positions
from driftline.positions import deg_min  # noqa: F401 - the one format, re-exported for the planner
from driftline.trajectory import Trajectories

NM_M = 1852.0
WGS84_A, WGS84_E2 = 6378137.0, 0.00669437999014


@dataclass(frozen=True)
class LocalPlane:
    """x east, y north in nautical miles around (lon0, lat0)."""

    lon0: float
    lat0: float
    nm_per_deg_lon: float
    nm_per_deg_lat: float

    @classmethod
    def at(cls, lon0: float, lat0: float) -> LocalPlane:
        s = math.sin(math.radians(lat0))
        w = 1.0 - WGS84_E2 * s * s
        meridional = WGS84_A * (1 - WGS84_E2) / w**1.5
        normal = WGS84_A / math.sqrt(w)
        rad = math.pi / 180 / NM_M
        return cls(lon0, lat0, normal * math.cos(math.radians(lat0)) * rad, meridional * rad)

    def to_xy(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        dlon = (np.asarray(lon, np.float64) - self.lon0 + 180.0) % 360.0 - 180.0
        return dlon * self.nm_per_deg_lon, (np.asarray(lat, np.float64) - self.lat0) * self.nm_per_deg_lat

    def to_lonlat(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        lon = self.lon0 + np.asarray(x, np.float64) / self.nm_per_deg_lon
        return (lon + 180.0) % 360.0 - 180.0, self.lat0 + np.asarray(y, np.float64) / self.nm_per_deg_lat

    def to_lonlat_unwrapped(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Like to_lonlat, but longitudes continue past ±180 (lon0 ± 180): geometry stays whole across 180°."""
        lon = self.lon0 + np.asarray(x, np.float64) / self.nm_per_deg_lon
        return lon, self.lat0 + np.asarray(y, np.float64) / self.nm_per_deg_lat

    def to_xy_unwrapped(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        """Inverse of to_lonlat_unwrapped (no wrapping of the longitude difference)."""
        x = (np.asarray(lon, np.float64) - self.lon0) * self.nm_per_deg_lon
        return x, (np.asarray(lat, np.float64) - self.lat0) * self.nm_per_deg_lat


@dataclass(frozen=True)
class Rect:
    """A rectangle in the plane: centre, direction of its first axis (radians from east, anticlockwise), sides."""

    cx: float
    cy: float
    theta: float
    length_nm: float  # along theta
    width_nm: float  # across theta

    @property
    def area_nm2(self) -> float:
        return self.length_nm * self.width_nm

    def local(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates along and across the rectangle's first axis, from its centre."""
        c, s = math.cos(self.theta), math.sin(self.theta)
        dx, dy = np.asarray(x) - self.cx, np.asarray(y) - self.cy
        return dx * c + dy * s, -dx * s + dy * c

    def to_plane(self, u, v) -> tuple[np.ndarray, np.ndarray]:
        c, s = math.cos(self.theta), math.sin(self.theta)
        u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
        return self.cx + u * c - v * s, self.cy + u * s + v * c

    def contains(self, x, y) -> np.ndarray:
        u, v = self.local(x, y)
        return (np.abs(u) <= self.length_nm / 2) & (np.abs(v) <= self.width_nm / 2)

    def corners(self) -> np.ndarray:
        """(4, 2) plane corners, anticlockwise."""
        a, b = self.length_nm / 2, self.width_nm / 2
        return np.column_stack(self.to_plane([-a, a, a, -a], [-b, -b, b, b]))


def rects_overlap(c1, c2) -> bool:
    """True when two rectangles (4 corners each, in order) share interior; touching is not overlapping.

    Separating-axis test in plain Python: the optimiser calls it thousands of times with 4-point lists.
    """
    for corners in (c1, c2):
        for i in range(2):
            ex, ey = corners[i + 1][0] - corners[i][0], corners[i + 1][1] - corners[i][1]
            p1 = [ey * x - ex * y for x, y in c1]
            p2 = [ey * x - ex * y for x, y in c2]
            tol = 1e-9 * (abs(ex) + abs(ey)) * (1 + max(map(abs, p1 + p2)))
            if max(p1) <= min(p2) + tol or max(p2) <= min(p1) + tol:
                return False
    return True


def positions_at(traj: Trajectories, when: datetime | np.datetime64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lon, lat, present) of every particle at `when`, linear between the two output times around it.

    A particle counts only where it is present (floating or stranded) at both of those output times.
    """
    t = np.datetime64(when.replace(tzinfo=None) if isinstance(when, datetime) else when, "s")
    secs = (traj.times - traj.times[0]) / np.timedelta64(1, "s")
    target = float((t - traj.times[0]) / np.timedelta64(1, "s"))
    sign = 1.0 if secs[-1] >= 0 else -1.0
    k = int(np.clip(np.searchsorted(sign * secs, sign * target, side="right") - 1, 0, max(traj.num_times - 2, 0)))
    if traj.num_times == 1 or target == secs[k]:
        return traj.lon[:, k], traj.lat[:, k], traj.present(k)
    if target == secs[k + 1]:
        return traj.lon[:, k + 1], traj.lat[:, k + 1], traj.present(k + 1)
    f = float(np.clip((target - secs[k]) / (secs[k + 1] - secs[k]), 0.0, 1.0))
    dlon = (traj.lon[:, k + 1] - traj.lon[:, k] + 180.0) % 360.0 - 180.0
    lon = (traj.lon[:, k] + f * dlon + 180.0) % 360.0 - 180.0
    lat = traj.lat[:, k] + f * (traj.lat[:, k + 1] - traj.lat[:, k])
    return lon, lat, traj.present(k) & traj.present(k + 1)


def principal_axis(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Direction (radians from east, in [0, π)) of the weighted cloud's major axis; 0 for a round cloud."""
    total = w.sum()
    if total <= 0:
        return 0.0
    mx, my = (w @ x) / total, (w @ y) / total
    dx, dy = x - mx, y - my
    sxx, syy, sxy = (w @ (dx * dx)) / total, (w @ (dy * dy)) / total, (w @ (dx * dy)) / total
    return float((0.5 * math.atan2(2 * sxy, sxx - syy)) % math.pi)


def true_bearing_deg(theta: float) -> float:
    """Plane direction (radians from east, anticlockwise) as a true bearing in [0, 180) (an axis, not a heading)."""
    return round((90.0 - math.degrees(theta)) % 180.0, 1)


def position_dm(lon: float, lat: float) -> str:
    """60°05.123'N 003°02.456'W: the one format of every product (driftline/positions.py)."""
    return positions.position_dm(lat, lon)
