"""What one simulated run reports, and how replications are summarised."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache

import numpy as np

METRICS = ("makespan_h", "billed_h", "cost_usd", "ondemand_cost_usd", "ondemand_makespan_h", "savings_pct",
           "time_ratio", "preemptions", "checkpoints", "checkpoints_failed", "emergency_ok", "emergency_failed",
           "checkpoint_h", "lost_h", "restart_h", "wait_h", "notice_idle_h", "epochs_done", "final_accuracy",
           "spot_h", "ondemand_h", "switches", "cost_ratio", "met_deadline", "deadline_slack_h", "warmup_h",
           "compile_h")
"""The per-run metrics, in the order `spotsim run --json` and sweeps report them."""
ZONE_METRICS = ("moves", "transfer_gb", "transfer_usd", "transfer_h")
"""Metrics of runs with zones, reported after METRICS where the scenario has zones (with zone_h:
`run --json` as {zone: hours}, sweeps as one zone_h:NAME column per zone)."""


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
    spot_h: float = 0.0
    """Billed hours on Spot."""
    ondemand_h: float = 0.0
    """Billed hours on on-demand (spot_h + ondemand_h = billed_h)."""
    switches: int = 0
    cost_ratio: float = math.nan
    """Cost as a fraction of all on-demand."""
    met_deadline: float = math.nan
    """1.0 if the job finished by job.deadline_h, 0.0 if not, NaN without a deadline."""
    deadline_slack_h: float = math.nan
    """Deadline minus makespan (negative: missed; NaN without a deadline)."""
    finished: bool = True
    work_h: float = 0.0
    """Training and validation performed, lost work included."""
    startup_h: float = 0.0
    """The first lifetime's start-up (on-demand pays it too)."""
    lost_per_preemption_h: tuple = field(default=())
    warmup_h: float = 0.0
    """The first steps' extra time, every lifetime (job.warmup_s)."""
    compile_h: float = 0.0
    """torch.compile, every lifetime (job.compile_s; less with the compile cache restored)."""
    moves: int = 0
    """Moves of the checkpoint to another region (zones; docs/zones.md)."""
    transfer_gb: float = 0.0
    transfer_usd: float = 0.0
    """Egress of the moves (in cost_usd)."""
    transfer_h: float = 0.0
    """Time the moves' transfers took (part of restart_h and of the makespan)."""
    zone_h: tuple = field(default=())
    """(zone name, billed Spot hours) per zone in the scenario's order (empty without zones)."""

    @classmethod
    def from_totals(cls, s, t, epochs_done: int, final_accuracy: float, od_makespan_s: float,
                    od_billed_s: float) -> "RunResult":
        """The result of a run of scenario `s` with totals `t` (totals.Totals) and its on-demand baseline."""
        cost = t.cost_usd(s.prices)
        zones = t.zones
        od_cost = od_billed_s / 3600.0 * (s.prices.ondemand_per_h if zones is None else zones.home_ondemand_per_h)
        deadline_h = s.job.deadline_h
        makespan_h = t.makespan_s / 3600.0
        return cls._of({
            "makespan_h": t.makespan_s / 3600.0,
            "billed_h": t.billed_s / 3600.0,
            "cost_usd": cost,
            "ondemand_cost_usd": od_cost,
            "ondemand_makespan_h": od_makespan_s / 3600.0,
            "savings_pct": 100.0 * (1.0 - cost / od_cost) if od_cost > 0 else 0.0,
            "time_ratio": t.makespan_s / od_makespan_s if od_makespan_s > 0 else math.nan,
            "preemptions": t.preemptions,
            "checkpoints": t.checkpoints,
            "checkpoints_failed": t.checkpoints_failed,
            "emergency_ok": t.emergency_ok,
            "emergency_failed": t.emergency_failed,
            "checkpoint_h": t.checkpoint_s / 3600.0,
            "lost_h": sum(t.lost_s) / 3600.0,
            "restart_h": t.restart_s / 3600.0,
            "wait_h": t.wait_s / 3600.0,
            "notice_idle_h": t.notice_idle_s / 3600.0,
            "epochs_done": epochs_done,
            "final_accuracy": float(final_accuracy),
            "spot_h": t.spot_billed_s / 3600.0,
            "ondemand_h": t.ondemand_billed_s / 3600.0,
            "switches": t.switches,
            "cost_ratio": cost / od_cost if od_cost > 0 else math.nan,
            "met_deadline": math.nan if deadline_h is None else float(t.finished and met(t.makespan_s, deadline_h)),
            "deadline_slack_h": math.nan if deadline_h is None else deadline_h - makespan_h,
            "finished": t.finished,
            "work_h": t.work_s / 3600.0,
            "startup_h": t.first_startup_s / 3600.0,
            "lost_per_preemption_h": tuple([x / 3600.0 for x in t.lost_s]),
            "warmup_h": t.warmup_s / 3600.0,
            "compile_h": t.compile_s / 3600.0,
            "moves": 0 if zones is None else zones.moves,
            "transfer_gb": 0.0 if zones is None else zones.transfer_gb,
            "transfer_usd": 0.0 if zones is None else zones.transfer_usd,
            "transfer_h": t.transfer_s / 3600.0,
            "zone_h": () if zones is None else zones.zone_h(),
        })

    @classmethod
    def _of(cls, values: dict) -> "RunResult":
        """cls(**values), for `values` that name every field in their order: the frozen dataclass's
        __init__ sets each field with object.__setattr__, most of a short run's result cost; this
        fills the instance's __dict__ at once (tests/test_run_result.py holds the two equal)."""
        result = object.__new__(cls)
        result.__dict__.update(values)
        return result

    def metrics(self) -> dict:
        """The reported metrics (see METRICS) plus `finished`."""
        d = {k: getattr(self, k) for k in METRICS}
        d["met_deadline"] = None if math.isnan(self.met_deadline) else bool(self.met_deadline)
        if math.isnan(self.deadline_slack_h):
            d["deadline_slack_h"] = None
        d["finished"] = self.finished
        if self.zone_h:
            d.update((k, getattr(self, k)) for k in ZONE_METRICS)
            d["zone_h"] = dict(self.zone_h)
        return d

    def as_dict(self) -> dict:
        """The fields as plain values; zone_h as {name: hours}, left out without zones."""
        d = asdict(self)
        d["lost_per_preemption_h"] = list(self.lost_per_preemption_h)
        if self.zone_h:
            d["zone_h"] = dict(self.zone_h)
        else:
            del d["zone_h"]
        return d


