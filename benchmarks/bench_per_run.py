"""What one simulated run costs: against the job's epoch count, against the preemption rate, and
the default sweep's CPU seconds before and after the rewrite of per-run planning.

    .venv/bin/python benchmarks/bench_per_run.py [--part epochs|rates|sweep|all] [--quick]
                                                  [--repeat K] [--json PATH] [--old-ref REF]

Three parts, each of which runs alone with --part (all three by default):

epochs  Microseconds per run against the epoch count N (100, 1,000, 10,000, 100,000) with the
        job's length held constant: the study job (scenarios/study/base.yaml, 3,800 s of training
        and 200 s of validation) at 4 preemptions/h, Poisson, with job.epoch_s = 3800/N,
        job.eval_s = 200/N and checkpoint.every_epochs = max(1, N // 20) (a save every 5% of the
        job). Every N meets the same preemptions at the same times (same seeds), so the lifetimes
        and saves per run (printed beside the times) stay the same and any growth of the time is
        the cost of the epoch count itself. Five series: the fixed strategy with the scenario's
        accuracy noise (accuracy.noise_sd=0.004 drawn in sequence: one normal draw per epoch per
        run, a numpy cost that does grow with N), the fixed strategy without noise, adaptive
        (time-based saves) without noise, and fixed and adaptive with the noise keyed
        (accuracy.noise_draws=keyed: only the epochs read are computed). Read the "vs N=100"
        column: 1.0 is flat, 10x per decade is linear in N (before the rewrite a run planned epoch
        by epoch, so its cost grew with N).
rates   Microseconds per run and per VM lifetime against the rate (1-64 preemptions/h), the
        study job, fixed strategy, Poisson. Lifetimes per run are preemptions + 1 (RunResult has
        no lifetime count; the identity is checked against the event log's vm_start records on a
        few untimed runs per rate). A run that stops early at the simulator's limit (none
        should here) is counted in the unfinished column, its lifetimes all the same. A run
        costs a fixed part (scenario set-up, the on-demand baseline, the first lifetime) plus a
        part per lifetime, so microseconds per lifetime fall with the rate; the line fitted at
        the end (least squares of us/run on lifetimes/run) splits the two: its slope is the
        cost of one more lifetime, which should not depend on the rate.
sweep   The default sweep (`spotsim sweep scenarios/default.yaml`: 3 strategies x 3 patterns x
        20 rates x 200 replications = 36,000 runs, break-even finding with bracket expansion and
        refinement), --no-plots unless --plots, at --jobs 1 with the code before the rewrite (a
        temporary `git worktree` of --old-ref, default edd6389, removed at the end) and with this
        checkout's code, then this checkout's code at --jobs 2. Each sweep is a child process
        (`python -m spotsim.cli`, PYTHONPATH and cwd at that code's root; the spotsim each child
        imports is checked first); its CPU seconds are the resource.getrusage(RUSAGE_CHILDREN)
        delta around it (its pool workers included), wall time from perf_counter. The CPU-s ratio
        old/new is the comparison to read: wall time moves with whatever else holds the cores.
        The two break-even tables are printed side by side: they should agree within their CIs.
        runs.csv is compared too: byte for byte, else cell by cell (rows differing, the largest
        relative difference of a number, and any cell that differs other than as a number).

Times are means over a block of runs (seeds (1, 0), (1, 1), ..., simulated in chunks of a sweep's
CHUNK_REPLICATIONS seeds per model.simulate_many call), the best of --repeat blocks
(default 3): the best block is the one least disturbed by other work. Not a test: the machine's
load moves the numbers, so compare rows from one invocation only. --quick uses fewer runs
(at least 50 per timing block) and 40 sweep replications instead of 200. --json PATH also writes
every number printed.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
"""This checkout: its spotsim is the new code measured (put first on sys.path below)."""
sys.path.insert(0, str(ROOT))

from spotsim.config import load_scenario  # noqa: E402
from spotsim.errors import SpotsimError  # noqa: E402
from spotsim.events import EventLog  # noqa: E402
from spotsim.model import simulate, simulate_many  # noqa: E402
from spotsim.sweep import CHUNK_REPLICATIONS  # noqa: E402

BASE = ROOT / "scenarios" / "study" / "base.yaml"
DEFAULT_SCENARIO = "scenarios/default.yaml"
OLD_REF = "edd6389"
"""The last commit before the rewrite of per-run planning."""

EPOCH_COUNTS = (100, 1_000, 10_000, 100_000)
TRAIN_S, EVAL_S = 3800.0, 200.0
"""The study job's training and validation seconds (100 epochs of 38 s and 2 s), held constant."""
EPOCH_SERIES = (("fixed, noise 0.004", "fixed", None), ("fixed, noise 0", "fixed", 0.0),
                ("adaptive, noise 0", "adaptive", 0.0), ("fixed, keyed noise 0.004", "fixed", "keyed"),
                ("adaptive, keyed noise 0.004", "adaptive", "keyed"))
