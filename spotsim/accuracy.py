"""The validation-accuracy curve the simulator assumes (milestone needs one).

a(e) = a_max - (a_max - a_0) exp(-e / tau) + noise, noise ~ N(0, sd) per epoch:
drawn in turn from the run's job stream (accuracy.noise_draws "sequence", the
default), or "keyed", a function of a key from the seed and of the epoch
(keyed_normal), so that a run asks only for the epochs it reads.
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


_GOLDEN = 0x9E3779B97F4A7C15
_MIX_1, _MIX_2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_M64 = 0xFFFFFFFFFFFFFFFF


def keyed_normal(key: int, e: int) -> float:
    """The standard normal of epoch `e` (0-based) under the 64-bit `key`: SplitMix64 of key + (e + 1) x
    the golden gamma, its top 53 bits as a uniform in (0, 1), through the normal quantile. A function of
    the key and the epoch alone, so any epoch's value costs the same; keyed_normals gives the same values
    for many epochs at once."""
    from scipy.special import ndtri  # loaded only by runs with keyed noise

    z = (key + (e + 1) * _GOLDEN) & _M64
    z = ((z ^ (z >> 30)) * _MIX_1) & _M64
    z = ((z ^ (z >> 27)) * _MIX_2) & _M64
    z ^= z >> 31
    return float(ndtri(((z >> 11) + 0.5) * 2.0 ** -53))


def keyed_normals(key: int, n: int) -> np.ndarray:
    """keyed_normal(key, e) for e in 0..n-1, as one array (numpy's uint64 arithmetic wraps as the masks do)."""
    from scipy.special import ndtri

    z = np.arange(1, n + 1, dtype=np.uint64)
    z *= np.uint64(_GOLDEN)
    z += np.uint64(key)
    z ^= z >> np.uint64(30)
    z *= np.uint64(_MIX_1)
    z ^= z >> np.uint64(27)
    z *= np.uint64(_MIX_2)
    z ^= z >> np.uint64(31)
    u = (z >> np.uint64(11)).astype(np.float64)
    u += 0.5
    u *= 2.0 ** -53
    return ndtri(u)


def accuracy_curve(epochs: int, a_max: float, a_0: float, tau_epochs: float, noise_sd: float,
                   rng: np.random.Generator | None) -> np.ndarray:
    """Validation accuracy after epochs 1..epochs (index 0 is epoch 1), clipped to [0, 1]."""
    acc = mean_curve(epochs, a_max, a_0, tau_epochs)
    if noise_sd > 0 and rng is not None:
        return noisy_accuracies(acc, rng.standard_normal(epochs), noise_sd)
    return np.minimum(np.maximum(acc, 0.0), 1.0)


def noisy_accuracies(mean: np.ndarray, z: np.ndarray, sd: float) -> np.ndarray:
    """The mean curve plus noise sd x z, clipped to [0, 1], computed in z's memory (each row of a 2-D z):
    mean + (0.0 + sd * z), the values mean + rng.normal(0.0, sd) gives (numpy's random_normal is
    loc + scale * a standard normal) for z the same standard normals."""
    z *= sd
    z += 0.0
    np.add(mean, z, out=z)
    np.maximum(z, 0.0, out=z)
    return np.minimum(z, 1.0, out=z)
