"""Fitting interrupt patterns to uptimes: recovery within the stated CIs, KS ranking, censoring, bad input.

Samples come from the simulator's own samplers (spotsim.interrupts), seeded;
each statistical test states its tolerance.
"""
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, linalg, stats

from spotsim.errors import TraceError
from spotsim.interrupts import Bursty, Poisson, Weibull, build_pattern
from spotsim.pattern_fit import (MIN_BURSTY, PatternFit, _Mmpp, _tick_ks, fit_bursty, fit_patterns, fit_poisson,
                                 fit_weibull, tick_cdf, uptime_cdf)

from .conftest import scenario

STRONG = Bursty(1.0, burst_ratio=20.0, burst_fraction=0.1, burst_mean_s=900.0)


def draw(pattern, n: int, seed: int) -> np.ndarray:
    """The first n uptimes of `pattern`'s sampler with a seeded Generator."""
    return np.fromiter(itertools.islice(pattern.uptimes(np.random.default_rng(seed)), n), float, n)


def bursty_params(p: Bursty) -> dict:
    return {"rate_per_h": p.rate_per_h, "burst_ratio": p.burst_ratio, "burst_fraction": p.burst_fraction,
            "burst_mean_s": p.burst_mean_s}


def mmpp_matrices(params: dict):
    """(Q - Lambda, Lambda, pi, pi at preemptions) of interrupts/bursty.py's MMPP-2, per second."""
    f, ratio, b = params["burst_fraction"], params["burst_ratio"], params["burst_mean_s"]
    calm = params["rate_per_h"] / 3600.0 / (1 - f + f * ratio)
    lam = np.diag([calm, ratio * calm])
    q = np.array([[-f / (b * (1 - f)), f / (b * (1 - f))], [1 / b, -1 / b]])
    pi = np.array([1 - f, f])
    return q - lam, lam, pi, pi @ lam / (pi @ lam).sum()


def mmpp_loglik(params: dict, uptimes, censored) -> float:
    """log pi P(t_1)...P(t_n) 1 + sum log pi_event expm(D0 c) 1, by scipy's expm, step by step."""
    d0, lam, pi, pi_event = mmpp_matrices(params)
    v, total = pi, 0.0
    for t in uptimes:
        v = v @ linalg.expm(d0 * t) @ lam
        total += math.log(v.sum())
        v = v / v.sum()
    return total + sum(math.log(pi_event @ linalg.expm(d0 * c) @ np.ones(2)) for c in censored)


# Recovery: the true value lies within the stated 95% CI.

def test_poisson_ci_covers_the_true_rate_95_percent_of_the_time():
    """Exact chi-square CI: over 200 seeds (n = 100) coverage in [0.91, 0.99] (95% ± ~2.7 binomial SDs)."""
    hits = [lo <= 2.0 <= hi for lo, hi in (fit_poisson(draw(Poisson(2.0), 100, s)).ci95["rate_per_h"]
                                          for s in range(200))]
    assert 0.91 <= np.mean(hits) <= 0.99


def test_weibull_profile_cis_cover_shape_and_rate():
    """Profile-likelihood CIs for k = 0.5: over 100 seeds (n = 150) each coverage in [0.89, 1.0]."""
    truth = {"rate_per_h": 2.0, "weibull_shape": 0.5}
    fits = [fit_weibull(draw(Weibull(2.0, 0.5), 150, s)) for s in range(100)]
    for key, value in truth.items():
        coverage = np.mean([f.ci95[key][0] <= value <= f.ci95[key][1] for f in fits])
        assert 0.89 <= coverage <= 1.0, key
    assert np.median([f.params["weibull_shape"] for f in fits]) == pytest.approx(0.5, rel=0.05)


@pytest.mark.parametrize("pattern", [STRONG, Bursty(3.0)], ids=["ratio20-f0.1", "defaults"])
def test_bursty_recovers_its_parameters(pattern):
    """MMPP-2 ML on 2,000 uptimes, 5 seeds: >= 18 of the 20 (param, seed) Wald CIs hold the truth,
    and every estimate is within 25% of it (bursty fits cost ~0.1 s, so few seeds)."""
    truth = bursty_params(pattern)
    inside = 0
    for seed in range(5):
        fit = fit_bursty(draw(pattern, 2000, seed))
        for key, value in truth.items():
            lo, hi = fit.ci95[key]
            inside += lo <= value <= hi
            assert lo < fit.params[key] < hi
            assert fit.params[key] == pytest.approx(value, rel=0.25), key
    assert inside >= 18


