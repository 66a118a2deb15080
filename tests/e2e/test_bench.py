"""bench/run.py: the ratio/target/table computation (fast) and a --quick run of the whole benchmark (slow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bench.harness import SCENE, tree_memory
from bench.run import FULL, QUICK, evaluate_targets, format_table, summarize
from config import Settings
from driftline.contract.parse import parse_job
from tests.services import ROOT


def synthetic_raw() -> dict:
    timings = {"simulate": 8.0, "products.animation": 1.0}
    worker = {n: {"e2e_s": [e, e + 1, e - 0.5], "processing_s": [0.01, 0.02, 0.2], "timings": [timings] * 3}
              for n, e in (("A", 1.5), ("B", 3.0), ("C", 12.0))}  # fmt: skip
    plain = {n: {"process_s": [p] * 3, "animation_s": [a] * 3, "run_s": [1.0] * 3, "frames": 49}
             for n, p, a in (("A", 30.0, 8.0), ("B", 33.0, 9.0), ("C", 40.0, 20.0))}  # fmt: skip
    return {
        "machine": {"date": "now", "cpu_count": 2, "cpu_model": "cpu", "python": "3.11", "opendrift": "1.14"},
        "config": {"runs": 3, "quick": False, "scene": SCENE, "workloads": {k: vars(w) for k, w in FULL.items()}},
        "load": {"bare": (0.5, 0.5, 0.5)},
        "worker": worker,
        "plain": plain,
        "bare": {"A": [1.0, 1.1, 0.9], "B": [2.0], "C": [10.0, 10.0, 11.0]},
        "memory": {
            "idle": {"pss_mb": 2000.0, "rss_mb": 2100.0},
            "one": {"pss_mb": 2500.0, "rss_mb": 4600.0},
            "two": {"pss_mb": 3000.0, "rss_mb": 7000.0},
        },  # fmt: skip
        "throughput": {"mix": "AABC", "jobs": 4, "elapsed_s": 12.0, "jobs_per_min": 20.0},
    }


def test_summary_ratios_targets_and_table():
    raw = synthetic_raw()
    s = summarize(raw)
    a, c = s["rows"]["A"], s["rows"]["C"]
    assert a["worker_e2e_s"] == 1.5 and a["plain_over_worker"] == pytest.approx(20.0)
    assert c["worker_over_bare"] == pytest.approx(1.2) and c["plain_over_worker"] == pytest.approx(40 / 12)
    assert c["stages_s"]["outside_pipeline"] == pytest.approx(3.0)
    assert s["processing_median_s"] == pytest.approx(0.02)
    assert s["animation"] == {"frames": 49, "ours_s": 1.0, "opendrift_s": 20.0, "ratio": 20.0}
    assert s["memory"]["pss_ratio"] == pytest.approx(1.2) and s["memory"]["job_pss_ratio"] == pytest.approx(2.0)
    assert s["throughput"]["serial_estimate_s"] == pytest.approx(1.5 + 1.5 + 3.0 + 12.0)
    # the speed targets first: C <= 0.6 x bare (1.2), A <= 1.0 x bare (1.5), G and 50000 x 240 h (not measured here);
    # then C vs bare, A e2e, A vs plain, C vs plain (40 / 12 < 4), animation, PSS, RPUSH -> processing,
    # A vs bare (1.5), A <= 1 s, concurrency gain (18 / 12), then the limits phases (not measured here)
    verdicts = [
        False,
        False,
        None,
        None,
        True,
        True,
        True,
        False,
        True,
        True,
        True,
        False,
        False,
        False,
        None,
        None,
        None,
        None,
    ]
    assert [t["pass"] for t in evaluate_targets(s)] == verdicts
    table = format_table(raw, s, evaluate_targets(s))
    assert "FAIL  C >= 4x faster than plain OpenDrift" in table and "20.0x faster" in table


def test_paired_bare_runs_give_the_median_of_per_run_ratios():
    raw = synthetic_raw()
    raw["worker"]["A"]["bare_paired_s"] = [1.0, 2.5, 0.5]  # e2e 1.5, 2.5, 1.0: ratios 1.5, 1.0, 2.0
    s = summarize(raw)
    assert s["rows"]["A"]["worker_over_bare"] == pytest.approx(1.5) and s["rows"]["A"]["bare_sim_s"] == 1.0
    assert s["rows"]["A"]["bare_paired"] and not s["rows"]["C"]["bare_paired"]
    assert s["rows"]["C"]["worker_over_bare"] == pytest.approx(1.2)  # unpaired: median e2e / median bare
    assert "each bare run made right before the worker run" in format_table(raw, s, evaluate_targets(s))


def test_throughput_gain_is_the_median_of_paired_rounds():
    raw = synthetic_raw()
    raw["throughput"] |= {"paired_gains": [1.5, 1.9, 1.7], "rounds": [{}, {}, {}]}
    raw["throughput_serial"] = {"elapsed_s": 30.0, "busy_cores": 1.1}  # 30 / 12 = 2.5 unpaired
    tp = summarize(raw)["throughput"]
    assert tp["concurrency_gain"] == pytest.approx(1.7) and tp["rounds"] == 3 and tp["serial_measured_s"] == 30.0


def test_missing_phases_give_no_verdict():
    raw = synthetic_raw()
    for phase in ("worker", "memory", "throughput"):
        del raw[phase]
    targets = evaluate_targets(summarize(raw))
    assert [t["pass"] for t in targets] == [None] * len(targets)
    assert "n/a" in format_table(raw, summarize(raw), targets)


@pytest.mark.parametrize("workloads", [FULL, QUICK])
def test_workloads_are_valid_jobs_and_match_the_plain_script(workloads):
    for w in workloads.values():
        params = parse_job(json.dumps({"mission_id": "6f1c1d1e-8d47-4c3b-9a55-0d2c5c2f4a11", "params": w.params()}),
                           Settings()).params  # fmt: skip
        spec = w.plain_spec()
        assert (params.num_particles, params.duration_hours) == (spec["particles"], spec["hours"])
        assert params.objects[0].obj.number == spec["object_number"] == 1
        assert params.random_seed == spec["seed"] and params.wind.from_deg == spec["wind"]["from_deg"]


def test_tree_memory_reads_smaps_rollup():
    mem = tree_memory(os.getpid())
    assert mem["procs"] >= 1 and mem["pss_mb"] > 10 and mem["rss_mb"] >= mem["pss_mb"]


@pytest.mark.slow
def test_quick_benchmark_runs_every_phase(tmp_path):
    out = tmp_path / "results.json"
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--out", str(out)], cwd=ROOT,
                         capture_output=True, text=True, timeout=1200)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    raw = json.loads(out.read_text())
    assert {"plain", "worker", "memory", "throughput", "summary", "targets"} <= raw.keys()
    assert all(len(raw["worker"][name]["bare_paired_s"]) == 1 for name in QUICK)  # bare runs paired with the worker's
    measured = [t for t in raw["targets"] if "50000 x 240 h" not in t["target"]]  # limits: not a default phase
    assert all(t["pass"] is not None for t in measured) and "targets:" in run.stdout


def test_limits_section_targets_and_table():
    raw = synthetic_raw()
    row = {"particles": 50000, "hours": 240, "output_minutes": 60, "e2e_s": 300.0, "job_pss_mb": 900.0,
           "timings": {"simulate": 250.0}}  # fmt: skip
    raw["limits"] = {
        "big60": row, "big10": {**row, "output_minutes": 10, "e2e_s": 400.0, "job_pss_mb": 2100.0},
        "flat": [{**row, "particles": 10000, "hours": h, "job_pss_mb": 300.0} for h in (24, 96, 240)],
        "refusal": {"after_s": 0.012, "error": "job too large: estimated memory 9000 MB ..."},
        "startup": {"start_to_first_claim_s": 12.5, "preload_s": 11.0},
    }  # fmt: skip
    targets = {t["target"]: t["pass"] for t in evaluate_targets(summarize(raw))}
    assert targets["50000 x 240 h (60 min output) job PSS < 1500 MB"] is True
    assert targets["50000 x 240 h (10 min output) job PSS < 2000 MB"] is False
    assert targets["50000 x 240 h (10 min output) within JOB_TIMEOUT_S 1800 s"] is True
    table = format_table(raw, summarize(raw), evaluate_targets(summarize(raw)))
    assert "output every 10 min: 400 s end to end (simulate 250 s), job PSS 2100 MB" in table
    assert "24 h 300 MB, 96 h 300 MB, 240 h 300 MB" in table and "refused after 12 ms: job too large" in table
    assert "worker start to first claim 12.5 s" in table
