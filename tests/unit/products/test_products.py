"""Search-planning products on hand-made particle sets with known answers (no services, fake land by default)."""

from __future__ import annotations

import json
import logging
import math
import subprocess
import time
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import shapely
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

import driftline.products.render as render
from driftline.products import (
    build_products,
    compute_density,
    compute_search_areas,
    feature_collection,
    highest_density_regions,
    make_grid,
    member_stats,
    write_kml,
)
from driftline.products.areas import area_time_indices
from driftline.products.grid import M_PER_DEG, MAX_CELLS_PER_AXIS, MIN_CELL_M
from driftline.products.mapview import land_raster, map_view, opendrift_land
from driftline.trajectory import ACTIVE, NOT_RELEASED, OUT_OF_DOMAIN, STRANDED, Trajectories
from tests.unit.conftest import LAT0, LON0

START = np.datetime64("2024-03-01T00:00:00", "s")
KML = "{http://www.opengis.net/kml/2.2}"


def make_traj(lon, lat, state=None, member=None, names=None, backward: bool = False) -> Trajectories:
    """Hourly Trajectories from (N, T) positions; positions are blanked wherever the state is not counted."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    lon, lat = (lon[:, None], lat[:, None]) if lon.ndim == 1 else (lon, lat)
    n, t = lon.shape
    state = np.full((n, t), ACTIVE, np.int8) if state is None else np.asarray(state, np.int8)
    counted = (state == ACTIVE) | (state == STRANDED)
    times = START + ((-1 if backward else 1) * np.arange(t) * 3600).astype("timedelta64[s]")
    member = np.zeros(n, np.int16) if member is None else np.asarray(member, np.int16)
    lon, lat = np.where(counted, lon, np.nan), np.where(counted, lat, np.nan)
    return Trajectories(times, lon, lat, state, member, np.ones(n, np.int16), names or ["main"])


def gaussian(n: int, sigma_m: float, lon0: float = LON0, lat0: float = LAT0, seed: int = 0):
    """n points of a circular 2-D Gaussian (sigma in metres) around (lon0, lat0)."""
    dy, dx = np.random.default_rng(seed).normal(0, sigma_m, (2, n)) / M_PER_DEG
    return lon0 + dx / np.cos(np.radians(lat0)), lat0 + dy


def drifting_plume(n: int = 2000, t: int = 13, members: int = 1, backward: bool = False, seed: int = 1):
    """A plume drifting east at 0.3 m/s and spreading; some strand, some are released late or leave the domain."""
    rng = np.random.default_rng(seed)
    hours = np.arange(t)
    spread = 100 + 150 * np.sqrt(hours)
    walk = rng.normal(0, 1, (2, n, t)) * spread
    lon = LON0 + (1080 * hours + walk[0]) / M_PER_DEG / np.cos(np.radians(LAT0))
    lat = LAT0 + walk[1] / M_PER_DEG
    strand_at = rng.integers(t // 2, 3 * t, n)
    hold = np.minimum(hours[None, :], strand_at[:, None])  # stranded particles stay where they stranded
    lon, lat = np.take_along_axis(lon, hold, 1), np.take_along_axis(lat, hold, 1)
    state = np.where(hours[None, :] >= strand_at[:, None], STRANDED, ACTIVE).astype(np.int8)
    state[: n // 20, :3] = NOT_RELEASED
    state[n // 20 : n // 10, t - 3 :] = OUT_OF_DOMAIN
    names = [f"member-{i + 1}" for i in range(members)]
    return make_traj(lon, lat, state, np.arange(n) % members, names, backward=backward)


def fake_land(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Land east of 4.5 E: a cheap stand-in for OpenDrift's landmask."""
    return np.asarray(lon) > 4.5


def parts(geom: shapely.Geometry) -> list[shapely.Polygon]:
    return list(getattr(geom, "geoms", [geom]))


def hdr_polygons(traj: Trajectories, t: int = -1, land_fn=None) -> tuple[list[shapely.Geometry], list[float]]:
    """50/90/95 % polygons and areas of the floating particles at output t, straight from the stage function."""
    sel = traj.state[:, t] == ACTIVE
    reg = highest_density_regions(traj.lon[sel, t], traj.lat[sel, t], traj.shares()[sel], land_fn=land_fn)
    return reg.polygons, reg.area_km2


