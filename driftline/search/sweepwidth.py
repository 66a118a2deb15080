"""Sweep widths from published tables (IAMSAR Vol. II App. N; US National SAR Supplement): placeholder."""

from __future__ import annotations

from driftline.errors import InvalidJob


def sweep_width_from_tables(platform, params: dict, conditions: dict) -> tuple[float, str]:
    raise InvalidJob("platform is not supported yet: give sweep_width_nm")
