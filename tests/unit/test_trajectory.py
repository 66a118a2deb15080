"""In-memory trajectories: sizes, probability shares of the particles, presence masks and state counts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from driftline.trajectory import ACTIVE, NOT_RELEASED, OUT_OF_DOMAIN, STRANDED, Trajectories

STATES = st.sampled_from([NOT_RELEASED, ACTIVE, STRANDED, OUT_OF_DOMAIN])


def make(state: np.ndarray, weight: np.ndarray | None = None) -> Trajectories:
    n, t = state.shape
    times = np.arange(t).astype("datetime64[h]").astype("datetime64[s]")
    lon = np.where((state == ACTIVE) | (state == STRANDED), 4.0, np.nan)
    return Trajectories(
        times=times,
        lon=lon,
        lat=lon + 56.0,
        state=state.astype(np.int8),
        member=np.zeros(n, np.int16),
        object_number=np.ones(n, np.int16),
        weight=weight,
    )


def test_sizes_and_defaults():
    traj = make(np.zeros((3, 5), np.int8))
    assert (traj.num_particles, traj.num_times) == (3, 5)
    assert traj.member_names == ["main"] and traj.scenario is None and not traj.masked
    assert make(np.zeros((2, 1))).member_names is not traj.member_names  # each instance its own list


def test_counts_and_presence_at_an_output_index():
    state = np.array([[NOT_RELEASED, ACTIVE], [ACTIVE, STRANDED], [ACTIVE, OUT_OF_DOMAIN], [NOT_RELEASED, ACTIVE]])
    traj = make(state)
    assert traj.counts(0) == {"active": 2, "stranded": 0, "out_of_domain": 0, "not_released": 2}
    assert traj.counts() == {"active": 2, "stranded": 1, "out_of_domain": 1, "not_released": 0}
    assert traj.present(1).tolist() == [True, True, False, True]


@given(hnp.arrays(np.int8, hnp.array_shapes(min_dims=2, max_dims=2, max_side=8), elements=STATES))
def test_counts_cover_every_particle_and_presence_matches_them(state):
    traj = make(state)
    for t in range(traj.num_times):
        counts = traj.counts(t)
        assert sum(counts.values()) == traj.num_particles
        assert int(traj.present(t).sum()) == counts["active"] + counts["stranded"]


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=50))
def test_shares_are_weights_over_their_total_and_sum_to_one(weights):
    w = np.array(weights)
    shares = make(np.zeros((len(w), 2)), weight=w).shares()
    assert shares.dtype == np.float64 and shares.sum() == pytest.approx(1.0)
    if w.sum() > 0:
        np.testing.assert_allclose(shares, w / w.sum())
    else:  # all weights zero: equal shares rather than NaN
        np.testing.assert_allclose(shares, np.full(len(w), 1 / len(w)))


def test_shares_without_weights_or_particles():
    np.testing.assert_array_equal(make(np.zeros((4, 2))).shares(), [0.25] * 4)
    assert make(np.zeros((0, 2))).shares().shape == (0,)
    assert make(np.zeros((0, 2)), weight=np.zeros(0)).shares().shape == (0,)
