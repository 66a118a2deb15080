"""Forcing uncertainty: the correlated per-particle error, its defaults, 0 = plain OpenDrift, and the
90 % area against the uncertainty. The OpenDrift runs are in process with constant forcing in the open sea."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from config import Settings
from driftline.contract.parse import parse_job
from driftline.errors import InvalidJob
from driftline.forcing import constant_plan
from driftline.products.areas import compute_search_areas
from driftline.products.shares import time_shares
from driftline.simulation import simulate
from driftline.uncertainty import (
    DECORRELATION_HOURS,
    DEFAULT_CURRENT_UNCERTAINTY_MS,
    DEFAULT_WIND_UNCERTAINTY_MS,
    perturbation_mixins,
)

MID = "550e8400-e29b-41d4-a716-446655440000"
BASE = {"latitude": 60.0, "longitude": -3.0, "start_time": "2024-01-01T00:00:00Z", "duration_hours": 6}


def parse(**params):
    return parse_job(json.dumps({"mission_id": MID, "params": {**BASE, **params}}), Settings.from_env({})).params


def test_defaults_are_stated_and_zero_adds_nothing():
    p = parse()
    assert (p.current_uncertainty_ms, p.wind_uncertainty_ms) == (0.05, 0.5)
    assert (DEFAULT_CURRENT_UNCERTAINTY_MS, DEFAULT_WIND_UNCERTAINTY_MS) == (0.05, 0.5)
    assert perturbation_mixins(parse(current_uncertainty_ms=0, wind_uncertainty_ms=0), 1) == ()
    assert len(perturbation_mixins(parse(wind_uncertainty_ms=0), 1)) == 1
    record = p.as_record()
    assert record["current_uncertainty_ms"] == 0.05 and record["wind_uncertainty_ms"] == 0.5
    for key, bad in (("current_uncertainty_ms", -0.1), ("current_uncertainty_ms", 2), ("wind_uncertainty_ms", 6)):
        with pytest.raises(InvalidJob, match=key):
            parse(**{key: bad})


def fake_model(n: int, step_s: float, sigma_current: float):
    """The attributes the perturbation reads from an OpenDrift model, for one time step at a time."""
    (mixin,) = perturbation_mixins(parse(current_uncertainty_ms=sigma_current, wind_uncertainty_ms=0), 3)

    class Base:
        def update(self):
            pass

    class Model(mixin, Base):
        def num_elements_total(self):
            return n

    m = Model()
    m.time_step = SimpleNamespace(total_seconds=lambda: step_s)
    m.elements = SimpleNamespace(ID=np.arange(1, n + 1))
    return m


def errors_over_time(m, steps: int) -> np.ndarray:
    out = []
    for _ in range(steps):
        dtype = [("x_sea_water_velocity", "f8"), ("y_sea_water_velocity", "f8")]
        m.environment = np.zeros(m.num_elements_total(), dtype=dtype).view(np.recarray)
        m.update()
        out.append(m.environment.x_sea_water_velocity.copy())
    return np.array(out)  # (steps, n)


def test_the_error_is_an_ornstein_uhlenbeck_process_with_the_stated_sigma_and_decorrelation():
    e = errors_over_time(fake_model(20000, 3600, 0.1), 25)
    assert e.std(axis=1) == pytest.approx(np.full(25, 0.1), rel=0.03)  # stationary from the first step
    lag = 12  # hours
    corr = np.corrcoef(e[0], e[lag])[0, 1]
    assert corr == pytest.approx(np.exp(-lag / DECORRELATION_HOURS), abs=0.02)
    assert np.isfinite(e).all()


def test_the_errors_effect_does_not_depend_on_the_time_step_unlike_white_noise():
    """Displacement after 12 h: the same for 10-min and 60-min steps (OU), unlike a new error every step."""
    spread = {}
    for step_s in (600, 3600):
        m = fake_model(20000, step_s, 0.1)
        e = errors_over_time(m, int(12 * 3600 / step_s))
        spread[step_s] = float((e.sum(axis=0) * step_s).std())
    assert spread[600] == pytest.approx(spread[3600], rel=0.05)
    white = {s: 0.1 * np.sqrt(s * 12 * 3600) for s in (600, 3600)}  # OpenDrift's drift:current_uncertainty
    assert white[3600] / white[600] == pytest.approx(np.sqrt(6))
    print(f"1-sigma displacement after 12 h from a 0.1 m/s current error: correlated {spread[600] / 1000:.2f} km "
          f"(10-min steps) / {spread[3600] / 1000:.2f} km (60-min); white noise {white[600] / 1000:.2f} / "
          f"{white[3600] / 1000:.2f} km")  # fmt: skip


def area_90(**overrides) -> float:
    p = parse(duration_hours=24, num_particles=2000, random_seed=5, object_type="PIW-1", radius_m=1000,
              time_step_minutes=30, wind={"speed_ms": 8, "from_deg": 250}, current={"speed_ms": 0.2, "to_deg": 45},
              **overrides)  # fmt: skip
    traj = simulate(p, [constant_plan(p.wind, p.current)]).trajectories
    (area,) = compute_search_areas(traj, [traj.num_times - 1], time_shares(traj))
    return area.area_km2[0.9]


def test_the_90_percent_area_grows_with_the_forcing_uncertainty():
    levels = {"0": (0, 0), "default": (0.05, 0.5), "2x default": (0.1, 1.0)}
    areas = {k: area_90(current_uncertainty_ms=c, wind_uncertainty_ms=w) for k, (c, w) in levels.items()}
    print("24 h PIW-1, 2000 particles, 90 % area: " + ", ".join(f"{k} {a:.1f} km²" for k, a in areas.items()))
    assert areas["0"] < areas["default"] < areas["2x default"]


@pytest.mark.parametrize(
    "ids, rows",
    [
        ([1, 2, 3, 4], slice(0, 4)),
        ([1], slice(0, 1)),
        ([1, 2, 4], [0, 1, 3]),  # one stranded and removed
        ([2, 3, 4], [1, 2, 3]),
        ([1, 3, 2, 4], [0, 2, 1, 3]),  # out of order: read by index, never as a slice
    ],
)
def test_error_rows_are_a_slice_only_for_the_first_ids_in_order(ids, rows):
    from driftline.uncertainty import _rows

    got = _rows(np.array(ids))
    errors = np.arange(10.0)
    assert (got == rows) if isinstance(rows, slice) else np.array_equal(got, rows)
    assert np.array_equal(errors[got], errors[np.array(ids) - 1])
