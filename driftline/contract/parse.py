"""Job parsing and validation: the producer contract, checked before anything runs.

Pure logic, no services. Every rejection raises `InvalidJob` with one line that
names the offending key, and carries the mission id when one could be read so
that the mission can still be marked failed.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from config import LeewayObject, Settings, leeway_object, leeway_objects
from driftline.errors import InvalidJob
from driftline.scenarios import parse_scenarios, scenario_records
from driftline.search.contract import (
    SearchDone,
    SearchRequest,
    check_search_times,
    parse_search,
    parse_searches_done,
    parse_water_temperature,
    search_records,
)

if TYPE_CHECKING:
    from driftline.drifters import DrifterTrack
    from driftline.models import Ship
    from driftline.scenarios import Scenario

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
PARAM_KEYS |= {"model", "ship", "wind_drift_factor", "horizontal_diffusivity_m2s", "drifters"}  # driftline/models.py
PARAM_KEYS |= {"protection"}  # driftline/search/survival.py
PARAM_KEYS |= {"current_uncertainty_ms", "wind_uncertainty_ms"}  # driftline/uncertainty.py
PARAM_KEYS |= {"scenarios"}  # driftline/scenarios.py
PARAM_KEYS |= {"tasking"}  # SAP blanks (co-ordinators, channels, POB): driftline/tasking.py
MAX_SEARCH_AREA_TIMES = 50
CONFLICTS = [
    ({"area"}, {"end_latitude", "end_longitude", "end_time", "end_radius_m"}),
    ({"area"}, {"radius_m"}),
    ({"ensemble"}, {"forcing", "wind", "current"}),
    ({"release_end_time"}, {"end_time"}),  # both would set the seeding time span of a track
]


@dataclass(frozen=True)
class Wind:
    speed_ms: float
    from_deg: float  # meteorological: direction the wind blows FROM, clockwise from north

    @property
    def components(self) -> tuple[float, float]:
        """(eastward, northward) m/s: a wind from 270 (westerly) blows towards +x."""
        rad = math.radians(self.from_deg)
        return -self.speed_ms * math.sin(rad), -self.speed_ms * math.cos(rad)


@dataclass(frozen=True)
class Current:
    speed_ms: float
    to_deg: float  # oceanographic: direction the water flows TOWARDS

    @property
    def components(self) -> tuple[float, float]:
        rad = math.radians(self.to_deg)
        return self.speed_ms * math.sin(rad), self.speed_ms * math.cos(rad)


@dataclass(frozen=True)
class ObjectShare:
    obj: LeewayObject
    weight: float


@dataclass(frozen=True)
class EnsembleMember:
    forcing: tuple[str, ...] = ()
    wind: Wind | None = None
    current: Current | None = None


@dataclass(frozen=True)
class MissionParams:
    latitude: float
    longitude: float
    start_time: datetime
    duration_hours: float = 24.0
    num_particles: int = 1000
    objects: tuple[ObjectShare, ...] = ()
    radius_m: float = 1000.0
    random_seed: int = 0
    seed_was_given: bool = False
    time_step_minutes: float = 10.0
    output_step_minutes: float = 60.0
    wind: Wind | None = None
    current: Current | None = None
    forcing: tuple[str, ...] = ()
    grid_resolution_m: float | None = None
    search_area_interval_hours: float = 6.0
    search_area_times: tuple[datetime, ...] = ()
    release_end_time: datetime | None = None
    end_latitude: float | None = None
    end_longitude: float | None = None
    end_time: datetime | None = None
    end_radius_m: float | None = None
    area: dict | None = None
    direction: str = "forward"
    capsizing: dict | None = None
    jibe_probability_per_hour: float | None = None
    ensemble: tuple[EnsembleMember, ...] = ()
    search: SearchRequest | None = None
    searches_done: tuple[SearchDone, ...] = ()
    water_temperature_c: float | None = None
    model: str = "leeway"  # driftline/models.py: leeway, shipdrift, oceandrift
    ship: Ship | None = None
    wind_drift_factor: float | None = None
    horizontal_diffusivity_m2s: float | None = None
    drifters: tuple[DrifterTrack, ...] = ()
    protection: str | None = None  # survival: survival_suit, lifejacket, light_clothing (driftline/search/survival.py)
    current_uncertainty_ms: float = 0.0  # forcing errors (driftline/uncertainty.py); the job's default is not 0
    wind_uncertainty_ms: float = 0.0
    scenarios: tuple[Scenario, ...] = ()  # weighted scenarios, each with its own seeding (driftline/scenarios.py)
    tasking: dict | None = None

    @property
    def backward(self) -> bool:
        return self.direction == "backward"

    @property
    def end_of_run(self) -> datetime:
        sign = -1 if self.backward else 1
        return self.start_time + sign * timedelta(hours=self.duration_hours)

    @property
    def primary_object(self) -> LeewayObject:
        return max(self.objects, key=lambda share: share.weight).obj

    def as_record(self) -> dict[str, Any]:
        """The parameters after defaults, as JSON-ready data (summary.json, missions.params)."""
        record = asdict(self)
        record["start_time"] = _iso(self.start_time)
        for key in ("release_end_time", "end_time"):
            record[key] = _iso(record[key]) if record[key] else None
        record["search_area_times"] = [_iso(t) for t in self.search_area_times]
        record["object_type"] = [
            {"type": s.obj.key, "number": s.obj.number, "description": s.obj.description, "weight": s.weight}
            for s in self.objects
        ]
        record.pop("objects")
        record.pop("seed_was_given")
        record.update(search_records(self))
        record["drifters"] = [t.record() for t in self.drifters]
        record["scenarios"] = scenario_records(self)
        return {k: v for k, v in record.items() if v not in (None, (), [])}


@dataclass(frozen=True)
class Job:
    mission_id: str
    params: MissionParams
    raw: dict = field(repr=False, default_factory=dict)


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
    _check_conflicts(p)
    from driftline.drifters import check_drifters_overlap_run, parse_drifters
    from driftline.models import parse_model_params
    from driftline.search.survival import parse_protection
    from driftline.tasking import check_tasking_units, parse_tasking
    from driftline.uncertainty import parse_uncertainty

    model_fields = parse_model_params(p, _num)
    leeway = model_fields["model"] == "leeway"
    start = _time(p, "start_time", required=True)
    duration = _num(p, "duration_hours", 24.0, low=0, high=settings.max_duration_hours, low_open=True)
    seed_given = p.get("random_seed") is not None
    params = MissionParams(
        latitude=_num(p, "latitude", None, -90, 90),
        longitude=_num(p, "longitude", None, -180, 180),
        start_time=start,
        duration_hours=duration,
        num_particles=_int(p, "num_particles", 1000, 1, settings.max_particles),
        objects=_objects(p.get("object_type", 1)) if leeway else (),
        radius_m=_num(p, "radius_m", 1000.0, 0, 500_000),
        random_seed=_int(p, "random_seed", 0, 0, 2**32 - 1) if seed_given else uuid.UUID(mission_id).int % 2**32,
        seed_was_given=seed_given,
        time_step_minutes=_num(p, "time_step_minutes", 10.0, 0.5, 180),
        output_step_minutes=_num(p, "output_step_minutes", 60.0, 1, 24 * 60),
        wind=_wind(p.get("wind"), "wind"),
        current=_current(p.get("current"), "current"),
        forcing=_forcing_list(p.get("forcing"), "forcing", settings),
        grid_resolution_m=_num(p, "grid_resolution_m", None, 1, 100_000) if "grid_resolution_m" in p else None,
        search_area_interval_hours=_num(p, "search_area_interval_hours", 6.0, 0.5, 240),
        search_area_times=_search_area_times(p, start, duration, p.get("direction", "forward") == "backward"),
        release_end_time=_time(p, "release_end_time"),
        end_latitude=_num(p, "end_latitude", None, -90, 90) if "end_latitude" in p else None,
        end_longitude=_num(p, "end_longitude", None, -180, 180) if "end_longitude" in p else None,
        end_time=_time(p, "end_time"),
        end_radius_m=_num(p, "end_radius_m", None, 0, 500_000) if "end_radius_m" in p else None,
        area=_area(p.get("area"), settings),
        direction=_choice(p, "direction", "forward", ("forward", "backward")),
        capsizing=_capsizing(p.get("capsizing")),
        jibe_probability_per_hour=_num(p, "jibe_probability_per_hour", None, 0, 0.99)
        if "jibe_probability_per_hour" in p
        else None,
        ensemble=_ensemble(p.get("ensemble"), settings),
        search=parse_search(p.get("search"), p),
        searches_done=parse_searches_done(p.get("searches_done"), settings),
        water_temperature_c=parse_water_temperature(p),
        drifters=parse_drifters(p.get("drifters"), _num, _time),
        protection=parse_protection(p),
        **parse_uncertainty(p, _num),
        tasking=parse_tasking(p.get("tasking")),
        **model_fields,
    )
    _check_scenario(params)
    check_search_times(params)
    check_drifters_overlap_run(params)
    check_tasking_units(params.tasking, [u.name for u in params.search.units] if params.search else [])
    return params


def _check_conflicts(p: dict) -> None:
    for left, right in CONFLICTS:
        a, b = sorted(left & p.keys()), sorted(right & p.keys())
        if a and b:
            raise InvalidJob(f"conflicting params: {', '.join(a)} cannot be combined with {', '.join(b)}")


def _check_scenario(params: MissionParams) -> None:
    step, out = params.time_step_minutes, params.output_step_minutes
    if abs(out / step - round(out / step)) > 1e-9:
        raise InvalidJob(f"output_step_minutes ({out:g}) must be a multiple of time_step_minutes ({step:g})")
    if params.duration_hours * 60 < out:
        raise InvalidJob(f"duration_hours ({params.duration_hours:g}) is shorter than one output step")
    if (params.end_latitude is None) != (params.end_longitude is None):
        raise InvalidJob("end_latitude and end_longitude must be given together")
    has_track = params.end_latitude is not None
    if (params.end_time or params.end_radius_m is not None) and not has_track:
        raise InvalidJob("end_time and end_radius_m need end_latitude and end_longitude")
    sign = -1 if params.backward else 1
    for key in ("release_end_time", "end_time"):
        value = getattr(params, key)
        if value is None:
            continue
        offset_h = sign * (value - params.start_time).total_seconds() / 3600
        if offset_h <= 0:
            word = "before" if params.backward else "after"
            raise InvalidJob(f"{key} must be {word} start_time")
        if offset_h >= params.duration_hours:
            raise InvalidJob(f"{key} must fall within duration_hours of start_time")
    if params.backward and params.capsizing is not None:
        raise InvalidJob("capsizing cannot be used with direction 'backward' (capsizing is not reversible)")
    if params.backward and params.jibe_probability_per_hour is not None:
        raise InvalidJob("jibe_probability_per_hour cannot be used with direction 'backward'")
    if params.capsizing is not None and not any(can_capsize(s.obj) for s in params.objects):
        raise InvalidJob("capsizing applies to life rafts only: object_type has no LIFE-RAFT type that can capsize")
    if params.ensemble and params.num_particles < len(params.ensemble):
        raise InvalidJob("num_particles must be at least the number of ensemble members")


def can_capsize(obj: LeewayObject) -> bool:
    """Life rafts that are upright: OpenDrift's capsizing process applies to them (and only them)."""
    return obj.key.startswith("LIFE-RAFT") and "capsized" not in obj.description.lower()


