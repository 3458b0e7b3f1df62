"""Fault hooks for tests: widen timing windows, pin events to progress, or make things fail,
from the environment.

`SPOTSIM_REAL_FAULTS` is a comma list of `name=value`; `name@N=value` applies to
the trainer of lifetime N only (and wins over a plain `name` there), except for the
checkpoint-write hooks, which count the writes of each process and take no `@N`.
Trainer hooks:
- `slow_startup_s=X`  sleep X seconds in start-up (before restore),
- `slow_restore_s=X`  sleep X seconds inside the restore,
- `slow_write_s=X`    spread X seconds of sleep over each checkpoint file write,
- `enospc_on_write=N` the N-th checkpoint write of the process fails with ENOSPC
  after writing half its bytes (what a full disk does),
- `sigkill_before_manifest=N` the N-th checkpoint write of the process SIGKILLs the
  process once its `.pt` is renamed into place (in an object store: uploaded), before
  the manifest is written,
- `sigkill_mid_write=N` the N-th checkpoint write SIGKILLs the process once half its
  payload is handed to the file or the object store (an upload cut in progress),
- `sigkill_after_manifest=N` the N-th checkpoint write SIGKILLs the process once its
  manifest is durable, before old checkpoints are pruned and the log is copied,
- `sigkill_at_start=1` the trainer SIGKILLs itself right after `process_start` (what
  the OOM killer does to a trainer that cannot fit),
- `pause_after_steps=K` after K training steps of its lifetime the trainer logs
  "paused after K steps" and idles until its notice comes: the lifetime ends at a
  known position whatever the machine's speed,
- `log_steps=1`       log every finished step.
Supervisor hook:
- `notice_when_paused=1` send each lifetime's notice as soon as its trainer logs that
  it is paused (in place of the drawn uptime): preemptions at fixed progress.
The signals and files involved stay real; the hooks only choose when things happen.
"""
from __future__ import annotations

import os

ENV = "SPOTSIM_REAL_FAULTS"
PAUSED = "paused after"
"""What a trainer held by `pause_after_steps` logs (the supervisor and tests watch for it)."""


def faults() -> dict[str, float]:
    out: dict[str, float] = {}
    for item in filter(None, (s.strip() for s in os.environ.get(ENV, "").split(","))):
        name, _, value = item.partition("=")
        out[name.strip()] = float(value or 1)
    return out


def get(name: str, default: float = 0.0, lifetime: int | None = None) -> float:
    """The hook's value: `name@lifetime` if given, else `name`, else `default`."""
    f = faults()
    if lifetime is not None and f"{name}@{lifetime}" in f:
        return f[f"{name}@{lifetime}"]
    return f.get(name, default)
