"""The Spot timeline a run meets (market.py): periods made lazily, kills read off the run's clock."""
from spotsim.config import load_scenario
from spotsim.interrupts.base import Preemption
from spotsim.market import SpotMarket
from spotsim.model import simulate


def _market(uptimes, wait_s=100.0, notice_s=30.0):
    pres = iter([Preemption(u, wait_s) for u in uptimes] + [Preemption(float("inf"), None)])
    return SpotMarket(pres, lambda pre: pre.wait_s or 0.0, notice_s, False)


def test_a_kill_seen_after_the_market_moved_on_leaves_the_next_period_alone():
    """A policy's review between a notice and the kill asks for the wait after it, which makes the next
    period; the kill the run then reports belongs to the period it ran in, not to the next one (whose
    kill once got overwritten with an earlier time, leaving a period that ends before it starts)."""
    m = _market([500.0, 800.0])
    first = m.at(0.0)
    assert (first.grant, first.kill) == (0.0, 530.0)
    assert m.wait_s(510.0) == 120.0  # in the notice window: the next grant is 530 + 100
    second = m.current
    assert second is not first and (second.grant, second.kill) == (630.0, 1460.0)
    m.killed_at(530.0, first)
    assert (second.grant, second.kill) == (630.0, 1460.0)
    assert m.at(700.0) is second and m.available(700.0)


def test_a_kill_seen_on_the_current_period_anchors_the_next_wait():
    """The usual case: the clock's reading of the kill is where the next period's wait starts."""
    m = _market([500.0])
    first = m.at(0.0)
    m.killed_at(530.25, first)
    nxt = m.at(600.0)
    assert nxt.anchor == 530.25 and nxt.grant == 630.25


def test_deadline_policies_with_unheard_notices_keep_a_consistent_timeline():
    """greedy and uniform_progress with notices that never arrive (their reviews fall inside notice
    windows): every kill the runs report belongs to a period granted before it."""
    seen = []
    original = SpotMarket.killed_at

    def recording(self, t, period=None):
        seen.append((t, (self.current if period is None else period).grant))
        return original(self, t, period)

    SpotMarket.killed_at = recording
    try:
        for policy in ("greedy", "uniform_progress"):
            s = load_scenario(sets=["interrupts.rate_per_h=6", "vm.notice_reliability=0", "job.deadline_h=3",
                                    f"policy.name={policy}", "capacity.wait=exponential", "capacity.wait_s=300"])
            for seed in range(60):
                simulate(s, seed)
    finally:
        SpotMarket.killed_at = original
    assert seen and all(grant <= t for t, grant in seen)