def test_bursty_log_likelihood_is_the_mmpp_sequence_likelihood():
    """At the fitted params, log_likelihood equals the step-by-step expm likelihood (to 1e-8 relative)."""
    u = draw(STRONG, 300, 7)
    censored = [500.0, 4000.0]
    fit = fit_bursty(u, censored)
    assert fit.log_likelihood == pytest.approx(mmpp_loglik(fit.params, u, censored), rel=1e-8)


# Goodness of fit: the KS ranking prefers the true pattern.

@pytest.mark.parametrize("seed", range(3))
def test_heavy_tailed_weibull_ranks_weibull_first(seed):
    """Weibull k = 0.5 (n = 1,000): weibull has the smallest KS, poisson's is larger by > 0.1."""
    fits = fit_patterns(draw(Weibull(2.0, 0.5), 1000, seed))
    ks = {f.pattern: f.ks for f in fits}
    assert fits[0].pattern == "weibull"
    assert ks["poisson"] > ks["weibull"] + 0.1


@pytest.mark.parametrize("seed", range(3))
def test_poisson_samples_fit_poisson_about_as_well_as_the_richer_patterns(seed):
    """Poisson (n = 1,000): weibull and bursty nest poisson, so they may edge it; poisson's KS is within
    0.02 of the best (about the KS's sampling SD at this n) and weibull's shape CI holds 1."""
    fits = fit_patterns(draw(Poisson(2.0), 1000, seed))
    by = {f.pattern: f for f in fits}
    assert by["poisson"].ks <= fits[0].ks + 0.02
    lo, hi = by["weibull"].ci95["weibull_shape"]
    assert lo <= 1.0 <= hi


@pytest.mark.parametrize("seed", range(2))
def test_strongly_bursty_samples_rank_poisson_last(seed):
    """Bursty ratio 20, f 0.1 (n = 2,000): bursty or weibull first, poisson last, and the likelihood
    ratio bursty/poisson passes chi2(3) at 0.999 (2 dlogL > 16.3)."""
    fits = fit_patterns(draw(STRONG, 2000, seed))
    by = {f.pattern: f for f in fits}
    assert fits[0].pattern in ("bursty", "weibull")
    assert fits[-1].pattern == "poisson"
    assert 2 * (by["bursty"].log_likelihood - by["poisson"].log_likelihood) > stats.chi2.ppf(0.999, 3)


def test_fits_are_sorted_by_ks_and_ks_is_scipys():
    """fit_patterns returns all three, smallest KS first; each KS equals scipy's kstest against cdf()."""
    u = draw(Bursty(3.0), 400, 11)
    fits = fit_patterns(u)
    assert sorted(f.pattern for f in fits) == ["bursty", "poisson", "weibull"]
    assert [f.ks for f in fits] == sorted(f.ks for f in fits)
    for f in fits:
        assert f.n == len(u)
        assert f.ks == pytest.approx(stats.kstest(u, f.cdf).statistic, abs=1e-12)


def test_fitted_params_are_a_scenario_interrupts_section():
    """Each fit's params, set as interrupts.* keys, build the pattern with the fitted rate."""
    for fit in fit_patterns(draw(STRONG, 400, 2)):
        sets = [f"interrupts.pattern={fit.pattern}"] + [f"interrupts.{k}={v!r}" for k, v in fit.params.items()]
        pattern = build_pattern(scenario(*sets).interrupts)
        assert pattern.name == fit.pattern
        assert pattern.mean_rate_per_h == pytest.approx(fit.params["rate_per_h"], rel=1e-12)


seconds = st.one_of(st.just(0.0), st.floats(1e-3, 1e7))


