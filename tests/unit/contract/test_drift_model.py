"""The model and drifter parts of the job contract, drifter currents and track files. No services."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import gpxpy
import gpxpy.gpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config import Settings
from driftline.contract.drifters import MAX_DRIFTER_SPEED_MS, PERSISTENCE, haversine_m
from driftline.contract.parse import parse_job
from driftline.errors import InvalidJob
from driftline.forcing.drifter_currents import (
    ERROR_VARIANCE_RATIO,
    RADIUS_OF_INFLUENCE_M,
    TrackArrays,
    drifter_source,
    observations,
    oi_correction,
)
from driftline.models import model_attrs, product_title
from driftline.track_files import read_track_file

MID = "550e8400-e29b-41d4-a716-446655440000"
SETTINGS = Settings.from_env({})
BASE = {"latitude": 60.0, "longitude": -3.0, "start_time": "2024-01-01T00:00:00Z", "duration_hours": 6}
SHIP = {"length_m": 120, "beam_m": 20, "height_m": 25, "draft_m": 6}
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def parse(**params):
    return parse_job(json.dumps({"mission_id": MID, "params": {**BASE, **params}}), SETTINGS).params


def reject(**params) -> str:
    with pytest.raises(InvalidJob) as info:
        parse(**params)
    assert "\n" not in str(info.value)
    return str(info.value)


def track(*fixes: tuple[float, float, float], track_id: str = "SLDMB-1") -> dict:
    """A track from (minutes after T0, lat, lon) fixes."""
    positions = [{"time": (T0 + timedelta(minutes=m)).isoformat(), "lat": la, "lon": lo} for m, la, lo in fixes]
    return {"id": track_id, "positions": positions}


EAST = track((0, 60.0, -3.0), (60, 60.0, -2.97), (120, 60.0, -2.94))  # ~0.46 m/s east


# --- models ---------------------------------------------------------------------------------------------------------
def test_leeway_stays_the_default_and_other_models_take_their_own_parameters():
    p = parse()
    assert p.model == "leeway" and p.objects[0].obj.key == "PIW-1" and p.ship is None
    ship = parse(model="shipdrift", ship=SHIP)
    assert ship.objects == () and ship.ship.length_m == 120 and ship.as_record()["ship"]["draft_m"] == 6
    ocean = parse(model="oceandrift")
    assert (ocean.wind_drift_factor, ocean.horizontal_diffusivity_m2s) == (0.02, None)
    assert (
        parse(model="oceandrift", wind_drift_factor=0.1, horizontal_diffusivity_m2s=5).horizontal_diffusivity_m2s == 5
    )


@pytest.mark.parametrize(
    "params,words",
    [
        (dict(model="drifter"), ["model must be one of leeway, shipdrift, oceandrift"]),
        (dict(model="shipdrift", ship=SHIP, object_type="PIW-1"), ["object_type", "'leeway'", "'shipdrift'"]),
        (dict(model="oceandrift", capsizing={}), ["capsizing", "'leeway'"]),
        (dict(model="shipdrift", ship=SHIP, jibe_probability_per_hour=0.1), ["jibe_probability_per_hour"]),
        (dict(ship=SHIP), ["ship belongs to model 'shipdrift'", "'leeway'"]),
        (dict(model="oceandrift", ship=SHIP), ["ship", "'oceandrift'"]),
        (dict(wind_drift_factor=0.02), ["wind_drift_factor", "'oceandrift'"]),
        (dict(model="shipdrift", ship=SHIP, horizontal_diffusivity_m2s=1), ["horizontal_diffusivity_m2s"]),
        (dict(model="shipdrift"), ["ship is required"]),
        (dict(model="shipdrift", ship={**SHIP, "mass_t": 1}), ["unknown ship keys: mass_t"]),
        (dict(model="shipdrift", ship={"length_m": 120}), ["ship needs beam_m, height_m, draft_m"]),
        (dict(model="shipdrift", ship={**SHIP, "length_m": 600}), ["ship.length_m", "1 and 500"]),
        (dict(model="shipdrift", ship={**SHIP, "beam_m": 80}), ["ship.beam_m", "1 and 70"]),
        (dict(model="shipdrift", ship={**SHIP, "draft_m": "6"}), ["ship.draft_m must be a number"]),
        (dict(model="shipdrift", ship={**SHIP, "height_m": 6}), ["height_m", "exceed draft_m"]),
        (dict(model="shipdrift", ship={**SHIP, "height_m": 25, "draft_m": 25}), ["height_m", "exceed draft_m"]),
        (dict(model="shipdrift", ship={**SHIP, "draft_m": 0}), ["ship.draft_m must be between 1 and 30"]),
        (dict(model="shipdrift", ship={**SHIP, "length_m": -80}), ["ship.length_m must be between 1 and 500"]),
        (dict(model="oceandrift", wind_drift_factor=0.2), ["wind_drift_factor must be between 0 and 0.1"]),
        (dict(model="oceandrift", horizontal_diffusivity_m2s=-1), ["horizontal_diffusivity_m2s"]),
    ],
)
def test_model_validation_names_the_key(params, words):
    message = reject(**params)
    assert all(w in message for w in words), message


@pytest.mark.parametrize(
    "ship,words",
    [
        ({"length_m": 80, "beam_m": 12, "height_m": 20, "draft_m": 6}, [["draft_m / length_m is 0.075", "0.07"]]),
        ({**SHIP, "beam_m": 30}, [["beam_m / length_m is 0.250", "0.12..0.18", "border value 0.18"]]),
        ({**SHIP, "draft_m": 2}, [["draft_m / length_m is 0.017", "border value 0.025"]]),
        (SHIP, []),
    ],
)
def test_ships_outside_shipdrifts_table_run_clipped_with_a_warning(ship, words):
    """A common vessel is never refused for its proportions: OpenDrift clips them, and the warning says so."""
    from driftline.models import ship_warnings

    p = parse(model="shipdrift", ship=ship)
    warnings = ship_warnings(p)
    assert len(warnings) == len(words)
    for warning, expected in zip(warnings, words, strict=True):
        assert all(w in warning for w in expected), warning
    assert ship_warnings(parse()) == []


def test_titles_and_attributes_say_what_drifts():
    ship = parse(model="shipdrift", ship=SHIP)
    assert product_title(ship) == "Ship 120 m × 20 m adrift - drift forecast"
    assert product_title(parse(model="shipdrift", ship=SHIP, drifters=[EAST])) == (
        "Ship 120 m × 20 m adrift - drifter-corrected forecast"
    )
    assert product_title(parse(drifters=[EAST])) == "Drifter-corrected forecast"
    assert product_title(parse()) is None  # Leeway without drifters: the products' own default
    backward = parse(model="oceandrift", direction="backward", start_time="2024-01-01T04:00:00Z", duration_hours=3)
    assert product_title(backward) == "Water-following object - origin probability"
    attrs = model_attrs(parse(model="oceandrift", horizontal_diffusivity_m2s=10))
    assert attrs == {
        "driftline_model": "oceandrift",
        "driftline_opendrift_model": "OceanDrift",
        "driftline_model_parameters": "wind_drift_factor=0.02; horizontal_diffusivity_m2s=10",
    }
    assert "length_m=120, beam_m=20, height_m=25, draft_m=6" in model_attrs(ship)["driftline_model_parameters"]


# --- drifter tracks in the job ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "drifters,words",
    [
        ({}, ["drifters must be a list"]),
        ([{"id": "A"}], ["drifters[0] must be an object with exactly 'id' and 'positions'"]),
        ([track((0, 60, -3))], ["drifters[0].positions must be a list of 2"]),
        ([track((0, 60, -3), (0, 60, -3))], ["drifters[0] (SLDMB-1): fix 1 is not later than fix 0"]),
        ([track((0, 60, -3), (10, 60, -2.9))], ["fixes 0 to 1 imply 9.3 m/s", "above the plausible 5 m/s"]),
        ([track((0, 60, -3), (10, 91, -3))], ["drifters[0].positions[1].lat must be between -90 and 90"]),
        ([{"id": "A", "positions": [{"time": "noon", "lat": 60, "lon": -3}] * 2}], ["positions[0].time"]),
        ([EAST, EAST], ["same id"]),
        ([track((-600, 60, -3), (-540, 60, -3.01))], ["drifters[0] (SLDMB-1)", "more than 3 h from the run"]),
    ],
)
def test_drifter_validation_names_the_track_and_fix(drifters, words):
    message = reject(drifters=drifters)
    assert all(w in message for w in words), message


LEG = st.tuples(
    st.integers(1, 180),  # minutes to the next fix
    st.floats(0, 0.95 * MAX_DRIFTER_SPEED_MS),  # speed on the leg (margin: built on a flat earth)
    st.floats(0, 360),  # direction
)


def build(lat: float, lon: float, legs: list[tuple[int, float, float]]) -> dict:
    """A track from a start and (minutes, speed, direction) legs, on a local flat earth."""
    fixes, minutes = [(0, lat, lon)], 0
    for dt, speed, direction in legs:
        minutes += dt
        metres = speed * dt * 60
        lat += math.degrees(metres * math.cos(math.radians(direction)) / 6_371_000)
        lon += math.degrees(metres * math.sin(math.radians(direction)) / (6_371_000 * math.cos(math.radians(lat))))
        fixes.append((minutes, lat, lon))
    return track(*fixes)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# At most 20 legs of at most 51 km: a track never leaves lat -70..70 or crosses the antimeridian.
@given(lat=st.floats(-60, 60), lon=st.floats(-150, 150), legs=st.lists(LEG, min_size=1, max_size=20))
def test_plausible_tracks_are_accepted_and_kept_exactly(lat, lon, legs):
    body = build(lat, lon, legs)
    p = parse(drifters=[body])
    record = p.as_record()["drifters"][0]
    assert record["id"] == "SLDMB-1" and len(record["positions"]) == len(legs) + 1
    for given_fix, kept in zip(body["positions"], record["positions"], strict=True):
        assert (kept["lat"], kept["lon"]) == (given_fix["lat"], given_fix["lon"])


@settings(max_examples=60, deadline=None)
@given(
    legs=st.lists(LEG, min_size=1, max_size=10),
    bad=st.integers(0, 9),
    speed=st.floats(1.1 * MAX_DRIFTER_SPEED_MS, 100),
)
def test_a_track_with_one_implausibly_fast_leg_is_refused_naming_the_leg(legs, bad, speed):
    bad %= len(legs)
    legs[bad] = (legs[bad][0], speed, legs[bad][2])
    message = reject(drifters=[build(60.0, -3.0, legs)])
    assert f"fixes {bad} to {bad + 1} imply" in message and "above the plausible 5 m/s" in message, message


# --- drifter currents -----------------------------------------------------------------------------------------------
def arrays(body: dict) -> TrackArrays:
    return TrackArrays.of(parse(drifters=[body]).drifters[0])


def blended(tracks, when, lon, lat, model=(0.0, 0.2)):
    """Model current `model` everywhere plus the drifters' optimal-interpolation correction at the positions."""
    obs = observations(tracks, when)
    du, dv = oi_correction(obs, np.full(len(obs), model[0]), np.full(len(obs), model[1]), lon, lat)
    return model[0] + du, model[1] + dv


