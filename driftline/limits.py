"""A job's memory and time before it starts, the refusal of jobs that cannot fit, and OOM-kill evidence.

The estimate is a linear model of what a job process adds over the idle worker, fitted to the
benchmark's measurements (bench/run.py `limits`); it errs on the large side. The supervisor calls
`check_fits` right after validating a job, so a mission that cannot fit fails at once with the numbers
instead of being killed by the kernel half-way.
"""

from __future__ import annotations

import math
import signal
from dataclasses import dataclass
from pathlib import Path

from config import Settings
from driftline.contract.params import MissionParams
from driftline.errors import DriftError, InvalidJob, JobCrashed, PermanentError

OUTPUT_VARIABLES = 25  # Leeway's history: element properties + environment variables, float32 each
# Fitted (with ~25 % margin) to bench/run.py --phases limits: 50000 x 240 h added 468 MB at 241 output
# times and 1381 MB at 1441 (docs/benchmark.md); small jobs add ~200 MB.
BASE_MB = 200.0  # a job process over the idle worker: its own heap, copied-on-write pages, clients
BUFFER_MB = 48.0  # driftline.trajfile.BUFFER_BYTES
PARTICLE_BYTES = 2500.0  # per particle: OpenDrift's element and environment arrays and their temporaries
PRODUCT_BYTES_PER_VALUE = 20.0  # per particle and output time: the float32/int8 arrays, cells, products' masks
STEP_S = 0.005  # seconds per time step whatever the particle count (readers, bookkeeping)
PARTICLE_STEP_S = 2.4e-6  # seconds per particle per time step (Leeway physics, landmask, output)
OUTPUT_S = 0.03  # seconds per output time in the products (animation frame, per-time statistics)
PRODUCT_VALUE_S = 1.0e-7  # seconds per particle per output time in the products
CGROUP_ROOT = Path("/sys/fs/cgroup")


class JobTooLarge(InvalidJob):
    """The job's estimated memory or time does not fit this worker's limits."""

    reason = "too_large"


class JobOutOfMemory(PermanentError):
    """The kernel killed the job process for memory; the same job would be killed again."""

    reason = "out_of_memory"


@dataclass(frozen=True)
class Estimate:
    memory_mb: float
    seconds: float
    outputs: int
    steps: int


def estimate(p: MissionParams) -> Estimate:
    """Memory (MB over the idle worker) and wall time of a job, from its size alone."""
    outputs = int(math.ceil(p.duration_hours * 60 / p.output_step_minutes)) + 1
    steps = int(math.ceil(p.duration_hours * 60 / p.time_step_minutes))
    n = p.num_particles
    history = n * outputs * PRODUCT_BYTES_PER_VALUE
    if p.ensemble:  # members keep their whole history in memory (float32 per variable) until the file is written
        history += n * outputs * OUTPUT_VARIABLES * 4 * 2
    memory = BASE_MB + BUFFER_MB + (n * PARTICLE_BYTES + history) / 2**20
    simulation_s = steps * (STEP_S * max(1, len(p.ensemble)) + n * PARTICLE_STEP_S)
    seconds = simulation_s + outputs * (OUTPUT_S + n * PRODUCT_VALUE_S)
    return Estimate(round(memory), round(seconds, 1), outputs, steps)


def check_fits(p: MissionParams, settings: Settings) -> Estimate:
    """Raise JobTooLarge (one line: the numbers and what to change) if the job cannot fit the worker's limits."""
    e = estimate(p)
    every = f"{p.duration_hours:g} h every {p.output_step_minutes:g} min"
    size = f"{p.num_particles} particles x {e.outputs} outputs ({every})"
    if e.memory_mb > settings.max_job_memory_mb:
        raise JobTooLarge(
            f"job too large: estimated memory {e.memory_mb:.0f} MB for {size} exceeds MAX_JOB_MEMORY_MB="
            f"{settings.max_job_memory_mb}; use fewer particles, a larger output_step_minutes or a shorter "
            f"duration_hours (or give the worker more memory)"
        )
    if e.seconds > settings.job_timeout_s:
        raise JobTooLarge(
            f"job too long: estimated run time {e.seconds:.0f} s for {size} with a {p.time_step_minutes:g}-min time "
            f"step exceeds JOB_TIMEOUT_S={settings.job_timeout_s:g}; use fewer particles, a larger "
            f"time_step_minutes or a shorter duration_hours"
        )
    return e


def oom_kill_count(root: Path = CGROUP_ROOT) -> int | None:
    """The kernel's OOM-kill counter of this container's memory cgroup (v2 memory.events or v1 oom_control)."""
    for path in (root / "memory.events", root / "memory" / "memory.oom_control"):
        try:
            lines = path.read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
    return None


def signal_name(number: int) -> str:
    """SIGKILL, SIGTERM, …, and SIGRTMIN+6 for real-time signals (34-64), which have no Signals member."""
    try:
        return signal.Signals(number).name
    except ValueError:
        if signal.SIGRTMIN <= number <= signal.SIGRTMAX:
            return f"SIGRTMIN+{number - signal.SIGRTMIN}"
        return f"signal {number}"


def exit_description(exitcode: int | None) -> str:
    """How a process ended, for messages: `signal SIGKILL`, `signal SIGRTMIN+6`, `exit code 1`."""
    return f"signal {signal_name(-exitcode)}" if exitcode and exitcode < 0 else f"exit code {exitcode}"


def crash_error(
    exitcode: int | None, oom_kills_before: int | None, root: Path = CGROUP_ROOT, alone: bool = True
) -> DriftError:
    """The error for a job process that died without reporting: out of memory when the evidence says so.

    Evidence: killed by SIGKILL (the OOM killer's signal; the supervisor's own kills never come here) and
    the cgroup's oom_kill counter grew while the job ran. The counter is the whole cgroup's: when other jobs
    ran beside it, the kill may be theirs, or the sum of them, so the job is retried (JobCrashed), not failed.
    """
    how = exit_description(exitcode)
    after = oom_kill_count(root)
    oom = oom_kills_before is not None and after is not None and after > oom_kills_before
    if exitcode == -signal.SIGKILL and oom and not alone:
        return JobCrashed(
            f"job process killed by the kernel (SIGKILL, cgroup oom_kill {oom_kills_before} -> {after}) while "
            "other jobs ran beside it: retried"
        )
    if exitcode == -signal.SIGKILL and oom:
        return JobOutOfMemory(
            f"out of memory: the job process was killed by the kernel (SIGKILL, cgroup oom_kill "
            f"{oom_kills_before} -> {after}); use fewer particles, a larger output_step_minutes or a shorter "
            f"duration_hours, or lower MAX_JOB_MEMORY_MB / MAX_CONCURRENT_JOBS"
        )
    return JobCrashed(f"job process died ({how}) before finishing")
