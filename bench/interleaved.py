"""Two versions of the worker measured in one run: each worker run right after a bare OpenDrift run of the same
workload, the versions alternating, so that the machine's speed drift falls on both alike.

    git worktree add /tmp/before <commit>
    .venv/bin/python bench/interleaved.py --before /tmp/before --rounds 9 [--out interleaved.json]

Both daemons (`worker.py` of the other checkout and of this one) run idle side by side on one set of throwaway
services (own queues); workloads A, C and G of bench/run.py. Prints the medians of the paired worker/bare
ratios per version and workload.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import tests.services as services_mod  # noqa: E402 - after the path set-up, when run as a script
from bench.harness import Daemon, Workload, log, services  # noqa: E402
from bench.run import FULL, GRIDDED, BareServer, upload_grid, write_grid_file  # noqa: E402


def _daemon(svc, work: Path, name: str, root: Path) -> Daemon:
    services_mod.ROOT = root  # tests.services.Worker starts ROOT/worker.py
    try:
        return Daemon(svc, work, worker_id=f"interleaved-{name}").__enter__()
    finally:
        services_mod.ROOT = ROOT


def run(before: Path, rounds: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="drift-interleaved-") as tmp, services(Path(tmp)) as svc:
        work = Path(tmp)
        grid = write_grid_file(work)
        workloads = {"A": FULL["A"], "C": FULL["C"], "G": Workload("G", *GRIDDED["G"], forcing_file=str(grid))}
        daemons = {"before": _daemon(svc, work, "before", before), "after": _daemon(svc, work, "after", ROOT)}
        try:
            upload_grid(svc, workloads)
            for d in daemons.values():
                d.run_one(workloads["A"])  # a fresh worker's first job, and G's forcing download: not measured
                d.run_one(workloads["G"])
            pairs: dict = {v: {k: [] for k in workloads} for v in daemons}
            with BareServer(workloads["A"]) as bare:
                for r in range(rounds):
                    for k, w in workloads.items():
                        for v in ("before", "after") if r % 2 == 0 else ("after", "before"):
                            bare_s = bare.run(w)
                            time.sleep(0.3)  # the supervisor back in its blocking claim: an idle worker
                            pairs[v][k].append((daemons[v].run_one(w)["completed"], bare_s))
                    log(f"round {r + 1}/{rounds}: " + " ".join(
                        f"{k} {_ratio(pairs['before'][k][-1]):.2f}/{_ratio(pairs['after'][k][-1]):.2f}"
                        for k in workloads))  # fmt: skip
        finally:
            for d in daemons.values():
                d.__exit__(None, None, None)
    return pairs


def _ratio(pair: tuple[float, float]) -> float:
    return pair[0] / pair[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", required=True, help="checkout of the version to compare with (git worktree)")
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--out", default=str(ROOT / "out" / "interleaved.json"))
    args = p.parse_args(argv)
    pairs = run(Path(args.before).resolve(), args.rounds)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(pairs))
    for v, rows in pairs.items():
        print(v, " ".join(
            f"{k} {statistics.median(map(_ratio, rs)):.3f} (worker {statistics.median(e for e, _ in rs):.2f} s, "
            f"bare {statistics.median(b for _, b in rs):.2f} s)" for k, rs in rows.items()))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
