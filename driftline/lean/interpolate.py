"""OpenDrift's bilinear reader interpolation (`linearNDFast`) with a step's stencil computed once.

OpenDrift's `Linear2DInterpolator` calls `scipy.ndimage.map_coordinates(order=1)` once per variable and time
block, recomputing the same spline weights every time (~130 µs for 5000 particles). Here the four neighbours and
weights of each particle are found once per block and step, and each variable is the same sum scipy forms
(value × y-weight × x-weight over the corners in C order, in float64, rounded to the input's dtype): identical
values, bit for bit (tests/unit/lean/test_interpolate.py). Particles whose four neighbours are not all inside
the block (edges, outside, NaN positions) keep scipy's own call; missing values are filled as OpenDrift does.
"""

from __future__ import annotations

import logging

import numpy as np
import opendrift.readers.basereader  # noqa: F401 - first: importing the interpolators alone meets OpenDrift's import circle
from opendrift.readers.interpolation.interpolators import Linear2DInterpolator, expand_numpy_array
from scipy.ndimage import map_coordinates

log = logging.getLogger(__name__)
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class LeanLinear2DInterpolator(Linear2DInterpolator):
    """`Linear2DInterpolator` with the stencil of the particles built once for all variables of a block."""

    def __init__(self, xgrid, ygrid, x, y):
        super().__init__(xgrid, ygrid, x, y)
        self._shape = (len(ygrid), len(xgrid))
        ny, nx = self._shape
        y0, x0 = np.floor(self.yi), np.floor(self.xi)
        inside = (y0 >= 0) & (y0 <= ny - 2) & (x0 >= 0) & (x0 <= nx - 2)  # False for NaN
        self._edge = None if inside.all() else np.flatnonzero(~inside)
        self._inner = None if self._edge is None else np.flatnonzero(inside)
        yi, xi = (self.yi, self.xi) if self._inner is None else (self.yi[inside], self.xi[inside])
        y0, x0 = (y0, x0) if self._inner is None else (y0[inside], x0[inside])
        wy0, wx0 = 1.0 - (yi - y0), 1.0 - (xi - x0)  # scipy's order-1 spline weights: 1 - t, then 1 - (1 - t)
        self._weights = (wy0, 1.0 - wy0, wx0, 1.0 - wx0)  # (which is not always t: scipy makes them sum to 1)
        first = y0.astype(np.intp) * nx + x0.astype(np.intp)
        self._corners = np.stack([first, first + 1, first + nx, first + nx + 1])  # C order, as scipy sums them

    def __call__(self, array2d):
        if isinstance(array2d, np.ma.MaskedArray):
            array2d = np.ma.filled(array2d, fill_value=np.nan)
        if np.shape(array2d) != self._shape or array2d.dtype not in _FLOATS or not np.isfinite(array2d).any():
            return super().__call__(array2d)  # OpenDrift's own path (and its warning for an all-NaN field)
        interp = self._bilinear(array2d)
        missing = np.where(~np.isfinite(interp))[0]
        i = 0
        while len(missing) > 0:  # OpenDrift's filling of missing values, unchanged
            i += 1
            if i > 10:
                log.warning("Still NaN-values after 10 iterations, exiting!")
                return interp
            expand_numpy_array(array2d)
            interp[missing] = map_coordinates(
                array2d, [self.yi[missing], self.xi[missing]], cval=np.nan, order=1, mode="nearest"
            )
            missing = np.where(~np.isfinite(interp))[0]
        return interp

    def _bilinear(self, array2d: np.ndarray) -> np.ndarray:
        """scipy's `map_coordinates(array2d, [yi, xi], cval=nan, order=1)`, the inner particles in numpy."""
        v = np.take(array2d, self._corners).astype(np.float64)
        wy0, wy1, wx0, wx1 = self._weights
        t = v[0] * wy0
        t *= wx0
        for corner, wy, wx in ((1, wy0, wx1), (2, wy1, wx0), (3, wy1, wx1)):
            c = v[corner] * wy
            c *= wx
            t += c
        if self._edge is None:
            return t.astype(array2d.dtype)
        out = np.empty(self.yi.shape, array2d.dtype)
        out[self._inner] = t
        out[self._edge] = map_coordinates(array2d, [self.yi[self._edge], self.xi[self._edge]], cval=np.nan, order=1)
        return out
