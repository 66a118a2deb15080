"""Fault settings, pure parts: secrets never printed, timings checked, backoff without overflow, metrics port."""

from __future__ import annotations

import logging
import socket
import string
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config import ConfigError, Settings, helper_environment, redact_url
from worker import Backoff, DriftWorker

RESERVED = "#?@/:"
passwords = st.text(alphabet=string.ascii_letters + string.digits + RESERVED + "%!$&'()*+,;=~-._[] ", min_size=1)
users = st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=12)


def pieces(password: str) -> list[str]:
    """Fragments of a password a parser could quote on their own (split at the reserved characters)."""
    frags = [password]
    for sep in RESERVED:
        frags = [part for frag in frags for part in frag.split(sep)]
    return [p for p in frags if len(p) >= 3]


@settings(max_examples=400, deadline=None, database=None)
@given(user=users, password=passwords, scheme=st.sampled_from(["postgresql", "redis"]), encode=st.booleans())
def test_redact_url_hides_any_password_and_errors_never_quote_it(user, password, scheme, encode):
    secret = quote(password, safe="") if encode else password
    url = f"{scheme}://{user}:{secret}@db.example:5432/drift"
    assert redact_url(url) == f"{scheme}://{user}:***@db.example:5432/drift"
    rest = f"{scheme}://{user}:@db.example:5432/drift"
    env = {"DATABASE_URL": url.replace(scheme, "postgresql", 1), "REDIS_URL": url.replace(scheme, "redis", 1)}
    try:
        Settings.from_env(env).require_services()
    except ConfigError as e:
        leaked = [p for p in pieces(password) + pieces(secret) if p in str(e) and p not in rest]
        assert not leaked, str(e)


def test_redact_url_leaves_urls_without_password_alone():
    assert redact_url("redis://localhost:6379/0") == "redis://localhost:6379/0"
    assert redact_url("postgresql://user@host/db") == "postgresql://user@host/db"
    assert redact_url("redis://:pa#ss@host:6379/0") == "redis://:***@host:6379/0"


def test_a_poll_longer_than_a_third_of_the_heartbeat_ttl_is_refused_naming_both():
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"POLL_INTERVAL": "6", "HEARTBEAT_TTL_S": "15"})
    assert "POLL_INTERVAL=6" in str(err.value) and "HEARTBEAT_TTL_S=15" in str(err.value)
    s = Settings.from_env({"POLL_INTERVAL": "5", "HEARTBEAT_TTL_S": "15"})  # the defaults fit
    assert s.io_timeout_s == 5


@pytest.mark.parametrize("attempt", [1, 10, 1075, 10**6, 10**18])
def test_backoff_never_overflows_however_long_the_outage(attempt):
    backoff = Backoff(2, 60)
    assert 30 <= backoff.delay(attempt) <= 60 or attempt < 10
    backoff.n = attempt
    assert 0 < backoff.next() <= 60


def test_metrics_port_in_use_is_one_line_and_the_worker_runs_without_metrics(caplog):
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        worker = DriftWorker(Settings(metrics_port=port, database_url="postgresql://x@localhost/x"))
        with caplog.at_level(logging.ERROR, logger="driftline.worker"):
            worker.serve_metrics()  # must not raise
    (record,) = caplog.records
    assert f"Metrics port {port} cannot be opened" in record.getMessage() and "without /metrics" in record.getMessage()
    assert record.exc_info is None


def test_helper_processes_do_not_get_the_workers_secrets(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:pw@db/x")
    monkeypatch.setenv("S3_SECRET_KEY", "s3cret")
    monkeypatch.setenv("AWS_PROFILE", "remote-forcing")
    env = helper_environment()
    assert "DATABASE_URL" not in env and "S3_SECRET_KEY" not in env and env["AWS_PROFILE"] == "remote-forcing"
