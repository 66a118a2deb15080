"""The pipeline's tasking stage: the five files uploaded as each is made, listed in summary.json in that order."""

from __future__ import annotations

import hashlib
import json
import threading

from config import Settings
from driftline.contract.parse import parse_job
from driftline.forcing import ForcingContext
from driftline.objects import LocalStore
from driftline.pipeline import MissionContext, run_mission
from driftline.products.tasking import FILES

MID = "3c2b1a09-8d7e-4f6a-9b5c-4d3e2f1a0b9c"
PARAMS = {"latitude": 57.0, "longitude": 3.0, "start_time": "2024-01-01T00:00:00Z", "object_type": "PIW-1",
          "wind": {"speed_ms": 8, "from_deg": 250}, "current": {"speed_ms": 0.3, "to_deg": 90},
          "num_particles": 30, "duration_hours": 2, "random_seed": 1}  # fmt: skip


class _RecordingStore(LocalStore):
    def __init__(self, root) -> None:
        super().__init__(root)
        self.threads: dict[str, str] = {}

    def put(self, kind, key, path):
        self.threads[key.rsplit("/", 1)[-1]] = threading.current_thread().name
        return super().put(kind, key, path)


def test_tasking_files_are_uploaded_beside_the_build_and_listed_in_order(tmp_path):
    settings = Settings()
    store = _RecordingStore(tmp_path / "out")
    job = parse_job(json.dumps({"mission_id": MID, "params": PARAMS}), settings)
    outcome = run_mission(job, MissionContext(settings, store, ForcingContext(settings=settings)))
    listed = [p["key"].rsplit("/", 1)[-1] for p in outcome.summary["products"]]
    made = [name for name in listed if name in FILES]
    assert made == ["sap.txt", "search_plan.gpx", "waypoints.csv", "probability.tif", "report.html"]
    for entry in outcome.summary["products"]:
        stored = tmp_path / "out" / entry["key"]
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == entry["sha256"]
    main = threading.current_thread().name
    assert all(store.threads[name] != main for name in made)  # uploads ran on the pool, not in line
    assert "products.tasking" in outcome.summary["timings_s"]


def _run(tmp_path, monkeypatch, fork_min_dots=0):
    monkeypatch.setattr("driftline.products.FORK_MIN_DOTS", fork_min_dots)  # this small mission forks too
    settings = Settings()
    job = parse_job(json.dumps({"mission_id": MID, "params": PARAMS}), settings)
    return run_mission(job, MissionContext(settings, LocalStore(tmp_path / "out"), ForcingContext(settings=settings)))


def test_the_animation_finished_after_the_tasking_files_is_listed_and_timed(tmp_path, monkeypatch):
    outcome = _run(tmp_path, monkeypatch)
    listed = [p["key"].rsplit("/", 1)[-1] for p in outcome.summary["products"]]
    assert listed.count("animation.mp4") == 1 and listed.index("animation.mp4") > listed.index("report.html")
    entry = next(p for p in outcome.summary["products"] if p["key"].endswith("animation.mp4"))
    assert hashlib.sha256((tmp_path / "out" / entry["key"]).read_bytes()).hexdigest() == entry["sha256"]
    assert outcome.summary["timings_s"]["products.animation"] >= 0
    assert not any("animation" in w for w in outcome.summary["warnings"])


def test_an_animation_failing_in_its_child_is_a_summary_warning(tmp_path, monkeypatch):
    from driftline.products import render

    def broken(*args, **kwargs):
        raise RuntimeError("ffmpeg exploded")

    monkeypatch.setattr(render, "_start_ffmpeg", broken)
    outcome = _run(tmp_path, monkeypatch)
    assert "animation failed: ffmpeg exploded" in outcome.summary["warnings"]
    assert "animation failed: ffmpeg exploded" in outcome.warnings
    assert not any(p["key"].endswith("animation.mp4") for p in outcome.summary["products"])


def test_a_failure_after_the_products_leaves_no_animation_child(tmp_path, monkeypatch):
    import os

    import pytest

    import driftline.pipeline as pipeline
    from driftline.products import forked

    children = []
    real = forked.fork_call

    def watched(fn, name):
        job = real(fn, name)
        children.append(job.pid)
        return job

    def broken(*args, **kwargs):
        raise RuntimeError("tasking broke")

    monkeypatch.setattr("driftline.products.fork_call", watched)
    monkeypatch.setattr(pipeline, "_tasking", broken)
    with pytest.raises(RuntimeError, match="tasking broke"):
        _run(tmp_path, monkeypatch)
    assert len(children) == 1
    with pytest.raises(ChildProcessError):
        os.waitpid(children[0], os.WNOHANG)  # killed and reaped, not running on