def test_drifter_difference_is_blended_in_decaying_with_distance():
    a = arrays(EAST)
    speed = haversine_m(60.0, -3.0, 60.0, -2.97) / 3600
    when = T0.timestamp() + 1800  # half way along the first leg: the drifter is at lon -2.985
    north_km = np.array([0.0, 10.0, 30.0, 100.0])
    lat = 60.0 + north_km / 111.195
    u, v = blended([a], when, np.full(4, -2.985), lat)
    gain = 1 / (1 + ERROR_VARIANCE_RATIO)
    np.testing.assert_allclose(u, speed * gain * np.exp(-0.5 * (north_km / 10) ** 2), rtol=2e-3)  # Gaussian, L = 10 km
    np.testing.assert_allclose(v, 0.2 - 0.2 * gain * np.exp(-0.5 * (north_km / 10) ** 2), rtol=2e-3, atol=1e-9)
    assert u[0] == pytest.approx(speed, rel=0.011) and v[0] == pytest.approx(0.0, abs=0.003)  # the drifter's current
    assert abs(u[3]) < 1e-9 and v[3] == pytest.approx(0.2)  # far away: the model's
    assert RADIUS_OF_INFLUENCE_M == 10_000


def test_blended_current_is_continuous_in_space_and_time_even_where_the_old_switch_jumped():
    a = arrays(EAST)
    when = T0.timestamp() + 1800
    lat = 60.0 + np.linspace(0, 40, 4001) / 111.195  # 0 to 40 km north in 10 m steps
    u, v = blended([a], when, np.full(lat.shape, -2.985), lat)
    assert np.abs(np.diff(u)).max() < 5e-4 and np.abs(np.diff(v)).max() < 5e-4  # no jump at 10 km (old: 0.46 m/s)
    last = T0.timestamp() + 7200
    times = last + np.linspace(0, PERSISTENCE.total_seconds() + 600, 2001)  # past the last fix, through the taper end
    series = np.array([blended([a], t, np.array([-2.94]), np.array([60.0]))[0][0] for t in times])
    assert np.abs(np.diff(series)).max() < 2e-3 and series[-1] == 0.0 and series[0] > 0.45


