"""Worker metrics: their own registry per instance, and the pipeline's timings folded into three stages."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from driftline.metrics import Metrics

STAGE = "drift_job_duration_seconds"


def stage(m: Metrics, name: str, what: str = "sum") -> float:
    return m.registry.get_sample_value(f"{STAGE}_{what}", {"stage": name})


def test_timings_are_folded_into_simulate_products_and_upload():
    m = Metrics()
    timings = {
        "forcing": 1.5,
        "simulate": 2.0,
        "products.density": 0.25,
        "products.summary": 0.5,
        "write_particles": 1.0,
        "upload": 0.125,
        "upload.particles": 0.375,
        "setup": 9.0,  # no stage: ignored
    }
    m.observe_timings(timings)
    assert (stage(m, "simulate"), stage(m, "products"), stage(m, "upload")) == (3.5, 1.75, 0.5)
    assert all(stage(m, s, "count") == 1.0 for s in ("simulate", "products", "upload"))


@given(st.dictionaries(st.sampled_from(["simulate", "forcing", "products.x", "upload.y", "other"]), st.floats(0, 1e4)))
def test_every_stage_is_observed_once_and_the_stage_sums_add_up(timings):
    m = Metrics()
    m.observe_timings(timings)
    counted = sum(v for k, v in timings.items() if k != "other")
    total = sum(stage(m, s) for s in ("simulate", "products", "upload"))
    assert math.isclose(total, counted, rel_tol=1e-9, abs_tol=1e-9)
    assert all(stage(m, s, "count") == 1.0 for s in ("simulate", "products", "upload"))


def test_two_instances_do_not_share_counters():
    a, b = Metrics(), Metrics()
    a.failed.labels(reason="timeout").inc()
    a.completed.inc(2)
    assert a.registry.get_sample_value("drift_jobs_failed_total", {"reason": "timeout"}) == 1.0
    assert a.registry.get_sample_value("drift_jobs_completed_total") == 2.0
    assert b.registry.get_sample_value("drift_jobs_completed_total") == 0.0
    assert b.registry.get_sample_value("drift_jobs_failed_total", {"reason": "timeout"}) is None


def test_serve_starts_the_endpoint_on_its_own_registry_and_port_zero_disables_it(monkeypatch):
    calls = []
    monkeypatch.setattr("driftline.metrics.start_http_server", lambda port, registry: calls.append((port, registry)))
    m = Metrics()
    m.serve(0)
    assert calls == []
    m.serve(9108)
    assert calls == [(9108, m.registry)]
