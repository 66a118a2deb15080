"""MissionParams: a validated job's parameters after defaults, and their record (summary.json, missions.params)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from config import LeewayObject
from driftline.contract.fields import iso

if TYPE_CHECKING:
    from driftline.contract.drift_model import Ship
    from driftline.contract.drift_objects import ObjectShare
    from driftline.contract.drifters import DrifterTrack
    from driftline.contract.metocean import Current, EnsembleMember, Wind
    from driftline.search.contract import SearchDone, SearchRequest, SearchUnit


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
        record["start_time"] = iso(self.start_time)
        for key in ("release_end_time", "end_time"):
            record[key] = iso(record[key]) if record[key] else None
        record["search_area_times"] = [iso(t) for t in self.search_area_times]
        record["object_type"] = [
            {"type": s.obj.key, "number": s.obj.number, "description": s.obj.description, "weight": s.weight}
            for s in self.objects
        ]
        record.pop("objects")
        record.pop("seed_was_given")
        record.update(search_records(self))
        record["drifters"] = [t.record() for t in self.drifters]
        record["scenarios"] = [s.record() for s in self.scenarios]
        return {k: v for k, v in record.items() if v not in (None, (), [])}


@dataclass(frozen=True)
class Job:
    mission_id: str
    params: MissionParams
    raw: dict = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    """One hypothesis: its name, normalised prior weight, and its seeding as full mission parameters."""

    name: str
    weight: float
    params: MissionParams = field(repr=False)
    given: dict = field(repr=False, default_factory=dict)  # the scenario's own keys as in the job

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "weight": round(self.weight, 9), **self.given}


def _units(params: MissionParams) -> tuple[SearchUnit, ...]:
    return params.search.units if params.search else ()


def search_records(params: MissionParams) -> dict[str, Any]:
    """The search keys of MissionParams.as_record as JSON-ready data."""
    out: dict[str, Any] = {}
    if params.search:
        out["search"] = {
            "units": [
                {**{k: v for k, v in u.__dict__.items() if v is not None}, "commence_time": iso(u.commence_time)}
                for u in _units(params)
            ]
        }
        if params.search.route:
            out["search"]["route"] = {"type": "LineString", "coordinates": [list(c) for c in params.search.route]}
        if params.search.conditions:
            out["search"]["conditions"] = params.search.conditions
    if params.searches_done:
        out["searches_done"] = [
            {k: v for k, v in {**d.__dict__, "start_time": iso(d.start_time), "end_time": iso(d.end_time)}.items()
             if v is not None and v != {} and not (isinstance(v, float) and v != v)}
            for d in params.searches_done
        ]  # fmt: skip
    return out