def test_several_drifters_are_not_counted_twice():
    east, north = arrays(EAST), arrays(track((0, 60.02, -3.0), (60, 60.04, -3.0), track_id="B"))
    twin = arrays({**EAST, "id": "twin"})
    when = T0.timestamp()
    lon, lat = np.array([-3.0, -3.0, -3.0]), np.array([60.0, 60.01, 60.02])
    u, v = blended([east, north], when, lon, lat, model=(0.0, 0.0))
    assert u[0] > 3 * v[0] and v[2] > 3 * u[2]  # each near its own drifter
    one, _ = blended([east], when, lon[:1], lat[:1], model=(0.0, 0.0))
    two, _ = blended([east, twin], when, lon[:1], lat[:1], model=(0.0, 0.0))
    assert two[0] == pytest.approx(one[0], rel=0.01)  # two drifters at one place: the same velocity, not twice


def test_drifter_provenance_names_tracks_radius_and_speed():
    source = drifter_source(parse(drifters=[EAST]).drifters)
    assert source["kind"] == "drifters" and source["quantity"] == "currents"
    assert source["radius_of_influence_m"] == 10_000 and source["persistence_hours"] == 3
    assert source["drifters"] == [
        {"id": "SLDMB-1", "fixes": 3, "first_fix": "2024-01-01T00:00:00Z", "last_fix": "2024-01-01T02:00:00Z",
         "mean_speed_ms": pytest.approx(haversine_m(60, -3, 60, -2.97) / 3600, abs=0.001)}
    ]  # fmt: skip
    assert "blended into the model currents by optimal interpolation (Gaussian length 10 km)" in source["description"]