# --- density grid ---------------------------------------------------------------------------------------------------


def test_point_cloud_puts_all_mass_in_one_cell():
    traj = make_traj(np.full((100, 3), LON0), np.full((100, 3), LAT0))
    grid = make_grid(traj)
    dens = compute_density(traj, grid)
    assert grid.resolution_m == MIN_CELL_M
    for t in range(3):
        assert np.count_nonzero(dens.probability[t]) == 1
        assert dens.probability[t].max() == pytest.approx(1.0)
    polys, areas = hdr_polygons(traj)
    assert all(len(parts(p)) == 1 for p in polys)
    assert areas[0] <= (MIN_CELL_M / 1000) ** 2  # one cell of the area grid (bandwidth floor / 3)
    assert shapely.contains_xy(polys[0], LON0, LAT0)


def test_the_density_holds_no_index_array_of_every_particle_and_time():
    """The largest mission's (N, T) cell indices were 48 MB held to the end of its products: the density now finds
    the cells one time at a time, so beyond its own fields it needs only block temporaries of a fixed size
    (present_positions' 2**20 values at a time, float64: 16 MB) and (N,) columns. tracemalloc sees numpy's memory."""
    import tracemalloc

    n, t = 40000, 250
    rng = np.random.default_rng(3)
    lon = (LON0 + np.cumsum(rng.normal(0, 0.002, (n, t)), axis=1)).astype(np.float32)  # as a streamed run's
    lat = (LAT0 + np.cumsum(rng.normal(0, 0.001, (n, t)), axis=1)).astype(np.float32)
    times = START + (np.arange(t) * 3600).astype("timedelta64[s]")
    traj = Trajectories(times, lon, lat, np.zeros((n, t), np.int8), np.zeros(n, np.int16), np.ones(n, np.int16),
                        masked=True)  # fmt: skip
    grid = make_grid(traj)
    fields = 2 * t * grid.nlat * grid.nlon * 4  # probability and stranded, float32
    tracemalloc.start()
    try:
        dens = compute_density(traj, grid)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert dens.present.tolist() == [n] * t
    assert peak - fields < 20 * 2**20, (peak, fields)  # the old int32 (N, T) array alone: n * t * 4 = 38 MB


@given(st.integers(1, 400), st.integers(1, 300), st.integers(1, 300), st.integers(1, 2**24))
def test_time_blocks_cover_every_slice_once_within_the_bound(nt, nlat, nlon, block_bytes):
    from driftline.products.density import time_blocks

    blocks = time_blocks((nt, nlat, nlon), block_bytes)
    assert [t for b in blocks for t in range(b.start, b.stop)] == list(range(nt))
    slice_bytes = 4 * nlat * nlon
    assert all((b.stop - b.start) * slice_bytes <= max(block_bytes, slice_bytes) for b in blocks)
    assert all(b.stop - b.start == blocks[0].stop - blocks[0].start for b in blocks[:-1])  # as few as fit


@pytest.mark.parametrize("block_bytes", [1, 10**9])  # a write per slice; every slice in one write
def test_density_nc_holds_the_fields_however_they_are_written(tmp_path, meta, monkeypatch, block_bytes):
    import driftline.products.density as density

    monkeypatch.setattr(density, "WRITE_BLOCK_BYTES", block_bytes)
    traj = drifting_plume(n=500, t=9)
    dens = compute_density(traj, make_grid(traj))
    with xr.open_dataset(density.write_density_nc(tmp_path / "density.nc", dens, meta, traj)) as ds:
        np.testing.assert_array_equal(ds.probability.fillna(0).values, dens.probability)
        np.testing.assert_array_equal(ds.stranded_probability.fillna(0).values, dens.stranded)
        area = dens.grid.cell_area_km2()[:, None].astype(np.float32)
        np.testing.assert_array_equal(ds.probability_density.fillna(0).values, dens.probability / area)


def test_every_time_slice_sums_to_the_present_share_and_shares_sum_to_one():
    traj = drifting_plume()
    traj.state[:, 0] = NOT_RELEASED
    traj.lon[:, 0] = traj.lat[:, 0] = np.nan
    dens = compute_density(traj, make_grid(traj))
    sums = dens.probability.astype(np.float64).sum(axis=(1, 2))
    assert sums[0] == 0 and dens.present[0] == 0 and np.isnan(dens.centre_lat[0])
    sh = dens.shares
    np.testing.assert_allclose(sum(sh.values()), 1.0, atol=1e-12)
    np.testing.assert_allclose(sums, sh["floating"] + sh["stranded"], atol=1e-5)
    assert sh["not_released"][0] == pytest.approx(1.0) and sh["out_of_domain"][-1] == pytest.approx(0.05)


