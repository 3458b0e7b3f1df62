"""plain_stretch.py settles a plain run's cuts inline; SimPy's run() takes the general path
(ArithmeticStretch, job.commit, notice.stop_at_cut). Every metric must be identical, bit for bit,
and every kind of cut must have been settled inline: in training, in a validation and in a
periodic save, with epoch-end saves and with time-based ones.

The scenarios make validations and saves long against the epochs, so that a good share of cuts
land in them, and vary what the cut's settling reads: the emergency save (fits, does not fit,
none), undelivered notices, the step in flight, the notice window.
"""
from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotsim import plain_stretch
from spotsim.config import load_scenario
from spotsim.model import simulate
from spotsim.plan import EVAL, SAVE, TRAIN

STRATEGIES = {
    "epoch-end": [("fixed", ["checkpoint.every_epochs=2"]), ("milestone", []), ("none", [])],
    "time-based": [("fixed", ["checkpoint.every_epochs=null", "checkpoint.every_s=70"]), ("adaptive", []),
                   ("young_daly", [])],
}
SETTINGS = [  # what a cut's settling reads
    [],
    ["checkpoint.emergency=false"],
    ["checkpoint.emergency_write_s=25"],  # does not fit a 30 s window after the step and a periodic write
    ["vm.notice_reliability=0.5"],
    ["vm.notice_s=0"],
    ["job.step_s=4"],
]


def _fields(r):
    return [(f.name, getattr(r, f.name)) for f in dataclasses.fields(r)]


@pytest.mark.parametrize("plan", sorted(STRATEGIES))
def test_cuts_settled_inline_give_the_general_paths_results(plan, monkeypatch):
    kinds = Counter()
    settle = plain_stretch._settle_cut

    def counted(job, totals, st, now, notice, life, kind, *args):
        kinds[kind] += 1
        return settle(job, totals, st, now, notice, life, kind, *args)

    monkeypatch.setattr(plain_stretch, "_settle_cut", counted)
    for strategy, sets in STRATEGIES[plan]:
        for extra in SETTINGS:
            s = load_scenario([], ["job.epochs=12", "job.epoch_s=40", "job.eval_s=15", "checkpoint.write_s=12",
                                   "vm.startup_s=20", "checkpoint.restore_s=4", "interrupts.pattern=poisson",
                                   "interrupts.rate_per_h=30", f"checkpoint.strategy={strategy}", *sets, *extra])
            assert (plain_stretch.epoch_end_plan(simulate_job(s)) is not None) == (plan == "epoch-end")
            for seed in range(12):
                plain, queued = simulate(s, seed), simulate(s, seed, plain_clock=False)
                assert repr(_fields(plain)) == repr(_fields(queued)), (strategy, extra, seed)
    assert kinds[TRAIN] > 0 and kinds[EVAL] > 0 and kinds[SAVE] > 0, kinds


def simulate_job(s):
    """A fresh job of scenario `s` (what run_plain plans with)."""
    from spotsim.job import Job
    from spotsim.rng import RunStreams
    from spotsim.strategies import build_strategy
    return Job(s, RunStreams(0), build_strategy(s.checkpoint, s.interrupts.rate_per_h))


@pytest.mark.parametrize("walk", [1, 3])
@pytest.mark.parametrize("strategy,sets,name", [
    ("fixed", ["checkpoint.every_epochs=500"], "_first_epoch_after"),
    ("milestone", [], "_first_epoch_after"),
    ("adaptive", [], "_first_time_epoch_after"),
    ("young_daly", [], "_first_time_epoch_after"),
    ("fixed", ["checkpoint.every_epochs=null", "checkpoint.every_s=90"], "_first_time_epoch_after"),
])
def test_a_cut_far_from_the_guess_is_bisected_to_the_walks_epoch(strategy, sets, name, walk, monkeypatch):
    """Tiny epochs against long writes, uneven (every 500 epochs; milestone's, many early and few late) or
    time-based (each one many epochs' time), put the mean-epoch guess many epochs from the cut; after
    WALK_STEPS
    epochs the locate bisects, and finds the epoch the general path's walk finds."""
    calls = []
    bisect = getattr(plain_stretch, name)

    def counted(*args):
        calls.append(args)
        return bisect(*args)

    monkeypatch.setattr(plain_stretch, name, counted)
    monkeypatch.setattr(plain_stretch, "WALK_STEPS", walk)
    s = load_scenario([], ["job.epochs=2000", "job.epoch_s=0.5", "job.eval_s=0.2", "checkpoint.write_s=40",
                           "vm.startup_s=20", "interrupts.pattern=poisson", "interrupts.rate_per_h=12",
                           "accuracy.noise_draws=keyed", f"checkpoint.strategy={strategy}", *sets])
    for seed in range(10):
        plain, queued = simulate(s, seed), simulate(s, seed, plain_clock=False)
        assert repr(_fields(plain)) == repr(_fields(queued)), (strategy, seed)
    assert calls


@settings(max_examples=300, deadline=None)
@given(E=st.floats(1e-4, 50.0), V=st.floats(0.0, 20.0), W=st.floats(0.0, 100.0), e0=st.integers(0, 50),
       span=st.integers(0, 400), into=st.floats(0.0, 1.0), s1=st.floats(1e-3, 500.0), I1=st.floats(1.0, 900.0),
       every=st.integers(1, 30), frac=st.floats(0.0, 1.2), on_an_end=st.booleans())
def test_the_bisections_find_the_first_epoch_a_walk_finds(E, V, W, e0, span, into, s1, I1, every, frac,
                                                           on_an_end):
    """Both bisections return the first epoch in [lo, hi) whose end offset passes x (hi if none), as a walk
    epoch by epoch does, for epoch-end saves every `every` epochs and for time-based ones."""
    n = e0 + span
    B0 = E * e0 + into * E
    cnt = (lambda k: k // every)
    c0 = cnt(e0)

    def epoch_end(k):
        return (E * (k + 1) - B0) + (k - e0 + 1) * V + (cnt(k + 1) - c0) * W

    def time_based(k):
        tau = E * (k + 1) - B0
        return tau + (k - e0 + 1) * V + plain_stretch._saves_by(tau, s1, I1) * W

    j = e0 + int(frac * span / 1.2)
    for lo in (e0, e0 + span // 3):
        x = epoch_end(j) if on_an_end else frac * max(epoch_end(n - 1) if n > e0 else 0.0, 0.0)  # a cut at an end
        walk = next((k for k in range(lo, n) if epoch_end(k) > x), n)
        assert plain_stretch._first_epoch_after(x, lo, n, E, V, W, B0, e0, c0, cnt) == walk
        x = time_based(j) if on_an_end else x
        walk = next((k for k in range(lo, n) if time_based(k) > x), n)
        assert plain_stretch._first_time_epoch_after(x, lo, n, E, V, W, B0, e0, s1, I1) == walk
