"""ProductMeta: the mission context every product writes into its titles and attributes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ProductMeta:
    """Mission context written into titles and attributes of every product."""

    mission_id: str
    direction: str  # "forward" or "backward" (backward = origin probability)
    object_description: str
    start_time: datetime  # tz-aware UTC
    lkp_lat: float
    lkp_lon: float  # last known position (found position for backward runs)
    forcing_description: str
    scenario_description: str
    grid_resolution_m: float | None = None  # overrides the automatic cell size of density.nc (not of the areas)
    search_area_interval_hours: float = 6.0
    search_area_times: tuple[datetime, ...] = ()  # more search-area times (nearest output step)
    density_min_cells: int = 50  # automatic cell size: the plume spans at least this many cells
    software_versions: dict[str, str] = field(default_factory=dict)
    extra_attrs: dict[str, str] = field(default_factory=dict)  # more global attributes for density.nc
    search_plan: dict | None = None  # search_plan.geojson content, drawn on the preview when a plan was asked for
    title: str | None = None  # what drifts, e.g. "Ship 120 m × 20 m adrift - drift forecast"; None: the default
    scenarios: tuple[dict, ...] = ()  # weighted scenarios: name, weight, posterior_weight, particles (scenarios.py)