def test_not_released_and_out_of_domain_are_excluded_even_with_positions():
    n = 20
    lon = np.r_[np.full(10, LON0), np.full(10, LON0 + 1.0)]
    state = np.r_[np.full(10, ACTIVE), np.full(5, NOT_RELEASED), np.full(5, OUT_OF_DOMAIN)].astype(np.int8)
    traj = Trajectories(
        np.array([START]), lon[:, None], np.full((n, 1), LAT0), state[:, None],
        np.zeros(n, np.int16), np.ones(n, np.int16),
    )  # fmt: skip
    grid = make_grid(traj)
    dens = compute_density(traj, grid)
    assert dens.present[0] == 10
    assert np.count_nonzero(dens.probability[0]) == 1 and dens.probability[0].sum() == pytest.approx(0.5)
    assert dens.shares["not_released"][0] == dens.shares["out_of_domain"][0] == pytest.approx(0.25)
    assert grid.lon0 + grid.nlon * grid.dlon < LON0 + 0.5  # the grid does not stretch to the excluded particles


def test_stranded_particles_counted_in_both_fields():
    lon = np.r_[np.full(6, LON0), np.full(4, LON0 + 0.05)]
    state = np.r_[np.full(6, ACTIVE), np.full(4, STRANDED)]
    traj = make_traj(np.repeat(lon[:, None], 2, 1), np.full((10, 2), LAT0), np.repeat(state[:, None], 2, 1))
    grid = make_grid(traj)
    dens = compute_density(traj, grid)
    cell = grid.index(np.array([LON0 + 0.05]), np.array([LAT0]))[0]
    for t in range(2):
        assert dens.stranded[t].sum() == pytest.approx(0.4)
        assert dens.stranded[t].flat[cell] == pytest.approx(0.4)
        assert dens.probability[t].flat[cell] == pytest.approx(0.4)
        assert dens.probability[t].sum() == pytest.approx(1.0)


def test_density_weighted_centre_within_one_cell_of_mean():
    traj = drifting_plume()
    dens = compute_density(traj, make_grid(traj))
    ok = dens.present > 0
    mean_lat, mean_lon = np.nanmean(traj.lat[:, ok], axis=0), np.nanmean(traj.lon[:, ok], axis=0)
    assert np.all(np.abs(dens.centre_lat[ok] - mean_lat) <= dens.grid.dlat)
    assert np.all(np.abs(dens.centre_lon[ok] - mean_lon) <= dens.grid.dlon)


def test_grid_cell_size_override_and_caps():
    lon, lat = gaussian(5000, 1000)
    traj = make_traj(lon, lat)
    auto = make_grid(traj, min_cells=50)
    spread = (np.percentile(lat, 99) - np.percentile(lat, 1)) * M_PER_DEG
    assert auto.resolution_m <= spread / 50 * 1.1  # the plume spans about min_cells cells or more
    fixed = make_grid(traj, resolution_m=200)
    lat_mid = fixed.lat0 + 0.5 * fixed.nlat * fixed.dlat
    assert fixed.dlat * M_PER_DEG == pytest.approx(200)
    assert fixed.dlon * M_PER_DEG * math.cos(math.radians(lat_mid)) == pytest.approx(200)
    wide = make_traj(np.r_[lon, LON0 + 20], np.r_[lat, LAT0 - 8])  # one particle far away
    capped = make_grid(wide, resolution_m=100)
    assert max(capped.nlat, capped.nlon) <= MAX_CELLS_PER_AXIS and capped.resolution_m > 100
    for g in (auto, fixed, capped):  # every position lies inside the grid, with a margin
        x, y = g.xy(wide.lon if g is capped else traj.lon, wide.lat if g is capped else traj.lat)
        assert np.nanmin(x) >= 1 and np.nanmax(x) <= g.nlon - 1 and np.nanmin(y) >= 1 and np.nanmax(y) <= g.nlat - 1


