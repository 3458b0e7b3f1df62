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


# -- the renewal expectation of a Spot run (emergency saves that always fit) ---
def renewal_expected_makespan(work_s: float, startup_s: float, restore_s: float, notice_s: float,
                              rate_per_h: float) -> float:
    """Expected makespan of a Spot run under the renewal model (billed seconds: renewal_expected_billed).

    Assumptions, matching the simulator's rules in that case (model.py): Poisson
    preemptions at `rate_per_h` per hour of VM uptime (rate l per second below),
    strategy `none`, emergency saves always delivered and always fitting in the
    notice window, no capacity wait, step_s = 0 and eval_s = 0 (so `work_s` is
    epochs x epoch_s and training in flight is kept to the second), and
    continuous billing (minimum_s = increment_s = 0, nothing free); the next
    lifetime is granted when the window ends, whatever the job did in it.

    Derivation. A lifetime is granted, pays a set-up of length d (start-up S,
    plus restore R once a checkpoint exists), then trains until the job ends or
    the notice arrives; the VM stays on for the notice window N either way the
    notice finds it.

    1. *Set-up phases.* An attempt at a set-up of length d survives with
       probability p = e^(-l d). A failed attempt lasts U + N with U the uptime
       given U < d: E[U | U < d] = 1/l - d p / (1 - p). Failed attempts before
       the first success are geometric with mean (1 - p)/p = e^(l d) - 1. A
       failed set-up leaves nothing new to save, so the next attempt has the
       same d. Expected time to get through a set-up, the successful attempt
       included: (e^(l d) - 1)(1/l - d/(e^(l d) - 1) + N) + d
       = (e^(l d) - 1)(1/l + N).
    2. *Training.* Given a lifetime survived its set-up, its remaining uptime
       is again exponential (memorylessness), and every second trained is kept
       by the emergency save. So the notices that strike during training form
       a Poisson process of rate l on the work axis: their number K over the
       job's `work_s` = W seconds has E[K] = l W.
    3. *Each such notice* costs the window N, then a set-up with restore,
       d = S + R (a checkpoint now exists).

    Summing, E[makespan] = (e^(l S) - 1)(1/l + N) + W
    + l W [N + (e^(l (S+R)) - 1)(1/l + N)], which tends to S + W (the
    on-demand makespan) as l -> 0.
    """
    return _renewal_sum(work_s, startup_s, restore_s, rate_per_h, after_setup_s=notice_s, after_training_s=notice_s)


def _renewal_sum(work_s: float, startup_s: float, restore_s: float, rate_per_h: float,
                 after_setup_s: float, after_training_s: float) -> float:
    """(e^(l S) - 1)(1/l + a) + W + l W [b + (e^(l (S+R)) - 1)(1/l + a)]: the renewal sum
    with `a` seconds counted after a notice in a set-up and `b` after one in training."""
    lam = rate_per_h / 3600.0
    work = float(work_s)
    if lam <= 0:
        return startup_s + work

    def setup(d: float) -> float:
        x = lam * d
        return math.inf if x > 700.0 else math.expm1(x) * (1.0 / lam + after_setup_s)

    return setup(startup_s) + work + lam * work * (after_training_s + setup(startup_s + restore_s))


def renewal_expected_billed(work_s: float, startup_s: float, restore_s: float, notice_s: float,
                            rate_per_h: float, save_s: float | None = None) -> float:
    """Expected billed seconds under the renewal model (see renewal_expected_makespan).

    `save_s` None: the VM is billed until each window ends, so billed time is the
    makespan. `save_s` given (checkpoint.on_notice save_and_exit, the simulator's
    default; the emergency save takes `save_s` seconds): a notice in training
    bills the save, then the VM shuts itself down; a notice in a set-up finds
    nothing to save and bills nothing of its window. That is the makespan with
    each window N replaced by `save_s` after training and by 0 after a set-up:
    (e^(l S) - 1)/l + W + l W [save_s + (e^(l (S+R)) - 1)/l].
    """
    if save_s is None:
        return renewal_expected_makespan(work_s, startup_s, restore_s, notice_s, rate_per_h)
    return _renewal_sum(work_s, startup_s, restore_s, rate_per_h, after_setup_s=0.0, after_training_s=save_s)


def renewal_expected_cost(work_s: float, startup_s: float, restore_s: float, notice_s: float,
                          rate_per_h: float, spot_per_h: float, save_s: float | None = None) -> float:
    """Expected Spot cost ($) under the renewal model: billed time x Spot price.

    See renewal_expected_makespan for the assumptions and the derivation, and
    renewal_expected_billed for `save_s`.
    """
    return renewal_expected_billed(work_s, startup_s, restore_s, notice_s, rate_per_h, save_s) / 3600.0 * spot_per_h


def renewal_breakeven_rate(work_s: float, startup_s: float, restore_s: float, notice_s: float,
                           spot_per_h: float, ondemand_per_h: float, slack: float = 1.0,
                           metric: str = "cost", hi_per_h: float = 1e5, save_s: float | None = None) -> float:
    """The preemption rate (per hour) at which the renewal expectation meets on-demand.

    metric "cost": expected Spot cost = on-demand cost, the on-demand run being
    start-up plus work, billed continuously at `ondemand_per_h` (`save_s`: see
    renewal_expected_billed). metric "time":
    expected Spot makespan = on-demand makespan x `slack`. Both expectations
    increase with the rate, so the root is unique; it is 0 when Spot already
    loses without preemptions and inf when it still wins at `hi_per_h`.
    """
    od_s = startup_s + float(work_s)
    if metric == "cost":
        target = od_s * ondemand_per_h / spot_per_h if spot_per_h > 0 else math.inf
    elif metric == "time":
        target = od_s * slack
    else:
        raise ValueError(f"metric must be 'cost' or 'time', not {metric!r}")

    def excess(rate: float) -> float:
        if metric == "cost":
            return renewal_expected_billed(work_s, startup_s, restore_s, notice_s, rate, save_s) - target
        return renewal_expected_makespan(work_s, startup_s, restore_s, notice_s, rate) - target

    if excess(0.0) >= 0:
        return 0.0
    if excess(hi_per_h) < 0:
        return math.inf
    lo, hi = 0.0, hi_per_h
    for _ in range(200):  # bisection: the function is monotone and cheap
        mid = 0.5 * (lo + hi)
        if excess(mid) < 0:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)
