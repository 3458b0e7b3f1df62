"""`spotsim` commands: thin wrappers that parse, delegate and print.

Errors a user can act on (SpotsimError and its kinds) are shown as one line,
never as a traceback.
"""
from __future__ import annotations

import json
import math
import sys

import click

from .config import load_scenario
from .errors import SpotsimError
from .events import EventLog
from .model import simulate, simulate_many
from .results import METRICS, ZONE_METRICS, summarise


class SpotsimGroup(click.Group):
    """A click group that turns SpotsimError into a one-line usage error."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SpotsimError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=SpotsimGroup)
@click.version_option(package_name="spotsim")
def main():
    """What preemption costs training on Spot GPUs, and when Spot stops being worth it."""


def load_or_fail(scenario_paths, sets):
    """Load a scenario; any problem becomes a click error naming the key."""
    try:
        return load_scenario(list(scenario_paths), list(sets))
    except SpotsimError as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.argument("scenario", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--seed", default=0, show_default=True, type=int, help="Base seed; replication i uses (seed, i).")
@click.option("--replications", "-n", default=1, show_default=True, type=click.IntRange(min=1),
              help="Independent runs to average, with 95% confidence intervals.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a scenario key, e.g. --set checkpoint.write_s=10 (repeatable).")
@click.option("--events", "events_path", type=click.Path(dir_okay=False),
              help="Write the JSONL event log of the run (of replication 0) to this file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def run(scenario, seed, replications, sets, events_path, as_json):
    """Simulate SCENARIO (YAML files, later ones layered over earlier ones)."""
    s = load_or_fail(scenario, sets)
    results = []
    if events_path and replications > 0:
        try:
            log = EventLog(events_path)
        except OSError as exc:
            raise click.ClickException(f"--events {events_path}: cannot write ({exc.strerror})") from None
        try:
            results.append(simulate(s, (seed, 0), events=log))
        finally:
            log.close()
    results += simulate_many(s, [(seed, i) for i in range(len(results), replications)])
    if replications == 1:
        out = results[0].metrics()
    else:
        out = summarise(results)
    if as_json:
        click.echo(json.dumps(out, allow_nan=False, default=_json_default))
        return
    click.echo(format_summary(s, out, replications))


def _json_default(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return str(x)


LABELS = {
    "makespan_h": ("makespan", "h"), "billed_h": ("billed time", "h"), "cost_usd": ("Spot cost", "$"),
    "ondemand_cost_usd": ("on-demand cost", "$"), "ondemand_makespan_h": ("on-demand makespan", "h"),
    "savings_pct": ("savings vs on-demand", "%"), "time_ratio": ("makespan / on-demand", "x"),
    "preemptions": ("preemptions", ""), "checkpoints": ("periodic checkpoints", ""),
    "checkpoints_failed": ("periodic checkpoints cut off", ""), "emergency_ok": ("emergency saves kept", ""),
    "emergency_failed": ("emergency saves lost", ""), "checkpoint_h": ("checkpoint time", "h"),
    "lost_h": ("lost (redone) work", "h"), "restart_h": ("restarts (boot, restore, re-eval)", "h"),
    "wait_h": ("capacity wait", "h"), "warmup_h": ("warm-up (first steps of each lifetime)", "h"),
    "compile_h": ("torch.compile (each lifetime)", "h"), "notice_idle_h": ("notice window after the job exited", "h"),
    "epochs_done": ("epochs done", ""), "final_accuracy": ("final accuracy", ""),
    "spot_h": ("billed on Spot", "h"), "ondemand_h": ("billed on on-demand", "h"),
    "switches": ("switches between markets", ""), "cost_ratio": ("cost / all on-demand", "x"),
    "met_deadline": ("met the deadline", ""), "deadline_slack_h": ("deadline - makespan", "h"),
    "moves": ("checkpoint moves between regions", ""), "transfer_gb": ("checkpoint transferred", "GB"),
    "transfer_usd": ("egress of the moves (in Spot cost)", "$"), "transfer_h": ("transfer time (in restarts)", "h"),
}
TAILS = ("makespan_h", "cost_usd")
"""Metrics whose percentiles the table shows (under a deadline the tail is the question)."""


def format_summary(s, out: dict, replications: int) -> str:
    """A readable table of the run's metrics (mean, 95% CI and percentiles for replications)."""
    if s.zones:
        where = (f"{len(s.zones)} zones ({s.policy.zones}" + (f", first {s.policy.zones_allowed} allowed" if
                                                              s.policy.zones_allowed else "")
                 + f"), each replaying its trace at its own prices, {s.cloud or 'custom'} {s.gpu or ''}")
    else:
        where = (f"{s.interrupts.pattern} preemptions"
                 + (f" at {s.interrupts.rate_per_h:g}/h" if s.interrupts.rate_per_h else "")
                 + f", {s.cloud or 'custom'} {s.gpu or ''} (Spot ${s.prices.spot_per_h:g}/h, "
                   f"on-demand ${s.prices.ondemand_per_h:g}/h)")
    head = f"scenario {s.name}: {s.job.epochs} epochs x {s.job.epoch_s:g} s, strategy {s.checkpoint.strategy}, {where}"
    if s.job.deadline_h is not None or s.policy.name != "spot_only":
        head += f"\npolicy {s.policy.name}" + (f", deadline {s.job.deadline_h:g} h" if s.job.deadline_h else "")
    lines = [head, f"{replications} replication(s)" + ("" if replications == 1 else ", mean [95% CI]")]
    zone_keys = ZONE_METRICS if "moves" in out else ()
    for k in (*METRICS, *zone_keys):
        label, unit = LABELS[k]
        v = out[k]
        if v is None:  # not defined here (deadline metrics without a deadline)
            continue
        if k == "met_deadline" and isinstance(v, dict):
            label, unit, v = "share that met the deadline", "", v
        if isinstance(v, dict):
            lo, hi = v["ci95"]
            text = f"{_fmt(v['mean'])} [{_fmt(lo)}, {_fmt(hi)}]"
            if k in TAILS:
                text += f"  p5 {_fmt(v['p5'])}, p50 {_fmt(v['p50'])}, p95 {_fmt(v['p95'])}"
        else:
            text = _fmt(v)
        lines.append(f"  {label:<34} {text} {unit}".rstrip())
    for name, v in (out.get("zone_h") or {}).items():
        lines.append(f"  {'Spot in ' + name:<34} {_fmt(v['mean'] if isinstance(v, dict) else v)} h")
    if isinstance(out.get("unfinished"), int) and out["unfinished"]:
        lines.append(f"  note: {out['unfinished']} run(s) stopped early: preemptions made them hopeless")
    elif out.get("finished") is False:
        lines.append("  note: the run stopped early: preemptions made it hopeless")
    return "\n".join(lines)


def _fmt(v) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.3e}"


from .sweep_cli import plot as _plot_command, sweep as _sweep_command  # noqa: E402

main.add_command(_sweep_command)
main.add_command(_plot_command)

from calibrate.cli import calibrate as _calibrate_command, validate as _validate_command  # noqa: E402

main.add_command(_calibrate_command)
main.add_command(_validate_command)

from .traces_cli import traces as _traces_command  # noqa: E402

main.add_command(_traces_command)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
