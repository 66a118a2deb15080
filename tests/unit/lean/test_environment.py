"""Pieces of the lean environment that replace numpy.ma calls: the same masks for every kind of reader output."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.lean.environment import invalid_mask


def _outputs():
    rng = np.random.default_rng(7)
    data = rng.normal(size=50).astype(np.float32)
    data[[3, 9]] = np.nan
    data[[4, 20]] = [np.inf, -np.inf]
    mask = np.zeros(50, bool)
    mask[[9, 10, 11]] = True
    yield data  # a plain array with NaN and inf
    yield np.ma.masked_array(data, mask=mask)  # masked, overlapping a NaN
    yield np.ma.masked_array(data.astype(np.float64), mask=np.ma.nomask)  # a masked array without a mask
    yield np.ma.masked_array(np.arange(50), mask=mask)  # integers (a land mask)
    yield np.ma.masked_array(data, mask=True)  # all masked
    yield np.float32(np.nan) * np.ones(0, np.float32)  # empty


@pytest.mark.parametrize("values", list(_outputs()), ids=range(6))
def test_invalid_mask_equals_numpys_masked_invalid(values):
    expected = np.ma.getmaskarray(np.ma.masked_invalid(values))
    got = invalid_mask(values)
    assert got.dtype == bool and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
