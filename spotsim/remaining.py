"""Remaining work: the seconds a job still needs from a checkpointed position, on a VM that never stops.

A deadline policy asks it of the durable checkpoint (what a preemption now
would keep) and of the progress held in memory. It is the plan the job would
follow after a restore there (plan.py: training, validation and the
strategy's periodic saves), without start-up or restore, so from the start of
the job it is the on-demand baseline's work.

For the strategies arithmetic_plan.py plans (all built-in ones with blocking
saves) the answer is that plan's duration from the position with a fresh
interval: a few prefix sums, whatever the epochs. Asynchronous saves plan
phase by phase from the position, memoised by position and interval.
"""
from __future__ import annotations

from .arithmetic_plan import ArithmeticStretch
from .baseline import planned_from
from .strategies import TrainingState


class RemainingWork:
    """remaining_s(epoch, into) for one run's job (its draws and strategy)."""

    def __init__(self, job):
        self.job = job
        self._memo: dict = {}

    def remaining_s(self, epoch: int, into: float) -> float:
        """Seconds of work (training, validation, periodic saves) from `into` seconds into epoch `epoch`."""
        job = self.job
        if epoch >= job.epochs:
            return 0.0
        state = self._restored_state(epoch)
        if job.arithmetic:
            return ArithmeticStretch(job, 0.0, state, into).duration_s
        key = (epoch, into, job.strategy.interval_s(state))
        hit = self._memo.get(key)
        if hit is None:
            if len(self._memo) > 4096:
                self._memo.clear()
            hit = self._memo[key] = self._planned(epoch, into, state)
        return hit

    def total_s(self) -> float:
        """The whole job's work from its start (the on-demand baseline's, start-up excluded)."""
        return self.remaining_s(0, 0.0)

    def _restored_state(self, epoch: int) -> TrainingState:
        st = self.job.state
        return TrainingState(epoch=epoch, checkpoint_write_s=st.checkpoint_write_s, uptimes_s=st.uptimes_s,
                             last_val_acc=self.job.last_acc(epoch))

    def _planned(self, epoch: int, into: float, state: TrainingState) -> float:
        probe = self.job.fresh()
        probe.state = state
        probe.into = into
        return planned_from(probe)
