"""Job sections for the environment: on-scene wind and current, forcing file URIs, ensemble members."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from driftline.contract.fields import number
from driftline.errors import InvalidJob

if TYPE_CHECKING:
    from config import Settings


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
class EnsembleMember:
    forcing: tuple[str, ...] = ()
    wind: Wind | None = None
    current: Current | None = None


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
    speed = number(value, "speed_ms", None, 0, max_speed)
    direction = number(value, direction_key, None, -360, 360)
    return speed, direction % 360


def parse_wind(value: Any, key: str) -> Wind | None:
    v = _vector(value, key, "from_deg", 60)
    return Wind(*v) if v else None


def parse_current(value: Any, key: str) -> Current | None:
    v = _vector(value, key, "to_deg", 10)
    return Current(*v) if v else None


def parse_forcing_list(value: Any, key: str, settings: Settings) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not 1 <= len(value) <= 10:
        raise InvalidJob(f"{key} must be a list of 1 to 10 s3:// URIs")
    return tuple(check_forcing_uri(uri, settings) for uri in value)


def parse_ensemble(value: Any, settings: Settings) -> tuple[EnsembleMember, ...]:
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
                forcing=parse_forcing_list(m.get("forcing"), f"ensemble[{i}].forcing", settings),
                wind=parse_wind(m.get("wind"), f"ensemble[{i}].wind"),
                current=parse_current(m.get("current"), f"ensemble[{i}].current"),
            )
        )
    return tuple(members)


def check_forcing_uri(uri: Any, settings: Settings) -> str:
    """Accept only s3://{FORCING_BUCKET}/key.nc; refuse anything else before any fetch."""
    if not isinstance(uri, str) or len(uri) > 1024:
        raise InvalidJob("forcing entries must be s3:// URI strings")
    if not uri.isprintable():  # NUL, newlines, lone surrogates: never a key, and PostgreSQL refuses some
        raise InvalidJob(f"forcing URI {uri!r} contains control or unencodable characters")
    try:
        parts = urlsplit(uri)
    except ValueError as e:  # e.g. an unbalanced "[" in the host
        raise InvalidJob(f"forcing URI {uri!r} is malformed: {e}") from e
    if parts.scheme != "s3" or parts.netloc != settings.forcing_bucket or parts.query or parts.fragment:
        raise InvalidJob(f"forcing URI {uri!r} is not allowed: only s3://{settings.forcing_bucket}/... is accepted")
    key = parts.path.lstrip("/")
    if not key or ".." in key.split("/") or not key.endswith((".nc", ".nc4")):
        raise InvalidJob(f"forcing URI {uri!r} is not allowed: the key must name a .nc file")
    return uri
