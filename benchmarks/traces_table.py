"""Which real zones are below break-even for which job: the shipped traces against the README's jobs.

For every single-node availability trace in ../shared/traces (AWS V100 and K80
zones of aws-02-15-2023 and aws-10-26-2022, the 13 GCP H100 zones): the
preemption rate per available hour with its 95% CI, availability and the
best-fitting pattern (`spotsim traces`, tick-aware). Then, for each job, N runs
with the job's own prices and that zone's preemptions, two ways:

- replay: the trace itself (interrupts.pattern trace, capacity from the trace),
  N submission moments drawn over it;
- fitted: the best fit whose rate agrees with the trace's and the mean capacity
  wait (what `spotsim traces -o` writes), at the fitted parameters.

Each cell is the mean cost as a fraction of all on-demand (below 1: Spot wins,
the zone is below the job's break-even; `*` marks a 95% CI that straddles 1).
Jobs: the L4 study job (scenarios/default.yaml), its V100 version
(jobs/aws-v100.yaml), the 8x H100 job (jobs/gcp-h100x8.yaml) with fixed saves and
with milestone saves.

Usage: python benchmarks/traces_table.py [--runs N]
"""
from __future__ import annotations

import argparse
import math
import statistics
from pathlib import Path

from spotsim.config import load_scenario
from spotsim.interrupts.trace_io import load_trace
from spotsim.model import simulate
from spotsim.trace_stats import trace_stats
from spotsim.traces_cli import fragment_sections, written_fit

ROOT = Path(__file__).resolve().parent.parent
TRACES = ROOT.parent / "shared" / "traces"
FOLDERS = ("aws-spot-traces/availability/1-node/aws-02-15-2023", "aws-spot-traces/availability/1-node/aws-10-26-2022",
           "gcp-h100-availability")
JOBS = {"L4 fixed": ("scenarios/default.yaml", ()),
        "V100 fixed": ("scenarios/jobs/aws-v100.yaml", ()),
        "8xH100 fixed": ("scenarios/jobs/gcp-h100x8.yaml", ()),
        "8xH100 milestone": ("scenarios/jobs/gcp-h100x8.yaml", ("checkpoint.strategy=milestone",))}
LIMIT_RATIO = 100.0


def cost_ratio(s, runs: int) -> tuple[float, bool]:
    """Mean cost / on-demand over `runs` seeds, and whether its 95% CI straddles 1."""
    ratios = [r.cost_ratio for r in (simulate(s, (2026, i), limit_ratio=LIMIT_RATIO) for i in range(runs))]
    m = statistics.fmean(ratios)
    half = 1.96 * statistics.stdev(ratios) / math.sqrt(len(ratios))
    return m, m - half < 1.0 < m + half


def flat(sections: dict) -> list[str]:
    return [f"{sec}.{k}={v}" for sec, d in sections.items() for k, v in d.items()]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100)
    args = ap.parse_args()
    files = [p for folder in FOLDERS for p in sorted((TRACES / folder).glob("*.json"))]
    if not files:
        raise SystemExit(f"no traces under {TRACES} (the table needs ../shared/traces)")
    print("| trace | available | rate/h [95% CI] | best fit | " + " | ".join(JOBS) + " |")
    print("|---|---|---|---|" + "---|" * len(JOBS))
    for path in files:
        st = trace_stats(load_trace(path))
        lo, hi = st.rate_ci95
        best = written_fit(st) if st.fits else None  # what the fitted column simulates (`spotsim traces -o`)
        shape = ""
        if best is not None and best.pattern == "weibull":
            shape = f" k={best.params['weibull_shape']:.2f}"
        elif best is not None and best.pattern == "bursty":
            shape = f" x{best.params['burst_ratio']:.3g}"
        fit = f"{best.pattern}{shape}" if best else "none"
        if best is not None and best is not st.fits[0]:
            fit += f" ({st.fits[0].pattern}'s rate passed over)"
        cells = []
        for job, (scenario, extra) in JOBS.items():
            replay = load_scenario([ROOT / scenario], [*extra, "interrupts.pattern=trace", f"interrupts.trace={path}",
                                                       "capacity.wait=trace"])
            r, r_straddles = cost_ratio(replay, args.runs)
            text = f"{r:.2f}{'*' if r_straddles else ''}"
            if best is not None:
                fitted = load_scenario([ROOT / scenario], [*extra, *flat(fragment_sections(st))])
                f, f_straddles = cost_ratio(fitted, args.runs)
                text += f" ({f:.2f}{'*' if f_straddles else ''})"
            cells.append(text)
        name = f"{path.parent.name}/{path.stem}"
        print(f"| {name} | {st.availability:.0%} | {st.rate_per_h:.3g} [{lo:.3g}, {hi:.3g}] | {fit} | "
              + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
