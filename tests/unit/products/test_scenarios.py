"""Per-scenario 90 % areas and centres at every search-area time in search_area.geojson / .kml, not
only at the final time: each polygon holds 90 % of its own scenario's floating probability at its own time."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from types import SimpleNamespace

import numpy as np
import shapely

from driftline.products.kml import write_kml
from driftline.products.scenarios import features, scenario_stats
from driftline.trajectory import ACTIVE, Trajectories

ROWS = [
    {"name": "over the side", "weight": 0.7, "posterior_weight": 0.7, "particles": 1400},
    {"name": "along the route", "weight": 0.3, "posterior_weight": 0.3, "particles": 600},
]


def two_scenario_cloud(nt: int = 5) -> Trajectories:
    """Two clouds 0.3° of longitude apart drifting north-east, spreading with time; weights 0.7 / 0.3."""
    rng = np.random.default_rng(3)
    n0, n1 = 1400, 600
    scen = np.r_[np.zeros(n0, np.int16), np.ones(n1, np.int16)]
    x0 = np.where(scen == 0, -3.0, -2.7)
    ex, ey = rng.normal(size=(2, n0 + n1))
    hours = np.arange(nt, dtype=float)
    spread = 0.01 + 0.004 * hours  # degrees
    lon = x0[:, None] + 0.02 * hours + ex[:, None] * spread * 2
    lat = 60.0 + 0.01 * hours + ey[:, None] * spread
    times = np.datetime64("2024-01-01T00:00:00", "s") + np.arange(nt) * np.timedelta64(3600, "s")
    w = np.where(scen == 0, 0.7 / n0, 0.3 / n1) * (n0 + n1)
    return Trajectories(
        times, lon, lat, np.full(lon.shape, ACTIVE, np.int8), np.zeros(n0 + n1, np.int16),
        np.ones(n0 + n1, np.int16), weight=w, scenario=scen,
    )  # fmt: skip


def test_every_search_area_time_has_each_scenarios_90_percent_area_and_centre():
    traj = two_scenario_cloud()
    stats = scenario_stats(traj, [1, 3], None, ROWS)
    feats = features(stats, traj.times, "forward")
    areas = [f for f in feats if f["properties"]["kind"] == "scenario_area"]
    centres = [f for f in feats if f["properties"]["kind"] == "scenario_centre"]
    want = {(r["name"], f"2024-01-01T0{t}:00:00Z") for r in ROWS for t in (1, 3, 4)}  # area times + final
    assert {(f["properties"]["scenario"], f["properties"]["time"]) for f in areas} == want
    assert {(f["properties"]["scenario"], f["properties"]["time"]) for f in centres} == want
    w = traj.shares()
    for f in areas:
        k = [r["name"] for r in ROWS].index(f["properties"]["scenario"])
        t = int(f["properties"]["time"][12])
        sel = traj.scenario == k
        inside = shapely.contains_xy(shapely.geometry.shape(f["geometry"]), traj.lon[sel, t], traj.lat[sel, t])
        held = w[sel][inside].sum() / w[sel].sum()
        assert 0.85 < held < 0.97, (f["properties"]["name"], held)  # its own scenario's 90 % at its own time
        assert f["properties"]["area_km2"] == round(float(stats.area_90_km2[k, t]), 4)
        assert f["properties"]["share_present"] == round(float(stats.share[k, t]), 6)
    # the areas grow with the spread: not one polygon copied to every time
    for name in (r["name"] for r in ROWS):
        sizes = [f["properties"]["area_km2"] for f in sorted(areas, key=lambda f: f["properties"]["time"])
                 if f["properties"]["scenario"] == name]  # fmt: skip
        assert sizes == sorted(sizes) and sizes[-1] > 1.5 * sizes[0], (name, sizes)


def test_kml_puts_each_scenarios_area_in_the_folder_of_its_time(tmp_path):
    traj = two_scenario_cloud()
    stats = scenario_stats(traj, [1, 3], None, ROWS)
    times = ("2024-01-01T01:00:00Z", "2024-01-01T03:00:00Z", "2024-01-01T04:00:00Z")
    combined = [  # one combined search-area feature per time opens its TimeSpan folder, as products/geojson.py does
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [-3.0, 60.0]},
         "properties": {"kind": "search_area", "time": t, "name": f"90 % {t}", "probability": 0.9,
                        "probability_of_total": 0.9, "area_km2": 1.0, "area_nm2": 0.3}}
        for t in times
    ]  # fmt: skip
    fc = {"type": "FeatureCollection", "features": combined + features(stats, traj.times, "forward")}
    meta = SimpleNamespace(direction="forward", mission_id="m", object_description="PIW-1",
                           scenario_description="two scenarios", forcing_description="constant")  # fmt: skip
    root = ET.parse(write_kml(tmp_path / "a.kml", fc, meta)).getroot()
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    for folder in root.iter(f"{{{ns['k']}}}Folder"):
        begin = folder.find("k:TimeSpan/k:begin", ns).text
        names = [m.find("k:name", ns).text for m in folder.findall("k:Placemark", ns)]
        for row in ROWS:
            assert f"Scenario {row['name']}: 90 % area {begin}" in names, (begin, names)
            assert f"Scenario {row['name']}: centre {begin}" in names
