"""Log lines: the mission id from the context (or the record), the JSON and text forms, the root logger setup."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from driftline.logs import JsonFormatter, MissionFilter, TextFormatter, mission_var, setup_logging


def record(msg: str = "hello %s", args=("world",), exc_info=None, **extra) -> logging.LogRecord:
    rec = logging.LogRecord("driftline.test", logging.WARNING, __file__, 1, msg, args, exc_info)
    rec.__dict__.update(extra)
    MissionFilter().filter(rec)
    return rec


def test_the_context_mission_id_is_attached_unless_the_record_names_one():
    token = mission_var.set("m-ctx")
    try:
        assert record().mission_id == "m-ctx"
        assert record(mission_id="m-own").mission_id == "m-own"
    finally:
        mission_var.reset(token)
    assert record().mission_id is None


def test_a_json_line_has_the_message_level_and_mission_and_a_traceback():
    try:
        raise ValueError("bad value")
    except ValueError:
        rec = record(exc_info=sys.exc_info(), mission_id="m-1")
    data = json.loads(JsonFormatter().format(rec))
    assert (data["message"], data["level"], data["logger"], data["mission_id"]) == (
        "hello world",
        "WARNING",
        "driftline.test",
        "m-1",
    )
    assert data["time"].endswith("+00:00") and "ValueError: bad value" in data["traceback"]
    assert "mission_id" not in json.loads(JsonFormatter().format(record()))


def test_a_text_line_ends_with_the_mission_id_only_when_there_is_one():
    line = TextFormatter().format(record(mission_id="m-2"))
    assert " WARNING " in line and line.endswith("driftline.test: hello world mission_id=m-2")
    assert TextFormatter().format(record()).endswith("driftline.test: hello world")


CHATTY = ("opendrift", "botocore", "boto3", "s3transfer", "urllib3", "matplotlib", "PIL")


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in CHATTY}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)


@pytest.mark.usefixtures("restore_logging")
def test_setup_replaces_the_handlers_and_quiets_chatty_libraries_below_warning():
    setup_logging("DEBUG", "json")
    root = logging.getLogger()
    assert len(root.handlers) == 1 and isinstance(root.handlers[0].formatter, JsonFormatter)
    assert root.level == logging.DEBUG and logging.getLogger("botocore").level == logging.WARNING
    setup_logging("ERROR", "text")
    assert isinstance(root.handlers[0].formatter, TextFormatter)
    assert logging.getLogger("opendrift").level == logging.ERROR
