"""Unit tests of driftline/search/alloc.py: cell pooling, rectangle parameters, scoring, moments, the optimisers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftline.search.alloc import (
    View,
    _overlaps,
    corners,
    frozen_pos,
    moments,
    overlap_in_time,
    rect_of,
    refine,
    scores,
    sequential,
    two_parts,
)
from driftline.search.theory import max_coverage, pod


def _view(x, y, kind="PS", speed=10.0, hours=4.0, sweep=1.0, start=0.0, end=4 * 3600.0, ok=None, drift=(0.0, 0.0)):
    ok = np.ones(len(x), bool) if ok is None else ok
    return View(x, y, ok, speed, hours, speed * sweep * hours, "inverse_cube", kind, np.array(drift), start, end)


def _cloud(n=3000, su=4.0, sv=1.5, theta=0.5, seed=2):
    rng = np.random.default_rng(seed)
    u, v = rng.standard_normal(n) * su, rng.standard_normal(n) * sv
    c, s = math.cos(theta), math.sin(theta)
    return u * c - v * s, u * s + v * c


def test_view_pools_particles_per_cell():
    """Pooled weights keep the total of present particles; cell representatives lie in the cloud; none present: 0."""
    x, y = _cloud(2000)
    ok = np.arange(2000) % 4 != 0
    v = _view(x, y, ok=ok)
    w = np.random.default_rng(1).random(2000)
    pooled = v.pooled(w)
    assert pooled.sum() == pytest.approx(w[ok].sum()) and len(pooled) == len(v.px) <= 72 * 72
    assert x[ok].min() <= v.px.min() and v.px.max() <= x[ok].max()
    empty = _view(x, y, ok=np.zeros(2000, bool))
    assert empty.pooled(w).tolist() == [0.0]


@given(st.floats(0.0, math.pi), st.floats(-1.0, 2.0), st.floats(0.0, 2.5), st.sampled_from(["PS", "SS"]))
def test_rect_of_uses_the_whole_track(theta, log_w, log_n, kind):
    """PS: n legs of L − S plus n − 1 crossings of S add up to V·T; SS: a square of side track / n."""
    v = _view(np.zeros(3), np.zeros(3), kind=kind)
    cx, cy, th, length, width, n = rect_of(v, np.array([1.0, 2.0, theta, log_w, log_n]))
    assert (cx, cy, th) == (1.0, 2.0, theta) and n == pytest.approx(math.exp(log_n))
    if kind == "SS":
        assert length == width == pytest.approx(40.0 / n)
    else:
        s = width / n
        assert n * (length - s) + (n - 1) * s == pytest.approx(40.0) and width == pytest.approx(math.exp(log_w))


def test_scores_poc_times_pod_and_feasibility():
    """A rectangle holding every particle scores POD(Z/A); a PS shorter than wide, or one saturating, scores −1."""
    x, y = _cloud(500, 1.0, 1.0)
    v = _view(x, y)
    left = v.pooled(np.full(500, 1 / 500))
    n, width = 4.0, 8.0
    length = (40.0 + width / n) / n  # 10.5
    p = np.array([[0.0, 0.0, 0.0, math.log(width), math.log(n)]])
    inside = (np.abs(x) <= length / 2) & (np.abs(y) <= width / 2)
    got = scores(v, p, left)[0]
    assert got == pytest.approx(inside.mean() * pod("inverse_cube", 40.0 / (length * width)))
    wide = np.array([[0.0, 0.0, 0.0, math.log(20.0), math.log(4.0)]])  # 11.25 long, 20 wide
    assert scores(v, wide, left)[0] == -1.0 and scores(_view(x, y, kind="CS"), wide, left)[0] > 0
    sliver = np.array([[0.0, 0.0, 0.0, math.log(0.01), math.log(1.0)]])
    assert 40.0 / (40.01 * 0.01) > max_coverage("inverse_cube") and scores(v, sliver, left)[0] == -1.0


def test_moments_and_two_parts():
    """Moments recover the axis and spreads of a rotated cloud; two lobes far apart split, one cloud does not."""
    x, y = _cloud(20_000, 4.0, 1.5, 0.5)
    mx, my, th, su, sv = moments(x, y, np.ones_like(x))
    assert (mx, my) == pytest.approx((0.0, 0.0), abs=0.1)
    assert (
        th == pytest.approx(0.5, abs=0.02) and su == pytest.approx(4.0, rel=0.03) and sv == pytest.approx(1.5, rel=0.03)
    )
    assert two_parts(x, y, np.ones_like(x)) is None
    a, b = _cloud(1000, 1.0, 1.0, seed=3), _cloud(500, 1.0, 1.0, seed=4)
    xs, ys = np.concatenate([a[0], b[0] + 12.0]), np.concatenate([a[1], b[1]])
    parts = two_parts(xs, ys, np.ones_like(xs))
    assert parts is not None and sorted(int(m.sum()) for m in parts) == [500, 1000]
    assert sorted(set(np.flatnonzero(parts[0])) ^ set(np.flatnonzero(parts[1]))) == list(range(1500))


def test_sequential_then_refine_raise_pos_and_keep_simultaneous_units_apart():
    """Two units at the same time: sequential gives a POS above either alone, refine never lowers it, and the two
    rectangles do not overlap; units at different times may."""
    x, y = _cloud(2000)
    w = np.full(2000, 1 / 2000)
    views = [_view(x, y), _view(x, y, speed=8.0)]
    alone = [frozen_pos([v], w, [sequential([v], w, [0])[0]]) for v in views]
    plan = sequential(views, w, [0, 1])
    pos = frozen_pos(views, w, plan)
    assert pos > max(alone) and pos <= 1.0
    better = refine(views, w, plan, {})
    assert frozen_pos(views, w, better) >= pos - 1e-12
    blocked = [corners(*rect_of(views[1], better[1])[:5])]
    assert not _overlaps(views[0], better[0], blocked)
    assert overlap_in_time(views[0], views[1]) and not overlap_in_time(
        views[0], _view(x, y, start=4 * 3600.0, end=9e3 * 2)
    )
