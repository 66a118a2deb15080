"""Survival by protection: smooth over every temperature, protection from the object type or the job,
no figure for a deceased person, timed from the latest plausible entry, flags on the upper end only."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from config import Settings
from driftline.contract.parse import parse_job
from driftline.errors import InvalidJob
from driftline.scenarios import latest_entry
from driftline.search.survival import (
    PLANNING_NOTE,
    PROTECTIONS,
    beyond_survival,
    cooling_rate_c_per_min,
    expected_survival_hours,
    protection_of,
    survival_summary,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
MID = "550e8400-e29b-41d4-a716-446655440000"
BASE = {"latitude": 60.0, "longitude": -3.0, "start_time": "2024-01-01T00:00:00Z", "duration_hours": 6}


def hayward_hours(t: float) -> float:
    return (15 + 7.2 / (0.0785 - 0.0034 * t)) / 60


@pytest.mark.parametrize("t", [0.0, 5.0, 10.0, 12.0])
def test_lifejacket_is_haywards_curve_where_it_is_not_near_its_singularity(t):
    assert expected_survival_hours(t, "lifejacket") == pytest.approx(hayward_hours(t), rel=0.002)


def test_survival_is_smooth_and_increasing_over_the_whole_temperature_range():
    temps = np.linspace(-2.5, 40, 4501)
    for protection in PROTECTIONS:
        hours = np.array([expected_survival_hours(t, protection) for t in temps])
        steps = np.diff(hours)
        assert np.all(steps >= -1e-12), protection
        # no jump: 0.01 °C never changes the figure by more than 0.5 h (Hayward's singularity is gone; the
        # steepest part, ~23 h/°C near 24 °C, is where heat production starts to balance the loss)
        assert steps.max() < 0.5, (protection, steps.max())
    # the old formula jumped from 4.6 h (15 °C) to 11.7 h (20 °C) and was singular at 23.1 °C
    assert expected_survival_hours(23.09, "lifejacket") < 72


def test_protection_orders_the_survival_times_and_the_upper_end_is_longer():
    for t in (0.0, 5.0, 10.0, 15.0, 20.0):
        light, jacket, suit = (expected_survival_hours(t, p) for p in ("light_clothing", "lifejacket", "survival_suit"))
        # no verified factor for light clothing without flotation: Hayward's own curve, never shortened
        assert light == jacket < suit, t
        for p in PROTECTIONS:
            assert expected_survival_hours(t, p, upper=True) >= expected_survival_hours(t, p)
    # Hayward (1984): dry suits in 1 °C water cool 0.13 °C/h
    assert cooling_rate_c_per_min(1.0, "survival_suit") * 60 == pytest.approx(0.13, rel=0.01)


# Reference points of the published equation, t = 15 + 7.2 / (0.0785 - 0.0034 Tw) minutes (Hayward, Eckerson &
# Collis 1975), worked by hand: 0 °C 106.7 min, 5 °C 132.1 min, 10 °C 176.8 min, 15 °C 276.8 min.
@pytest.mark.parametrize(("t", "hours"), [(0.0, 1.779), (5.0, 2.201), (10.0, 2.947), (15.0, 4.613)])
def test_lifejacket_matches_the_published_reference_points(t, hours):
    assert expected_survival_hours(t, "lifejacket") == pytest.approx(hours, rel=0.01)


def test_survival_suit_matches_hayward_1984():
    """0.13 °C/h at 1 °C: 7.2 °C takes 55 h (+15 min), capped smoothly near 72 h; the paper: 'exceeds 1 d'."""
    h = expected_survival_hours(1.0, "survival_suit")
    assert 24 < h < 72
    raw = (15 + 7.2 / (0.13 / 60)) / 60
    assert h == pytest.approx((raw**-6 + 72.0**-6) ** (-1 / 6), rel=0.001)


def test_survival_is_smooth_second_differences_small():
    """No kink anywhere: the curvature of the lifejacket curve stays bounded on a 0.05 °C grid (-2.5..35 °C)."""
    temps = np.arange(-2.5, 35, 0.05)
    hours = np.array([expected_survival_hours(t, "lifejacket") for t in temps])
    second = np.abs(np.diff(hours, 2))
    first = np.abs(np.diff(hours))
    assert second.max() < 0.1 * first.max() + 1e-9


@given(st.floats(-2.5, 40), st.sampled_from(PROTECTIONS))
def test_survival_is_finite_positive_and_within_the_planning_horizon(t, protection):
    h = expected_survival_hours(t, protection)
    assert 0.25 < h <= 72.0 and np.isfinite(h)


def test_protection_comes_from_the_object_type_where_it_says_so_else_the_job():
    assert protection_of("PIW-4", "light_clothing") == "survival_suit"
    assert protection_of("PIW-2", None) == "lifejacket"
    assert protection_of("PIW-1", "light_clothing") == "light_clothing"
    assert protection_of("PIW-1", None) == "lifejacket"


def test_deceased_person_gets_no_survival_figure():
    s = survival_summary(["PIW-6"], 10.0, "job", T0)
    assert s["applies"] is False and "deceased" in s["reason"] and "expected_survival_hours" not in s
    mixed = survival_summary(["PIW-6", "PIW-4"], 10.0, "job", T0)
    assert mixed["object_types"] == ["PIW-4"] and mixed["protection"] == "survival_suit"
    assert survival_summary(["LIFE-RAFT-NB-1"], 10.0, "job", T0)["applies"] is False


def test_summary_is_timed_from_the_latest_entry_and_flags_only_past_the_upper_end():
    late = T0 + timedelta(hours=3)
    s = survival_summary(["PIW-1"], 10.0, "job", T0, entry_latest=late)
    assert s["counted_from"] == "2024-01-01T03:00:00Z" and s["note"] == PLANNING_NOTE
    assert "never a reason to end a search" in s["note"]
    expected, upper = s["expected_survival_hours"], s["upper_survival_hours"]
    assert expected == pytest.approx(2.95, abs=0.01) and upper > expected
    end_between = late + timedelta(hours=(expected + upper) / 2)
    assert not beyond_survival(s, end_between)  # past the expected time, within the range: no flag
    assert beyond_survival(s, late + timedelta(hours=upper + 0.1))
    warm = survival_summary(["PIW-1"], 25.0, "job", T0)
    assert warm["lower_bound"] and not warm["within_validity_range"]
    assert not beyond_survival(warm, T0 + timedelta(hours=100))


def test_issue_case_six_hours_after_lkp_at_6_8_c_in_a_survival_suit_is_not_beyond():
    s = survival_summary(["PIW-4"], 6.8, "job", T0)
    assert not beyond_survival(s, T0 + timedelta(hours=6)) and s["expected_survival_hours"] > 24


def parse(**params):
    return parse_job(json.dumps({"mission_id": MID, "params": {**BASE, **params}}), Settings.from_env({})).params


def test_job_protection_and_latest_entry():
    p = parse(object_type="PIW-1", protection="light_clothing", release_end_time="2024-01-01T02:00:00Z")
    assert p.protection == "light_clothing" and latest_entry(p) == T0 + timedelta(hours=2)
    assert latest_entry(parse()) == T0
    with pytest.raises(InvalidJob, match="protection must be one of survival_suit, lifejacket, light_clothing"):
        parse(protection="wetsuit")


def test_table_for_the_report():
    rows = []
    for key in ("PIW-1", "PIW-4", "PIW-6"):
        cells = []
        for t in (5.0, 10.0, 15.0, 20.0):
            s = survival_summary([key], t, "job", T0)
            cells.append(
                "none" if not s["applies"] else f"{s['expected_survival_hours']:.1f} ({s['upper_survival_hours']:.1f})"
            )
        rows.append(
            f"| {key} | {protection_of(key, None) if key != 'PIW-6' else 'deceased'} | " + " | ".join(cells) + " |"
        )
    print("\n| object | protection | 5 °C | 10 °C | 15 °C | 20 °C |\n" + "\n".join(rows))
    assert rows[2].count("none") == 4


def test_summary_names_the_source_of_its_headline_figure():
    assert survival_summary(["PIW-4"], 6.0, "job", T0)["source"] == "Hayward 1984"
    assert survival_summary(["PIW-1"], 6.0, "job", T0)["source"] == "Hayward et al. 1975"
    assert "Not Tikuisis's CESM" in survival_summary(["PIW-1"], 6.0, "job", T0)["model"]
