"""What a deadline costs on Spot, per policy, on the shipped AWS V100 availability traces.

For each job (the study's L4 job and its V100 version, scenarios/default.yaml and
scenarios/jobs/aws-v100.yaml, and a 48 h V100 job in Can't Be Late's setting), each trace of ../shared/traces/aws-spot-traces/
availability/1-node/{aws-10-26-2022,aws-02-15-2023} (the V100 zones) and each
deadline (1.25x, 1.5x, 2x the job's on-demand makespan), N submission moments
are drawn uniformly over the trace (the run seed draws them; every policy sees
the same N windows) and every policy runs in each. Reported per job, deadline
and policy over all windows of all traces: cost as a fraction of all
on-demand (mean and p95), the gap to omniscient (mean of the per-window cost
difference, as a fraction of on-demand), the share of deadlines met, and
switches.

A second table shows checkpoint-aware switching against Can't Be Late's
assumption that progress is never lost (`policy.assume_no_loss`), for the L4
job with a 60 s checkpoint that does not fit GCP's 30 s notice.

Usage: python benchmarks/deadline_study.py [--windows N] [--out results/deadlines]
"""
from __future__ import annotations

import argparse
import csv
import statistics
from pathlib import Path

import numpy as np

from spotsim.config import load_scenario
from spotsim.model import simulate

ROOT = Path(__file__).resolve().parent.parent
TRACES = ROOT.parent / "shared" / "traces" / "aws-spot-traces" / "availability" / "1-node"
TRACE_SETS = ("aws-10-26-2022", "aws-02-15-2023")
FACTORS = (1.25, 1.5, 2.0)
CBL_SETTING = ("job.epochs=288", "job.epoch_s=590", "job.eval_s=10", "vm.startup_s=600",
               "checkpoint.restore_s=120", "prices.spot_per_h=0.9731")
"""Can't Be Late's setting (../shared/FACTS.md "Deadlines"): 48 h of V100 work, a 60 h deadline (1.25x), a
changeover of 0.2 h (here 600 s start-up + 120 s restore) and their p3.2xlarge prices."""
JOBS = {"L4 job (GCP L4 prices, 30 s notice)": ("scenarios/default.yaml", (), FACTORS),
        "V100 job (AWS p3.2xlarge, 120 s notice)": ("scenarios/jobs/aws-v100.yaml", (), FACTORS),
        "48 h V100 job, Can't Be Late's setting": ("scenarios/jobs/aws-v100.yaml", CBL_SETTING, (1.25,))}
POLICIES = ("spot_only", "greedy", "uniform_progress", "omniscient")


def v100_traces() -> list[Path]:
    out = []
    for name in TRACE_SETS:
        out += sorted((TRACES / name).glob("*_v100_1.json"))
    if not out:
        raise SystemExit(f"no V100 traces under {TRACES} (the study needs ../shared/traces)")
    return out


def runs(scenario_file: str, trace: Path, factor: float, policy: str, windows: int, extra=()):
    base = load_scenario([ROOT / scenario_file], ["interrupts.pattern=trace", f"interrupts.trace={trace}",
                                                  "capacity.wait=trace", *extra])
    od_h = simulate(base.with_values({"policy.name": "on_demand"}), 0).ondemand_makespan_h
    s = base.with_values({"job.deadline_h": od_h * factor, "policy.name": policy})
    return [simulate(s, (2026, i)) for i in range(windows)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=100, help="submission moments per trace")
    ap.add_argument("--out", default="results/deadlines", help="folder for deadline_study.csv")
    args = ap.parse_args()
    traces = v100_traces()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    print(f"{len(traces)} V100 traces, {args.windows} windows each\n")
    print("| job | deadline | policy | cost / on-demand (mean) | p95 | gap to omniscient | deadlines met | switches |")
    print("|---|---|---|---|---|---|---|---|")
    for job, (path, extra, factors) in JOBS.items():
        for f in factors:
            per_policy = {p: [] for p in POLICIES}
            for trace in traces:
                for p in POLICIES:
                    per_policy[p] += runs(path, trace, f, p, args.windows, extra)
            floor = np.array([r.cost_ratio for r in per_policy["omniscient"]])
            for p in POLICIES:
                rs = per_policy[p]
                ratio = np.array([r.cost_ratio for r in rs])
                gap = ratio - floor
                met = statistics.mean(r.met_deadline for r in rs)
                switches = statistics.mean(r.switches for r in rs)
                row = dict(job=job, deadline=f"{f:g}x", policy=p, cost_ratio_mean=ratio.mean(),
                           cost_ratio_p95=float(np.percentile(ratio, 95)), gap_mean=gap.mean(),
                           gap_min=gap.min(), met=met, switches=switches, runs=len(rs))
                rows.append(row)
                print(f"| {job} | {f:g}x | {p} | {ratio.mean():.3f} | {row['cost_ratio_p95']:.3f} | "
                      f"{gap.mean():+.3f} | {100 * met:.1f}% | {switches:.2f} |")
    with open(out / "deadline_study.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

    print("\nCheckpoint-aware vs progress-never-lost greedy: L4 job, 60 s checkpoint (does not fit the 30 s "
          "notice)\n")
    print("| preemptions | deadline | greedy | cost / on-demand | deadlines met |")
    print("|---|---|---|---|---|")
    cases = [("Poisson 6/h", ["interrupts.pattern=poisson", "interrupts.rate_per_h=6"]),
             ("Poisson 12/h", ["interrupts.pattern=poisson", "interrupts.rate_per_h=12"])]
    for label, sets in cases:
        for f in (1.1, 1.25):
            for naive in (False, True):
                s0 = load_scenario([ROOT / "scenarios/default.yaml"], ["checkpoint.write_s=60", *sets])
                od_h = simulate(s0.with_values({"policy.name": "on_demand"}), 0).ondemand_makespan_h
                s = s0.with_values({"job.deadline_h": f * od_h, "policy.name": "greedy",
                                    "policy.assume_no_loss": naive})
                rs = [simulate(s, (2026, i)) for i in range(args.windows * 4)]
                name = "progress never lost" if naive else "checkpoint-aware"
                print(f"| {label} | {f:g}x | {name} | {statistics.mean(r.cost_ratio for r in rs):.3f} | "
                      f"{100 * statistics.mean(r.met_deadline for r in rs):.1f}% |")


if __name__ == "__main__":
    main()
