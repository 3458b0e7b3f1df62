"""The break-even finder (interpolation, honest CIs, refinement) and the renewal closed form it is checked against."""
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
    """Without noise and with a curve linear in log(rate), interpolation finds the root exactly, and
    the CI is the bracket of simulated rates around it (at least 1% each side of the point), never a point."""
    m = np.array([slope * math.log(r / root) for r in RATES])
    c = be.find_breakeven(RATES, m, m, m)
    if m[0] >= 0:
        assert c.status == be.BELOW
    else:
        assert c.status == be.FOUND and c.rate == pytest.approx(root, rel=1e-9)
        i = list(RATES).index(c.bracket_high)
        assert (c.bracket_low, c.bracket_high) == (RATES[i - 1], RATES[i])
        assert c.ci_low == pytest.approx(min(c.bracket_low, c.rate / math.exp(be.REFINE_FLOOR)), rel=1e-12)
        assert c.ci_high == pytest.approx(max(c.bracket_high, c.rate * math.exp(be.REFINE_FLOOR)), rel=1e-12)


def test_deterministic_step_curve_ci_is_the_bracket():
    """A deterministic curve that jumps across zero (a zero-width band) gets the bracket as its CI:
    between two simulated rates nothing is known."""
    m = np.array([-3.0, -2.0, -1.9, 5.0, 6.0])
    rates = [1.0, 2.0, 4.0, 8.0, 16.0]
    c = be.find_breakeven(rates, m, m, m)
    assert c.status == be.FOUND and (c.ci_low, c.ci_high) == (4.0, 8.0) and 4.0 < c.rate < 8.0


def test_ci_holds_the_bracket_and_the_band_crossings():
    """The CI runs from the upper band edge's crossing to the lower edge's, widened to hold the bracket."""
    rates = [1.0, 2.0, 4.0, 8.0]
    mean = np.array([-4.0, -1.0, 1.0, 4.0])
    wide = be.find_breakeven(rates, mean, mean - 3.5, mean + 3.5)  # the band crosses one gap away on each side
    assert wide.ci_low == pytest.approx(1.0 * 2 ** (0.5 / 3.0)) and wide.ci_high == pytest.approx(4.0 * 2 ** (2.5 / 3.0))
    narrow = be.find_breakeven(rates, mean, mean - 0.1, mean + 0.1)  # the band is narrower than the bracket
    assert (narrow.ci_low, narrow.ci_high) == (2.0, 4.0) and narrow.rate == pytest.approx(2.0 * math.sqrt(2.0))


# -- refinement: the answer must not depend on the grid --------------------------------
def _renewal_excess(args, spot, od):
    """The renewal expectation's cost excess (Spot - on-demand, $) as a function of the rate."""
    target = (args["startup_s"] + args["work_s"]) / 3600.0 * od

    def excess(rate):
        return renewal_expected_makespan(rate_per_h=rate, **args) / 3600.0 * spot - target
    return excess


def _refined(excess, grid, half_width, steps=be.REFINE_MAX_STEPS):
    """Run the finder's refinement loop on a noise-free curve with a band of fixed half-width.

    Returns the final crossing, the rates simulated and the rounds used (None: not converged)."""
    rates = sorted(grid)
    for step in range(steps + 1):
        mean = np.array([excess(r) for r in rates])
        new = be.refinement_rates(rates, mean, mean - half_width, mean + half_width)
        if not new:
            return be.find_breakeven(rates, mean, mean - half_width, mean + half_width), rates, step
        assert all(r not in rates for r in new)
        rates = sorted(rates + new)
    return be.find_breakeven(rates, mean, mean - half_width, mean + half_width), rates, None


CURVED = [  # (renewal args, spot $/h, on-demand $/h): start-up long against the interval, so excess is convex
    (dict(work_s=600.0, startup_s=300.0, restore_s=60.0, notice_s=30.0), 0.3, 1.0),
    (dict(work_s=1800.0, startup_s=180.0, restore_s=120.0, notice_s=30.0), 18.98, 82.53),  # H100-like
    (dict(work_s=4000.0, startup_s=90.0, restore_s=5.0, notice_s=30.0), 0.223, 0.56),  # L4-like
]


@pytest.mark.parametrize("args, spot, od", CURVED)
@pytest.mark.parametrize("grid", ["0.25:64:log6", "0.25:64:log20"])
def test_refinement_puts_the_closed_form_root_inside_the_ci_at_any_grid(args, spot, od, grid):
    """On a convex curve (where a chord across a grid gap lands 2-30% below the root) refinement
    converges within its round limit, and the CI (band half-width 0.5% of on-demand) holds the root."""
    from spotsim.sweep import parse_rates
    excess = _renewal_excess(args, spot, od)
    exact = renewal_breakeven_rate(spot_per_h=spot, ondemand_per_h=od, **args)
    half = 0.005 * (args["startup_s"] + args["work_s"]) / 3600.0 * od
    c, rates, rounds = _refined(excess, parse_rates(grid), half)
    assert rounds is not None, "refinement did not converge"
    assert c.status == be.FOUND and c.ci_low <= exact <= c.ci_high, (c, exact)
    assert c.ci_low <= c.rate <= c.ci_high
    assert math.log(c.bracket_high / c.bracket_low) <= max(math.log(c.ci_high / c.ci_low), 2 * be.REFINE_FLOOR)
    grid_only = be.find_breakeven(parse_rates(grid), *(np.array([excess(r) for r in parse_rates(grid)]) + d
                                                       for d in (0.0, -half, half)))
    assert abs(math.log(c.rate / exact)) < abs(math.log(grid_only.rate / exact)) + 1e-12


