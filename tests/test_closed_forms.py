"""The simulator against closed forms: billing, Young/Daly, Daly's expected makespan."""
import math

import numpy as np
import pytest

from spotsim.costs import (billed_seconds, daly_expected_makespan, daly_optimal_interval,
                           expected_time_to_complete, young_interval)
from spotsim.model import simulate

from .conftest import scenario

Z = 3.0  # |simulated mean - closed form| <= 3 standard errors (a 99.7% Monte-Carlo interval)


def daly_scenario(rate, tau, write_s, restart_s, epochs=20, epoch_s=300.0):
    """Daly's setting: Poisson failures, no notice, no emergency save, no wait, interval in seconds."""
    return scenario(f"interrupts.rate_per_h={rate}", "interrupts.pattern=poisson", "vm.notice_s=0",
                    "checkpoint.emergency=false", "checkpoint.strategy=fixed", f"checkpoint.every_s={tau}",
                    f"checkpoint.write_s={write_s}", f"vm.startup_s={restart_s}", "checkpoint.restore_s=0",
                    "job.eval_s=0", f"job.epochs={epochs}", f"job.epoch_s={epoch_s}", "job.step_s=0",
                    "capacity.wait=none")


def makespans(s, n, seed=11):
    return np.array([simulate(s, (seed, i)).makespan_h * 3600.0 for i in range(n)])


def test_billing_rounds_up_to_increment_with_minimum():
    """GCP's rule: per second, one-minute minimum; zero-length lifetimes cost nothing."""
    assert billed_seconds(10, 60, 1) == 60
    assert billed_seconds(61.2, 60, 1) == 62
    assert billed_seconds(120.0, 60, 1) == 120
    assert billed_seconds(0, 60, 1) == 0
    assert billed_seconds(301, 0, 60) == 360
    assert billed_seconds(12.5, 0, 0) == 12.5


def test_daly_optimum_reduces_to_young_for_cheap_checkpoints():
    """For C << M, Daly's interval tends to Young's sqrt(2CM); for C >= 2M it is M."""
    c, m = 1.0, 1e6
    assert daly_optimal_interval(c, m) == pytest.approx(young_interval(c, m), rel=1e-2)
    assert daly_optimal_interval(300.0, 100.0) == 100.0


@pytest.mark.parametrize("rate,tau,write_s,restart_s", [
    (2.0, 600.0, 30.0, 60.0),
    (4.0, 300.0, 10.0, 120.0),
    (1.0, 1500.0, 60.0, 30.0),
])
def test_mean_makespan_matches_daly(rate, tau, write_s, restart_s):
    """Poisson preemptions, no notice, emergency off: mean makespan = Daly's T_w (plus the first start-up)."""
    s = daly_scenario(rate, tau, write_s, restart_s)
    x = makespans(s, 2500)
    m = 3600.0 / rate
    work = s.job.epochs * s.job.epoch_s
    # Every lifetime starts with the start-up R, which preemptions may strike too: the first
    # one costs M e^0 (e^(R/M) - 1), then Ts/tau segments of Daly's expectation each.
    expected = expected_time_to_complete(restart_s, m) + daly_expected_makespan(work, tau, write_s, restart_s, m)
    se = x.std(ddof=1) / math.sqrt(len(x))
    assert abs(x.mean() - expected) <= Z * se, (x.mean(), expected, se)


def test_daly_optimal_interval_beats_half_and_double():
    """Daly's interval gives a lower simulated mean makespan than half and twice as long (common seeds)."""
    rate, write_s, restart_s = 2.0, 30.0, 60.0
    tau = daly_optimal_interval(write_s, 3600.0 / rate)
    opt = makespans(daly_scenario(rate, tau, write_s, restart_s, epochs=30, epoch_s=200.0), 1500)
    for other in (tau / 2, tau * 2):
        x = makespans(daly_scenario(rate, other, write_s, restart_s, epochs=30, epoch_s=200.0), 1500)
        diff = x - opt
        se = diff.std(ddof=1) / math.sqrt(len(diff))
        assert diff.mean() > Z * se, (other, diff.mean(), se)


def test_young_daly_strategy_uses_daly_interval():
    """Strategy young_daly checkpoints every Daly-optimal interval of training."""
    s = scenario("checkpoint.strategy=young_daly", "checkpoint.write_s=20", "interrupts.rate_per_h=0",
                 "interrupts.pattern=none", "job.epochs=50", "job.epoch_s=100", "checkpoint.emergency=false")
    # Rate 0: no preemptions expected, so young_daly never checkpoints.
    assert simulate(s, 0).checkpoints == 0
    s = s.with_values({"interrupts.pattern": "poisson", "interrupts.rate_per_h": 1.0})
    tau = daly_optimal_interval(20.0, 3600.0)
    on_demand = scenario("checkpoint.strategy=young_daly", "checkpoint.write_s=20", "interrupts.rate_per_h=1",
                         "job.epochs=50", "job.epoch_s=100", "interrupts.pattern=poisson")
    from spotsim.model import ondemand_baseline
    makespan, _ = ondemand_baseline(on_demand, 0)
    expected_ckpts = math.floor(50 * 100 / tau)
    overhead = makespan - on_demand.vm.startup_s - 50 * (100 + on_demand.job.eval_s)
    assert overhead == pytest.approx(expected_ckpts * 20.0)


@pytest.mark.parametrize("rate", [5.0, 40.0])
def test_save_and_exit_billing_matches_the_renewal_closed_form(rate):
    """save_and_exit bills each training notice's save only and a set-up notice nothing of its window:
    the mean simulated billed time matches renewal_expected_billed(save_s) within 3 standard errors,
    and is below the makespan's expectation by about the windows' idle time."""
    from spotsim.costs import renewal_expected_billed, renewal_expected_makespan
    s = scenario("job.epochs=20", "job.epoch_s=30", "job.eval_s=0", "job.step_s=0", "checkpoint.strategy=none",
                 "checkpoint.write_s=5", "checkpoint.restore_s=10", "vm.startup_s=60", "vm.notice_s=30",
                 "billing.minimum_s=0", "billing.increment_s=0", "interrupts.pattern=poisson",
                 f"interrupts.rate_per_h={rate}", "checkpoint.on_notice=save_and_exit")
    billed = np.array([simulate(s, (5, i)).billed_h * 3600.0 for i in range(600)])
    args = dict(work_s=600.0, startup_s=60.0, restore_s=10.0, notice_s=30.0, rate_per_h=rate)
    expected = renewal_expected_billed(save_s=5.0, **args)
    se = billed.std(ddof=1) / math.sqrt(len(billed))
    assert abs(billed.mean() - expected) <= Z * se, (billed.mean(), expected, se)
    assert expected < renewal_expected_makespan(**args)