def test_plume_on_the_antimeridian_keeps_a_small_grid():
    lon, lat = gaussian(2000, 2000, lon0=179.99, lat0=-17.0)
    traj = make_traj((lon + 180) % 360 - 180, lat)
    grid = make_grid(traj)
    dens = compute_density(traj, grid)
    assert grid.nlon < 200
    assert dens.probability[0].sum() == pytest.approx(1.0)
    assert -180 <= grid.lon0 < 180 and np.all(np.diff(grid.lon) > 0)


# --- search areas ---------------------------------------------------------------------------------------------------


def test_gaussian_90_percent_area_matches_the_analytic_circle():
    sigma_km = 1.0
    lon, lat = gaussian(20000, sigma_km * 1000)
    polys, areas = hdr_polygons(make_traj(lon, lat))
    analytic = math.pi * sigma_km**2 * 2 * math.log(10)
    assert areas[1] == pytest.approx(analytic, rel=0.15)
    assert 0.85 <= shapely.contains_xy(polys[1], lon, lat).mean() <= 0.95
    assert areas[0] < areas[1] < areas[2]
    assert polys[2].contains(polys[1]) and polys[1].contains(polys[0])


def test_sparse_cloud_gives_compact_regions_not_speckle():
    lon, lat = gaussian(1000, 1000, seed=3)
    polys, _ = hdr_polygons(make_traj(lon, lat))
    for p in polys:
        assert len(parts(p)) <= 2 and sum(len(q.interiors) for q in parts(p)) <= 1
    assert 0.85 <= shapely.contains_xy(polys[1], lon, lat).mean() <= 0.95


def test_two_separated_clusters_give_two_polygons():
    a, b = gaussian(1000, 300, seed=1), gaussian(1000, 300, lon0=LON0 + 0.5, seed=2)
    lon, lat = np.r_[a[0], b[0]], np.r_[a[1], b[1]]
    polys, _ = hdr_polygons(make_traj(lon, lat))
    for p in polys:
        assert isinstance(p, shapely.MultiPolygon) and len(p.geoms) == 2
    assert 0.85 <= shapely.contains_xy(polys[1], lon, lat).mean() <= 0.95


def test_ring_of_particles_gives_a_polygon_with_a_hole():
    rng = np.random.default_rng(4)
    angle, radius = rng.uniform(0, 2 * np.pi, 5000), rng.normal(3000, 300, 5000)
    lon = LON0 + radius * np.cos(angle) / M_PER_DEG / np.cos(np.radians(LAT0))
    lat = LAT0 + radius * np.sin(angle) / M_PER_DEG
    polys, _ = hdr_polygons(make_traj(lon, lat))
    p90 = polys[1]
    assert not shapely.contains_xy(p90, LON0, LAT0)
    assert any(len(q.interiors) >= 1 for q in parts(p90))
    assert 0.85 <= shapely.contains_xy(p90, lon, lat).mean() <= 0.95


def test_search_area_times_every_interval_and_the_final_time():
    times = START + (np.arange(49) * 3600).astype("timedelta64[s]")
    assert area_time_indices(times, 6) == [6, 12, 18, 24, 30, 36, 42, 48]
    assert area_time_indices(times, 5) == [5, 10, 15, 20, 25, 30, 35, 40, 45, 48]
    assert area_time_indices(times, 100) == [48]
    assert area_time_indices(START - (np.arange(13) * 3600).astype("timedelta64[s]"), 6) == [6, 12]


def test_member_centres_and_areas():
    a, b = gaussian(500, 500, seed=1), gaussian(500, 500, lon0=LON0 + 0.1, seed=2)
    traj = make_traj(np.r_[a[0], b[0]], np.r_[a[1], b[1]], member=np.r_[np.zeros(500), np.ones(500)], names=["A", "B"])
    stats = member_stats(traj)
    assert stats.names == ["A", "B"]
    assert stats.centre_lon[0, 0] == pytest.approx(a[0].mean(), abs=0.005)
    assert stats.centre_lon[1, 0] == pytest.approx(b[0].mean(), abs=0.005)
    assert 0.5 < stats.area_90_km2[0, 0] < 3.5  # analytic 1.8 km2 for sigma 500 m
    assert member_stats(make_traj(*a)) is None


# --- files ----------------------------------------------------------------------------------------------------------


