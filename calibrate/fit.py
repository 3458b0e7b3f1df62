"""Scenario parameters fitted from measured runs, each with the evidence behind it.

Every fitted value says from how many observations it came and how spread they
were; a parameter the logs say nothing about keeps its default and says so.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field, fields
from typing import Any

from spotsim.config import Accuracy, Checkpoint, Job, Scenario, Vm

from .accuracy_fit import fit_accuracy
from .runs import Run, finite, restored, startup_s

STRATEGY_KEYS = ("strategy", "every_epochs", "every_s", "prior_mtbf_s", "ema_alpha", "min_interval_s",
                 "max_interval_s")
"""Checkpoint settings taken from the runs' run_start when all runs agree on them."""


@dataclass
class Fitted:
    """One scenario value and the comment that goes with it in the YAML."""

    value: Any
    comment: str
    measured: bool = True


@dataclass
class Calibration:
    """The fitted values (dotted key -> Fitted), notes for the user, the job's identity."""

    values: dict[str, Fitted] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    identity: dict = field(default_factory=dict)
    runs: int = 0
    sources: tuple[str, ...] = ()

    def set(self, key: str, value, comment: str, measured: bool = True) -> None:
        self.values[key] = Fitted(value, comment, measured)

    def default(self, key: str, why: str) -> None:
        """Keep the built-in default of `key`, and say why (comment and note)."""
        sec, name = key.split(".")
        cls = {"job": Job, "checkpoint": Checkpoint, "vm": Vm, "accuracy": Accuracy}[sec]
        f = next(f for f in fields(cls) if f.name == name)
        value = f.default
        self.values[key] = Fitted(value, f"DEFAULT, not measured: {why}", measured=False)
        self.notes.append(f"{key}: {why}; using the default {value!r}")

    def layer(self) -> dict:
        """The fitted values as a nested scenario layer."""
        out: dict = {}
        for k, f in self.values.items():
            if "." in k:
                sec, name = k.split(".")
                out.setdefault(sec, {})[name] = f.value
            else:
                out[k] = f.value
        return out


def spread(values, unit: str = "s", digits: int = 3) -> str:
    """'n=12: mean 5.1 s, sd 0.81 s, range 3.8-6.4 s' (a one-value sample has no sd)."""
    v = finite(values)
    fmt = lambda x: f"{x:.{digits}g}"
    u = f" {unit}" if unit else ""
    if len(v) == 1:
        return f"n=1: {fmt(v[0])}{u} (one observation, no spread)"
    sd = statistics.stdev(v)
    if sd <= 1e-9 * max(abs(x) for x in v):
        sd = 0.0  # float noise of equal values
    return f"n={len(v)}: mean {fmt(statistics.fmean(v))}{u}, sd {fmt(sd)}{u}, range {fmt(min(v))}-{fmt(max(v))}{u}"


def _r(x: float, digits: int = 4) -> float:
    """Round to `digits` significant digits (what the YAML shows)."""
    if x == 0 or not math.isfinite(x):
        return float(x)
    return float(f"{x:.{digits}g}")


def fit(runs: list[Run]) -> Calibration:
    """Fit every parameter the runs measure; defaults (with a note) for the rest."""
    cal = Calibration(runs=len(runs), sources=tuple(sorted({r.source for r in runs})))
    _job(cal, runs)
    _timings(cal, runs)
    _strategy(cal, runs)
    _interrupts(cal, runs)
    _accuracy(cal, runs)
    ids = [r.identity for r in runs if r.identity]
    if ids:
        keys = set.intersection(*(set(i) for i in ids))
        cal.identity = {k: ids[0][k] for k in sorted(keys) if all(i[k] == ids[0][k] for i in ids)}
        mixed = sorted(k for k in keys if k not in cal.identity)
        if mixed:
            cal.notes.append(f"the runs trained different jobs ({', '.join(mixed)} differ): "
                             f"one scenario averages them")
    return cal


