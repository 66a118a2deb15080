"""The lean simulation step against plain OpenDrift, same job and seed: particles.nc must be byte-identical.

Each case runs the mission twice through `driftline.simulation.simulate`: once with the worker's step
(driftline.lean + driftline.speedups mixed into the OpenDrift model) and once with plain OpenDrift
(`STEP_MIXINS = ()`), both streaming or writing particles.nc with the same writer. The tolerance is zero:
the files are compared byte for byte (and, for a readable failure, value for value first). A lean step that
drifts by one float32 unit anywhere fails here (see test_a_drifting_step_is_caught).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import xarray as xr

from config import Settings
from driftline import lean, simulation
from driftline.contract.parse import parse_job
from driftline.forcing import constant_plan
from driftline.forcing.plan import ForcingPlan
from driftline.forcing.readers import open_reader
from tests.integration.test_models import MODELS

MID = "7a1c2e3f-4b5d-4e6f-8a9b-0c1d2e3f4a5b"
ATTRS = {"title": "lean step equality"}
BASE = {"start_time": "2024-01-01T00:00:00Z", "random_seed": 5, "time_step_minutes": 15, "output_step_minutes": 30}
COAST = {"latitude": 60.3, "longitude": 4.75, "wind": {"speed_ms": 14, "from_deg": 270},
         "current": {"speed_ms": 0.3, "to_deg": 80}}  # fmt: skip
CASES = {
    # mixed types, capsizing, frequent jibing, a release window, particles stranding on the Norwegian coast
    "forward_strand_capsize_jibe": {**COAST, "duration_hours": 8, "num_particles": 120,
                                    "object_type": [{"type": "LIFE-RAFT-NB-1", "weight": 2}, {"type": "PIW-1"}],
                                    "capsizing": {"wind_threshold_ms": 8}, "jibe_probability_per_hour": 0.6,
                                    "release_end_time": "2024-01-01T03:00:00Z"},
    "backward": {"latitude": 60.0, "longitude": -3.0, "duration_hours": 10, "num_particles": 100,
                 "direction": "backward", "wind": {"speed_ms": 6, "from_deg": 200},
                 "release_end_time": "2023-12-31T22:00:00Z"},
    # every particle strands: OpenDrift stops early, the file is cut to the last output time
    "all_stranded": {"latitude": 60.3, "longitude": 4.9, "duration_hours": 24, "num_particles": 60, "radius_m": 200,
                     "wind": {"speed_ms": 20, "from_deg": 270}, "current": {"speed_ms": 0.8, "to_deg": 90}},
    "track_line": {**COAST, "duration_hours": 4, "num_particles": 80, "end_latitude": 60.35, "end_longitude": 4.6,
                   "end_time": "2024-01-01T01:00:00Z"},
    "oceandrift_diffusion": {**COAST, "duration_hours": 6, "num_particles": 80, "model": "oceandrift",
                             "wind_drift_factor": 0.03, "horizontal_diffusivity_m2s": 5.0},
    "shipdrift": {**COAST, "duration_hours": 6, "num_particles": 40, **MODELS["shipdrift"]},
    # above lean.SPLIT_MIN_PARTICLES: the geodesics of each step run on two threads
    "many_particles": {"latitude": 57.0, "longitude": 3.0, "duration_hours": 1, "num_particles": 20000,
                       "wind": {"speed_ms": 8, "from_deg": 250}, "current": {"speed_ms": 0.3, "to_deg": 90}},
}  # fmt: skip


def _params(case: dict):
    return parse_job(json.dumps({"mission_id": MID, "params": {**BASE, **case}}), Settings.from_env({})).params


def _simulate(params, plans, out: Path, plain: bool, monkeypatch, configure=None):
    """particles.nc of the mission, with the worker's step or (plain) with OpenDrift's own."""
    with monkeypatch.context() as m:
        if plain:
            m.setattr(simulation, "STEP_MIXINS", ())
        if configure is not None:
            original = simulation.configure
            m.setattr(simulation, "configure", lambda model, p: (original(model, p), configure(model)))
        result = simulation.simulate(params, plans, outfile=out, attrs=ATTRS)
    if not result.streamed:
        simulation.write_trajectory_file(result.members, out, ATTRS)
    return result


def assert_same_file(ours: Path, theirs: Path) -> None:
    """Every variable equal (NaN where NaN), then the whole file byte for byte."""
    with netCDF4.Dataset(ours) as a, netCDF4.Dataset(theirs) as b:
        assert list(a.variables) == list(b.variables)
        a.set_auto_maskandscale(False)
        b.set_auto_maskandscale(False)
        for name in b.variables:
            np.testing.assert_array_equal(a[name][:], b[name][:], err_msg=name)
        assert {k: repr(a.getncattr(k)) for k in a.ncattrs()} == {k: repr(b.getncattr(k)) for k in b.ncattrs()}
    assert ours.read_bytes() == theirs.read_bytes()


def _check(case: str, params, plans, tmp_path: Path, monkeypatch, configure=None):
    lean_run = _simulate(params, plans, tmp_path / "lean.nc", False, monkeypatch, configure)
    plain_run = _simulate(params, plans, tmp_path / "plain.nc", True, monkeypatch, configure)
    assert_same_file(tmp_path / "lean.nc", tmp_path / "plain.nc")
    np.testing.assert_array_equal(lean_run.trajectories.state, plain_run.trajectories.state)
    return lean_run.trajectories


@pytest.mark.parametrize("case", list(CASES))
def test_lean_step_gives_plain_opendrifts_particles_file(case, tmp_path, monkeypatch):
    p = _params(CASES[case])
    traj = _check(case, p, [constant_plan(p.wind, p.current)], tmp_path, monkeypatch)
    counts = traj.counts(-1)
    if case in ("forward_strand_capsize_jibe", "all_stranded"):
        assert counts["stranded"] > 0  # stranding was exercised
    if case == "forward_strand_capsize_jibe":
        with netCDF4.Dataset(tmp_path / "lean.nc") as nc:
            assert np.nanmax(nc["capsized"][:]) == 1  # capsizing was exercised
            orientation = np.ma.filled(nc["orientation"][:].astype(float), np.nan)
            assert (np.abs(np.diff(orientation, axis=1)) == 1).any()  # jibing was exercised


@pytest.mark.parametrize("case", ["forward_strand_capsize_jibe", "backward", "all_stranded"])
def test_buffers_flushed_during_the_run_equal_plain_opendrift(case, tmp_path, monkeypatch):
    """Streamed in buffers of ~3 output times: the staged history, its min/max attributes and buffer resets."""
    from driftline import trajfile

    p = _params(CASES[case])
    monkeypatch.setattr(trajfile, "BUFFER_BYTES", p.num_particles * 25 * 4 * 3)
    _check(case, p, [constant_plan(p.wind, p.current)], tmp_path, monkeypatch)
    with netCDF4.Dataset(tmp_path / "lean.nc") as nc:
        assert nc["lon"].chunking()[1] <= 4  # the file was written buffer by buffer


def test_the_worker_runs_the_lean_step():
    """What the equality tests compare is what the worker's model class mixes in."""
    assert simulation.STEP_MIXINS[: len(lean.LEAN_STEP)] == lean.LEAN_STEP
    assert lean.SPLIT_MIN_PARTICLES < CASES["many_particles"]["num_particles"]


