"""When torch.compile and asynchronous saves pay on Spot: the README's study (issue 11).

The job is the measured H100 one: ResNet-50 on CIFAR-100 (50,000 images), batch 256 with AMP,
eager epochs of 5.0 s once warm, the first epoch of a lifetime 8.3-19.4 s (README, "Real mode on
an H100"; results/h100/perf-*): warm-up 8.8 s a lifetime, the mean excess of those two. Compiled
(torch.compile) epochs are 3.4x faster after a ~43 s compile in each lifetime (measured on an H100
for this job, issue 11). Checkpoints as measured there: 0.74 s blocking writes, 0.1 s asynchronous
stall, 0.5 s restore; GCP's 30 s notice, 90 s start-up (FACTS.md), one GPU's share of an
a3-highgpu-8g (FACTS.md; the price cancels between compiled and eager, both on Spot).

For each cold compile time and compile-cache fraction, the break-even preemption rate of compiled
vs eager training on Spot: the rate at which the compiled run's expected cost reaches the eager
run's (same seeds: common random numbers), found and bracketed as `spotsim sweep` finds Spot's
break-even against on-demand (spotsim/breakeven.py). Also that of eager Spot against on-demand,
and a table of asynchronous vs blocking saves for this job and for the 8x H100 job of
scenarios/jobs/gcp-h100x8.yaml (90 s writes that do not fit the notice).

    python benchmarks/compile_study.py [--reps 300] [--cached-fraction F] [--out results/compile]

Writes compile_breakeven.csv, async_table.md and docs/figures/compile_breakeven.png.
"""
from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spotsim.breakeven import band, find_breakeven, refinement_rates  # noqa: E402
from spotsim.config import load_scenario  # noqa: E402
from spotsim.model import simulate  # noqa: E402

EAGER_EPOCH_S = 5.0
SPEEDUP = 3.4
MEASURED_COMPILE_S = 43.0
WARMUP_S = 8.8
COMMON = ["cloud=gcp", "gpu=L4", "prices.spot_per_h=2.3725", "prices.ondemand_per_h=10.3163",
          "job.epochs=100", "job.eval_s=0.6", f"job.step_s={EAGER_EPOCH_S / 195:.6g}", f"job.warmup_s={WARMUP_S}",
          "checkpoint.strategy=fixed", "checkpoint.every_epochs=5", "checkpoint.write_s=0.74",
          "checkpoint.emergency_write_s=0.74", "checkpoint.stall_s=0.1", "checkpoint.restore_s=0.5",
          "vm.startup_s=90", "vm.notice_s=30", "interrupts.pattern=poisson"]
"""The H100 job (module docstring); prices: a3-highgpu-8g / 8 ($82.53 and $18.98 an hour, FACTS.md)."""
LIMIT = 400.0
"""Runs stop early only past 400x the on-demand cost and time (the simulator's default is 20x): the
compiled-vs-eager crossing may lie where Spot has long stopped beating on-demand."""
RATES = [2.0 * 2 ** (k / 2) for k in range(19)]  # 2/h .. 1024/h, a factor sqrt(2) apart
COMPILE_GRID = [15.0, 30.0, 43.0, 60.0, 90.0, 150.0, 240.0, 360.0]


def eager(extra=()) -> list[str]:
    return COMMON + [f"job.epoch_s={EAGER_EPOCH_S}", *extra]


def compiled(compile_s: float, fraction: float, extra=()) -> list[str]:
    return COMMON + [f"job.epoch_s={EAGER_EPOCH_S / SPEEDUP:.6g}", f"job.step_s={EAGER_EPOCH_S / SPEEDUP / 195:.6g}",
                     f"job.compile_s={compile_s}", f"job.compile_cached_fraction={fraction}", *extra]


