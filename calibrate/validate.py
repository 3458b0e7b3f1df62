"""Replay each measured run through the simulator and compare, run by run.

A run is replayed with the calibrated scenario, its own settings from its
run_start (epochs, checkpoint strategy, emergency saving, notice window) and its
own preemptions: each lifetime's uptime from grant to notice and the wait after
the window (`runs.measure`), and (by default) each lifetime's measured start-up,
warm-up and compilation. The simulated run writes an event log in memory,
and the same `measure` reads both, so measured and simulated figures are
defined alike. The replay uses the mean epoch time (jitter off): one replay is
compared with one measured run, and random epoch times would only add noise.
"""
from __future__ import annotations

import csv
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from spotsim.config import Scenario
from spotsim.errors import SpotsimError
from spotsim.events import EventLog
from spotsim.interrupts.replay import Replay
from spotsim.measured import MeasuredRun
from spotsim.model import simulate

from .runs import CalibrationError, Measured, Run, measure, read_records, startup_s

COMPARED = ("makespan_s", "billed_s", "vm_s", "lost_epochs", "periodic", "emergency", "preemptions", "epochs_done")
EPOCH_RATIO_LIMIT = 2.0
"""A run whose whole epochs take more than this factor longer or shorter than the
scenario's epoch_s was not the job the scenario describes."""


@dataclass(frozen=True)
class Comparison:
    run: Run
    scenario: Scenario
    measured: Measured
    simulated: Measured
    finished: bool

    @property
    def makespan_err_pct(self) -> float:
        return 100.0 * (self.simulated.makespan_s - self.measured.makespan_s) / self.measured.makespan_s

    @property
    def billed_err_pct(self) -> float:
        return 100.0 * (self.simulated.billed_s - self.measured.billed_s) / self.measured.billed_s

    @property
    def vm_err_pct(self) -> float:
        return 100.0 * (self.simulated.vm_s - self.measured.vm_s) / self.measured.vm_s

    @property
    def predicted_err_pct(self) -> float:
        """Error on the part of the makespan the replay does not copy from the log."""
        m = self.measured.predicted_s
        return 100.0 * (self.simulated.predicted_s - m) / m if m > 0 else math.nan

    @property
    def lost_diff_epochs(self) -> float:
        return self.simulated.lost_epochs - self.measured.lost_epochs

    def row(self) -> dict:
        m, s, r = self.measured, self.simulated, self.run
        out = {"run": r.label, "file": r.path, "source": r.source, "strategy": r.strategy,
               "pattern": r.start.get("pattern"), "emergency": self.scenario.checkpoint.emergency,
               "epochs": r.epochs, "window_s": self.scenario.vm.notice_s, "measured_wall_s": round(m.wall_s, 3)}
        for k in COMPARED:
            out[f"measured_{k}"] = _round(getattr(m, k))
            out[f"simulated_{k}"] = _round(getattr(s, k))
        out.update(makespan_err_pct=round(self.makespan_err_pct, 3), billed_err_pct=round(self.billed_err_pct, 3),
                   vm_err_pct=round(self.vm_err_pct, 3),
                   predicted_s_measured=round(m.predicted_s, 3), predicted_s_simulated=round(s.predicted_s, 3),
                   predicted_err_pct=round(self.predicted_err_pct, 3),
                   lost_diff_epochs=round(self.lost_diff_epochs, 3),
                   preemptions_match=m.preemptions == s.preemptions, emergency_match=m.emergency == s.emergency,
                   simulated_finished=self.finished)
        return out


def _round(v):
    return round(v, 3) if isinstance(v, float) else v


def other_job(scenario: Scenario, identity: dict | None, run: Run) -> str | None:
    """Why `run` trained another job than the scenario's (None: the same job, as far as the log says)."""
    if identity:
        theirs = run.identity
        diff = [f"{k} {theirs[k]!r} (scenario: {identity[k]!r})" for k in identity
                if k in theirs and theirs[k] != identity[k]]
        if diff:
            return (f"it trained another job than the scenario was calibrated for: {', '.join(diff)}; "
                    f"calibrate a scenario from logs of this job")
    steady = run.steady_epochs()
    if steady:
        measured = statistics.fmean(t for _, t in steady)
        ratio = measured / scenario.job.epoch_s
        if not (1 / EPOCH_RATIO_LIMIT <= ratio <= EPOCH_RATIO_LIMIT):
            return (f"its epochs take {measured:.3g} s to train but the scenario {scenario.name!r} says "
                    f"job.epoch_s {scenario.job.epoch_s:g} s ({ratio:.2g}x): the scenario describes another job; "
                    f"run `spotsim calibrate` on these logs first")
    return None


