"""Frame dots painted through a pixel mask (large particle counts) equal the per-particle dots, pixel for pixel."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from driftline.products import render
from driftline.products.mapview import MapView


@pytest.mark.parametrize("seed", [0, 1])
def test_mask_dots_equal_per_particle_dots(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    view = MapView(2.0, 4.0, 56.0, 58.0)
    n = 30000
    # a dense cloud, particles just outside every edge (their dots reach in), NaN (not present), under the title
    lon = np.concatenate([rng.normal(3.0, 0.2, n), rng.uniform(1.99, 4.01, 2000), [np.nan] * 50])
    lat = np.concatenate([rng.normal(57.0, 0.2, n), rng.uniform(55.99, 58.01, 2000), [57.0] * 50])
    stranded = rng.random(lon.size) < 0.2
    frames = []
    for threshold in (10**9, 1):  # per particle, then by mask
        monkeypatch.setattr(render, "DOTS_BY_MASK_MIN", threshold)
        arr = np.full((view.top + view.height, view.width, 3), 255, dtype=np.uint8)
        render.draw_particles(arr, view, lon, lat, stranded)
        frames.append(arr)
    assert (frames[0] != 255).any(axis=2).sum() > 10000  # many dots drawn
    np.testing.assert_array_equal(frames[1], frames[0])


@pytest.mark.parametrize("n, mask_min", [(300, 10**9), (3000, 1)])  # per-particle dots; dots by mask
def test_a_redrawn_canvas_equals_a_fresh_copy_of_the_background_for_every_frame(n, mask_min, monkeypatch):
    """The canvas undoes what the previous frame drew (pixel by pixel, or by copying the whole background) and
    paints the next: every frame equals the same patches painted on a fresh copy of the background."""
    from driftline.products import compute_density, make_grid
    from driftline.products.grid import present_positions
    from driftline.products.mapview import background, land_raster, map_view
    from tests.unit.conftest import LAT0, LON0
    from tests.unit.products.test_products import drifting_plume, fake_land

    monkeypatch.setattr(render, "DOTS_BY_MASK_MIN", mask_min)
    traj = drifting_plume(n=n, t=9)
    dens = compute_density(traj, make_grid(traj))
    lon, lat = present_positions(traj)
    view = map_view(lon.ravel(), lat.ravel(), lkp=(LON0, LAT0))
    bg = np.asarray(background(view, land_raster(view, fake_land), (LON0, LAT0, "LKP")))
    fresh = []
    for patches in render.frame_patches(traj, dens, view):
        arr = bg.copy()
        for sel, value in patches:
            arr[sel] = value
        fresh.append(arr)
    assert len(fresh) == 9 and not all(np.array_equal(fresh[0], f) for f in fresh[1:])  # dots, track, time move
    for share in (1.0, 0.0):  # undo pixel by pixel; copy the whole background
        monkeypatch.setattr(render.Canvas, "FULL_COPY_SHARE", share)
        canvas = render.Canvas(bg)
        for t, patches in enumerate(render.frame_patches(traj, dens, view)):
            np.testing.assert_array_equal(canvas.draw(patches), fresh[t])
    frames = [f.copy() for f in render.frames(traj, dens, view, Image.fromarray(bg))]
    np.testing.assert_array_equal(np.stack(frames), np.stack(fresh))


def test_the_background_is_land_coloured_exactly_where_the_land_raster_is_land():
    from driftline.products.mapview import LAND, SEA, background

    view = MapView(2.0, 4.0, 56.0, 58.0)
    land = np.random.default_rng(5).random((view.height, view.width)) < 0.3
    arr = np.asarray(background(view, land, (3.0, 57.0, "LKP")))[view.top :]
    is_land, is_sea = (arr == LAND).all(axis=2), (arr == SEA).all(axis=2)
    assert (is_land | is_sea).mean() > 0.95  # all but the graticule, labels, scale bar and LKP marker
    assert not (is_land & ~land).any() and not (is_sea & land).any()
