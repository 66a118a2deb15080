"""The lean simulation step: OpenDrift's per-step environment lookup and geodesic move without the bookkeeping.

OpenDrift stays the model: its readers, configuration, Leeway table and equations. These mixins (put before
the OpenDrift model class, with driftline.speedups) replace how a step gets there:

- `LeanEnvironmentMixin`: with constant forcing (every variable an `environment:fallback:*` value, the land
  mask from OpenDrift's global landmask reader) a step's environment is the fallback values and one landmask
  query, written into the float32 record array OpenDrift returns, instead of OpenDrift's masked-array reader
  loop (~2.6 ms a step for 5000 particles). The forcing uncertainty options (`drift:current_uncertainty`,
  `drift:current_uncertainty_uniform`, `drift:wind_uncertainty`) are applied exactly as OpenDrift does
  (same draws, same order). Anything else (gridded readers, profiles, tabularised Stokes drift, lazy readers)
  goes through OpenDrift's own `get_environment`.
- `LeanMoveMixin`: OpenDrift's `update_positions` (pyproj's `Geod.fwd`, Karney's geodesic direct problem, per
  particle) with the Geod built once and, for large particle counts, the particles cut into chunks that two
  threads take in turn: pyproj computes without the GIL, so a free second core takes about half the geodesics
  (and a busy one costs at most the chunk its thread holds). Leeway's two moves of a step (its leeway, then
  the current; nothing between them reads the positions) are made in one pass over the chunks: one hand-off
  between the threads a step instead of two. The values are computed by the same C code on the same float64
  inputs: identical positions.
- `LeanRunMixin` (driftline.lean.run): for the duration of `run`, a throttled memory probe, no read-back of
  the streamed file, and gridded readers interpolating with `LeanLinear2DInterpolator`
  (driftline.lean.interpolate): OpenDrift's bilinear `linearNDFast` with each block's stencil built once a
  step and scipy's arithmetic repeated in numpy (the same bits).

The output is identical to plain OpenDrift's for the same seed (tests/unit/lean/test_lean.py).
"""

from __future__ import annotations

from driftline.lean.environment import LeanEnvironmentMixin, ReaderEnvironment, lean_environment
from driftline.lean.history import LeanBufferMixin, LeanPreviousStateMixin
from driftline.lean.move import SPLIT_MIN_PARTICLES, LeanMoveMixin, geodesics
from driftline.lean.run import LeanRunMixin

__all__ = ["LEAN_STEP", "SPLIT_MIN_PARTICLES", "LeanBufferMixin", "LeanEnvironmentMixin", "LeanMoveMixin",
           "LeanPreviousStateMixin", "LeanRunMixin", "ReaderEnvironment", "geodesics", "lean_environment"]  # fmt: skip

# Mixed in before driftline.speedups.SPEEDUPS (whose previous-state and buffer mixins they take over).
LEAN_STEP = (LeanRunMixin, LeanEnvironmentMixin, LeanMoveMixin, LeanBufferMixin, LeanPreviousStateMixin)
