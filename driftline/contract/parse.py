"""parse_job: a queue message checked and turned into a Job, the producer contract, before anything runs.

Pure logic, no services. Every rejection raises `InvalidJob` with one line that
names the offending key, and carries the mission id when one could be read so
that the mission can still be marked failed.
"""

from __future__ import annotations

import json
import re
import unicodedata
import uuid
from typing import TYPE_CHECKING, Any

from driftline.contract.drift_model import parse_model_params
from driftline.contract.drift_objects import parse_capsizing, parse_objects
from driftline.contract.drifters import parse_drifters
from driftline.contract.fields import choice, integer, number, timestamp
from driftline.contract.metocean import parse_current, parse_ensemble, parse_forcing_list, parse_wind
from driftline.contract.params import Job, MissionParams
from driftline.contract.rules import check_conflicts, check_drifters_overlap_run, check_run, check_search_times
from driftline.contract.scenarios import parse_scenarios
from driftline.contract.seeding import parse_area, parse_search_area_times
from driftline.errors import InvalidJob
from driftline.search.contract import parse_search, parse_searches_done, parse_water_temperature

if TYPE_CHECKING:
    from config import Settings

UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
MAX_NESTING = 16  # the deepest valid job (params.drifters[i].positions[j].lat) is 6 levels
TOP_LEVEL_KEYS = {"mission_id", "params", "delivery"}
PARAM_KEYS = {
    "latitude", "longitude", "start_time", "duration_hours", "num_particles", "object_type",
    "radius_m", "random_seed", "time_step_minutes", "output_step_minutes", "wind", "current",
    "forcing", "grid_resolution_m", "search_area_interval_hours", "release_end_time",
    "end_latitude", "end_longitude", "end_time", "end_radius_m", "area", "direction",
    "capsizing", "jibe_probability_per_hour", "ensemble", "search_area_times",
}  # fmt: skip
PARAM_KEYS |= {"search", "searches_done", "water_temperature_c"}  # search planning: driftline/search/contract.py
PARAM_KEYS |= {
    "model",
    "ship",
    "wind_drift_factor",
    "horizontal_diffusivity_m2s",
    "drifters",
}  # drift_model.py, drifters.py
PARAM_KEYS |= {"protection"}  # driftline/search/survival.py
PARAM_KEYS |= {"current_uncertainty_ms", "wind_uncertainty_ms"}  # driftline/uncertainty.py
PARAM_KEYS |= {"scenarios"}  # contract/scenarios.py
PARAM_KEYS |= {"tasking"}  # SAP blanks (co-ordinators, channels, POB): driftline/tasking.py


def derived_seed(mission_id: str) -> int:
    """The random seed of a job that gives none: a function of its mission id, so a retry draws the same cloud."""
    return uuid.UUID(mission_id).int % 2**32


def parse_job(body: bytes | str, settings: Settings) -> Job:
    """Parse and validate one queue message; raise InvalidJob naming the problem."""
    raw = body.encode() if isinstance(body, str) else body
    if len(raw) > settings.max_job_bytes:
        raise InvalidJob(f"job body is {len(raw)} bytes, above the limit of {settings.max_job_bytes}")
    try:
        # NaN/Infinity parse as floats here and are rejected per field, so the message names the field.
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidJob(f"job body is not valid JSON: {e}") from e
    except RecursionError as e:
        raise InvalidJob("job body is not valid JSON: nested too deeply") from e
    if not isinstance(data, dict):
        raise InvalidJob(f"job must be a JSON object, got {type(data).__name__}")
    mission_id = extract_mission_id(data)
    if mission_id is None:
        raise InvalidJob("mission_id is missing or not a UUID")
    try:
        _check_content(data)
        unknown = sorted(set(data) - TOP_LEVEL_KEYS)
        if unknown:
            raise InvalidJob(f"unknown job keys: {', '.join(unknown)}")
        if not isinstance(data.get("params"), dict):
            raise InvalidJob("params must be a JSON object")
        params = parse_params(data["params"], settings, mission_id)
    except InvalidJob as e:
        e.mission_id = mission_id
        raise
    except (ArithmeticError, ValueError, TypeError, LookupError, RecursionError) as e:
        # A validator missed a hostile value: still the job's fault, never the supervisor's.
        error = InvalidJob(f"params could not be validated: {type(e).__name__}: {str(e)[:200]}")
        error.mission_id = mission_id
        raise error from e
    return Job(mission_id=mission_id, params=params, raw=data)