DEADLINE_TOLERANCE_S = 1e-6
"""A run that ends within this of its deadline met it (the deadline is given in hours)."""


def met(makespan_s: float, deadline_h: float) -> bool:
    """Whether a makespan meets a deadline in hours."""
    return makespan_s <= deadline_h * 3600.0 + DEADLINE_TOLERANCE_S


@lru_cache(maxsize=256)
def t_quantile(q: float, dof: int) -> float:
    """Student's t quantile: scipy.stats.t.ppf(q, dof), which is scipy.special.stdtrit (imported here
    only when first asked: scipy.stats alone takes ~0.7 s to import, a tenth of a default sweep)."""
    from scipy.special import stdtrit
    return float(stdtrit(dof, q))


def mean_ci(values, confidence: float = 0.95) -> dict:
    """Mean and a Student-t confidence interval of the mean."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    m = float(x.mean()) if n else math.nan
    if n < 2:
        return {"mean": m, "ci95": [m, m]}
    sem = float(x.std(ddof=1)) / math.sqrt(n)
    half = t_quantile(0.5 + confidence / 2, n - 1) * sem
    return {"mean": m, "ci95": [m - half, m + half]}


PERCENTILES = (5, 50, 95)
"""Percentiles every summary reports: under a deadline the tail is the question."""


def describe(values) -> dict | None:
    """Mean, 95% CI of the mean and the PERCENTILES of `values`; None if all are NaN (not defined)."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return None
    out = mean_ci(x)
    for q, v in zip(PERCENTILES, np.percentile(x, PERCENTILES).tolist()):
        out[f"p{q}"] = v
    return out


def summarise(results: list[RunResult]) -> dict:
    """Per metric: {"mean", "ci95": [lo, hi], "p5", "p50", "p95"} over replications (None where the
    metric is not defined, e.g. deadline metrics without a deadline). `met_deadline`'s mean is the
    share of replications that met the deadline. With zones, ZONE_METRICS too, and zone_h: the same
    per zone."""
    out = {k: describe([getattr(r, k) for r in results]) for k in METRICS}
    if results and results[0].zone_h:
        out.update((k, describe([getattr(r, k) for r in results])) for k in ZONE_METRICS)
        out["zone_h"] = {name: describe([dict(r.zone_h)[name] for r in results]) for name, _ in results[0].zone_h}
    out["replications"] = len(results)
    out["unfinished"] = sum(1 for r in results if not r.finished)
    return out
