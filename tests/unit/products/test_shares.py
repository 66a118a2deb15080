"""Unit tests of driftline/products/shares.py: probability per state per time, and the out-of-domain warnings."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftline.products.shares import domain_warnings, shares_at, time_shares
from driftline.trajectory import ACTIVE, NOT_RELEASED, OUT_OF_DOMAIN, STRANDED, Trajectories

CODES = [ACTIVE, STRANDED, OUT_OF_DOMAIN, NOT_RELEASED]
TIMES = np.datetime64("2024-01-01T00:00:00", "s") + np.arange(3) * np.timedelta64(3600, "s")


def _traj(state, weight=None):
    state = np.asarray(state, np.int8)
    n, t = state.shape
    z = np.zeros((n, t))
    return Trajectories(TIMES[:t], z, z, state, np.zeros(n, np.int16), np.ones(n, np.int16), weight=weight)


@given(st.data(), st.integers(1, 30))
def test_time_shares_sum_to_one_and_follow_the_weights(data, n):
    """Each time's shares sum to 1 and each state's share is the sum of its particles' weights over the total."""
    state = np.array(data.draw(st.lists(st.lists(st.sampled_from(CODES), min_size=3, max_size=3), min_size=n,
                                        max_size=n)))  # fmt: skip
    w = np.array(data.draw(st.lists(st.floats(0.1, 10.0), min_size=n, max_size=n)))
    got = time_shares(_traj(state, w))
    total = sum(got.values())
    assert np.allclose(total, 1.0)
    for name, code in (("floating", ACTIVE), ("stranded", STRANDED), ("not_released", NOT_RELEASED)):
        assert np.allclose(got[name], [(w * (state[:, t] == code)).sum() / w.sum() for t in range(3)])


def test_unweighted_shares_and_rounding():
    """Without weights each particle carries 1/N; shares_at rounds to 6 decimals."""
    state = [[ACTIVE, ACTIVE, STRANDED], [ACTIVE, OUT_OF_DOMAIN, OUT_OF_DOMAIN], [NOT_RELEASED, ACTIVE, ACTIVE]]
    got = time_shares(_traj(state))
    assert shares_at(got, 0) == {"floating": 0.666667, "stranded": 0.0, "out_of_domain": 0.0, "not_released": 0.333333}
    assert got["out_of_domain"].tolist() == pytest.approx([0.0, 1 / 3, 1 / 3])


def test_domain_warnings_threshold_and_message():
    """Exactly 5 % warns of nothing; above it the message names the peak share and the first time over the limit."""
    shares = {"out_of_domain": np.array([0.0, 0.05, 0.05])}
    assert domain_warnings(shares, TIMES) == []
    shares = {"out_of_domain": np.array([0.0, 0.06, 0.125])}
    forcing = np.array([0.2, 0.0, 0.0])
    assert domain_warnings(shares, TIMES, forcing) == [
        "12.5% of the probability left the model domain, more than 5% from 2024-01-01T01:00:00Z: the forecast is "
        "blind there",
        "20.0% of the probability drifted outside the forcing files (fallback forcing there), more than 5% from "
        "2024-01-01T00:00:00Z: the forecast is blind there",
    ]
