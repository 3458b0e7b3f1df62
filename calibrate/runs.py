"""Event logs read into runs and lifetimes, and what each run measured.

Simulated logs (`spotsim run --events`, source "sim") and real ones (`real run`,
source "real") share one schema; three things need care and are handled here:

- start-up: the simulator logs `process_start` once start-up is over (training
  code about to run, before the restore); real mode logs it when the trainer's
  Python is up, and its `resume` (with `restore_s`) once data, model and
  checkpoint are loaded. Start-up is therefore grant -> `process_start` for
  simulated lifetimes and grant -> (`resume` - `restore_s`) for real ones.
- warm-up and compilation: a lifetime's first training steps are slower than steady
  ones (allocator, autotuning, torch.compile). Both modes log a `warmup` event per
  lifetime with the excess (warmup_s, compile_s). The simulator spends it as a phase
  of its own before training, so its epochs are steady; in real mode the epoch
  holding those steps (the lifetime's first epoch_end with training in it) includes
  it, and a compiled lifetime's first validation adds the eval graph's compile to its
  epoch_end (`compile_s`). `Run.steady_epochs` takes the excess out; real logs
  written before the event existed have none.
- the notice window: on a cloud the VM stays up, and billed, for the whole
  window after the notice (the simulator does this); real mode's supervisor
  starts the next trainer as soon as the old one has exited and the restart
  delay has passed. `measure` puts a real run on the cloud's timeline: a gap
  from SIGTERM to the next spawn shorter than the window is stretched to the
  window (so the makespan grows by the difference), a longer gap is the window
  plus a capacity wait, and each lifetime is billed from its grant to the end of
  its window under the billing rule, as the simulator bills.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from spotsim.billing import lifetime_billed_s, preempted_lifetime_billed_s
from spotsim.config import Billing
from spotsim.errors import SpotsimError
from spotsim.events import LoggedEvent, iter_events

from .lost_work import lost_epochs_by_lifetime

IDENTITY_KEYS = ("model", "dataset", "max_samples", "batch_size", "device")
"""run_start fields (real mode) that say which job a run trained."""


class CalibrationError(SpotsimError):
    """Logs or a scenario that calibration or validation cannot use, said in one sentence."""


@dataclass
class Lifetime:
    """One VM lifetime (in real mode: one trainer process) and what it logged."""

    index: int
    start: float | None = None
    process_start: float | None = None
    resume: dict | None = None
    sent: dict | None = None
    received: dict | None = None
    kill: dict | None = None
    exit: dict | None = None
    checkpoints: list[dict] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)
    late_notice: dict | None = None
    """A SIGTERM that reached a real trainer already finishing (it exited done): not a preemption."""
    warmup: dict | None = None
    """The lifetime's `warmup` event (None: not logged, e.g. cut before its first steady steps)."""
    compile: bool | None = None
    """Real mode's process_start says whether the trainer ran under torch.compile (None: not said)."""

    @property
    def preempted(self) -> bool:
        return self.sent is not None

    @property
    def warmup_s(self) -> float | None:
        """Measured warm-up of the first steps beyond steady speed, compilation excluded."""
        return None if self.warmup is None else float(self.warmup["warmup_s"])

    @property
    def compile_s(self) -> float | None:
        """Measured compilation in this lifetime: the training graph's (warmup event) plus the eval
        graph's (epoch_end compile_s); None without a warmup event."""
        if self.warmup is None:
            return None
        return float(self.warmup["compile_s"]) + sum(float(e.get("compile_s") or 0.0) for e in self.epochs)

    @property
    def cache(self) -> str | None:
        """"none" (eager), "cold" or "restored" (the compile cache came with the checkpoint); None
        without a warmup event. Logs that do not say: eager when nothing was compiled, else restored
        if the lifetime loaded a checkpoint, cold otherwise."""
        if self.warmup is None:
            return None
        c = self.warmup.get("cache")
        if c is not None:
            return str(c)
        if self.compile_s == 0:
            return "none"
        return "restored" if restored(self) else "cold"

    def warm_epoch(self) -> dict | None:
        """The epoch_end whose training holds the lifetime's first steps (its first with training)."""
        return next((e for e in self.epochs if float(e["train_s"]) > 0), None)


