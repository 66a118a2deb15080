"""What the status writer stores for users: one bounded line, nothing PostgreSQL or a JSON log cannot hold."""

from __future__ import annotations

import json

from driftline.supervisor.status import MESSAGE_MAX, one_line, storable


def test_an_error_becomes_one_bounded_line():
    assert one_line("first\n  second\tthird") == "first second third"
    assert len(one_line("x" * 5000)) == MESSAGE_MAX


def test_nul_and_lone_surrogates_are_escaped_in_every_string_of_an_update():
    update = {"op": "failed", "error": "a\x00b\udcff", "nested": [{"k\x00": "v"}]}
    clean = storable(update)
    assert clean == {"op": "failed", "error": "a\\x00b\\udcff", "nested": [{"k\\x00": "v"}]}
    json.dumps(clean).encode("utf-8")  # encodable, as the outbox and PostgreSQL need