@settings(max_examples=30, deadline=None)
@given(st.lists(seconds, min_size=1, max_size=40).filter(lambda u: sum(u) > 0), st.lists(seconds, max_size=4))
def test_every_fit_is_finite_and_inside_its_ci(u, c):
    """Any valid uptimes: every returned fit has finite positive params inside their CIs, a finite
    log-likelihood and a KS in [0, 1]; poisson is always among them."""
    fits = fit_patterns(u, c)
    assert "poisson" in {f.pattern for f in fits}
    for f in fits:
        assert 0.0 <= f.ks <= 1.0 and math.isfinite(f.log_likelihood)
        for key, value in f.params.items():
            lo, hi = f.ci95[key]
            assert 0 < value < math.inf and lo <= value * (1 + 1e-9) and value <= hi * (1 + 1e-9), key


# The CDFs match the samplers.

def test_renewal_cdfs_are_the_samplers_distributions():
    """poisson: exponential with mean 3600/rate; weibull: scipy's weibull_min with the sampler's scale."""
    t = np.array([0.0, 10.0, 600.0, 3600.0, 40_000.0])
    assert np.allclose(uptime_cdf("poisson", {"rate_per_h": 2.0}, t), stats.expon(scale=1800).cdf(t))
    w = Weibull(2.0, 0.6)
    got = uptime_cdf("weibull", {"rate_per_h": 2.0, "weibull_shape": 0.6}, t)
    assert np.allclose(got, stats.weibull_min(0.6, scale=w.scale_s).cdf(t))


def test_bursty_cdf_is_the_stationary_inter_preemption_distribution():
    """bursty cdf = 1 - pi_event expm(D0 t) 1 (to 1e-12), and the sampler's uptimes pass a KS test
    against it (50,000 draws, p > 0.001); with ratio 1 it is exponential."""
    params = bursty_params(STRONG)
    d0, _, _, pi_event = mmpp_matrices(params)
    t = np.array([0.0, 5.0, 300.0, 3600.0, 20_000.0])
    ref = [1 - pi_event @ linalg.expm(d0 * x) @ np.ones(2) for x in t]
    assert np.allclose(uptime_cdf("bursty", params, t), ref, rtol=0, atol=1e-12)
    assert stats.kstest(draw(STRONG, 50_000, 3), lambda x: uptime_cdf("bursty", params, x)).pvalue > 1e-3
    flat = dict(params, burst_ratio=1.0)
    assert np.allclose(uptime_cdf("bursty", flat, t), stats.expon(scale=3600).cdf(t), rtol=0, atol=1e-12)


def test_pattern_fit_cdf_is_uptime_cdf():
    fit = PatternFit("weibull", {"rate_per_h": 1.0, "weibull_shape": 2.0}, {}, 0.0, 0.0, 0)
    assert fit.cdf(3600.0) == uptime_cdf("weibull", fit.params, 3600.0)


# Censoring: exposure counts, preemptions do not.

uptime_lists = st.lists(st.floats(1.0, 1e5), min_size=1, max_size=30)
censored_lists = st.lists(st.floats(0.0, 1e5), max_size=5)


@settings(max_examples=60, deadline=None)
@given(uptime_lists, censored_lists)
def test_poisson_rate_is_events_over_exposure(u, c):
    """rate = 3600 n / (sum uptimes + sum censored), inside its CI; weibull with k held at 1 is the same."""
    fit = fit_poisson(u, c)
    rate = 3600.0 * len(u) / (sum(u) + sum(c))
    assert fit.params["rate_per_h"] == pytest.approx(rate, rel=1e-12)
    lo, hi = fit.ci95["rate_per_h"]
    assert lo < rate < hi
    w = fit_weibull(u, c, shape=1.0)
    assert w.params == pytest.approx({"rate_per_h": rate, "weibull_shape": 1.0}, rel=1e-9)
    assert w.ci95["rate_per_h"] == pytest.approx(fit.ci95["rate_per_h"], rel=1e-9)
    assert w.log_likelihood == pytest.approx(fit.log_likelihood, rel=1e-9, abs=1e-9)


