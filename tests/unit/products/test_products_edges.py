"""Products at the edges a planner meets: the antimeridian, fine grids, lost probability, land, the shoreline."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import shapely
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod

from config import Settings
from driftline.contract.parse import parse_job
from driftline.errors import InvalidJob
from driftline.geodesy import dm, output_geometry
from driftline.products import build_products, highest_density_regions
from driftline.products.areas import area_time_indices
from driftline.products.grid import M_PER_DEG
from driftline.products.shares import time_shares
from driftline.products.shoreline import shoreline_segments
from driftline.trajectory import ACTIVE, NOT_RELEASED, OUT_OF_DOMAIN, STRANDED, Trajectories
from tests.unit.conftest import LAT0, LON0
from tests.unit.products.test_products import START, drifting_plume, fake_land, gaussian, make_traj, parts

GEOD = Geod(ellps="WGS84")


def coords(geom: dict) -> np.ndarray:
    """All [lon, lat] positions of a GeoJSON geometry."""
    return np.array(re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", json.dumps(geom["coordinates"])), float).reshape(-1, 2)


def sea_area_km2(geom: shapely.Geometry) -> float:
    return abs(GEOD.geometry_area_perimeter(geom)[0]) / 1e6


# --- antimeridian ---------------------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lon0=st.floats(179.0, 181.0),
    lat0=st.floats(-70.0, 70.0),
    sigma_m=st.floats(200.0, 30_000.0),
    n=st.integers(20, 1500),
    seed=st.integers(0, 2**16),
)
def test_random_clouds_across_the_antimeridian_give_valid_polygons_within_180(lon0, lat0, sigma_m, n, seed):
    lon, lat = gaussian(n, sigma_m, lon0=lon0, lat0=lat0, seed=seed)
    w = np.random.default_rng(seed).uniform(0.1, 1.0, n)
    reg = highest_density_regions((lon + 180) % 360 - 180, lat, w)
    for poly, area in zip(reg.polygons, reg.area_km2, strict=True):
        out = output_geometry(poly)
        xy = coords(json.loads(shapely.to_geojson(out)))
        assert np.all(np.abs(xy[:, 0]) <= 180) and out.is_valid
        assert all(not p.interiors and p.exterior.is_ccw for p in parts(out))
        assert sea_area_km2(out) == pytest.approx(area, rel=0.02, abs=1e-3)  # the cut loses nothing


def test_plume_crossing_the_antimeridian_both_ways_gives_files_within_180(tmp_path: Path, meta):
    for lon0, east in ((179.9, 1), (-179.9, -1)):
        traj = drifting_plume(n=600, t=7)  # drifts ~0.12 degrees east
        traj.lon = (lon0 + east * (traj.lon - LON0) + 180) % 360 - 180  # moved to lon0, mirrored to drift west
        m = replace(meta, lkp_lon=lon0)
        out = tmp_path / str(lon0)
        report = build_products(traj, m, out, land_fn=lambda x, y: np.zeros(np.shape(x), bool))
        fc = json.loads((out / "search_area.geojson").read_text())
        xy = np.vstack([coords(f["geometry"]) for f in fc["features"]])
        assert np.abs(xy[:, 0]).max() <= 180 and xy[:, 0].min() < -179 and xy[:, 0].max() > 179
        kml = (out / "search_area.kml").read_text()
        kml_lon = [float(c.split(",")[0]) for c in re.findall(r"(-?[\d.]+,-?[\d.]+)", kml)]
        assert max(map(abs, kml_lon)) <= 180
        with xr.open_dataset(out / "density.nc") as ds:
            assert -180 <= ds.lon.values[0] < 180 and np.all(np.diff(ds.lon.values) > 0)
        assert (
            report.search_areas[-1]["centre"]["lon"] is not None
            and abs(report.search_areas[-1]["centre"]["lon"]) <= 180
        )


# --- fine grids -----------------------------------------------------------------------------------------------------


def test_areas_follow_the_distribution_not_the_sampling_noise():
    sigma_km = 1.0
    analytic90 = math.pi * sigma_km**2 * 2 * math.log(10)
    areas = []
    for seed in (1, 2):
        reg = highest_density_regions(*gaussian(1000, sigma_km * 1000, seed=seed))
        assert all(len(parts(p)) == 1 and not any(q.interiors for q in parts(p)) for p in reg.polygons)
        areas.append(reg.area_km2[1])
    assert areas[0] == pytest.approx(analytic90, rel=0.2) and areas[1] == pytest.approx(areas[0], rel=0.1)
    dense = highest_density_regions(*gaussian(20000, sigma_km * 1000, seed=3))
    assert dense.area_km2[1] == pytest.approx(analytic90, rel=0.1) and dense.bandwidth_m < reg.bandwidth_m


def test_requested_grid_resolution_does_not_change_the_search_areas(tmp_path: Path, meta):
    traj = drifting_plume(n=800, t=7)
    auto = build_products(traj, meta, tmp_path / "auto", land_fn=fake_land)
    fine = build_products(traj, replace(meta, grid_resolution_m=50), tmp_path / "fine", land_fn=fake_land)
    assert fine.grid["resolution_m"] == 50 and auto.grid["resolution_m"] > 50
    assert [a["area_km2"] for a in fine.search_areas] == [a["area_km2"] for a in auto.search_areas]
    assert all(a["pieces"]["90"] == 1 for a in auto.search_areas)


# --- shares ---------------------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    states=st.lists(st.lists(st.sampled_from([NOT_RELEASED, ACTIVE, STRANDED, OUT_OF_DOMAIN]), min_size=4, max_size=4),
                    min_size=1, max_size=30),
    weighted=st.booleans(),
    seed=st.integers(0, 1000),
)  # fmt: skip
def test_shares_sum_to_one_at_every_time(states, weighted, seed):
    state = np.array(states, np.int8)
    n = state.shape[0]
    traj = make_traj(np.full(state.shape, LON0), np.full(state.shape, LAT0), state)
    if weighted:
        traj.weight = np.random.default_rng(seed).uniform(0, 5, n)
    shares = time_shares(traj)
    np.testing.assert_allclose(sum(shares.values()), 1.0, atol=1e-9)
    w = traj.shares()
    np.testing.assert_allclose(shares["stranded"], [(w * (state[:, t] == STRANDED)).sum() for t in range(4)])


def test_leaving_the_domain_is_counted_and_warned(tmp_path: Path, meta):
    traj = drifting_plume(n=400, t=7)
    traj.state[:40, 4:] = OUT_OF_DOMAIN  # 10 % leave (5 % of the plume already does at the end)
    traj.lon[:40, 4:] = traj.lat[:40, 4:] = np.nan
    report = build_products(traj, meta, tmp_path, land_fn=fake_land)
    assert any("left the model domain" in w for w in report.warnings)
    with xr.open_dataset(tmp_path / "density.nc") as ds:
        total = sum(ds[f"share_{k}"] for k in ("floating", "stranded", "out_of_domain", "not_released"))
        np.testing.assert_allclose(total.values, 1.0, atol=1e-9)
        assert ds.share_out_of_domain.values[-1] == pytest.approx(0.1)
    assert report.search_areas[-1]["computed_over"] == "floating"
    assert sum(report.search_areas[-1]["shares"].values()) == pytest.approx(1.0, abs=1e-5)


# --- land and shoreline ---------------------------------------------------------------------------------------------


def test_water_areas_hold_no_land_and_count_only_sea():
    lon, lat = gaussian(3000, 3000, lon0=4.48)  # a third of the cloud lies east of the fake coast at 4.5 E
    floating = ~fake_land(lon, lat)
    reg = highest_density_regions(lon[floating], lat[floating], land_fn=fake_land)
    for poly, area in zip(reg.polygons, reg.area_km2, strict=True):
        assert poly.bounds[2] <= 4.5 + 1e-9  # nothing east of the coast
        assert sea_area_km2(poly) == pytest.approx(area, rel=0.01)
    inside = shapely.contains_xy(reg.polygons[1], lon[floating], lat[floating]).mean()
    assert 0.87 <= inside <= 0.93


def test_split_cloud_gets_a_datum_per_part_with_its_share():
    a, b = gaussian(600, 500, seed=1), gaussian(400, 500, lon0=LON0 + 0.3, seed=2)
    reg = highest_density_regions(np.r_[a[0], b[0]], np.r_[a[1], b[1]], np.full(1000, 1e-3))
    assert [round(p["weight"], 1) for p in reg.parts] == [0.6, 0.4]
    assert reg.parts[1]["lon"] == pytest.approx(b[0].mean(), abs=0.01)


def test_shoreline_segments_rank_the_coast_by_stranding_probability():
    n, t = 100, 6
    lon, lat = np.full((n, t), LON0), np.full((n, t), LAT0)
    state = np.full((n, t), ACTIVE, np.int8)
    state[:30, 2:] = STRANDED  # 30 strand at spot A from hour 2
    state[30:40, 4:] = STRANDED  # 10 strand 20 km north at spot B from hour 4
    lat[30:40] += 20_000 / M_PER_DEG
    lon[:40] += np.linspace(0, 0.002, 40)[:, None]
    traj = make_traj(lon, lat, state)
    traj.weight = np.r_[np.full(30, 1.0), np.full(10, 4.0), np.full(60, 1.0)]
    segs = shoreline_segments(traj)
    assert [s.rank for s in segs] == [1, 2] and [s.particles for s in segs] == [10, 30]  # B weighs 40, A 30 of 130
    assert [s.probability for s in segs] == pytest.approx([40 / 130, 30 / 130])
    assert sum(s.probability for s in segs) == pytest.approx(time_shares(traj)["stranded"][-1])
    assert segs[0].earliest == segs[0].median == "2024-03-01T04:00:00Z"
    assert segs[1].earliest == "2024-03-01T02:00:00Z"


def test_shoreline_file_and_kml_folder(tmp_path: Path, meta):
    traj = drifting_plume(n=500, t=9)
    report = build_products(traj, meta, tmp_path, land_fn=fake_land)
    fc = json.loads((tmp_path / "shoreline.geojson").read_text())
    probs = [f["properties"]["probability"] for f in fc["features"]]
    assert probs == sorted(probs, reverse=True) and len(probs) >= 1
    assert sum(probs) == pytest.approx(fc["properties"]["stranded_share"], abs=1e-5)
    assert fc["properties"]["stranded_share"] == pytest.approx(report.shares["stranded"][-1], abs=1e-6)
    assert "Shoreline" in (tmp_path / "search_area.kml").read_text()
    assert re.fullmatch(r"\d+°\d\d\.\d{3}'[NS]", fc["features"][0]["properties"]["centre"]["lat_dm"])


# --- search-area times and formats ----------------------------------------------------------------------------------


def test_search_area_times_are_validated_and_used():
    body = {"latitude": 60, "longitude": 4, "start_time": "2024-01-01T00:00:00Z", "duration_hours": 12}
    job = {"mission_id": "5d3f8c9e-1b2a-4c3d-8e4f-0123456789ab", "params": body}
    times = ["2024-01-01T07:20:00Z", "2024-01-01T02:00:00+00:00"]
    p = parse_job(json.dumps(job | {"params": body | {"search_area_times": times}}), Settings.from_env({})).params
    assert p.search_area_times == (datetime(2024, 1, 1, 2, tzinfo=UTC), datetime(2024, 1, 1, 7, 20, tzinfo=UTC))
    assert p.as_record()["search_area_times"] == ["2024-01-01T02:00:00Z", "2024-01-01T07:20:00Z"]
    grid_times = START + (np.arange(13) * 3600).astype("timedelta64[s]")
    assert area_time_indices(grid_times, 6, (datetime(2024, 3, 1, 2, 10, tzinfo=UTC),)) == [2, 6, 12]
    for bad, words in (("2024-01-02T01:00:00Z", "outside the run"), ("soon", "not an ISO 8601"), (3, "ISO 8601")):
        with pytest.raises(InvalidJob, match=words):
            parse_job(json.dumps(job | {"params": body | {"search_area_times": [bad]}}), Settings.from_env({}))


def test_positions_in_degrees_and_decimal_minutes():
    assert dm(59.97, "N", "S") == "59°58.200'N" and dm(-179.99, "E", "W") == "179°59.400'W"
    geom = output_geometry(shapely.LineString([(179.5, 0), (180.5, 1)]))
    assert geom.geom_type == "MultiLineString" and max(abs(x) for x, _ in shapely.get_coordinates(geom)) <= 180


def test_weights_of_none_and_of_ones_give_the_same_products():
    traj = drifting_plume(n=300, t=4)
    weighted = Trajectories(**{**traj.__dict__, "weight": np.ones(traj.num_particles)})
    a = highest_density_regions(traj.lon[:, -1], traj.lat[:, -1])
    b = highest_density_regions(weighted.lon[:, -1], weighted.lat[:, -1], weighted.shares())
    assert a.area_km2 == pytest.approx(b.area_km2)
    assert shapely.symmetric_difference(a.polygons[1], b.polygons[1]).area < 0.01 * a.polygons[1].area