def excess_band(rate: float, a_sets, b_sets, reps: int, metric: str = "cost_usd"):
    """Mean and 95% band of (a - b) per replication at `rate`; b None: a's on-demand cost."""
    a = load_scenario(sets=a_sets + [f"interrupts.rate_per_h={rate}"])
    b = load_scenario(sets=b_sets + [f"interrupts.rate_per_h={rate}"]) if b_sets is not None else None
    diffs = []
    for rep in range(reps):
        ra = simulate(a, (11, rep), limit_ratio=LIMIT)
        if not ra.finished:
            return math.nan, math.nan, math.nan
        if b is None:
            diffs.append(ra.cost_usd - ra.ondemand_cost_usd)
            continue
        rb = simulate(b, (11, rep), limit_ratio=LIMIT)
        if not rb.finished:
            return math.nan, math.nan, math.nan
        diffs.append(getattr(ra, metric) - getattr(rb, metric))
    return band(diffs)


def breakeven(a_sets, b_sets, reps: int, rounds: int = 4):
    """Break-even rate of a against b (b None: against a's own on-demand cost), refined as sweeps are."""
    curve = {r: excess_band(r, a_sets, b_sets, reps) for r in RATES}
    for _ in range(rounds):
        rates = sorted(curve)
        cols = [[curve[r][i] for r in rates] for i in range(3)]
        more = [r for r in refinement_rates(rates, *cols) if r not in curve]
        if not more:
            break
        for r in more:
            curve[r] = excess_band(r, a_sets, b_sets, reps)
    rates = sorted(curve)
    return find_breakeven(rates, *[[curve[r][i] for r in rates] for i in range(3)])


def async_rows(reps: int) -> list[dict]:
    """Blocking vs asynchronous saves, same seeds: makespan and cost for the H100 job and the 8x H100 job."""
    jobs = {"H100 eager": eager(), "H100 compiled (43 s, no cache)": compiled(MEASURED_COMPILE_S, 1.0),
            "8x H100, 90 s writes (stall 5 s)": ["interrupts.pattern=poisson", "checkpoint.stall_s=5"]}
    rows = []
    for name, sets in jobs.items():
        base = [str(ROOT / "scenarios/jobs/gcp-h100x8.yaml")] if name.startswith("8x") else []
        for rate in (0.0, 2.0, 8.0, 32.0):
            pattern = ["interrupts.pattern=none"] if rate == 0 else []
            runs = {}
            for asyn in (False, True):
                s = load_scenario(base, sets + [f"interrupts.rate_per_h={rate}", *pattern,
                                                f"checkpoint.async_write={str(asyn).lower()}"])
                runs[asyn] = [simulate(s, (12, rep)) for rep in range(reps if rate else 1)]
            mk = {a: np.mean([r.makespan_h for r in rs]) for a, rs in runs.items()}
            cost = {a: np.mean([r.cost_usd for r in rs]) for a, rs in runs.items()}
            lost = {a: np.mean([r.lost_h for r in rs]) for a, rs in runs.items()}
            rows.append({"job": name, "rate_per_h": rate, "makespan_sync_h": mk[False], "makespan_async_h": mk[True],
                         "cost_sync": cost[False], "cost_async": cost[True], "lost_sync_h": lost[False],
                         "lost_async_h": lost[True]})
    return rows


