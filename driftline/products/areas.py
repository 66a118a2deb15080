"""Search areas: smallest sea regions holding 50/90/95 % of the floating probability, with datum, at chosen times."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely

from driftline.geodesy import NM2_PER_KM2, normalise_lon, position
from driftline.products.grid import Grid
from driftline.products.hdr import LandFn, cells_polygon, highest_density_regions
from driftline.products.shares import shares_at
from driftline.trajectory import ACTIVE, Trajectories

LEVELS = (0.5, 0.9, 0.95)
COMPUTED_OVER = "floating"  # the share every search-area level is a fraction of

__all__ = ["LEVELS", "MemberStats", "SearchArea", "area_time_indices", "cells_area_km2", "cells_polygon"]


def cells_area_km2(grid: Grid, cells: np.ndarray) -> float:
    """Spherical area of a set of cells."""
    return float(grid.cell_area_km2()[np.asarray(cells, np.int64) // grid.nlon].sum())


def iso(t: np.datetime64) -> str:
    """ISO 8601 UTC with a Z suffix, to the second."""
    return f"{np.datetime_as_string(np.datetime64(t, 's'), unit='s')}Z"


def area_time_indices(times: np.ndarray, interval_hours: float, extra: tuple = ()) -> list[int]:
    """Output indices nearest to every interval counted from the start, to each `extra` time, and the final time."""
    hours = np.abs((times - times[0]) / np.timedelta64(1, "s")) / 3600.0
    idx = {len(times) - 1}
    if interval_hours > 0:
        for target in np.arange(interval_hours, hours[-1] + 1e-6, interval_hours):
            idx.add(int(np.argmin(np.abs(hours - target))))
    for t in extra:
        t64 = np.datetime64(t.replace(tzinfo=None) if hasattr(t, "tzinfo") else t, "s")
        idx.add(int(np.argmin(np.abs((times - t64) / np.timedelta64(1, "s")))))
    return sorted(idx)


def floating_at(traj: Trajectories, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lon, lat, share) of the particles floating at output t (one time slice, no (N, T) temporaries)."""
    sel = traj.state[:, t] == ACTIVE
    return traj.lon[sel, t], traj.lat[sel, t], traj.shares()[sel]


@dataclass
class SearchArea:
    """The nested 50/90/95 % regions of the floating probability at one output time, and its datum."""

    index: int
    time: str
    counts: dict[str, int]
    shares: dict[str, float]
    datum: tuple[float, float] | None = None  # (lat, lon) centre of the floating probability, lon within ±180
    parts: list[dict] = field(default_factory=list)  # lat, lon, share of each part when the cloud has split
    bandwidth_m: float | None = None
    regions: dict[float, shapely.Geometry] = field(default_factory=dict)  # unwrapped longitudes
    area_km2: dict[float, float] = field(default_factory=dict)  # sea area

    @property
    def centre(self) -> tuple[float, float] | None:
        return self.datum

    def pieces(self, level: float) -> int:
        return len(getattr(self.regions[level], "geoms", [self.regions[level]]))

    def summary(self) -> dict:
        return {
            "time": self.time,
            "computed_over": COMPUTED_OVER,
            "shares": self.shares,
            "centre": None if self.datum is None else position(*self.datum),
            "parts": [{**position(p["lat"], p["lon"]), "share": round(p["share"], 6)} for p in self.parts],
            "area_km2": {f"{round(lv * 100)}": _round(a, 4) for lv, a in self.area_km2.items()},
            "area_nm2": {f"{round(lv * 100)}": _round(a * NM2_PER_KM2, 4) for lv, a in self.area_km2.items()},
            "pieces": {f"{round(lv * 100)}": self.pieces(lv) for lv in self.regions},
            "bandwidth_m": _round(self.bandwidth_m or np.nan, 1),
            "counts": self.counts,
        }


def compute_search_areas(
    traj: Trajectories,
    indices: list[int],
    shares: dict[str, np.ndarray],
    land_fn: LandFn | None = None,
    levels: tuple[float, ...] = LEVELS,
) -> list[SearchArea]:
    """Highest-density regions of the floating particles (weighted, sea only) at the given output indices."""
    out = []
    for t in indices:
        sa = SearchArea(t, iso(traj.times[t]), traj.counts(t), shares_at(shares, t))
        lon, lat, w = floating_at(traj, t)
        if lon.size:
            reg = highest_density_regions(lon, lat, w, levels, land_fn)
            sa.datum = (reg.datum[0], normalise_lon(reg.datum[1]))
            sa.parts = [{"lat": p["lat"], "lon": normalise_lon(p["lon"]), "share": p["weight"]} for p in reg.parts]
            sa.bandwidth_m = reg.bandwidth_m
            sa.regions = dict(zip(levels, reg.polygons, strict=True))
            sa.area_km2 = dict(zip(levels, reg.area_km2, strict=True))
        out.append(sa)
    return out


@dataclass
class MemberStats:
    """Per ensemble member, per output time: centre of the floating and stranded particles, and 90 % area."""

    names: list[str]
    centre_lat: np.ndarray  # (M, T)
    centre_lon: np.ndarray
    area_90_km2: np.ndarray

    def final(self, times: np.ndarray) -> list[dict]:
        """Report rows at the final output time."""
        return [
            {
                "name": name,
                "centre": {"lat": _round(self.centre_lat[m, -1]), "lon": _round(self.centre_lon[m, -1])},
                "area_90_km2": _round(self.area_90_km2[m, -1], 4),
                "time": iso(times[-1]),
            }
            for m, name in enumerate(self.names)
        ]


def _round(v: float, nd: int = 6) -> float | None:
    return None if not np.isfinite(v) else round(float(v), nd)


def member_stats(
    traj: Trajectories, area_times: list[int] | None = None, land_fn: LandFn | None = None
) -> MemberStats | None:
    """Centre of every ensemble member at every time, 90 % area at `area_times` (default all); None if one member."""
    nm = max(len(traj.member_names), int(traj.member.max(initial=0)) + 1)
    if nm <= 1:
        return None
    names = [traj.member_names[m] if m < len(traj.member_names) else f"member{m}" for m in range(nm)]
    shape = (nm, traj.num_times)
    stats = MemberStats(names, np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan))
    w = traj.shares()
    wanted = set(range(traj.num_times) if area_times is None else area_times)
    for t in range(traj.num_times):
        present = traj.present(t)
        for m in range(nm):
            sel = present & (traj.member == m)
            if not sel.any():
                continue
            if w[sel].sum() <= 0:
                continue
            stats.centre_lat[m, t] = np.average(traj.lat[sel, t], weights=w[sel])
            stats.centre_lon[m, t] = _mean_lon(traj.lon[sel, t], w[sel])
            if t in wanted:
                floating = sel & (traj.state[:, t] == ACTIVE)
                reg = highest_density_regions(
                    traj.lon[floating, t], traj.lat[floating, t], w[floating], (0.9,), land_fn
                )
                stats.area_90_km2[m, t] = reg.area_km2[0] if reg.area_km2 else np.nan
    return stats


def _mean_lon(lon: np.ndarray, w: np.ndarray) -> float:
    """Weighted mean longitude of a cloud that may straddle the antimeridian, within ±180."""
    ref = float(lon[0])
    return normalise_lon(np.average(ref + (lon - ref + 180.0) % 360.0 - 180.0, weights=w))
