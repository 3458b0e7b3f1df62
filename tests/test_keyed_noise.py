"""Keyed accuracy noise (accuracy.noise_draws=keyed): each epoch's noise is a function of a key from the
seed and the epoch, standard normal, and the same whether one epoch or all of them are asked for."""
from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from spotsim.accuracy import keyed_normal, keyed_normals
from spotsim.config import load_scenario
from spotsim.epochs import Accuracies
from spotsim.job import Job
from spotsim.model import simulate, simulate_many
from spotsim.rng import RunStreams
from spotsim.strategies import build_strategy

KEYS = st.integers(0, 2**64 - 1)


@settings(max_examples=100, deadline=None)
@given(key=KEYS, n=st.integers(0, 300))
def test_one_epochs_noise_is_the_same_as_all_epochs(key, n):
    assert keyed_normals(key, n).tolist() == [keyed_normal(key, e) for e in range(n)]


def test_keyed_noise_is_standard_normal_along_epochs_and_across_keys():
    """Kolmogorov-Smirnov against N(0, 1) (p > 1e-3: fixed keys, so the test is deterministic; a biased or
    scaled quantile gives p ~ 0), and no correlation between consecutive epochs or keys (|r| < 0.03,
    about 4 standard errors at 20,000 values)."""
    along = keyed_normals(12345, 20_000)
    across = np.array([keyed_normal(key, 7) for key in range(20_000)])
    for z in (along, across):
        assert stats.kstest(z, "norm").pvalue > 1e-3
        assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 0.03
        assert np.isfinite(z).all()


@settings(max_examples=60, deadline=None)
@given(key=KEYS, sd=st.sampled_from([0.004, 0.05, 0.4]), n=st.integers(1, 200),
       curve=st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.floats(0.5, 50.0)))
def test_an_epoch_read_alone_equals_the_array(key, sd, n, curve):
    """Accuracies.at(e) before any array exists equals values()[e] (the mean curve's exp to rounding), and
    both are clipped to [0, 1]."""
    alone = [Accuracies(n, None, curve, keyed=(key, sd)).at(e) for e in range(n)]
    values = Accuracies(n, None, curve, keyed=(key, sd)).values()
    assert np.allclose(alone, values, rtol=0.0, atol=1e-15)
    assert all(0.0 <= a <= 1.0 for a in alone) and ((values >= 0.0) & (values <= 1.0)).all()


def test_keyed_noise_draws_nothing_from_the_job_stream():
    """Epoch times (jitter) come from the job stream as with noise drawn in sequence, so the two settings
    see the same epochs and, where accuracy does not steer the saves, the same run but for its accuracy."""
    base = load_scenario(["scenarios/study/base.yaml"], ["job.epoch_jitter=0.3", "interrupts.rate_per_h=6"])
    keyed = base.with_values({"accuracy.noise_draws": "keyed"})
    strategy = build_strategy(base.checkpoint, 6.0)
    for seed in range(20):
        a, b = Job(base, RunStreams(seed), strategy), Job(keyed, RunStreams(seed), strategy)
        assert a.epoch_times.array.tolist() == b.epoch_times.array.tolist()
        ra, rb = simulate(base, seed), simulate(keyed, seed)
        assert (ra.makespan_h, ra.cost_usd, ra.preemptions) == (rb.makespan_h, rb.cost_usd, rb.preemptions)
        assert ra.final_accuracy != rb.final_accuracy


def test_final_accuracy_has_the_curves_mean_and_the_noises_sd():
    """Over 2,000 seeds the final accuracy of the study job (100 epochs, sd 0.004) has mean a(100) within
    4 standard errors and a standard deviation within 10% of noise_sd."""
    s = load_scenario(["scenarios/study/base.yaml"], ["accuracy.noise_draws=keyed", "interrupts.rate_per_h=1"])
    a = s.accuracy
    finals = np.array([r.final_accuracy for r in simulate_many(s, [(4, i) for i in range(2000)])])
    mean = a.a_max - (a.a_max - a.a_0) * math.exp(-s.job.epochs / a.tau_epochs)
    assert abs(finals.mean() - mean) < 4 * a.noise_sd / math.sqrt(finals.size)
    assert abs(finals.std(ddof=1) / a.noise_sd - 1.0) < 0.10
