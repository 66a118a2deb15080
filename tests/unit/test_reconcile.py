"""A mission's stored record (MissionParams.as_record, kept in missions.params when there is
no producer row) always turns back into an equivalent valid job, for every scenario kind and their mixtures."""

from __future__ import annotations

import json
import math
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config import Settings
from driftline.contract.parse import parse_job
from driftline.reconcile import job_body

SETTINGS = Settings.from_env({})
LAT, LON = 60.0, -3.0
START = "2024-01-01T00:00:00Z"


def box(lon: float, lat: float, d: float) -> dict:
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]]
    return {"type": "Polygon", "coordinates": [ring]}


hours = st.integers(1, 12)
speed = st.floats(0, 1.5, allow_nan=False).map(lambda v: round(v, 3))
angle = st.floats(0, 359, allow_nan=False).map(lambda v: round(v, 2))
wind = st.builds(lambda s, d: {"speed_ms": s * 10, "from_deg": d}, speed, angle)
current = st.builds(lambda s, d: {"speed_ms": s, "to_deg": d}, speed, angle)
URIS = ["s3://driftline-forcing/a.nc", "s3://driftline-forcing/b/c.nc4"]
forcing = st.lists(st.sampled_from(URIS), min_size=1, max_size=2)
member = st.fixed_dictionaries({}, optional={"forcing": forcing, "wind": wind, "current": current}).filter(bool)
objects = st.sampled_from(["PIW-1", "LIFE-RAFT-NB-1", "SLDMB", 27, "PIW-6"])
mixed = st.lists(st.tuples(objects, st.integers(1, 9)), min_size=2, max_size=4, unique_by=lambda t: str(t[0]))
unit = st.builds(
    lambda i, kn, sw, h, at: {"name": f"U{i}", "speed_kn": kn, "sweep_width_nm": sw, "endurance_hours": h,
                              "commence_time": f"2024-01-01T0{at}:00:00Z"},
    st.integers(0, 99), st.integers(5, 150), st.floats(0.2, 3).map(lambda v: round(v, 2)), st.integers(1, 3),
    st.integers(1, 3),
)  # fmt: skip


@st.composite
def scenario(draw) -> dict:
    """A valid job's params: a point release plus any compatible mixture of the scenario features."""
    duration = draw(hours)
    p = {"latitude": LAT, "longitude": LON, "start_time": START, "duration_hours": duration}
    backward = draw(st.booleans())
    sign = -1 if backward else 1
    if backward:
        p["direction"] = "backward"
    if draw(st.booleans()):
        p["num_particles"] = draw(st.integers(20, 500))
    if draw(st.booleans()):
        p["random_seed"] = draw(st.integers(0, 2**32 - 1))
    model = draw(st.sampled_from(["leeway", "leeway", "leeway", "shipdrift", "oceandrift"]))
    if model != "leeway":
        p["model"] = model
    if model == "shipdrift":
        p["ship"] = {"length_m": 80, "beam_m": 14, "height_m": 20, "draft_m": 5}
    elif model == "oceandrift" and draw(st.booleans()):
        p["wind_drift_factor"] = 0.02
        p["horizontal_diffusivity_m2s"] = draw(st.sampled_from([0.0, 1.0, 10.0]))
    elif model == "leeway" and draw(st.booleans()):
        pairs = draw(mixed)
        p["object_type"] = [{"type": t, "weight": w} for t, w in pairs]
    elif model == "leeway":
        p["object_type"] = draw(objects)
    window = duration > 1 and draw(st.booleans())
    shape = draw(st.sampled_from(["point", "area", "track", "radius"]))
    if shape == "area":
        p["area"] = box(LON, LAT, draw(st.sampled_from([0.02, 0.05, 0.1])))
    elif shape == "track":
        p.update(end_latitude=LAT + 0.1, end_longitude=LON + 0.2)
        if draw(st.booleans()):
            p["end_radius_m"] = draw(st.sampled_from([0, 500, 2000]))
        if window and not backward:
            p["end_time"] = "2024-01-01T00:30:00Z"
            window = False
    elif shape == "radius":
        p["radius_m"] = draw(st.sampled_from([0, 50, 1000, 5000]))
    if window:
        p["release_end_time"] = "2023-12-31T23:30:00Z" if backward else "2024-01-01T00:30:00Z"
    if draw(st.booleans()):
        p["ensemble"] = draw(st.lists(member, min_size=2, max_size=4))
        p["num_particles"] = max(p.get("num_particles", 1000), 8)
    else:
        if draw(st.booleans()):
            p["wind"] = draw(wind)
        if draw(st.booleans()):
            p["current"] = draw(current)
        if draw(st.booleans()):
            p["forcing"] = draw(forcing)
    if not backward and duration >= 6 and draw(st.booleans()):
        p["search"] = {"units": draw(st.lists(unit, min_size=1, max_size=3, unique_by=lambda u: u["name"]))}
    if not backward and duration >= 4 and draw(st.booleans()):
        done = {"area": box(LON, LAT, 0.05), "start_time": "2024-01-01T01:00:00Z", "end_time": "2024-01-01T02:00:00Z"}
        if draw(st.booleans()):
            done["pod"] = 0.5
        else:
            done.update(sweep_width_nm=1.0, track_spacing_nm=draw(st.sampled_from([0.5, 1.0, 2.0])))
        p["searches_done"] = [done]
    if draw(st.booleans()):
        p["water_temperature_c"] = draw(st.sampled_from([2, 8.5, 15]))
    if draw(st.booleans()):
        t0, t1 = ("2023-12-31T23:00:00Z", "2024-01-01T00:00:00Z") if backward else (START, "2024-01-01T01:00:00Z")
        fixes = [{"time": t0, "lat": LAT, "lon": LON}, {"time": t1, "lat": LAT + 0.01 * sign, "lon": LON + 0.02}]
        p["drifters"] = [{"id": "SVP-1", "positions": fixes}]
    if draw(st.booleans()):
        p["time_step_minutes"], p["output_step_minutes"] = draw(st.sampled_from([(10, 60), (30, 60), (15, 30)]))
    return p


