"""sap.txt: IAMSAR part order, ASCII lines of at most 69 characters, corner points equal to search_plan.geojson's,
day-time groups, params.tasking filled in or marked blank."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from driftline.products.marine import DTG_RE, parse_ddm, parse_dtg, parse_unicode_dm
from driftline.products.mission_view import mission_view
from driftline.products.sap import BLANK, PARTS, sap_text
from tests.unit.products.conftest import ISSUED

DTG_ANY = re.compile(r"\b\d{6}Z (?:JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC) \d{2}\b")


def _sap(out):
    return (out / "sap.txt").read_text(encoding="ascii")


def _part(text: str, name: str) -> str:
    lines = text.splitlines()
    start = lines.index(name)
    following = [i for i, line in enumerate(lines) if line in PARTS and i > start]
    return "\n".join(lines[start : following[0] if following else len(lines)])


def test_parts_in_iamsar_order_each_once(planned, unplanned):
    for out, _ in (planned, unplanned):
        lines = _sap(out).splitlines()
        found = [line for line in lines if line in PARTS]
        assert found == list(PARTS)
        assert lines[0] == "SEARCH ACTION MESSAGE" and lines[-2:] == ["BT", "NNNN"]


def test_every_line_ascii_and_at_most_69_characters(planned, unplanned):
    for out, _ in (planned, unplanned):
        raw = (out / "sap.txt").read_bytes()
        assert all(b < 128 for b in raw)
        assert max(len(line) for line in raw.decode().splitlines()) <= 69


def test_corner_points_equal_the_geojson_rectangles(planned):
    out, _ = planned
    fc = json.loads((out / "search_plan.geojson").read_text())
    areas = _part(_sap(out), "B. SEARCH AREAS")
    rects = [f for f in fc["features"] if f["properties"]["kind"] == "search_rectangle"]
    assert len(rects) == 2
    for area, rect in zip(("A", "B"), rects):
        block = areas.split(f"AREA {area} (")[1].split("  AREA ")[0]
        corners = [parse_ddm(line) for line in block.splitlines() if re.match(r"\s+\d\. \d\d ", line)]
        geo = rect["geometry"]["coordinates"][0][:-1]
        assert len(corners) == len(geo) == 4
        for (lat, lon), named in zip(corners, rect["properties"]["corners"]):  # in the plan's order
            assert abs(lat - named["lat"]) < 0.0006 / 60 and abs(lon - named["lon"]) < 0.0006 / 60
            assert parse_unicode_dm(named["position_dm"]) == (lat, lon)  # the same thousandths of a minute
            assert min(abs(lat - glat) + abs(lon - glon) for glon, glat in geo) < 0.0012 / 60  # a polygon vertex
        assert f"{rect['properties']['area_nm2']:.1f} NM2" in block


def test_execution_per_unit_from_the_plan_and_tasking(planned):
    out, summary = planned
    execution = _part(_sap(out), "C. EXECUTION")
    units = summary["search_plan"]["units"]
    for area, unit in zip(("A", "B"), units):
        block = execution.split(f"AREA {area} UNIT-0")[1].split("  AREA ")[0]
        csp = parse_ddm(block.split("COMMENCE SEARCH POINT ")[1])
        assert abs(csp[0] - unit["commence_search_point"]["lat"]) < 1e-5
        assert f"TRACK SPACING {unit['track_spacing_nm']:.2f} NM, COVERAGE {unit['coverage']:.2f}" in block
        start = datetime.fromisoformat(unit["commence_time"].replace("Z", "+00:00"))
        assert parse_dtg(block.split("ON SCENE COMMENCE ")[1][:14]) == start
        assert re.search(r"CREEP \d{3}T", block)
    assert "TYPE HELICOPTER" in execution and "ALTITUDE 500 FT" in execution
    assert "TYPE VESSEL" in execution and "ALTITUDE NOT APPLICABLE" in execution


def test_tasking_fills_the_blanks_and_missing_ones_are_marked(planned, unplanned):
    sap = _sap(planned[0])
    assert "FM JRCC SOUTHERN NORWAY" in sap and "(SMC): JRCC SOUTHERN NORWAY" in sap
    assert "PERSONS ON BOARD: 1" in sap and "ON-SCENE CHANNEL: VHF 67" in sap
    assert f"WEATHER: {BLANK}" in sap  # not given in this job
    bare = _sap(unplanned[0])
    for field in ("PERSONS ON BOARD", "(SMC)", "(OSC)", "DATUM MARKER BUOYS", "CONTROL CHANNEL", "MONITOR"):
        assert re.search(re.escape(field) + r":? " + re.escape(BLANK), bare), field


def test_times_are_day_time_groups(planned):
    sap = _sap(planned[0])
    assert "SEARCH ACTION PLAN ISSUED 292215Z FEB 24" in sap
    assert "LAST KNOWN POSITION 60 00.000N 004 00.000E AT 010000Z MAR 24" in sap
    assert len(DTG_ANY.findall(sap)) >= 8
    assert "T0" not in sap and "UTC" not in sap  # no ISO times left


def test_without_a_plan_the_areas_are_rectangles_around_the_90_percent_regions(unplanned):
    out, summary = unplanned
    areas = _part(_sap(out), "B. SEARCH AREAS")
    assert areas.count("CORNER POINTS:") == len(summary["search_areas"])
    assert "NO SEARCH UNITS PLANNED" in _part(_sap(out), "C. EXECUTION")
    fc = json.loads((out / "search_area.geojson").read_text())
    import shapely
    from shapely.geometry import shape

    last = [f for f in fc["features"] if f["properties"]["kind"] == "search_area" and f["properties"]["probability"]
            == 0.9][-1]  # fmt: skip
    block = areas.split("  AREA P")[-1]
    corners = [parse_ddm(line) for line in block.splitlines() if re.match(r"\s+\d\. \d\d ", line)]
    rect = shapely.Polygon([(lon, lat) for lat, lon in corners]).buffer(1e-5)
    assert rect.contains(shape(last["geometry"]))  # the rectangle encloses the whole 90 % region


unit_names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=64)


@settings(max_examples=40, deadline=None)
@given(
    name=unit_names,
    lat=st.floats(-80, 80),
    lon=st.floats(-180, 180),
    start=st.datetimes(datetime(2000, 1, 1), datetime(2090, 1, 1), timezones=st.just(UTC)),
    smc=st.text(min_size=1, max_size=200).filter(lambda s: s.strip()),
)
def test_any_names_positions_and_times_give_valid_lines(name, lat, lon, start, smc):
    corners = [{"lat": lat + dy, "lon": lon + dx} for dx, dy in ((0, 0), (0.1, 0), (0.1, 0.1), (0, 0.1))]
    summary = {
        "mission_id": "m", "params": {"latitude": lat, "longitude": lon, "start_time": start.isoformat(),
                                      "tasking": {"smc": smc, "situation": smc * 3}},
        "search_plan": {"units": [{"unit": name, "corners": corners, "waypoints_dm": [], "commence_time":
                                   start.isoformat(), "added_by_a_later_planner": {"x": 1}}]},
    }  # fmt: skip
    text = sap_text(mission_view(summary), ISSUED)
    assert all(len(line) <= 69 and line.isascii() for line in text.splitlines())
    assert [line for line in text.splitlines() if line in PARTS] == list(PARTS)
    assert all(DTG_RE.match(g) for g in DTG_ANY.findall(text))


def test_backward_run_names_the_found_position_and_origin_areas(unplanned):
    summary = {**json.loads((unplanned[0] / "summary.json").read_text()), "direction": "backward"}
    fc = json.loads((unplanned[0] / "search_area.geojson").read_text())
    text = sap_text(mission_view(summary, None, fc), ISSUED)
    assert "FOUND POSITION 60 00.000N 004 00.000E" in text and "90 PCT ORIGIN AREAS" in text
    assert "ORIGIN ESTIMATED BY BACKWARD OPENDRIFT LEEWAY" in text
