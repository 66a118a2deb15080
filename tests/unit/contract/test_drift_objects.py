"""Object sections of the job contract: Leeway object types, weighted lists of them, and capsizing."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config import leeway_object, leeway_objects
from driftline.contract.drift_objects import can_capsize, parse_capsizing, parse_object_type, parse_objects
from driftline.errors import InvalidJob


def test_object_types_by_number_whole_float_or_key():
    raft = leeway_object("LIFE-RAFT-NB-1")
    assert parse_object_type(raft.number) == raft
    assert parse_object_type(float(raft.number)) == raft
    assert parse_object_type(" life-raft-nb-1 ") == raft
    n = len(leeway_objects())
    with pytest.raises(InvalidJob, match=f"^object_type must be an integer 1..{n} or a Leeway key$"):
        parse_object_type(True)
    with pytest.raises(InvalidJob) as e:
        parse_object_type(n + 1, "object_type[2].type")
    assert str(e.value) == f"unknown object_type[2].type {n + 1}: use 1..{n} or a Leeway key such as 'LIFE-RAFT-NB-1'"


def test_only_upright_life_rafts_can_capsize():
    upright = [o for o in leeway_objects() if can_capsize(o)]
    assert upright and all(o.key.startswith("LIFE-RAFT") for o in upright)
    assert not can_capsize(leeway_object("LIFE-RAFT-SB-9"))  # "..., capsized"
    assert not can_capsize(leeway_object("PIW-1"))


@given(st.lists(st.floats(1e-3, 1e6), min_size=1, max_size=10))
def test_weights_are_normalised_to_one_in_the_given_order(weights):
    items = [{"type": i + 1, "weight": w} for i, w in enumerate(weights)]
    shares = parse_objects(items)
    assert [s.obj.number for s in shares] == list(range(1, len(weights) + 1))
    assert sum(s.weight for s in shares) == pytest.approx(1.0)
    for share, w in zip(shares, weights, strict=True):
        assert share.weight == pytest.approx(w / sum(weights))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "object_type list must have 1 to 10 entries"),
        ([{"type": 1}] * 11, "object_type list must have 1 to 10 entries"),
        ([{"weight": 1}], "object_type[0] must be an object with 'type' and 'weight'"),
        ([{"type": 1}, {"type": 2, "w": 1}], "object_type[1] must be an object with 'type' and 'weight'"),
        ([{"type": 1, "weight": 0}], "weight must be greater than 0 and at most 1e+06, got 0"),
        ([{"type": 1}, {"type": leeway_object(1).key}], "object_type list names the same type twice"),
    ],
)
def test_malformed_object_lists_are_refused(value, message):
    with pytest.raises(InvalidJob, match=f"^{re.escape(message)}$"):
        parse_objects(value)


def test_a_single_type_has_the_whole_weight():
    (share,) = parse_objects("PIW-1")
    assert share.obj == leeway_object("PIW-1") and share.weight == 1.0


def test_capsizing_defaults_bounds_and_unknown_keys():
    assert parse_capsizing(None) is None
    assert parse_capsizing({}) == {"wind_threshold_ms": 30.0, "wind_threshold_sigma_ms": 5.0, "leeway_fraction": 0.4}
    assert parse_capsizing({"leeway_fraction": 1})["leeway_fraction"] == 1.0
    with pytest.raises(InvalidJob, match="^capsizing must be an object$"):
        parse_capsizing([])
    with pytest.raises(InvalidJob, match="^unknown capsizing keys: a, b$"):
        parse_capsizing({"b": 1, "a": 2, "leeway_fraction": 0.5})
    with pytest.raises(InvalidJob, match="^wind_threshold_sigma_ms must be greater than 0 and at most 20, got 0$"):
        parse_capsizing({"wind_threshold_sigma_ms": 0})
