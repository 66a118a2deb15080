"""The lean geodesic move: chunks shared by two threads give pyproj's own values, whoever computes them."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

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


def _assert_positions(buffers: list[np.ndarray], expected: tuple[np.ndarray, np.ndarray]) -> None:
    np.testing.assert_array_equal(buffers[0], expected[0])
    np.testing.assert_array_equal(buffers[1], expected[1])


@contextmanager
def _helper_held_up():
    """The helper thread busy with something else (as when it gets no core) until the block ends."""
    release = threading.Event()
    blocker = move._executor().submit(release.wait, 10)
    try:
        yield
    finally:
        release.set()
        blocker.result(5)


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
    _assert_positions(buffers, expected)


def _recorded(monkeypatch, n: int):
    """A fresh sharing history, a recording Geod, inputs of n particles and pyproj's answer for them."""
    monkeypatch.setattr(move, "_sharing", move._Sharing())
    geod, buffers = _RecordingGeod(), _inputs(n)
    return geod, buffers, _reference(geod.geod, buffers)


def test_a_large_move_is_cut_into_chunks_for_both_threads(monkeypatch):
    n = 40000
    geod, buffers, expected = _recorded(monkeypatch, n)
    move.geodesics(geod, *buffers)
    assert sum(size for _, size in geod.calls) == n
    assert len(geod.calls) == move.CHUNKS
    _assert_positions(buffers, expected)


def test_a_helper_without_a_core_leaves_every_chunk_to_the_caller(monkeypatch):
    """The helper thread is held up (a busy machine): the caller moves all chunks and does not wait for it."""
    n = 20000
    geod, buffers, expected = _recorded(monkeypatch, n)
    with _helper_held_up():
        started = time.monotonic()
        move.geodesics(geod, *buffers)
        assert time.monotonic() - started < 5  # returned while the helper was still held up
        assert sum(size for _, size in geod.calls) == n
        assert {name for name, _ in geod.calls} == {threading.current_thread().name}
    _assert_positions(buffers, expected)


def test_after_moves_the_helper_missed_the_next_moves_run_on_one_thread(monkeypatch):
    monkeypatch.setattr(move, "_sharing", move._Sharing())
    geod, n = _RecordingGeod(), 20000
    with _helper_held_up():
        for _ in range(move.MISSED_IN_A_ROW):
            move.geodesics(geod, *_inputs(n))  # the helper took nothing
    geod.calls.clear()
    for _ in range(move.PROBE_EVERY):
        move.geodesics(geod, *_inputs(n))
    assert [size for _, size in geod.calls] == [n] * move.PROBE_EVERY  # one call each: not shared
    geod.calls.clear()
    move.geodesics(geod, *_inputs(n))  # then sharing is tried again
    assert len(geod.calls) == move.CHUNKS


def test_a_failure_on_the_helper_thread_reaches_the_caller(monkeypatch):
    monkeypatch.setattr(move, "_sharing", move._Sharing())
    geod = _RecordingGeod()
    real = geod._fwd

    helper_took_one = threading.Event()

    def failing(lon, *args, **kwargs):
        if threading.current_thread().name.startswith("geodesic"):
            helper_took_one.set()
            raise ValueError("bad input")
        helper_took_one.wait(5)  # the caller's first chunk: until the helper has taken one
        return real(lon, *args, **kwargs)

    geod._fwd = failing
    with pytest.raises(ValueError, match="bad input"):
        move.geodesics(geod, *_inputs(20000))


def test_one_move_the_helper_missed_does_not_stop_the_sharing(monkeypatch):
    """An idle machine's helper misses a move now and then (~1 in 200): that alone keeps the sharing."""
    monkeypatch.setattr(move, "_sharing", move._Sharing())
    geod, n = _RecordingGeod(), 20000
    for _ in range(3):
        with _helper_held_up():
            move.geodesics(geod, *_inputs(n))  # missed
        geod.calls.clear()
        move.geodesics(geod, *_inputs(n))  # shared again
        assert len(geod.calls) == move.CHUNKS


@pytest.mark.parametrize("n", [1, 2047, 5000, 50001])
def test_two_moves_in_one_pass_equal_pyprojs_two_forward_problems(n):
    """Leeway's pair of moves (leeway, then current) made chunk by chunk: pyproj's two calls, one after the other."""
    geod = pyproj.Geod(ellps="WGS84")
    first, second = _inputs(n), _inputs(n, seed=4)[2:]
    lon, lat = _reference(geod, first)
    expected = _reference(geod, [lon, lat, *second])
    buffers = [a.copy() for a in first]
    move.geodesics(geod, *buffers, then=tuple(a.copy() for a in second))
    _assert_positions(buffers, expected)


def test_a_moved_pair_is_one_pass_of_chunks_for_both_threads(monkeypatch):
    n = 40000
    geod, buffers, _ = _recorded(monkeypatch, n)
    move.geodesics(geod, *buffers, then=tuple(_inputs(n, seed=5)[2:]))
    assert sum(size for _, size in geod.calls) == 2 * n  # each chunk moved twice, by whoever took it
    assert len(geod.calls) == 2 * move.CHUNKS