@dataclass
class Run:
    """One run: the records from a `run_start` to its `run_end` (if any)."""

    path: str
    line: int
    source: str
    start: dict
    end: dict | None = None
    lifetimes: list[Lifetime] = field(default_factory=list)
    capacity_back: list[dict] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The run's directory name for `.../NAME/events.jsonl`, else the file name (plus :line)."""
        p = Path(self.path)
        base = p.parent.name if p.name == "events.jsonl" and p.parent.name else p.stem
        return base if self.line == 1 else f"{base}:{self.line}"

    @property
    def epochs(self) -> int:
        return int(self.start["epochs"])

    @property
    def strategy(self) -> str | None:
        return self.start.get("strategy") or (self.start.get("checkpoint") or {}).get("strategy")

    @property
    def checkpoint_config(self) -> dict:
        """The run's checkpoint settings as logged (real mode, and the simulator since run_start
        carries them): strategy, every_epochs, every_s, emergency, adaptive bounds..."""
        cfg = dict(self.start.get("checkpoint") or {})
        if self.strategy:
            cfg["strategy"] = self.strategy
        if "emergency" in self.start:
            cfg["emergency"] = bool(self.start["emergency"])
        return cfg

    @property
    def async_write(self) -> bool:
        """Periodic saves written in the background (real mode's --async-checkpoint; the simulator's
        checkpoint.async_write in run_start)."""
        if "async_checkpoint" in self.start:
            return bool(self.start["async_checkpoint"])
        ck = self.start.get("checkpoint") or {}
        return bool(ck.get("async_write", ck.get("async", False)))

    @property
    def has_warmups(self) -> bool:
        """Some lifetime logged a `warmup` event (real logs before the event existed have none)."""
        return any(lt.warmup is not None for lt in self.lifetimes)

    @property
    def compiled(self) -> bool | None:
        """The run used torch.compile: its run_start's or trainers' `compile`, else what its warmup
        events say; real logs with none of these predate --compile (eager); None: unknown."""
        if "compile" in self.start:
            return bool(self.start["compile"])
        flags = {lt.compile for lt in self.lifetimes if lt.compile is not None}
        if flags:
            return any(flags)
        caches = {lt.cache for lt in self.lifetimes if lt.warmup is not None}
        if caches:
            return bool(caches - {"none"})
        return False if self.source == "real" else None

    @property
    def window_s(self) -> float | None:
        """The notice window: real mode's grace, the simulator's vm.notice_s."""
        for k in ("grace_s", "notice_s"):
            if self.start.get(k) is not None:
                return float(self.start[k])
        gaps = [lt.kill["t"] - lt.sent["t"] for lt in self.lifetimes if lt.sent and lt.kill]
        return statistics.median(gaps) if gaps else None

    @property
    def identity(self) -> dict:
        return {k: self.start[k] for k in IDENTITY_KEYS if k in self.start}

    @property
    def completed(self) -> bool:
        """The run reached its last epoch and said so in its run_end."""
        e = self.end
        if e is None or e.get("completed") is False or e.get("finished") is False:
            return False
        return int(e.get("epochs_done", 0)) >= self.epochs

    def epoch_records(self) -> list[dict]:
        return [e for lt in self.lifetimes for e in lt.epochs]

    def whole_epochs(self) -> list[dict]:
        """epoch_end records of epochs trained in one piece (no restart inside them).

        Real mode marks the others `split`; in simulated logs it is the first epoch
        after a resume from anywhere but that epoch's start (inside it, or with
        only its validation left: position e + 1.0 before epoch e + 1 ends).
        """
        out = []
        for lt in self.lifetimes:
            start = float(lt.resume["from_epoch"]) if lt.resume is not None else None
            for i, e in enumerate(lt.epochs):
                if "split" in e:
                    if not e["split"]:
                        out.append(e)
                elif i > 0 or start is None or abs(start - (int(e["epoch"]) - 1)) < 1e-9:
                    out.append(e)
        return out

    def steady_epochs(self, drop_unmeasured: bool = False) -> list[tuple[dict, float]]:
        """Whole epochs with their steady training seconds: train_s less the warm-up and compile of
        the lifetime whose first steps it holds, where a warmup event measured them. Such an epoch
        in a lifetime without a warmup event keeps its train_s, or is left out with
        `drop_unmeasured` (when other runs measured warm-up: its own is unknown). Simulated
        epochs are steady already (the simulator warms up before training)."""
        if self.source == "sim":
            return [(e, float(e["train_s"])) for e in self.whole_epochs()]
        whole = {id(e) for e in self.whole_epochs()}
        out = []
        for lt in self.lifetimes:
            warm = lt.warm_epoch()
            for e in lt.epochs:
                if id(e) not in whole:
                    continue
                t = float(e["train_s"])
                if e is warm:
                    if lt.warmup is None:
                        if drop_unmeasured:
                            continue
                    else:
                        t = max(0.0, t - lt.warmup_s - float(lt.warmup["compile_s"]))
                out.append((e, t))
        return out

    def epoch_len_s(self) -> float | None:
        """Mean seconds of one whole epoch: training plus validation."""
        w = self.whole_epochs()
        return statistics.fmean(e["train_s"] + e["eval_s"] for e in w) if w else None