@pytest.mark.parametrize(("case", "paired"), [("many_particles", True), ("oceandrift_diffusion", False)])
def test_leeways_two_moves_of_a_step_are_made_in_one_pass(case, paired, monkeypatch, tmp_path):
    """Leeway moves twice a step (leeway, then current): one geodesic pass a step; other models move as they do."""
    calls, real = [], lean.geodesics
    monkeypatch.setattr(
        lean.move, "geodesics", lambda *a, then=None: calls.append(then is not None) or real(*a, then=then)
    )
    p = _params(CASES[case])
    simulation.simulate(p, [constant_plan(p.wind, p.current)], outfile=tmp_path / "run.nc", attrs=ATTRS)
    steps = round(p.duration_hours * 60 / 15)
    if paired:
        assert calls == [True] * steps
    else:
        assert calls and not any(calls)


def test_a_first_move_without_its_second_is_made_at_the_end_of_the_step():
    """Should Leeway's step ever move once only, the deferred move is made before the step returns."""
    from types import SimpleNamespace

    class OneMove:
        def update(self):
            self.update_positions(np.full(3, 0.5), np.zeros(3))

    class Model(lean.LeanMoveMixin, OneMove):
        time_step = SimpleNamespace(total_seconds=lambda: 600.0)

    model = Model()
    model.elements = SimpleNamespace(lon=np.full(3, 4.0), lat=np.full(3, 60.0), moving=np.ones(3))
    start = model.elements.lon.copy()
    lean.move._pairs_moves_of.cache_clear()
    with pytest.MonkeyPatch.context() as m:
        m.setattr(lean.move, "_pairs_moves", lambda model: True)
        model.update()
    assert (model.elements.lon > start).all()  # moved east by 300 m
    assert model._deferred is None and not model._pairing


