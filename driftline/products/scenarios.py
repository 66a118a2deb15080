"""Per-scenario products of a weighted-scenario mission: centre, 90 % area and share of each scenario over time.

The combined products (density, search areas, plan) already weigh every particle by its scenario (traj.weight);
these keep each scenario visible: `density.nc` variables on (scenario, time), `summary.json` `scenarios`, and a
90 % area polygon and centre per scenario at every search-area time (the times of the combined 50/90/95 % areas:
every `search_area_interval_hours`, the asked times and the final time) in search_area.geojson / .kml.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import netCDF4
import numpy as np
import shapely

from driftline.geodesy import NM2_PER_KM2, normalise_lon, position
from driftline.products.areas import iso
from driftline.products.hdr import LandFn, highest_density_regions
from driftline.trajectory import ACTIVE, Trajectories

LEVEL = 0.9


@dataclass
class ScenarioStats:
    """(S, T) centre of the floating and stranded probability, 90 % floating area and share present, per scenario."""

    rows: list[dict]  # name, weight, posterior_weight, particles (driftline.scenarios.scenario_weights)
    centre_lat: np.ndarray
    centre_lon: np.ndarray
    area_90_km2: np.ndarray
    share: np.ndarray  # share of the total probability present (floating or stranded) from the scenario
    final: list[dict] = field(default_factory=list)  # per scenario at the last time: region, datum (lat, lon)
    regions: dict[int, list[dict]] = field(default_factory=dict)  # time index -> per scenario region, datum

    @property
    def names(self) -> list[str]:
        return [r["name"] for r in self.rows]


def scenario_stats(
    traj: Trajectories, area_times: list[int], land_fn: LandFn | None, rows: tuple[dict, ...] | list[dict]
) -> ScenarioStats | None:
    """Every scenario's centre and share at every time, its 90 % area at `area_times` and the final time."""
    if not rows or traj.scenario is None:
        return None
    ns, nt = len(rows), traj.num_times
    shape = (ns, nt)
    stats = ScenarioStats(list(rows), *(np.full(shape, np.nan) for _ in range(3)), np.zeros(shape))
    w = traj.shares()
    wanted = set(area_times) | {nt - 1}
    for t in range(nt):
        present = traj.present(t)
        for k in range(ns):
            sel = present & (traj.scenario == k)
            stats.share[k, t] = w[sel].sum()
            if not sel.any() or w[sel].sum() <= 0:
                continue
            stats.centre_lat[k, t] = np.average(traj.lat[sel, t], weights=w[sel])
            lon = traj.lon[sel, t]
            stats.centre_lon[k, t] = normalise_lon(
                np.average(lon[0] + (lon - lon[0] + 180) % 360 - 180, weights=w[sel])
            )
            if t in wanted:
                floating = sel & (traj.state[:, t] == ACTIVE)
                reg = highest_density_regions(
                    traj.lon[floating, t], traj.lat[floating, t], w[floating], (LEVEL,), land_fn
                )
                stats.area_90_km2[k, t] = reg.area_km2[0] if reg.area_km2 else np.nan
                stats.regions.setdefault(t, [{"region": None, "datum": None} for _ in range(ns)])[k] = {
                    "region": reg.polygons[0] if reg.polygons else None, "datum": reg.datum,
                }  # fmt: skip
    stats.final = stats.regions.get(nt - 1) or [{"region": None, "datum": None} for _ in range(ns)]
    return stats


def summary_rows(stats: ScenarioStats, times: np.ndarray) -> list[dict]:
    """summary.json `scenarios`: weights (prior, posterior), particles, and the final centre, 90 % area and share."""
    out = []
    for k, row in enumerate(stats.rows):
        lat, lon = stats.centre_lat[k, -1], stats.centre_lon[k, -1]
        area = stats.area_90_km2[k, -1]
        out.append({
            **row,
            "time": iso(times[-1]),
            "centre": position(lat, lon) if np.isfinite(lat) else None,
            "area_90_km2": round(float(area), 4) if np.isfinite(area) else None,
            "area_90_nm2": round(float(area) * NM2_PER_KM2, 4) if np.isfinite(area) else None,
            "share_present": round(float(stats.share[k, -1]), 6),
        })  # fmt: skip
    return out


