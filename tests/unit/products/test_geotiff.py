"""probability.tif opened with rasterio: a COG in EPSG:4326, one band per search-area time named by it, nodata
set, each band summing to the floating share; on the antimeridian the raster stays one contiguous grid."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import xarray as xr

from driftline.products.geotiff import NODATA, write_probability_tif
from driftline.products.mission_view import parse_time
from tests.unit.products.tasking_missions import build_mission


def test_bands_times_and_sums(planned):
    out, summary = planned
    with rasterio.open(out / "probability.tif") as ds:
        assert ds.crs.to_epsg() == 4326 and ds.nodata == NODATA and ds.dtypes[0] == "float32"
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert list(ds.descriptions) == [sa["time"] for sa in summary["search_areas"]]
        for i, sa in enumerate(summary["search_areas"], 1):
            band = ds.read(i, masked=True)
            assert float(band.sum()) == pytest.approx(sa["shares"]["floating"], abs=1e-4)
            assert ds.tags(i)["time"] == sa["time"]
            rows, cols = np.unravel_index(np.argmax(band.filled(0)), band.shape)
            lon, lat = ds.xy(rows, cols)
            assert abs(lat - sa["centre"]["lat"]) < 0.1 and abs(lon - sa["centre"]["lon"]) < 0.2


def test_the_grid_matches_density_nc(planned):
    out, summary = planned
    dens = xr.open_dataset(out / "density.nc")
    with rasterio.open(out / "probability.tif") as ds:
        assert (ds.width, ds.height) == (dens.sizes["lon"], dens.sizes["lat"])
        assert ds.bounds.left == pytest.approx(float(dens.lon_bnds[0, 0]))
        assert ds.bounds.top == pytest.approx(float(dens.lat_bnds[-1, 1]))
        last = ds.read(ds.count)[::-1]  # back to south-first rows
    t = np.datetime64(summary["search_areas"][-1]["time"].rstrip("Z"))
    expected = (dens.probability - dens.stranded_probability).sel(time=t).values
    assert np.allclose(last, expected, atol=1e-7)


def test_across_the_antimeridian(tmp_path):
    summary = build_mission(tmp_path, lon0=179.9, lat0=-15.0)
    times = [parse_time(sa["time"]) for sa in summary["search_areas"]]
    lons = [sa["centre"]["lon"] for sa in summary["search_areas"]]
    assert min(lons) < -179 and max(lons) > 179  # the datums are on both sides of 180
    path = write_probability_tif(tmp_path / "p.tif", tmp_path / "density.nc", times, "m")
    with rasterio.open(path) as ds:
        assert -180 <= ds.bounds.left < 180 < ds.bounds.right < ds.bounds.left + 5
        for i, sa in enumerate(summary["search_areas"], 1):
            band = ds.read(i, masked=True)
            assert float(band.sum()) == pytest.approx(sa["shares"]["floating"], abs=1e-4)
            rows, cols = np.unravel_index(np.argmax(band.filled(0)), band.shape)
            lon, _ = ds.xy(rows, cols)
            assert abs(((lon - sa["centre"]["lon"]) + 180) % 360 - 180) < 0.2  # the peak sits at the datum


def test_tiles_hold_at_most_four_mb_of_every_band():
    from driftline.products.geotiff import TILE_BYTES, tile_px

    assert tile_px(1) == tile_px(16) == 256 and tile_px(17) == tile_px(41) == 128 and tile_px(10**6) == 16
    assert all(b * tile_px(b) ** 2 * 4 <= TILE_BYTES for b in range(1, 4097))
