"""The preview draws the datum of every search-area time and the shoreline segments (and a north arrow)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from driftline.products.mapview import MapView
from driftline.products.overlays import DATUM_RGB, SHORE_RGB, draw_datums, draw_shoreline


def pixels(path, rgb) -> int:
    return int((np.asarray(Image.open(path).convert("RGB")) == rgb).all(axis=2).sum())


def test_preview_shows_datums_and_shoreline(planned, unplanned):
    for out, summary in (planned, unplanned):
        assert summary["shoreline"], "the fake coast must strand some particles"
        assert pixels(out / "preview.png", DATUM_RGB) > 20 * len(summary["search_areas"])
        assert pixels(out / "preview.png", SHORE_RGB) > 30


def test_overlays_land_where_the_positions_are():
    view = MapView(4.0, 5.0, 59.5, 60.5, width=200, height=200, top=0)
    img = Image.new("RGB", (200, 200), (255, 255, 255))
    from PIL import ImageDraw

    draw = ImageDraw.Draw(img)
    draw_datums(draw, view, [(60.0, 4.5, "", True)])
    fc = {"features": [{"geometry": {"type": "LineString", "coordinates": [[4.1, 59.6], [4.3, 59.6]]},
                        "properties": {"rank": 1, "probability": 0.1}}]}  # fmt: skip
    draw_shoreline(draw, view, fc, labels=0)
    arr = np.asarray(img)
    assert (arr[100, 100] == DATUM_RGB).all()  # the diamond is centred on 60 N 4.5 E
    assert (arr[180, 40] == SHORE_RGB).all() and (arr[100, 40] != SHORE_RGB).any()
