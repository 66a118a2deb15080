"""particles.nc streamed during the run equals the file written from the in-memory result, variable for variable."""

from __future__ import annotations

import json
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from config import Settings
from driftline import trajfile
from driftline.contract.parse import parse_job
from driftline.forcing import constant_plan
from driftline.products import compute_density, compute_search_areas, make_grid, map_view
from driftline.products.areas import area_time_indices
from driftline.products.grid import present_positions
from driftline.simulation import simulate, write_trajectory_file
from tests.integration.test_models import MODELS

MID = "5d3f8c9e-1b2a-4c3d-8e4f-0123456789ab"
ATTRS = {"title": "test mission", "driftline_random_seed": 3}
CASES = {
    # mixed types with capsizing, a release window, particles stranding on the Norwegian coast mid-run
    "coast": {"latitude": 60.3, "longitude": 4.75, "duration_hours": 8, "num_particles": 100,
              "object_type": [{"type": "LIFE-RAFT-NB-1", "weight": 2}, {"type": "PIW-1", "weight": 1}],
              "capsizing": {"wind_threshold_ms": 8}, "release_end_time": "2024-01-01T03:00:00Z",
              "wind": {"speed_ms": 14, "from_deg": 270}, "current": {"speed_ms": 0.3, "to_deg": 80}},
    "backward": {"latitude": 60.0, "longitude": -3.0, "duration_hours": 10, "num_particles": 120,
                 "direction": "backward", "wind": {"speed_ms": 6, "from_deg": 200}},
    # every particle strands long before the end: OpenDrift stops early and the file is cut to the last output
    "all_stranded": {"latitude": 60.3, "longitude": 4.9, "duration_hours": 24, "num_particles": 60,
                     "radius_m": 200, "wind": {"speed_ms": 20, "from_deg": 270},
                     "current": {"speed_ms": 0.8, "to_deg": 90}},
    # the other drift models stream the same way (no object types, ShipDrift's own stranding)
    "oceandrift": {"latitude": 60.3, "longitude": 4.75, "duration_hours": 6, "num_particles": 80,
                   "model": "oceandrift", "wind_drift_factor": 0.03, "wind": {"speed_ms": 14, "from_deg": 270}},
    "shipdrift": {"latitude": 60.3, "longitude": 4.75, "duration_hours": 6, "num_particles": 40,
                  **MODELS["shipdrift"], "wind": {"speed_ms": 14, "from_deg": 270}},
}  # fmt: skip


def _params(case: dict):
    body = {"start_time": "2024-01-01T00:00:00Z", "random_seed": 3, "time_step_minutes": 15,
            "output_step_minutes": 30, **case}  # fmt: skip
    return parse_job(json.dumps({"mission_id": MID, "params": body}), Settings.from_env({})).params


def _header(path: Path) -> list:
    """Everything of the file but the chunk layout, in order: dimensions, variables, filters, attributes."""
    with netCDF4.Dataset(path) as nc:
        out = [("dims", [(d.name, d.size, d.isunlimited()) for d in nc.dimensions.values()])]
        out.append(("global", [(k, repr(nc.getncattr(k))) for k in nc.ncattrs()]))
        for name, var in nc.variables.items():
            filters = {k: v for k, v in (var.filters() or {}).items() if k in ("zlib", "shuffle", "complevel")}
            attrs = [(k, repr(var.getncattr(k))) for k in var.ncattrs()]
            out.append((name, str(var.dtype), var.dimensions, filters, attrs))
    return out


def _values(path: Path) -> dict[str, np.ndarray]:
    with netCDF4.Dataset(path) as nc:
        nc.set_auto_maskandscale(False)
        return {name: var[:] for name, var in nc.variables.items()}


@pytest.mark.parametrize("case", list(CASES))
def test_streamed_trajectory_file_equals_the_in_memory_one(case, tmp_path, monkeypatch):
    p = _params(CASES[case])
    monkeypatch.setattr(trajfile, "BUFFER_BYTES", p.num_particles * 25 * 4 * 3)  # ~3 output steps per flush
    memory = simulate(p, [constant_plan(p.wind, p.current)])
    write_trajectory_file(memory.members, tmp_path / "memory.nc", ATTRS)
    streamed = simulate(p, [constant_plan(p.wind, p.current)], outfile=tmp_path / "streamed.nc", attrs=ATTRS)
    assert streamed.streamed and not memory.streamed

    assert _header(tmp_path / "streamed.nc") == _header(tmp_path / "memory.nc")
    a, b = _values(tmp_path / "streamed.nc"), _values(tmp_path / "memory.nc")
    assert list(a) == list(b)
    for name in b:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)

    ts, tm = streamed.trajectories, memory.trajectories
    np.testing.assert_array_equal(ts.times, tm.times)
    np.testing.assert_array_equal(ts.state, tm.state)
    np.testing.assert_array_equal(ts.lon.astype(float), tm.lon)
    np.testing.assert_array_equal(ts.lat.astype(float), tm.lat)
    np.testing.assert_array_equal(ts.object_number, tm.object_number)
    assert ts.masked and not tm.masked and ts.lon.dtype == np.float32  # half the memory, no copies in products
    _assert_same_products(ts, tm)
    counts = tm.counts(-1)
    if case == "coast":
        assert counts["stranded"] > 0 and counts["active"] > 0  # stranding mid-run was exercised
    if case == "all_stranded":
        expected = int(p.duration_hours * 60 / p.output_step_minutes) + 1
        assert counts["active"] == 0 and tm.num_times < expected  # the early stop (truncation) was exercised


def test_buffer_length_bounds_the_buffer_bytes():
    assert trajfile.buffer_length(50000, 25) * 50000 * 25 * 4 <= trajfile.BUFFER_BYTES
    assert trajfile.buffer_length(10**9, 25) == 1
    assert trajfile.buffer_length(100, 25) * 100 * 25 * 4 > trajfile.BUFFER_BYTES - 100 * 25 * 4


def _assert_same_products(streamed, memory) -> None:
    """The products' inputs computed from the streamed (float32, masked) arrays equal the in-memory ones."""
    grid = make_grid(streamed)
    assert grid == make_grid(memory)
    a, b = compute_density(streamed, grid), compute_density(memory, grid)
    np.testing.assert_array_equal(a.probability, b.probability)
    np.testing.assert_array_equal(a.stranded, b.stranded)
    np.testing.assert_array_equal(a.present, b.present)
    (lon_s, lat_s), (lon_m, lat_m) = present_positions(streamed), present_positions(memory)
    np.testing.assert_array_equal(grid.index(lon_s, lat_s), grid.index(lon_m, lat_m))  # each particle's cell
    times = area_time_indices(streamed.times, 2)
    assert [x.summary() for x in compute_search_areas(streamed, times, a.shares)] == [
        x.summary() for x in compute_search_areas(memory, times, b.shares)
    ]
    (lon_s, lat_s), (lon_m, lat_m) = present_positions(streamed), present_positions(memory)
    np.testing.assert_array_equal(lon_s, lon_m)
    assert map_view(lon_s.ravel(), lat_s.ravel(), (4.8, 60.3)) == map_view(lon_m.ravel(), lat_m.ravel(), (4.8, 60.3))
