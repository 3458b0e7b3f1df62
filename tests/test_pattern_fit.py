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
from scipy import linalg, stats

from spotsim.errors import TraceError
from spotsim.interrupts import Bursty, Poisson, Weibull, build_pattern
from spotsim.pattern_fit import (MIN_BURSTY, PatternFit, fit_bursty, fit_patterns, fit_poisson, fit_weibull,
                                 uptime_cdf)

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
