"""`worker.py health` is healthy only once the worker's preload is done (HEALTHCHECK after the preload)."""

from __future__ import annotations

import uuid

import pytest

from driftline import health
from driftline.readiness import clear_ready, is_ready, mark_ready, ready_path


class FakeQueue:
    def __init__(self, ages: dict[str, float]) -> None:
        self.ages = ages

    def heartbeat_age_s(self, worker_id: str) -> float | None:
        return self.ages.get(worker_id)

    def stats(self) -> dict:
        return {"workers": list(self.ages)}


class FakeSettings:
    def __init__(self, worker_id: str, explicit: bool) -> None:
        self.worker_id = worker_id
        self.worker_id_explicit = explicit
        self.heartbeat_ttl_s = 15


@pytest.fixture
def worker_id(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    wid = f"w-{uuid.uuid4().hex[:6]}"
    yield wid
    clear_ready(wid)


def test_mark_and_clear_round_trip_in_the_temporary_directory(worker_id, tmp_path):
    assert not is_ready(worker_id)
    mark_ready(worker_id)
    assert is_ready(worker_id) and ready_path(worker_id).parent == tmp_path
    clear_ready(worker_id)
    clear_ready(worker_id)  # twice: no error
    assert not is_ready(worker_id)


def test_odd_worker_ids_stay_one_file_name(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    assert ready_path("a/../../b c").parent == tmp_path


def test_heartbeat_without_readiness_is_starting_for_health_but_alive_for_liveness(worker_id):
    queue, settings = FakeQueue({worker_id: 1.0}), FakeSettings(worker_id, explicit=True)
    assert "starting" in health._worker_problem(queue, settings, 15, need_ready=True)
    assert health._worker_problem(queue, settings, 15) is None  # liveness: the heartbeat alone
    mark_ready(worker_id)
    assert health._worker_problem(queue, settings, 15, need_ready=True) is None


def test_default_ids_healthy_when_one_local_worker_is_ready(worker_id, monkeypatch):
    host = f"host{uuid.uuid4().hex[:4]}"
    queue = FakeQueue({f"{host}-7": 1.0, f"{host}-8": 1.0, "other-7": 1.0})
    settings = FakeSettings(f"{host}-99", explicit=False)
    assert "starting" in health._worker_problem(queue, settings, 15, need_ready=True)
    mark_ready(f"{host}-8")
    try:
        assert health._worker_problem(queue, settings, 15, need_ready=True) is None
    finally:
        clear_ready(f"{host}-8")