def read_runs(path) -> list[Run]:
    """The runs in one JSONL event log (a file may hold several, one after another).

    Schema problems raise EventLogError with the file and line; a file whose
    events do not start with run_start raises CalibrationError.
    """
    return _build(iter_events(path))


def read_records(records: list[dict], name: str) -> Run:
    """The one run in records kept in memory (EventLog(keep=True))."""
    runs = _build(LoggedEvent(r, name, i) for i, r in enumerate(records, start=1))
    if len(runs) != 1:
        raise CalibrationError(f"{name}: expected one run, found {len(runs)}")
    return runs[0]


def _build(events) -> list[Run]:
    runs: list[Run] = []
    run: Run | None = None
    current: Lifetime | None = None
    for ev in events:
        r = ev.record
        name = r["event"]
        if name == "run_start":
            run = Run(ev.path, ev.line, r.get("source", "?"), r)
            runs.append(run)
            current = None
            continue
        if run is None:
            raise CalibrationError(f"{ev.path}:{ev.line}: {name} before any run_start: "
                                   f"not the log of a whole run (the first event must be run_start)")
        if name == "run_end":
            run.end = r
            continue
        if name == "capacity_back":
            run.capacity_back.append(r)
            continue
        if name == "vm_start":
            current = _lifetime(run, int(r["lifetime"]), ev)
            current.start = float(r["t"])
            continue
        lt = _lifetime(run, int(r["lifetime"]), ev) if "lifetime" in r else current
        if lt is None:
            raise CalibrationError(f"{ev.path}:{ev.line}: {name} before any vm_start")
        if name == "process_start":
            lt.process_start = float(r["t"])
            if r.get("compile") is not None:
                lt.compile = bool(r["compile"])
        elif name == "resume":
            lt.resume = r
        elif name == "warmup":
            _check_warmup(r, lt, ev)
            lt.warmup = r
        elif name == "epoch_end":
            if r.get("compile_s") is not None:
                _check_seconds(r, "compile_s", ev)
            lt.epochs.append(r)
        elif name == "checkpoint":
            lt.checkpoints.append(r)
        elif name == "preempt_notice":
            if r["direction"] == "sent":
                lt.sent = r
            else:
                lt.received = r
        elif name == "kill":
            lt.kill = r
        elif name == "process_exit":
            lt.exit = r
    for run in runs:
        for lt in run.lifetimes:
            if run.source == "real" and lt.sent is not None and lt.exit is not None and lt.exit["code"] == 0:
                lt.late_notice, lt.sent = lt.sent, None  # exit code 0 is real mode's "done"
        if any(lt.start is None for lt in run.lifetimes):
            bad = next(lt for lt in run.lifetimes if lt.start is None)
            raise CalibrationError(f"{run.path}:{run.line}: lifetime {bad.index} has events but no vm_start")
    return runs


