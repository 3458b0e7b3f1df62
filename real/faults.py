"""Fault hooks for tests: widen timing windows or make a write fail, from the environment.

`SPOTSIM_REAL_FAULTS` is a comma list of `name=value`:
- `slow_startup_s=X`  sleep X seconds in start-up (before restore),
- `slow_restore_s=X`  sleep X seconds inside the restore,
- `slow_write_s=X`    spread X seconds of sleep over each checkpoint file write,
- `enospc_on_write=N` the N-th checkpoint write of the process fails with ENOSPC
  after writing half its bytes (what a full disk does),
- `log_steps=1`       log every finished step (tests time their signals by it).
The signals and files involved stay real; the hooks only choose when things happen.
"""
from __future__ import annotations

import os

ENV = "SPOTSIM_REAL_FAULTS"


def faults() -> dict[str, float]:
    out: dict[str, float] = {}
    for item in filter(None, (s.strip() for s in os.environ.get(ENV, "").split(","))):
        name, _, value = item.partition("=")
        out[name.strip()] = float(value or 1)
    return out


def get(name: str, default: float = 0.0) -> float:
    return faults().get(name, default)