def check_job(scenario: Scenario, identity: dict | None, run: Run) -> None:
    """Refuse a run of another job than the scenario's, with the reason."""
    why = other_job(scenario, identity, run)
    if why:
        raise CalibrationError(f"{run.path}: {why}")


def run_scenario(scenario: Scenario, run: Run, replay_speed: bool = False) -> Scenario:
    """The calibrated scenario with the run's own settings from its run_start.

    Its own settings: epochs, the checkpoint strategy and its parameters, emergency saving,
    asynchronous saves, the notice window, the configured rate, and no compilation for an eager
    run. With `replay_speed`, also the run's own mean steady epoch and validation times: the
    speed the machine gave that run (on a shared machine it changes from run to run);
    `compare` then also replays each epoch's measured training time. A run without warmup events
    keeps its warm-up inside those times (warm-up and compilation 0), as before the event existed.
    """
    values: dict = {"job.epochs": run.epochs, "job.epoch_jitter": 0.0,
                    "checkpoint.async_write": run.async_write}
    steady = run.steady_epochs(drop_unmeasured=run.has_warmups)
    if replay_speed and steady:
        values["job.epoch_s"] = statistics.fmean(t for _, t in steady)
        values["job.eval_s"] = statistics.fmean(e["eval_s"] - float(e.get("compile_s") or 0.0)
                                                for e in run.epoch_records())
        if not run.has_warmups:
            values["job.warmup_s"] = 0.0
            values["job.compile_s"] = 0.0
    if run.compiled is False:
        values["job.compile_s"] = 0.0
    cfg = run.checkpoint_config
    for k in ("strategy", "every_epochs", "every_s", "prior_mtbf_s", "ema_alpha", "min_interval_s",
              "max_interval_s", "emergency", "write_prior_s"):
        if k in cfg:
            values[f"checkpoint.{k}"] = cfg[k]
    if run.source == "real" and cfg.get("write_s") is not None:
        # Real mode's --write-s is the write time its strategies assume until a save is measured.
        values["checkpoint.write_prior_s"] = float(cfg["write_s"])
    if run.window_s is not None:
        values["vm.notice_s"] = run.window_s
    rate = run.start.get("rate_per_h")
    if rate and scenario.interrupts.pattern not in ("none", "trace"):
        values["interrupts.rate_per_h"] = float(rate)  # young_daly plans with the configured rate
    try:
        return scenario.with_values(values, source=f"run_start of {run.label}")
    except SpotsimError as exc:
        raise CalibrationError(f"{run.path}: the run's settings do not fit the scenario: {exc}") from None


def replayed_startups(run: Run) -> tuple[float | None, ...]:
    """Each lifetime's measured start-up; one cut by its notice lasts past that notice."""
    out = []
    for lt in run.lifetimes:
        st = startup_s(run, lt)
        if st is None and lt.preempted:
            st = float(lt.sent["t"]) - lt.start + 1.0  # still starting up when the notice came
        out.append(st)
    return tuple(out)


def replayed_warmups(run: Run) -> tuple[float | None, ...]:
    """Each lifetime's measured warm-up (None: no warmup event, the scenario's job.warmup_s)."""
    return tuple(lt.warmup_s for lt in run.lifetimes)


def replayed_compiles(run: Run) -> tuple[float | None, ...]:
    """Each lifetime's measured compilation, training and eval graph (None: the scenario's)."""
    return tuple(lt.compile_s for lt in run.lifetimes)


def replayed_epochs(run: Run, mean_s: float) -> tuple[float, ...]:
    """Each epoch's measured steady training time (its last whole run), else the run's mean."""
    times = {int(e["epoch"]): t for e, t in run.steady_epochs(drop_unmeasured=run.has_warmups)}
    return tuple(times.get(k, mean_s) for k in range(1, run.epochs + 1))


