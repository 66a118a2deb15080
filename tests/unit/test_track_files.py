"""Drifter track files (CSV, GPX) read into the job's `drifters` form, with readable refusals."""

from __future__ import annotations

import re

import pytest

from driftline.contract.drifters import parse_drifters
from driftline.errors import InvalidJob
from driftline.track_files import read_track_file

GPX = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">
  <trk><name> SLDMB-7 </name><trkseg>
    <trkpt lat="60.0" lon="4.0"><time>2024-03-01T12:00:00Z</time></trkpt>
    <trkpt lat="60.01" lon="4.02"><time>2024-03-01T13:00:00Z</time></trkpt>
  </trkseg></trk>
  <trk><trkseg>
    <trkpt lat="61.0" lon="5.0"><time>2024-03-01T12:00:00Z</time></trkpt>
  </trkseg><trkseg>
    <trkpt lat="61.01" lon="5.0"><time>2024-03-01T12:30:00Z</time></trkpt>
  </trkseg></trk>
</gpx>
"""


def test_a_csv_with_ids_gives_one_track_per_id_in_file_order(tmp_path):
    path = tmp_path / "buoys.csv"
    path.write_text(
        "\ufeffID, Time ,Latitude,LONGITUDE\n"
        "b,2024-03-01T12:00:00Z,60.0,4.0\n"
        "a,2024-03-01T12:00:00Z,61.0,5.0\n"
        "b, 2024-03-01T13:00:00Z ,60.01,4.02\n"
        "a,2024-03-01T13:00:00Z,61.01,5.0\n",
        encoding="utf-8",
    )
    tracks = read_track_file(path)
    assert [t["id"] for t in tracks] == ["b", "a"]
    assert tracks[0]["positions"][1] == {"time": "2024-03-01T13:00:00Z", "lat": 60.01, "lon": 4.02}
    assert [t.id for t in parse_drifters(tracks)] == ["b", "a"]  # the job's own validation accepts them


def test_a_csv_without_ids_is_one_track_named_after_the_file(tmp_path):
    path = tmp_path / "sldmb.txt"
    path.write_text("time,lat,lon\n2024-03-01T12:00:00Z,60,4\n2024-03-01T13:00:00Z,60.01,4\n")
    (track,) = read_track_file(str(path))
    assert track["id"] == "sldmb" and len(track["positions"]) == 2


def test_gpx_tracks_join_their_segments_and_are_named(tmp_path):
    path = tmp_path / "drift.gpx"
    path.write_text(GPX)
    first, second = read_track_file(path)
    assert first["id"] == "SLDMB-7" and second["id"] == "drift-2"
    assert first["positions"][0] == {"time": "2024-03-01T12:00:00+00:00", "lat": 60.0, "lon": 4.0}
    assert [p["lat"] for p in second["positions"]] == [61.0, 61.01]
    assert len(parse_drifters([first, second])) == 2


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("x.csv", "time,lat\n2024-03-01T12:00:00Z,60\n", "needs a CSV header with time, lat and lon columns"),
        ("x.csv", "time,lat,lon\n2024-03-01T12:00:00Z,60,east\n", "line 2: could not convert string to float: 'east'"),
        ("x.csv", "time,lat,lon\nt,60,4\nt,inf,4\n", "line 3: 'inf' is not a finite number"),
        ("x.csv", "lat,lon,time\n60,4\n", "line 2: no time value"),
        ("x.csv", "time,lat,lon\n2024-03-01T12:00:00Z,60\n", "line 2: no lon value"),
        ("x.csv", "time,lat,lon\n2024-03-01T12:00:00Z,,\n", "line 2: no lat, lon value"),
        ("x.gpx", "<gpx", "is not valid GPX: "),
        ("x.gpx", '<gpx version="1.1" creator="t"></gpx>', "holds no GPX track"),
        (
            "x.gpx",
            '<gpx version="1.1" creator="t"><trk><trkseg><trkpt lat="1" lon="2"/></trkseg></trk></gpx>',
            ": track 1 has a point without a time",
        ),
    ],
)
def test_unreadable_files_are_refused_naming_the_file(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InvalidJob, match=f"^drifter file {re.escape(str(path))} ?{re.escape(message)}"):
        read_track_file(path)


def test_a_missing_or_undecodable_file_is_refused(tmp_path):
    with pytest.raises(InvalidJob, match=rf"^drifter file {re.escape(str(tmp_path / 'no.csv'))} cannot be read: "):
        read_track_file(tmp_path / "no.csv")
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(b"time,lat,lon\n\xff\n")
    with pytest.raises(InvalidJob, match=r"cannot be read: 'utf-8' codec can't decode byte 0xff"):
        read_track_file(bad)