def test_forcing_uncertainty_options_are_honoured(tmp_path, monkeypatch):
    """OpenDrift's drift:current_uncertainty / _uniform / wind_uncertainty: the same draws in the lean step."""

    def uncertain(model):
        model.set_config("drift:current_uncertainty", 0.1)
        model.set_config("drift:current_uncertainty_uniform", 0.05)
        model.set_config("drift:wind_uncertainty", 1.0)

    p = _params(CASES["forward_strand_capsize_jibe"])
    _check("uncertainty", p, [constant_plan(p.wind, p.current)], tmp_path, monkeypatch, uncertain)
    plain = tmp_path / "certain.nc"
    _simulate(p, [constant_plan(p.wind, p.current)], plain, True, monkeypatch)
    assert plain.read_bytes() != (tmp_path / "lean.nc").read_bytes()  # the options did change the drift


def test_ensemble_members_equal_plain_opendrift(tmp_path, monkeypatch):
    case = {k: v for k, v in CASES["forward_strand_capsize_jibe"].items() if k not in ("wind", "current")}
    members = [{"current": {"speed_ms": 0.2, "to_deg": 45}, "wind": COAST["wind"]},
               {"wind": {"speed_ms": 9, "from_deg": 300}, "current": COAST["current"]}]  # fmt: skip
    p = _params({**case, "num_particles": 60, "ensemble": members})
    plans = [constant_plan(m.wind, m.current) for m in p.ensemble]
    _check("ensemble", p, plans, tmp_path, monkeypatch)


def write_varying_forcing(path: Path, cells: int = 40, hours: int = 8) -> Path:
    """CF current and wind on a lat/lon grid around the Norwegian coast, varying in space and time."""
    lon = np.linspace(3.5, 4.85, cells)  # the plume drifts out of it eastwards: fallback constants there
    lat = np.linspace(59.8, 60.8, cells)
    times = np.array([np.datetime64("2024-01-01T00:00") + np.timedelta64(h, "h") for h in range(hours + 1)])
    t, y, x = np.meshgrid(np.arange(hours + 1), lat, lon, indexing="ij")
    dims = ("time", "lat", "lon")
    field = lambda a: (dims, a.astype("f4"), {"units": "m s-1"})  # noqa: E731
    ds = xr.Dataset(
        {
            "u": field(0.3 + 0.2 * np.sin(3 * x + 0.4 * t)),
            "v": field(0.1 * np.cos(5 * y - 0.3 * t)),
            "x_wind": field(10 + 3 * np.cos(2 * y + 0.2 * t)),
            "y_wind": field(2 * np.sin(4 * x - 0.5 * t)),
        },
        coords={
            "time": ("time", times),
            "lat": ("lat", lat, {"standard_name": "latitude", "units": "degrees_north"}),
            "lon": ("lon", lon, {"standard_name": "longitude", "units": "degrees_east"}),
        },  # fmt: skip
    )
    for name, std in (("u", "eastward_sea_water_velocity"), ("v", "northward_sea_water_velocity"),
                      ("x_wind", "x_wind"), ("y_wind", "y_wind")):  # fmt: skip
        ds[name].attrs["standard_name"] = std
    ds.to_netcdf(path)
    return path


