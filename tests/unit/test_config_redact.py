"""Passwords in URL query parameters (libpq `?password=`, redis-py `?password=`) never shown."""

from __future__ import annotations

import string
import subprocess
import sys
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from config import redact_url
from tests.services import ROOT

secrets = st.text(alphabet=string.ascii_letters + string.digits + "%!$'()*+,;~-._", min_size=4, max_size=30)
keys = st.sampled_from(["password", "PASSWORD", "sslpassword", "passwd", "pass", "secret", "auth_token", "pass%77ord"])
others = st.sampled_from(["sslmode=require", "db=0", "connect_timeout=5", "application_name=x", ""])


@settings(max_examples=300, deadline=None, database=None)
@given(secret=secrets, key=keys, before=others, after=others, scheme=st.sampled_from(["postgresql", "redis"]))
def test_a_password_in_a_query_parameter_is_masked_and_the_other_parameters_kept(secret, key, before, after, scheme):
    query = "&".join(q for q in (before, f"{key}={quote(secret, safe='')}", after) if q)
    shown = redact_url(f"{scheme}://drift@db.example:5432/drift?{query}")
    assert f"{key}=***" in shown
    rest = shown.split("?", 1)[1].replace(f"{key}=***", "", 1)
    for q in (before, after):
        assert q in rest
        rest = rest.replace(q, "", 1)  # a secret such as "time" may be part of another parameter's name
    assert quote(secret, safe="") not in rest


def test_user_password_and_query_password_are_both_masked():
    assert (
        redact_url("postgresql://drift:s3cret@db:5432/x?sslmode=require&password=other#frag")
        == "postgresql://drift:***@db:5432/x?sslmode=require&password=***#frag"
    )
    assert redact_url("redis://h:6379/0?password=s3cret&db=1") == "redis://h:6379/0?password=***&db=1"
    assert redact_url("redis://h:6379/0?db=1") == "redis://h:6379/0?db=1"  # nothing secret: unchanged


def test_health_never_prints_a_password_given_as_a_query_parameter(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "REDIS_URL": "redis://127.0.0.1:1/0?password=s3cretQ",
        "DATABASE_URL": "postgresql://drift@127.0.0.1:1/x?password=s3cretP",
        "HOME": str(tmp_path),
    }
    out = subprocess.run(
        [sys.executable, str(ROOT / "worker.py"), "health"], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 1 and "Redis unreachable" in out.stdout, out
    assert "s3cret" not in out.stdout + out.stderr
