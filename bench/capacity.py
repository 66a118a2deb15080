"""bench/run.py's limits phases: the largest mission, memory against duration, refusal, worker start.

big60, big10  50000 particles x 240 h at 60- and 10-minute output through the daemon: wall time (RPUSH ->
              completed) and peak job PSS = peak PSS of the worker's process tree minus the idle tree's
flat          memory against duration for a fixed particle count (10000 x 24/96/240 h): flat when streamed
refusal       a job over MAX_JOB_MEMORY_MB: failed at once, with the message
startup       worker start to first claim (process start -> "listening", right before its first BLMOVE)
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass

from bench.harness import SCENE, Daemon, TreeSampler, log

JOB_BUDGET_MB = "4000"  # the daemon's MAX_JOB_MEMORY_MB here: high enough to measure what the big jobs really use


@dataclass(frozen=True)
class Mission:
    particles: int
    hours: float
    output_minutes: int = 60
    step_minutes: int = 10

    def params(self) -> dict:
        return {**SCENE, "num_particles": self.particles, "duration_hours": self.hours,
                "output_step_minutes": self.output_minutes, "time_step_minutes": self.step_minutes}  # fmt: skip


BIG = {"big60": Mission(50000, 240, 60), "big10": Mission(50000, 240, 10)}
FLAT = [Mission(10000, h) for h in (24, 96, 240)]
REFUSED = Mission(50000, 240, 2, 2)  # 7201 outputs: ~7 GB estimated, over JOB_BUDGET_MB


def idle_pss(d: Daemon) -> float:
    time.sleep(1.0)
    with TreeSampler(d.pid) as idle:
        time.sleep(1.0)
    return idle.peak["pss_mb"]


def measure_mission(d: Daemon, m: Mission) -> dict:
    """Peak job PSS (tree peak - idle) and RPUSH -> completed of one mission on an otherwise idle worker."""
    idle = idle_pss(d)
    with TreeSampler(d.pid, interval_s=0.25) as sampler:
        mission_id, pushed = d.push(m.params())
        times = d.wait({mission_id: pushed}, timeout_s=3600)[mission_id]
    summary = d.check_products(mission_id)
    peak = sampler.peak
    row = {**asdict(m), "e2e_s": round(times["completed"], 1), "idle_pss_mb": idle, "peak_pss_mb": peak["pss_mb"],
           "job_pss_mb": round(peak["pss_mb"] - idle, 1), "timings": summary["timings_s"]}  # fmt: skip
    log(f"{m}: {row['e2e_s']} s, job PSS {row['job_pss_mb']:.0f} MB (tree peak {peak['pss_mb']:.0f}, idle {idle:.0f})")
    return row


def measure_refusal(d: Daemon) -> dict:
    mission_id, pushed = d.push(REFUSED.params())
    while True:
        with d.db.cursor() as cur:
            cur.execute("SELECT status, error_message FROM missions WHERE id = %s", (mission_id,))
            row = cur.fetchone()
        if row and row[0] == "failed":
            return {**asdict(REFUSED), "after_s": round(time.perf_counter() - pushed, 3), "error": row[1]}
        if time.perf_counter() - pushed > 60:
            raise TimeoutError(f"over-budget mission not refused: {row}")
        time.sleep(0.01)


def measure_startup(d: Daemon, started: float, ready: float) -> dict:
    """Start -> listening, and what the log says the preload (OpenDrift import, landmask, warm mission) took."""
    found = re.search(r"landmask built in ([\d.]+) s", d.worker.log())
    return {"start_to_first_claim_s": round(ready - started, 2), "preload_s": float(found.group(1)) if found else None}


def run_limits(svc, work, phases: tuple[str, ...]) -> dict:
    out: dict = {}
    started = time.perf_counter()
    with Daemon(svc, work, worker_id="bench-limits", MAX_JOB_MEMORY_MB=JOB_BUDGET_MB) as d:
        if "startup" in phases:
            out["startup"] = measure_startup(d, started, time.perf_counter())
        for name, m in BIG.items():
            if name in phases:
                out[name] = measure_mission(d, m)
        if "flat" in phases:
            out["flat"] = [measure_mission(d, m) for m in FLAT]
        if "refusal" in phases:
            out["refusal"] = measure_refusal(d)
            log(f"refusal: {out['refusal']['error']}")
    return out


def format_limits(lim: dict) -> list[str]:
    lines = ["", "limits:"]
    for name in BIG:
        if name in lim:
            r = lim[name]
            lines.append(
                f"  {r['particles']} x {r['hours']:g} h, output every {r['output_minutes']} min: {r['e2e_s']:.0f} s "
                f"end to end (simulate {r['timings'].get('simulate', 0):.0f} s), job PSS {r['job_pss_mb']:.0f} MB"
            )
    if "flat" in lim:
        lines.append("  memory against duration (10000 particles): " + ", ".join(
            f"{r['hours']:g} h {r['job_pss_mb']:.0f} MB" for r in lim["flat"]))  # fmt: skip
    if "refusal" in lim:
        lines.append(f"  refused after {lim['refusal']['after_s'] * 1000:.0f} ms: {lim['refusal']['error']}")
    if "startup" in lim:
        s = lim["startup"]
        lines.append(f"  worker start to first claim {s['start_to_first_claim_s']:.1f} s (preload {s['preload_s']} s)")
    return lines
