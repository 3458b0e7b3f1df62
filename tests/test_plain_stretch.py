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
