"""`spotsim calibrate` and `spotsim validate`: parse, delegate to calibrate.*, print."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import click

from spotsim.errors import SpotsimError

from .runs import read_runs


def _load_runs(paths) -> list:
    """Runs of every log (a run directory stands for its events.jsonl; a URL: calibrate/sources.py);
    errors as one line."""
    from .sources import is_url, read_url

    runs = []
    for p in paths:
        if is_url(p):
            try:
                runs += read_url(p)
            except SpotsimError as exc:
                raise click.ClickException(str(exc)) from None
            continue
        path = Path(p)
        if path.is_dir():
            path = path / "events.jsonl"
        try:
            runs += read_runs(path)
        except SpotsimError as exc:
            raise click.ClickException(str(exc)) from None
        except (UnicodeDecodeError, OSError) as exc:
            raise click.ClickException(f"{path}: cannot read the event log ({exc})") from None
    return runs


def _logs(ctx, param, values):
    """EVENTS: local paths must exist (as click.Path(exists=True) says); URLs are read later."""
    from real.storage import local_path, scheme

    from .sources import is_url

    local = click.Path(exists=True)
    return tuple(v if is_url(v) else local.convert(str(local_path(v)) if scheme(v) == "file" else v, param, ctx)
                 for v in values)


@click.command()
@click.argument("events", nargs=-1, required=True, callback=_logs)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="scenario YAML to write, e.g. scenarios/calibrated/NAME.yaml")
@click.option("--base", type=click.Path(dir_okay=False, exists=True),
              help="scenario the calibrated one extends (cloud, prices, billing), e.g. scenarios/study/base.yaml")
def calibrate(events, output, base):
    """Fit a scenario to measured EVENTS logs (events.jsonl files or run directories, local or at a
    gs://, s3:// or az:// URL: a log, a run folder, or a folder of run folders)."""
    from . import scenario_yaml
    from .fit import fit
    from spotsim.config import load_scenario

    runs = _load_runs(events)
    if not runs:
        raise click.ClickException("the logs hold no run")
    try:
        cal = fit(runs)
        out = scenario_yaml.write(cal, output, [str(p) for p in events], base)
        s = load_scenario([out])  # what we wrote must load
    except SpotsimError as exc:
        raise click.ClickException(f"the calibrated scenario is not valid: {exc}") from None
    except OSError as exc:
        raise click.ClickException(f"{output}: cannot write ({exc.strerror or exc})") from None
    click.echo(f"calibrated {len(runs)} run(s) -> {out}")
    click.echo(f"  epoch {s.job.epoch_s:g} s (CV {s.job.epoch_jitter:g}), eval {s.job.eval_s:g} s, "
               f"checkpoint {s.checkpoint.write_s:g} s, emergency {s.checkpoint.emergency_s:g} s, "
               f"restore {s.checkpoint.restore_s:g} s, start-up {s.vm.startup_s:g} s, warm-up {s.job.warmup_s:g} s, "
               f"compile {s.job.compile_s:g} s (cached x{s.job.compile_cached_fraction:g}), "
               + (f"asynchronous saves (stall {s.checkpoint.stall_s:g} s), " if s.checkpoint.async_write else "")
               + f"notice {s.vm.notice_s:g} s, "
               f"accuracy {s.accuracy.a_0:g} -> {s.accuracy.a_max:g} (tau {s.accuracy.tau_epochs:g} epochs)")
    for note in cal.notes:
        click.echo(f"  note: {note}")


def _percent(ctx, param, value: float) -> float:
    """A finite percentage >= 0 (nan would never fail, inf never could)."""
    if not (math.isfinite(value) and value >= 0):
        raise click.ClickException(f"--max-error {value}: give a finite percentage >= 0, e.g. --max-error 5")
    return value


@click.command()
@click.option("--scenario", "scenario_path", required=True, type=click.Path(dir_okay=False),
              help="the calibrated scenario (spotsim calibrate)")
@click.argument("events", nargs=-1, required=True, callback=_logs)
@click.option("--out", "out_dir", default="validation", show_default=True, type=click.Path(file_okay=False),
              help="folder for validation.csv and validation.png")
@click.option("--max-error", default=5.0, show_default=True, type=float, callback=_percent,
              help="fail (exit 1) when the median absolute makespan error exceeds this many percent")
@click.option("--seed", default=0, show_default=True, type=int, help="seed of the replays")
@click.option("--replay-startup/--no-replay-startup", default=True, show_default=True,
              help="give each simulated lifetime the measured lifetime's start-up (else vm.startup_s)")
@click.option("--replay-speed", is_flag=True,
              help="give each replay its run's own epoch times (each epoch's measured training time, the "
                   "run's mean validation time; else the scenario's)")
@click.option("--json", "as_json", is_flag=True, help="print the summary as one JSON object")
def validate(scenario_path, events, out_dir, max_error, seed, replay_startup, replay_speed, as_json):
    """Replay measured EVENTS runs through the simulator and compare, run by run."""
    from spotsim.config import load_scenario

    from . import scenario_yaml
    from . import validate as v

    try:
        scenario = load_scenario([scenario_path])
    except SpotsimError as exc:
        raise click.ClickException(str(exc)) from None
    runs = _load_runs(events)
    try:
        report = v.validate(scenario, runs, scenario_yaml.read_identity(scenario_path), seed, replay_startup,
                            replay_speed)
    except SpotsimError as exc:
        raise click.ClickException(str(exc)) from None
    out = Path(out_dir)
    try:
        csv_path = v.write_csv(report, out / "validation.csv")
        png = v.scatter(report, out / "validation.png")
    except OSError as exc:
        raise click.ClickException(f"--out {out}: cannot write ({exc.strerror or exc})") from None
    summary = report.summary()
    if as_json:
        click.echo(json.dumps({**summary, "skipped": report.skipped}))
    else:
        click.echo(v.table(report))
        for s in report.skipped:
            click.echo(f"skipped {s}")
        click.echo(f"wrote {csv_path} and {png}")
    err = summary["median_abs_makespan_err_pct"]
    if err > max_error:
        click.echo(f"FAIL: median absolute makespan error {err:.2f}% exceeds --max-error {max_error:g}%", err=True)
        sys.exit(1)
