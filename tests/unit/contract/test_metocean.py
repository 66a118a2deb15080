"""Environment sections of the job contract: wind and current vectors, forcing URIs, ensemble members."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config import Settings
from driftline.contract.metocean import (
    Current,
    Wind,
    check_forcing_uri,
    parse_current,
    parse_ensemble,
    parse_forcing_list,
    parse_wind,
)
from driftline.errors import InvalidJob

SETTINGS = Settings(forcing_bucket="forcing")


def test_a_westerly_wind_and_a_northward_current_point_the_right_way():
    east, north = Wind(10.0, 270.0).components  # from the west: blows towards +x
    assert east == pytest.approx(10.0) and north == pytest.approx(0.0, abs=1e-12)
    east, north = Current(0.5, 0.0).components  # towards north
    assert east == pytest.approx(0.0, abs=1e-12) and north == pytest.approx(0.5)
    assert parse_wind({"speed_ms": 5, "from_deg": -90}, "wind") == Wind(5.0, 270.0)
    assert parse_current(None, "current") is None


@given(st.floats(0, 60), st.floats(-360, 360))
def test_wind_components_keep_the_speed_and_point_away_from_the_source(speed, from_deg):
    wind = parse_wind({"speed_ms": speed, "from_deg": from_deg}, "wind")
    assert 0 <= wind.from_deg <= 360  # float % 360 of a tiny negative angle gives 360.0 (same direction as 0)
    east, north = wind.components
    assert math.hypot(east, north) == pytest.approx(speed, abs=1e-9)
    current = Current(speed, (wind.from_deg + 180) % 360)  # water flowing away from where the wind comes from
    assert current.components == pytest.approx((east, north), abs=1e-9)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (3.0, "wind must be an object with speed_ms and from_deg"),
        ({"speed_ms": 1, "from_deg": 0, "gust": 2, "at": 1}, "unknown wind keys: at, gust"),
        ({"speed_ms": 1}, "wind needs speed_ms and from_deg"),
        ({"speed_ms": 61, "from_deg": 0}, "speed_ms must be between 0 and 60, got 61"),
        ({"speed_ms": 1, "from_deg": 361}, "from_deg must be between -360 and 360, got 361"),
    ],
)
def test_malformed_winds_are_refused(value, message):
    with pytest.raises(InvalidJob, match=f"^{re.escape(message)}$"):
        parse_wind(value, "wind")


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (7, "forcing entries must be s3:// URI strings"),
        ("s3://forcing/a\n.nc", "forcing URI 's3://forcing/a\\n.nc' contains control or unencodable characters"),
        ("s3://[forcing/a.nc", "forcing URI 's3://[forcing/a.nc' is malformed: Invalid IPv6 URL"),
        (
            "s3://other/a.nc",
            "forcing URI 's3://other/a.nc' is not allowed: only s3://forcing/... is accepted",
        ),
        (
            "https://forcing/a.nc",
            "forcing URI 'https://forcing/a.nc' is not allowed: only s3://forcing/... is accepted",
        ),
        (
            "s3://forcing/a.nc?v=1",
            "forcing URI 's3://forcing/a.nc?v=1' is not allowed: only s3://forcing/... is accepted",
        ),
        ("s3://forcing/x/../a.nc", "forcing URI 's3://forcing/x/../a.nc' is not allowed: the key must name a .nc file"),
        ("s3://forcing/a.grib", "forcing URI 's3://forcing/a.grib' is not allowed: the key must name a .nc file"),
        ("s3://forcing/", "forcing URI 's3://forcing/' is not allowed: the key must name a .nc file"),
    ],
)
def test_only_netcdf_keys_in_the_forcing_bucket_are_accepted(uri, message):
    with pytest.raises(InvalidJob, match=f"^{re.escape(message)}$"):
        check_forcing_uri(uri, SETTINGS)


def test_forcing_lists_and_ensembles_have_bounded_sizes():
    uris = ["s3://forcing/a.nc", "s3://forcing/dir/b.nc4"]
    assert parse_forcing_list(uris, "forcing", SETTINGS) == tuple(uris)
    with pytest.raises(InvalidJob, match=r"^forcing must be a list of 1 to 10 s3:// URIs$"):
        parse_forcing_list([], "forcing", SETTINGS)
    with pytest.raises(InvalidJob, match=r"^ensemble must be a list of 2 to 20 members$"):
        parse_ensemble([{"wind": {"speed_ms": 1, "from_deg": 0}}], SETTINGS)
    with pytest.raises(InvalidJob, match=r"^ensemble\[1\] must be an object with forcing, wind and/or current$"):
        parse_ensemble([{"forcing": uris}, {}], SETTINGS)


def test_ensemble_members_are_parsed_with_their_index_in_messages():
    members = parse_ensemble(
        [{"forcing": ["s3://forcing/a.nc"]}, {"wind": {"speed_ms": 4, "from_deg": 90}, "current": None}], SETTINGS
    )
    assert members[0].forcing == ("s3://forcing/a.nc",) and members[0].wind is None
    assert members[1].wind == Wind(4.0, 90.0) and members[1].forcing == ()
    with pytest.raises(InvalidJob, match=r"^unknown ensemble\[0\]\.current keys: speed$"):
        parse_ensemble([{"current": {"speed": 1}}, {"forcing": ["s3://forcing/a.nc"]}], SETTINGS)
