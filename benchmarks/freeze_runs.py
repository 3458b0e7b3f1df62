"""Freeze the simulator's per-run metrics into a table a rewrite is checked against.

Usage: the code frozen is the spotsim that PYTHONPATH points at, wherever this script lies:

    PYTHONPATH=. python benchmarks/freeze_runs.py --out tests/data/frozen_runs_v12.json

To freeze a commit while the working tree changes, make a worktree of it
(`git worktree add --detach ../frozen HEAD`) and run with PYTHONPATH=../frozen, then check the
line printed at the end: it names the spotsim directory used and the commit recorded.

Each row: {"group", "sets", "seed", "metrics"}: `sets` are `--set key=value` strings on top of the
default scenario, `metrics` every RunResult field that is a number or a bool (dataclasses.fields;
the per-preemption tuple is left out; its sum is lost_h). A relative trace path in `sets`
(interrupts.trace=tests/data/...) is read from the checkout's root. The table also records the
commit of the code that wrote it ("+dirty" when spotsim/ had uncommitted changes) and `about`.

Cases (2-3 seeds each): every strategy (fixed by epochs and by seconds, adaptive, milestone, none,
young_daly) x every synthetic pattern at 3 and 12 preemptions/h; then epoch jitter, accuracy noise
off, train_then_save, unreliable notices, no emergency save, capacity waits, asynchronous saves,
warm-up and compilation, deadline policies (omniscient: 2 runs), free saves, step times, a run
stopped unfinished at the limit, 60 preemptions/h, a trace replay (tests/data/tiny_trace.json) and
AWS's billing.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import spotsim
from spotsim.config import load_scenario
from spotsim.model import simulate
from spotsim.results import RunResult

ROOT = Path(spotsim.__file__).resolve().parents[1]
"""The checkout whose code is frozen (relative trace paths are read from here)."""

TRACE = "tests/data/tiny_trace.json"

STRATEGIES = {
    "fixed_epochs": ["checkpoint.strategy=fixed", "checkpoint.every_epochs=5"],
    "fixed_seconds": ["checkpoint.strategy=fixed", "checkpoint.every_s=300"],
    "adaptive": ["checkpoint.strategy=adaptive"],
    "milestone": ["checkpoint.strategy=milestone"],
    "none": ["checkpoint.strategy=none"],
    "young_daly": ["checkpoint.strategy=young_daly"],
}
PATTERNS = ("regular", "poisson", "bursty", "weibull")
RATES = {3: 60, 12: 40}
"""Preemptions per hour -> job.epochs (about two and about eight preemptions a run)."""


def _cases() -> list[tuple[str, list[str], list[int]]]:
    """(group, sets, seeds) for every row but the deadline ones (see _deadline_cases)."""
    out: list[tuple[str, list[str], list[int]]] = []
    for sname, strat in STRATEGIES.items():
        out.append((f"grid/{sname}/none", strat + ["interrupts.pattern=none", "interrupts.rate_per_h=0",
                                                   "job.epochs=40"], [0, 1]))
        for pattern in PATTERNS:
            for rate, epochs in RATES.items():
                out.append((f"grid/{sname}/{pattern}@{rate}",
                            strat + [f"interrupts.pattern={pattern}", f"interrupts.rate_per_h={rate}",
                                     f"job.epochs={epochs}"], [0, 1, 2]))
    s3 = [0, 1, 2]
    poisson = ["interrupts.pattern=poisson", "interrupts.rate_per_h=12", "job.epochs=40"]
    weibull = ["interrupts.pattern=weibull", "interrupts.rate_per_h=6", "job.epochs=50"]
    main3 = {k: STRATEGIES[k] for k in ("fixed_epochs", "adaptive", "young_daly")}
    for sname in ("fixed_seconds", "adaptive", "milestone"):
        for pname, pat in (("poisson", poisson), ("weibull", weibull)):
            out.append((f"jitter/{sname}/{pname}", STRATEGIES[sname] + pat + ["job.epoch_jitter=0.1"], s3))
    for sname in ("fixed_epochs", "milestone"):
        out.append((f"noise_off/{sname}", STRATEGIES[sname] + poisson + ["accuracy.noise_sd=0"], s3))
    for sname, strat in main3.items():
        out.append((f"train_then_save/{sname}", strat + poisson + ["checkpoint.on_notice=train_then_save"], s3))
    out.append(("train_then_save/fixed_epochs/slow_emergency",
                STRATEGIES["fixed_epochs"] + poisson + ["checkpoint.on_notice=train_then_save",
                                                        "checkpoint.emergency_write_s=12", "job.step_s=1.5"], s3))
    for sname in ("fixed_epochs", "adaptive"):
        out.append((f"notice_reliability/{sname}", STRATEGIES[sname] + poisson + ["vm.notice_reliability=0.6"], s3))
    for sname in ("fixed_epochs", "adaptive", "milestone"):
        out.append((f"no_emergency/{sname}", STRATEGIES[sname] + poisson + ["checkpoint.emergency=false"], s3))
    for sname in ("fixed_epochs", "adaptive"):
        out.append((f"capacity_exponential/{sname}", STRATEGIES[sname] + poisson
                    + ["capacity.wait=exponential", "capacity.wait_s=120"], s3))
    out.append(("capacity_fixed/fixed_epochs", STRATEGIES["fixed_epochs"] + poisson
                + ["capacity.wait=fixed", "capacity.wait_s=45"], [0, 1]))
    asyn = ["checkpoint.async_write=true", "checkpoint.stall_s=0.3", "checkpoint.write_s=90"]
    for sname in ("fixed_epochs", "fixed_seconds", "adaptive", "milestone"):
        # a quick emergency save: a write in flight at the notice is waited for, then the save fits
        out.append((f"async/{sname}", STRATEGIES[sname] + poisson + asyn + ["checkpoint.emergency_write_s=8"], s3))
    for sname in ("fixed_epochs", "adaptive"):
        # the emergency save as long as the write: it never fits the 30 s notice
        out.append((f"async/{sname}/slow_emergency", STRATEGIES[sname] + poisson + asyn, [0, 1]))
    out.append(("async/fixed_epochs/train_then_save", STRATEGIES["fixed_epochs"] + poisson + asyn
                + ["checkpoint.on_notice=train_then_save", "checkpoint.emergency_write_s=8"], s3))
    out.append(("async/young_daly/bursty", STRATEGIES["young_daly"]
                + ["interrupts.pattern=bursty", "interrupts.rate_per_h=12", "job.epochs=40"] + asyn, s3))
    wc = ["job.warmup_s=12", "job.compile_s=90", "job.compile_cached_fraction=0.2"]
    for sname in ("fixed_epochs", "adaptive", "young_daly"):
        out.append((f"warmup_compile/{sname}", STRATEGIES[sname] + poisson + wc, s3))
    out.append(("compile_uncached/fixed_epochs", STRATEGIES["fixed_epochs"] + poisson + ["job.compile_s=60"], [0, 1]))
    out.append(("warmup_compile_async/milestone", STRATEGIES["milestone"] + weibull + wc + asyn, s3))
    for sname in ("fixed_epochs", "adaptive", "young_daly", "milestone"):
        out.append((f"free_saves/{sname}", STRATEGIES[sname] + poisson + ["checkpoint.write_s=0"], s3))
    for step in (0, 2.5):
        for sname in ("fixed_epochs", "adaptive"):
            out.append((f"step_s={step}/{sname}", STRATEGIES[sname] + poisson + [f"job.step_s={step}"], s3))
    # nothing kept across preemptions: the run stops at the limit, unfinished
    out.append(("limit/none/unfinished", STRATEGIES["none"] + ["interrupts.pattern=poisson", "interrupts.rate_per_h=30",
                                                               "job.epochs=40", "checkpoint.emergency=false"], [0, 1]))
    for sname in ("none", "fixed_epochs"):
        strat = STRATEGIES[sname] if sname == "none" else ["checkpoint.strategy=fixed", "checkpoint.every_epochs=20"]
        out.append((f"high_rate/{sname}", strat + ["interrupts.pattern=poisson", "interrupts.rate_per_h=60",
                                                   "job.epochs=40"], [0, 1]))
    trace = ["interrupts.pattern=trace", f"interrupts.trace={TRACE}", "job.epochs=30"]
    out.append(("trace/fixed_epochs", STRATEGIES["fixed_epochs"] + trace, s3))
    out.append(("trace/adaptive/capacity", STRATEGIES["adaptive"] + trace
                + ["capacity.wait=trace", "interrupts.trace_start_s=300"], [0, 1]))
    out.append(("trace/young_daly/scaled", STRATEGIES["young_daly"] + trace + ["interrupts.rate_per_h=8"], [0, 1]))
    out.append(("cloud/aws", STRATEGIES["fixed_epochs"] + poisson + ["cloud=aws", "gpu=T4"], [0, 1]))
    return out


def _deadline_cases() -> list[tuple[str, list[str], list[int]]]:
    """Policies against a deadline of 1.5x the job's on-demand makespan (computed here, written as a number)."""
    out = []
    for pname, base in (("poisson", ["checkpoint.strategy=fixed", "checkpoint.every_epochs=5",
                                     "interrupts.pattern=poisson", "interrupts.rate_per_h=12", "job.epochs=40"]),
                        ("bursty", ["checkpoint.strategy=adaptive", "interrupts.pattern=bursty",
                                    "interrupts.rate_per_h=6", "job.epochs=40"])):
        od_h = simulate(_scenario(base), 0).ondemand_makespan_h
        deadline = [f"job.deadline_h={round(1.5 * od_h, 6)!r}"]
        for policy in ("greedy", "uniform_progress", "on_demand", "spot_only"):
            out.append((f"deadline/{policy}/{pname}", base + deadline + [f"policy.name={policy}"], [0, 1, 2]))
        if pname == "poisson":
            out.append(("deadline/greedy/margin", base + deadline + ["policy.name=greedy", "policy.margin_s=300"],
                        [0, 1]))
            out.append(("deadline/uniform_progress/assume_no_loss",
                        base + deadline + ["policy.name=uniform_progress", "policy.assume_no_loss=true",
                                           "policy.hysteresis_s=120"], [0, 1]))
            out.append(("deadline/omniscient", base + deadline + ["policy.name=omniscient"], [0, 1]))
    return out