def _check_file_forcing(path: Path, reader_module: str, tmp_path: Path, monkeypatch, hours: float = 8):
    """Lean and plain runs on one forcing file (a fresh reader each): byte-identical files, the lean environment
    having asked that reader; returns the params and the x current along the tracks."""
    p = _params({**CASES["forward_strand_capsize_jibe"], "num_particles": 150, "duration_hours": hours})

    def plans():  # a fresh reader per run: OpenDrift readers keep per-run block caches
        base = constant_plan(p.wind, p.current)
        return [ForcingPlan(readers=[open_reader(path)], constants=base.constants, sources=base.sources)]

    read, real_read = [], lean.ReaderEnvironment._read
    spy = lambda self, reader, *args: read.append(type(reader).__module__) or real_read(self, reader, *args)  # noqa: E731
    with monkeypatch.context() as m:
        m.setattr(lean.ReaderEnvironment, "_read", spy)
        lean_run = _simulate(p, plans(), tmp_path / "lean.nc", False, monkeypatch)
    assert reader_module in read  # the lean environment (not OpenDrift's) interpolated the file's fields
    plain_run = _simulate(p, plans(), tmp_path / "plain.nc", True, monkeypatch)
    assert_same_file(tmp_path / "lean.nc", tmp_path / "plain.nc")
    np.testing.assert_array_equal(lean_run.trajectories.state, plain_run.trajectories.state)
    with netCDF4.Dataset(tmp_path / "lean.nc") as nc:
        return p, nc["x_sea_water_velocity"][:].compressed()


def test_gridded_cf_forcing_equals_plain_opendrift(tmp_path, monkeypatch):
    """A CF file: OpenDrift's reader interpolates in both runs, the lean step keeps the results in numpy."""
    path = write_varying_forcing(tmp_path / "forcing.nc")
    p, u = _check_file_forcing(path, "opendrift.readers.reader_netCDF_CF_generic", tmp_path, monkeypatch)
    fallback = np.float32(p.current.components[0])
    assert np.std(u[u != fallback]) > 0.01  # the field varied along the tracks: the reader was used
    assert (u == fallback).sum() > 0  # and outside the grid the fallback took over


def test_a_drifting_step_is_caught(tmp_path, monkeypatch):
    """The comparison's tolerance is zero: a lean move off by 1e-7 degrees (~1 cm) fails it."""
    real = lean.geodesics

    def drifting(geod, lon, lat, azimuth, dist, then=None):
        real(geod, lon, lat, azimuth, dist, then=then)
        lon += 1e-7

    monkeypatch.setattr(lean.move, "geodesics", drifting)
    p = _params({**CASES["track_line"], "duration_hours": 2})
    with pytest.raises(AssertionError):
        _check("drift", p, [constant_plan(p.wind, p.current)], tmp_path, monkeypatch)


def test_gridded_roms_forcing_equals_plain_opendrift(tmp_path, monkeypatch):
    """A ROMS native file (s-levels, staggered u/v, rotated grid, its own land mask): byte-identical too."""
    from tests.roms_files import write_roms

    path = write_roms(tmp_path / "roms.nc", datetime(2024, 1, 1))
    p, u = _check_file_forcing(path, "opendrift.readers.reader_ROMS_native", tmp_path, monkeypatch, hours=4)
    fallback = np.float32(p.current.components[0])
    assert np.std(u[u != fallback]) > 0.01  # the ROMS currents varied along the tracks: the reader was used
