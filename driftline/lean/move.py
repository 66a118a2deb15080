"""The geodesic move of a lean step: OpenDrift's `update_positions` with one Geod and two threads.

pyproj's `Geod.fwd` (Karney's solution of the direct geodesic problem, per particle) computes without the GIL,
so for large particle counts the particles are cut into chunks that the calling thread and one helper thread take
in turn. Leeway moves twice a step (its leeway, then the current) with nothing in between that reads the
positions, so both moves are made in one pass, chunk by chunk: one hand-off between the threads a step instead
of two. The same C code runs on the same float64 inputs: identical positions.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

SPLIT_MIN_PARTICLES = 2048  # below this (~0.5 ms of geodesics) the thread hand-off eats the gain
CHUNKS, CHUNK_MIN_PARTICLES = 16, 256  # a move is cut into up to 16 chunks of at least 256 particles
PROBE_EVERY = 64  # moves on one thread after the helper thread took less than a quarter of the chunks...
MISSED_IN_A_ROW = 2  # ...in this many moves in a row (one such move happens on an idle machine, ~1 in 200)
_pool: tuple[int, ThreadPoolExecutor] | None = None


class LeanMoveMixin:
    """OpenDrift's `update_positions` with one Geod and the geodesics of a large step shared by two threads;
    Leeway's two moves of a step made in one pass."""

    _geod = None
    _pairing = False  # inside Leeway's update: its first move waits for its second
    _deferred: tuple[np.ndarray, np.ndarray] | None = None  # the first move's (azimuth, distance)

    def update(self):
        if not _pairs_moves(self):
            return super().update()
        self._pairing, self._deferred = True, None
        try:
            result = super().update()
        finally:
            deferred, self._pairing, self._deferred = self._deferred, False, None
        if deferred is not None:  # a first move whose second never came (never, in today's Leeway)
            self._move(*deferred)
        return result

    def update_positions(self, x_vel, y_vel):
        if len(self.elements.lon) < 2:
            return super().update_positions(x_vel, y_vel)
        azimuth, distance = self._course(x_vel, y_vel)
        if not self._pairing:
            return self._move(azimuth, distance)
        if self._deferred is None:
            self._deferred = (azimuth, distance)  # Leeway reads no position before its current move
            return None
        first, self._deferred, self._pairing = self._deferred, None, False
        return self._move(*first, then=(azimuth, distance))

    def _course(self, x_vel, y_vel) -> tuple[np.ndarray, np.ndarray]:
        """OpenDrift's azimuth and distance of a move (its expressions and dtypes) as pyproj's float64 buffers."""
        azimuth = np.degrees(np.arctan2(x_vel, y_vel))
        velocity = np.sqrt(x_vel**2 + y_vel**2)
        velocity = velocity * self.elements.moving
        return (np.array(azimuth, dtype=np.float64, order="C"),
                np.array(velocity * self.time_step.total_seconds(), dtype=np.float64, order="C"))  # fmt: skip

    def _move(self, azimuth: np.ndarray, distance: np.ndarray, then: tuple | None = None) -> None:
        if LeanMoveMixin._geod is None:
            import pyproj

            LeanMoveMixin._geod = pyproj.Geod(ellps="WGS84")
        lon, lat = (np.array(a, dtype=np.float64, order="C") for a in (self.elements.lon, self.elements.lat))
        geodesics(LeanMoveMixin._geod, lon, lat, azimuth, distance, then=then)
        self.elements.lon, self.elements.lat = lon, lat
        # OpenDrift checks after each move; between a pair there is nothing to catch: pyproj's direct problem
        # gives longitudes within ±180 and latitudes within ±90 (or NaN, which the check lets through too)
        if lon_lat_invalid(lon, lat):
            sys.exit("Quitting")  # what OpenDrift does with invalid new coordinates
        return None


def _pairs_moves(model) -> bool:
    """Whether the model's step is Leeway's: two moves with nothing between them reading the positions (the
    worker's own mixins adjust the environment before the step and move nothing)."""
    return _pairs_moves_of(type(model))


@functools.cache
def _pairs_moves_of(cls: type) -> bool:
    from opendrift.models.leeway import Leeway

    if cls.update_positions is not LeanMoveMixin.update_positions:
        return False
    model_update = next((vars(k)["update"] for k in cls.__mro__ if k.__module__.startswith("opendrift.")
                         and "update" in vars(k)), None)  # fmt: skip
    return model_update is Leeway.update


def lon_lat_invalid(lon: np.ndarray, lat: np.ndarray) -> bool:
    """OpenDrift's check after a move (its comparisons, unchanged)."""
    return bool(lon.min() < -180 or lon.min() > 360 or lat.min() < -90 or lat.max() > 90)


def geodesics(
    geod, lon: np.ndarray, lat: np.ndarray, azimuth: np.ndarray, dist: np.ndarray, then: tuple | None = None
) -> None:
    """pyproj's `Geod.fwd` in place on float64 arrays (and then the move `then`, (azimuth, dist), from where the
    first ended); large arrays in chunks shared by two threads.

    Both threads take the next chunk until none is left and the caller waits only for chunks the helper has
    taken, so a helper that gets no core (a busy machine) costs at most one chunk. When the helper gets less
    than a quarter of the chunks in `MISSED_IN_A_ROW` moves in a row, the next `PROBE_EVERY` moves run on the
    calling thread alone (waking a thread that finds no free core costs the caller its time slice).
    """
    moves = [(azimuth, dist)] if then is None else [(azimuth, dist), then]
    n = lon.size
    if n < SPLIT_MIN_PARTICLES or (os.cpu_count() or 1) < 2 or _sharing.skip(os.getpid()):
        for az, d in moves:
            geod._fwd(lon, lat, az, d, radians=False, return_back_azimuth=False)
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
            for az, d in moves:
                geod._fwd(lon[part], lat[part], az[part], d[part], radians=False, return_back_azimuth=False)
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
        self.pid, self.skipping, self.missed = 0, 0, 0

    def skip(self, pid: int) -> bool:
        if pid != self.pid:  # a forked process: its own helper thread, its own history
            self.pid, self.skipping, self.missed = pid, 0, 0
        if self.skipping:
            self.skipping -= 1
            return True
        return False

    def record(self, helper_chunks: int, chunks: int) -> None:
        self.missed = self.missed + 1 if helper_chunks * 4 < chunks else 0
        if self.missed >= MISSED_IN_A_ROW:
            self.skipping, self.missed = PROBE_EVERY, 0


_sharing = _Sharing()


def _executor() -> ThreadPoolExecutor:
    """One helper thread per process (a forked job process starts its own)."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        _pool = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="geodesic"))
        _pool[1].submit(int).result()  # the thread started: a first move does not wait for its start
    return _pool[1]
