"""The break-even finder and the renewal closed form it is checked against."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotsim import breakeven as be
from spotsim.config import load_scenario
from spotsim.costs import renewal_breakeven_rate, renewal_expected_cost, renewal_expected_makespan
from spotsim.model import simulate
from spotsim.results import mean_ci

RATES = np.geomspace(0.5, 64.0, 15)

# The renewal case: strategy none, emergency saves that always fit (5 s in a 30 s
# window), Poisson preemptions, no capacity wait, continuous billing.
RENEWAL = ["job.epochs=20", "job.epoch_s=30", "job.eval_s=0", "job.step_s=0", "checkpoint.strategy=none",
           "checkpoint.every_epochs=null", "checkpoint.write_s=5", "checkpoint.restore_s=10", "vm.startup_s=60",
           "vm.notice_s=30", "billing.minimum_s=0", "billing.increment_s=0", "prices.spot_per_h=0.3",
           "prices.ondemand_per_h=1.0", "interrupts.pattern=poisson"]
RENEWAL_ARGS = dict(work_s=600.0, startup_s=60.0, restore_s=10.0, notice_s=30.0)


def _curve(root, slope, noise, n, seed):
    """Samples of a monotone curve slope*log(r/root) plus Gaussian noise, per rate."""
    rng = np.random.default_rng(seed)
    return [slope * math.log(r / root) + rng.normal(0.0, noise, n) for r in RATES]


def _find(samples):
    bands = [be.band(s) for s in samples]
    return be.find_breakeven(RATES, *zip(*bands))


@pytest.mark.parametrize("root", [0.8, 3.0, 17.0, 50.0])
def test_recovers_known_root_of_noisy_curve(root):
    """The finder lands near the known root of a noisy monotone curve, inside its CI."""
    c = _find(_curve(root, slope=1.0, noise=0.5, n=200, seed=int(root * 10)))
    assert c.status == be.FOUND
    assert c.ci_low <= root <= c.ci_high
    assert abs(math.log(c.rate / root)) < 0.15


def test_ci_covers_root_in_most_replicate_curves():
    """Across 200 independent noisy curves the 95% CI covers the true root at least ~85% of the time."""
    roots = np.random.default_rng(1).uniform(math.log(1.0), math.log(40.0), 200)
    covered = 0
    for i, lr in enumerate(roots):
        root = math.exp(lr)
        c = _find(_curve(root, slope=0.8, noise=1.0, n=50, seed=1000 + i))
        covered += c.status == be.FOUND and c.ci_low <= root <= c.ci_high
    assert covered >= 170


@given(root=st.floats(0.6, 60.0), slope=st.floats(0.2, 5.0))
@settings(max_examples=60, deadline=None)
def test_noise_free_monotone_curve_root_is_exact_between_grid_points(root, slope):
    """Without noise and with a curve linear in log(rate), interpolation finds the root exactly."""
    m = np.array([slope * math.log(r / root) for r in RATES])
    c = be.find_breakeven(RATES, m, m, m)
    if m[0] >= 0:
        assert c.status == be.BELOW
    else:
        assert c.status == be.FOUND and c.rate == pytest.approx(root, rel=1e-9)


def test_reports_above_range_with_highest_rate_as_bound():
    """A curve that never reaches zero is above_range, with the highest rate as lower bound."""
    c = _find(_curve(1000.0, slope=1.0, noise=0.3, n=50, seed=2))
    assert c.status == be.ABOVE
    assert c.ci_low == RATES[-1] and math.isnan(c.rate) and math.isnan(c.ci_high)
    assert be.needs_more(c)


def test_reports_below_range_with_lowest_rate_as_bound():
    """A curve already above zero at the lowest rate is below_range, bounded by that rate."""
    c = _find(_curve(0.01, slope=1.0, noise=0.3, n=50, seed=3))
    assert c.status == be.BELOW
    assert c.ci_high == RATES[0] and math.isnan(c.rate) and math.isnan(c.ci_low)
    assert not be.needs_more(c)


def test_unknown_mean_ends_the_curve():
    """A NaN mean (abandoned runs) ends the curve: no crossing past it is reported."""
    m = np.array([-2.0, -1.0, np.nan, 1.0])
    c = be.find_breakeven([1, 2, 4, 8], m, m, m)
    assert c.status == be.ABOVE and c.ci_low == 2


def test_band_is_nan_with_any_nan_sample():
    """band() refuses to average over an abandoned (NaN) run."""
    assert all(math.isnan(x) for x in be.band([1.0, math.nan, 2.0]))


def test_next_rate_doubles_up_to_the_cap():
    """Bracket expansion doubles the rate, clamps to the cap, then stops."""
    rates = [64.0]
    while (r := be.next_rate(rates[-1])) is not None:
        rates.append(r)
    assert rates == [64.0, 128.0, 256.0, 512.0, 1024.0]
    assert be.next_rate(600.0) == be.EXPANSION_CAP_PER_H >= 1000.0


def test_renewal_closed_form_tends_to_ondemand_without_preemptions():
    """As the rate goes to 0 the renewal makespan tends to start-up + work."""
    assert renewal_expected_makespan(rate_per_h=1e-9, **RENEWAL_ARGS) == pytest.approx(660.0, rel=1e-6)
    assert renewal_expected_makespan(rate_per_h=0.0, **RENEWAL_ARGS) == 660.0


def test_renewal_breakeven_solves_the_closed_form():
    """The closed-form break-even rate makes expected Spot cost equal on-demand cost."""
    r = renewal_breakeven_rate(spot_per_h=0.3, ondemand_per_h=1.0, **RENEWAL_ARGS)
    assert renewal_expected_cost(rate_per_h=r, spot_per_h=0.3, **RENEWAL_ARGS) == pytest.approx(660 / 3600, rel=1e-9)
    assert renewal_breakeven_rate(spot_per_h=2.0, ondemand_per_h=1.0, **RENEWAL_ARGS) == 0.0


@pytest.mark.parametrize("rate", [5.0, 30.0, 80.0])
def test_simulated_cost_agrees_with_renewal_closed_form(rate):
    """Mean simulated Spot cost and makespan match the renewal expectation (within 3 standard errors)."""
    s = load_scenario([], RENEWAL + [f"interrupts.rate_per_h={rate}"])
    runs = [simulate(s, (7, i)) for i in range(400)]
    assert all(r.finished for r in runs)
    for values, expected in (([r.cost_usd for r in runs], renewal_expected_cost(rate_per_h=rate, spot_per_h=0.3,
                                                                                 **RENEWAL_ARGS)),
                             ([r.makespan_h * 3600 for r in runs], renewal_expected_makespan(rate_per_h=rate,
                                                                                            **RENEWAL_ARGS))):
        x = np.asarray(values)
        se = x.std(ddof=1) / math.sqrt(len(x))
        assert abs(x.mean() - expected) <= 3 * se + 1e-12, (x.mean(), expected, se)
        lo, hi = mean_ci(x)["ci95"]
        assert lo - 2 * se <= expected <= hi + 2 * se