def _job(cal: Calibration, runs: list[Run]) -> None:
    epochs = sorted({r.epochs for r in runs})
    cal.set("job.epochs", max(epochs), f"the most requested by the n={len(runs)} runs' run_start ({', '.join(map(str, epochs))})"
            if len(epochs) > 1 else f"requested by all n={len(runs)} run(s)")
    measured_warmup = any(r.has_warmups for r in runs)
    steady = [x for r in runs for x in r.steady_epochs(drop_unmeasured=measured_warmup)]
    n_whole = sum(len(r.whole_epochs()) for r in runs)
    split = sum(len(r.epoch_records()) for r in runs) - n_whole
    if steady:
        t = [x for _, x in steady]
        m = statistics.fmean(t)
        note = f"; {split} epoch(s) cut by a restart left out" if split else ""
        kept = {id(e) for e, _ in steady}
        warm = sum(1 for r in runs for lt in r.lifetimes
                   if lt.warmup is not None and id(lt.warm_epoch()) in kept)
        if warm:
            note += f"; warm-up and compile subtracted from the {warm} holding a lifetime's first steps"
        dropped = n_whole - len(steady)
        if dropped:
            note += (f"; {dropped} first epoch(s) of lifetimes without a warmup event left out "
                     f"(their warm-up is not measured)")
        what = ("training seconds of whole epochs (no warmup event: a lifetime's warm-up inside its first)"
                if not measured_warmup and any(r.source == "real" for r in runs)
                else "steady training seconds of whole epochs")
        cal.set("job.epoch_s", _r(m), f"{what}, {spread(t)}{note}")
        if len(t) >= 2:
            cv = statistics.stdev(t) / m
            cv = 0.0 if cv < 1e-9 else cv
            cal.set("job.epoch_jitter", _r(cv, 3), f"coefficient of variation of those n={len(t)} epochs")
        else:
            cal.default("job.epoch_jitter", "one whole epoch gives no spread")
    else:
        cal.default("job.epoch_s", "no epoch was trained in one piece")
        cal.default("job.epoch_jitter", "no epoch was trained in one piece")
    recs = [e for r in runs for e in r.epoch_records()]
    evals = [e["eval_s"] - float(e.get("compile_s") or 0.0) for e in recs]
    if evals:
        ec = sum(1 for e in recs if e.get("compile_s"))
        extra = f"; the eval graph's compile subtracted in {ec}" if ec else ""
        cal.set("job.eval_s", _r(statistics.fmean(evals)), f"validation after each epoch, {spread(evals)}{extra}")
    else:
        cal.default("job.eval_s", "no epoch_end in the logs")
    steps = [x / e["steps"] for e, x in steady if e.get("steps")]
    if steps:
        cal.set("job.step_s", _r(statistics.fmean(steps)), f"seconds per training step (steady train_s / steps), "
                f"{spread(steps)}")
    else:
        cal.default("job.step_s", "the logs do not give steps per epoch (simulated logs never do)")
    _warmup(cal, runs)


def _warmup(cal: Calibration, runs: list[Run]) -> None:
    """job.warmup_s, compile_s and compile_cached_fraction from the lifetimes' warmup events."""
    lts = [lt for r in runs for lt in r.lifetimes if lt.warmup is not None]
    without = [r.label for r in runs if not r.has_warmups]
    if not lts:
        why = "no warmup event in the logs (real logs before real mode measured warm-up have none)"
        for k in ("job.warmup_s", "job.compile_s", "job.compile_cached_fraction"):
            cal.default(k, why)
        cal.notes[-3:] = [f"job.warmup_s, compile_s, compile_cached_fraction: {why}; using the defaults "
                          f"(no warm-up, no compilation): the first epochs' warm-up stays inside job.epoch_s"]
        return
    if without:
        cal.notes.append(f"job.warmup_s: {len(without)} of {len(runs)} run(s) have no warmup event "
                         f"({', '.join(without)}): fitted from the other runs' lifetimes")
    w = [lt.warmup_s for lt in lts]
    cal.set("job.warmup_s", _r(statistics.fmean(w)),
            f"first steps' excess over steady speed per lifetime, compilation excluded (warmup events), {spread(w)}")
    cold = [lt.compile_s for lt in lts if lt.cache == "cold"]
    warm = [lt.compile_s for lt in lts if lt.cache == "restored"]
    eager = sum(1 for lt in lts if lt.cache == "none")
    if cold:
        cal.set("job.compile_s", _r(statistics.fmean(cold)),
                f"torch.compile per lifetime with a cold cache (training graph + eval graph), {spread(cold)}"
                + (f"; {eager} eager lifetime(s) left out" if eager else ""))
    elif not warm:
        cal.set("job.compile_s", 0.0, f"the n={eager} lifetime(s) with a warmup event ran eagerly "
                f"(no torch.compile)")
    else:
        cal.default("job.compile_s", "compiled lifetimes all restored their compile cache (no cold one)")
    if cold and warm:
        c, rst = statistics.fmean(cold), statistics.fmean(warm)
        frac = min(1.0, rst / c) if c > 0 else 1.0
        cal.set("job.compile_cached_fraction", _r(frac, 3),
                f"mean compile with the cache restored / with a cold cache: restored {spread(warm)}; "
                f"cold n={len(cold)}" + (" (capped at 1)" if c > 0 and rst > c else ""))
    else:
        cal.default("job.compile_cached_fraction",
                    "no lifetime restored a compile cache" if cold else "no cold-cache compile to compare with")