def test_poisson_ci_without_censoring_is_the_exact_pivot():
    """No censoring: 2 rate T ~ chi2(2n), so the CI is [chi2(2n, .025), chi2(2n, .975)] / 2T."""
    u = [100.0, 250.0, 900.0]
    lo, hi = fit_poisson(u).ci95["rate_per_h"]
    assert lo == pytest.approx(3600 * stats.chi2.ppf(0.025, 6) / 2500, rel=1e-12)
    assert hi == pytest.approx(3600 * stats.chi2.ppf(0.975, 6) / 2500, rel=1e-12)


def test_censored_uptimes_move_every_rate_down():
    """Adding VMs still alive at the trace's end (10 censored at 2 h) lowers each pattern's rate."""
    u = draw(STRONG, 300, 4)
    c = [7200.0] * 10
    for fit in (fit_poisson, fit_weibull, fit_bursty):
        assert fit(u, c).params["rate_per_h"] < fit(u).params["rate_per_h"]


def test_weibull_fit_with_censoring_recovers_what_dropping_censored_misses():
    """Weibull k 0.7 uptimes cut by independent exponential censoring (mean 1 h, ~30% censored, n = 500),
    40 seeds: the censored fit's CIs hold the truth in >= 85% (95% less ~3 binomial SDs); ignoring the
    censored VMs overstates the rate: its CI lies above the truth every time."""
    inside, naive_above = {"rate_per_h": 0, "weibull_shape": 0}, 0
    for seed in range(40):
        x = draw(Weibull(2.0, 0.7), 500, seed)
        cut = np.random.default_rng(100 + seed).exponential(3600.0, len(x))
        u, c = x[x <= cut], cut[x > cut]
        fit = fit_weibull(u, c)
        for key, value in {"rate_per_h": 2.0, "weibull_shape": 0.7}.items():
            inside[key] += fit.ci95[key][0] <= value <= fit.ci95[key][1]
        naive_above += fit_weibull(u).ci95["rate_per_h"][0] > 2.0
    assert min(inside.values()) >= 34
    assert naive_above == 40


# Bad input: one clear line.

BAD = [([], (), "no complete uptimes"),
       ([], [10.0, 20.0], "no complete uptimes (2 censored)"),
       ([5.0, -1.0], (), "finite and >= 0"),
       ([5.0, math.nan], (), "finite and >= 0"),
       ([math.inf], (), "finite and >= 0"),
       ([5.0], [-3.0], "censored uptimes must be finite"),
       (["soon"], (), "numbers of seconds")]


@pytest.mark.parametrize("fit", [fit_patterns, fit_poisson, fit_weibull, fit_bursty],
                         ids=["patterns", "poisson", "weibull", "bursty"])
@pytest.mark.parametrize("uptimes, censored, words", BAD, ids=["empty", "all-censored", "negative", "nan",
                                                               "inf", "negative-censored", "text"])
def test_bad_input_is_one_clear_line(fit, uptimes, censored, words):
    with pytest.raises(TraceError) as err:
        fit(uptimes, censored)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_too_few_uptimes_say_how_many_are_needed():
    """weibull needs 2 distinct positive uptimes, bursty 20; fit_patterns leaves out what it cannot fit."""
    with pytest.raises(TraceError, match="at least 2 complete uptimes; got 1"):
        fit_weibull([60.0])
    with pytest.raises(TraceError, match="differ"):
        fit_weibull([60.0, 60.0])
    with pytest.raises(TraceError, match="positive uptimes"):
        fit_weibull([0.0, 60.0])
    with pytest.raises(TraceError, match=f"at least {MIN_BURSTY} complete uptimes; got 5"):
        fit_bursty([60.0, 70.0, 80.0, 90.0, 100.0])
    with pytest.raises(TraceError, match="all 2 uptimes are 0 s"):
        fit_patterns([0.0, 0.0])
    assert sorted(f.pattern for f in fit_patterns([60.0, 70.0, 200.0])) == ["poisson", "weibull"]
    assert [f.pattern for f in fit_patterns([60.0])] == ["poisson"]


# Tick traces: the observation model, the discrete KS and the tick-aware fits.

