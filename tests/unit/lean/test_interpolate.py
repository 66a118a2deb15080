"""The lean bilinear interpolator against OpenDrift's `Linear2DInterpolator`: the same bits, whatever the field."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from driftline.lean.interpolate import LeanLinear2DInterpolator, Linear2DInterpolator


def _bits(a: np.ndarray) -> np.ndarray:
    a = np.ma.filled(a, np.nan) if isinstance(a, np.ma.MaskedArray) else np.asarray(a)
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


def _both(xgrid, ygrid, x, y, field):
    """(OpenDrift's result, ours, the field as each left it): OpenDrift fills missing data in place."""
    theirs_field, ours_field = field.copy(), field.copy()
    theirs = Linear2DInterpolator(xgrid, ygrid, x, y)(theirs_field)
    ours = LeanLinear2DInterpolator(xgrid, ygrid, x, y)(ours_field)
    return theirs, ours, theirs_field, ours_field


@settings(max_examples=200, deadline=None)
@given(
    st.integers(2, 30),
    st.integers(2, 30),
    st.sampled_from([np.float32, np.float64]),
    st.sampled_from([0.0, 0.0, 0.05, 0.5]),
    st.integers(0, 2**32 - 1),
)
def test_values_are_opendrifts_bit_for_bit(ny, nx, dtype, nan_share, seed):
    """Inside, on the last row and column, outside the block, at NaN positions and next to missing data."""
    rng = np.random.default_rng(seed)
    xgrid, ygrid = np.linspace(-2.0, 3.0, nx), np.linspace(55.0, 58.0, ny)
    field = (rng.standard_normal((ny, nx)) * 10.0 ** rng.integers(-3, 3)).astype(dtype)
    field[rng.random((ny, nx)) < nan_share] = np.nan
    x, y = rng.uniform(-2.5, 3.5, 300), rng.uniform(54.8, 58.2, 300)
    x[:20], y[20:40] = xgrid[rng.integers(0, nx, 20)], ygrid[rng.integers(0, ny, 20)]  # on grid lines
    x[40:45], y[45:50] = xgrid[-1], ygrid[-1]
    x[50:52] = np.nan
    theirs, ours, theirs_field, ours_field = _both(xgrid, ygrid, x, y, field)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(_bits(ours), _bits(theirs))
    np.testing.assert_array_equal(_bits(ours_field), _bits(theirs_field))


def test_a_masked_field_and_an_empty_one():
    """A masked field is read with its mask as missing data; an all-NaN field gives NaN (OpenDrift's path)."""
    rng = np.random.default_rng(1)
    xgrid, ygrid = np.arange(10.0), np.arange(8.0)
    data = rng.standard_normal((8, 10)).astype(np.float32)
    field = np.ma.masked_array(data, mask=rng.random((8, 10)) < 0.2)
    x, y = rng.uniform(0, 9, 500), rng.uniform(0, 7, 500)
    theirs, ours, _, _ = _both(xgrid, ygrid, x, y, field)
    np.testing.assert_array_equal(_bits(ours), _bits(theirs))
    assert np.isfinite(ours).all()  # the masked cells were filled from their neighbours
    empty = np.full((8, 10), np.nan, np.float32)
    theirs, ours, _, _ = _both(xgrid, ygrid, x, y, empty)
    assert np.isnan(ours).all() and ours.shape == theirs.shape


def test_a_change_below_float32_is_caught_in_float64():
    """The comparison is exact: scaling one weight by 1 + 1e-12 changes float64 results."""
    rng = np.random.default_rng(2)
    xgrid, ygrid = np.arange(20.0), np.arange(20.0)
    field = rng.standard_normal((20, 20))
    x, y = rng.uniform(0, 19, 200), rng.uniform(0, 19, 200)
    lean = LeanLinear2DInterpolator(xgrid, ygrid, x, y)
    exact = lean(field.copy())
    lean._weights = (lean._weights[0] * (1 + 1e-12), *lean._weights[1:])
    assert (_bits(lean(field.copy())) != _bits(exact)).any()
    np.testing.assert_array_equal(_bits(exact), _bits(Linear2DInterpolator(xgrid, ygrid, x, y)(field.copy())))
