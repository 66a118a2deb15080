"""params.tasking in the job contract: every field optional, one-line errors naming the field."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config import Settings
from driftline.contract.parse import parse_job
from driftline.errors import InvalidJob

MID = "5d3f8c9e-1b2a-4c3d-8e4f-0123456789ab"
BASE = {"latitude": 60.0, "longitude": 4.0, "start_time": "2024-01-01T00:00:00Z"}
SEARCH = {"units": [{"name": "Rescue 51", "speed_kn": 90, "sweep_width_nm": 1, "endurance_hours": 2,
                     "commence_time": "2024-01-01T02:00:00Z"}]}  # fmt: skip


def parse(tasking, **extra):
    body = {"mission_id": MID, "params": {**BASE, **extra, "tasking": tasking}}
    return parse_job(json.dumps(body), Settings.from_env({})).params


def test_valid_tasking_is_kept_and_recorded():
    t = {"smc": "  JRCC   Bodø ", "persons_on_board": 3, "units": {"Rescue 51": {"type": "helicopter",
         "altitude_ft": 500, "call_sign": "R51"}}}  # fmt: skip
    p = parse(t, search=SEARCH)
    unit = {"type": "helicopter", "altitude_ft": 500.0, "call_sign": "R51"}
    assert p.tasking == {"smc": "JRCC Bodø", "persons_on_board": 3, "units": {"Rescue 51": unit}}
    assert p.as_record()["tasking"] == p.tasking
    assert parse(None).tasking is None and "tasking" not in parse(None).as_record()


@pytest.mark.parametrize(
    "tasking, extra, message",
    [
        ("JRCC", {}, "tasking must be an object"),
        ({"smc": "x", "pob": 2}, {}, "unknown tasking keys: pob"),
        ({"smc": ""}, {}, "tasking.smc must be a string of 1 to 200 characters"),
        ({"osc": "x" * 201}, {}, "tasking.osc must be a string of 1 to 200 characters"),
        ({"persons_on_board": 2.5}, {}, "tasking.persons_on_board must be an integer"),
        ({"persons_on_board": True}, {}, "tasking.persons_on_board must be an integer"),
        ({"units": []}, {}, "tasking.units must be an object"),
        ({"units": {"Rescue 51": {"type": "boat"}}}, {"search": SEARCH}, "tasking.units.Rescue 51.type must be one of"),
        ({"units": {"Rescue 51": {"altitude_ft": -5}}}, {"search": SEARCH}, "tasking.units.Rescue 51.altitude_ft"),
        ({"units": {"Rescue 51": {"speed": 5}}}, {"search": SEARCH}, "unknown tasking.units.Rescue 51 keys: speed"),
        ({"units": {"Rescue 99": {}}}, {"search": SEARCH}, "tasking.units.Rescue 99 is not a search.units name"),
    ],
)
def test_errors_are_one_line_naming_the_field(tasking, extra, message):
    with pytest.raises(InvalidJob) as e:
        parse(tasking, **extra)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert e.value.mission_id == MID


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(["smc", "units", "Rescue 51", "type",
                                                                         "altitude_ft", "persons_on_board", "x"]), c,
                                                        max_size=4),
    max_leaves=12,
)  # fmt: skip


@given(json_values)
def test_any_value_is_accepted_or_rejected_with_invalid_job(value):
    try:
        p = parse(value, search=SEARCH)
    except InvalidJob as e:
        assert str(e) and "\n" not in str(e)
    else:
        assert p.tasking is None or isinstance(p.tasking, dict)
