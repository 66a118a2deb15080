"""How particles are released: exact integer splits, the seeding span, type counts and the seeding in words."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from config import leeway_object
from driftline.contract.drift_objects import ObjectShare
from driftline.contract.metocean import EnsembleMember
from driftline.contract.params import MissionParams, Scenario
from driftline.release import describe_seeding, seeding_span, split_particles, type_counts

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)
PIW, RAFT = leeway_object("PIW-1"), leeway_object("LIFE-RAFT-NB-1")
LKP = "60°00.000'N 004°00.000'E"


def _params(**kw) -> MissionParams:
    kw.setdefault("objects", (ObjectShare(PIW, 1.0),))
    return MissionParams(latitude=60.0, longitude=4.0, start_time=T0, **kw)


@given(st.integers(0, 10_000), st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=12))
def test_splits_add_up_exactly_and_stay_within_one_of_the_exact_share(total, weights):
    counts = split_particles(total, weights)
    assert sum(counts) == total and len(counts) == len(weights)
    for n, w in zip(counts, weights, strict=True):
        exact = total * w / sum(weights)
        assert math.floor(exact) <= n <= math.floor(exact) + 1


def test_largest_remainders_get_the_leftover_particles():
    assert sorted(split_particles(10, [1, 1, 1])) == [3, 3, 4]
    assert split_particles(10, [0.26, 0.74]) == [3, 7]  # 2.6 and 7.4: the larger remainder (0.6) gets the particle
    assert split_particles(7, [3, 1]) == [5, 2]  # 5.25 and 1.75: the larger remainder (0.75) gets the particle


def test_type_counts_split_between_members_first_then_by_weight():
    members = (EnsembleMember(), EnsembleMember(), EnsembleMember())
    p = _params(num_particles=10, ensemble=members, objects=(ObjectShare(PIW, 0.5), ObjectShare(RAFT, 0.5)))
    # members get 4, 3, 3 particles; each member's particles are then split half and half
    counts = type_counts(p)
    assert sum(counts) == 10 and sorted(counts) in ([4, 6], [5, 5])
    expected = [sum(x) for x in zip(*(split_particles(n, [0.5, 0.5]) for n in split_particles(10, [1, 1, 1])))]
    assert counts == expected


def test_a_point_release_forward_and_backward_in_words():
    assert seeding_span(_params()) == (T0, None)
    assert describe_seeding(_params()) == (
        f"1000 particles (PIW-1) released within 1000 m of the last known position {LKP} at 12:00 UTC on "
        "2024-03-01, drifting for 24 h until 2024-03-02 12:00 UTC"
    )
    back = _params(direction="backward", duration_hours=6.0, radius_m=0.0, num_particles=50)
    assert describe_seeding(back) == (
        f"50 particles (PIW-1) released at the found position {LKP} at 12:00 UTC on 2024-03-01, tracked backwards "
        "6 h to 2024-03-01 06:00 UTC to estimate where the object came from"
    )


def test_a_track_release_over_midnight_with_several_types_and_options():
    end = T0 + timedelta(hours=13)
    p = _params(
        num_particles=10,
        objects=(ObjectShare(PIW, 0.3), ObjectShare(RAFT, 0.7)),
        end_latitude=60.1,
        end_longitude=4.0,
        end_time=end,
        end_radius_m=500.0,
        ensemble=(EnsembleMember(), EnsembleMember(), EnsembleMember()),
        capsizing={"wind_threshold_ms": 30.0, "wind_threshold_sigma_ms": 5.0, "leeway_fraction": 0.4},
        jibe_probability_per_hour=0.04,
        duration_hours=48.0,
    )
    assert seeding_span(p) == (T0, end)
    n_piw, n_raft = type_counts(p)
    text = describe_seeding(p)
    assert text.startswith(f"10 particles ({n_piw} PIW-1, {n_raft} LIFE-RAFT-NB-1) released along a 11.1 km track ")
    assert f"from {LKP} to 60°06.000'N 004°00.000'E (radius 1000 m growing to 500 m) " in text
    assert (
        "evenly between 2024-03-01 12:00 and 2024-03-02 01:00 UTC, drifting for 48 h until 2024-03-03 12:00 UTC" in text
    )
    assert ", split evenly between 3 forcing ensemble members (4, 3, 3), " in text
    assert "life rafts may capsize in winds around 30 m/s (± 5 m/s) and then drift with 40% of their leeway" in text
    assert text.endswith(", jibing probability 4% per hour")


def test_scenarios_are_described_one_by_one_with_their_share_of_particles():
    a = Scenario("near", 0.75, _params(radius_m=100.0))
    b = Scenario("far", 0.25, _params(radius_m=5000.0, release_end_time=T0 + timedelta(hours=2)))
    text = describe_seeding(_params(num_particles=8, scenarios=(a, b)))
    first, second = text.split("; ")
    assert first.startswith("scenario 'near' (weight 75%): 6 particles (PIW-1) released within 100 m of")
    assert second.startswith("scenario 'far' (weight 25%): 2 particles (PIW-1) released within 5000 m of")
    assert "evenly between 12:00 and 14:00 UTC on 2024-03-01" in second
