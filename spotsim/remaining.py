"""Remaining work: the seconds a job still needs from a checkpointed position, on a VM that never stops.

A deadline policy asks it of the durable checkpoint (what a preemption now
would keep) and of the progress held in memory. It is the plan the job would
follow after a restore there (plan.py: training, validation and the
strategy's periodic saves), without start-up or restore, so from the start of
the job it is the on-demand baseline's work.

Strategies that save only at epoch ends (fixed every N epochs, milestone,
none) save at the same epochs whatever happened before, so the answer is a
suffix sum computed once per job; time-based strategies (every_s, adaptive,
young_daly) plan from the position with a fresh interval, memoised by
position and interval.
"""
from __future__ import annotations

from .baseline import planned_from
from .strategies import TrainingState


class RemainingWork:
    """remaining_s(epoch, into) for one run's job (its draws and strategy)."""

    def __init__(self, job):
        self.job = job
        self.epoch_based = job.strategy.interval_s(TrainingState()) is None and not job.async_write
        self._suffix: list[float] | None = None
        self._memo: dict = {}

    def remaining_s(self, epoch: int, into: float) -> float:
        """Seconds of work (training, validation, periodic saves) from `into` seconds into epoch `epoch`."""
        job = self.job
        if epoch >= job.epochs:
            return 0.0
        if self.epoch_based:
            if self._suffix is None:
                self._suffix = self._epoch_suffix()
            return self._suffix[epoch] - into
        state = self._restored_state(epoch)
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

    def _epoch_suffix(self) -> list[float]:
        """suffix[e]: seconds from the start of epoch e to the end of the job."""
        job = self.job
        probe = TrainingState()
        ask = job.strategy.save_after_epoch
        best = None
        per_epoch = []
        for e, (te, a) in enumerate(zip(job.train_s, job.acc), start=1):
            probe.epoch, probe.last_val_acc, probe.best_val_acc = e, a, best
            if best is None or a > best:
                best = a
            per_epoch.append(te + job.eval_s + (job.write_s if ask(probe) else 0.0))
        suffix = [0.0] * (job.epochs + 1)
        for e in range(job.epochs - 1, -1, -1):
            suffix[e] = suffix[e + 1] + per_epoch[e]
        return suffix

    def _planned(self, epoch: int, into: float, state: TrainingState) -> float:
        probe = self.job.fresh()
        probe.state = state
        probe.into = into
        return planned_from(probe)
