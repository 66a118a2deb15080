"""Which OpenDrift model drifts the mission: Leeway (default), ShipDrift or OceanDrift.

`leeway` is OpenDrift's Leeway with its object table; `shipdrift` a ship without propulsion (OpenDrift's
ShipDrift, from its length, beam, height and draft); `oceandrift` an object that follows the water with a
known windage (OpenDrift's OceanDrift, `wind_drift_factor`). Validation is pure (the supervisor checks
jobs without importing OpenDrift); the OpenDrift side (class, configuration, seed properties) is imported
lazily by the simulation, and the descriptions feed titles, attributes and summary.json.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from driftline.errors import InvalidJob

if TYPE_CHECKING:
    from driftline.jobs import MissionParams

MODELS = ("leeway", "shipdrift", "oceandrift")
OPENDRIFT_CLASSES = {
    "leeway": ("opendrift.models.leeway", "Leeway"),
    "shipdrift": ("opendrift.models.shipdrift", "ShipDrift"),
    "oceandrift": ("opendrift.models.oceandrift", "OceanDrift"),
}
# Job keys each model owns: with another model they are refused by name.
MODEL_KEYS = {
    "leeway": ("object_type", "capsizing", "jibe_probability_per_hour"),
    "shipdrift": ("ship",),
    "oceandrift": ("wind_drift_factor", "horizontal_diffusivity_m2s"),
}
# OpenDrift ShipDrift's limits: ShipObject's min/max per dimension, and the draft/length and beam/length
# ranges of its wave-force table. Outside the table ShipDrift warns and uses the border value (seed_elements
# for the water drag, update for the wave force), so such ships run, clipped the same way, with a warning
# in the mission's `warnings` (ship_warnings). tests check them against the installed OpenDrift.
SHIP_LIMITS_M = {"length_m": (1.0, 500.0), "beam_m": (1.0, 70.0), "height_m": (1.0, 100.0), "draft_m": (1.0, 30.0)}
SHIP_OPENDRIFT_NAMES = {"length_m": "length", "beam_m": "beam", "height_m": "height", "draft_m": "draft"}
SHIP_DRAFT_TO_LENGTH = (0.025, 0.07)
SHIP_BEAM_TO_LENGTH = (0.12, 0.18)
WIND_DRIFT_FACTOR_RANGE = (0.0, 0.1)
WIND_DRIFT_FACTOR_DEFAULT = 0.02  # OpenDrift OceanDrift's own default
HORIZONTAL_DIFFUSIVITY_MAX_M2S = 1000.0


@dataclass(frozen=True)
class Ship:
    """A ship adrift, in OpenDrift ShipDrift's terms; height is the total height above and below the waterline."""

    length_m: float
    beam_m: float
    height_m: float
    draft_m: float

    @property
    def label(self) -> str:
        return f"Ship {self.length_m:g} m × {self.beam_m:g} m"

    def describe(self) -> str:
        return f"{self.label} adrift, {self.height_m:g} m high, {self.draft_m:g} m draft"

    def seed_properties(self) -> dict[str, float]:
        return {SHIP_OPENDRIFT_NAMES[k]: v for k, v in vars(self).items()}


def parse_model_params(p: dict, num) -> dict[str, Any]:
    """The model fields of MissionParams from job params; `num` is jobs' number validator (names the key)."""
    model = p.get("model", "leeway")
    if model not in MODELS:
        raise InvalidJob(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    for owner, keys in MODEL_KEYS.items():
        for key in keys:
            if owner != model and key in p:
                raise InvalidJob(f"{key} belongs to model {owner!r} and cannot be used with model {model!r}")
    fields: dict[str, Any] = {"model": model}
    if model == "shipdrift":
        fields["ship"] = parse_ship(p.get("ship"), num)
    elif model == "oceandrift":
        fields["wind_drift_factor"] = num(p, "wind_drift_factor", WIND_DRIFT_FACTOR_DEFAULT, *WIND_DRIFT_FACTOR_RANGE)
        if "horizontal_diffusivity_m2s" in p:
            fields["horizontal_diffusivity_m2s"] = num(
                p, "horizontal_diffusivity_m2s", None, 0, HORIZONTAL_DIFFUSIVITY_MAX_M2S
            )
    return fields


def parse_ship(value: Any, num) -> Ship:
    """A Ship within the dimensions and proportions OpenDrift's ShipDrift supports; InvalidJob naming the key."""
    if not isinstance(value, dict):
        raise InvalidJob("ship is required with model 'shipdrift': {length_m, beam_m, height_m, draft_m}")
    unknown, missing = set(value) - set(SHIP_LIMITS_M), set(SHIP_LIMITS_M) - set(value)
    if unknown:
        raise InvalidJob(f"unknown ship keys: {', '.join(sorted(unknown))}")
    if missing:
        raise InvalidJob(f"ship needs {', '.join(k for k in SHIP_LIMITS_M if k in missing)}")
    dims = {}
    for key, (low, high) in SHIP_LIMITS_M.items():
        try:
            dims[key] = num(value, key, None, low, high)
        except InvalidJob as e:
            raise InvalidJob(f"ship.{e}") from None
    ship = Ship(**dims)
    if ship.height_m <= ship.draft_m:
        raise InvalidJob(f"ship.height_m ({ship.height_m:g}) is the total height and must exceed draft_m")
    return ship


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