def _check_seconds(r: dict, key: str, ev) -> None:
    v = r.get(key)
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
    if not ok:
        what = "missing (null)" if v is None else f"{v!r}, not a number of seconds >= 0"
        life = f" of lifetime {r['lifetime']}" if "lifetime" in r else ""
        raise CalibrationError(f"{ev.path}:{ev.line}: {r['event']} event{life}: {key} is {what}")


def _check_warmup(r: dict, lt: Lifetime, ev) -> None:
    """A warmup event must carry seconds >= 0 and come once per lifetime."""
    for k in ("warmup_s", "compile_s"):
        _check_seconds(r, k, ev)
    if lt.warmup is not None:
        raise CalibrationError(f"{ev.path}:{ev.line}: a second warmup event for lifetime {lt.index} "
                               f"(one per lifetime)")


def _lifetime(run: Run, index: int, ev) -> Lifetime:
    for lt in reversed(run.lifetimes):
        if lt.index == index:
            return lt
    if index < 1:
        raise CalibrationError(f"{ev.path}:{ev.line}: lifetime {index}: lifetimes count from 1")
    lt = Lifetime(index)
    run.lifetimes.append(lt)
    run.lifetimes.sort(key=lambda x: x.index)
    return lt


def startup_s(run: Run, lt: Lifetime) -> float | None:
    """Grant to training code running, before the restore (None: cut by a notice)."""
    if lt.start is None:
        return None
    if run.source == "sim":
        return None if lt.process_start is None else lt.process_start - lt.start
    if lt.resume is None:
        return None
    return float(lt.resume["t"]) - float(lt.resume["restore_s"]) - lt.start


def restored(lt: Lifetime) -> bool:
    """The lifetime loaded a checkpoint (real mode logs a resume from scratch too)."""
    r = lt.resume
    return r is not None and ("checkpoint" not in r or r["checkpoint"] is not None)


# -- what a run measured ---------------------------------------------------------
@dataclass(frozen=True)
class Measured:
    """A run's figures on the cloud's timeline (see the module docstring)."""

    makespan_s: float
    wall_s: float
    """The log's own makespan (real mode: wall clock, with its short restarts)."""
    billed_s: float
    vm_s: float
    """VM time before the billing rule: each lifetime from grant to off."""
    preemptions: int
    periodic: int
    periodic_failed: int
    emergency: int
    emergency_failed: int
    epochs_done: int
    lost_epochs: float
    lost_s: float
    uptimes_s: tuple[float, ...]
    waits_s: tuple[float, ...]
    replayed_s: float
    """Seconds of the makespan that a replay takes from the log: uptimes, windows, waits."""

    @property
    def predicted_s(self) -> float:
        """The makespan minus what a replay copies: the part the simulator predicts."""
        return self.makespan_s - self.replayed_s


