"""Job section for the drift model: `model` (Leeway, ShipDrift, OceanDrift) and the keys each model owns.

The OpenDrift side (class, configuration, seed properties) is driftline/models.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from driftline.contract.fields import number
from driftline.errors import InvalidJob

MODELS = ("leeway", "shipdrift", "oceandrift")


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


def parse_model_params(p: dict) -> dict[str, Any]:
    """The model fields of MissionParams from job params (InvalidJob names the key)."""
    model = p.get("model", "leeway")
    if model not in MODELS:
        raise InvalidJob(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    for owner, keys in MODEL_KEYS.items():
        for key in keys:
            if owner != model and key in p:
                raise InvalidJob(f"{key} belongs to model {owner!r} and cannot be used with model {model!r}")
    fields: dict[str, Any] = {"model": model}
    if model == "shipdrift":
        fields["ship"] = parse_ship(p.get("ship"))
    elif model == "oceandrift":
        default = WIND_DRIFT_FACTOR_DEFAULT
        fields["wind_drift_factor"] = number(p, "wind_drift_factor", default, *WIND_DRIFT_FACTOR_RANGE)
        if "horizontal_diffusivity_m2s" in p:
            fields["horizontal_diffusivity_m2s"] = number(
                p, "horizontal_diffusivity_m2s", None, 0, HORIZONTAL_DIFFUSIVITY_MAX_M2S
            )
    return fields


def parse_ship(value: Any) -> Ship:
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
            dims[key] = number(value, key, None, low, high)
        except InvalidJob as e:
            raise InvalidJob(f"ship.{e}") from None
    ship = Ship(**dims)
    if ship.height_m <= ship.draft_m:
        raise InvalidJob(f"ship.height_m ({ship.height_m:g}) is the total height and must exceed draft_m")
    return ship
