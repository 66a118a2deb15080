"""driftline.limits: the estimate before a job starts, the refusal of jobs that cannot fit, OOM-kill evidence."""

from __future__ import annotations

import json
import signal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config import Settings
from driftline.contract.parse import parse_job
from driftline.errors import JobCrashed
from driftline.limits import JobOutOfMemory, JobTooLarge, check_fits, crash_error, estimate, oom_kill_count

MID = "5d3f8c9e-1b2a-4c3d-8e4f-0123456789ab"
SETTINGS = Settings.from_env({})


def params(**overrides):
    body = {"latitude": 60, "longitude": -3, "start_time": "2024-01-01T00:00:00Z", "duration_hours": 24,
            "num_particles": 100, **overrides}  # fmt: skip
    return parse_job(json.dumps({"mission_id": MID, "params": body}), SETTINGS).params


def test_the_largest_mission_at_hourly_output_fits_the_default_budget():
    e = check_fits(params(num_particles=50000, duration_hours=240), SETTINGS)
    assert e.outputs == 241 and e.steps == 1440
    assert e.memory_mb < SETTINGS.max_job_memory_mb and e.seconds < SETTINGS.job_timeout_s


def test_an_over_budget_job_is_refused_with_the_numbers_and_what_to_change():
    small_budget = SETTINGS.with_overrides(max_job_memory_mb=500)
    with pytest.raises(JobTooLarge) as exc:
        check_fits(params(num_particles=50000, duration_hours=240, output_step_minutes=10), small_budget)
    message = str(exc.value)
    assert exc.value.reason == "too_large" and "\n" not in message
    assert "50000 particles x 1441 outputs" in message and "MAX_JOB_MEMORY_MB=500" in message
    assert "output_step_minutes" in message and "fewer particles" in message


def test_a_job_longer_than_the_time_limit_is_refused():
    with pytest.raises(JobTooLarge, match="JOB_TIMEOUT_S=60.*time_step_minutes"):
        check_fits(params(num_particles=50000, duration_hours=240), SETTINGS.with_overrides(job_timeout_s=60))


@given(
    n=st.integers(1, 50000),
    hours=st.floats(3, 240),
    out=st.sampled_from([10, 30, 60, 180]),
    more=st.integers(1, 50000),
)
def test_estimate_grows_with_particles_and_outputs(n, hours, out, more):
    base = estimate(params(num_particles=n, duration_hours=hours, output_step_minutes=out))
    bigger = estimate(params(num_particles=min(50000, n + more), duration_hours=hours, output_step_minutes=out))
    finer = estimate(params(num_particles=n, duration_hours=hours, output_step_minutes=10))
    assert bigger.memory_mb >= base.memory_mb and bigger.seconds >= base.seconds
    assert finer.memory_mb >= base.memory_mb and finer.outputs >= base.outputs


def test_ensembles_are_estimated_with_their_history_in_memory():
    ensemble = [{"current": {"speed_ms": 0.5, "to_deg": 0}}, {"current": {"speed_ms": 0.5, "to_deg": 180}}]
    single = estimate(params(num_particles=20000, duration_hours=120))
    assert estimate(params(num_particles=20000, duration_hours=120, ensemble=ensemble)).memory_mb > single.memory_mb


@pytest.mark.parametrize("layout", ["v2", "v1"])
def test_oom_kill_count_reads_cgroup_v2_and_v1(tmp_path, layout):
    if layout == "v2":
        (tmp_path / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\n")
    else:
        (tmp_path / "memory").mkdir()
        (tmp_path / "memory" / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert oom_kill_count(tmp_path) == 2
    assert oom_kill_count(tmp_path / "absent") is None


def test_a_sigkill_with_a_new_oom_kill_is_out_of_memory_anything_else_a_crash(tmp_path):
    (tmp_path / "memory.events").write_text("oom 1\noom_kill 1\n")
    oom = crash_error(-signal.SIGKILL, 0, tmp_path)
    assert isinstance(oom, JobOutOfMemory) and oom.reason == "out_of_memory"
    assert str(oom).startswith("out of memory:") and "oom_kill 0 -> 1" in str(oom)
    for code, before in ((-signal.SIGKILL, 1), (-signal.SIGKILL, None), (-signal.SIGSEGV, 0), (1, 0)):
        crash = crash_error(code, before, tmp_path)
        assert isinstance(crash, JobCrashed) and "before finishing" in str(crash)
    assert "signal SIGSEGV" in str(crash_error(-signal.SIGSEGV, 0, tmp_path))


def test_progress_is_written_per_decile_at_most_once_per_interval(monkeypatch):
    from driftline import jobproc

    now = [100.0]
    monkeypatch.setattr(jobproc.time, "monotonic", lambda: now[0])
    written = []

    class Store:
        def set_progress(self, mission_id, fraction, lease=None):
            written.append(fraction)

    write = jobproc.progress_writer(Store(), MID, min_interval_s=1.0)
    for f in (0.1, 0.2, 0.5):  # a short mission: no write in its first second
        write(f)
    now[0] += 1.0
    write(0.55)
    write(0.58)  # same decile
    now[0] += 0.5
    write(0.7)  # too soon
    now[0] += 0.6
    write(0.8)
    assert written == [0.55, 0.8]


@pytest.mark.parametrize("base_imported", [False, True])
def test_opendrifts_two_landmask_builds_share_one_instance(monkeypatch, base_imported):
    import sys
    import types

    from driftline.simulation import share_landmask

    class FakeMask:
        built = 0

        @staticmethod
        def new():
            FakeMask.built += 1
            return object()

    monkeypatch.setitem(sys.modules, "roaring_landmask", types.SimpleNamespace(RoaringLandmask=FakeMask))
    base = types.SimpleNamespace(rl=FakeMask.new()) if base_imported else None
    monkeypatch.setitem(sys.modules, "opendrift.models.basemodel", base)
    if not base_imported:
        monkeypatch.delitem(sys.modules, "opendrift.models.basemodel")
    share_landmask()
    share_landmask()
    first = FakeMask.new()
    assert FakeMask.new() is first and FakeMask.built == 1
    if base_imported:
        assert first is base.rl
