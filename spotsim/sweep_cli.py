"""`spotsim sweep` and `spotsim plot`: parse, delegate to sweep.py / plots.py, report.

Every refusal is one line naming the flag (a click.ClickException), never a traceback.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from . import breakeven as be
from . import sweep as sw
from .config import PATTERN_NAMES, STRATEGY_NAMES, load_scenario
from .errors import SpotsimError
from .executors import make_executor


def _fail(exc: Exception):
    raise click.ClickException(str(exc)) from None


class OneLineErrors(click.Command):
    """A command whose flag errors (a value click cannot parse, a missing argument) are one
    line naming the flag, like every other refusal of the command, without the usage block."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise click.ClickException(exc.format_message()) from None


def _max_jobs() -> int:
    return max(8, 4 * (os.cpu_count() or 1))


@click.command(cls=OneLineErrors)
@click.argument("scenario", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--rates", default=sw.DEFAULT_RATES, show_default=True,
              help="Preemptions per hour: a list (0.5,1,2,4) and/or ranges LO:HI:logN or LO:HI:linN.")
@click.option("--strategies", default=",".join(sw.DEFAULT_STRATEGIES), show_default=True,
              help=f"Checkpoint strategies, comma-separated ({', '.join(STRATEGY_NAMES)}).")
@click.option("--patterns", default=",".join(sw.DEFAULT_PATTERNS), show_default=True,
              help="Interrupt patterns, comma-separated (regular, poisson, bursty, weibull, trace).")
@click.option("--replications", "-n", default=sw.DEFAULT_REPLICATIONS, show_default=True,
              type=click.IntRange(min=1), help=f"Runs per cell (at most {sw.MAX_REPLICATIONS}).")
@click.option("--vary", "vary", multiple=True, metavar="KEY=V1,V2,...",
              help="Also sweep a scenario key, e.g. --vary vm.startup_s=60,120,300 (repeatable). Deadline "
                   "policies: --vary job.deadline_h=2,3,4 --vary policy.name=greedy,omniscient (their runs share "
                   "seeds, and add cost_vs_deadline and deadlines_met figures).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a scenario key before sweeping (repeatable).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Worker processes [default: all cores]. Results do not depend on it.")
@click.option("--seed", default=0, show_default=True, type=int, help="Base seed of every run's seed tuple.")
@click.option("--limit-ratio", default=sw.DEFAULT_LIMIT_RATIO, show_default=True, type=float,
              help="Stop a run once it has spent this many times the on-demand cost and makespan "
                   "(at least 3 x breakeven.time_slack is used); runs stopped below a break-even are "
                   f"re-simulated with {sw.RERUN_LIMIT_RATIO:g}x.")
@click.option("--refine-steps", default=be.REFINE_MAX_STEPS, show_default=True, type=click.IntRange(min=0),
              help="Rounds of rates added inside each break-even bracket until it is narrower than its CI "
                   "(0: the grid alone).")
@click.option("--executor", default="local", show_default=True, metavar="local|dask",
              help="Where the chunks of replications run: this machine's processes, or Dask (a LocalCluster of "
                   "--jobs workers, or the cluster at --scheduler; pip install 'spotsim[dask]'). Results do not "
                   "depend on it.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="With --executor dask: a running Dask scheduler, e.g. tcp://10.0.0.5:8786 (`dask scheduler`; "
                   "its workers need spotsim installed).")
@click.option("--resume", is_flag=True,
              help="Continue the interrupted sweep in --out (same flags) from the chunks it completed; the files "
                   "end byte-identical to an uninterrupted sweep.")
@click.option("--format", "runs_format", default="csv", show_default=True, metavar="csv|parquet",
              help="Format of the runs file: runs.csv, or runs.parquet (pip install 'spotsim[parquet]').")