def _timings(cal: Calibration, runs: list[Run]) -> None:
    lts = [(r, lt) for r in runs for lt in r.lifetimes]
    _saves(cal, runs)
    rs = [float(lt.resume["restore_s"]) for _, lt in lts if restored(lt)]
    if rs:
        cal.set("checkpoint.restore_s", _r(statistics.fmean(rs)), f"loading a checkpoint at resume, {spread(rs)}")
    else:
        cal.default("checkpoint.restore_s", "no lifetime restored a checkpoint (no preemption after a save)")
    ups = [(r, lt, startup_s(r, lt)) for r, lt in lts]
    st = [u for _, _, u in ups if u is not None]
    cut = sum(1 for _, _, u in ups if u is None)
    if st:
        extra = (f"; {cut} lifetime(s) preempted before start-up ended left out (they were longer)"
                 if cut else "")
        cal.set("vm.startup_s", _r(statistics.fmean(st)),
                f"grant (trainer spawn) to training code running, before the restore, {spread(st)}{extra}")
    else:
        cal.default("vm.startup_s", "no lifetime got through its start-up")
    windows = finite(r.window_s for r in runs)
    if windows:
        cal.set("vm.notice_s", _r(statistics.fmean(windows)),
                f"the runs' notice window (real mode: --grace), {spread(windows)}; set your cloud's here")
    else:
        cal.default("vm.notice_s", "the logs give no notice window")


def _is_async(run: Run, c: dict) -> bool:
    """A periodic save written in the background (the event says so, else the run's setting)."""
    return c["kind"] == "periodic" and bool(c.get("async_write", run.async_write))


