"""`milestone`: checkpoint when validation accuracy beats the best so far."""
from .base import CheckpointStrategy, TrainingState


class OnImprovement(CheckpointStrategy):
    name = "milestone"

    def save_after_epoch(self, state: TrainingState) -> bool:
        if state.last_val_acc is None:
            return False
        return state.best_val_acc is None or state.last_val_acc > state.best_val_acc