@click.option("--no-plots", is_flag=True, help="Write the CSV files only.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Output folder.")
def sweep(scenario, rates, strategies, patterns, replications, vary, sets, jobs, seed, limit_ratio,
          refine_steps, executor, scheduler, resume, runs_format, no_plots, out):
    """Sweep SCENARIO over preemption rates, strategies and patterns; find break-even rates.

    Writes runs.csv (or runs.parquet), summary.csv, breakeven.csv, sweep.json and figures to --out.
    """
    try:
        base = load_scenario(list(scenario), list(sets))
        if base.zones:  # the zones' traces are the pattern
            if patterns != ",".join(sw.DEFAULT_PATTERNS) and patterns.strip() != "trace":
                raise sw.SweepError(f"--patterns: {patterns!r}: with `zones:` each zone's own trace is its "
                                    f"capacity; give --patterns trace (the default with zones)")
            patterns = "trace"
        spec = sw.SweepSpec(
            base, tuple(sw.parse_rates(rates)),
            strategies=tuple(sw.parse_names(strategies, STRATEGY_NAMES, "--strategies", "strategy")),
            patterns=tuple(sw.parse_names(patterns, PATTERN_NAMES, "--patterns", "pattern", refused=("none",))),
            replications=replications, vary=tuple(sw.parse_vary(vary)), seed=seed, limit_ratio=limit_ratio,
            refine_steps=refine_steps)
        spec.validate()
        if jobs is not None and jobs > _max_jobs():
            raise sw.SweepError(f"--jobs: {jobs} worker processes on {os.cpu_count()} cores would only compete "
                                f"for memory; give at most {_max_jobs()}")
        sw.prepare_out(out)
        sw.check_format(runs_format)
        if resume and sw.check_resume(spec, out, scan=False).get("complete") is True:
            click.echo(f"the sweep in {out} is already complete: nothing simulated, no file changed "
                       f"(redraw its figures with `spotsim plot {out}`)", err=True)
            if (Path(out) / "breakeven.csv").is_file():
                click.echo(format_breakeven(Path(out) / "breakeven.csv"))
            return
        ex = make_executor(executor, scheduler)
        jobs = jobs or os.cpu_count() or 1
        ex.connect(jobs)  # a cluster that cannot start, or a scheduler that does not answer: refused now
    except SpotsimError as exc:
        _fail(exc)
    cells = len(spec.grid())
    if not resume and _interrupted(Path(out)):
        click.echo(f"note: {out} held an interrupted sweep; starting over (--resume continues one)", err=True)
    click.echo(f"sweep {base.name}: {cells} cells x {replications} replications "
               f"({cells * replications} runs) on {ex.describe(jobs)} -> {out}"
               + (" (resuming)" if resume else ""), err=True)
    total = cells * replications
    extra = {}  # only what differs from the defaults: run_sweep's plain signature stays the common case
    if executor != "local":
        extra["executor"] = ex
    if resume:
        extra["resume"] = True
    if runs_format != "csv":
        extra["runs_format"] = runs_format
    with click.progressbar(length=total, label="simulating", file=sys.stderr, show_eta=True,
                           show_percent=True) as bar:
        def progress(n, planned):
            if planned > bar.length:
                bar.length = planned
                bar.label = "expanding and refining brackets"
            bar.update(n)
        try:
            outcome = sw.run_sweep(spec, out, jobs=jobs, progress=progress, **extra)
        except sw.SweepInterrupted as exc:
            bar.render_finish()
            click.echo(f"interrupted: {exc.cells_done} of {exc.cells_total} cells complete "
                       f"({exc.runs_done} runs) in {Path(out) / f'runs.{runs_format}'} and summary.csv; "
                       f"no break-even or figures written; the same command with --resume continues it", err=True)
            sys.exit(130)
        except SpotsimError as exc:
            _fail(exc)
    if outcome.reused_runs:
        click.echo(f"resumed: {outcome.reused_runs} run(s) taken from the interrupted sweep", err=True)
    if outcome.expanded_rates:
        click.echo("bracket expansion simulated " + ", ".join(f"{r:g}" for r in outcome.expanded_rates) + "/h",
                   err=True)
    if outcome.refined_cells or outcome.resimulated_runs:
        click.echo(f"refinement: {outcome.refined_cells} cells in {outcome.refine_rounds} round(s); "
                   f"{outcome.resimulated_runs} run(s) stopped early below a break-even re-simulated "
                   f"with limit {spec.rerun_limit_ratio:g}x", err=True)
    if not no_plots:
        from .plots import plot_sweep
        figs = plot_sweep(out)
        click.echo(f"{len(figs)} figure files written", err=True)
    elif any(p.suffix in (".png", ".pdf") for p in Path(out).iterdir()):
        # Figures of an earlier sweep into this folder would no longer match its CSV files (plots.py,
        # which loads matplotlib, is imported only where there may be some).
        from .plots import remove_stale_figures
        remove_stale_figures(out, [])
    click.echo(format_breakeven(Path(out) / "breakeven.csv"))


def _interrupted(out: Path) -> bool:
    """Whether `out` holds an interrupted sweep that --resume could continue."""
    import json
    try:
        meta = json.loads((out / "sweep.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("complete") is False and (out / sw.PARTIAL / sw.CHUNKS).is_file()


def format_breakeven(path: Path) -> str:
    """The break-even table as text: one line per strategy, pattern, combination and metric."""
    import csv
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return "no break-even rates"
    fixed = {"strategy", "pattern", "metric", *sw.BREAKEVEN_TAIL}
    keys = [k for k in rows[0] if k not in fixed]
    lines = ["break-even preemption rates per hour, [95% CI]:"]
    coarse = 0
    for r in rows:
        where = " ".join(f"{k}={r[k]}" for k in keys)
        st = r["status"]
        if st in ("found", "censored"):
            text = f"{float(r['breakeven_rate_per_h']):.3g} [{_num(r['ci_low'])}, {_num(r['ci_high'])}]"
            if st == "censored":
                text = (f"at most {text}: {r.get('censored_runs', '?')} run(s) below it stopped early "
                        f"even at the re-simulation limit")
            if r.get("refinement") == "step_limit":
                text += " (bracket still wider than the CI)"
                coarse += 1
        elif st == "above_range":
            text = f"above {_num(r['ci_low'])} (Spot still wins there)"
        else:
            text = f"below {_num(r['ci_high'])} (Spot already loses there)"
        lines.append(f"  {r['strategy']:<10} {r['pattern']:<8} {r['metric']:<4} {where} {text}".rstrip())
    if coarse:
        lines.append(f"note: {coarse} bracket(s) still wider than their CI after the refinement rounds "
                     f"(raise --refine-steps): the CI holds the bracket, the point may sit anywhere in it")
    return "\n".join(lines)


def _num(s: str) -> str:
    try:
        v = float(s)
    except ValueError:
        return "?"
    return "open" if v != v else f"{v:.3g}"


@click.command()
@click.argument("out", type=click.Path(file_okay=False))
def plot(out):
    """Redraw every figure of the sweep in OUT from its CSV files (no simulation)."""
    p = Path(out)
    for name in ("summary.csv", "sweep.json"):
        if not (p / name).is_file():
            raise click.ClickException(f"OUT: {p / name} not found; is {out} the --out folder of a sweep?")
    from .plots import plot_sweep
    try:
        figs = plot_sweep(p)
    except SpotsimError as exc:
        _fail(exc)
    except OSError as exc:
        raise click.ClickException(f"OUT: cannot write the figures into {out} ({exc.strerror or exc})") from None
    click.echo(f"{len(figs)} figure files written to {out}")
