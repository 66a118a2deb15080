"""Job sections for what drifts under Leeway: object types (one, or a weighted list) and capsizing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config import LeewayObject, leeway_object, leeway_objects
from driftline.contract.fields import number
from driftline.errors import InvalidJob


@dataclass(frozen=True)
class ObjectShare:
    obj: LeewayObject
    weight: float


def can_capsize(obj: LeewayObject) -> bool:
    """Life rafts that are upright: OpenDrift's capsizing process applies to them (and only them)."""
    return obj.key.startswith("LIFE-RAFT") and "capsized" not in obj.description.lower()


def parse_object_type(ref: Any, key: str = "object_type") -> LeewayObject:
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


def parse_objects(value: Any) -> tuple[ObjectShare, ...]:
    if not isinstance(value, list):
        return (ObjectShare(parse_object_type(value), 1.0),)
    if not 1 <= len(value) <= 10:
        raise InvalidJob("object_type list must have 1 to 10 entries")
    shares = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or set(item) - {"type", "weight"} or "type" not in item:
            raise InvalidJob(f"object_type[{i}] must be an object with 'type' and 'weight'")
        weight = number(item, "weight", 1.0, 0, 1e6, low_open=True)
        shares.append((parse_object_type(item["type"], f"object_type[{i}].type"), weight))
    keys = [obj.key for obj, _ in shares]
    if len(set(keys)) != len(keys):
        raise InvalidJob("object_type list names the same type twice")
    total = sum(w for _, w in shares)
    return tuple(ObjectShare(obj, w / total) for obj, w in shares)


def parse_capsizing(value: Any) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidJob("capsizing must be an object")
    unknown = set(value) - {"wind_threshold_ms", "wind_threshold_sigma_ms", "leeway_fraction"}
    if unknown:
        raise InvalidJob(f"unknown capsizing keys: {', '.join(sorted(unknown))}")
    return {
        # Bounds are OpenDrift's own config limits (capsizing:wind_threshold, capsizing:wind_threshold_sigma).
        "wind_threshold_ms": number(value, "wind_threshold_ms", 30.0, 0, 50),
        "wind_threshold_sigma_ms": number(value, "wind_threshold_sigma_ms", 5.0, 0, 20, low_open=True),
        "leeway_fraction": number(value, "leeway_fraction", 0.4, 0, 1),
    }
