"""`worker.py health` answers, against an in-memory queue: Redis reachability and the heartbeat (liveness) rules."""

from __future__ import annotations

from dataclasses import replace

import pytest
import redis

from config import Settings
from driftline.health import _disk_problem, check_health

BASE = Settings.from_env({})


class FakeQueue:
    """Heartbeat ages by worker id (None: no heartbeat); ping raises `down` when set."""

    def __init__(self, ages: dict[str, float | None], down: Exception | None = None):
        self.ages, self.down, self.r = ages, down, self

    def ping(self):
        if self.down:
            raise self.down

    def heartbeat_age_s(self, worker_id):
        return self.ages.get(worker_id)

    def stats(self):
        return {"workers": list(self.ages)}


@pytest.fixture
def queue(monkeypatch):
    holder = {}
    monkeypatch.setattr("driftline.queue.RedisQueue", lambda settings: holder["queue"])
    return lambda ages, down=None: holder.setdefault("queue", FakeQueue(ages, down))


def test_unreachable_redis_is_named_without_its_password(queue):
    queue({}, redis.ConnectionError("Connection refused"))
    s = replace(BASE, redis_url="redis://user:s3cret@redis.example:6380/2")
    answer = check_health(s, liveness=True)
    assert answer == "Redis unreachable at redis.example:6380/2: Connection refused"


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (None, "worker w-1 has no heartbeat (not running, or stopped)"),
        (40.4, "worker w-1 heartbeat is 40 s old"),
        (14.0, None),
    ],
)
def test_liveness_of_an_explicit_worker_id_is_its_heartbeat_age(queue, age, expected):
    queue({"w-1": age} if age is not None else {})
    s = replace(BASE, worker_id="w-1", worker_id_explicit=True, heartbeat_ttl_s=15.0)
    assert check_health(s, liveness=True) == expected


def test_the_given_maximum_age_overrides_the_heartbeat_ttl(queue):
    queue({"w-1": 14.0})
    s = replace(BASE, worker_id="w-1", worker_id_explicit=True, heartbeat_ttl_s=15.0)
    assert check_health(s, max_heartbeat_age_s=10.0, liveness=True) == "worker w-1 heartbeat is 14 s old"


def test_a_default_id_is_healthy_when_any_worker_of_its_host_is_fresh(queue):
    ages = {"box-a-11": 90.0, "box-a-12": 2.0, "box-ab-1": 1.0}
    queue(ages)
    s = replace(BASE, worker_id="box-a-99", worker_id_explicit=False, heartbeat_ttl_s=15.0)
    assert check_health(s, liveness=True) is None
    ages["box-a-12"] = 30.0  # only another host's worker ("box-ab") is fresh
    assert check_health(s, liveness=True) == "worker box-a-11 heartbeat is 90 s old"
    del ages["box-a-11"], ages["box-a-12"]
    expected = "no worker of host box-a has a heartbeat (is the worker running?)"
    assert check_health(s, liveness=True) == expected


def test_a_nearly_full_temporary_disk_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    assert _disk_problem(min_free_mb=0) is None
    answer = _disk_problem(min_free_mb=2**40)
    assert answer.startswith("disk: only ") and answer.endswith(
        f" MB free in {tmp_path} (missions wait until space is freed)"
    )