def _num(p: dict, key: str, default, low: float, high: float, low_open: bool = False) -> float:
    value = p.get(key, default)
    if value is None:
        if default is not None:
            return default
        raise InvalidJob(f"{key} must be a number, got null" if key in p else f"{key} is required")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidJob(f"{key} must be a number, got {type(value).__name__}")
    try:
        value = float(value)
    except OverflowError:
        digits = len(str(abs(value)))
        raise InvalidJob(f"{key} must be between {low:g} and {high:g}, got an integer of {digits} digits") from None
    if not math.isfinite(value):
        raise InvalidJob(f"{key} must be a finite number")
    if value < low or value > high or (low_open and value == low):
        bound = f"greater than {low:g} and at most {high:g}" if low_open else f"between {low:g} and {high:g}"
        raise InvalidJob(f"{key} must be {bound}, got {value:g}")
    return value


def _int(p: dict, key: str, default: int, low: int, high: int) -> int:
    value = p.get(key, default)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidJob(f"{key} must be an integer, got {value!r}")
    if not low <= value <= high:
        shown = value if abs(value) < 10**30 else f"an integer of {len(str(abs(value)))} digits"
        raise InvalidJob(f"{key} must be between {low} and {high}, got {shown}")
    return value


def _time(p: dict, key: str, required: bool = False) -> datetime | None:
    value = p.get(key)
    if value is None:
        if required:
            raise InvalidJob(f"{key} is required (ISO 8601, e.g. 2024-01-01T12:00:00Z)")
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise InvalidJob(f"{key} must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z").replace("Z", "+00:00"))
    except ValueError as e:
        raise InvalidJob(f"{key} is not an ISO 8601 time: {value!r}") from e
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00 leaves datetime's range in UTC
        parsed = datetime.min.replace(tzinfo=UTC)
    if not 1950 <= parsed.year <= 2100:
        raise InvalidJob(f"{key} is outside the years 1950-2100: {value!r}")
    return parsed


