"""The command line of `python worker.py`: argument parsing and dispatch only (no mission is run)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from config import Settings
from driftline import cli

BASE = Settings.from_env({})


def test_the_run_arguments_are_parsed_with_their_types_and_repeatable_options():
    args = cli._parser().parse_args(
        ["run", "--latitude", "60.5", "--longitude", "-4", "--num-particles", "500", "--forcing", "a.nc"]
        + ["--forcing", "b.nc", "--wind", "10,270", "--seed", "7"]
    )
    assert (args.command, args.latitude, args.longitude, args.num_particles) == ("run", 60.5, -4.0, 500)
    assert args.forcing == ["a.nc", "b.nc"] and args.drifters == [] and args.out == "out" and args.seed == 7
    assert args.duration_hours is None and args.start_time is None


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--longitude", "4"],  # --latitude is required
        ["run", "--latitude", "north", "--longitude", "4"],
        ["forcing"],  # a forcing subcommand is required
        ["health", "--max-age", "soon"],
        ["launch"],
    ],
)
def test_bad_command_lines_exit_with_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli._parser().parse_args(argv)
    assert exc.value.code == 2 and "usage: worker.py" in capsys.readouterr().err


def test_health_and_forcing_options():
    p = cli._parser()
    health = p.parse_args(["health", "--liveness", "--max-age", "30"])
    assert (health.liveness, health.max_age) == (True, 30.0)
    assert p.parse_args(["health"]).max_age is None
    remote = p.parse_args(
        ["forcing", "add-remote", "s3://b/x.zarr", "--storage-option", "a=1", "--storage-option", "b=2"]
    )
    assert remote.storage_option == ["a=1", "b=2"] and remote.required is False and remote.variables is None
    assert p.parse_args(["forcing", "presets", "cmems", "norkyst"]).names == ["cmems", "norkyst"]


def test_value_helpers_read_vectors_object_types_and_params(tmp_path):
    assert cli._vector("7.5,225", "from_deg") == {"speed_ms": 7.5, "from_deg": 225.0}
    assert cli._vector(None, "to_deg") is None and cli._vector("", "to_deg") is None
    assert cli._int_or_key(" 27 ") == 27 and cli._int_or_key("PIW-1") == "PIW-1" and cli._int_or_key(None) is None
    assert cli._params_arg('  {"scenarios": []}') == {"scenarios": []}
    path = tmp_path / "params.json"
    path.write_text(json.dumps({"radius_m": 50}))
    assert cli._params_arg(str(path)) == {"radius_m": 50}
    with pytest.raises(ValueError, match="^could not convert string to float"):
        cli._vector("fast,north", "to_deg")


def test_main_runs_the_daemon_by_default_and_answers_a_configuration_error_with_2(monkeypatch, capsys):
    monkeypatch.setattr("driftline.cli.setup_logging", lambda *a: None)
    ran = []
    settings = replace(BASE, database_url="postgresql://u@localhost:5432/driftline")
    monkeypatch.setattr(Settings, "from_env", classmethod(lambda cls, env=None: settings))
    assert cli.main([], lambda s: ran.append(s) or 0) == 0 and ran == [settings]
    monkeypatch.setattr(Settings, "from_env", classmethod(lambda cls, env=None: replace(BASE, database_url=None)))
    assert cli.main(["daemon"], lambda s: ran.append(s) or 0) == 2 and len(ran) == 1
    assert "configuration error: DATABASE_URL is not set" in capsys.readouterr().err


def test_main_dispatches_health_and_maps_its_answer_to_the_exit_code(monkeypatch, capsys):
    monkeypatch.setattr("driftline.cli.setup_logging", lambda *a: None)
    monkeypatch.setattr(Settings, "from_env", classmethod(lambda cls, env=None: BASE))
    seen = []
    answers = iter([None, "worker w heartbeat is 99 s old"])

    def check_health(settings, max_heartbeat_age_s=None, liveness=False):
        seen.append((max_heartbeat_age_s, liveness))
        return next(answers)

    monkeypatch.setattr("driftline.health.check_health", check_health)
    assert cli.main(["health", "--liveness", "--max-age", "20"], lambda s: 9) == 0
    assert cli.main(["health"], lambda s: 9) == 1
    assert seen == [(20.0, True), (None, False)]
    assert capsys.readouterr().out.splitlines() == ["ok", "worker w heartbeat is 99 s old"]
