"""Unit tests of the worker's pure logic: settings, job contract, conventions, helpers. No services."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from config import ENV_DEFAULTS, ConfigError, Settings, leeway_object, leeway_objects, redact_url
from driftline.contract.metocean import Current, Wind
from driftline.contract.parse import parse_job
from driftline.errors import InvalidJob
from driftline.trajectory import ACTIVE, NOT_RELEASED, OUT_OF_DOMAIN, STRANDED

MID = "550e8400-e29b-41d4-a716-446655440000"
SETTINGS = Settings.from_env({})
BASE = {"latitude": 60.0, "longitude": -3.0, "start_time": "2024-01-01T12:00:00Z"}


def job(**params) -> str:
    return json.dumps({"mission_id": MID, "params": {**BASE, **params}})


def reject(body: str | bytes, *words: str) -> InvalidJob:
    with pytest.raises(InvalidJob) as info:
        parse_job(body, SETTINGS)
    for word in words:
        assert word in str(info.value), str(info.value)
    assert "\n" not in str(info.value)
    return info.value


# --- settings ----------------------------------------------------------------------------------
def test_settings_defaults_match_the_documented_contract():
    s = Settings.from_env({})
    assert (s.queue_name, s.poll_interval_s, s.max_concurrent_jobs, s.log_level) == ("drift_jobs", 5, 2, "INFO")
    assert (s.results_bucket, s.forcing_bucket) == ("driftline-results", "driftline-forcing")
    assert (s.max_particles, s.max_duration_hours, s.max_attempts) == (50000, 240, 3)
    assert s.redis_url == "redis://localhost:6379/0"
    assert s.dead_queue == "drift_jobs:dead"


@pytest.mark.parametrize(
    "name,value",
    [
        ("POLL_INTERVAL", "soon"),
        ("MAX_CONCURRENT_JOBS", "0"),
        ("REDIS_URL", "http://x"),
        ("LOG_LEVEL", "LOUD"),
        ("RESULTS_BUCKET", "Bad_Bucket"),
        ("S3_ENDPOINT", "minio:9000"),
    ],
)
def test_malformed_setting_is_named(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_daemon_requires_database_url():
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        Settings.from_env({}).require_services()


def test_passwords_are_redacted():
    assert redact_url("postgresql://drift:s3cret@db:5432/x") == "postgresql://drift:***@db:5432/x"
    assert "s3cret" not in redact_url("redis://:s3cret@redis:6379/0")


def test_every_env_default_is_a_string_or_required():
    assert all(v is None or isinstance(v, str) for v in ENV_DEFAULTS.values())


# --- Leeway object table -------------------------------------------------------------------------
def test_object_table_is_opendrifts_own():
    from opendrift.models.leeway import Leeway

    model = Leeway(loglevel=50)
    table = leeway_objects()
    assert len(table) == len(model.leewayprop) == 85
    for obj in table:
        assert model.leewayprop[obj.number]["OBJKEY"] == obj.key
        assert model.leewayprop[obj.number]["Description"] == obj.description
    assert leeway_object("life-raft-nb-1").number == 26


# --- job contract --------------------------------------------------------------------------------
def test_minimal_job_gets_defaults():
    j = parse_job(job(), SETTINGS)
    p = j.params
    assert j.mission_id == MID
    assert (p.duration_hours, p.num_particles, p.radius_m, p.time_step_minutes, p.output_step_minutes) == (
        24,
        1000,
        1000,
        10,
        60,
    )
    assert p.objects[0].obj.key == "PIW-1"
    assert p.start_time.utcoffset().total_seconds() == 0
    assert not p.seed_was_given and 0 <= p.random_seed < 2**32


def test_seed_is_derived_from_mission_id_so_redelivery_reproduces():
    assert parse_job(job(), SETTINGS).params.random_seed == parse_job(job(), SETTINGS).params.random_seed
    assert parse_job(job(random_seed=7), SETTINGS).params.random_seed == 7


def test_start_time_without_zone_is_utc():
    p = parse_job(job(start_time="2024-01-01T12:00:00"), SETTINGS).params
    assert p.start_time.isoformat() == "2024-01-01T12:00:00+00:00"
    p = parse_job(job(start_time="2024-01-01T14:00:00+02:00"), SETTINGS).params
    assert p.start_time.hour == 12


def test_object_type_by_key_and_number():
    assert parse_job(job(object_type="LIFE-RAFT-NB-1"), SETTINGS).params.objects[0].obj.number == 26
    assert parse_job(job(object_type=85), SETTINGS).params.objects[0].obj.key == "MED-WASTE-7"


@pytest.mark.parametrize(
    "body,words",
    [
        (b"not json", ["not valid JSON"]),
        (b"[1, 2]", ["JSON object", "list"]),
        (json.dumps({"params": BASE}), ["mission_id"]),
        (json.dumps({"mission_id": "../../etc/passwd", "params": BASE}), ["mission_id", "UUID"]),
        (json.dumps({"mission_id": 12, "params": BASE}), ["mission_id"]),
        (json.dumps({"mission_id": MID, "params": [1]}), ["params"]),
        (json.dumps({"mission_id": MID}), ["params"]),
        (json.dumps({"mission_id": MID, "params": BASE, "extra": 1}), ["unknown job keys", "extra"]),
        (job(latitude="60"), ["latitude", "number"]),
        (job(latitude=91), ["latitude", "-90", "90"]),
        (job(longitude=-180.5), ["longitude"]),
        (
            '{"mission_id": "' + MID + '", "params": {"latitude": NaN, "longitude": 1, "start_time": "2024-01-01"}}',
            ["latitude", "finite"],
        ),
        (
            '{"mission_id": "'
            + MID
            + '", "params": {"latitude": 1, "longitude": Infinity, "start_time": "2024-01-01"}}',
            ["longitude", "finite"],
        ),
        (job(latitude=1e400), ["latitude", "finite"]),
        (job(num_particles=0), ["num_particles"]),
        (job(num_particles=-5), ["num_particles"]),
        (job(num_particles=50001), ["num_particles", "50000"]),
        (job(num_particles=10.5), ["num_particles", "integer"]),
        (job(duration_hours=0), ["duration_hours"]),
        (job(duration_hours=-1), ["duration_hours"]),
        (job(duration_hours=241), ["duration_hours", "240"]),
        (job(object_type=86), ["object_type", "86"]),
        (job(object_type="SUBMARINE"), ["object_type", "SUBMARINE"]),
        (job(object_type=True), ["object_type"]),
        (job(start_time="yesterday"), ["start_time", "yesterday"]),
        (job(start_time=None), ["start_time", "required"]),
        (job(colour="red"), ["unknown params", "colour"]),
        (job(wind={"speed_ms": 5}), ["wind", "from_deg"]),
        (job(wind={"speed_ms": 5, "to_deg": 3}), ["wind", "to_deg"]),
        (job(current={"speed_ms": 50, "to_deg": 3}), ["speed_ms"]),
        (job(output_step_minutes=25), ["output_step_minutes", "multiple"]),
        (job(forcing=["http://169.254.169.254/latest/meta-data"]), ["169.254.169.254", "not allowed"]),
        (job(forcing=["file:///etc/passwd"]), ["file:///etc/passwd"]),
        (job(forcing=["s3://other-bucket/x.nc"]), ["other-bucket"]),
    ],
)
def test_bad_jobs_are_rejected_with_a_precise_message(body, words):
    reject(body, *words)


def test_invalid_job_keeps_the_mission_id_for_the_failed_row():
    assert reject(job(latitude=100), "latitude").mission_id == MID


def test_huge_body_is_rejected_before_parsing():
    body = b'{"mission_id": "' + MID.encode() + b'", "pad": "' + b"x" * 10_000_000 + b'"}'
    err = reject(body, "bytes", "limit")
    assert getattr(err, "mission_id", None) is None


# --- conventions ---------------------------------------------------------------------------------
def test_wind_from_west_blows_east_and_current_to_north_flows_north():
    u, v = Wind(10, 270).components
    assert u == pytest.approx(10) and v == pytest.approx(0, abs=1e-9)
    u, v = Current(0.5, 0).components
    assert u == pytest.approx(0, abs=1e-9) and v == pytest.approx(0.5)
    u, v = Wind(10, 45).components  # from north-east: towards south-west
    assert u < 0 and v < 0 and math.hypot(u, v) == pytest.approx(10)


# --- scenario validation -------------------------------------------------------------------------
AREA = {"type": "Polygon", "coordinates": [[[4.0, 60.0], [4.1, 60.0], [4.1, 60.1], [4.0, 60.1], [4.0, 60.0]]]}


@pytest.mark.parametrize(
    "params,words",
    [
        ({"area": AREA, "end_latitude": 60.2, "end_longitude": 4.0}, ["conflicting", "area", "end_latitude"]),
        ({"end_latitude": 60.2}, ["end_longitude"]),
        ({"end_time": "2024-01-01T13:00:00Z"}, ["end_latitude"]),
        ({"release_end_time": "2024-01-01T11:00:00Z"}, ["release_end_time", "after"]),
        ({"release_end_time": "2024-01-03T11:00:00Z"}, ["release_end_time", "within"]),
        ({"direction": "sideways"}, ["direction"]),
        ({"direction": "backward", "capsizing": {}}, ["capsizing", "backward"]),
        ({"area": {"type": "Point", "coordinates": [4, 60]}}, ["Polygon"]),
        (
            {"area": {"type": "Polygon", "coordinates": [[[4, 60], [4.1, 60.1], [4.1, 60], [4, 60.1], [4, 60]]]}},
            ["not a valid polygon"],
        ),
        (
            {"area": {"type": "Polygon", "coordinates": [[[0, 50], [10, 50], [10, 60], [0, 60], [0, 50]]]}},
            ["above the limit"],
        ),
        ({"ensemble": [{"current": {"speed_ms": 1, "to_deg": 0}}]}, ["ensemble", "2 to 20"]),
        (
            {
                "ensemble": [{"wind": {"speed_ms": 1, "from_deg": 0}}, {}],
            },
            ["ensemble[1]"],
        ),
        (
            {
                "ensemble": [{"current": {"speed_ms": 1, "to_deg": 0}}, {"current": {"speed_ms": 1, "to_deg": 180}}],
                "current": {"speed_ms": 1, "to_deg": 0},
            },
            ["conflicting", "ensemble", "current"],
        ),
        ({"object_type": [{"type": "PIW-1", "weight": 0.5}, {"type": "PIW-1", "weight": 0.5}]}, ["same type"]),
        ({"object_type": [{"type": "PIW-1", "weight": -1}]}, ["weight"]),
    ],
)
def test_contradictory_or_invalid_scenarios_are_rejected(params, words):
    reject(job(**params), *words)


def test_weighted_object_types_are_normalised():
    p = parse_job(
        job(object_type=[{"type": "PIW-1", "weight": 7}, {"type": "LIFE-RAFT-NB-1", "weight": 3}]), SETTINGS
    ).params
    assert [(s.obj.key, s.weight) for s in p.objects] == [("PIW-1", 0.7), ("LIFE-RAFT-NB-1", 0.3)]


# --- simulation helpers ----------------------------------------------------------------------------
def test_split_is_exact_and_proportional():
    from driftline.release import split_particles as _split

    assert _split(1000, [0.7, 0.3]) == [700, 300]
    assert sum(_split(1001, [1, 1, 1])) == 1001
    assert _split(5, [1.0]) == [5]


def test_stranded_particles_are_carried_forward_and_others_dropped():
    from driftline.simulation import _carry_forward

    nan = np.nan
    lon = np.array([[1.0, 2.0, nan, nan], [1.0, 2.0, nan, nan], [nan, 5.0, 6.0, 7.0]])
    lat = lon.copy()
    state = np.array(
        [
            [ACTIVE, STRANDED, NOT_RELEASED, NOT_RELEASED],
            [ACTIVE, OUT_OF_DOMAIN, NOT_RELEASED, NOT_RELEASED],
            [NOT_RELEASED, ACTIVE, ACTIVE, ACTIVE],
        ],
        dtype=np.int8,
    )
    new_lon, _, new_state = _carry_forward(lon, lat, state)
    assert new_state[0].tolist() == [ACTIVE, STRANDED, STRANDED, STRANDED]
    assert new_lon[0].tolist() == [1.0, 2.0, 2.0, 2.0]
    assert new_state[1].tolist() == [ACTIVE, OUT_OF_DOMAIN, OUT_OF_DOMAIN, OUT_OF_DOMAIN]
    assert np.isnan(new_lon[1, 1:]).all()
    assert new_state[2].tolist() == [NOT_RELEASED, ACTIVE, ACTIVE, ACTIVE]


def test_backoff_is_capped_and_jittered():
    from worker import Backoff

    b = Backoff(1, 8)
    delays = [b.delay(n) for n in range(1, 10)]
    assert all(0.5 <= d <= 8 for d in delays)
    assert max(delays[5:]) <= 8 and min(delays[5:]) >= 4


# --- logging and user-facing errors ----------------------------------------------------------------
def test_json_logs_are_one_object_per_line_with_the_mission_id(capsys):
    import logging

    from driftline.logs import mission_var, setup_logging

    setup_logging("INFO", "json")
    token = mission_var.set(MID)
    try:
        logging.getLogger("driftline.test").info("Mission %s completed successfully", MID)
    finally:
        mission_var.reset(token)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["mission_id"] == MID and record["message"] == f"Mission {MID} completed successfully"
    assert record["level"] == "INFO"


def test_user_facing_errors_are_one_line_without_traceback():
    from driftline.errors import StorageUnavailable
    from driftline.pipeline import describe_error

    assert describe_error(StorageUnavailable("S3 unreachable\n  during upload")) == "S3 unreachable during upload"
    text = describe_error(KeyError("x\ny"))
    assert "\n" not in text and text.startswith("internal error: KeyError")


def test_stage_timings_fold_into_the_three_metric_stages():
    from driftline.metrics import Metrics

    m = Metrics()
    m.observe_timings(
        {"forcing": 0.1, "simulate": 2.0, "products.density": 0.2, "write_particles": 0.1, "upload_wait": 0.3}
    )
    samples = {s.labels["stage"]: s.value for s in m.duration.collect()[0].samples if s.name.endswith("_sum")}
    assert samples == pytest.approx({"simulate": 2.1, "products": 0.3, "upload": 0.3})