# --- track files (worker.py run --drifters) ----------------------------------------------------------------------
def test_csv_and_gpx_tracks_read_into_the_jobs_form(tmp_path):
    csv_file = tmp_path / "buoys.csv"
    csv_file.write_text(
        "id,time,latitude,longitude\nA,2024-01-01T00:00:00Z,60.0,-3.0\nB,2024-01-01T00:00:00Z,60.1,-3.0\n"
        "A,2024-01-01T01:00:00Z,60.0,-2.97\nB,2024-01-01T01:00:00Z,60.1,-2.98\n"
    )
    tracks = read_track_file(csv_file)
    assert [t["id"] for t in tracks] == ["A", "B"] and tracks[0]["positions"][1] == {
        "time": "2024-01-01T01:00:00Z",
        "lat": 60.0,
        "lon": -2.97,
    }
    assert len(parse(drifters=tracks).drifters) == 2
    gpx = gpxpy.gpx.GPX()
    trk = gpxpy.gpx.GPXTrack(name="SLDMB-7")
    trk.segments.append(gpxpy.gpx.GPXTrackSegment())
    for i in range(3):
        trk.segments[0].points.append(gpxpy.gpx.GPXTrackPoint(60.0, -3.0 + 0.03 * i, time=T0 + timedelta(hours=i)))
    gpx.tracks.append(trk)
    gpx_file = tmp_path / "sldmb.gpx"
    gpx_file.write_text(gpx.to_xml())
    (drifter,) = parse(drifters=read_track_file(gpx_file)).drifters
    assert drifter.id == "SLDMB-7" and len(drifter.fixes) == 3 and drifter.fixes[2].time == T0 + timedelta(hours=2)


@pytest.mark.parametrize(
    "name,text,words",
    [
        ("x.csv", "when,lat,lon\n", ["CSV header with time, lat and lon"]),
        ("x.csv", "time,lat,lon\n2024-01-01T00:00:00Z,sixty,-3\n", ["line 2"]),
        ("x.gpx", "<gpx><trk><trkseg><trkpt lat='60' lon='-3'/></trkseg></trk></gpx>", ["without a time"]),
        ("x.gpx", "<gpx></gpx>", ["no GPX track"]),
        ("x.gpx", "<gpx", ["not valid GPX"]),
    ],
)
def test_bad_track_files_are_refused_naming_the_file(tmp_path, name, text, words):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InvalidJob) as info:
        read_track_file(path)
    assert str(path) in str(info.value) and all(w in str(info.value) for w in words), str(info.value)