@given(startup=st.floats(30.0, 600.0), restore=st.floats(0.0, 300.0), work=st.floats(300.0, 20000.0),
       ratio=st.floats(1.5, 8.0), rel=st.floats(0.0, 0.02), points=st.integers(3, 25))
@settings(max_examples=60, deadline=None)
def test_refined_root_does_not_depend_on_the_grid(startup, restore, work, ratio, rel, points):
    """For any renewal curve and any log grid over 0.25-64/h, the refined CI holds the closed-form
    root, and a deterministic curve (rel 0) gets a CI of a few percent at most (bracket and 1% floor)."""
    args = dict(work_s=work, startup_s=startup, restore_s=restore, notice_s=30.0)
    exact = renewal_breakeven_rate(spot_per_h=1.0, ondemand_per_h=ratio, **args)
    excess = _renewal_excess(args, 1.0, ratio)
    c, _, rounds = _refined(excess, np.geomspace(0.25, 64.0, points), rel * (startup + work) / 3600.0 * ratio)
    if not 0.25 < exact <= 64.0:
        return  # outside the grid: bracket expansion's job (tests/test_sweep.py)
    assert rounds is not None and c.status == be.FOUND
    if math.isnan(c.ci_high):  # the band's lower edge stays below zero up to 64/h: expansion's job
        assert rounds == 0 and c.ci_low <= exact
        return
    assert c.ci_low <= exact <= c.ci_high, (c, exact)
    if rel == 0.0:
        assert c.ci_low < c.ci_high <= c.ci_low * math.exp(3 * be.REFINE_FLOOR) * (1 + 1e-12)


def test_refinement_proposes_rates_only_inside_gaps_that_hold_a_crossing():
    """New rates fall strictly inside the gaps where the mean or a band edge crosses zero; none once
    those gaps are narrower than the CI, and none while the CI is open above."""
    rates = [1.0, 2.0, 4.0, 8.0, 16.0]
    mean = np.array([-4.0, -3.0, -1.0, 2.0, 5.0])
    new = be.refinement_rates(rates, mean, mean - 0.5, mean + 0.5)
    assert new and all(4.0 < r < 8.0 for r in new)
    assert be.refinement_rates(rates, mean, mean - 10.0, mean + 0.5) == []  # lower edge never crosses: open CI
    tight = np.linspace(0.99, 1.01, 5)
    line = np.log(tight)
    assert be.refinement_rates(tight, line, line - 1.0, line + 1.0) == []  # wide CI, narrow gaps


def test_refined_ci_covers_the_root_of_noisy_convex_curves():
    """With noise (paired across rates, as the sweep's common random numbers make it), the refined 95%
    CI covers the true root of a convex curve in at least 90% of 200 independent curves."""
    rng = np.random.default_rng(5)
    covered = 0
    for _ in range(200):
        root = math.exp(rng.uniform(math.log(2.0), math.log(30.0)))
        shared = rng.normal(0.0, 1.0, 60)  # one draw per replication, reused at every rate

        def samples(r, shared=shared, root=root):
            # convex in log(rate): e^(r/root) - e, zero at the root; noise grows with the level
            return math.exp(r / root) - math.e + (0.5 + 0.2 * r / root) * shared

        rates = list(np.geomspace(0.25, 64.0, 6))
        for _ in range(be.REFINE_MAX_STEPS):
            bands = [be.band(samples(r)) for r in rates]
            new = be.refinement_rates(rates, *zip(*bands))
            if not new:
                break
            rates = sorted(rates + new)
        c = be.find_breakeven(rates, *zip(*[be.band(samples(r)) for r in rates]))
        covered += c.status == be.FOUND and c.ci_low <= root <= c.ci_high
    assert covered >= 180


def test_last_rate_below_the_crossing():
    """Runs stopped early matter below the crossing (where a lower bound could hide it): up to the
    last rate whose mean is below zero; every rate if none crosses; none if the curve starts above."""
    rates = [1.0, 2.0, 4.0, 8.0]
    assert be.last_rate_below(rates, [-3, -1, 2, 4], [-4, -2, 1, 3], [-2, 0, 3, 5]) == 2.0
    assert be.last_rate_below(rates, [-3, -2, -1, -0.5], [-4] * 4, [0] * 4) == 8.0
    assert be.last_rate_below(rates, [1, 2, 3, 4], [0] * 4, [5] * 4) == 0.0


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
                                                                                 save_s=5.0, **RENEWAL_ARGS)),
                             ([r.makespan_h * 3600 for r in runs], renewal_expected_makespan(rate_per_h=rate,
                                                                                            **RENEWAL_ARGS))):
        x = np.asarray(values)
        se = x.std(ddof=1) / math.sqrt(len(x))
        assert abs(x.mean() - expected) <= 3 * se + 1e-12, (x.mean(), expected, se)
        lo, hi = mean_ci(x)["ci95"]
        assert lo - 2 * se <= expected <= hi + 2 * se


@settings(max_examples=300, deadline=None)
@given(q=st.floats(0.5, 0.9999), dof=st.integers(1, 10**6))
def test_t_quantile_is_scipy_stats_t_ppf(q, dof):
    """The CIs' Student t quantile (scipy.special, to keep scipy.stats out of the import) is
    scipy.stats.t.ppf, bit for bit."""
    from scipy import stats

    from spotsim.results import t_quantile
    assert t_quantile(q, dof) == float(stats.t.ppf(q, dof))
