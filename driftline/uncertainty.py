"""Forcing uncertainty: wind and current errors as a correlated perturbation per particle (Ornstein-Uhlenbeck).

Today's cloud spreads only from the Leeway coefficients, the position radius and jibing; the wind and current
are taken as exact, so the search areas are too small whenever the forcing is wrong. Each particle here gets
its own wind and current error (east and north components), a first-order autoregressive (Ornstein-Uhlenbeck)
process with standard deviation sigma and decorrelation time tau:
    e(t + dt) = a e(t) + sigma sqrt(1 - a^2) xi,   a = exp(-|dt| / tau),   xi ~ N(0, 1)
(Griffa 1996, "Applications of stochastic particle models to oceanographic problems", in Stochastic Modelling
in Physical Oceanography, Birkhäuser, 113-140: the random-flight model). It is added to the wind and current
each particle sees, before the OpenDrift model moves it (Leeway, ShipDrift and OceanDrift alike).

Why not OpenDrift's `drift:current_uncertainty` / `drift:wind_uncertainty`: they draw a new error every time
step (white noise), so the spread they add scales with sqrt(time step) and is negligible for any realistic
error (Breivik & Allen 2008, J. Mar. Syst. 69:99-113, found the same for their random walk): 0.05 m/s for 24 h
at 10-min steps moves a particle ~0.36 km (1 sigma), against ~3.3 km for the same error persisting for 12 h.
A forecast error persists (a misplaced front, a wind forecast off for hours), and its effect must not depend
on the time step; tests/unit/test_uncertainty.py shows both.

Defaults: sigma 0.05 m/s for the current and 0.5 m/s for the wind, the values MET Norway's operational OpenDrift
models use (OpenOil and OpenHNS set drift:current_uncertainty 0.05 and drift:wind_uncertainty 0.5); tau 12 h,
this implementation's choice: under the 1-3 day Lagrangian integral time of surface currents (LaCasce 2008,
Prog. Oceanogr. 77:1-29), so an error lasts about a forecast cycle. 0 for both is plain OpenDrift, exactly.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from driftline.contract.fields import number

if TYPE_CHECKING:
    from driftline.contract.params import MissionParams

DEFAULT_CURRENT_UNCERTAINTY_MS = 0.05
DEFAULT_WIND_UNCERTAINTY_MS = 0.5
MAX_CURRENT_UNCERTAINTY_MS = 1.0
MAX_WIND_UNCERTAINTY_MS = 5.0  # OpenDrift's own limit for drift:wind_uncertainty
DECORRELATION_HOURS = 12.0
WIND_HEIGHT_M = 10.0  # wind input: 10 m above the sea (x_wind/y_wind, OpenDrift's convention)
KEYS = ("current_uncertainty_ms", "wind_uncertainty_ms")
_SEED_OFFSET = 0x5EED  # the perturbation's own random stream: OpenDrift's np.random draws stay as they were


def parse_uncertainty(p: dict) -> dict[str, float]:
    """MissionParams fields from the job (InvalidJob names the key)."""
    return {
        "current_uncertainty_ms": number(
            p, "current_uncertainty_ms", DEFAULT_CURRENT_UNCERTAINTY_MS, 0, MAX_CURRENT_UNCERTAINTY_MS
        ),
        "wind_uncertainty_ms": number(
            p, "wind_uncertainty_ms", DEFAULT_WIND_UNCERTAINTY_MS, 0, MAX_WIND_UNCERTAINTY_MS
        ),
    }


def uncertainty_record(params: MissionParams) -> dict[str, Any]:
    """summary.json `forcing_uncertainty`: what was added to the forcing, and the wind input height."""
    return {
        "current_uncertainty_ms": params.current_uncertainty_ms,
        "wind_uncertainty_ms": params.wind_uncertainty_ms,
        "decorrelation_hours": DECORRELATION_HOURS,
        "method": "Ornstein-Uhlenbeck error per particle on the east and north components (random flight, "
        "Griffa 1996); defaults of MET Norway's operational OpenDrift models (OpenOil, OpenHNS)",
        "wind_height_m": WIND_HEIGHT_M,
    }


def perturbation_mixins(params: MissionParams, seed: int) -> tuple[type, ...]:
    """Classes to mix into the mission's OpenDrift model: none when both uncertainties are 0 (plain OpenDrift)."""
    current, wind = params.current_uncertainty_ms, params.wind_uncertainty_ms
    if current == 0 and wind == 0:
        return ()

    class CorrelatedForcingError(_Perturbation):
        _sigmas = {"current": current, "wind": wind}
        _seed = seed

    return (CorrelatedForcingError,)


class _Perturbation:
    """Adds each particle's correlated wind and current error to its environment before the model moves it."""

    _sigmas: dict[str, float] = {}
    _seed = 0
    _errors: dict[str, np.ndarray] | None = None

    def update(self) -> None:
        self._add_forcing_errors()
        super().update()

    def _add_forcing_errors(self) -> None:
        total = self.num_elements_total()
        if self._errors is None:
            self._rng = np.random.default_rng((self._seed + _SEED_OFFSET) % 2**32)
            self._errors = {k: self._rng.standard_normal((2, total)) * s for k, s in self._sigmas.items() if s > 0}
        else:
            a = math.exp(-abs(self.time_step.total_seconds()) / (DECORRELATION_HOURS * 3600))
            for key, e in self._errors.items():
                e *= a
                # In place, the same draws and operations as e += (sigma * sqrt(1 - a^2)) * normal(e.shape)
                draw = self._rng.standard_normal(e.shape, out=self._draw_buffer(e.shape))
                draw *= self._sigmas[key] * math.sqrt(1 - a * a)
                e += draw
        rows = _rows(self.elements.ID)
        names = {"current": ("x_sea_water_velocity", "y_sea_water_velocity"), "wind": ("x_wind", "y_wind")}
        for key, e in self._errors.items():
            for component, name in enumerate(names[key]):
                values = getattr(self.environment, name)
                setattr(self.environment, name, values + e[component, rows].astype(values.dtype))

    def _draw_buffer(self, shape: tuple[int, ...]) -> np.ndarray:
        buffer = getattr(self, "_draws", None)
        if buffer is None or buffer.shape != shape:
            buffer = self._draws = np.empty(shape)
        return buffer


def _rows(ids: np.ndarray) -> slice | np.ndarray:
    """Error rows of the active elements (ID - 1): a slice while they are all of the first IDs in order (the usual
    case until one strands), so the errors are read without a gather."""
    ids = np.asarray(ids)
    n = ids.size
    if n and ids[0] == 1 and ids[-1] == n and (n < 2 or bool((np.diff(ids) == 1).all())):
        return slice(0, n)
    return ids.astype(np.int64) - 1
