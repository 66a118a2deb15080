"""Regular lat/lon grid sized from the particle spread: shared by the density map and the search areas."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from driftline.trajectory import ACTIVE, STRANDED, Trajectories

EARTH_RADIUS_M = 6_371_008.8
M_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0
MIN_CELL_M = 50.0  # floor of the automatic cell size (and the size for a cloud with no spread)
MAX_CELLS_PER_AXIS = 1000
MAX_GRID_VALUES = 40_000_000  # time x lat x lon cap per variable (160 MB of float32)
MARGIN_CELLS = 3
INDEX_BLOCK_VALUES = 2**20  # positions per block in Grid.index


@dataclass(frozen=True)
class Grid:
    """Cell edges lat0 + i*dlat, lon0 + j*dlon; `resolution_m` is the north-south cell size."""

    lat0: float
    lon0: float
    dlat: float
    dlon: float
    nlat: int
    nlon: int
    resolution_m: float

    @property
    def lat_edges(self) -> np.ndarray:
        return self.lat0 + self.dlat * np.arange(self.nlat + 1)

    @property
    def lon_edges(self) -> np.ndarray:
        return self.lon0 + self.dlon * np.arange(self.nlon + 1)

    @property
    def lat(self) -> np.ndarray:
        return self.lat0 + self.dlat * (np.arange(self.nlat) + 0.5)

    @property
    def lon(self) -> np.ndarray:
        return self.lon0 + self.dlon * (np.arange(self.nlon) + 0.5)

    @property
    def lon_mid(self) -> float:
        return self.lon0 + 0.5 * self.nlon * self.dlon

    def cell_area_km2(self) -> np.ndarray:
        """Exact spherical area of one cell in each grid row, (nlat,) km2."""
        sin = np.sin(np.radians(np.clip(self.lat_edges, -90, 90)))
        return EARTH_RADIUS_M**2 * math.radians(self.dlon) * np.diff(sin) / 1e6

    def xy(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fractional cell coordinates (column, row) of positions; longitudes unwrapped around the grid."""
        lon = unwrap_lon(np.asarray(lon, dtype=float), self.lon_mid)
        return (lon - self.lon0) / self.dlon, (np.asarray(lat, dtype=float) - self.lat0) / self.dlat

    def index(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Flat cell index (int32: row * nlon + column) of each position, -1 for NaN or off-grid positions.

        (N, T) positions are done a block of times at a time: the float64 temporaries stay small.
        """
        lon, lat = np.asarray(lon), np.asarray(lat)
        if lon.ndim != 2 or lon.size <= INDEX_BLOCK_VALUES:
            return self._index(lon, lat).astype(np.int32)
        out = np.empty(lon.shape, dtype=np.int32)  # MAX_CELLS_PER_AXIS**2 cells fit; half the memory of int64
        step = max(1, INDEX_BLOCK_VALUES // lon.shape[0])
        for t in range(0, lon.shape[1], step):
            out[:, t : t + step] = self._index(lon[:, t : t + step], lat[:, t : t + step])
        return out

    def _index(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        x, y = self.xy(lon, lat)
        with np.errstate(invalid="ignore"):
            ok = (x >= 0) & (x < self.nlon) & (y >= 0) & (y < self.nlat)
        col = np.where(ok, x, 0).astype(np.int64)
        row = np.where(ok, y, 0).astype(np.int64)
        return np.where(ok, row * self.nlon + col, -1)

    def summary(self) -> dict:
        return {
            "resolution_m": round(self.resolution_m, 3),
            "nlat": self.nlat,
            "nlon": self.nlon,
            "lat_min": round(self.lat0, 6),
            "lat_max": round(self.lat0 + self.nlat * self.dlat, 6),
            "lon_min": round(self.lon0, 6),
            "lon_max": round(self.lon0 + self.nlon * self.dlon, 6),
            "dlat_deg": self.dlat,
            "dlon_deg": self.dlon,
        }


def unwrap_lon(lon: np.ndarray, ref: float) -> np.ndarray:
    """Longitudes shifted by whole turns to lie within 180 degrees of ref (keeps a plume on the antimeridian whole)."""
    return ref + (lon - ref + 180.0) % 360.0 - 180.0


def present_positions(traj: Trajectories) -> tuple[np.ndarray, np.ndarray]:
    """(lon, lat) as (N, T) arrays, NaN where a particle is not counted (not floating or stranded).

    Trajectories with `masked` set (the streamed run's) already hold NaN there: their own arrays are
    returned, without a copy, unless longitudes must be unwrapped around the antimeridian.
    """
    if not traj.masked:
        present = (traj.state == ACTIVE) | (traj.state == STRANDED)
        lon = np.where(present, traj.lon, np.nan)
        return unwrap_lon(lon, _first_finite(lon)), np.where(present, traj.lat, np.nan)
    ref = _first_finite(traj.lon)
    return (unwrap_lon(np.asarray(traj.lon, dtype=float), ref) if _needs_unwrap(traj.lon, ref) else traj.lon), traj.lat


def _blocks(n_rows: int, n_cols: int) -> Iterator[slice]:
    step = max(1, INDEX_BLOCK_VALUES // max(1, n_rows))
    return (slice(t, t + step) for t in range(0, n_cols, step))


def _first_finite(lon: np.ndarray) -> float:
    flat = lon.reshape(-1)
    for start in range(0, flat.size, INDEX_BLOCK_VALUES):
        finite = np.flatnonzero(np.isfinite(flat[start : start + INDEX_BLOCK_VALUES]))
        if finite.size:
            return float(flat[start + finite[0]])
    return 0.0


def _needs_unwrap(lon: np.ndarray, ref: float) -> bool:
    """Whether any longitude lies 180 degrees or more from ref (unwrap_lon would change it)."""
    for cols in _blocks(*lon.shape) if lon.ndim == 2 else [slice(None)]:
        block = np.asarray(lon[..., cols], dtype=float)
        with np.errstate(invalid="ignore"):
            if np.any(np.abs(block - ref) >= 180.0):
                return True
    return False


def plume_spread_m(lon: np.ndarray, lat: np.ndarray) -> float:
    """Widest 1-99 percentile extent (metres, larger of east-west and north-south) of the cloud at any time."""
    widest = 0.0
    for cols in _blocks(*lon.shape):
        x, y = np.asarray(lon[:, cols], dtype=float), np.asarray(lat[:, cols], dtype=float)
        has = np.isfinite(x).any(axis=0)
        if not has.any():
            continue
        lo_x, hi_x = np.nanpercentile(x[:, has], [1, 99], axis=0)
        lo_y, hi_y = np.nanpercentile(y[:, has], [1, 99], axis=0)
        coslat = np.cos(np.radians(0.5 * (lo_y + hi_y)))
        widest = max(widest, float(max(((hi_x - lo_x) * coslat).max(), (hi_y - lo_y).max()) * M_PER_DEG))
    return widest


def make_grid(
    traj: Trajectories, min_cells: int = 50, resolution_m: float | None = None, where: tuple[float, float] = (0.0, 0.0)
) -> Grid:
    """Grid covering every counted position with a margin; cell size from the spread unless overridden, then capped.

    `where` (lon, lat) places the small grid of a run in which no particle is ever counted.
    """
    lon, lat = present_positions(traj)
    if not np.isfinite(lat).any():
        lon, lat = np.full((1, 1), where[0]), np.full((1, 1), where[1])
    lat_lo, lat_hi, lon_lo, lon_hi = (float(f(a)) for a in (lat, lon) for f in (np.nanmin, np.nanmax))
    lat_mid, lon_mid = 0.5 * (lat_lo + lat_hi), 0.5 * (lon_lo + lon_hi)
    coslat = max(math.cos(math.radians(lat_mid)), 0.05)
    if resolution_m and resolution_m > 0:
        res = float(resolution_m)
    else:
        res = max(plume_spread_m(lon, lat) / max(min_cells, 1), MIN_CELL_M)
    span_y, span_x = (lat_hi - lat_lo) * M_PER_DEG, (lon_hi - lon_lo) * M_PER_DEG * coslat
    while True:  # grow the cells until the grid fits the caps (at most a few rounds)
        ny, nx = (2 * math.ceil(0.5 * s / res) + 1 + 2 * MARGIN_CELLS for s in (span_y, span_x))
        grow = max(max(ny, nx) / MAX_CELLS_PER_AXIS, math.sqrt(ny * nx * traj.num_times / MAX_GRID_VALUES))
        if grow <= 1:
            break
        res *= grow * 1.01
    dlat = res / M_PER_DEG
    dlon = dlat / coslat
    lon0 = (lon_mid - 0.5 * nx * dlon + 180.0) % 360.0 - 180.0  # first edge within ±180, values increase from it
    return Grid(float(lat_mid - 0.5 * ny * dlat), float(lon0), dlat, dlon, ny, nx, float(res))
