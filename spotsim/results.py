"""What one simulated run reports, and how replications are summarised."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats

METRICS = ("makespan_h", "billed_h", "cost_usd", "ondemand_cost_usd", "ondemand_makespan_h", "savings_pct",
           "time_ratio", "preemptions", "checkpoints", "checkpoints_failed", "emergency_ok", "emergency_failed",
           "checkpoint_h", "lost_h", "restart_h", "wait_h", "notice_idle_h", "epochs_done", "final_accuracy")
"""The per-run metrics, in the order `spotsim run --json` and sweeps report them."""


@dataclass(frozen=True)
class RunResult:
    makespan_h: float
    billed_h: float
    cost_usd: float
    ondemand_cost_usd: float
    ondemand_makespan_h: float
    savings_pct: float
    time_ratio: float
    preemptions: int
    checkpoints: int
    checkpoints_failed: int
    emergency_ok: int
    emergency_failed: int
    checkpoint_h: float
    lost_h: float
    restart_h: float
    wait_h: float
    notice_idle_h: float
    epochs_done: int
    final_accuracy: float
    finished: bool = True
    work_h: float = 0.0
    """Training and validation performed, lost work included."""
    startup_h: float = 0.0
    """The first lifetime's start-up (on-demand pays it too)."""
    lost_per_preemption_h: tuple = field(default=())

    @classmethod
    def from_totals(cls, s, t, epochs_done: int, final_accuracy: float, od_makespan_s: float,
                    od_billed_s: float) -> "RunResult":
        """The result of a run of scenario `s` with totals `t` (totals.Totals) and its on-demand baseline."""
        cost = t.billed_s / 3600.0 * s.prices.spot_per_h
        od_cost = od_billed_s / 3600.0 * s.prices.ondemand_per_h
        return cls(
            makespan_h=t.makespan_s / 3600.0,
            billed_h=t.billed_s / 3600.0,
            cost_usd=cost,
            ondemand_cost_usd=od_cost,
            ondemand_makespan_h=od_makespan_s / 3600.0,
            savings_pct=100.0 * (1.0 - cost / od_cost) if od_cost > 0 else 0.0,
            time_ratio=t.makespan_s / od_makespan_s if od_makespan_s > 0 else math.nan,
            preemptions=t.preemptions,
            checkpoints=t.checkpoints,
            checkpoints_failed=t.checkpoints_failed,
            emergency_ok=t.emergency_ok,
            emergency_failed=t.emergency_failed,
            checkpoint_h=t.checkpoint_s / 3600.0,
            lost_h=sum(t.lost_s) / 3600.0,
            restart_h=t.restart_s / 3600.0,
            wait_h=t.wait_s / 3600.0,
            notice_idle_h=t.notice_idle_s / 3600.0,
            epochs_done=epochs_done,
            final_accuracy=float(final_accuracy),
            finished=t.finished,
            work_h=t.work_s / 3600.0,
            startup_h=t.first_startup_s / 3600.0,
            lost_per_preemption_h=tuple(x / 3600.0 for x in t.lost_s),
        )

    def metrics(self) -> dict:
        """The reported metrics (see METRICS) plus `finished`."""
        d = {k: getattr(self, k) for k in METRICS}
        d["finished"] = self.finished
        return d

    def as_dict(self) -> dict:
        d = asdict(self)
        d["lost_per_preemption_h"] = list(self.lost_per_preemption_h)
        return d


def mean_ci(values, confidence: float = 0.95) -> dict:
    """Mean and a Student-t confidence interval of the mean."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    m = float(x.mean()) if n else math.nan
    if n < 2:
        return {"mean": m, "ci95": [m, m]}
    sem = float(x.std(ddof=1)) / math.sqrt(n)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sem
    return {"mean": m, "ci95": [m - half, m + half]}


def summarise(results: list[RunResult]) -> dict:
    """Per metric: {"mean": ..., "ci95": [lo, hi]} over replications."""
    out = {k: mean_ci([getattr(r, k) for r in results]) for k in METRICS}
    out["replications"] = len(results)
    out["unfinished"] = sum(1 for r in results if not r.finished)
    return out
