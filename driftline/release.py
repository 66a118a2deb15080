"""How a mission's particles are released: integer splits, the seeding span, and the seeding in words.

describe_seeding gives the one-line scenario text of summary.json and the products' attributes.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np

from driftline.contract.params import MissionParams
from driftline.models import what_drifts
from driftline.scenarios import scenario_counts


def seeding_span(params: MissionParams) -> tuple[datetime, datetime | None]:
    """(first, last) seeding time: last is end_time of a track or release_end_time, None for one instant."""
    return params.start_time, params.end_time or params.release_end_time


def split_particles(total: int, weights: list[float]) -> list[int]:
    """Integer shares of `total` proportional to `weights` that add up exactly (largest remainder)."""
    w = np.asarray(weights, dtype=float)
    raw = total * w / w.sum()
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts))[: total - counts.sum()]:
        counts[i] += 1
    return counts.tolist()


def describe_seeding(params: MissionParams) -> str:
    """The scenario in a coordinator's words: '1000 particles released along a 12.4 km track between 02:00 and ...'."""
    if params.scenarios:
        members = split_particles(params.num_particles, [1.0] * max(len(params.ensemble), 1))
        counts = np.sum([[n for _, n in scenario_counts(params, m)] for m in members], axis=0).tolist()
        return "; ".join(
            f"scenario {s.name!r} (weight {s.weight:.0%}): "
            + describe_seeding(replace(s.params, num_particles=int(n), ensemble=()))
            for s, n in zip(params.scenarios, counts, strict=True)
        )
    t0, t1 = seeding_span(params)
    parts = [f"{params.num_particles} particles{_objects_phrase(params)} {_where(params)} {_when(t0, t1)}"]
    h, end = params.duration_hours, _stamp(params.end_of_run)
    if params.backward:
        parts.append(f"tracked backwards {h:g} h to {end} UTC to estimate where the object came from")
    else:
        parts.append(f"drifting for {h:g} h until {end} UTC")
    if params.ensemble:
        counts = split_particles(params.num_particles, [1.0] * len(params.ensemble))
        each = f"{counts[0]} each" if len(set(counts)) == 1 else ", ".join(map(str, counts))
        parts.append(f"split evenly between {len(counts)} forcing ensemble members ({each})")
    if params.capsizing:
        c = params.capsizing
        parts.append(
            f"life rafts may capsize in winds around {c['wind_threshold_ms']:g} m/s "
            f"(± {c['wind_threshold_sigma_ms']:g} m/s) and then drift with {c['leeway_fraction']:.0%} of their leeway"
        )
    if params.jibe_probability_per_hour is not None:
        parts.append(f"jibing probability {params.jibe_probability_per_hour:.0%} per hour")
    return ", ".join(parts)


def type_counts(params: MissionParams) -> list[int]:
    """Particles of each object type, as seeded: split between members first, then by weight within each."""
    members = split_particles(params.num_particles, [1.0] * max(len(params.ensemble), 1))
    weights = [s.weight for s in params.objects]
    return np.sum([split_particles(n, weights) for n in members], axis=0).astype(int).tolist()


def _objects_phrase(params: MissionParams) -> str:
    if params.model != "leeway":
        return f" ({what_drifts(params)})"
    if len(params.objects) == 1:
        return f" ({params.objects[0].obj.key})"
    counts = type_counts(params)
    return " (" + ", ".join(f"{n} {s.obj.key}" for s, n in zip(params.objects, counts, strict=True)) + ")"


def _where(params: MissionParams) -> str:
    from driftline.geodesy import distance_km, polygon_area_km2

    if params.area is not None:
        return f"spread uniformly over the sea in a {polygon_area_km2(params.area):.1f} km² area"
    start = _pos(params.latitude, params.longitude)
    if params.end_latitude is not None:
        length = distance_km(params.latitude, params.longitude, params.end_latitude, params.end_longitude)
        r0 = params.radius_m
        r1 = params.end_radius_m if params.end_radius_m is not None else r0
        radius = f"{r0:g} m" if r1 == r0 else f"{r0:g} m growing to {r1:g} m"
        end = _pos(params.end_latitude, params.end_longitude)
        return f"released along a {length:.1f} km track from {start} to {end} (radius {radius})"
    what = "found position" if params.backward else "last known position"
    near = f"within {params.radius_m:g} m of" if params.radius_m > 0 else "at"
    return f"released {near} the {what} {start}"


def _when(t0: datetime, t1: datetime | None) -> str:
    """'at 02:00 UTC on 2024-01-01' or 'between 02:00 and 05:00 UTC on 2024-01-01' (chronological)."""
    if t1 is None:
        return f"at {t0.astimezone(UTC):%H:%M} UTC on {t0.astimezone(UTC):%Y-%m-%d}"
    a, b = sorted(t.astimezone(UTC) for t in (t0, t1))
    if a.date() == b.date():
        return f"evenly between {a:%H:%M} and {b:%H:%M} UTC on {a:%Y-%m-%d}"
    return f"evenly between {_stamp(a)} and {_stamp(b)} UTC"


def _stamp(t: datetime) -> str:
    return f"{t.astimezone(UTC):%Y-%m-%d %H:%M}"


def _pos(lat: float, lon: float) -> str:
    from driftline.positions import position_dm

    return position_dm(lat, lon)