def _saves(cal: Calibration, runs: list[Run]) -> None:
    """checkpoint.async_write, write_s, stall_s and emergency_write_s.

    Blocking periodic saves give write_s as the time training was blocked; asynchronous ones give
    stall_s (the loop blocked while the state is copied) and their background write (`seconds`,
    durable when it ends). write_s follows the scenario's mode: the background write when
    async_write, else the blocking save. Runs that mix modes: async_write is the majority's
    (a tie: blocking), and validation replays each run with its own setting.
    """
    n_async = sum(1 for r in runs if r.async_write)
    mixed = 0 < n_async < len(runs)
    use_async = n_async * 2 > len(runs)
    if not mixed:
        cal.set("checkpoint.async_write", use_async,
                f"{'all' if use_async else 'none'} of the n={len(runs)} run(s) saved asynchronously")
    else:
        cal.set("checkpoint.async_write", use_async,
                f"mixed: {n_async} of n={len(runs)} runs saved asynchronously; the majority's setting "
                f"({'asynchronous' if use_async else 'blocking; a tie counts as blocking'}); "
                f"validation replays each run with its own")
        cal.notes.append(f"checkpoint.async_write: {n_async} of {len(runs)} runs used asynchronous saves; the "
                         f"scenario takes the majority's ({'true' if use_async else 'false'}), write_s that mode's "
                         f"write time; validation replays each run with its own setting")
    ok = [(r, c) for r in runs for lt in r.lifetimes for c in lt.checkpoints if c["ok"]]
    blocking = [c for r, c in ok if c["kind"] == "periodic" and not _is_async(r, c)]
    background = [c for r, c in ok if _is_async(r, c)]
    emergency = [c for _, c in ok if c["kind"] == "emergency"]
    stall = lambda c: c.get("stall_s") if c.get("stall_s") is not None else c["seconds"]
    modes = {True: (background, "background write of an asynchronous periodic save (durable when it ends)",
                     "asynchronous saves' background write", lambda c: c["seconds"]),
             False: (blocking, "training blocked by a periodic save", "blocking saves", stall)}
    mine, what, _, value = modes[use_async]
    other, _, other_what, other_value = modes[not use_async]
    if mine or other:
        if mine:
            saves, label, get = mine, what, value
        else:
            saves, label, get = other, f"no save of the scenario's mode; from the {other_what}", other_value
        w = [get(c) for c in saves]
        extra = f"; {other_what}: {spread([other_value(c) for c in other])}" if mine and other else ""
        cal.set("checkpoint.write_s", _r(statistics.fmean(w)), f"{label}, {spread(w)}{_bytes(saves)}{extra}")
    elif emergency:
        w = [stall(c) for c in emergency]
        cal.set("checkpoint.write_s", _r(statistics.fmean(w)),
                f"no periodic save in the logs: from the emergency saves, {spread(w)}{_bytes(emergency)}")
    else:
        cal.default("checkpoint.write_s", "no checkpoint in the logs")
    stalls = [float(c["stall_s"]) for c in background if c.get("stall_s") is not None]
    if stalls:
        sync = [stall(c) for c in blocking]
        vs = f" (blocking saves: mean {statistics.fmean(sync):.3g} s, n={len(sync)})" if sync else ""
        cal.set("checkpoint.stall_s", _r(statistics.fmean(stalls)),
                f"training blocked while an asynchronous save copies the state, {spread(stalls)}{vs}")
    else:
        cal.default("checkpoint.stall_s", "no asynchronous periodic save in the logs")
    if emergency:
        w = [stall(c) for c in emergency]
        lat = _notice_latency(runs)
        cal.set("checkpoint.emergency_write_s", _r(statistics.fmean(w)),
                f"emergency save (always blocking), {spread(w)}; notice to durable (emergency-save latency): "
                + (spread(lat) if lat else "not measured"))
    else:
        cal.default("checkpoint.emergency_write_s", "no emergency save in the logs (no preemption, or "
                    "emergency saving off): the emergency save takes checkpoint.write_s")
        cal.values["checkpoint.emergency_write_s"].value = None


def _bytes(ckpts: list[dict]) -> str:
    b = [c["bytes"] / 1e6 for c in ckpts if c.get("bytes")]
    rate = [c["bytes"] / 1e6 / c["seconds"] for c in ckpts if c.get("bytes") and c.get("seconds")]
    if not b:
        return ""
    return (f"; {statistics.fmean(b):.4g} MB per checkpoint written at {statistics.fmean(rate):.4g} MB/s "
            f"(write time of another model: its MB / {statistics.fmean(rate):.4g} MB/s)")


def _notice_latency(runs: list[Run]) -> list[float]:
    out = []
    for r in runs:
        for lt in r.lifetimes:
            if lt.sent is None:
                continue
            em = [c for c in lt.checkpoints if c["kind"] == "emergency" and c["ok"]]
            if em:
                out.append(float(em[-1]["t"]) - float(lt.sent["t"]))
    return out


def _strategy(cal: Calibration, runs: list[Run]) -> None:
    cfgs = [r.checkpoint_config for r in runs]
    names = sorted({c.get("strategy") or "?" for c in cfgs})
    if len(names) == 1 and names[0] != "?":
        cal.set("checkpoint.strategy", names[0], f"used by all n={len(runs)} run(s)")
        relevant = {"fixed": ("every_epochs", "every_s"),
                    "adaptive": ("prior_mtbf_s", "ema_alpha", "min_interval_s", "max_interval_s")}
        for k in relevant.get(names[0], ()):
            vals = {repr(c.get(k)) for c in cfgs if k in c}
            if len(vals) == 1 and all(k in c for c in cfgs):
                cal.set(f"checkpoint.{k}", cfgs[0][k], f"the setting of all n={len(runs)} run(s)")
    else:
        cal.notes.append(f"the runs use different checkpoint strategies ({', '.join(names)}): the scenario "
                         f"keeps the default; validation replays each run with its own")
    em = {c.get("emergency") for c in cfgs}
    if len(em) == 1 and None not in em:
        cal.set("checkpoint.emergency", bool(em.pop()), f"the setting of all n={len(runs)} run(s)")


