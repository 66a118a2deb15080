"""The tasking files read by independent tools (Debian's gpsbabel and GDAL command-line readers):
search_plan.gpx with the same routes and points in gpsbabel and in GDAL's GPX driver as in the plan, and
probability.tif in gdalinfo with EPSG:4326, one band per search-area time and bands summing to the floating share."""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import UTC, datetime

import pytest

from driftline.products.tasking import build_tasking
from tests.unit.products.tasking_missions import fake_land, two_units

ISSUED = datetime(2024, 2, 29, 22, 15, tzinfo=UTC)


@pytest.fixture(scope="module")
def mission(tmp_path_factory):
    out = tmp_path_factory.mktemp("gis")
    summary = two_units(out, lon0=179.95, lat0=-15.0)  # on the antimeridian
    build_tasking(summary, out, land_fn=fake_land, issued=ISSUED)
    assert not [w for w in summary["warnings"] if "failed" in w]  # the report and its map too
    return out, summary


def run(*cmd: str) -> str:
    env = {**os.environ, "GDAL_PAM_ENABLED": "NO"}  # gdalinfo -stats must not write .aux.xml beside the product
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120, env=env).stdout


def expected_routes(summary: dict, out) -> dict[str, list[tuple[float, float]]]:
    fc = json.loads((out / "search_plan.geojson").read_text())
    patterns = [f for f in fc["features"] if f["properties"]["kind"] == "search_pattern"]
    return {f"UNIT-{i:02d}": _route(p["geometry"]) for i, p in enumerate(patterns, 1)}


def _route(geometry: dict) -> list[tuple[float, float]]:
    """The pattern's points in order; a MultiLineString cut at 180 deg (RFC 7946) loses its added cut points."""
    if geometry["type"] == "LineString":
        return [tuple(c) for c in geometry["coordinates"]]
    return [tuple(c) for part in geometry["coordinates"] for c in part if abs(c[0]) < 179.99999]


def close(a, b) -> bool:
    """Same points; the parts of a pattern cut at 180 deg are not in flying order, so compare them sorted."""
    a, b = sorted(a), sorted(b)
    return len(a) == len(b) and all(abs(x - u) < 2e-5 and abs(y - v) < 2e-5 for (x, y), (u, v) in zip(a, b))


def test_gpsbabel_reads_the_routes_and_waypoints(mission):
    out, summary = mission
    gpx = str(out / "search_plan.gpx")
    routes = json.loads(run("gpsbabel", "-r", "-i", "gpx", "-f", gpx, "-x", "transform,trk=rte,del", "-o",
                            "geojson", "-F", "-"))  # fmt: skip
    lines = {f["properties"]["name"]: f["geometry"]["coordinates"] for f in routes["features"]
             if f["geometry"]["type"] == "LineString"}  # fmt: skip
    want = expected_routes(summary, out)
    assert list(lines) == list(want) == ["UNIT-01", "UNIT-02"]
    assert all(close(lines[k], want[k]) for k in want)
    waypoints = run("gpsbabel", "-w", "-i", "gpx", "-f", gpx, "-o", "unicsv", "-F", "-").splitlines()[1:]
    names = [row.split(",")[3].strip('"') for row in waypoints]
    assert names[0] == "LKP" and sum(n.startswith("DATUM") for n in names) == len(summary["search_areas"])
    assert {"AAC1", "AAC4", "ABC1", "ABC4"} <= set(names)
    print("gpsbabel:", {k: len(v) for k, v in lines.items()}, "route points,", len(names), "waypoints")


def test_gdal_gpx_driver_reads_the_same(mission):
    out, summary = mission
    text = run("ogrinfo", "-ro", "-q", str(out / "search_plan.gpx"), "routes")
    names = re.findall(r"^\s+name \(String\) = (.+)$", text, re.M)
    lines = [[tuple(map(float, p.split())) for p in m.split(",")] for m in re.findall(r"LINESTRING \((.+)\)", text)]
    want = expected_routes(summary, out)
    assert names == list(want) and all(close(a, want[k]) for a, k in zip(lines, want))
    points = run("ogrinfo", "-ro", "-q", str(out / "search_plan.gpx"), "waypoints")
    assert re.findall(r"^\s+name \(String\) = (.+)$", points, re.M)[0] == "LKP"
    assert all(abs(float(x)) <= 180 for x, _ in re.findall(r"POINT \((\S+) (\S+)\)", points))
    print("ogrinfo:", dict(zip(names, map(len, lines))), "route points")


def test_gdalinfo_reads_the_geotiff(mission):
    out, summary = mission
    info = json.loads(run("gdalinfo", "-json", "-stats", str(out / "probability.tif")))
    assert 'ID["EPSG",4326]' in info["coordinateSystem"]["wkt"]
    assert info["metadata"]["IMAGE_STRUCTURE"]["LAYOUT"] == "COG"
    bands, areas = info["bands"], summary["search_areas"]
    assert [b["description"] for b in bands] == [sa["time"] for sa in areas]
    cells = info["size"][0] * info["size"][1]
    for band, sa in zip(bands, areas):
        assert band["noDataValue"] == 0 and band["type"] == "Float32"
        stats = band["metadata"][""]
        total = float(stats["STATISTICS_MEAN"]) * float(stats["STATISTICS_VALID_PERCENT"]) / 100 * cells
        assert total == pytest.approx(sa["shares"]["floating"], rel=2e-3)
    west, east = info["cornerCoordinates"]["upperLeft"][0], info["cornerCoordinates"]["upperRight"][0]
    assert -180 <= west < 180 < east  # one contiguous raster across the antimeridian
    assert not list(out.glob("*.aux.xml"))
    print("gdalinfo:", len(bands), "bands", [round(float(b["metadata"][""]["STATISTICS_MEAN"]), 6) for b in bands])
