"""Property: whatever a producer sends, parse_job returns a Job or raises InvalidJob with one storable line."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, example, given, settings

from config import Settings
from driftline.contract.parse import parse_job
from driftline.errors import InvalidJob
from tests.hostile import KNOWN_CRASHERS, byte_mutations, mutated_jobs, one_field_replaced, random_bodies

SETTINGS = Settings()
FUZZ = settings(deadline=None, max_examples=300, suppress_health_check=list(HealthCheck), database=None)


def check(body: bytes) -> None:
    try:
        job = parse_job(body, SETTINGS)
    except InvalidJob as e:
        text = str(e)
        assert text and "\n" not in text and "\x00" not in text, text
        text.encode("utf-8")  # no lone surrogate: PostgreSQL and the dead-letter JSON can hold it
        return
    record = json.dumps(job.params.as_record())
    assert "\\u0000" not in record and "\\ud8" not in record.lower()


@pytest.mark.parametrize("name", sorted(KNOWN_CRASHERS))
def test_bodies_that_crashed_the_supervisor_are_invalid_jobs_naming_the_problem(name):
    with pytest.raises(InvalidJob) as info:
        parse_job(KNOWN_CRASHERS[name], SETTINGS)
    words = {
        "deep": "nested",
        "latitude": "latitude",
        "start time": "start_time",
        "urlsplit": "forcing URI",
        "forcing URI": "forcing",
        "unknown key": "key in params",
        "surrogate": "U+D800",
        "mission id": "mission_id",
        "weight": "weight",
    }
    expected = next(word for key, word in words.items() if key in name)
    assert expected in str(info.value), str(info.value)
    check(KNOWN_CRASHERS[name])


@settings(FUZZ, max_examples=400)
@given(mutated_jobs())
def test_mutated_valid_jobs_raise_only_invalid_job(body):
    check(body)


@settings(FUZZ, max_examples=200)
@given(byte_mutations)
def test_byte_mutated_bodies_raise_only_invalid_job(bodies):
    for body in bodies:
        check(body)


@settings(FUZZ, max_examples=300)
@given(random_bodies)
@example(b"[" * 100_000 + b"]" * 100_000)
@example(b'{"mission_id": "5f1d7c1e-3b7a-4c69-9d1e-2f4b8f0e6a11", "params": ' + b"{" * 1000 + b"}" * 1000 + b"}")
def test_random_json_and_bytes_raise_only_invalid_job(body):
    check(body)


@settings(FUZZ, max_examples=600)
@given(one_field_replaced())
def test_one_hostile_field_is_accepted_or_rejected_naming_that_field(case):
    """A rejection names the field the producer got wrong (not only "some InvalidJob")."""
    body, names = case
    check(body)
    try:
        parse_job(body, SETTINGS)
    except InvalidJob as e:
        assert any(name in str(e) for name in names), (names, str(e))
