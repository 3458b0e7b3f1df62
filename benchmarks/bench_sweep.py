"""Time the default sweep (3 strategies x 3 patterns x 20 rates x 200 replications,
with break-even finding, bracket expansion, re-simulation of runs stopped early
below a crossing, and bracket refinement) at --jobs 1 and --jobs 2.

    .venv/bin/python benchmarks/bench_sweep.py [--replications N] [--jobs 1,2] [--scenario PATH]
                                               [--refine-steps K]

Prints wall time, runs/s and the speed-up, and checks that runs.csv is
byte-identical across worker counts. No figures are drawn (they are timed
apart: `spotsim plot`). Not a test: the machine's load moves the numbers, so
compare the two worker counts from one invocation only. CPU seconds (this
process and its workers) are printed too: when other work holds the cores,
wall time cannot show the speed-up but CPU time shows the work done per run.
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from spotsim import sweep as sw
from spotsim.config import load_scenario

ROOT = Path(__file__).resolve().parent.parent


def _cpu_s() -> float:
    """User + system CPU seconds of this process and its reaped workers."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "default.yaml"))
    ap.add_argument("--replications", type=int, default=sw.DEFAULT_REPLICATIONS)
    ap.add_argument("--rates", default=sw.DEFAULT_RATES)
    ap.add_argument("--jobs", default="1,2", help="comma list of worker counts")
    ap.add_argument("--refine-steps", type=int, default=sw.be.REFINE_MAX_STEPS,
                    help="refinement rounds (0: the grid alone, as before refinement existed)")
    args = ap.parse_args()
    spec = sw.SweepSpec(load_scenario([args.scenario]), tuple(sw.parse_rates(args.rates)),
                        replications=args.replications, refine_steps=args.refine_steps)
    print(f"default sweep: {len(spec.grid())} cells x {spec.replications} replications, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    walls, files = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for jobs in (int(j) for j in args.jobs.split(",")):
            out = Path(tmp) / f"jobs{jobs}"
            t0, c0 = time.perf_counter(), _cpu_s()
            outcome = sw.run_sweep(spec, out, jobs=jobs)
            wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
            walls[jobs] = wall
            files[jobs] = (out / "runs.csv").read_bytes()
            print(f"--jobs {jobs}: {wall:6.1f} s wall, {outcome.runs} runs ({outcome.runs / wall:,.0f} runs/s), "
                  f"{cpu:.1f} CPU-s in all processes ({outcome.runs / cpu:,.0f} runs per CPU-s), "
                  f"expanded rates {outcome.expanded_rates or 'none'}, {outcome.refined_cells} refinement cells "
                  f"in {outcome.refine_rounds} round(s), {outcome.resimulated_runs} runs re-simulated")
    if len(walls) > 1:
        j = sorted(walls)
        print(f"speed-up --jobs {j[0]} -> --jobs {j[-1]}: {walls[j[0]] / walls[j[-1]]:.2f}x")
        same = len({files[k] for k in files}) == 1
        print("runs.csv byte-identical across worker counts:", same)
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