def replayed_accuracies(run: Run) -> tuple[float, ...]:
    """Each epoch's measured validation accuracy (a resumed epoch repeats exactly), if all were logged."""
    accs = {int(e["epoch"]): float(e["val_acc"]) for e in run.epoch_records() if e.get("val_acc") is not None}
    if any(k not in accs for k in range(1, run.epochs + 1)):
        return ()
    return tuple(accs[k] for k in range(1, run.epochs + 1))


def compare(scenario: Scenario, run: Run, seed=0, replay_startup: bool = True,
            replay_speed: bool = False) -> Comparison:
    """Replay one completed run and measure both sides alike.

    With `replay_startup`, each simulated lifetime takes the measured lifetime's
    start-up instead of vm.startup_s, and its warm-up and compilation (warmup event) instead
    of job.warmup_s and compile_s: on a shared machine start-up varies several-fold, and
    whether a notice finds the job starting or training decides whether an emergency save
    happens; warm-up and compilation are the rest of that start, paid before progress (one
    flag: the replay copies a lifetime's measured start or none of it). With `replay_speed`,
    each epoch takes its measured steady training time (epochs cut by a restart: the run's
    mean) and validation the run's mean, and the measured validation accuracies drive
    milestone decisions.
    """
    s = run_scenario(scenario, run, replay_speed)
    measured = measure(run, s.vm.notice_s, s.billing)
    if run.source == "sim" and run.start.get("seed") is not None:
        seed = tuple(run.start["seed"]) if isinstance(run.start["seed"], list) else run.start["seed"]
    log = EventLog(keep=True)
    pattern = Replay(measured.uptimes_s, measured.waits_s)
    own = MeasuredRun(epoch_times_s=replayed_epochs(run, s.job.epoch_s) if replay_speed else (),
                      val_accs=replayed_accuracies(run) if replay_speed else (),
                      startups_s=replayed_startups(run) if replay_startup else (),
                      warmups_s=replayed_warmups(run) if replay_startup else (),
                      compiles_s=replayed_compiles(run) if replay_startup else ())
    result = simulate(s, seed, events=log, pattern=pattern, measured=own)
    sim_run = read_records(log.records, f"simulated {run.label}")
    simulated = measure(sim_run, s.vm.notice_s, s.billing, epoch_len_s=s.job.epoch_s + s.job.eval_s)
    return Comparison(run, s, measured, simulated, result.finished)


@dataclass(frozen=True)
class Report:
    comparisons: list[Comparison]
    skipped: list[str]

    def rows(self) -> list[dict]:
        return [c.row() for c in self.comparisons]

    @property
    def median_abs_makespan_err_pct(self) -> float:
        return statistics.median(abs(c.makespan_err_pct) for c in self.comparisons)

    def summary(self) -> dict:
        cs = self.comparisons
        return {
            "runs": len(cs),
            "median_abs_makespan_err_pct": self.median_abs_makespan_err_pct,
            "max_abs_makespan_err_pct": max(abs(c.makespan_err_pct) for c in cs),
            "median_abs_billed_err_pct": statistics.median(abs(c.billed_err_pct) for c in cs),
            "median_abs_vm_err_pct": statistics.median(abs(c.vm_err_pct) for c in cs),
            "median_abs_predicted_err_pct": _median([abs(c.predicted_err_pct) for c in cs]),
            "lost_within_one_epoch": sum(abs(c.lost_diff_epochs) <= 1.0 for c in cs),
            "preemptions_match": sum(c.measured.preemptions == c.simulated.preemptions for c in cs),
            "emergency_match": sum(c.measured.emergency == c.simulated.emergency for c in cs),
            "periodic_match": sum(c.measured.periodic == c.simulated.periodic for c in cs),
            "epochs_match": sum(c.measured.epochs_done == c.simulated.epochs_done for c in cs),
        }


def _median(values) -> float:
    v = [x for x in values if not math.isnan(x)]
    return statistics.median(v) if v else math.nan


