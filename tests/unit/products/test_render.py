"""Frame dots painted through a pixel mask (large particle counts) equal the per-particle dots, pixel for pixel."""

from __future__ import annotations

import numpy as np
import pytest

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
