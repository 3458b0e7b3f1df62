"""Checkpoint strategies, registered by name; one small module each."""
from __future__ import annotations

from .adaptive import AdaptiveInterval
from .base import CheckpointStrategy, TrainingState
from .fixed import FixedInterval
from .milestone import OnImprovement
from .none import NoCheckpoints
from .young_daly import YoungDaly

STRATEGIES = {
    cls.name: cls for cls in (NoCheckpoints, FixedInterval, AdaptiveInterval, OnImprovement, YoungDaly)
}


def build_strategy(checkpoint, rate_per_h: float = 0.0) -> CheckpointStrategy:
    """The strategy a scenario's `checkpoint` section describes.

    `rate_per_h` is the mean preemption rate to plan with (young_daly uses it):
    the configured one, else the pattern's own (model.planning_rate_per_h).
    """
    name = checkpoint.strategy
    if name == "none":
        return NoCheckpoints()
    if name == "fixed":
        return FixedInterval(every_epochs=checkpoint.every_epochs, every_s=checkpoint.every_s)
    if name == "adaptive":
        return AdaptiveInterval(
            prior_mtbf_s=checkpoint.prior_mtbf_s,
            ema_alpha=checkpoint.ema_alpha,
            min_interval_s=checkpoint.min_interval_s,
            max_interval_s=checkpoint.max_interval_s,
            write_s=checkpoint.write_prior,
        )
    if name == "milestone":
        return OnImprovement()
    if name == "young_daly":
        return YoungDaly(write_s=checkpoint.write_prior, rate_per_h=rate_per_h)
    raise KeyError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")


__all__ = ["STRATEGIES", "CheckpointStrategy", "TrainingState", "build_strategy"]
