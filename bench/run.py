"""Driftline benchmark: the real daemon vs plain OpenDrift vs the bare simulation, on this machine.

    .venv/bin/python bench/run.py [--runs N] [--quick] [--out bench/results.json] [--phases bare,plain,...]

Phases (all by default, in this order; each phase's load average is recorded because machines are shared):
  (workloads A, B, C with constant forcing; G the same as C on a 300 x 300 x 48 h CF grid, bench/gridded.py)
  bare        OpenDrift `run` alone in one warm process (landmask built, no outfile), per workload; with the
              worker phase, one bare run right before each worker run (paired: this VM's speed drifts)
  plain       a fresh `python bench/plain_opendrift.py` per run: import, run with NetCDF outfile, animation(fast=True)
  worker      `worker.py` (MAX_CONCURRENT_JOBS=2) with throwaway Redis, PostgreSQL and moto S3: RPUSH -> processing
              and RPUSH -> completed (all products uploaded), one job at a time on an idle worker
  memory      PSS/RSS of the worker's process tree (every 100 ms) while one, then two, C jobs run
  throughput  a mix of jobs pushed at once: jobs per minute
  limits      (not by default: ~15 min) startup, big60, big10, flat, refusal, each also on its own: the largest
              mission's job memory and time at 60- and 10-minute output, memory against duration, an over-budget
              job refused, worker start to first claim (bench/capacity.py)
It prints a table (absolute times and the ratios that compare across machines) and writes everything as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402 - after the path set-up, when run as a script
    GRID_KEY,
    SCENE,
    Daemon,
    TreeSampler,
    Workload,
    log,
    read_or_empty,
    services,
)

PLAIN_SCRIPT = ROOT / "bench" / "plain_opendrift.py"
PHASES = ("bare", "plain", "worker", "memory", "throughput")
LIMIT_PHASES = ("startup", "big60", "big10", "flat", "refusal")


FULL = {w.name: w for w in (Workload("A", 100, 24), Workload("B", 1000, 24), Workload("C", 5000, 48))}
QUICK = {w.name: w for w in (Workload("A", 20, 2), Workload("B", 100, 3), Workload("C", 300, 6))}
GRIDDED = {"G": (5000, 48)}  # name -> (particles, hours) on a 300 x 300 x 48 h CF grid
GRIDDED_QUICK = {"G": (300, 6)}  # the same name in --quick, like QUICK's A, B and C, so its targets are read
MIX_FULL = "ABABACABABABACABABAB"  # 20 jobs: 10 A, 8 B, 2 C
MIX_QUICK = "ABAC"
TARGETS = [  # (what, path into the summary, comparison, limit)
    ("C end-to-end <= 0.6 x bare warm simulation (issue 26)", ("rows", "C", "worker_over_bare"), "<=", 0.6),
    ("A end-to-end <= 1.0 x bare warm simulation (issue 26)", ("rows", "A", "worker_over_bare"), "<=", 1.0),
    ("G gridded end-to-end <= 0.7 x bare (issue 26)", ("rows", "G", "worker_over_bare"), "<=", 0.7),
    ("50000 x 240 h (60 min output) <= 90 s (issue 26)", ("limits", "big60", "e2e_s"), "<=", 90),
    ("C end-to-end <= 1.3 x bare warm simulation", ("rows", "C", "worker_over_bare"), "<=", 1.3),
    ("A end-to-end <= 2 s", ("rows", "A", "worker_e2e_s"), "<=", 2.0),
    ("A >= 8x faster than plain OpenDrift", ("rows", "A", "plain_over_worker"), ">=", 8.0),
    ("C >= 4x faster than plain OpenDrift (incl. its animation)", ("rows", "C", "plain_over_worker"), ">=", 4.0),
    ("our animation >= 3x faster than OpenDrift fast=True (C)", ("animation", "ratio"), ">=", 3.0),
    ("PSS(two concurrent C) / PSS(one) <= 1.5", ("memory", "pss_ratio"), "<=", 1.5),
    ("RPUSH -> processing median <= 100 ms (idle worker)", ("processing_median_s",), "<=", 0.1),
    ("A end-to-end <= 1.3 x bare warm simulation", ("rows", "A", "worker_over_bare"), "<=", 1.3),
    ("A end-to-end <= 1.0 s", ("rows", "A", "worker_e2e_s"), "<=", 1.0),
    ("throughput with 2 concurrent jobs >= 1.8 x one at a time", ("throughput", "concurrency_gain"), ">=", 1.8),
    ("50000 x 240 h (60 min output) job PSS < 1500 MB", ("limits", "big60", "job_pss_mb"), "<", 1500),
    ("50000 x 240 h (60 min output) within JOB_TIMEOUT_S 1800 s", ("limits", "big60", "e2e_s"), "<=", 1800),
    ("50000 x 240 h (10 min output) job PSS < 2000 MB", ("limits", "big10", "job_pss_mb"), "<", 2000),
    ("50000 x 240 h (10 min output) within JOB_TIMEOUT_S 1800 s", ("limits", "big10", "e2e_s"), "<=", 1800),
]


def median(values) -> float | None:
    values = [v for v in values or [] if v is not None]
    return statistics.median(values) if values else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


# --- machine and plain OpenDrift --------------------------------------------------------------
def machine_info() -> dict:
    from importlib.metadata import version

    import psutil

    model = next(
        (ln.split(":", 1)[1].strip() for ln in read_or_empty("/proc/cpuinfo").splitlines() if "model name" in ln), ""
    )
    memory_gb = round(psutil.virtual_memory().total / 2**30, 1)
    return {
        "cpu_count": os.cpu_count(), "cpu_model": model, "mem_total_gb": memory_gb, "python": platform.python_version(),
        "platform": platform.platform(), "opendrift": version("opendrift"), "numpy": version("numpy"),
        "xarray": version("xarray"), "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }  # fmt: skip


def run_plain_script(args: list[str], timeout_s: float = 1800) -> tuple[dict, float]:
    """Run bench/plain_opendrift.py in a fresh interpreter; (its BENCH JSON line, process wall clock seconds)."""
    env = dict(os.environ, MPLBACKEND="Agg")
    started = time.perf_counter()
    out = subprocess.run([sys.executable, str(PLAIN_SCRIPT), *args], capture_output=True, text=True, env=env,
                         timeout=timeout_s, cwd=ROOT)  # fmt: skip
    wall = time.perf_counter() - started
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"plain_opendrift.py {args[0]} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(line[6:]), wall


def measure_bare(workloads: dict[str, Workload], runs: int) -> dict[str, list[float]]:
    data, _ = run_plain_script(["bare", json.dumps([w.plain_spec() for w in workloads.values()]), "--runs", str(runs)])
    _check_offline(data, "bare")
    return data["run_s"]


class BareServer:
    """A warm `plain_opendrift.py serve` process: the bare run of a workload on demand, right beside the worker's.

    This VM's speed drifts by up to 1.7x within minutes (the same bare run: 0.69-1.20 s), so a ratio of medians
    taken in separate phases says as much about the drift as about the worker. Pairs measured back to back do not.
    """

    def __init__(self, warm_up: Workload) -> None:
        env = dict(os.environ, MPLBACKEND="Agg")
        args = [sys.executable, str(PLAIN_SCRIPT), "serve", json.dumps(warm_up.plain_spec())]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)

    def __enter__(self) -> BareServer:
        if self._line() != "READY":
            raise RuntimeError("plain_opendrift.py serve did not start")
        return self

    def __exit__(self, *exc) -> None:
        self.proc.stdin.close()
        data = json.loads(self._line()[6:] or "{}") if self.proc.wait(timeout=60) == 0 else {}
        _check_offline({"network_calls": data.get("network_calls", [])}, "bare (paired)")

    def _line(self) -> str:
        return (self.proc.stdout.readline() or "").strip()

    def run(self, w: Workload) -> float:
        self.proc.stdin.write(json.dumps(w.plain_spec()) + "\n")
        self.proc.stdin.flush()
        line = self._line()
        if not line.startswith("BENCH "):
            raise RuntimeError(f"plain_opendrift.py serve: {line!r}")
        return json.loads(line[6:])["run_s"]


def measure_plain(workloads: dict[str, Workload], runs: int, work: Path) -> dict[str, dict]:
    result = {}
    for w in workloads.values():
        rows = []
        for i in range(runs):
            data, wall = run_plain_script(
                ["plain", json.dumps(w.plain_spec()), "--out", str(work / f"plain-{w.name}-{i}")]
            )
            _check_offline(data, f"plain {w.name}")
            rows.append(data | {"process_s": wall, "in_process_s": data["process_s"]})
            log(f"plain {w.name} run {i + 1}/{runs}: {wall:.1f} s (animation {data['animation_s']:.1f} s)")
        result[w.name] = {k: [r[k] for r in rows] for k in ("process_s", "in_process_s", "run_s", "animation_s")}
        result[w.name]["frames"] = rows[0]["frames"]
    return result


def _check_offline(data: dict, what: str) -> None:
    if data.get("network_calls"):
        raise RuntimeError(f"{what}: OpenDrift attempted network access: {data['network_calls'][:3]}")


# --- the daemon -------------------------------------------------------------------------------


def measure_worker(
    d: Daemon, workloads: dict[str, Workload], runs: int, bare: BareServer | None = None
) -> dict[str, dict]:
    """Each workload `runs` times through the idle daemon; with `bare`, each run right after a bare run of it."""
    first = d.run_one(workloads["A"])  # the first job of a fresh worker is not what an idle worker does
    log(f"worker warm-up job: {first['completed']:.2f} s")
    for w in workloads.values():
        if w.forcing_file:  # the first job naming the file downloads it into the forcing cache: not measured
            log(f"worker warm-up {w.name} (forcing download): {d.run_one(w)['completed']:.2f} s")
    result = {"first_job": first}
    for w in workloads.values():
        rows, paired = [], []
        for i in range(runs):
            if bare is not None:
                paired.append(bare.run(w))
            time.sleep(0.3)  # let the supervisor go back to its blocking claim: an idle worker
            rows.append(d.run_one(w))
            log(f"worker {w.name} run {i + 1}/{runs}: {rows[-1]['completed']:.2f} s "
                f"(processing after {rows[-1]['processing'] * 1000:.0f} ms)"
                + (f", bare run just before {paired[-1]:.2f} s" if paired else ""))  # fmt: skip
        result[w.name] = {
            "e2e_s": [r["completed"] for r in rows], "processing_s": [r["processing"] for r in rows],
            "timings": [r["timings"] for r in rows], "final_counts": rows[-1]["counts"],
        }  # fmt: skip
        if paired:
            result[w.name]["bare_paired_s"] = paired
    return result


# --- memory -----------------------------------------------------------------------------------


def measure_memory(d: Daemon, w: Workload) -> dict:
    time.sleep(0.5)
    with TreeSampler(d.pid) as idle:
        time.sleep(1.0)
    result = {"workload": asdict(w), "idle": idle.peak}
    for n, label in ((1, "one"), (2, "two")):
        time.sleep(0.5)
        with TreeSampler(d.pid) as sampler:
            pushed = dict(d.push(w.params()) for _ in range(n))
            times = d.wait(pushed)
        result[label] = sampler.peak | {"e2e_s": [t["completed"] for t in times.values()]}
        log(f"memory {label}: peak PSS {result[label]['pss_mb']:.0f} MB, RSS {result[label]['rss_mb']:.0f} MB")
    return result


# --- throughput -------------------------------------------------------------------------------
def measure_throughput(d: Daemon, workloads: dict[str, Workload], mix: str) -> dict:
    """The mix pushed at once: last completion minus first push, and how many cores the machine was busy.

    Completion is polled every 50 ms here (5 ms for single jobs): 200 queries a second would take ~0.1 of a
    core from the jobs. With jobs that use the CPU all the time, the concurrency gain on 2 cores cannot
    exceed 2 / (cores busy while one job runs at a time), which the busy figure shows.
    """
    time.sleep(0.5)
    busy_before = _busy_core_s()
    started = time.perf_counter()
    pushed = {}
    for name in mix:
        mission_id, at = d.push(workloads[name].params())
        pushed[mission_id] = at
    times = d.wait(pushed, timeout_s=3600, poll_s=0.05)
    elapsed = max(pushed[m] + t["completed"] for m, t in times.items()) - started
    busy = (_busy_core_s() - busy_before) / (time.perf_counter() - started)
    log(f"throughput: {len(mix)} jobs in {elapsed:.1f} s, machine busy {busy:.2f} cores")
    jobs_per_min = 60 * len(mix) / elapsed
    return {"mix": mix, "jobs": len(mix), "elapsed_s": elapsed, "jobs_per_min": jobs_per_min, "busy_cores": busy}


def measure_throughput_rounds(
    concurrent: Daemon, serial: Daemon, workloads: dict[str, Workload], mix: str, rounds: int
) -> tuple[dict, dict]:
    """The mix on the 2-job worker, then on the 1-job worker, `rounds` times: each gain from a pair measured
    back to back (this VM's speed drifts). Returns each side's median round, with every round under "rounds"."""
    sides: dict[str, list[dict]] = {"concurrent": [], "serial": []}
    for i in range(rounds):
        for label, d in (("concurrent", concurrent), ("serial", serial)):
            sides[label].append(measure_throughput(d, workloads, mix))
        gain = sides["serial"][-1]["elapsed_s"] / sides["concurrent"][-1]["elapsed_s"]
        log(f"throughput round {i + 1}/{rounds}: gain {gain:.2f}x")
    gains = [s["elapsed_s"] / c["elapsed_s"] for c, s in zip(sides["concurrent"], sides["serial"], strict=True)]
    out = []
    for label in ("concurrent", "serial"):
        by_time = sorted(sides[label], key=lambda r: r["elapsed_s"])
        out.append({**by_time[len(by_time) // 2], "rounds": sides[label], "paired_gains": gains})
    return out[0], out[1]


def _busy_core_s() -> float:
    """CPU seconds the whole machine spent busy since boot (/proc/stat: all but idle and iowait)."""
    with open("/proc/stat") as fh:
        ticks = [int(x) for x in fh.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


# --- summary, targets, table ------------------------------------------------------------------
def summarize(raw: dict) -> dict:
    """Medians and ratios from the raw measurements (missing phases give None)."""
    worker, plain, bare = raw.get("worker", {}), raw.get("plain", {}), raw.get("bare", {})
    rows = {}
    for name in raw["config"]["workloads"]:
        wk, pl = worker.get(name, {}), plain.get(name, {})
        timings = wk.get("timings", [])
        e2e, plain_s, bare_s = median(wk.get("e2e_s")), median(pl.get("process_s")), median(bare.get(name))
        paired = wk.get("bare_paired_s")
        if paired:  # the bare run right before each worker run: the median of those ratios
            bare_s = median(paired)
            over_bare = median(e / b for e, b in zip(wk["e2e_s"], paired, strict=True))
        else:
            over_bare = ratio(e2e, bare_s)
        rows[name] = {
            "worker_e2e_s": e2e, "processing_s": median(wk.get("processing_s")), "bare_sim_s": bare_s,
            "worker_simulate_s": median(t.get("simulate") for t in timings),
            "our_animation_s": median(t.get("products.animation") for t in timings),
            "plain_process_s": plain_s, "plain_animation_s": median(pl.get("animation_s")),
            "plain_run_s": median(pl.get("run_s")), "plain_over_worker": ratio(plain_s, e2e),
            "worker_over_bare": over_bare, "bare_paired": bool(paired), "stages_s": _stages(timings, e2e),
        }  # fmt: skip
    processing = [t for name in rows for t in worker.get(name, {}).get("processing_s", [])]
    c = rows.get("C", {})
    return {
        "rows": rows,
        "processing_median_s": median(processing),
        "animation": {
            "frames": plain.get("C", {}).get("frames") or _frames(raw["config"], "C"),
            "ours_s": c.get("our_animation_s"),
            "opendrift_s": c.get("plain_animation_s"),
            "ratio": ratio(c.get("plain_animation_s"), c.get("our_animation_s")),
        },
        "memory": _memory_summary(raw.get("memory")),
        "throughput": _throughput_summary(raw.get("throughput"), rows, raw.get("throughput_serial")),
        "limits": {k: v for k, v in raw.get("limits", {}).items() if k in ("big60", "big10")},
    }


def _frames(cfg: dict, name: str) -> int | None:
    w = cfg["workloads"].get(name)
    return int(round(w["hours"] * 60 / cfg["scene"]["output_step_minutes"])) + 1 if w else None


def _stages(timings: list[dict], e2e: float | None) -> dict[str, float]:
    """Median seconds of each pipeline stage (summary.json timings_s) and the rest of RPUSH -> completed."""
    keys = dict.fromkeys(k for t in timings for k in t)
    stages = {k: median(t.get(k) for t in timings) for k in keys}
    whole = stages.pop("run_mission", None)  # the pipeline's own wall time: its stages overlap (animation)
    if e2e is not None and stages:
        stages["outside_pipeline"] = e2e - (whole or sum(v for v in stages.values() if v is not None))
    return stages


def _memory_summary(mem: dict | None) -> dict:
    if not mem:
        return {"pss_ratio": None}
    idle, one, two = (mem[k]["pss_mb"] for k in ("idle", "one", "two"))
    return {
        "idle_pss_mb": idle, "one_pss_mb": one, "two_pss_mb": two, "pss_ratio": ratio(two, one),
        "one_rss_mb": mem["one"]["rss_mb"], "two_rss_mb": mem["two"]["rss_mb"],
        "job_pss_ratio": ratio(two - idle, one - idle),  # what a second job adds, relative to the first
    }  # fmt: skip


def _throughput_summary(tp: dict | None, rows: dict, tp_serial: dict | None = None) -> dict:
    """The concurrency gain is measured against the same mix on a MAX_CONCURRENT_JOBS=1 worker when that
    phase ran, else estimated as the sum of the single-job end-to-end times (no gaps between jobs)."""
    if not tp:
        return {"jobs_per_min": None}
    serial = [rows.get(name, {}).get("worker_e2e_s") for name in tp["mix"]]
    estimate_s = sum(serial) if None not in serial else None
    serial_s = tp_serial["elapsed_s"] if tp_serial else estimate_s
    return {
        "jobs": tp["jobs"], "mix": tp["mix"], "elapsed_s": tp["elapsed_s"], "jobs_per_min": tp["jobs_per_min"],
        "serial_estimate_s": estimate_s, "serial_measured_s": tp_serial["elapsed_s"] if tp_serial else None,
        "busy_cores": tp.get("busy_cores"), "serial_busy_cores": (tp_serial or {}).get("busy_cores"),
        "concurrency_gain": median(tp["paired_gains"]) if tp.get("paired_gains") else ratio(serial_s, tp["elapsed_s"]),
        "rounds": len(tp.get("rounds", [])) or 1,
    }  # fmt: skip


def evaluate_targets(summary: dict) -> list[dict]:
    out = []
    for what, path, op, limit in TARGETS:
        value = summary
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        compare = {"<=": value.__le__, "<": value.__lt__, ">=": value.__ge__} if value is not None else {}
        ok = None if value is None else compare[op](limit)
        out.append({"target": what, "value": value, "op": op, "limit": limit, "pass": ok})
    return out


def _f(value: float | None, fmt: str = "{:.2f}", unit: str = "") -> str:
    return "-" if value is None else fmt.format(value) + unit


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def format_table(raw: dict, summary: dict, targets: list[dict]) -> str:
    m, cfg = raw["machine"], raw["config"]
    lines = [
        f"Driftline benchmark {m['date']}: {m['cpu_count']} CPUs ({m['cpu_model']}), Python {m['python']}, "
        f"OpenDrift {m['opendrift']}; medians of {cfg['runs']} run(s){' [QUICK]' if cfg['quick'] else ''}",
        "load average (1 min) at each phase: " + ", ".join(f"{k} {v[0]:.2f}" for k, v in raw.get("load", {}).items()),
        "",
        f"{'workload':<16}{'worker e2e':>11}{'->process':>10}{'w.simulate':>11}{'bare sim':>10}{'plain proc':>11}"
        f"{'plain anim':>11}{'plain/worker':>13}{'worker/bare':>12}",
    ]
    for name, r in summary["rows"].items():
        w = cfg["workloads"][name]
        lines.append(
            f"{name + ' ' + str(w['particles']) + 'x' + format(w['hours'], 'g') + 'h':<16}"
            f"{_f(r['worker_e2e_s'], unit=' s'):>11}{_f(_ms(r['processing_s']), '{:.0f}', ' ms'):>10}"
            f"{_f(r['worker_simulate_s'], unit=' s'):>11}{_f(r['bare_sim_s'], unit=' s'):>10}"
            f"{_f(r['plain_process_s'], '{:.1f}', ' s'):>11}{_f(r['plain_animation_s'], '{:.1f}', ' s'):>11}"
            f"{_f(r['plain_over_worker'], '{:.1f}', 'x'):>13}{_f(r['worker_over_bare'], unit='x'):>12}"
        )  # fmt: skip
    a, mem, tp = summary["animation"], summary["memory"], summary["throughput"]
    if any(r.get("bare_paired") for r in summary["rows"].values()):
        lines.append("worker/bare: the median of per-run ratios, each bare run made right before the worker run")
    lines.append("")
    for name, r in summary["rows"].items():
        if r["stages_s"]:
            lines.append(f"{name} worker stages: " + ", ".join(f"{k} {v:.2f}" for k, v in r["stages_s"].items()))
    lines += [
        "",
        f"animation C ({a['frames']} frames): ours {_f(a['ours_s'], unit=' s')}, OpenDrift animation(fast=True) "
        f"{_f(a['opendrift_s'], unit=' s')} -> {_f(a['ratio'], '{:.1f}', 'x')} faster",
    ]
    if mem.get("pss_ratio") is not None:
        lines.append(
            f"memory C (worker tree): PSS idle {mem['idle_pss_mb']:.0f} MB, one job {mem['one_pss_mb']:.0f} MB, "
            f"two jobs {mem['two_pss_mb']:.0f} MB -> ratio {mem['pss_ratio']:.2f} (RSS sum {mem['one_rss_mb']:.0f} / "
            f"{mem['two_rss_mb']:.0f} MB; added by jobs two/one {_f(mem['job_pss_ratio'])})"
        )  # fmt: skip
    if tp.get("jobs_per_min") is not None:
        lines.append(
            f"throughput: {tp['jobs']} jobs ({tp['mix']}) in {tp['elapsed_s']:.1f} s -> "
            f"{tp['jobs_per_min']:.1f} jobs/min "
            f"(one at a time: measured {_f(tp['serial_measured_s'], '{:.1f}', ' s')} on a MAX_CONCURRENT_JOBS=1 "
            f"worker, sum of single e2e {_f(tp['serial_estimate_s'], '{:.1f}', ' s')}; concurrency gain "
            f"{_f(tp['concurrency_gain'], unit='x')}, median of {tp.get('rounds', 1)} paired round(s)); "
            f"machine busy {_f(tp.get('busy_cores'))} cores concurrent, "
            f"{_f(tp.get('serial_busy_cores'))} one at a time"
        )  # fmt: skip
    if raw.get("limits"):
        from bench.capacity import format_limits

        lines += format_limits(raw["limits"])
    lines += ["", "targets:"]
    for t in targets:
        verdict = {True: "PASS", False: "FAIL", None: "n/a "}[t["pass"]]
        lines.append(f"  {verdict}  {t['target']:<60} {_f(t['value'], '{:.3g}')} {t['op']} {t['limit']:g}")
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------
def write_grid_file(work: Path) -> Path:
    """The 300 x 300 x 48 h CF forcing file of the gridded workload (bench/gridded.py), for both sides."""
    from datetime import datetime

    from bench.gridded import write_grid

    path = work / "grid.nc"
    log("writing the 300 x 300 x 48 h gridded forcing file")
    return write_grid(path, datetime.fromisoformat(SCENE["start_time"].replace("Z", "")))


def upload_grid(svc, workloads: dict[str, Workload]) -> None:
    """Put the gridded workload's file where the worker's job names it (the forcing bucket)."""
    for w in workloads.values():
        if w.forcing_file:
            svc.s3().upload_file(w.forcing_file, "driftline-forcing", GRID_KEY)


def run_benchmark(
    runs: int, quick: bool, phases: tuple[str, ...], work: Path, throughput_rounds: int = 3, gridded: bool = True
) -> dict:
    workloads = dict(QUICK if quick else FULL)
    if gridded and {"bare", "plain", "worker"} & set(phases):
        name = "G"
        grid = write_grid_file(work)
        workloads[name] = Workload(name, *(GRIDDED_QUICK if quick else GRIDDED)[name], forcing_file=str(grid))
    raw: dict = {
        "machine": machine_info(),
        "config": {
            "runs": runs,
            "throughput_rounds": throughput_rounds,
            "quick": quick,
            "phases": list(phases),
            "scene": SCENE,
            "workloads": {k: asdict(w) for k, w in workloads.items()},
        },
        "load": {},
    }
    mark = lambda phase: raw["load"].__setitem__(phase, os.getloadavg())  # noqa: E731
    paired = {"bare", "worker"} <= set(phases)  # then each bare run is made right before the worker's
    if "bare" in phases and not paired:
        mark("bare")
        raw["bare"] = measure_bare(workloads, runs)
        log(f"bare: {raw['bare']}")
    if "plain" in phases:
        mark("plain")
        raw["plain"] = measure_plain(workloads, runs, work)
    if {"worker", "memory", "throughput"} & set(phases):
        with services(work) as svc:
            with Daemon(svc, work) as daemon:
                upload_grid(svc, workloads)  # the worker made the buckets
                if "worker" in phases:
                    mark("worker")
                    with contextlib.ExitStack() as stack:
                        bare = stack.enter_context(BareServer(workloads["A"])) if paired else None
                        raw["worker"] = measure_worker(daemon, workloads, runs, bare)
                workloads = {k: w for k, w in workloads.items() if not w.forcing_file}  # memory, throughput
                if "memory" in phases:
                    mark("memory")
                    raw["memory"] = measure_memory(daemon, workloads["C"])
                if "throughput" in phases:  # the same mix on a worker that takes one job at a time, alternately
                    with Daemon(svc, work, "bench-serial", MAX_CONCURRENT_JOBS="1") as serial:
                        mark("throughput")
                        mix = MIX_QUICK if quick else MIX_FULL
                        raw["throughput"], raw["throughput_serial"] = measure_throughput_rounds(
                            daemon, serial, workloads, mix, 1 if quick else throughput_rounds
                        )
    if set(LIMIT_PHASES) & set(phases):
        from bench.capacity import run_limits

        mark("limits")
        with services(work) as svc:
            raw["limits"] = run_limits(svc, work, phases)
    mark("end")
    raw["summary"] = summarize(raw)
    raw["targets"] = evaluate_targets(raw["summary"])
    raw["table"] = format_table(raw, raw["summary"], raw["targets"])
    return raw


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3, help="runs per workload (default 3; medians are reported)")
    p.add_argument("--throughput-rounds", type=int, default=3,
                   help="throughput: rounds of (2 at a time, then 1 at a time); the gain is their median")  # fmt: skip
    p.add_argument("--quick", action="store_true", help="1 run of small workloads (a smoke test, not comparable)")
    p.add_argument("--no-gridded", action="store_true", help="leave out workload G (5000 x 48 h on a 300 x 300 grid)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results.json"), help="JSON output file")
    p.add_argument("--phases", default=",".join(PHASES),
                   help=f"comma-separated subset of {','.join(PHASES)},limits or {','.join(LIMIT_PHASES)}")  # fmt: skip
    args = p.parse_args(argv)
    phases = tuple(y for x in args.phases.split(",") if x for y in (LIMIT_PHASES if x == "limits" else (x,)))
    unknown = set(phases) - set(PHASES) - set(LIMIT_PHASES)
    if unknown:
        p.error(f"unknown phases: {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="drift-bench-") as tmp:
        raw = run_benchmark(1 if args.quick else args.runs, args.quick, phases, Path(tmp), args.throughput_rounds,
                            gridded=not args.no_gridded)  # fmt: skip
    print(raw["table"])
    Path(args.out).write_text(json.dumps(raw, indent=2, default=str))
    log(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