def _scenario(sets: list[str]):
    """The scenario of a row's sets, a relative trace path read from the checkout's root."""
    fixed = []
    for item in sets:
        k, _, v = item.partition("=")
        if k == "interrupts.trace" and not Path(v).is_absolute():
            item = f"{k}={ROOT / v}"
        fixed.append(item)
    return load_scenario(sets=fixed)


def metrics(result: RunResult) -> dict:
    """Every field of the result that is a number or a bool."""
    out = {}
    for f in dataclasses.fields(result):
        v = getattr(result, f.name)
        if isinstance(v, (bool, int, float)):
            out[f.name] = v
    return out


def _commit() -> str:
    def git(*args):
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout
    try:
        head = git("rev-parse", "HEAD").strip()
        dirty = git("status", "--porcelain", "--", "spotsim").strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path, help="JSON file to write")
    args = ap.parse_args(argv)
    commit = _commit()
    if commit.endswith("+dirty"):
        print(f"warning: {ROOT / 'spotsim'} has uncommitted changes; the table is marked {commit}", file=sys.stderr)
    rows = []
    t0 = time.perf_counter()
    for group, sets, seeds in _cases() + _deadline_cases():
        for seed in seeds:
            rows.append({"group": group, "sets": sets, "seed": seed,
                         "metrics": metrics(simulate(_scenario(sets), seed))})
    groups = [r["group"] for r in rows]
    assert len(set(zip(groups, (r["seed"] for r in rows)))) == len(rows), "duplicate (group, seed)"
    doc = {"about": "spotsim per-run metrics frozen before the rewrite of per-run planning (plan.py, job.py, "
                    "lifetime.py, notice.py, baseline.py); written by benchmarks/freeze_runs.py, checked by "
                    "tests/test_frozen_runs.py (floats to rel 1e-9)",
           "commit": commit, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{len(rows)} rows in {len(set(groups))} groups, {time.perf_counter() - t0:.1f} s, spotsim from "
          f"{Path(spotsim.__file__).parent}, commit {commit} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