def plot(rows: list[dict], od: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.2, 4.8))
    fractions = sorted({r["cached_fraction"] for r in rows}, reverse=True)
    for fraction, style in zip(fractions, ("o-", "s-", "^-")):
        pts = [r for r in rows if r["cached_fraction"] == fraction and r["status"] == "found"]
        label = ("no compile cache (every lifetime compiles cold)" if fraction == 1.0 else
                 f"compile cache restored with the checkpoint ({fraction:g} of the cold compile)")
        x = [r["compile_s"] for r in pts]
        line, = ax.plot(x, [r["rate"] for r in pts], style, label=label)
        ax.fill_between(x, [r["ci_low"] for r in pts], [r["ci_high"] for r in pts], alpha=0.2)
        # Open markers: bounds. Compiled is cheaper at every rate simulated (its break-even lies above the
        # marker), or costs more already at the lowest rate (below the marker).
        for status, bound, marker in (("above_range", "ci_low", "^"), ("below_range", "ci_high", "v")):
            b = [r for r in rows if r["cached_fraction"] == fraction and r["status"] == status]
            shift = 5.0 * fractions.index(fraction)  # markers of both curves at one point stay apart
            ax.plot([r["compile_s"] + shift for r in b], [r[bound] for r in b], marker, mfc="none", color=line.get_color(),
                    ms=9, ls="none")
    ax.plot([], [], "^", mfc="none", color="grey", ls="none",
            label="compiled cheaper at every rate simulated (break-even above)")
    ax.plot([], [], "v", mfc="none", color="grey", ls="none",
            label="compiled dearer already at 2/h (break-even below)")
    if od["status"] == "found":
        ax.axhline(od["rate"], color="grey", ls="--",
                   label=f"eager Spot vs on-demand break-even ({od['rate']:.3g}/h): above it, on-demand wins")
    ax.axvline(MEASURED_COMPILE_S, color="k", ls=":", lw=1, label=f"measured cold compile ({MEASURED_COMPILE_S:g} s, H100)")
    ax.set_xlabel("cold torch.compile time per lifetime (s)")
    ax.set_ylabel("preemptions per hour at which\ncompiled costs as much as eager")
    ax.set_yscale("log")
    ax.set_title("ResNet-50 / CIFAR-100 on an H100 Spot VM: compiled (3.4x faster epochs) vs eager\n"
                 "below a curve compiled training is cheaper (95% CI shaded)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7.5, loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=300)
    ap.add_argument("--cached-fraction", type=float, default=0.2,
                    help="share of the cold compile a restored compile cache still costs")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "compile")
    ap.add_argument("--figure", type=Path, default=ROOT / "docs" / "figures" / "compile_breakeven.png")
    ap.add_argument("--plot-only", action="store_true", help="redraw the figure from compile_breakeven.csv")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.plot_only:
        with open(args.out / "compile_breakeven.csv") as fh:
            got = [{k: (v if k == "status" else float(v) if v not in ("", "eager_vs_ondemand") else v)
                    for k, v in row.items()} for row in csv.DictReader(fh)]
        od_row = next(r for r in got if r["compile_s"] == "eager_vs_ondemand")
        plot([r for r in got if r is not od_row], od_row, args.figure)
        return
    od = breakeven(eager(), None, args.reps)
    od_row = {"rate": od.rate, "ci_low": od.ci_low, "ci_high": od.ci_high, "status": od.status}
    rows = []
    for fraction in (1.0, args.cached_fraction):
        for c in COMPILE_GRID:
            x = breakeven(compiled(c, fraction), eager(), args.reps)
            rows.append({"compile_s": c, "cached_fraction": fraction, "rate": x.rate, "ci_low": x.ci_low,
                         "ci_high": x.ci_high, "status": x.status})
            print(f"compile {c:5.0f} s, fraction {fraction:g}: {x.rate:.4g}/h [{x.ci_low:.4g}, {x.ci_high:.4g}] "
                  f"{x.status}", flush=True)
    with open(args.out / "compile_breakeven.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows + [{"compile_s": "eager_vs_ondemand", "cached_fraction": "", **od_row}])
    plot(rows, od_row, args.figure)
    table = async_rows(min(args.reps, 200))
    lines = ["| job | preemptions/h | makespan blocking (h) | makespan async (h) | cost blocking ($) | cost async ($) "
             "| lost blocking (h) | lost async (h) |", "|---|---|---|---|---|---|---|---|"]
    for r in table:
        lines.append(f"| {r['job']} | {r['rate_per_h']:g} | {r['makespan_sync_h']:.4f} | {r['makespan_async_h']:.4f} "
                     f"| {r['cost_sync']:.4g} | {r['cost_async']:.4g} | {r['lost_sync_h']:.4f} | {r['lost_async_h']:.4f} |")
    (args.out / "async_table.md").write_text("\n".join(lines) + "\n")
    print(f"eager Spot vs on-demand: {od.rate:.4g}/h [{od.ci_low:.4g}, {od.ci_high:.4g}] {od.status}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
