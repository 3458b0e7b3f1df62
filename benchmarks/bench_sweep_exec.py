"""Time the sweep's executors against each other, and a million-run sweep on a Dask LocalCluster.

    .venv/bin/python benchmarks/bench_sweep_exec.py [--replications N] [--jobs 1,2] [--big-runs 100000,1000000]
                                                    [--skip-overhead] [--skip-big]

(--big-runs: multiples of 1,600, the runs of one combination.)

1. Overhead: the default sweep (scenarios/default.yaml, break-even finding
   included, --replications N) on the local executor and on a Dask
   LocalCluster of the same number of workers (one thread each), one after the
   other in this invocation: wall time, runs/s, CPU seconds in every process
   (this one, its pool workers, the Dask workers), the Dask overhead in runs/s,
   and whether runs.csv is byte-identical. The cluster's start-up is timed apart
   (it is paid once per sweep, not per run).
2. Big grid: a --vary sweep of exactly N grid runs (default 102,400 then
   1,000,000: a short job, 8 epochs of 30 s, so that a million runs fit in
   minutes; 2 patterns x 2 strategies x 4 rates x 100 replications x
   startup x write-time combinations, no bracket expansion or refinement) on a
   LocalCluster of 2 workers, each size in a fresh process: wall time, runs/s,
   the peak resident memory of the sweep's process (with the Dask scheduler in
   it) and of each worker, and the size of the chunk log. The peak at the two
   sizes shows whether memory grows with the number of runs.

Not a test: other work on the machine moves the numbers (the load average is
printed), so compare executors within one invocation only.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from spotsim import sweep as sw
from spotsim.config import load_scenario

ROOT = Path(__file__).resolve().parent.parent
SHORT_JOB = ["job.epochs=8", "job.epoch_s=30", "vm.startup_s=30", "checkpoint.every_epochs=2"]
BIG_RATES = (1.0, 4.0, 16.0, 64.0)
BIG_REPLICATIONS = 100


def _rusage_s(who) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def _worker_cpu_s() -> float:
    return _rusage_s(resource.RUSAGE_SELF)


def _worker_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cluster(workers: int):
    import distributed
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False},
                                       silence_logs=logging.ERROR)
    return cluster, distributed.Client(cluster, set_as_default=False)


def overhead(args) -> None:
    from spotsim.executors.dask import DaskExecutor
    spec = sw.SweepSpec(load_scenario([str(ROOT / "scenarios" / "default.yaml")]), tuple(sw.parse_rates(sw.DEFAULT_RATES)),
                        replications=args.replications)
    print(f"default sweep: {len(spec.grid())} cells x {spec.replications} replications, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory() as tmp:
        for jobs in (int(j) for j in args.jobs.split(",")):
            out = Path(tmp) / f"local{jobs}"
            t0, c0 = time.perf_counter(), _rusage_s(resource.RUSAGE_SELF) + _rusage_s(resource.RUSAGE_CHILDREN)
            outcome = sw.run_sweep(spec, out, jobs=jobs)
            wall = time.perf_counter() - t0
            cpu = _rusage_s(resource.RUSAGE_SELF) + _rusage_s(resource.RUSAGE_CHILDREN) - c0
            local_rate = outcome.runs / wall
            print(f"  local  --jobs {jobs}: {wall:6.1f} s wall, {outcome.runs} runs, {local_rate:7,.0f} runs/s, "
                  f"{cpu:6.1f} CPU-s ({outcome.runs / cpu:,.0f} runs per CPU-s)")
            t_start = time.perf_counter()
            cluster, client = _cluster(jobs)
            start_s = time.perf_counter() - t_start
            try:
                dout = Path(tmp) / f"dask{jobs}"
                w0 = sum(client.run(_worker_cpu_s).values())
                t0, c0 = time.perf_counter(), _rusage_s(resource.RUSAGE_SELF)
                outcome = sw.run_sweep(spec, dout, jobs=jobs, executor=DaskExecutor(client=client))
                wall = time.perf_counter() - t0
                cpu = _rusage_s(resource.RUSAGE_SELF) - c0 + sum(client.run(_worker_cpu_s).values()) - w0
            finally:
                client.close()
                cluster.close()
            rate = outcome.runs / wall
            same = (out / "runs.csv").read_bytes() == (dout / "runs.csv").read_bytes()
            print(f"  dask   {jobs} worker(s): {wall:6.1f} s wall, {outcome.runs} runs, {rate:7,.0f} runs/s, "
                  f"{cpu:6.1f} CPU-s ({outcome.runs / cpu:,.0f} runs per CPU-s; scheduler and client included), "
                  f"cluster start-up {start_s:.1f} s apart")
            print(f"  -> Dask overhead at {jobs} worker(s): {100 * (1 - rate / local_rate):+.1f}% runs/s "
                  f"(negative: Dask faster); runs.csv byte-identical: {same}")
    print(f"load average at end {os.getloadavg()[0]:.2f}")


def big_spec(runs: int) -> sw.SweepSpec:
    """A --vary sweep of exactly `runs` grid runs (a multiple of the 1,600 runs of one combination)."""
    per_combo = 2 * 2 * len(BIG_RATES) * BIG_REPLICATIONS
    combos = max(1, runs // per_combo)
    side = max(d for d in range(1, math.isqrt(combos) + 1) if combos % d == 0)
    startups = tuple(20 + 2 * i for i in range(combos // side))
    writes = tuple(round(1 + 0.5 * i, 1) for i in range(side))
    return sw.SweepSpec(load_scenario([], SHORT_JOB), BIG_RATES, strategies=("fixed", "milestone"),
                        patterns=("poisson", "bursty"), replications=BIG_REPLICATIONS,
                        vary=(("vm.startup_s", startups), ("checkpoint.write_s", writes)), refine_steps=0,
                        expansion_cap=max(BIG_RATES))


def big_one(runs: int, workers: int) -> dict:
    """One big sweep in this process: its numbers as a dict (printed as JSON for the parent)."""
    from spotsim.executors.dask import DaskExecutor
    spec = big_spec(runs)
    cluster, client = _cluster(workers)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    log_size = [0]
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / sw.PARTIAL / sw.CHUNKS

        def progress(n, planned):
            if log.exists():
                log_size[0] = log.stat().st_size

        t0 = time.perf_counter()
        outcome = sw.run_sweep(spec, tmp, jobs=workers, executor=DaskExecutor(client=client), progress=progress)
        wall = time.perf_counter() - t0
        runs_csv = (Path(tmp) / "runs.csv").stat().st_size
        workers_peak = sorted(client.run(_worker_peak_mib).values())
    client.close()
    cluster.close()
    return {"grid_runs": len(spec.grid()) * spec.replications, "runs": outcome.runs,
            "resimulated": outcome.resimulated_runs, "cells": outcome.cells, "combinations": len(spec.combos()),
            "wall_s": wall, "runs_per_s": outcome.runs / wall, "rss_before_mib": base,
            "rss_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "worker_peak_mib": workers_peak, "chunk_log_mib": log_size[0] / 2**20, "runs_csv_mib": runs_csv / 2**20}


def big(args) -> None:
    for runs in (int(r) for r in args.big_runs.split(",")):
        print(f"big --vary sweep of {runs:,} grid runs on a LocalCluster of 2 workers (load average "
              f"{os.getloadavg()[0]:.2f})", flush=True)
        proc = subprocess.run([sys.executable, __file__, "--big-only", str(runs)], capture_output=True, text=True,
                              check=False)
        if proc.returncode != 0:
            print(proc.stderr[-2000:])
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"  {r['runs']:,} runs ({r['resimulated']} re-simulated) in {r['cells']:,} cells "
              f"({r['combinations']} combinations): {r['wall_s']:.0f} s wall, {r['runs_per_s']:,.0f} runs/s; "
              f"peak RSS of the sweep's process {r['rss_peak_mib']:.0f} MiB ({r['rss_before_mib']:.0f} MiB before "
              f"the sweep, Dask scheduler included), workers {', '.join(f'{m:.0f}' for m in r['worker_peak_mib'])} "
              f"MiB; chunk log {r['chunk_log_mib']:.0f} MiB, runs.csv {r['runs_csv_mib']:.0f} MiB", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replications", type=int, default=100, help="of the default sweep timed for the overhead")
    ap.add_argument("--jobs", default="1,2", help="worker counts compared")
    ap.add_argument("--big-runs", default="102400,1000000", help="grid runs of the big sweeps")
    ap.add_argument("--skip-overhead", action="store_true")
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--big-only", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.big_only is not None:
        print(json.dumps(big_one(args.big_only, 2)))
        return
    if not args.skip_overhead:
        overhead(args)
    if not args.skip_big:
        big(args)


if __name__ == "__main__":
    main()