TICK = 195.0
HEAVY = Weibull(1.0, 0.5)  # mean uptime 1 h: a third of uptimes under 2 ticks
BURSTS = Bursty(1.0, burst_ratio=20.0, burst_fraction=0.1, burst_mean_s=900.0)
PARAMS = {"poisson": {"rate_per_h": 1.0}, "weibull": {"rate_per_h": 1.0, "weibull_shape": 0.5},
          "bursty": bursty_params(BURSTS)}
SAMPLERS = {"poisson": Poisson(1.0), "weibull": HEAVY, "bursty": BURSTS}


def observe(true_s, tick_s: float, seed: int) -> np.ndarray:
    """What a tick trace records of true uptimes: floor((T + s) / g) live samples, s ~ U[0, g) (a uniform
    phase), times g; uptimes no sample sees (0 ticks) are never recorded."""
    s = np.random.default_rng(10_000 + seed).uniform(0.0, tick_s, len(true_s))
    k = np.floor((np.asarray(true_s) + s) / tick_s)
    return k[k >= 1] * tick_s


def brute_ks(k_obs, cdf) -> float:
    """KS over every whole tick 0 .. max + 1 (the sup of two step functions on the integers)."""
    grid = np.arange(0, int(max(k_obs)) + 2)
    emp = np.searchsorted(np.sort(k_obs), grid, side="right") / len(k_obs)
    return float(np.max(np.abs(emp - cdf(grid))))


@pytest.mark.parametrize("pattern", ["poisson", "weibull", "bursty"])
def test_tick_cdf_is_the_law_of_simulated_tick_observations(pattern):
    """20,000 sampler uptimes seen through a 195 s tick at uniform phases: the share seen by no tick is
    1 - J_0/g (within 4 binomial SDs), and the seen ones' ECDF of whole ticks is within 0.015 of tick_cdf
    at every tick (DKW: P(sup > 0.015) < 0.002 at n >= 15,000)."""
    true_s = draw(SAMPLERS[pattern], 20_000, 5)
    seen = observe(true_s, TICK, 5) / TICK
    unseen = 1.0 - tick_survival_j0(pattern) / TICK
    assert abs((1 - len(seen) / 20_000) - unseen) < 4 * math.sqrt(unseen * (1 - unseen) / 20_000)
    grid = np.arange(1, seen.max() + 1)
    emp = np.searchsorted(np.sort(seen), grid, side="right") / len(seen)
    assert np.max(np.abs(emp - tick_cdf(pattern, PARAMS[pattern], grid, TICK))) < 0.015


def tick_survival_j0(pattern) -> float:
    """J_0 = integral over the first tick of the survival, by quadrature of 1 - uptime_cdf."""
    return integrate.quad(lambda t: 1.0 - uptime_cdf(pattern, PARAMS[pattern], t), 0.0, TICK)[0]


@pytest.mark.parametrize("pattern", ["poisson", "weibull", "bursty"])
def test_tick_cdf_is_the_averaged_cdf(pattern):
    """tick_cdf(k) = 1 - J_k/J_0, J_k the survival's integral over tick k (quadrature, 1e-9); poisson's is
    geometric, 1 - exp(-k g / mean); below 1 tick it is 0."""
    params = PARAMS[pattern]
    ks = np.array([1, 2, 5, 20, 60])
    j = [integrate.quad(lambda t: 1.0 - uptime_cdf(pattern, params, t), k * TICK, (k + 1) * TICK,
                        epsabs=0, epsrel=1e-11)[0] for k in ks]
    expected = 1.0 - np.array(j) / tick_survival_j0(pattern)
    assert np.allclose(tick_cdf(pattern, params, ks, TICK), expected, rtol=0, atol=1e-9)
    assert tick_cdf(pattern, params, [0, 0.5], TICK).tolist() == [0.0, 0.0]
    assert np.allclose(tick_cdf("poisson", params if pattern == "poisson" else {"rate_per_h": 1.0}, ks, TICK),
                       -np.expm1(-ks * TICK / 3600.0), rtol=1e-13)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 60), min_size=1, max_size=50), st.sampled_from(["poisson", "weibull", "bursty"]),
       st.sampled_from([60.0, 195.0, 600.0]))