def test_build_products_writes_all_files(tmp_path: Path, meta):
    traj = drifting_plume(members=2)
    seen: list[str] = []

    def on_file(name: str, path: Path) -> None:
        assert path.exists() and path.stat().st_size > 0
        seen.append(name)

    report = build_products(traj, meta, tmp_path, on_file=on_file, land_fn=fake_land)
    names = {
        "density.nc",
        "search_area.geojson",
        "search_area.kml",
        "shoreline.geojson",
        "preview.png",
        "animation.mp4",
    }
    assert set(seen) == names == set(report.files) and report.warnings == []
    assert set(report.timings_s) == {"density", "search_areas", "preview", "animation"}
    assert [a["time"] for a in report.search_areas] == ["2024-03-01T06:00:00Z", "2024-03-01T12:00:00Z"]
    assert set(report.search_areas[-1]["area_km2"]) == {"50", "90", "95"}
    assert [m["name"] for m in report.members] == ["member-1", "member-2"]
    json.dumps(report.search_areas + report.members + [report.grid])  # plain JSON types only

    with xr.open_dataset(report.files["density.nc"]) as ds:
        assert ds.attrs["Conventions"] == "CF-1.8" and ds.attrs["title"].startswith("Drift probability")
        assert ds.attrs["mission_id"] == "mission-test" and ds.attrs["institution"] == "test"
        assert ds.probability.dims == ("time", "lat", "lon") and ds.probability.dtype == np.float32
        assert ds.probability.attrs["units"] == "1" and "standard_name" not in ds.probability.attrs
        assert ds.lat.attrs["standard_name"] == "latitude" and ds.lon.attrs["units"] == "degrees_east"
        assert ds.time.encoding["units"] == "seconds since 1970-01-01 00:00:00"
        assert ds.sizes["time"] == traj.num_times
        shares = [ds[f"share_{k}"].values for k in ("floating", "stranded", "out_of_domain", "not_released")]
        np.testing.assert_allclose(sum(shares), 1.0, atol=1e-12)
        present = ds.share_floating.values + ds.share_stranded.values
        np.testing.assert_allclose(ds.probability.sum(("lat", "lon")).values, present, atol=1e-5)
        assert ds.probability.attrs["cell_methods"] == "area: sum" and ds.probability_density.attrs["units"] == "km-2"
        assert ds.member_area_90_km2.dims == ("member", "time")
        assert list(ds.member_name.values) == ["member-1", "member-2"]

    fc = json.loads(report.files["search_area.geojson"].read_text())
    kinds = [f["properties"]["kind"] for f in fc["features"]]
    assert kinds[:2] == ["last_known_position", "centre_track"] and kinds.count("search_area") == 6
    t_index = {np.datetime_as_string(t, unit="s") + "Z": i for i, t in enumerate(traj.times)}
    for f in (f for f in fc["features"] if f["properties"]["kind"] == "search_area"):
        props, geom = f["properties"], shapely.geometry.shape(f["geometry"])
        assert geom.is_valid and props["area_km2"] > 0 and props["probability"] in (0.5, 0.9, 0.95)
        assert all(shapely.is_ccw(q.exterior) for q in parts(geom))
        t = t_index[props["time"]]
        inside = shapely.contains_xy(geom, traj.lon[:, t], traj.lat[:, t])[traj.state[:, t] == ACTIVE].mean()
        assert abs(inside - props["probability"]) <= 0.05 and props["computed_over"] == "floating"
        assert props["area_nm2"] == pytest.approx(props["area_km2"] / 1.852**2, rel=1e-3)

    root = ET.parse(report.files["search_area.kml"]).getroot()
    shore = json.loads(report.files["shoreline.geojson"].read_text())["features"]
    assert len(root.findall(f".//{KML}Placemark")) == 2 + 6 + 2 + len(shore)  # LKP, track, areas, datums, shore
    spans = [
        (f.find(f"{KML}TimeSpan/{KML}begin").text, f.find(f"{KML}TimeSpan/{KML}end"))
        for f in root.iter(f"{KML}Folder")
        if f.find(f"{KML}TimeSpan") is not None
    ]
    assert [b for b, _ in spans] == ["2024-03-01T06:00:00Z", "2024-03-01T12:00:00Z"] and spans[1][1] is None
    data = {d.get("name") for d in root.iter(f"{KML}Data")}
    assert {"probability", "area_km2", "area_nm2", "time", "datum_lat_dm"} <= data
    assert {s.get("id") for s in root.iter(f"{KML}Style")} >= {"area50", "area90", "area95"}

    assert imageio_ffmpeg.count_frames_and_secs(str(report.files["animation.mp4"]))[0] == traj.num_times
    mp4 = report.files["animation.mp4"].read_bytes()
    assert b"avc1" in mp4 and mp4.find(b"moov") < mp4.find(b"mdat")  # H.264, +faststart
    with Image.open(report.files["preview.png"]) as img:
        assert img.format == "PNG" and img.size[0] >= 900


