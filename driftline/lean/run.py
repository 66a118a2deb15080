"""The run of a lean step: per-run costs of OpenDrift's `run` that the worker does not need.

- OpenDrift samples `psutil.virtual_memory()` before every time step for a memory plot (~0.4 ms each, a tenth
  of a 100-particle run); here it is sampled at most once a second.
- After streaming its output to a file OpenDrift opens that file again with xarray as its `result` (~50 ms);
  the worker's streamed runs (driftline.trajfile) already hold what they need, so the reopened result is an
  empty Dataset that the caller closes. In-memory runs are untouched.
- Gridded readers interpolate with `driftline.lean.interpolate.LeanLinear2DInterpolator` (OpenDrift's
  `linearNDFast`, its stencil built once per block and step: the same values).

They are swapped in for the duration of `run` only, in OpenDrift's base-model and interpolation modules.
"""

from __future__ import annotations

import time
from contextlib import contextmanager


class LeanRunMixin:
    """OpenDrift's `run` with a throttled memory probe and, for streamed output, no reopening of the file."""

    lean_streamed = False  # set by the caller when the output file is written by driftline.trajfile

    def run(self, *args, **kwargs):
        with _swapped(self.lean_streamed):
            return super().run(*args, **kwargs)


@contextmanager
def _swapped(streamed: bool):
    import opendrift.models.basemodel as base
    from opendrift.readers.interpolation.interpolators import horizontal_interpolation_methods as methods

    from driftline.lean.interpolate import LeanLinear2DInterpolator

    saved = base.psutil, base.xr, methods["linearNDFast"]
    base.psutil = _ThrottledPsutil(saved[0])
    if streamed:
        base.xr = _NoReopenXarray(saved[1])
    methods["linearNDFast"] = LeanLinear2DInterpolator  # ReaderBlocks made during the run take it
    try:
        yield
    finally:
        base.psutil, base.xr, methods["linearNDFast"] = saved


class _ThrottledPsutil:
    """psutil whose virtual_memory() is re-read at most every `interval_s` (OpenDrift's per-step memory plot)."""

    def __init__(self, psutil, interval_s: float = 1.0) -> None:
        self._psutil, self._interval_s, self._last, self._at = psutil, interval_s, None, 0.0

    def virtual_memory(self):
        now = time.monotonic()
        if self._last is None or now - self._at >= self._interval_s:
            self._last, self._at = self._psutil.virtual_memory(), now
        return self._last

    def __getattr__(self, name: str):
        return getattr(self._psutil, name)


class _NoReopenXarray:
    """xarray whose open_dataset gives an empty Dataset: the end of a streamed run does not read the file back."""

    def __init__(self, xr) -> None:
        self._xr = xr

    def open_dataset(self, *args, **kwargs):
        return self._xr.Dataset()

    def __getattr__(self, name: str):
        return getattr(self._xr, name)
