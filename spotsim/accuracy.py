"""The validation-accuracy curve the simulator assumes (milestone needs one).

a(e) = a_max - (a_max - a_0) exp(-e / tau) + noise, noise ~ N(0, sd) per epoch.
Defaults (a_max 0.64, a_0 0.01, tau 20 epochs, sd 0.004) reach 63.6% top-1 at
epoch 100, the source study's on-demand ResNet-50/CIFAR-100 result
(../shared/FACTS.md, "The source study"). The noise of epoch e is fixed per
replication: a resumed run repeats an epoch exactly, as real mode does.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np


CACHED_EPOCHS = 100_000
"""Mean curves of jobs up to this many epochs are cached (longer ones are computed per run)."""


def mean_curve(epochs: int, a_max: float, a_0: float, tau_epochs: float) -> np.ndarray:
    """The curve without noise or clipping, after epochs 1..epochs (read-only where cached)."""
    if epochs <= CACHED_EPOCHS:
        return _cached_mean_curve(epochs, a_max, a_0, tau_epochs)
    return _compute_mean_curve(epochs, a_max, a_0, tau_epochs)


@lru_cache(maxsize=256)
def _cached_mean_curve(epochs: int, a_max: float, a_0: float, tau_epochs: float) -> np.ndarray:
    curve = _compute_mean_curve(epochs, a_max, a_0, tau_epochs)
    curve.setflags(write=False)
    return curve


def _compute_mean_curve(epochs: int, a_max: float, a_0: float, tau_epochs: float) -> np.ndarray:
    e = np.arange(1, epochs + 1, dtype=float)
    return a_max - (a_max - a_0) * np.exp(-e / tau_epochs)


def noiseless_curve(epochs: int, a_max: float, a_0: float, tau_epochs: float) -> np.ndarray:
    """The curve without noise, clipped to [0, 1]."""
    return np.minimum(np.maximum(mean_curve(epochs, a_max, a_0, tau_epochs), 0.0), 1.0)


def accuracy_curve(epochs: int, a_max: float, a_0: float, tau_epochs: float, noise_sd: float,
                   rng: np.random.Generator | None) -> np.ndarray:
    """Validation accuracy after epochs 1..epochs (index 0 is epoch 1), clipped to [0, 1]."""
    acc = mean_curve(epochs, a_max, a_0, tau_epochs)
    if noise_sd > 0 and rng is not None:
        acc = acc + rng.normal(0.0, noise_sd, size=epochs)
    return np.minimum(np.maximum(acc, 0.0), 1.0)