def test_tick_ks_is_the_sup_over_all_whole_ticks(k_obs, pattern, tick_s):
    """The discrete KS equals the sup of |ECDF - tick_cdf| over all whole ticks, not only the observed ones
    (a gap in the data where the law puts mass counts)."""
    law = lambda k: tick_cdf(pattern, PARAMS[pattern], k, tick_s)
    assert _tick_ks(pattern, PARAMS[pattern], np.array(k_obs, float), tick_s) == pytest.approx(
        brute_ks(k_obs, law), abs=1e-12)


@pytest.mark.parametrize("truth, seed", [("weibull", 0), ("bursty", 0), ("bursty", 1)])
def test_tick_aware_ks_ranks_the_true_pattern_first(truth, seed):
    """1,000 uptimes (mean 1 h) seen through 195 s ticks: the true pattern has the smallest tick-aware KS,
    and its KS is below 1.36/sqrt(n), the continuous 95% bound (conservative for a discrete law: its KS
    is stochastically smaller); on seed 0 the KS in seconds ranks it below another pattern."""
    u = observe(draw(SAMPLERS[truth], 1000, seed), TICK, seed)
    fits = fit_patterns(u, tick_s=TICK)
    assert fits[0].pattern == truth
    assert fits[0].ks < 1.36 / math.sqrt(len(u))
    if seed == 0:
        assert fit_patterns(u)[0].pattern != truth


@pytest.mark.parametrize("seed", range(1))
def test_tick_rounded_poisson_fits_poisson_about_as_well_as_the_richer_patterns(seed):
    """Poisson (1,000 uptimes, 195 s ticks): weibull and bursty nest poisson and may edge it; poisson's
    tick-aware KS is within 0.02 of the best and below 1.36/sqrt(n)."""
    u = observe(draw(Poisson(1.0), 1000, seed), TICK, seed)
    fits = fit_patterns(u, tick_s=TICK)
    by = {f.pattern: f for f in fits}
    assert by["poisson"].ks <= fits[0].ks + 0.02
    assert by["poisson"].ks < 1.36 / math.sqrt(len(u))


def test_tick_aware_poisson_ci_covers_where_the_fit_in_seconds_is_biased():
    """Rate 4/h seen through 600 s ticks (n = 200, 60 seeds): the tick-aware exact CI holds 4 in
    [0.88, 1.0] of seeds (95% less ~3 binomial SDs); the fit in seconds, which reads each uptime as whole
    ticks, lies below 4 with its whole CI every time (it estimates (1 - e^(-rate g)) / g: 2.9/h)."""
    hits = below = 0
    for seed in range(60):
        u = observe(draw(Poisson(4.0), 200, seed), 600.0, seed)
        lo, hi = fit_poisson(u, tick_s=600.0).ci95["rate_per_h"]
        hits += lo <= 4.0 <= hi
        below += fit_poisson(u).ci95["rate_per_h"][1] < 4.0
    assert 0.88 <= hits / 60 <= 1.0
    assert below == 60


def test_tick_aware_weibull_cis_cover_where_the_fit_in_seconds_is_biased():
    """Weibull k = 0.5, mean 1 h, 600 s ticks (n = 200 drawn, ~20% unseen, a third of the rest 1 tick),
    30 seeds: each tick-aware profile CI holds its true value in >= 25 seeds (95% less ~3 binomial SDs;
    the rate's profile interval covers ~92% at this n, as the fit in seconds does on exact uptimes);
    the fit in seconds puts the shape's CI above 0.5 (k ~ 0.8: the ticks hide the short uptimes) every time."""
    inside, biased = {"rate_per_h": 0, "weibull_shape": 0}, 0
    for seed in range(30):
        u = observe(draw(HEAVY, 200, seed), 600.0, seed)
        fit = fit_weibull(u, tick_s=600.0)
        for key, value in PARAMS["weibull"].items():
            inside[key] += fit.ci95[key][0] <= value <= fit.ci95[key][1]
        biased += fit_weibull(u).ci95["weibull_shape"][0] > 0.5
    assert min(inside.values()) >= 25, inside
    assert biased == 30


