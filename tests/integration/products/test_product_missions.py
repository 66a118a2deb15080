"""Whole missions (OpenDrift in-process, OpenDrift's landmask) whose products are checked by independent validators:
geojson-validator for RFC 7946 and GDAL (pyogrio's bundled library) for GeoJSON and KML."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely
import xarray as xr
from geojson_validator import validate_geometries, validate_structure
from shapely.geometry import shape

from config import Settings
from driftline.contract.parse import parse_job
from driftline.forcing import constant_plan
from driftline.products import ProductMeta, build_products
from driftline.products.mapview import opendrift_land
from driftline.simulation import simulate
from driftline.trajectory import ACTIVE, STRANDED

MID = "5d3f8c9e-1b2a-4c3d-8e4f-0123456789ab"


def mission(tmp_path: Path, **body) -> tuple[Path, object, object]:
    """Simulate a small constant-forcing job and build its products into tmp_path."""
    job = {"start_time": "2024-01-01T00:00:00Z", "random_seed": 4, "time_step_minutes": 30, **body}
    p = parse_job(json.dumps({"mission_id": MID, "params": job}), Settings.from_env({})).params
    sim = simulate(p, [constant_plan(p.wind, p.current)])
    meta = ProductMeta(
        MID, "forward", "PIW-1", datetime(2024, 1, 1, tzinfo=UTC), p.latitude, p.longitude, "constant", "point"
    )
    return tmp_path, sim.trajectories, build_products(sim.trajectories, meta, tmp_path)


def validate(path: Path) -> np.ndarray:
    """RFC 7946 structure and geometry without problems, readable by GDAL; returns every [lon, lat]."""
    fc = json.loads(path.read_text())
    geoms = validate_geometries(fc)
    assert validate_structure(fc) == {} and geoms["invalid"] == {} and geoms["problematic"] == {}, geoms
    assert pyogrio.read_info(path)["features"] == len(fc["features"])
    nums = re.findall(r"-?\d+(?:\.\d+)?", json.dumps([f["geometry"]["coordinates"] for f in fc["features"]]))
    return np.array(nums, float).reshape(-1, 2)


@pytest.mark.parametrize("lon, to_deg", [(179.97, 90), (-179.97, 270)])
def test_plume_crossing_the_antimeridian_passes_the_validators(tmp_path, lon, to_deg):
    out, traj, report = mission(
        tmp_path, latitude=-15.0, longitude=lon, duration_hours=4, num_particles=300,
        current={"speed_ms": 0.6, "to_deg": to_deg},
    )  # fmt: skip
    final = traj.lon[:, -1][traj.state[:, -1] == ACTIVE]
    assert np.sign(final).tolist().count(np.sign(lon)) < len(final)  # some particles did cross 180
    xy = validate(out / "search_area.geojson")
    assert np.abs(xy[:, 0]).max() <= 180 and xy[:, 0].min() < -179.9 and xy[:, 0].max() > 179.9
    kml = out / "search_area.kml"
    assert len(pyogrio.list_layers(kml)) >= 2
    kml_lon = [float(c.split(",")[0]) for c in re.findall(r"(-?[\d.]+,-?[\d.]+)", kml.read_text())]
    assert max(map(abs, kml_lon)) <= 180
    with xr.open_dataset(out / "density.nc") as ds:
        assert np.all(np.diff(ds.lon.values) > 0) and -180 <= ds.lon.values[0] < 180
        np.testing.assert_allclose(ds.probability.sum(("lat", "lon")).values, 1.0, atol=1e-5)
    assert {"preview.png", "animation.mp4"} <= set(report.files) and report.warnings == []


def test_stranding_mission_keeps_land_out_of_water_areas_and_ranks_the_shore(tmp_path):
    out, traj, report = mission(
        tmp_path, latitude=60.2, longitude=4.75, duration_hours=12, num_particles=300,
        wind={"speed_ms": 12, "from_deg": 270}, current={"speed_ms": 0.3, "to_deg": 90},
    )  # fmt: skip
    stranded = traj.state[:, -1] == STRANDED
    assert stranded.sum() >= 20
    shore = json.loads((out / "shoreline.geojson").read_text())
    validate(out / "shoreline.geojson")
    probs = [f["properties"]["probability"] for f in shore["features"]]
    assert probs == sorted(probs, reverse=True)
    assert sum(probs) == pytest.approx(report.shares["stranded"][-1], abs=1e-5) == stranded.mean()
    fc = json.loads((out / "search_area.geojson").read_text())
    validate(out / "search_area.geojson")
    last = report.search_areas[-1]["time"]
    area95 = next(
        shape(f["geometry"]) for f in fc["features"]
        if f["properties"].get("probability") == 0.95 and f["properties"]["time"] == last
    )  # fmt: skip
    minx, miny, maxx, maxy = area95.bounds
    rng = np.random.default_rng(0)
    x, y = rng.uniform(minx, maxx, 20000), rng.uniform(miny, maxy, 20000)
    inside = shapely.contains_xy(area95, x, y)
    assert opendrift_land(x[inside], y[inside]).mean() < 0.015  # the model's own landmask, sampled 20 000 times