def close(a, b) -> bool:
    """Equal JSON data, floats within 1e-9 (object weights are normalised again on each parse)."""
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b, abs_tol=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    return a == b


def stored_record(params: dict, mission_id: str) -> dict:
    """What the worker writes to missions.params (JSON, as PostgreSQL gives it back)."""
    job = parse_job(json.dumps({"mission_id": mission_id, "params": params}), SETTINGS)
    return json.loads(json.dumps(job.params.as_record()))


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=scenario(), mission_id=st.uuids().map(str))
def test_every_stored_record_turns_back_into_an_equivalent_valid_job(params, mission_id):
    record = stored_record(params, mission_id)
    body = job_body(mission_id, record, SETTINGS)
    assert body is not None, f"stored params of a valid job cannot be re-enqueued: {record}"
    again = parse_job(body, SETTINGS)
    assert again.mission_id == mission_id
    assert close(json.loads(json.dumps(again.params.as_record())), record)


EXAMPLES = {
    "point": {},
    "window": {"release_end_time": "2024-01-01T01:00:00Z"},
    "cone": {"end_latitude": 60.1, "end_longitude": -2.8, "end_radius_m": 2000, "end_time": "2024-01-01T01:00:00Z"},
    "area": {"area": box(LON, LAT, 0.05)},
    "backward": {"direction": "backward", "current": {"speed_ms": 0.5, "to_deg": 90}},
    "ensemble": {"ensemble": [{"current": {"speed_ms": 0.5, "to_deg": 0}}, {"wind": {"speed_ms": 5, "from_deg": 9}}]},
    "mixed": {"object_type": [{"type": "PIW-1", "weight": 5}, {"type": "LIFE-RAFT-NB-1", "weight": 3}]},
    "search": {
        "search": {
            "units": [
                {
                    "name": "R51",
                    "speed_kn": 90,
                    "sweep_width_nm": 1,
                    "endurance_hours": 2,
                    "commence_time": "2024-01-01T02:00:00Z",
                }
            ]
        },
        "searches_done": [
            {
                "area": box(LON, LAT, 0.05),
                "start_time": "2024-01-01T01:00:00Z",
                "end_time": "2024-01-01T02:00:00Z",
                "sweep_width_nm": 1,
                "track_spacing_nm": 1,
            }
        ],
    },  # fmt: skip
    "drifters": {
        "drifters": [
            {
                "id": "SVP-1",
                "positions": [
                    {"time": START, "lat": 60.0, "lon": -3.0},
                    {"time": "2024-01-01T02:00:00Z", "lat": 60.02, "lon": -2.95},
                ],
            }
        ]
    },  # fmt: skip
}


def example_params(kind: str) -> dict:
    return {"latitude": LAT, "longitude": LON, "start_time": START, "duration_hours": 6, **EXAMPLES[kind]}


def test_each_scenario_kind_round_trips():
    for kind in EXAMPLES:
        mission_id = str(uuid.uuid4())
        record = stored_record(example_params(kind), mission_id)
        body = job_body(mission_id, record, SETTINGS)
        assert body is not None, kind
        assert close(json.loads(json.dumps(parse_job(body, SETTINGS).params.as_record())), record), kind
