"""The geodesic move of a lean step: OpenDrift's `update_positions` with one Geod and two threads.

pyproj's `Geod.fwd` (Karney's solution of the direct geodesic problem, per particle) computes without the GIL,
so for large particle counts the particles are cut into chunks that the calling thread and one helper thread take
in turn. The same C code runs on the same float64 inputs: identical positions.
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

SPLIT_MIN_PARTICLES = 2048  # below this (~0.5 ms of geodesics) the thread hand-off eats the gain
CHUNKS, CHUNK_MIN_PARTICLES = 16, 256  # a move is cut into up to 16 chunks of at least 256 particles
PROBE_EVERY = 64  # moves on one thread after the helper thread took less than a quarter of the chunks
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

    Both threads take the next chunk until none is left and the caller waits only for chunks the helper has
    taken, so a helper that gets no core (a busy machine) costs at most one chunk. When the helper gets less
    than a quarter of the chunks, the next `PROBE_EVERY` moves run on the calling thread alone (waking a
    thread that finds no free core costs the caller its time slice).
    """
    n = lon.size
    if n < SPLIT_MIN_PARTICLES or (os.cpu_count() or 1) < 2 or _sharing.skip(os.getpid()):
        geod._fwd(lon, lat, azimuth, dist, radians=False, return_back_azimuth=False)
        return
    size = max(CHUNK_MIN_PARTICLES, -(-n // CHUNKS))
    starts = iter(range(0, n, size))
    taken, lock, helper_done = [0, 0], threading.Lock(), threading.Event()  # chunks taken, finished by the helper
    caller_done = [False]

    def take(helper: bool) -> int | None:
        with lock:  # taking a chunk and counting it as the helper's are one step: the caller sees both or neither
            start = next(starts, None)
            taken[0] += helper and start is not None
        return start

    def work(helper: bool) -> None:
        while (start := take(helper)) is not None:
            part = slice(start, start + size)
            geod._fwd(lon[part], lat[part], azimuth[part], dist[part], radians=False, return_back_azimuth=False)
            if helper:
                with lock:
                    taken[1] += 1
                    if caller_done[0] and taken[1] == taken[0]:
                        helper_done.set()

    def helper_work() -> None:
        try:
            work(True)
        except BaseException as e:  # noqa: BLE001 - re-raised by the caller, which may be waiting for this chunk
            failed.append(e)
            helper_done.set()

    failed: list[BaseException] = []
    _executor().submit(helper_work)
    work(False)
    with lock:
        caller_done[0] = True
        waiting = taken[1] < taken[0]
    if waiting:
        helper_done.wait()
    if failed:
        raise failed[0]
    _sharing.record(taken[0], -(-n // size))


class _Sharing:
    """How much of the recent moves the helper thread took; moves to skip sharing after it took too little."""

    def __init__(self) -> None:
        self.pid, self.skipping = 0, 0

    def skip(self, pid: int) -> bool:
        if pid != self.pid:  # a forked process: its own helper thread, its own history
            self.pid, self.skipping = pid, 0
        if self.skipping:
            self.skipping -= 1
            return True
        return False

    def record(self, helper_chunks: int, chunks: int) -> None:
        if helper_chunks * 4 < chunks:
            self.skipping = PROBE_EVERY


_sharing = _Sharing()


def _executor() -> ThreadPoolExecutor:
    """One helper thread per process (a forked job process starts its own)."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        _pool = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="geodesic"))
    return _pool[1]