def _search_area_times(p: dict, start: datetime, duration_h: float, backward: bool) -> tuple[datetime, ...]:
    """Extra search-area times: a list of up to MAX_SEARCH_AREA_TIMES ISO times within the run, sorted."""
    value = p.get("search_area_times")
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_SEARCH_AREA_TIMES:
        raise InvalidJob(f"search_area_times must be a list of at most {MAX_SEARCH_AREA_TIMES} ISO 8601 times")
    end = start + (-1 if backward else 1) * timedelta(hours=duration_h)
    lo, hi = min(start, end), max(start, end)
    times = set()
    for i, item in enumerate(value):
        t = _time({f"search_area_times[{i}]": item}, f"search_area_times[{i}]", required=True)
        if not lo <= t <= hi:
            raise InvalidJob(f"search_area_times[{i}] {_iso(t)} is outside the run ({_iso(lo)} to {_iso(hi)})")
        times.add(t)
    return tuple(sorted(times))


def _choice(p: dict, key: str, default: str, choices: tuple[str, ...]) -> str:
    value = p.get(key, default)
    if value not in choices:
        raise InvalidJob(f"{key} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _object(ref: Any, key: str = "object_type") -> LeewayObject:
    if isinstance(ref, float) and ref.is_integer():
        ref = int(ref)
    if not isinstance(ref, (int, str)) or isinstance(ref, bool):
        raise InvalidJob(f"{key} must be an integer 1..{len(leeway_objects())} or a Leeway key")
    try:
        return leeway_object(ref)
    except KeyError:
        raise InvalidJob(
            f"unknown {key} {ref!r}: use 1..{len(leeway_objects())} or a Leeway key such as 'LIFE-RAFT-NB-1'"
        ) from None


def _objects(value: Any) -> tuple[ObjectShare, ...]:
    if not isinstance(value, list):
        return (ObjectShare(_object(value), 1.0),)
    if not 1 <= len(value) <= 10:
        raise InvalidJob("object_type list must have 1 to 10 entries")
    shares = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or set(item) - {"type", "weight"} or "type" not in item:
            raise InvalidJob(f"object_type[{i}] must be an object with 'type' and 'weight'")
        weight = _num(item, "weight", 1.0, 0, 1e6, low_open=True)
        shares.append((_object(item["type"], f"object_type[{i}].type"), weight))
    keys = [obj.key for obj, _ in shares]
    if len(set(keys)) != len(keys):
        raise InvalidJob("object_type list names the same type twice")
    total = sum(w for _, w in shares)
    return tuple(ObjectShare(obj, w / total) for obj, w in shares)


def _vector(value: Any, key: str, direction_key: str, max_speed: float) -> tuple[float, float] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidJob(f"{key} must be an object with speed_ms and {direction_key}")
    unknown = set(value) - {"speed_ms", direction_key}
    if unknown:
        raise InvalidJob(f"unknown {key} keys: {', '.join(sorted(unknown))}")
    if "speed_ms" not in value or direction_key not in value:
        raise InvalidJob(f"{key} needs speed_ms and {direction_key}")
    speed = _num(value, "speed_ms", None, 0, max_speed)
    direction = _num(value, direction_key, None, -360, 360)
    return speed, direction % 360


def _wind(value: Any, key: str) -> Wind | None:
    v = _vector(value, key, "from_deg", 60)
    return Wind(*v) if v else None


def _current(value: Any, key: str) -> Current | None:
    v = _vector(value, key, "to_deg", 10)
    return Current(*v) if v else None


def _forcing_list(value: Any, key: str, settings: Settings) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not 1 <= len(value) <= 10:
        raise InvalidJob(f"{key} must be a list of 1 to 10 s3:// URIs")
    from driftline.forcing import check_forcing_uri  # local: forcing imports heavier modules

    return tuple(check_forcing_uri(uri, settings) for uri in value)


def _area(value: Any, settings: Settings) -> dict | None:
    if value is None:
        return None
    from driftline.geodesy import validate_area

    return validate_area(value, settings.max_area_km2)


def _capsizing(value: Any) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidJob("capsizing must be an object")
    unknown = set(value) - {"wind_threshold_ms", "wind_threshold_sigma_ms", "leeway_fraction"}
    if unknown:
        raise InvalidJob(f"unknown capsizing keys: {', '.join(sorted(unknown))}")
    return {
        # Bounds are OpenDrift's own config limits (capsizing:wind_threshold, capsizing:wind_threshold_sigma).
        "wind_threshold_ms": _num(value, "wind_threshold_ms", 30.0, 0, 50),
        "wind_threshold_sigma_ms": _num(value, "wind_threshold_sigma_ms", 5.0, 0, 20, low_open=True),
        "leeway_fraction": _num(value, "leeway_fraction", 0.4, 0, 1),
    }


def _ensemble(value: Any, settings: Settings) -> tuple[EnsembleMember, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not 2 <= len(value) <= 20:
        raise InvalidJob("ensemble must be a list of 2 to 20 members")
    members = []
    for i, m in enumerate(value):
        if not isinstance(m, dict) or not m or set(m) - {"forcing", "wind", "current"}:
            raise InvalidJob(f"ensemble[{i}] must be an object with forcing, wind and/or current")
        members.append(
            EnsembleMember(
                forcing=_forcing_list(m.get("forcing"), f"ensemble[{i}].forcing", settings),
                wind=_wind(m.get("wind"), f"ensemble[{i}].wind"),
                current=_current(m.get("current"), f"ensemble[{i}].current"),
            )
        )
    return tuple(members)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
