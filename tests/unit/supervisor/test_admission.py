"""Admission of a claimed body, against in-memory queue, store and outcomes: the attempt count and the dead letters."""

from __future__ import annotations

import json
import uuid
from types import SimpleNamespace
from unittest.mock import MagicMock

from hypothesis import given
from hypothesis import strategies as st

from config import Settings
from driftline.errors import DatabaseUnavailable
from driftline.supervisor.admission import Admission, peek_mission_id

SETTINGS = Settings.from_env({})
MISSION = "0b7e5f4c-3d2a-4e1b-9c8d-7a6b5c4d3e2f"


class Recorder:
    """Any method call is recorded as (name, *args, **kwargs); the named results are returned."""

    def __init__(self, **results):
        self.calls, self.results = [], results

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.calls.append((name, *args, *sorted(kwargs.items())))
            value = self.results.get(name)
            if isinstance(value, Exception):
                raise value
            return value

        return call


def worker(attempt: int = 1, copies: int = 1, claim_state=(MISSION, 2, "L0")):
    queue = Recorder(count_attempt=(attempt, "L9"), copies_held=copies)
    s = SimpleNamespace(max_attempts=3, max_job_bytes=SETTINGS.max_job_bytes)
    return SimpleNamespace(s=s, queue=queue, store=Recorder(claim_state=claim_state), outcomes=Recorder())


def test_peek_reads_a_canonical_uuid_and_refuses_oversized_bodies():
    body = json.dumps({"mission_id": MISSION.upper()}).encode()
    assert peek_mission_id(body, 10_000) == MISSION
    assert peek_mission_id(body, len(body) - 1) is None
    assert peek_mission_id(json.dumps({"mission_id": "not-a-uuid"}).encode(), 10_000) is None


@given(
    st.one_of(st.binary(max_size=200), st.recursive(st.none() | st.text(), st.lists).map(json.dumps).map(str.encode))
)
def test_peek_never_raises_on_any_body(raw):
    mission_id = peek_mission_id(raw, 10_000)
    assert mission_id is None or str(uuid.UUID(mission_id)) == mission_id


def test_an_attempt_within_max_attempts_starts_on_the_rows_floor():
    w = worker(attempt=3)
    assert Admission(w).begin_attempt(b"body", MISSION) == (3, "L9")
    assert w.queue.calls == [("count_attempt", MISSION, ("after", "L0"), ("floor", 2))]
    w = worker(attempt=1, claim_state=DatabaseUnavailable("down"))
    assert Admission(w).begin_attempt(b"body", MISSION) == (1, "L9")
    assert w.queue.calls == [("count_attempt", MISSION, ("after", None), ("floor", 0))]


def test_a_surplus_copy_past_max_attempts_stands_down_with_its_attempt_given_back():
    w = worker(attempt=4, copies=2)
    assert Admission(w).begin_attempt(b"body", MISSION) is None
    assert [c[0] for c in w.queue.calls] == ["count_attempt", "copies_held", "release", "refund_attempt"]
    assert w.outcomes.calls == []


def test_a_crash_loop_past_max_attempts_is_dead_lettered():
    w = worker(attempt=5, copies=1)
    assert Admission(w).begin_attempt(b"body", MISSION) is None
    error = "job process died with its worker in each of 4 attempts (out of memory?)"
    assert w.outcomes.calls == [("give_up", b"body", MISSION, "crashed", error, 4, ("lease", "L9"))]


def test_an_invalid_body_is_dead_lettered_once_without_counting_an_attempt():
    w = worker()
    w.s, w.metrics = SETTINGS, MagicMock()
    Admission(w).take(b"[1, 2]")
    assert w.outcomes.calls == [
        ("give_up", b"[1, 2]", None, "invalid_job", "job must be a JSON object, got list", ("attempts", 1))
    ]
    assert w.queue.calls == []
