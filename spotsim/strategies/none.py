"""`none`: never checkpoint periodically (SkyPilot's default for a bare job).

A preemption without a successful emergency save restarts the job from scratch.
"""
from .base import CheckpointStrategy


class NoCheckpoints(CheckpointStrategy):
    name = "none"
