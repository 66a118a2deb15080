"""The report map's probability shading: the per-cell, cropped blend gives the pixels of the whole-map blend."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from driftline.products import reportmap
from driftline.products.grid import unwrap_lon
from driftline.products.mapview import MapView


def whole_map_shade(img: Image.Image, mv: MapView, grid: dict, band: np.ndarray) -> None:
    """The blend as first written: every pixel of the map through matplotlib's colormap call."""
    top = float(band.max())
    if top <= 0:
        return
    lon, _ = mv.lonlat(np.arange(mv.width) + 0.5, np.zeros(mv.width))
    _, lat = mv.lonlat(np.zeros(mv.height), np.arange(mv.height) + 0.5)
    lon = unwrap_lon(lon, grid["west"] + 0.5 * grid["nlon"] * grid["dlon"])
    col = np.floor((lon - grid["west"]) / grid["dlon"]).astype(np.int64)
    row = np.floor((grid["north"] - lat) / grid["dlat"]).astype(np.int64)
    col_ok, row_ok = (col >= 0) & (col < grid["nlon"]), (row >= 0) & (row < grid["nlat"])
    value = band[np.clip(row, 0, grid["nlat"] - 1)[:, None], np.clip(col, 0, grid["nlon"] - 1)[None, :]]
    value = np.where(row_ok[:, None] & col_ok[None, :], value, 0.0)
    frac = np.sqrt(np.clip(value / top, 0, 1))
    rgba = reportmap.SHADE(0.35 + 0.65 * frac)
    alpha = (reportmap.MAX_ALPHA * frac * (value > 0))[..., None]
    arr = np.asarray(img).astype(float)
    part = arr[mv.top : mv.top + mv.height]
    arr[mv.top : mv.top + mv.height] = part * (1 - alpha) + rgba[..., :3] * 255 * alpha
    img.paste(Image.fromarray(arr.astype(np.uint8)))


def assert_same_picture(ours: np.ndarray, reference: np.ndarray) -> None:
    """Equal but for float32 rounding: no channel of any pixel off by more than one level in 255."""
    assert np.abs(ours.astype(int) - reference.astype(int)).max(initial=0) <= 1


def _scene(seed: int, nlat: int, nlon: int, west: float, north: float, filled: float):
    rng = np.random.default_rng(seed)
    band = (rng.random((nlat, nlon)) * (rng.random((nlat, nlon)) < filled)).astype(np.float32)
    grid = {"west": west, "north": north, "dlon": 0.01, "dlat": 0.006, "nlat": nlat, "nlon": nlon}
    mv = MapView(west - 0.05, west + 0.01 * nlon + 0.02, north - 0.006 * nlat - 0.03, north + 0.01, 400, 300, 40)
    pixels = rng.integers(0, 256, (mv.top + mv.height, mv.width, 3), dtype=np.uint8)
    return band, grid, mv, pixels


def _both(monkeypatch, band, grid, mv, pixels) -> tuple[np.ndarray, np.ndarray]:
    monkeypatch.setattr(reportmap, "floating_bands", lambda path, times: (grid, [("t", 1.0, band)]))
    ours, reference = Image.fromarray(pixels.copy()), Image.fromarray(pixels.copy())
    reportmap._shade(ours, mv, "density.nc", datetime(2024, 1, 1))
    whole_map_shade(reference, mv, grid, band)
    return np.asarray(ours), np.asarray(reference)


@pytest.mark.parametrize("filled", [1.0, 0.05, 0.0])
def test_cropped_shade_equals_the_whole_map_blend(monkeypatch, filled):
    band, grid, mv, pixels = _scene(3, 30, 50, 3.0, 57.3, filled)
    ours, reference = _both(monkeypatch, band, grid, mv, pixels)
    assert_same_picture(ours, reference)
    assert (ours != pixels).any() == (filled > 0)  # the shading really is drawn (and only with probability)


def test_a_single_cell_shades_only_its_own_pixels(monkeypatch):
    band, grid, mv, pixels = _scene(4, 30, 50, 3.0, 57.3, 0.0)
    band[12, 20] = 0.5
    ours, reference = _both(monkeypatch, band, grid, mv, pixels)
    assert_same_picture(ours, reference)
    changed_y, changed_x = np.nonzero((ours != pixels).any(axis=2))
    x, y = mv.px(np.array([3.0 + 0.01 * 20.5]), np.array([57.3 - 0.006 * 12.5]))
    assert abs(changed_x.mean() - x[0]) < 2 and abs(changed_y.mean() - y[0]) < 2


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    nlat=st.integers(1, 40),
    nlon=st.integers(1, 40),
    west=st.floats(-179.5, 179.0),
    north=st.floats(-60, 70),
    filled=st.floats(0, 1),
)
def test_cropped_shade_equals_the_whole_map_blend_anywhere(seed, nlat, nlon, west, north, filled):
    band, grid, mv, pixels = _scene(seed, nlat, nlon, west, north, filled)
    with pytest.MonkeyPatch.context() as mp:
        ours, reference = _both(mp, band, grid, mv, pixels)
    assert_same_picture(ours, reference)