def test_backward_run_says_origin(tmp_path: Path, meta):
    meta = replace(meta, direction="backward")
    report = build_products(drifting_plume(t=7, backward=True), meta, tmp_path, land_fn=fake_land)
    with xr.open_dataset(report.files["density.nc"]) as ds:
        assert ds.attrs["title"].startswith("Origin probability (backward run)")
        assert ds.attrs["direction"] == "backward" and "origin" in ds.probability.attrs["long_name"]
    fc = json.loads(report.files["search_area.geojson"].read_text())
    assert fc["features"][0]["properties"]["kind"] == "found_position"
    assert all("origin" in f["properties"]["name"] for f in fc["features"] if f["properties"]["kind"] == "search_area")
    doc_name = ET.parse(report.files["search_area.kml"]).getroot().find(f"{KML}Document/{KML}name").text
    assert doc_name.startswith("Origin probability")


def test_nothing_present_still_writes_products(tmp_path: Path, meta):
    traj = make_traj(np.full((10, 3), LON0), np.full((10, 3), LAT0), np.full((10, 3), NOT_RELEASED))
    report = build_products(traj, meta, tmp_path, land_fn=fake_land)
    assert len(report.files) == 6 and report.warnings == []
    assert report.search_areas[-1]["centre"] is None and report.search_areas[-1]["area_km2"] == {}
    assert report.grid["lat_min"] < LAT0 < report.grid["lat_max"]


def test_kml_polygon_has_the_hole_opened_not_filled(tmp_path: Path, meta):
    rng = np.random.default_rng(4)
    angle, radius = rng.uniform(0, 2 * np.pi, 5000), rng.normal(3000, 300, 5000)
    lon = LON0 + radius * np.cos(angle) / M_PER_DEG / np.cos(np.radians(LAT0))
    traj = make_traj(lon, LAT0 + radius * np.sin(angle) / M_PER_DEG)
    dens = compute_density(traj, make_grid(traj))
    fc = feature_collection(meta, dens, compute_search_areas(traj, [0], dens.shares))
    root = ET.parse(write_kml(tmp_path / "a.kml", fc, meta)).getroot()
    assert len(root.findall(f".//{KML}Placemark")) == 1 + 1 + 3  # single time: no track, LKP + datum + 3 areas
    assert not root.findall(f".//{KML}innerBoundaryIs")  # holes are slit open for tools that mishandle them
    area90 = next(f for f in fc["features"] if f["properties"].get("probability") == 0.9)
    assert not shapely.contains_xy(shapely.geometry.shape(area90["geometry"]), LON0, LAT0)


