"""Pure math: billing rounding and closed-form expectations (no SimPy here).

The simulator calls these; the tests check the simulator against them.
"""
from __future__ import annotations

import math


def billed_seconds(duration_s: float, minimum_s: float, increment_s: float) -> float:
    """Seconds billed for one VM lifetime of `duration_s` (grant to off).

    GCP bills per second with a one-minute minimum (../shared/FACTS.md, "Billing"):
    minimum_s=60, increment_s=1. A lifetime of zero length costs nothing.
    """
    if duration_s <= 0:
        return 0.0
    if increment_s > 0:
        # Round up to the increment; the small epsilon keeps 120.0000001 s at 121 s,
        # not at 120 s, and 120.0 at 120.
        units = math.ceil(duration_s / increment_s - 1e-9)
        duration_s = units * increment_s
    return max(float(minimum_s), duration_s)


def young_interval(write_s: float, mtbf_s: float) -> float:
    """Young's optimal checkpoint interval sqrt(2 C M) (Young, CACM 1974; FACTS.md)."""
    return math.sqrt(2.0 * write_s * mtbf_s)


def daly_optimal_interval(write_s: float, mtbf_s: float) -> float:
    """Daly's higher-order optimal compute interval between checkpoints.

    tau* = sqrt(2CM) (1 + sqrt(C/2M)/3 + (C/2M)/9) - C for C < 2M, else M
    (Daly, FGCS 22(3) 2006; ../shared/FACTS.md "Checkpoint-interval theory").
    """
    c, m = write_s, mtbf_s
    if c >= 2.0 * m:
        return m
    x = c / (2.0 * m)
    return math.sqrt(2.0 * c * m) * (1.0 + math.sqrt(x) / 3.0 + x / 9.0) - c


def daly_expected_makespan(
    work_s: float, interval_s: float, write_s: float, restart_s: float, mtbf_s: float
) -> float:
    """Daly's expected wall time T_w = M e^(R/M) (e^((tau+C)/M) - 1) Ts / tau.

    Exponential failures strike work, checkpoint and restart alike; each failure
    loses everything since the last completed checkpoint and costs a restart R
    that may itself fail. Ts/tau segments each end in a checkpoint.
    """
    m = mtbf_s
    return m * math.exp(restart_s / m) * math.expm1((interval_s + write_s) / m) * work_s / interval_s


def expected_time_to_complete(duration_s: float, mtbf_s: float, restart_s: float = 0.0) -> float:
    """Expected wall time to finish `duration_s` of uninterruptible work under
    exponential failures, each failure followed by a restart of `restart_s` that
    may fail too: M e^(R/M) (e^(d/M) - 1). With restart 0 this is the classic
    M (e^(d/M) - 1).
    """
    m = mtbf_s
    return m * math.exp(restart_s / m) * math.expm1(duration_s / m)