def measure(run: Run, window_s: float, billing: Billing, epoch_len_s: float | None = None) -> Measured:
    """What `run` measured, with a notice window of `window_s` seconds.

    Lost work is counted per preemption by `lost_work` (the position at the
    notice minus the position the job next resumed from, in epochs), in seconds
    at `epoch_len_s` per epoch (default: the log's mean whole epoch, training plus
    validation); simulated logs give the seconds lost directly
    (process_exit.lost_s), which are turned into epochs the same way. Billing is
    the simulator's rule (`spotsim.billing`): a preempted lifetime's VM is off at
    the end of its window, or earlier where the job exited inside the window
    (it saved, or had nothing to save, and shut its VM down).
    """
    if run.end is None:
        raise CalibrationError(f"{run.path}:{run.line}: the run has no run_end (cut off): it cannot be measured")
    lts = run.lifetimes
    end_t = float(run.end["t"])
    epoch_len = epoch_len_s or run.epoch_len_s() or 0.0
    uptimes, waits = [], []
    stretch = billed = vm = replayed = 0.0
    lost_epochs = lost_s = 0.0
    lost_by_lifetime = lost_epochs_by_lifetime({lt.index: lt.received for lt in lts if lt.preempted and lt.received},
                                               {lt.index: lt.resume for lt in lts if lt.resume is not None})
    for i, lt in enumerate(lts):
        if lt.preempted:
            up = float(lt.sent["t"]) - lt.start
            uptimes.append(up)
            nxt = lts[i + 1].start if i + 1 < len(lts) else None
            gap = (nxt - float(lt.sent["t"])) if nxt is not None else window_s
            waits.append(max(0.0, gap - window_s))
            stretch += max(0.0, window_s - gap)
            off = _off_after_grant(lt, up + window_s)
            billed += preempted_lifetime_billed_s(off, up + window_s, billing)
            vm += off
            replayed += up + window_s + waits[-1]
            le, ls = _lost(lt, lost_by_lifetime, epoch_len)
            lost_epochs += le
            lost_s += ls
        else:
            stop = float(lt.exit["t"]) if lt.exit is not None else end_t
            billed += lifetime_billed_s(stop - lt.start, billing, preempted=False)
            vm += stop - lt.start
    ck = [c for lt in lts for c in lt.checkpoints]
    done = max([int(e["epoch"]) for e in run.epoch_records()] + [int(run.end.get("epochs_done", 0))])
    return Measured(
        makespan_s=end_t + stretch, wall_s=end_t, billed_s=billed, vm_s=vm,
        preemptions=len(uptimes),
        periodic=sum(1 for c in ck if c["kind"] == "periodic" and c["ok"]),
        periodic_failed=sum(1 for c in ck if c["kind"] == "periodic" and not c["ok"]),
        emergency=sum(1 for c in ck if c["kind"] == "emergency" and c["ok"]),
        emergency_failed=sum(1 for c in ck if c["kind"] == "emergency" and not c["ok"]),
        epochs_done=done, lost_epochs=lost_epochs, lost_s=lost_s,
        uptimes_s=tuple(uptimes), waits_s=tuple(waits), replayed_s=replayed)


def _off_after_grant(lt: Lifetime, kill_s: float) -> float:
    """Seconds from a preempted lifetime's grant to its VM going off: the kill at `kill_s` (the
    window's end), or earlier where the job exited inside the window (the simulator logs that as
    the kill's shutdown_t; real mode as the trainer's process_exit)."""
    if lt.kill is not None and lt.kill.get("shutdown_t") is not None:
        return min(kill_s, float(lt.kill["shutdown_t"]) - lt.start)
    if lt.exit is not None and (lt.kill is None or float(lt.exit["t"]) < float(lt.kill["t"])):
        return min(kill_s, float(lt.exit["t"]) - lt.start)
    return kill_s


def _lost(lt: Lifetime, lost_by_lifetime: dict[int, float], epoch_len: float) -> tuple[float, float]:
    """(epochs, seconds) of work lost at the preemption of lifetime `lt`: the simulator's own
    count where its log gives one, else what `lost_work` reads from the notices and resumes."""
    if lt.exit is not None and "lost_s" in lt.exit:
        s = float(lt.exit["lost_s"])
        return (s / epoch_len if epoch_len > 0 else 0.0), s
    e = lost_by_lifetime.get(lt.index, 0.0)
    return e, e * epoch_len


def finite(values) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]
