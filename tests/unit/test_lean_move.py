"""The lean geodesic move: chunks shared by two threads give pyproj's own values, whoever computes them."""

from __future__ import annotations

import threading
import time

import numpy as np
import pyproj
import pytest

from driftline.lean import move


def _inputs(n: int, seed: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [3 + rng.random(n), 57 + rng.random(n), rng.uniform(-180, 180, n), rng.uniform(0, 400, n)]


def _reference(geod, arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    lon, lat, _ = geod.fwd(*arrays)
    return np.asarray(lon), np.asarray(lat)


class _RecordingGeod:
    """A Geod whose `_fwd` notes which thread moved how many particles."""

    def __init__(self) -> None:
        self.geod, self.calls, self.lock = pyproj.Geod(ellps="WGS84"), [], threading.Lock()

    def _fwd(self, lon, *args, **kwargs):
        with self.lock:
            self.calls.append((threading.current_thread().name, lon.size))
        return self.geod._fwd(lon, *args, **kwargs)


@pytest.mark.parametrize("n", [1, 2047, 2048, 5000, 50001])
def test_geodesics_equal_pyprojs_forward_problem(n):
    geod = pyproj.Geod(ellps="WGS84")
    arrays = _inputs(n)
    expected = _reference(geod, arrays)
    buffers = [a.copy() for a in arrays]
    move.geodesics(geod, *buffers)
    np.testing.assert_array_equal(buffers[0], expected[0])
    np.testing.assert_array_equal(buffers[1], expected[1])


def test_a_large_move_is_cut_into_chunks_for_both_threads():
    geod, n = _RecordingGeod(), 40000
    buffers = _inputs(n)
    expected = _reference(geod.geod, buffers)
    move.geodesics(geod, *buffers)
    assert sum(size for _, size in geod.calls) == n
    assert len(geod.calls) == move.CHUNKS
    np.testing.assert_array_equal(buffers[0], expected[0])


def test_a_helper_without_a_core_leaves_every_chunk_to_the_caller():
    """The helper thread is held up (a busy machine): the caller moves all chunks, nothing waits for half."""
    geod, n = _RecordingGeod(), 20000
    buffers = _inputs(n)
    expected = _reference(geod.geod, buffers)
    release = threading.Event()
    blocker = move._executor().submit(release.wait, 10)
    done = threading.Thread(target=move.geodesics, args=(geod, *buffers))
    done.start()
    deadline = time.monotonic() + 5
    while sum(size for _, size in geod.calls) < n and time.monotonic() < deadline:
        time.sleep(0.005)
    assert sum(size for _, size in geod.calls) == n
    assert done.is_alive()  # it waits for the helper's (now empty) share, but all work is already done
    assert {name for name, _ in geod.calls} == {done.name}
    release.set()
    blocker.result(5)
    done.join(5)
    assert not done.is_alive()
    np.testing.assert_array_equal(buffers[0], expected[0])
    np.testing.assert_array_equal(buffers[1], expected[1])
