"""Checkpoint strategies: the pure answers shared by the simulator and real mode."""
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spotsim.costs import daly_optimal_interval
from spotsim.events import EventLog
from spotsim.model import simulate
from spotsim.strategies import STRATEGIES, AdaptiveInterval, TrainingState, build_strategy
from spotsim.strategies.fixed import FixedInterval
from spotsim.strategies.milestone import OnImprovement
from spotsim.strategies.none import NoCheckpoints
from spotsim.strategies.young_daly import YoungDaly

from .conftest import scenario


def test_registry_names_match_config_choices():
    """Every strategy the scenario schema allows is registered, and nothing else."""
    from spotsim.config import STRATEGY_NAMES
    assert set(STRATEGIES) == set(STRATEGY_NAMES)


def test_none_never_saves():
    """`none` neither saves at epoch ends nor on a timer."""
    s = NoCheckpoints()
    state = TrainingState(epoch=5, train_s_since_checkpoint=1e9, last_val_acc=0.9, best_val_acc=0.1)
    assert not s.save_after_epoch(state) and not s.due(state) and s.interval_s(state) is None


def test_fixed_every_epochs():
    """fixed/every_epochs=3 saves after epochs 3, 6, 9 only."""
    s = FixedInterval(every_epochs=3)
    saves = [e for e in range(1, 10) if s.save_after_epoch(TrainingState(epoch=e))]
    assert saves == [3, 6, 9]


def test_fixed_every_seconds_is_due_after_interval():
    """fixed/every_s=120 is due once 120 s of training passed since the last checkpoint."""
    s = FixedInterval(every_s=120.0)
    assert not s.due(TrainingState(train_s_since_checkpoint=119.9))
    assert s.due(TrainingState(train_s_since_checkpoint=120.0))
    assert not s.save_after_epoch(TrainingState(epoch=4))


def test_fixed_needs_exactly_one_interval():
    """A fixed strategy with both or neither interval is refused."""
    with pytest.raises(ValueError):
        FixedInterval()
    with pytest.raises(ValueError):
        FixedInterval(every_epochs=2, every_s=10.0)


@given(st.lists(st.floats(1.0, 1e5), max_size=20), st.floats(0.01, 1.0), st.floats(0.1, 300.0))
def test_adaptive_interval_is_young_on_ema_within_bounds(uptimes, alpha, write_s):
    """adaptive: interval = clamp(sqrt(2 C m)), m the EMA of uptimes from the prior."""
    s = AdaptiveInterval(prior_mtbf_s=3600.0, ema_alpha=alpha, min_interval_s=60.0, max_interval_s=3600.0)
    m = 3600.0
    for u in uptimes:
        m = alpha * u + (1 - alpha) * m
    got = s.interval_s(TrainingState(checkpoint_write_s=write_s, uptimes_s=list(uptimes)))
    assert 60.0 <= got <= 3600.0
    assert got == pytest.approx(min(3600.0, max(60.0, math.sqrt(2 * write_s * m))))


@given(st.lists(st.tuples(st.integers(0, 2), st.floats(1.0, 1e5)), max_size=40))
def test_one_adaptive_strategy_serves_interleaved_runs_as_separate_ones(steps):
    """Runs of a sweep share one adaptive strategy (model._Setup): its memo of the uptimes it saw last
    never answers for another run's list. Three runs' uptimes grow in any interleaving; the shared
    strategy's estimate equals a fresh strategy's after every step, bit for bit."""
    shared = AdaptiveInterval(prior_mtbf_s=900.0, ema_alpha=0.3)
    runs = [[], [], []]
    for run, u in steps:
        runs[run].append(u)
        for uptimes in (runs[run], runs[(run + 1) % 3]):
            assert shared.mtbf_estimate_s(uptimes) == AdaptiveInterval(prior_mtbf_s=900.0,
                                                                       ema_alpha=0.3).mtbf_estimate_s(list(uptimes))


