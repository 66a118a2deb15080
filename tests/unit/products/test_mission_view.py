"""The adapter from summary.json to the tasking products: tolerant of added fields and of a richer plan."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from driftline.products.gpxroute import plan_points
from driftline.products.mission_view import creep_from_waypoints, mission_view
from driftline.products.sap import sap_text

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


def test_current_plan_shape(planned):
    _, summary = planned
    view = mission_view(summary)
    assert [u.label for u in view.units] == ["UNIT-01", "UNIT-02"] and [u.area_name for u in view.units] == ["A", "B"]
    u = view.units[0]
    assert u.kind == "helicopter" and u.altitude_ft == 500 and u.is_aircraft
    assert u.pattern.csp == (u.route[0]) and len(u.corners) == 4 and u.datum is not None


def test_a_richer_plan_flows_in():
    """More patterns per unit, an explicit CSP, creep, unit type, altitude and a datum: all used."""
    wp1 = [{"lat": 60.0, "lon": 4.0}, {"lat": 60.1, "lon": 4.0}, {"lat": 60.1, "lon": 4.05}, {"lat": 60.0, "lon": 4.05}]
    wp2 = [{"lat": 60.2, "lon": 4.2}, {"lat": 60.25, "lon": 4.2}]
    unit = {
        "unit": "Rescue 51", "type": "aircraft", "altitude_ft": 1000, "datum": {"lat": 60.05, "lon": 4.02,
        "time": "2024-01-01T03:00:00Z"}, "corners": wp1, "commence_time": "2024-01-01T02:00:00Z",
        "patterns": [
            {"pattern": "creeping line (CS)", "waypoints": wp1, "creep_deg": 90, "track_spacing_nm": 1.5},
            {"pattern": "expanding square (SS)", "waypoints": wp2, "commence_search_point": {"lat": 60.3, "lon": 4.3}},
        ],
        "something_new": [1, 2, 3],
    }  # fmt: skip
    view = mission_view({"params": {"latitude": 60, "longitude": 4}, "search_plan": {"units": [unit], "new": 1}})
    u = view.units[0]
    assert [p.name for p in u.patterns] == ["creeping line (CS)", "expanding square (SS)"]
    assert u.patterns[0].creep_deg == 90 and u.patterns[1].csp == (60.3, 4.3) and len(u.route) == 7
    assert u.datum == (60.05, 4.02) and u.datum_time.hour == 3
    sap = sap_text(view)
    assert "PATTERN 1 CREEPING LINE (CS)" in sap and "PATTERN 2 EXPANDING SQUARE (SS)" in sap
    assert "CREEP 090T" in sap and "ALTITUDE 1000 FT" in sap and "TRACK SPACING 1.50 NM" in sap
    assert len(plan_points(view)[1]["UNIT-01"]) == 7


def test_creep_is_the_bearing_of_the_first_cross_leg():
    legs_north_creep_east = [(60.0, 4.0), (60.1, 4.0), (60.1, 4.02), (60.0, 4.02)]
    assert creep_from_waypoints(legs_north_creep_east) == 90.0
    assert creep_from_waypoints([(0.0, 0.0), (0.0, 1.0), (-0.1, 1.0)]) == 180.0
    assert creep_from_waypoints([(0.0, 0.0)]) is None


@given(st.dictionaries(st.text(max_size=15), json_values, max_size=6), json_values)
def test_any_added_or_odd_fields_never_break_the_adapter(extra, plan):
    odd = {k: plan for k in ("area", "corners", "patterns", "type", "datum", "commence_time", "waypoints_dm")}
    units = [plan, {"unit": "U", **odd}, {**extra, "unit": "V"}]
    summary = {**extra, "params": {"latitude": 1.0, "longitude": 2.0}, "search_plan": {"units": units}}
    view = mission_view(summary)
    assert all(line.isascii() and len(line) <= 69 for line in sap_text(view).splitlines())


TOP_LEVEL = ("direction", "forcing", "mission_id", "model", "object_types", "search_areas", "search_plan",
             "searches_done", "shoreline", "software", "survival", "time_end", "time_start", "title", "warnings",
             "random_seed")  # fmt: skip
ODD = (None, 1.0, "x", [None], [1.0], ["x"], {"a": 1}, [{"a": None}], {"time": 1}, [[1, 2]], True)


def test_every_top_level_field_the_adapter_reads_may_hold_any_odd_value(planned):
    """Each key mission_view reads set to each odd JSON value, in an otherwise real summary: the adapter, the SAP
    message, the routes and the report are made (the property test above found `search_areas: [None]`)."""
    from datetime import UTC, datetime

    from driftline.products.report import report_html

    _, real = planned
    for key in TOP_LEVEL:
        for value in ODD:
            summary = {**real, key: value}
            view = mission_view(summary)
            assert all(line.isascii() for line in sap_text(view).splitlines()), (key, value)
            plan_points(view)
            report_html(view, sap_text(view), None, view.areas[-1] if view.areas else None, datetime.now(UTC))
