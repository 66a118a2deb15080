"""Start-up: each service is waited for with backoff until it answers; a stop signal exits cleanly."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from unittest.mock import MagicMock

import pytest
import redis

from config import Settings
from driftline.errors import DatabaseUnavailable
from driftline.supervisor import startup
from driftline.supervisor.startup import Startup


class Clock:
    """A fake `time` for the start-up module: sleeping advances the clock at once; `on_sleep` may raise a signal."""

    def __init__(self, on_sleep=None):
        self.now, self.slept, self.on_sleep = 0.0, 0.0, on_sleep

    def monotonic(self):
        return self.now

    def sleep(self, s):
        self.now += s
        self.slept += s
        if self.on_sleep:
            self.on_sleep()


def flaky(failures: list[BaseException], value="ready"):
    calls = []

    def fn(*args):
        calls.append(args)
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return value

    return fn, calls


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(startup, "time", c)
    return c


def worker():
    return SimpleNamespace(signals=0, metrics=MagicMock(), s=Settings.from_env({}))


def test_a_service_is_retried_with_backoff_until_it_answers(clock, caplog):
    w = worker()
    fn, calls = flaky([redis.ConnectionError("refused"), DatabaseUnavailable("db starting")], value=42)
    with caplog.at_level(logging.ERROR, "driftline.worker"):
        assert Startup(w).until_ready("PostgreSQL", fn, "a", 1) == 42
    assert calls == [("a", 1)] * 3
    assert 0.5 + 1.0 <= clock.slept <= 1.0 + 2.0 + 1e-9  # Backoff(1, 30): the first two waits (summed in floats)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith(
        "PostgreSQL not ready: Redis connection error (ConnectionError): refused (retrying in"
    )
    assert messages[1].startswith("PostgreSQL not ready: db starting (retrying in")
    assert [c.args for c in w.metrics.up.set.call_args_list] == [(0,), (0,)]


def test_an_error_that_is_no_service_fault_is_not_retried(clock):
    fn, calls = flaky([KeyError("bug")])
    with pytest.raises(KeyError):
        Startup(worker()).until_ready("S3", fn)
    assert len(calls) == 1 and clock.slept == 0


def test_a_stop_signal_during_the_wait_exits_cleanly_without_another_try(clock):
    w = worker()
    clock.on_sleep = lambda: setattr(w, "signals", 1)
    fn, calls = flaky([redis.ConnectionError("refused")])
    with pytest.raises(SystemExit) as exc:
        Startup(w).until_ready("Redis", fn)
    assert exc.value.code == 0 and len(calls) == 1 and clock.slept <= 0.2
    with pytest.raises(SystemExit):  # already signalled: the service is not even tried
        Startup(w).until_ready("Redis", fn)
    assert len(calls) == 1


def test_connect_reaches_the_services_in_order_and_announces_the_worker(clock, monkeypatch):
    order = []
    queue = MagicMock()
    queue.r.ping.side_effect = lambda: order.append("ping")
    queue.unregister.side_effect = lambda: order.append("unregister") or 0
    queue.heartbeat.side_effect = lambda: order.append("heartbeat")
    monkeypatch.setattr(startup, "RedisQueue", lambda s: queue)
    monkeypatch.setattr("driftline.objects.make_s3_client", lambda s, **kw: "s3-client")
    monkeypatch.setattr("driftline.objects.ensure_buckets", lambda s3, buckets: order.append(("buckets", s3, buckets)))
    w = worker()
    w.store = MagicMock()
    w.store.check_schema.side_effect = lambda: order.append("schema")
    Startup(w).connect()
    buckets = ("buckets", "s3-client", [w.s.results_bucket, w.s.forcing_bucket])
    assert order == ["ping", "unregister", "schema", buckets, "heartbeat"]
    assert w.queue is queue and w.metrics.up.set.call_args.args == (1,)
