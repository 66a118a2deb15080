"""One job can never crash the supervisor: hostile bodies through the real start path and the daemon."""

from __future__ import annotations

import json
import random
import uuid

import pytest
from hypothesis import HealthCheck, given, settings

from config import Settings
from driftline.contract.parse import parse_job
from driftline.errors import InvalidJob
from tests.conftest import mission, push_job, wait_status
from tests.hostile import KNOWN_CRASHERS, VALID_PARAMS, fresh, hostile_bodies, mutate_bytes, one_field_replaced
from tests.inprocess import forget_running, inprocess_worker

SHORT = {"latitude": 60.0, "longitude": 4.0, "start_time": "2024-01-01T00:00:00Z", "duration_hours": 2}


@pytest.fixture(scope="module")
def worker(services):
    env = services.env(f"q-fuzz-{uuid.uuid4().hex[:8]}", "fuzz-1")
    w = inprocess_worker(Settings.from_env(env))
    yield w
    w.store.close()


@pytest.fixture(scope="module")
def db(services):
    conn = services.db()
    yield conn
    conn.close()


def status_of(db, mission_id: str) -> tuple[str, str | None] | None:
    with db.cursor() as cur:
        cur.execute("SELECT status, error_message FROM missions WHERE id = %s", (mission_id,))
        return cur.fetchone()


def _status_if_parses(db, body: bytes, settings) -> str | None:
    try:
        row = status_of(db, parse_job(body, settings).mission_id)
    except InvalidJob:
        return None
    return row[0] if row else None


def validator_error(body: bytes, settings) -> str | None:
    """What the job contract says about a body (None when it accepts it)."""
    try:
        parse_job(body, settings)
    except InvalidJob as e:
        return str(e)
    return None


def take_one(worker, db, body: bytes, internal_expected: bool = False) -> str:
    """Push, claim and start one body; check the one outcome allowed; returns 'started' or the dead reason.

    A body is started, or dead-lettered as `invalid_job` (`too_large`: it does not fit this worker) with the
    validator's own message naming the field; `internal` means no validator caught it: a finding, never a pass.
    """
    r, s = worker.queue.r, worker.s
    dead_before = r.llen(s.dead_queue)
    r.rpush(s.queue_name, body)
    raw = worker.queue.claim(0)
    assert raw == body
    before = _status_if_parses(db, body, s)
    worker.admission.take(raw)  # the property: nothing escapes
    if worker.running:
        job = parse_job(body, s)  # only a body that parses may start a job process
        # a generated id that already ended `failed` earlier in the run stays failed (the SQL status guard)
        assert status_of(db, job.mission_id)[0] == ("failed" if before == "failed" else "processing")
        forget_running(worker)
        r.delete(s.processing_list())
        return "started"
    assert r.llen(s.dead_queue) == dead_before + 1 and r.llen(s.processing_list()) == 0
    record = json.loads(r.lindex(s.dead_queue, -1))
    if internal_expected:
        assert record["reason"] == "internal", record
    else:
        assert record["reason"] != "internal", f"finding: no validator caught this body: {record['error']}"
        assert record["reason"] in ("invalid_job", "too_large"), record
    if record["reason"] == "invalid_job":
        said = validator_error(body, s)
        assert said is not None and record["error"] == " ".join(said.split())[:1000], (said, record["error"])
    assert record["error"] and "\n" not in record["error"] and "\x00" not in record["error"]
    if record["mission_id"]:
        status, error = status_of(db, record["mission_id"])
        assert status == "failed" and error == record["error"][:2000]
    return record["reason"]


@pytest.mark.parametrize("name", sorted(KNOWN_CRASHERS))
def test_bodies_that_crashed_the_supervisor_are_dead_lettered(worker, db, name):
    assert take_one(worker, db, fresh(KNOWN_CRASHERS[name])) == "invalid_job"


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(body=hostile_bodies)
def test_any_body_ends_that_job_only_through_the_real_start_path(worker, db, body):
    take_one(worker, db, fresh(body))


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(case=one_field_replaced())
def test_a_hostile_field_is_dead_lettered_as_invalid_job_naming_it(worker, db, case):
    body, names = case
    body = fresh(body)
    if take_one(worker, db, body) == "invalid_job":
        error = json.loads(worker.queue.r.lindex(worker.s.dead_queue, -1))["error"]
        assert any(name in error for name in names), (names, error)


def test_an_unforeseen_exception_dead_letters_as_internal_and_the_worker_goes_on(worker, db, monkeypatch):
    def broken(raw, settings):
        raise RuntimeError("validator bug \x00 with a NUL")

    monkeypatch.setattr("driftline.supervisor.admission.parse_job", broken)
    mid = str(uuid.uuid4())
    assert take_one(worker, db, json.dumps({"mission_id": mid, "params": SHORT}).encode(), True) == "internal"
    assert status_of(db, mid) == ("failed", "internal error: RuntimeError: validator bug \\x00 with a NUL")
    monkeypatch.undo()
    assert take_one(worker, db, json.dumps({"mission_id": str(uuid.uuid4()), "params": SHORT}).encode()) == "started"


def hostile_burst(n_mutations: int) -> list[bytes]:
    """The known crashers and byte-mutated bodies that parse_job rejects (none of them may run a simulation)."""
    rnd = random.Random(11)
    bodies = [fresh(b) for b in KNOWN_CRASHERS.values()]
    while len(bodies) < len(KNOWN_CRASHERS) + n_mutations:
        body = fresh(mutate_bytes(rnd, rnd.choice(VALID_PARAMS)))
        try:
            parse_job(body, Settings())
        except InvalidJob:
            bodies.append(body)
    return bodies


def test_daemon_survives_a_burst_of_hostile_bodies_and_completes_the_next_good_job(services, shared_worker):
    q = shared_worker.env["QUEUE_NAME"]
    r = services.redis()
    dead_before = r.llen(f"{q}:dead")
    bodies = hostile_burst(20)
    r.rpush(q, *bodies)
    good = push_job(services, q, SHORT)
    assert wait_status(services, good, ("completed",), 120)["status"] == "completed"
    assert shared_worker.proc.poll() is None
    dead = [json.loads(x) for x in r.lrange(f"{q}:dead", dead_before, -1)]
    assert len(dead) == len(bodies) and {d["reason"] for d in dead} == {"invalid_job"}
    for record in dead:
        if record["mission_id"]:
            assert mission(services, record["mission_id"])["status"] == "failed"
    assert "Traceback" not in shared_worker.log()
