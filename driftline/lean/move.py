"""The geodesic move of a lean step: OpenDrift's `update_positions` with one Geod and two threads.

pyproj's `Geod.fwd` (Karney's solution of the direct geodesic problem, per particle) computes without the GIL,
so for large particle counts the particles are cut into chunks that the calling thread and one helper thread take
in turn. The same C code runs on the same float64 inputs: identical positions.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

SPLIT_MIN_PARTICLES = 2048  # below this (~0.5 ms of geodesics) the thread hand-off eats the gain
CHUNKS, CHUNK_MIN_PARTICLES = 16, 256  # a move is cut into up to 16 chunks of at least 256 particles
_pool: tuple[int, ThreadPoolExecutor] | None = None


class LeanMoveMixin:
    """OpenDrift's `update_positions` with one Geod and the geodesics of a large step shared by two threads."""

    _geod = None

    def update_positions(self, x_vel, y_vel):
        lon, lat = self.elements.lon, self.elements.lat
        if len(lon) < 2:
            return super().update_positions(x_vel, y_vel)
        if LeanMoveMixin._geod is None:
            import pyproj

            LeanMoveMixin._geod = pyproj.Geod(ellps="WGS84")
        # The same expressions as OpenDrift's (dtypes included), then pyproj's float64 buffers
        azimuth = np.degrees(np.arctan2(x_vel, y_vel))
        velocity = np.sqrt(x_vel**2 + y_vel**2)
        velocity = velocity * self.elements.moving
        buffers = [np.array(a, dtype=np.float64, order="C") for a in (lon, lat, azimuth)]
        buffers.append(np.array(velocity * self.time_step.total_seconds(), dtype=np.float64, order="C"))
        geodesics(LeanMoveMixin._geod, *buffers)
        self.elements.lon, self.elements.lat = buffers[0], buffers[1]
        if lon_lat_invalid(self.elements.lon, self.elements.lat):
            sys.exit("Quitting")  # what OpenDrift does with invalid new coordinates
        return None


def lon_lat_invalid(lon: np.ndarray, lat: np.ndarray) -> bool:
    """OpenDrift's check after a move (its comparisons, unchanged)."""
    return bool(lon.min() < -180 or lon.min() > 360 or lat.min() < -90 or lat.max() > 90)


def geodesics(geod, lon: np.ndarray, lat: np.ndarray, azimuth: np.ndarray, dist: np.ndarray) -> None:
    """pyproj's `Geod.fwd` in place on float64 arrays; large arrays in chunks shared by two threads.

    Both threads take the next chunk until none is left, so a helper thread that gets no core (a busy
    machine) costs at most the chunk it holds, not half the work.
    """
    n = lon.size
    if n < SPLIT_MIN_PARTICLES or (os.cpu_count() or 1) < 2:  # noqa: SIM102
        geod._fwd(lon, lat, azimuth, dist, radians=False, return_back_azimuth=False)
        return
    size = max(CHUNK_MIN_PARTICLES, -(-n // CHUNKS))
    starts = iter(range(0, n, size))  # shared: next() on it is atomic under the GIL

    def work() -> None:
        for start in starts:
            part = slice(start, start + size)
            geod._fwd(lon[part], lat[part], azimuth[part], dist[part], radians=False, return_back_azimuth=False)

    other = _executor().submit(work)
    work()
    other.result()


def _executor() -> ThreadPoolExecutor:
    """One helper thread per process (a forked job process starts its own)."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        _pool = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="geodesic"))
    return _pool[1]
