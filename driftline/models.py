"""Which OpenDrift model drifts the mission: Leeway (default), ShipDrift or OceanDrift.

`leeway` is OpenDrift's Leeway with its object table; `shipdrift` a ship without propulsion (OpenDrift's
ShipDrift, from its length, beam, height and draft); `oceandrift` an object that follows the water with a
known windage (OpenDrift's OceanDrift, `wind_drift_factor`). Validation is pure (the supervisor checks
jobs without importing OpenDrift); the OpenDrift side (class, configuration, seed properties) is imported
lazily by the simulation, and the descriptions feed titles, attributes and summary.json.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from driftline.contract.params import MissionParams

OPENDRIFT_CLASSES = {
    "leeway": ("opendrift.models.leeway", "Leeway"),
    "shipdrift": ("opendrift.models.shipdrift", "ShipDrift"),
    "oceandrift": ("opendrift.models.oceandrift", "OceanDrift"),
}
SHIP_DRAFT_TO_LENGTH = (0.025, 0.07)
SHIP_BEAM_TO_LENGTH = (0.12, 0.18)


def ship_warnings(params: MissionParams) -> list[str]:
    """One line per ship proportion outside ShipDrift's table: OpenDrift uses the border value there (so do we)."""
    ship = params.ship if params.model == "shipdrift" else None
    if ship is None:
        return []
    out = []
    for name, value, (low, high) in (
        ("draft_m / length_m", ship.draft_m / ship.length_m, SHIP_DRAFT_TO_LENGTH),
        ("beam_m / length_m", ship.beam_m / ship.length_m, SHIP_BEAM_TO_LENGTH),
    ):
        if not low <= value <= high:
            border = min(max(value, low), high)
            out.append(
                f"ship {name} is {value:.3f}, outside OpenDrift ShipDrift's table ({low:g}..{high:g}): "
                f"its forces use the border value {border:g}, as OpenDrift does"
            )
    return out


# ---------------------------------------------------------------- OpenDrift side


def opendrift_class(params: MissionParams) -> type:
    """The OpenDrift model class of the mission (imported on first use)."""
    module, name = OPENDRIFT_CLASSES[params.model]
    return getattr(importlib.import_module(module), name)


def configure(model, params: MissionParams) -> None:
    """The mission's model-specific OpenDrift configuration (after forcing and coastline)."""
    if params.capsizing:
        model.set_config("processes:capsizing", True)
        model.set_config("capsizing:wind_threshold", params.capsizing["wind_threshold_ms"])
        model.set_config("capsizing:wind_threshold_sigma", params.capsizing["wind_threshold_sigma_ms"])
        model.set_config("capsizing:leeway_fraction", params.capsizing["leeway_fraction"])
    if params.jibe_probability_per_hour is not None:
        model.set_config("seed:jibe_probability", params.jibe_probability_per_hour)
    if params.horizontal_diffusivity_m2s is not None:
        model.set_config("environment:fallback:horizontal_diffusivity", params.horizontal_diffusivity_m2s)


def seed_properties(params: MissionParams) -> dict[str, float]:
    """Element properties of a non-Leeway model's particles (Leeway's come from its object types)."""
    if params.model == "shipdrift":
        return params.ship.seed_properties()
    if params.model == "oceandrift":
        return {"wind_drift_factor": params.wind_drift_factor}
    raise ValueError(f"model {params.model!r} is seeded by object type")


# ---------------------------------------------------------------- descriptions


def what_drifts(params: MissionParams) -> str | None:
    """The drifting object in words for non-Leeway models (Leeway describes its object types itself)."""
    if params.model == "shipdrift":
        return params.ship.describe()
    if params.model == "oceandrift":
        text = f"Water-following object, wind drift factor {params.wind_drift_factor:.1%}"
        if params.horizontal_diffusivity_m2s is not None:
            text += f", horizontal diffusivity {params.horizontal_diffusivity_m2s:g} m²/s"
        return text
    return None


def product_title(params: MissionParams) -> str | None:
    """What products say drifts ('Ship 120 m × 20 m adrift - drift forecast'); None keeps the Leeway default."""
    subject = {
        "shipdrift": f"{params.ship.label} adrift" if params.ship else "",
        "oceandrift": "Water-following object",
    }
    if params.backward:
        what = "origin probability" if params.model in subject else "origin probability (backward run)"
    else:
        what = "forecast" if params.drifters else "drift forecast"
    if params.drifters:
        what = "drifter-corrected " + what
    if params.model in subject:
        return f"{subject[params.model]} - {what}"
    return what[0].upper() + what[1:] if params.drifters else None


def model_record(params: MissionParams) -> dict[str, Any]:
    """The model and its parameters, for summary.json (`model`)."""
    record: dict[str, Any] = {"name": params.model, "opendrift_class": OPENDRIFT_CLASSES[params.model][1]}
    if params.model == "shipdrift":
        record["ship"] = vars(params.ship).copy()
    elif params.model == "oceandrift":
        record["wind_drift_factor"] = params.wind_drift_factor
        if params.horizontal_diffusivity_m2s is not None:
            record["horizontal_diffusivity_m2s"] = params.horizontal_diffusivity_m2s
    else:
        record["object_types"] = [s.obj.key for s in params.objects]
    return record


def model_attrs(params: MissionParams) -> dict[str, str]:
    """NetCDF global attributes naming the model and its parameters."""
    record = model_record(params)
    details = "; ".join(f"{k}={_text(v)}" for k, v in record.items() if k not in ("name", "opendrift_class"))
    return {
        "driftline_model": params.model,
        "driftline_opendrift_model": record["opendrift_class"],
        "driftline_model_parameters": details or "none",
    }


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)
