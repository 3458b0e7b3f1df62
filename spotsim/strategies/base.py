"""What a checkpoint strategy sees and answers; shared by simulator and real mode."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar


@dataclass(slots=True)
class TrainingState:
    """The training job as a checkpoint strategy sees it.

    The simulator and the real trainer update one instance in place; strategies
    only read it, so the same strategy object serves both worlds.
    """

    epoch: int = 0
    """Epochs completed (training and validation) in the state held in memory."""
    train_s_since_checkpoint: float = 0.0
    """Seconds of training since the last durable checkpoint (or the start)."""
    checkpoint_write_s: float = 0.0
    """Current estimate of how long one checkpoint write blocks training."""
    uptimes_s: list[float] = field(default_factory=list)
    """Observed VM uptimes that ended in a preemption (grant to notice), oldest first."""
    last_val_acc: float | None = None
    """Validation accuracy of the epoch just completed."""
    best_val_acc: float | None = None
    """Best validation accuracy of the epochs before the one just completed."""

    def record_checkpoint(self, kind: str, seconds: float) -> None:
        """A save of `kind` ("periodic" or "emergency") became durable after blocking `seconds`.

        The one rule for both worlds: only periodic saves measure the write
        time that time-based strategies plan with (an emergency save may write
        less, or race a shutdown, so it says nothing about the periodic cost).
        Either kind resets the training since the last durable checkpoint.
        """
        if kind == "periodic":
            self.checkpoint_write_s = seconds
        self.train_s_since_checkpoint = 0.0


class CheckpointStrategy:
    """A checkpoint policy: a small pure object registered by name.

    Two questions drive both worlds: `interval_s` (time-based saving: how many
    seconds of training between checkpoints, or None) and `save_after_epoch`
    (epoch-based saving: checkpoint now that an epoch and its validation ended?).
    """

    name: ClassVar[str] = ""

    def interval_s(self, state: TrainingState) -> float | None:
        """Seconds of training between time-based checkpoints; None if not time-based."""
        return None

    def save_after_epoch(self, state: TrainingState) -> bool:
        """Whether to checkpoint after the epoch that `state` has just completed."""
        return False

    def due(self, state: TrainingState) -> bool:
        """Whether a time-based checkpoint is due now (the real trainer asks after each step)."""
        interval = self.interval_s(state)
        return interval is not None and state.train_s_since_checkpoint >= interval