def test_adaptive_shortens_interval_after_frequent_preemptions():
    """Short observed uptimes shrink the adaptive interval."""
    s = AdaptiveInterval(write_s=10.0)
    calm = s.interval_s(TrainingState(checkpoint_write_s=10.0))
    stormy = s.interval_s(TrainingState(checkpoint_write_s=10.0, uptimes_s=[300.0, 200.0, 250.0]))
    assert stormy < calm


def test_milestone_saves_on_improvement_only():
    """milestone saves when the last accuracy beats the best before it (and on the first epoch)."""
    s = OnImprovement()
    assert s.save_after_epoch(TrainingState(epoch=1, last_val_acc=0.1, best_val_acc=None))
    assert s.save_after_epoch(TrainingState(epoch=2, last_val_acc=0.2, best_val_acc=0.1))
    assert not s.save_after_epoch(TrainingState(epoch=3, last_val_acc=0.2, best_val_acc=0.2))
    assert not s.save_after_epoch(TrainingState(epoch=3, last_val_acc=0.15, best_val_acc=0.2))


def test_milestone_in_simulation_saves_at_each_new_best():
    """Simulated milestone checkpoints happen exactly at the epochs whose accuracy is a new best."""
    s = scenario("checkpoint.strategy=milestone", "interrupts.pattern=none", "interrupts.rate_per_h=0",
                 "job.epochs=60")
    log = EventLog(keep=True)
    simulate(s, 3, events=log)
    accs = [r["val_acc"] for r in log.records if r["event"] == "epoch_end"]
    best, expected = -1.0, []
    for e, a in enumerate(accs, start=1):
        if a > best:
            expected.append(float(e))
            best = a
    saved = [r["epoch"] for r in log.records if r["event"] == "checkpoint"]
    assert saved == expected
    assert len(saved) < 60  # saturation plus noise: improvements thin out


def test_young_daly_interval():
    """young_daly uses Daly's optimum for the configured rate; no rate, no checkpoints."""
    s = YoungDaly(write_s=30.0, rate_per_h=2.0)
    assert s.interval_s(TrainingState()) == pytest.approx(daly_optimal_interval(30.0, 1800.0))
    assert YoungDaly(write_s=30.0, rate_per_h=0.0).interval_s(TrainingState()) is None


def test_build_strategy_from_scenario():
    """Scenario sections build the named strategy with its parameters."""
    s = scenario("checkpoint.strategy=adaptive", "checkpoint.prior_mtbf_s=100", "checkpoint.ema_alpha=0.5")
    strat = build_strategy(s.checkpoint, 3.0)
    assert isinstance(strat, AdaptiveInterval) and strat.prior_mtbf_s == 100.0 and strat.ema_alpha == 0.5
    assert isinstance(build_strategy(scenario("checkpoint.strategy=young_daly").checkpoint, 3.0), YoungDaly)


def test_write_prior_is_used_until_a_save_is_measured():
    """adaptive assumes checkpoint.write_prior_s until the first save completes, then write_s."""
    from spotsim.events import EventLog
    base = ["checkpoint.strategy=adaptive", "checkpoint.write_s=1", "checkpoint.min_interval_s=10",
            "interrupts.pattern=none", "interrupts.rate_per_h=0", "job.epochs=40", "job.epoch_s=10",
            "job.eval_s=0", "checkpoint.prior_mtbf_s=800"]
    saves = {}
    for prior in (1, 16):
        log = EventLog(keep=True)
        simulate(scenario(*base, f"checkpoint.write_prior_s={prior}"), 0, events=log)
        saves[prior] = [r["t"] for r in log.records if r["event"] == "checkpoint"]
    # sqrt(2 x 1 x 800) = 40 s of training; with the 16 s prior the first interval is sqrt(2 x 16 x 800) = 160 s.
    assert saves[1][0] == pytest.approx(40.0 + 90.0 + 1.0)
    assert saves[16][0] == pytest.approx(160.0 + 90.0 + 1.0)
    assert saves[16][1] - saves[16][0] == pytest.approx(40.0 + 1.0)