def _check_content(data: dict) -> None:
    """Refuse deep nesting and strings no store can keep (NUL, lone surrogates, control characters)."""
    stack: list[tuple[Any, str, int]] = [(data, "job", 0)]
    while stack:  # iterative: a hostile depth must not recurse here either
        value, path, depth = stack.pop()
        if depth > MAX_NESTING:
            raise InvalidJob(f"{path} is nested more than {MAX_NESTING} levels deep")
        if isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, f"a key in {path}")
                stack.append((item, f"{path}.{key}" if path != "job" else key, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))
        elif isinstance(value, str):
            _check_text(value, path)


def _check_text(text: str, where: str) -> None:
    if text.isprintable():
        return
    bad = next((c for c in text if c not in "\t\n\r" and unicodedata.category(c) in ("Cc", "Cs")), None)
    if bad is not None:
        raise InvalidJob(f"{where:.200} contains a control or unencodable character (U+{ord(bad):04X})")


def extract_mission_id(data: Any) -> str | None:
    """The canonical mission UUID if the message carries a valid one, else None."""
    value = data.get("mission_id") if isinstance(data, dict) else None
    if isinstance(value, str) and UUID_RE.fullmatch(value):
        return str(uuid.UUID(value))
    return None


def parse_params(p: dict, settings: Settings, mission_id: str) -> MissionParams:
    unknown = sorted(set(p) - PARAM_KEYS)
    if unknown:
        raise InvalidJob(f"unknown params: {', '.join(unknown)} (allowed: see docs/job-contract.md)")
    if "scenarios" in p:
        return parse_scenarios(p, settings, mission_id, parse_params)
    check_conflicts(p)
    from driftline.search.survival import parse_protection
    from driftline.tasking import check_tasking_units, parse_tasking
    from driftline.uncertainty import parse_uncertainty

    model_fields = parse_model_params(p)
    leeway = model_fields["model"] == "leeway"
    start = timestamp(p, "start_time", required=True)
    duration = number(p, "duration_hours", 24.0, low=0, high=settings.max_duration_hours, low_open=True)
    seed_given = p.get("random_seed") is not None
    params = MissionParams(
        latitude=number(p, "latitude", None, -90, 90),
        longitude=number(p, "longitude", None, -180, 180),
        start_time=start,
        duration_hours=duration,
        num_particles=integer(p, "num_particles", 1000, 1, settings.max_particles),
        objects=parse_objects(p.get("object_type", 1)) if leeway else (),
        radius_m=number(p, "radius_m", 1000.0, 0, 500_000),
        random_seed=integer(p, "random_seed", 0, 0, 2**32 - 1) if seed_given else derived_seed(mission_id),
        seed_was_given=seed_given,
        time_step_minutes=number(p, "time_step_minutes", 10.0, 0.5, 180),
        output_step_minutes=number(p, "output_step_minutes", 60.0, 1, 24 * 60),
        wind=parse_wind(p.get("wind"), "wind"),
        current=parse_current(p.get("current"), "current"),
        forcing=parse_forcing_list(p.get("forcing"), "forcing", settings),
        grid_resolution_m=number(p, "grid_resolution_m", None, 1, 100_000) if "grid_resolution_m" in p else None,
        search_area_interval_hours=number(p, "search_area_interval_hours", 6.0, 0.5, 240),
        search_area_times=parse_search_area_times(p, start, duration, p.get("direction", "forward") == "backward"),
        release_end_time=timestamp(p, "release_end_time"),
        end_latitude=number(p, "end_latitude", None, -90, 90) if "end_latitude" in p else None,
        end_longitude=number(p, "end_longitude", None, -180, 180) if "end_longitude" in p else None,
        end_time=timestamp(p, "end_time"),
        end_radius_m=number(p, "end_radius_m", None, 0, 500_000) if "end_radius_m" in p else None,
        area=parse_area(p.get("area"), settings),
        direction=choice(p, "direction", "forward", ("forward", "backward")),
        capsizing=parse_capsizing(p.get("capsizing")),
        jibe_probability_per_hour=number(p, "jibe_probability_per_hour", None, 0, 0.99)
        if "jibe_probability_per_hour" in p
        else None,
        ensemble=parse_ensemble(p.get("ensemble"), settings),
        search=parse_search(p.get("search"), p),
        searches_done=parse_searches_done(p.get("searches_done"), settings),
        water_temperature_c=parse_water_temperature(p),
        drifters=parse_drifters(p.get("drifters")),
        protection=parse_protection(p),
        **parse_uncertainty(p),
        tasking=parse_tasking(p.get("tasking")),
        **model_fields,
    )
    check_run(params)
    check_search_times(params)
    check_drifters_overlap_run(params)
    check_tasking_units(params.tasking, [u.name for u in params.search.units] if params.search else [])
    return params