def test_tick_aware_bursty_recovers_its_parameters():
    """MMPP-2 tick likelihood on 2,000 uptimes seen through 195 s ticks (one seed: a fit costs ~1 s): >= 3 of
    the 4 Wald CIs hold the truth and every estimate is within 25% of it; the fit in seconds halves the
    burst ratio."""
    truth, inside = PARAMS["bursty"], 0
    u = observe(draw(BURSTS, 2000, 0), TICK, 0)
    fit = fit_bursty(u, tick_s=TICK)
    for key, value in truth.items():
        inside += fit.ci95[key][0] <= value <= fit.ci95[key][1]
        assert fit.params[key] == pytest.approx(value, rel=0.25), key
    assert inside >= 3
    assert fit_bursty(u).params["burst_ratio"] < 0.7 * truth["burst_ratio"]


def mmpp_tick_matrices(params: dict, tick_s: float, k_max: int):
    """D_k = integral P(N = k | T = t) expm(D0 t) Lambda dt for k = 0 .. k_max: the tent weights integrated
    by 40-point Gauss-Legendre over each tick (smooth there: exact to rounding), scipy's expm."""
    d0, lam, _, _ = mmpp_matrices(params)
    x, w = np.polynomial.legendre.leggauss(40)
    t01, w01 = (x + 1) / 2 * tick_s, w / 2 * tick_s  # nodes over one tick

    def piece(start, weight):
        return sum(wi * weight(t) * linalg.expm(d0 * (start + t)) for t, wi in zip(t01, w01))

    out = [piece(0.0, lambda t: 1 - t / tick_s) @ lam]
    for k in range(1, k_max + 1):
        rise, fall = piece((k - 1) * tick_s, lambda t: t / tick_s), piece(k * tick_s, lambda t: 1 - t / tick_s)
        out.append((rise + fall) @ lam)
    return out


def test_bursty_tick_likelihood_sums_out_unseen_uptimes():
    """The MMPP tick log-likelihood of a sequence is log pi (I - D_0)^-1 D_k1 (I - D_0)^-1 D_k2 ... 1 with
    D_k by quadrature (1e-9 relative); one uptime's law sums to 1 over k; with burst_ratio 1 it is
    poisson's geometric tick likelihood."""
    params = PARAMS["bursty"]
    m = _Mmpp.from_params(params)
    d = mmpp_tick_matrices(params, TICK, 4)
    _, _, pi, _ = mmpp_matrices(params)
    skip = np.linalg.inv(np.eye(2) - d[0])
    seq = [3, 1, 4, 1]
    v = pi
    for k in seq:
        v = v @ skip @ d[k]
    assert m.tick_loglik(np.array(seq, float), np.zeros(0), TICK) == pytest.approx(math.log(v.sum()), rel=1e-9)
    one = [math.exp(m.tick_loglik(np.array([k], float), np.zeros(0), 600.0)) for k in range(1, 400)]
    assert sum(one) == pytest.approx(1.0, abs=1e-9)  # 600 s ticks: the tail past 66 h is below 1e-9
    flat = _Mmpp.from_params(dict(params, burst_ratio=1.0))
    k, c = np.array([1.0, 3.0, 7.0, 2.0, 40.0]), np.array([5.0, 1.0])
    q = math.exp(-TICK / 3600.0)
    geometric = len(k) * math.log1p(-q) + ((k - 1).sum() + (c - 1).sum()) * math.log(q)
    assert flat.tick_loglik(k, c, TICK) == pytest.approx(geometric, rel=1e-10)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 50), min_size=1, max_size=30).filter(lambda k: max(k) > 1),
       st.lists(st.integers(1, 50), max_size=4), st.sampled_from([60.0, 600.0]))