"""(label, strategy, accuracy.noise_sd; None: the scenario's own; "keyed": the scenario's, keyed
(accuracy.noise_draws=keyed))."""
RATES = (1, 2, 4, 8, 16, 32, 64)
README_SWEEP = {"strategies": 3, "patterns": 3, "rates": 20, "replications": 200}
"""The default sweep as README states it: 36,000 runs with break-even finding."""
QUICK_REPLICATIONS = 40
MIN_RUNS = 50


def load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def child_cpu_s() -> float:
    """User + system CPU seconds of this process's reaped children (and theirs)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def time_block(scenario, runs: int, repeat: int):
    """(best mean us per run, every block's mean us per run, the results of the last block): runs
    simulated as a sweep makes them, CHUNK_REPLICATIONS seeds per simulate_many call."""
    simulate(scenario, (1, 0))  # warm: imports, caches and the pattern's first build out of the timing
    blocks, results = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        results = []
        for start in range(0, runs, CHUNK_REPLICATIONS):
            results += simulate_many(scenario, [(1, i) for i in range(start, min(start + CHUNK_REPLICATIONS, runs))])
        blocks.append((time.perf_counter() - t0) / runs * 1e6)
    return min(blocks), blocks, results


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else math.nan


# -- part 1: epochs ----------------------------------------------------------------------------
def epoch_sets(n: int, strategy: str, noise_sd) -> list[str]:
    sets = ["interrupts.rate_per_h=4", "interrupts.pattern=poisson", f"checkpoint.strategy={strategy}",
            f"job.epochs={n}", f"job.epoch_s={TRAIN_S / n!r}", f"job.eval_s={EVAL_S / n!r}",
            f"checkpoint.every_epochs={max(1, n // 20)}"]
    if noise_sd == "keyed":
        sets.append("accuracy.noise_draws=keyed")
    elif noise_sd is not None:
        sets.append(f"accuracy.noise_sd={noise_sd!r}")
    return sets


def epoch_runs(n: int, quick: bool) -> int:
    """Runs per timing block at N epochs: fewer where a run may cost more, never under MIN_RUNS."""
    if n <= 1_000:
        return 100 if quick else 300
    return max(MIN_RUNS, 50 if quick else (100 if n <= 10_000 else 50))


def part_epochs(args) -> dict:
    print(f"== epochs: us per run vs epoch count, study job of {TRAIN_S + EVAL_S:g} s of work at every N, "
          f"4/h Poisson, a save every 5% (best of {args.repeat} blocks; load average {load_average()})")
    out = {}
    for label, strategy, noise_sd in EPOCH_SERIES:
        rows = []
        print(f"\n{label}")
        print(f"{'N epochs':>9} {'epoch_s':>9} {'every':>6} {'runs':>5} {'best us/run':>12} "
              f"{'median us':>10} {'vs N=100':>9} {'lifetimes':>10} {'saves':>7} {'noise_sd':>9}")
        first = None
        for n in EPOCH_COUNTS:
            runs = epoch_runs(n, args.quick)
            try:
                s = load_scenario([BASE], epoch_sets(n, strategy, noise_sd))
                best, blocks, results = time_block(s, runs, args.repeat)
            except SpotsimError as exc:  # e.g. a job too long for the per-epoch arrays it needs
                print(f"{n:>9,} refused: {exc}")
                rows.append({"epochs": n, "refused": str(exc)})
                continue
            if first is None:
                first = best
            row = {"epochs": n, "epoch_s": s.job.epoch_s, "every_epochs": s.checkpoint.every_epochs,
                   "runs": runs, "best_us_per_run": best, "blocks_us_per_run": blocks,
                   "ratio_to_first": best / first,
                   "lifetimes_per_run": mean(r.preemptions + 1 for r in results[:MIN_RUNS]),
                   "saves_per_run": mean(r.checkpoints for r in results[:MIN_RUNS]),
                   "unfinished": sum(not r.finished for r in results), "noise_sd": s.accuracy.noise_sd}
            rows.append(row)
            print(f"{n:>9,} {row['epoch_s']:>9.4g} {row['every_epochs']:>6} {runs:>5} {best:>12,.0f} "
                  f"{statistics.median(blocks):>10,.0f} {row['ratio_to_first']:>8.2f}x "
                  f"{row['lifetimes_per_run']:>10.2f} {row['saves_per_run']:>7.1f} {row['noise_sd']:>9g}"
                  + (f"  ({row['unfinished']} unfinished)" if row["unfinished"] else ""))
        out[label] = rows
    print(f"\n(vs N={EPOCH_COUNTS[0]}: the best block's time over the first row's; lifetimes = preemptions + 1 "
          f"and saves = periodic checkpoints, means over the first {MIN_RUNS} seeds (the same at every N); "
          f"load average {load_average()})")
    return out


# -- part 2: rates -----------------------------------------------------------------------------
def lifetimes_check(s, seeds: int) -> tuple[int, int]:
    """(runs whose vm_start records equal preemptions + 1, runs checked), untimed."""
    ok = 0
    for i in range(seeds):
        log = EventLog(keep=True)
        r = simulate(s, (1, i), events=log)
        ok += sum(1 for e in log.records if e["event"] == "vm_start") == r.preemptions + 1
    return ok, seeds


def part_rates(args) -> dict:
    runs = 60 if args.quick else 300
    print(f"== rates: us per run and per VM lifetime vs preemption rate, study job (base.yaml), fixed, Poisson, "
          f"{runs} runs per block, best of {args.repeat} (load average {load_average()})")
    print(f"{'rate/h':>6} {'best us/run':>12} {'median us':>10} {'lifetimes/run':>14} {'us/lifetime':>12} "
          f"{'unfinished':>10} {'lifetimes=preemptions+1':>24}")
    rows = []
    for rate in RATES:
        s = load_scenario([BASE], [f"interrupts.rate_per_h={rate}", "interrupts.pattern=poisson",
                                   "checkpoint.strategy=fixed"])
        best, blocks, results = time_block(s, runs, args.repeat)
        lives = mean(r.preemptions + 1 for r in results)
        ok, checked = lifetimes_check(s, 5)
        row = {"rate_per_h": rate, "runs": runs, "best_us_per_run": best, "blocks_us_per_run": blocks,
               "lifetimes_per_run": lives, "us_per_lifetime": best / lives,
               "unfinished_share": sum(not r.finished for r in results) / len(results),
               "lifetimes_check": f"{ok}/{checked}"}
        rows.append(row)
        print(f"{rate:>6g} {best:>12,.0f} {statistics.median(blocks):>10,.0f} {lives:>14.1f} "
              f"{row['us_per_lifetime']:>12,.1f} {row['unfinished_share']:>9.0%} {ok:>19}/{checked} "
              + ("ok" if ok == checked else "MISMATCH"))
    xs, ys = [r["lifetimes_per_run"] for r in rows], [r["best_us_per_run"] for r in rows]
    mx, my = mean(xs), mean(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    fit = {"us_per_extra_lifetime": slope, "us_fixed_per_run": my - slope * mx}
    print(f"fit over the rates: us/run = {fit['us_fixed_per_run']:,.0f} + {slope:,.1f} x lifetimes/run")
    print(f"(us/lifetime: the best block's us per run over the mean lifetimes per run; the check counts the "
          f"event log's vm_start records on 5 untimed runs per rate; load average {load_average()})")
    return {"rows": rows, "fit": fit}


# -- part 3: sweep -----------------------------------------------------------------------------
def git(*argv: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *argv], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def child_env(code_root: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(code_root)
    env.pop("PYTHONSTARTUP", None)
    return env


PROBE = """
import json, spotsim, spotsim.sweep as sw
from spotsim import breakeven as be
print(json.dumps({"file": spotsim.__file__, "strategies": len(sw.DEFAULT_STRATEGIES),
                  "patterns": len(sw.DEFAULT_PATTERNS), "rates": len(sw.parse_rates(sw.DEFAULT_RATES)),
                  "replications": sw.DEFAULT_REPLICATIONS, "rates_text": sw.DEFAULT_RATES,
                  "refine_steps": getattr(be, "REFINE_MAX_STEPS", None)}))
"""


def probe(code_root: Path) -> dict:
    """Which spotsim a child at `code_root` imports, and its sweep's defaults."""
    p = subprocess.run([sys.executable, "-c", PROBE], cwd=code_root, env=child_env(code_root),
                       capture_output=True, text=True, check=True)
    info = json.loads(p.stdout.strip().splitlines()[-1])
    imported = Path(info["file"]).resolve()
    if code_root.resolve() not in imported.parents:
        raise SystemExit(f"a child at {code_root} imported spotsim from {imported}, not that code: "
                         f"check the editable install's import hooks")
    return info


def run_sweep(code_root: Path, out: Path, jobs: int, args) -> dict:
    cmd = [sys.executable, "-m", "spotsim.cli", "sweep", DEFAULT_SCENARIO, "--out", str(out), "--jobs", str(jobs)]
    if args.replications is not None:
        cmd += ["--replications", str(args.replications)]
    if not args.plots:
        cmd.append("--no-plots")
    c0, t0 = child_cpu_s(), time.perf_counter()
    p = subprocess.run(cmd, cwd=code_root, env=child_env(code_root), capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, child_cpu_s() - c0
    if p.returncode != 0:
        raise SystemExit(f"sweep failed (exit {p.returncode}) at {code_root}:\n{p.stderr[-4000:]}")
    meta = json.loads((out / "sweep.json").read_text(encoding="utf-8"))
    with open(out / "runs.csv", newline="", encoding="utf-8") as fh:
        rows = sum(1 for _ in fh) - 1
    first = next((line for line in p.stderr.splitlines() if line.startswith("sweep ")), "")
    return {"wall_s": wall, "cpu_s": cpu, "runs_csv_rows": rows, "cells_done": meta.get("cells_done"),
            "refined_cells": meta.get("refined_cells"), "refine_rounds": meta.get("refine_rounds"),
            "resimulated_runs": meta.get("resimulated_runs"), "expanded_rates": meta.get("expanded_rates"),
            "replications": meta.get("replications"), "header": first, "breakeven_table": p.stdout.strip()}


def compare_runs(old_path: Path, new_path: Path) -> dict:
    """How two runs.csv files differ: rows and cells that differ, the largest relative difference of a
    numeric cell, and the cells that differ other than as numbers (those should be none)."""
    with open(old_path, newline="", encoding="utf-8") as fo, open(new_path, newline="", encoding="utf-8") as fn:
        old, new = list(csv.reader(fo)), list(csv.reader(fn))
    res = {"identical": old == new, "rows_old": len(old) - 1, "rows_new": len(new) - 1,
           "same_header": old[:1] == new[:1], "rows_differing": 0, "cells_differing": 0, "max_rel_diff": 0.0,
           "worst_column": None, "non_numeric_differences": 0}
    if res["identical"] or len(old) != len(new) or not res["same_header"]:
        return res
    header = old[0]
    for ro, rn in zip(old[1:], new[1:]):
        if ro == rn:
            continue
        res["rows_differing"] += 1
        for col, a, b in zip(header, ro, rn):
            if a == b:
                continue
            res["cells_differing"] += 1
            try:
                x, y = float(a), float(b)
            except ValueError:
                res["non_numeric_differences"] += 1
                continue
            rel = abs(x - y) / max(abs(x), abs(y)) if math.isfinite(x) and math.isfinite(y) else math.inf
            if rel > res["max_rel_diff"]:
                res["max_rel_diff"], res["worst_column"] = rel, col
    return res


def read_breakeven(path: Path) -> dict:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    tail = {"breakeven_rate_per_h", "ci_low", "ci_high", "status", "bracket_low", "bracket_high", "refinement",
            "censored_runs"}
    return {tuple((k, v) for k, v in r.items() if k not in tail): r for r in rows}


def fnum(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def rate_text(r: dict) -> str:
    v, lo, hi = (fnum(r[k]) for k in ("breakeven_rate_per_h", "ci_low", "ci_high"))
    st = r["status"]
    if st in ("found", "censored"):
        return f"{v:.4g} [{lo:.4g}, {hi:.4g}]" + (" censored" if st == "censored" else "")
    return f"above {lo:.3g}" if st == "above_range" else f"below {hi:.3g}"


def compare_breakeven(old_path: Path, new_path: Path, old_label: str) -> dict:
    """Print the old and new break-even tables side by side; return how far they agree."""
    old, new = read_breakeven(old_path), read_breakeven(new_path)
    print("\nbreak-even preemption rates per hour [95% CI]")
    print(f"{'strategy':<10} {'pattern':<8} {'metric':<6} {'old (' + old_label + ')':<30} {'new':<30} rel diff")
    same_status, max_rel, outside = 0, 0.0, []
    for key in [*new, *(k for k in old if k not in new)]:  # breakeven.csv's own order
        o, n = old.get(key), new.get(key)
        d = dict(key)
        where = f"{d.get('strategy', ''):<10} {d.get('pattern', ''):<8} {d.get('metric', ''):<6}"
        if o is None or n is None:
            text_o, text_n = ("missing" if r is None else rate_text(r) for r in (o, n))
            print(f"{where} {text_o:<30} {text_n:<30}")
            outside.append(where.split())
            continue
        rel = ""
        same_status += o["status"] == n["status"]
        if o["status"] == n["status"] and o["status"] in ("found", "censored"):
            vo, vn = fnum(o["breakeven_rate_per_h"]), fnum(n["breakeven_rate_per_h"])
            r = abs(vn - vo) / abs(vo) if vo else (0.0 if vn == vo else math.inf)
            max_rel = max(max_rel, r)
            rel = f"{r:.2e}"
            if not (fnum(o["ci_low"]) <= vn <= fnum(o["ci_high"]) and fnum(n["ci_low"]) <= vo <= fnum(n["ci_high"])):
                outside.append(where.split())
        elif o["status"] != n["status"]:
            rel = "status differs"
            outside.append(where.split())
        print(f"{where} {rate_text(o):<30} {rate_text(n):<30} {rel}")
    total = len(set(old) | set(new))
    print(f"statuses agree in {same_status}/{total} rows; max relative difference of the break-even rates "
          f"found by both: {max_rel:.2e}; rows where a rate falls outside the other's CI (or a status or row "
          f"differs): {len(outside)}" + (f" {outside}" if outside else ""))
    return {"rows": total, "same_status": same_status, "max_rel_diff": max_rel, "disagreements": outside,
            "identical_file": old_path.read_bytes() == new_path.read_bytes()}


def part_sweep(args) -> dict:
    ref = git("rev-parse", "--verify", f"{args.old_ref}^{{commit}}")
    tmp = Path(tempfile.mkdtemp(prefix="bench_per_run_"))
    tree = tmp / "old"
    res: dict = {"old_ref": args.old_ref, "old_commit": ref, "plots": args.plots}
    try:
        git("worktree", "add", "--detach", str(tree), ref)
        old_info, new_info = probe(tree), probe(ROOT)
        res["defaults"] = {"old": old_info, "new": new_info}
        reps = args.replications
        print(f"== sweep: the default sweep ({DEFAULT_SCENARIO}), "
              f"{'figures drawn' if args.plots else '--no-plots'}, "
              f"{reps if reps is not None else 'default'} replications; old = {args.old_ref} ({ref[:12]}) in a "
              f"temporary worktree, new = this checkout ({git('rev-parse', '--short=12', 'HEAD')}"
              f"{' + uncommitted edits in spotsim/' if git('status', '--porcelain', '--', 'spotsim') else ''}); "
              f"{os.cpu_count()} cores, load average {load_average()}")
        for name, info in (("old", old_info), ("new", new_info)):
            got = {k: info[k] for k in README_SWEEP}
            verdict = "matches README" if got == README_SWEEP else f"DIFFERS from README's {README_SWEEP}"
            print(f"{name} code's sweep defaults: {info['strategies']} strategies x {info['patterns']} patterns x "
                  f"{info['rates']} rates ({info['rates_text']}) x {info['replications']} replications = "
                  f"{info['strategies'] * info['patterns'] * info['rates'] * info['replications']:,} runs, "
                  f"refinement up to {info['refine_steps']} steps: {verdict}")
        runs = {}
        for label, code, jobs in (("old --jobs 1", tree, 1), ("new --jobs 1", ROOT, 1), ("new --jobs 2", ROOT, 2)):
            out = tmp / label.replace(" ", "_").replace("-", "")
            runs[label] = run_sweep(code, out, jobs, args)
            runs[label]["out"] = out
            r = runs[label]
            print(f"{label}: {r['wall_s']:7.1f} s wall, {r['cpu_s']:7.1f} CPU-s, {r['runs_csv_rows']:,} rows in "
                  f"runs.csv ({r['cells_done']} cells x {r['replications']}), {r['refined_cells']} refinement "
                  f"cells in {r['refine_rounds']} round(s), {r['resimulated_runs']} runs re-simulated, "
                  f"expanded rates {r['expanded_rates'] or 'none'}  [{r['header']}]")
        old, new, par = runs["old --jobs 1"], runs["new --jobs 1"], runs["new --jobs 2"]
        print(f"\n{'':<14} {'wall s':>8} {'CPU-s':>8} {'runs.csv rows':>14} {'rows per CPU-s':>15}")
        for label, r in runs.items():
            print(f"{label:<14} {r['wall_s']:>8.1f} {r['cpu_s']:>8.1f} {r['runs_csv_rows']:>14,} "
                  f"{r['runs_csv_rows'] / r['cpu_s']:>15,.0f}")
        ratio = old["cpu_s"] / new["cpu_s"]
        print(f"CPU-s old/new at --jobs 1: {ratio:.2f}x; wall old/new {old['wall_s'] / new['wall_s']:.2f}x; "
              f"new at --jobs 2: {par['wall_s']:.1f} s wall ({new['wall_s'] / par['wall_s']:.2f}x of --jobs 1)")
        runs_diff = compare_runs(old["out"] / "runs.csv", new["out"] / "runs.csv")
        same_par = (new["out"] / "runs.csv").read_bytes() == (par["out"] / "runs.csv").read_bytes()
        print(f"runs.csv byte-identical old vs new: {runs_diff['identical']}; new --jobs 1 vs --jobs 2: {same_par}")
        if not runs_diff["identical"]:
            d = runs_diff
            if d["rows_old"] != d["rows_new"] or not d["same_header"]:
                print(f"runs.csv old vs new: {d['rows_old']:,} vs {d['rows_new']:,} rows, same header: "
                      f"{d['same_header']} (not compared cell by cell)")
            else:
                print(f"runs.csv old vs new: {d['rows_differing']:,} of {d['rows_old']:,} rows differ, in "
                      f"{d['cells_differing']:,} cells; largest relative difference {d['max_rel_diff']:.2e} "
                      f"({d['worst_column']}); cells differing other than as numbers: {d['non_numeric_differences']}")
        agree = compare_breakeven(old["out"] / "breakeven.csv", new["out"] / "breakeven.csv", args.old_ref)
        print(f"breakeven.csv byte-identical old vs new: {agree['identical_file']}")
        for r in runs.values():
            del r["out"]
        res.update({"runs": runs, "cpu_ratio_old_new": ratio, "runs_csv_old_new": runs_diff,
                    "runs_csv_identical_jobs": same_par, "breakeven": agree})
        print(f"(load average at end {load_average()})")
    finally:
        if tree.exists():
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return res


def main() -> None:
    head, _, rest = __doc__.partition("\n\n")
    ap = argparse.ArgumentParser(description=" ".join(head.split()), epilog=rest,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=("epochs", "rates", "sweep", "all"), default="all")
    ap.add_argument("--quick", action="store_true",
                    help=f"fewer runs per block (at least {MIN_RUNS}) and {QUICK_REPLICATIONS} sweep replications")
    ap.add_argument("--repeat", type=int, default=3, help="timing blocks per row; the best is reported")
    ap.add_argument("--replications", type=int, default=None,
                    help=f"sweep replications (default: the sweep's own, 200; {QUICK_REPLICATIONS} with --quick)")
    ap.add_argument("--old-ref", default=OLD_REF, help="the commit before the rewrite (sweep part)")
    ap.add_argument("--plots", action="store_true", help="let the sweeps draw their figures (timed with them)")
    ap.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error("--repeat: at least 1")
    if args.replications is None and args.quick:
        args.replications = QUICK_REPLICATIONS
    parts = ("epochs", "rates", "sweep") if args.part == "all" else (args.part,)
    print(f"bench_per_run: Python {platform.python_version()}, {os.cpu_count()} cores, "
          f"load average {load_average()}{', --quick' if args.quick else ''}\n")
    results = {"quick": args.quick, "repeat": args.repeat, "cores": os.cpu_count()}
    for part in parts:
        results[part] = {"epochs": part_epochs, "rates": part_rates, "sweep": part_sweep}[part](args)
        print()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
        print(f"numbers written to {args.json}")


if __name__ == "__main__":
    main()