def validate(scenario: Scenario, runs: list[Run], identity: dict | None = None, seed=0,
             replay_startup: bool = True, replay_speed: bool = False) -> Report:
    """Compare every completed run of the scenario's job (asynchronous saves and compiled runs
    included); the others (another job, unfinished) are skipped with the reason, and none left
    to compare is an error."""
    comparisons, skipped = [], []
    for run in runs:
        why = other_job(scenario, identity, run)
        if why:
            skipped.append(f"{run.label}: {why}")
            continue
        if not run.completed:
            why = "no run_end (cut off)" if run.end is None else "it did not finish all its epochs"
            skipped.append(f"{run.label}: {why}")
            continue
        if any(lt.exit is None and lt.preempted for lt in run.lifetimes):
            skipped.append(f"{run.label}: a preempted lifetime has no process_exit")
            continue
        comparisons.append(compare(scenario, run, seed, replay_startup, replay_speed))
    if not comparisons:
        raise CalibrationError("no completed run to validate: " + "; ".join(skipped))
    return Report(comparisons, skipped)


def write_csv(report: Report, path: Path) -> Path:
    rows = report.rows()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def table(report: Report) -> str:
    """A fixed-width table: per run, measured vs simulated and the errors."""
    head = (f"{'run':<28} {'makespan s meas/sim':>20} {'err%':>6} {'billed s meas/sim':>18} {'err%':>6} "
            f"{'lost ep m/s':>11} {'preempt':>7} {'emerg':>5} {'periodic':>8} {'epochs':>6}")
    lines = [head]
    for c in report.comparisons:
        m, s = c.measured, c.simulated
        lines.append(
            f"{c.run.label[:28]:<28} {m.makespan_s:>9.1f}/{s.makespan_s:<10.1f} {c.makespan_err_pct:>6.2f} "
            f"{m.billed_s:>8.0f}/{s.billed_s:<9.0f} {c.billed_err_pct:>6.2f} "
            f"{m.lost_epochs:>5.2f}/{s.lost_epochs:<5.2f} {m.preemptions:>3}/{s.preemptions:<3} "
            f"{m.emergency:>2}/{s.emergency:<2} {m.periodic:>4}/{s.periodic:<3} {m.epochs_done:>3}/{s.epochs_done:<2}")
    sm = report.summary()
    n = sm["runs"]
    lines.append(
        f"{n} run(s): median |makespan error| {sm['median_abs_makespan_err_pct']:.2f}% "
        f"(max {sm['max_abs_makespan_err_pct']:.2f}%), median |billed error| {sm['median_abs_billed_err_pct']:.2f}% "
        f"(VM time before the billing rule: {sm['median_abs_vm_err_pct']:.2f}%), "
        f"median |error| on the predicted part (makespan minus replayed uptimes, windows and waits) "
        f"{sm['median_abs_predicted_err_pct']:.1f}%; lost work within one epoch {sm['lost_within_one_epoch']}/{n}; "
        f"preemptions equal {sm['preemptions_match']}/{n}; emergency saves equal {sm['emergency_match']}/{n}; "
        f"periodic saves equal {sm['periodic_match']}/{n}; epochs equal {sm['epochs_match']}/{n}")
    return "\n".join(lines)


def scatter(report: Report, path: Path) -> Path:
    """Measured vs simulated makespan and billed time, one point per run, with y = x."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
    strategies = sorted({c.run.strategy or "?" for c in report.comparisons})
    markers = dict(zip(strategies, "osD^vP*X"))
    for ax, key, title in ((axes[0], "makespan_s", "makespan (s)"), (axes[1], "billed_s", "billed time (s)")):
        xs = [getattr(c.measured, key) for c in report.comparisons]
        ys = [getattr(c.simulated, key) for c in report.comparisons]
        for st in strategies:
            sel = [(x, y) for c, x, y in zip(report.comparisons, xs, ys) if (c.run.strategy or "?") == st]
            ax.scatter([p[0] for p in sel], [p[1] for p in sel], marker=markers[st], label=st, alpha=0.8)
        lo, hi = min(xs + ys) * 0.95, max(xs + ys) * 1.05
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="y = x")
        ax.fill_between([lo, hi], [lo * 0.95, hi * 0.95], [lo * 1.05, hi * 1.05], color="grey", alpha=0.15,
                        label="±5%")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_xlabel(f"measured {title}")
        ax.set_ylabel(f"simulated {title}")
        ax.set_aspect("equal")
    axes[0].legend(fontsize=8)
    sm = report.summary()
    fig.suptitle(f"{sm['runs']} runs replayed: median |makespan error| {sm['median_abs_makespan_err_pct']:.2f}%",
                 fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
