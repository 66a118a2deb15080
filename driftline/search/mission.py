"""The search stage of a mission: searches done → survival → plan → files and summary (called by the pipeline)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from driftline.scenarios import latest_entry
from driftline.search.done import apply_searches_done, write_weights
from driftline.search.output import feature_collection, plan_summary, write_geojson, write_kml
from driftline.search.plan import SearchPlan, plan_search
from driftline.search.survival import MODEL_SHORT, beyond_survival, forcing_water_temperature, survival_summary
from driftline.trajectory import Trajectories

if TYPE_CHECKING:
    from driftline.contract.params import MissionParams

FILES = ("search_plan.geojson", "search_plan.kml")


@dataclass
class SearchStage:
    plan: SearchPlan | None = None
    done_report: dict | None = None
    survival: dict | None = None
    fc: dict | None = None  # search_plan.geojson content; None when the job asked for no search
    warnings: list[str] = field(default_factory=list)


def prepare_search(mission_id: str, params: MissionParams, traj: Trajectories, plans: list) -> SearchStage:
    """Apply the searches done to traj.weight, estimate survival, and plan the units (all on the new weights)."""
    stage = SearchStage()
    if params.searches_done:
        stage.done_report = apply_searches_done(traj, params.searches_done, stage.warnings)
    temperature, source = params.water_temperature_c, "job"
    if temperature is None:
        temperature, source = (
            forcing_water_temperature(plans, params.latitude, params.longitude, params.start_time),
            ("forcing sea_water_temperature at the last known position"),
        )
    stage.survival = survival_summary(
        [s.obj.key for s in params.objects], temperature, source, params.start_time,
        entry_latest=latest_entry(params), protection=params.protection,
    )  # fmt: skip
    if params.search:
        stage.plan = plan_search(traj, params.search.units, (params.longitude, params.latitude), params.search.route)
        stage.warnings += [
            f"search unit {u.name} searches until {u.end_time:%Y-%m-%d %H:%M} UTC, after the expected survival time "
            f"of a person in {stage.survival['water_temperature_c']:g} °C water (upper end of its range "
            f"{stage.survival['upper_survival_until']}, {MODEL_SHORT}): a planning estimate, never a reason to end "
            "the search"
            for u in params.search.units
            if beyond_survival(stage.survival, u.end_time)
        ]
    if params.search or params.searches_done:
        stage.fc = feature_collection(mission_id, stage.plan, params.searches_done, stage.done_report, stage.survival)
    return stage


def write_search_files(stage: SearchStage, out_dir: Path, done: Callable[[str, Path], None]) -> None:
    if stage.fc is None:
        return
    done(FILES[0], write_geojson(out_dir / FILES[0], stage.fc))
    done(FILES[1], write_kml(out_dir / FILES[1], stage.fc))


def write_particle_weights(path: Path, traj: Trajectories) -> None:
    """particles.nc gets `weight(trajectory)` when searches done changed the weights."""
    if traj.weight is not None:
        write_weights(path, traj.weight)


def search_summary(stage: SearchStage) -> dict:
    """summary.json keys: survival always, search_plan and searches_done when asked for."""
    out: dict = {"survival": stage.survival}
    if stage.plan is not None:
        out["search_plan"] = plan_summary(stage.plan, stage.survival)
    if stage.done_report is not None:
        out["searches_done"] = stage.done_report
    return out
