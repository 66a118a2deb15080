"""Search areas: smallest regions holding 50/90/95 % of the particles (highest-density regions) as polygons."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from scipy.ndimage import gaussian_filter
from scipy.spatial import cKDTree

from driftline.products.density import Density
from driftline.products.grid import Grid, present_positions
from driftline.trajectory import Trajectories

LEVELS = (0.5, 0.9, 0.95)
KNN = 50  # neighbours whose median distance sets the smoothing scale of the cell ranking
KNN_SAMPLE = 20_000  # particles in the neighbour tree
KNN_PROBES = 250  # particles whose neighbour distance enters the percentile
KNN_PERCENTILE = 75  # of the probes' neighbour distances: above the median so that sparse tails are smoothed too
MAX_SIGMA_CELLS = 8.0


def smoothing_sigma(x: np.ndarray, y: np.ndarray) -> float:
    """Gaussian smoothing scale (cells) from the distance to the KNN-th neighbour: wide when sparse, ~0 when dense."""
    n = x.size
    want = min(KNN, n - 1)
    if want < 2:
        return 0.0
    rng = np.random.default_rng(0)
    pts = np.column_stack([x, y])
    tree_pts = pts[rng.choice(n, KNN_SAMPLE, replace=False)] if n > KNN_SAMPLE else pts
    m = tree_pts.shape[0]
    k = max(1, min(m - 1, round(want * m / n)))  # in a sample, the k-th neighbour stands for the full set's want-th
    probes = pts[rng.choice(n, KNN_PROBES, replace=False)] if n > KNN_PROBES else pts
    dist = cKDTree(tree_pts).query(probes, k=k + 1)[0][:, -1]
    return float(min(np.percentile(dist, KNN_PERCENTILE) * np.sqrt(want * m / (n * k)), MAX_SIGMA_CELLS))


def highest_density_cells(
    grid: Grid, lon: np.ndarray, lat: np.ndarray, levels: tuple[float, ...] = LEVELS, smooth: bool = True
) -> list[np.ndarray]:
    """Flat indices of the smallest cell sets holding each level of the particles (nested, largest level last).

    Cells are ranked by the (optionally smoothed) particle density and taken until their raw particle
    count reaches the level, so smoothing shapes the regions (no speckle, no pin holes) while the
    fraction of particles inside stays the requested one.
    """
    ok = np.isfinite(lon) & np.isfinite(lat)
    x, y = grid.xy(lon[ok], lat[ok])
    inside = (x >= 0) & (x < grid.nlon) & (y >= 0) & (y < grid.nlat)
    x, y = x[inside], y[inside]
    if x.size == 0:
        return [np.empty(0, np.int64) for _ in levels]
    sigma = smoothing_sigma(x, y) if smooth else 0.0
    pad = int(np.ceil(3 * sigma)) + 1
    col, row = x.astype(np.int64), y.astype(np.int64)
    c0, r0 = max(col.min() - pad, 0), max(row.min() - pad, 0)
    w, h = min(col.max() + pad + 1, grid.nlon) - c0, min(row.max() + pad + 1, grid.nlat) - r0
    counts = np.bincount((row - r0) * w + (col - c0), minlength=h * w).astype(np.float64)
    score = gaussian_filter(counts.reshape(h, w), sigma, mode="constant").ravel() if sigma > 0.3 else counts
    rr, cc = np.divmod(np.arange(h * w), w)
    dist2 = (rr + 0.5 - (y.mean() - r0)) ** 2 + (cc + 0.5 - (x.mean() - c0)) ** 2
    order = np.lexsort((dist2, -score))  # densest first; ties go to the cell nearer the centre
    cum = np.cumsum(counts[order]) / x.size
    out = []
    for lv in levels:
        r, c = np.divmod(order[: min(int(np.searchsorted(cum, lv - 1e-9)) + 1, order.size)], w)
        out.append((r + r0) * grid.nlon + c + c0)
    return out


def cells_polygon(grid: Grid, cells: np.ndarray) -> shapely.Geometry:
    """Exact union of the cell boxes (Polygon or MultiPolygon in lon/lat, holes kept)."""
    if cells.size == 0:
        return shapely.Polygon()
    row, col = np.divmod(np.asarray(cells, np.int64), grid.nlon)
    merged = shapely.simplify(shapely.coverage_union_all(shapely.box(col, row, col + 1, row + 1)), 0)
    return shapely.transform(merged, lambda c: c * [grid.dlon, grid.dlat] + [grid.lon0, grid.lat0])


def cells_area_km2(grid: Grid, cells: np.ndarray) -> float:
    """Spherical area of a set of cells."""
    return float(grid.cell_area_km2()[np.asarray(cells, np.int64) // grid.nlon].sum())


def iso(t: np.datetime64) -> str:
    """ISO 8601 UTC with a Z suffix, to the second."""
    return f"{np.datetime_as_string(np.datetime64(t, 's'), unit='s')}Z"


def area_time_indices(times: np.ndarray, interval_hours: float) -> list[int]:
    """Output indices nearest to every interval counted from the start, plus the final time."""
    hours = np.abs((times - times[0]) / np.timedelta64(1, "s")) / 3600.0
    idx = {len(times) - 1}
    if interval_hours > 0:
        for target in np.arange(interval_hours, hours[-1] + 1e-6, interval_hours):
            idx.add(int(np.argmin(np.abs(hours - target))))
    return sorted(idx)


@dataclass
class SearchArea:
    """The nested 50/90/95 % regions at one output time."""

    index: int
    time: str
    centre: tuple[float, float] | None  # (lat, lon) density-weighted, None when no particle is present
    counts: dict[str, int]
    regions: dict[float, shapely.Geometry] = field(default_factory=dict)
    area_km2: dict[float, float] = field(default_factory=dict)

    def summary(self) -> dict:
        centre = None if self.centre is None else {"lat": _round(self.centre[0]), "lon": _round(self.centre[1])}
        areas = {f"{round(lv * 100)}": _round(a, 4) for lv, a in self.area_km2.items()}
        return {"time": self.time, "centre": centre, "area_km2": areas, "counts": self.counts}


def compute_search_areas(
    traj: Trajectories, dens: Density, interval_hours: float, levels: tuple[float, ...] = LEVELS
) -> list[SearchArea]:
    """Highest-density regions at the search-area times (every interval from the start, and the final time)."""
    lon, lat = present_positions(traj)
    out = []
    for t in area_time_indices(traj.times, interval_hours):
        has = dens.present[t] > 0
        sa = SearchArea(
            t, iso(traj.times[t]), (dens.centre_lat[t], dens.centre_lon[t]) if has else None, traj.counts(t)
        )
        if has:
            for lv, cells in zip(levels, highest_density_cells(dens.grid, lon[:, t], lat[:, t], levels), strict=True):
                sa.regions[lv] = cells_polygon(dens.grid, cells)
                sa.area_km2[lv] = cells_area_km2(dens.grid, cells)
        out.append(sa)
    return out


@dataclass
class MemberStats:
    """Per ensemble member, per output time: density-weighted centre and 90 % area."""

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


def member_stats(traj: Trajectories, dens: Density, area_times: list[int] | None = None) -> MemberStats | None:
    """Centre of every ensemble member at every time, 90 % area at `area_times` (default all); None if one member."""
    nm = max(len(traj.member_names), int(traj.member.max(initial=0)) + 1)
    if nm <= 1:
        return None
    names = [traj.member_names[m] if m < len(traj.member_names) else f"member{m}" for m in range(nm)]
    g, cells = dens.grid, dens.cells
    ok = cells >= 0
    clat = np.where(ok, g.lat[np.where(ok, cells, 0) // g.nlon], np.nan)
    clon = np.where(ok, g.lon[np.where(ok, cells, 0) % g.nlon], np.nan)
    lon, lat = present_positions(traj)
    shape = (nm, traj.num_times)
    stats = MemberStats(names, np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan))
    for m in range(nm):
        sel = traj.member == m
        has = ok[sel].any(axis=0)
        with np.errstate(invalid="ignore"):
            stats.centre_lat[m, has] = np.nanmean(clat[sel][:, has], axis=0)
            stats.centre_lon[m, has] = np.nanmean(clon[sel][:, has], axis=0)
        for t in np.flatnonzero(has) if area_times is None else [t for t in area_times if has[t]]:
            cells90 = highest_density_cells(g, lon[sel, t], lat[sel, t], (0.9,))[0]
            stats.area_90_km2[m, t] = cells_area_km2(g, cells90)
    return stats