def test_tick_poisson_is_the_geometric_mle_and_weibull_k1_agrees(k, c, tick_s):
    """Tick-aware poisson: p = n / (n + S), S the ticks past each first, rate = -ln(1 - p)/g inside its
    exact CI; weibull with the shape held at 1 finds the same rate (to its optimiser's 1e-5) and
    log-likelihood."""
    u, cens = np.array(k) * tick_s, np.array(c, dtype=float) * tick_s
    fit = fit_poisson(u, cens, tick_s=tick_s)
    extra = sum(x - 1 for x in k) + sum(x - 1 for x in c)
    p = len(k) / (len(k) + extra)
    assert fit.params["rate_per_h"] == pytest.approx(-3600.0 * math.log1p(-p) / tick_s, rel=1e-12)
    lo, hi = fit.ci95["rate_per_h"]
    assert lo < fit.params["rate_per_h"] < hi
    w = fit_weibull(u, cens, shape=1.0, tick_s=tick_s)
    assert w.params["rate_per_h"] == pytest.approx(fit.params["rate_per_h"], rel=1e-5)
    assert w.log_likelihood == pytest.approx(fit.log_likelihood, rel=1e-9, abs=1e-9)


def test_tick_poisson_ci_without_censoring_is_the_negative_binomial_one():
    """n = 3 preemptions, S = 7 further ticks: p in [Beta(.025; 3, 8), Beta(.975; 3, 7)]."""
    lo, hi = fit_poisson(np.array([2, 5, 3]) * 60.0, tick_s=60.0).ci95["rate_per_h"]
    assert lo == pytest.approx(-60 * math.log1p(-stats.beta.ppf(0.025, 3, 8)), rel=1e-12)
    assert hi == pytest.approx(-60 * math.log1p(-stats.beta.ppf(0.975, 3, 7)), rel=1e-12)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 400), min_size=2, max_size=30).filter(lambda k: len(set(k)) > 1),
       st.lists(st.integers(1, 400), max_size=4), st.sampled_from([60.0, 195.0, 600.0]))
def test_every_tick_fit_is_finite_and_inside_its_ci(k, c, tick_s):
    """Any whole-tick uptimes: every tick-aware fit carries the tick, has finite positive params inside
    their CIs, a finite log-likelihood and a KS in [0, 1], the discrete one of its params."""
    for f in fit_patterns(np.array(k) * tick_s, np.array(c, dtype=float) * tick_s, tick_s=tick_s):
        assert f.tick_s == tick_s and 0.0 <= f.ks <= 1.0 and math.isfinite(f.log_likelihood)
        assert f.ks == pytest.approx(brute_ks(k, f.tick_cdf), abs=1e-12)
        for key, value in f.params.items():
            lo, hi = f.ci95[key]
            assert 0 < value < math.inf and lo <= value * (1 + 1e-9) and value <= hi * (1 + 1e-9), key


TICK_BAD = [(dict(tick_s=0.0), "positive number of seconds"),
            (dict(tick_s=math.nan), "positive number of seconds"),
            (dict(uptimes=[120.0, 150.0]), "whole ticks of 60 s"),
            (dict(uptimes=[0.0, 120.0]), "at least 1"),
            (dict(censored=[90.0]), "censored uptimes of a tick trace")]


@pytest.mark.parametrize("fit", [fit_patterns, fit_poisson, fit_weibull, fit_bursty],
                         ids=["patterns", "poisson", "weibull", "bursty"])
@pytest.mark.parametrize("case, words", TICK_BAD, ids=["zero-tick", "nan-tick", "not-whole", "zero-ticks",
                                                        "censored-not-whole"])
def test_tick_bad_input_is_one_clear_line(fit, case, words):
    with pytest.raises(TraceError) as err:
        fit(case.get("uptimes", [60.0, 180.0]), case.get("censored", ()), tick_s=case.get("tick_s", 60.0))
    assert words in str(err.value) and "\n" not in str(err.value)


def test_all_one_tick_uptimes_bound_no_rate():
    """All uptimes 1 tick and none censored longer: any rate above ~1 per tick fits, so refused; one
    censored VM seen 5 ticks bounds it."""
    with pytest.raises(TraceError, match="all 4 uptimes are 1 tick"):
        fit_patterns([600.0] * 4, tick_s=600.0)
    assert fit_poisson([600.0] * 4, [3000.0], tick_s=600.0).params["rate_per_h"] > 0


def test_pattern_fit_without_tick_has_no_tick_cdf():
    fit = fit_poisson([60.0, 120.0])
    assert fit.tick_s is None
    with pytest.raises(TraceError, match="no tick"):
        fit.tick_cdf(1)