def test_animation_failure_is_a_warning(tmp_path: Path, meta, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("ffmpeg exploded")

    monkeypatch.setattr(render, "_start_ffmpeg", broken)
    with caplog.at_level(logging.ERROR, logger="driftline.products"):
        report = build_products(drifting_plume(t=5), meta, tmp_path, land_fn=fake_land)
    assert report.warnings == ["animation failed: ffmpeg exploded"]
    assert "animation.mp4" not in report.files and "preview.png" in report.files
    assert any(r.exc_info for r in caplog.records)


def test_animation_failure_mid_stream_leaves_no_file(tmp_path: Path, meta, monkeypatch):
    def bad_frames(*args, **kwargs):
        yield from ()
        raise ValueError("renderer broke")

    monkeypatch.setattr(render, "frame_patches", bad_frames)
    report = build_products(drifting_plume(t=5), meta, tmp_path, land_fn=fake_land)
    assert report.warnings == ["animation failed: renderer broke"]
    assert not (tmp_path / "animation.mp4").exists()


def test_a_frame_the_writer_cannot_draw_fails_the_animation_not_the_wait(tmp_path: Path, meta, monkeypatch):
    """The writer thread paints the frames: its failure ends ffmpeg's input and is reported (no wait forever)."""
    real = render.frame_patches

    def broken(*args, **kwargs):
        for i, patches in enumerate(real(*args, **kwargs)):
            yield patches if i < 2 else [((np.array([10**9]), np.array([0])), (0, 0, 0))]  # a pixel off the frame

    monkeypatch.setattr(render, "frame_patches", broken)
    started = time.perf_counter()
    report = build_products(drifting_plume(t=5), meta, tmp_path, land_fn=fake_land)
    assert len(report.warnings) == 1 and report.warnings[0].startswith("animation failed: ffmpeg stopped reading")
    assert "out of bounds" in report.warnings[0] and time.perf_counter() - started < 30
    assert not (tmp_path / "animation.mp4").exists()


def test_opendrift_landmask_raster():
    """The one test that pays for OpenDrift's landmask (~6 s, 2.5 GB on first use)."""
    assert opendrift_land(np.array([5.33, 3.0]), np.array([60.39, 60.0])).tolist() == [True, False]
    view = map_view(np.array([4.6, 5.4]), np.array([60.2, 60.5]), (4.6, 60.2))
    land = land_raster(view, opendrift_land)
    assert land.shape == (view.height, view.width) and 0.05 < land.mean() < 0.95


@pytest.mark.slow
def test_timing_5000_particles_49_steps(tmp_path: Path, meta):
    traj = drifting_plume(n=5000, t=49, members=1)
    opendrift_land(np.zeros(1), np.zeros(1))  # build the mask first, as the warm worker has
    t0 = time.perf_counter()
    report = build_products(traj, meta, tmp_path)
    total = time.perf_counter() - t0
    print(f"\n5000 x 49 product timings (s): {report.timings_s} total {total:.2f}")
    made = {"density.nc", "search_area.geojson", "shoreline.geojson", "search_area.kml", "preview.png", "animation.mp4"}
    assert set(report.files) == made and not report.warnings
    assert report.timings_s["animation"] < 5.0


def test_particle_weights_set_each_particles_share_of_the_density():
    lon = np.r_[np.full(5, LON0), np.full(5, LON0 + 0.05)]
    traj = make_traj(lon, np.full(10, LAT0))
    traj.weight = np.r_[np.full(5, 3.0), np.full(5, 1.0)]
    np.testing.assert_allclose(traj.shares().sum(), 1.0)
    grid = make_grid(traj)
    dens = compute_density(traj, grid)
    cell = grid.index(np.array([LON0 + 0.05]), np.array([LAT0]))[0]
    assert dens.probability[0].flat[cell] == pytest.approx(0.25)


def test_map_background_failure_is_a_warning_for_both_images(tmp_path: Path, meta, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no fonts")

    monkeypatch.setattr("driftline.products.background", broken)
    report = build_products(drifting_plume(t=5), meta, tmp_path, land_fn=fake_land)
    assert report.warnings == [
        "preview failed: no fonts",
        "animation failed: no map background (see the preview warning)",
    ]
    assert "search_area.geojson" in report.files and "preview.png" not in report.files


def test_an_encoder_that_stops_reading_is_a_warning_not_a_hang(tmp_path: Path, meta, monkeypatch):
    def quitter(path, *args):
        return subprocess.Popen(["sh", "-c", "exit 3"], stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    monkeypatch.setattr(render, "_start_ffmpeg", quitter)
    started = time.perf_counter()
    report = build_products(drifting_plume(t=40), meta, tmp_path, land_fn=fake_land)
    assert time.perf_counter() - started < 30
    assert len(report.warnings) == 1 and report.warnings[0].startswith("animation failed: ffmpeg"), report.warnings
    assert "preview.png" in report.files and not (tmp_path / "animation.mp4").exists()


def test_a_failure_while_the_animation_encodes_leaves_no_encoder_or_file(tmp_path: Path, meta, monkeypatch):
    import psutil

    def broken(*args, **kwargs):
        raise RuntimeError("search areas broke")

    monkeypatch.setattr("driftline.products.compute_search_areas", broken)
    with pytest.raises(RuntimeError, match="search areas broke"):
        build_products(drifting_plume(t=40), meta, tmp_path, land_fn=fake_land)
    assert not (tmp_path / "animation.mp4").exists()
    assert not [p for p in psutil.Process().children(recursive=True) if "ffmpeg" in p.name()]