def _interrupts(cal: Calibration, runs: list[Run]) -> None:
    ups = [float(lt.sent["t"]) - lt.start for r in runs for lt in r.lifetimes if lt.sent]
    if not ups:
        cal.notes.append("no preemption in the logs: restore time, emergency saves and capacity waits "
                         "are not measured (defaults)")
        return
    total_h = sum(float(lt.sent["t"]) - lt.start if lt.sent else _alive(r, lt)
                  for r in runs for lt in r.lifetimes) / 3600.0
    rate = len(ups) / total_h if total_h > 0 else 0.0
    pats = sorted({r.start.get("pattern") or "?" for r in runs})
    pattern = pats[0] if len(pats) == 1 and pats[0] in ("regular", "poisson", "bursty", "weibull") else "poisson"
    cal.set("interrupts.pattern", pattern, f"the pattern of all n={len(runs)} run(s)" if len(pats) == 1 and pattern == pats[0]
            else f"the runs mix patterns ({', '.join(pats)}): poisson stands for them")
    cal.set("interrupts.rate_per_h", _r(rate), f"n={len(ups)} preemptions in {total_h:.4g} h of uptime; "
            f"uptime to notice {spread(ups)}")
    windows = {r.label: r.window_s for r in runs}
    waits = []
    for r in runs:
        w = windows[r.label] or 0.0
        for i, lt in enumerate(r.lifetimes):
            if lt.sent and i + 1 < len(r.lifetimes):
                waits.append(max(0.0, r.lifetimes[i + 1].start - float(lt.sent["t"]) - w))
    if waits and max(waits) > 0:
        cal.set("capacity.wait", "fixed", f"time from the end of the notice window to the next grant (n={len(waits)})")
        cal.set("capacity.wait_s", _r(statistics.fmean(waits)), spread(waits))
    elif waits:
        cal.set("capacity.wait", "none", f"the next VM came within the notice window every time "
                f"(n={len(waits)}; real mode restarts after the trainer exits plus --restart-delay)")


def _alive(r: Run, lt) -> float:
    stop = float(lt.exit["t"]) if lt.exit is not None else float(r.end["t"]) if r.end else lt.start
    return max(0.0, stop - lt.start)


def _accuracy(cal: Calibration, runs: list[Run]) -> None:
    pts = [(float(e["epoch"]), float(e["val_acc"])) for r in runs for e in r.epoch_records()
           if e.get("val_acc") is not None]
    keys = ("accuracy.a_max", "accuracy.a_0", "accuracy.tau_epochs", "accuracy.noise_sd")
    curve, why = fit_accuracy([p[0] for p in pts], [p[1] for p in pts])
    if curve is None:
        for k in keys:
            cal.default(k, why)
        cal.notes[-4:] = [f"accuracy.*: {why}; using the default curve"]
        return
    n = f"bounded least squares over n={curve.points} (epoch, accuracy) points at {curve.epochs} epochs"
    cal.set(keys[0], _r(curve.a_max), f"{n}; standard error {curve.se_a_max:.2g}")
    cal.set(keys[1], _r(curve.a_0), f"same fit (n={curve.points}); standard error {curve.se_a_0:.2g}")
    cal.set(keys[2], _r(curve.tau), f"same fit (n={curve.points}); standard error {curve.se_tau:.2g} epochs")
    cal.set(keys[3], _r(min(curve.noise_sd, 0.5), 3), f"residual sd of the n={curve.points} points about the curve")


def scenario_of(cal: Calibration, base: Scenario | None = None) -> Scenario:
    """The calibrated scenario (over `base`, default: the built-in defaults)."""
    from spotsim.config import build_scenario

    layers = [("base", base.to_dict())] if base is not None else []
    return build_scenario(layers + [("calibration", cal.layer())], known_complete=base is not None)
