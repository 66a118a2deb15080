"""Unit tests of driftline/forcing/sources.py: source kinds, storage options, catalog rows, presets (no services)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from driftline.errors import ForcingError
from driftline.forcing import sources
from driftline.forcing.sources import PRESETS, _kind, load_presets, parse_storage_options, remote_row


def test_kind_of_url():
    """s3:// must be a Zarr store (trailing slash allowed); anything else is OPeNDAP."""
    assert _kind("s3://bucket/ocean.zarr") == "zarr" and _kind("s3://bucket/ocean.zarr/") == "zarr"
    assert _kind("https://thredds.met.no/thredds/dodsC/x") == "opendap"
    with pytest.raises(ForcingError) as e:
        _kind("s3://bucket/ocean.nc")
    assert str(e.value) == "remote forcing source s3://bucket/ocean.nc: an s3:// source must be a Zarr store (….zarr)"


def test_storage_options_allowed_keys_and_anon():
    """key=value pairs (items without '=' ignored) or a dict; 'anon' becomes a bool; credentials are refused."""
    got = parse_storage_options(["endpoint_url=http://h:9000/a=b", "anon=Yes", "junk"])
    assert got == {"endpoint_url": "http://h:9000/a=b", "anon": True}
    assert parse_storage_options({"anon": "0", "region_name": "eu"}) == {"anon": False, "region_name": "eu"}
    assert parse_storage_options(None) == {}
    with pytest.raises(ForcingError) as e:
        parse_storage_options(["secret=x", "key=y", "anon=1"])
    assert str(e.value) == (
        "storage option(s) key, secret not allowed (allowed: endpoint_url, region_name, anon; "
        "credentials come from the environment)"
    )


def test_remote_row_quantities_and_variable_map():
    """provides_* only with both components; the variable map keeps the standard names the drift uses."""
    info = {
        "variables": {"x_wind": "u10", "y_wind": "v10", "x_sea_water_velocity": "u", "sea_floor_depth": "h"},
        "lon_min": 0.0, "lon_max": 10.0, "lat_min": 55.0, "lat_max": 65.0, "time_step_s": 3600, "resolution_m": 800.0,
        "time_start": datetime(2024, 1, 1, tzinfo=UTC), "time_end": datetime(2024, 1, 3, tzinfo=UTC),
    }  # fmt: skip
    before = datetime.now(UTC)
    row = remote_row("https://h/x", "x", info, "opendap", {"anon": True}, True, "CC BY")
    assert row["provides_wind"] is True and row["provides_currents"] is False
    assert row["variable_map"] == {"x_wind": "u10", "y_wind": "v10", "x_sea_water_velocity": "u"}
    assert row["variables"] == sorted(info["variables"])
    assert (row["uri"], row["s3_key"], row["etag"], row["size_bytes"]) == ("https://h/x", "https://h/x", None, None)
    assert row["lat_max"] == 65.0 and row["required"] is True and before <= row["synced_at"] <= datetime.now(UTC)


def test_presets_file_is_valid_and_load_presets_counts_failures(monkeypatch, tmp_path, capsys):
    """Every shipped preset has a name, a usable URL and allowed options; unknown names are refused up front;
    a preset whose registration fails is counted and printed, the others still registered."""
    shipped = json.loads(PRESETS.read_text())["sources"]
    assert len({p["name"] for p in shipped}) == len(shipped) > 0
    for p in shipped:
        assert _kind(p["url"]) in ("zarr", "opendap")
        parse_storage_options(p.get("storage_options"))
    with pytest.raises(ForcingError, match=r"^no preset named nope, zzz in "):
        load_presets(None, ["zzz", "nope", shipped[0]["name"]])
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"sources": [{"name": "a", "url": "https://a"}, {"name": "b", "url": "s3://b"}]}))
    added = []

    def fake_add(settings, url, name, **kw):
        added.append(name)
        _kind(url)

    monkeypatch.setattr(sources, "forcing_add_remote", fake_add)
    assert load_presets(None, None, path) == 1
    assert added == ["a", "b"] and "Not added b: remote forcing source s3://b: an s3://" in capsys.readouterr().out
    assert load_presets(None, ["a"], path) == 0 and added[-1] == "a" and len(added) == 3
