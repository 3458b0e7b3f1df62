"""`fixed`: every N epochs or every T seconds of training (the study's "naive")."""
from __future__ import annotations

from dataclasses import dataclass

from .base import CheckpointStrategy, TrainingState


@dataclass(frozen=True)
class FixedInterval(CheckpointStrategy):
    """Checkpoint every `every_epochs` epochs, or every `every_s` seconds of training.

    A seconds interval counts training time since the last durable checkpoint and
    may fall inside an epoch.
    """

    every_epochs: int | None = None
    every_s: float | None = None
    name = "fixed"

    def __post_init__(self):
        if (self.every_epochs is None) == (self.every_s is None):
            raise ValueError("give exactly one of every_epochs and every_s")

    def interval_s(self, state: TrainingState) -> float | None:
        return self.every_s

    def save_after_epoch(self, state: TrainingState) -> bool:
        return self.every_epochs is not None and state.epoch % self.every_epochs == 0
