"""The JSONL event schema shared by simulated and real runs.

One JSON object per line. Every record carries `schema` (the version below),
`event` (a name from EVENTS), `t` (seconds since the run started) and `source`
("sim" or "real"); real runs add `wall` (Unix time) and `pid`. Each event type
adds the fields listed in EVENTS. Calibration and validation read either kind.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

from .errors import EventLogError

SCHEMA_VERSION = 1

EVENTS: dict[str, tuple[str, ...]] = {
    "run_start": ("epochs",),
    "vm_start": ("lifetime",),
    "process_start": ("lifetime",),
    "resume": ("lifetime", "from_epoch", "restore_s"),
    "warmup": ("lifetime", "warmup_s", "compile_s"),
    "epoch_end": ("epoch", "train_s", "eval_s", "val_acc"),
    "checkpoint": ("kind", "ok", "epoch", "seconds"),
    "preempt_notice": ("lifetime", "direction"),
    "kill": ("lifetime",),
    "process_exit": ("lifetime", "code"),
    "capacity_back": ("wait_s",),
    "run_end": ("epochs_done",),
}
"""Event name -> fields it must carry (more are allowed).

- run_start: epochs (requested); optional scenario, seed, strategy, pattern.
- vm_start: a VM (or, in real mode, a trainer slot) is granted; lifetime counts from 1.
- process_start: training code starts in that lifetime.
- resume: state restored; from_epoch is the position in epochs (fractional inside an
  epoch), restore_s the seconds the restore took; optional checkpoint (which one).
- warmup: what a lifetime's first training steps cost beyond steady speed: warmup_s (allocator,
  autotuning) and compile_s (torch.compile; 0 eager); optional cache ("none" eager, "cold", or
  "restored" with the checkpoint), steps, first_s, steady_step_s (real mode's measurement), mode.
- epoch_end: epoch (1-based), train_s, eval_s, val_acc; optional loss, compile_s (the eval graph's
  compilation in a compiled lifetime's first validation).
- checkpoint: kind "periodic" or "emergency", ok (durable or not), epoch (position in
  epochs), seconds (write time); optional bytes, stall_s (seconds training was blocked),
  async_write (written in the background: `t` is when it became durable).
- preempt_notice: direction "sent" (injector/preempter) or "received" (trainer);
  optional uptime_s (grant to notice).
- kill: the end of the notice window: the VM powers off / the trainer is SIGKILLed; optional
  shutdown_t: the VM had shut itself down earlier (the job exited after its emergency save),
  and billing stopped then (billing.preempted_lifetime_billed_s).
- process_exit: code (exit status: 0 the job exited, 137 killed); optional reason, lost_s
  (work lost, seconds).
- capacity_back: wait_s, the time capacity stayed away.
- run_end: epochs_done; optional totals (makespan_s, billed_s, ...).
"""


def make_record(event: str, t: float, source: str, **fields) -> dict:
    """One schema-conformant record; refuses unknown events and missing fields."""
    required = EVENTS.get(event)
    if required is None:
        raise ValueError(f"unknown event {event!r}; known: {', '.join(EVENTS)}")
    missing = [f for f in required if f not in fields]
    if missing:
        raise ValueError(f"event {event!r} lacks field(s) {', '.join(missing)}")
    return {"schema": SCHEMA_VERSION, "event": event, "t": float(t), "source": source, **fields}


class EventLog:
    """Collects records and appends them as JSONL to `path` (if given).

    Each line is written with one `write` call on a file opened for appending, so
    several processes (the real supervisor and its trainers) can share one file.
    """

    def __init__(self, path: str | os.PathLike | None = None, source: str = "sim",
                 fsync: bool = False, keep: bool = False):
        self.source = source
        self.records: list[dict] | None = [] if keep else None
        self._fsync = fsync
        self._fh: IO[str] | None = None
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(path, "a", encoding="utf-8")

    def emit(self, event: str, t: float, **fields) -> dict:
        record = make_record(event, t, self.source, **fields)
        if self.records is not None:
            self.records.append(record)
        if self._fh is not None:
            self._fh.write(json.dumps(record, separators=(",", ":")) + "\n")
            self._fh.flush()
            if self._fsync:
                os.fsync(self._fh.fileno())
        return record

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@dataclass(frozen=True)
class LoggedEvent:
    """A record read back, with where it came from (for error messages)."""

    record: dict
    path: str
    line: int


def read_events(path: str | os.PathLike) -> list[dict]:
    """All records of one JSONL event log, checked against the schema.

    Raises EventLogError naming the file and line of the first bad record: an
    empty file, a line that is not JSON (a truncated last line included), another
    schema version, an unknown event or a missing field.
    """
    return [e.record for e in iter_events(path)]


def iter_events(path: str | os.PathLike) -> Iterator[LoggedEvent]:
    p = Path(path)
    if not p.is_file():
        raise EventLogError(f"{p}: no such event log")
    seen = False
    with open(p, encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    last = len(lines)
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        seen = True
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            hint = " (the last line is truncated: the run was cut off while writing)" if i >= last - 1 else ""
            raise EventLogError(f"{p}:{i}: not a JSON object{hint}: {exc.msg}") from None
        if not isinstance(rec, dict):
            raise EventLogError(f"{p}:{i}: expected a JSON object, got {type(rec).__name__}")
        version = rec.get("schema")
        if version != SCHEMA_VERSION:
            raise EventLogError(
                f"{p}:{i}: event schema version {version!r}; this spotsim reads version {SCHEMA_VERSION}"
            )
        name = rec.get("event")
        if name not in EVENTS:
            raise EventLogError(f"{p}:{i}: unknown event {name!r}; known: {', '.join(EVENTS)}")
        missing = [f for f in ("t", *EVENTS[name]) if f not in rec]
        if missing:
            raise EventLogError(f"{p}:{i}: event {name!r} lacks field(s) {', '.join(missing)}")
        yield LoggedEvent(rec, str(p), i)
    if not seen:
        raise EventLogError(f"{p}: the event log is empty")