def features(stats: ScenarioStats | None, times: np.ndarray, direction: str) -> list[dict]:
    """GeoJSON features: each scenario's 90 % area and centre at every search-area time, with weights and share."""
    if stats is None:
        return []
    out = []
    for t in sorted(stats.regions):
        for k in range(len(stats.rows)):
            out += _time_features(stats, k, t, iso(times[t]), direction)
    return out


def _time_features(stats: ScenarioStats, k: int, t: int, when: str, direction: str) -> list[dict]:
    """Scenario k's 90 % area (when it has one) and centre at output t."""
    from driftline.products.geojson import feature

    row, here = stats.rows[k], stats.regions[t][k]
    if here["datum"] is None:
        return []
    lat, lon = here["datum"]
    common = {
        "scenario": row["name"], "weight": row["weight"], "posterior_weight": row["posterior_weight"],
        "share": row["posterior_weight"], "share_present": round(float(stats.share[k, t]), 6), "time": when,
        "direction": direction, **position(lat, lon),
    }  # fmt: skip
    out = []
    area = stats.area_90_km2[k, t]
    if here["region"] is not None and not here["region"].is_empty:
        out.append(feature(here["region"], kind="scenario_area", name=f"Scenario {row['name']}: 90 % area {when}",
                           probability=LEVEL, area_km2=round(float(area), 4),
                           area_nm2=round(float(area) * NM2_PER_KM2, 4), **common))  # fmt: skip
    out.append(feature(shapely.Point(lon, lat), kind="scenario_centre", name=f"Scenario {row['name']}: centre {when}",
                       **common))  # fmt: skip
    return out


def write_density_variables(path: Path, stats: ScenarioStats) -> None:
    """density.nc: scenario_name, scenario_weight, scenario_posterior_weight on (scenario) and the centre, 90 % area
    and share present on (scenario, time)."""
    with netCDF4.Dataset(path, "a") as nc:
        nc.createDimension("scenario", len(stats.rows))
        names = nc.createVariable("scenario_name", str, ("scenario",))
        names.long_name = "scenario name"
        names[:] = np.array(stats.names, dtype=object)
        for name, key, long_name in (
            ("scenario_weight", "weight", "prior weight of the scenario (normalised)"),
            ("scenario_posterior_weight", "posterior_weight", "weight of the scenario after the searches done"),
        ):
            v = nc.createVariable(name, "f8", ("scenario",))
            v.long_name, v.units, v.coordinates = long_name, "1", "scenario_name"
            v[:] = [r[key] for r in stats.rows]
        for name, data, long_name, units in (
            ("scenario_centre_lat", stats.centre_lat, "weighted centre latitude of scenario", "degrees_north"),
            ("scenario_centre_lon", stats.centre_lon, "weighted centre longitude of scenario", "degrees_east"),
            ("scenario_area_90_km2", stats.area_90_km2, "area of the smallest region holding 90 % of scenario", "km2"),
            ("scenario_share", stats.share, "share of the total probability present from the scenario", "1"),
        ):  # fmt: skip
            v = nc.createVariable(name, "f8", ("scenario", "time"), zlib=True, fill_value=np.nan)
            v.long_name, v.units, v.coordinates = long_name, units, "scenario_name"
            if name == "scenario_area_90_km2":
                v.comment = "computed at the search-area times and the final time (floating particles)"
            v[:] = data


def write_particle_scenarios(path: Path, traj: Trajectories, names: list[str]) -> None:
    """particles.nc: `scenario(trajectory)`, the index of each particle's scenario (flag meanings: the names)."""
    if traj.scenario is None:
        return
    with netCDF4.Dataset(path, "a") as nc:
        v = nc.createVariable("scenario", "i2", ("trajectory",), zlib=True)
        v.long_name = "scenario of the particle"
        v.flag_values = np.arange(len(names), dtype=np.int16)
        v.flag_meanings = " ".join(n.replace(" ", "_") for n in names)
        v[:] = traj.scenario
