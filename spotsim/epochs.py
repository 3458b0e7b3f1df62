"""A job's per-epoch values without a Python object per epoch: training seconds and validation accuracy.

Equal epochs (no jitter, no measured times) and a noiseless accuracy curve are
closed forms, so a job of any length costs no memory; drawn or measured values
are numpy arrays with their prefix sums (training) or running maxima
(accuracy), so every question a plan asks (training before epoch k, which
epoch holds training second c, the best accuracy before epoch k) is O(1) or a
binary search. MAX_ARRAY_EPOCHS bounds those arrays.
"""
from __future__ import annotations

import math

import numpy as np

MAX_ARRAY_EPOCHS = 10_000_000
"""Most epochs a run keeps per-epoch arrays for (epoch jitter, accuracy noise, milestone, a measured
run): about 40 bytes an epoch, so 400 MB per run at most."""

ARRAY_BYTES_PER_EPOCH = 40
"""Training seconds, their prefix sums, accuracies, their running maxima and milestone's saves."""


class EpochTimes:
    """Training seconds of each epoch: equal (`mean_s`) or an array (its prefix sums kept)."""

    __slots__ = ("n", "uniform_s", "array", "cum", "total")

    def __init__(self, n: int, uniform_s: float | None = None, array: np.ndarray | None = None):
        self.n = n
        self.uniform_s = uniform_s
        self.array = array
        if array is None:
            self.cum = None
            self.total = uniform_s * n
        else:
            self.cum = np.concatenate(([0.0], np.cumsum(array)))
            self.total = float(self.cum[-1])

    @classmethod
    def of(cls, values) -> "EpochTimes":
        """From a sequence of per-epoch seconds (equal values stay a closed form)."""
        arr = np.asarray(values, dtype=float)
        if arr.size and bool(np.all(arr == arr[0])):
            return cls(int(arr.size), float(arr[0]))
        return cls(int(arr.size), None, arr)

    def at(self, e: int) -> float:
        """Seconds of epoch `e` (0-based)."""
        return self.uniform_s if self.array is None else float(self.array[e])

    def before(self, k: int) -> float:
        """Training seconds of epochs [0, k)."""
        return self.uniform_s * k if self.cum is None else float(self.cum[k])

    def slice(self, a: int, b: int) -> list[float]:
        """Seconds of epochs [a, b) as a list (planning a few epochs at a time)."""
        if self.array is None:
            return [self.uniform_s] * max(b - a, 0)
        return self.array[a:b].tolist()


class Accuracies:
    """Validation accuracy after each epoch (index e: after epoch e + 1), clipped to [0, 1].

    `array` holds drawn or measured values; without one, the curve
    a_max - (a_max - a_0) exp(-(e + 1) / tau) is evaluated where asked, plus
    keyed noise (accuracy.keyed_normal) where `keyed` = (key, sd) is given.
    """

    __slots__ = ("n", "array", "curve", "keyed", "_best")

    def __init__(self, n: int, array: np.ndarray | None = None, curve: tuple | None = None,
                 best: np.ndarray | None = None, keyed: tuple | None = None):
        """`best`: the running maxima of `array`, where the caller has them (job.batch_draws)."""
        self.n = n
        self.array = array
        self.curve = curve
        self.keyed = keyed
        self._best: np.ndarray | None = best

    def at(self, e: int) -> float:
        if self.array is not None:
            return float(self.array[e])
        a_max, a_0, tau = self.curve
        mean = a_max - (a_max - a_0) * math.exp(-(e + 1) / tau)
        if self.keyed is not None:
            from .accuracy import keyed_normal
            key, sd = self.keyed
            mean = mean + (0.0 + sd * keyed_normal(key, e))
        return min(max(mean, 0.0), 1.0)

    def values(self) -> np.ndarray:
        """All accuracies as an array (milestone's saves and the list planner need them)."""
        if self.array is None:
            from .accuracy import keyed_normals, mean_curve, noiseless_curve, noisy_accuracies
            if self.keyed is None:
                self.array = noiseless_curve(self.n, *self.curve)
            else:
                key, sd = self.keyed
                self.array = noisy_accuracies(mean_curve(self.n, *self.curve), keyed_normals(key, self.n), sd)
        return self.array

    def slice(self, a: int, b: int) -> list[float]:
        return self.values()[a:b].tolist()

    def best_before(self, e: int) -> float | None:
        """The best accuracy of the epochs before `e` (None for epoch 0)."""
        if e == 0:
            return None
        return float(self._running_best()[e - 1])

    def _running_best(self) -> np.ndarray:
        """Entry e: the best accuracy of epochs 1..e + 1."""
        if self._best is None:
            self._best = np.maximum.accumulate(self.values())
        return self._best



def improvement_saves(acc: np.ndarray) -> tuple:
    """milestone's epoch-end saves for each row of accuracies (n >= 1 epochs, as job.epochs is): (the running best of
    the row, cnt, last), where cnt[k] counts the saves after epochs 1..k and last[k] is the newest
    saving epoch <= k (0: none), k = 0..n. Epoch k saves when its accuracy beats every one before it
    (epoch 1 always does)."""
    rows, n = acc.shape
    best = np.maximum.accumulate(acc, axis=1)
    saves = np.zeros((rows, n + 1), dtype=bool)
    saves[:, 1] = True
    np.greater(acc[:, 1:], best[:, :-1], out=saves[:, 2:])
    return best, saves.cumsum(axis=1), np.maximum.accumulate(np.arange(n + 1) * saves, axis=1)


def array_epochs_needed(s) -> bool:
    """Whether a run of scenario `s` keeps per-epoch arrays (see MAX_ARRAY_EPOCHS)."""
    return s.job.epoch_jitter > 0 or sequence_noise(s) or s.checkpoint.strategy == "milestone"


def sequence_noise(s) -> bool:
    """Whether a run of scenario `s` draws accuracy noise epoch after epoch from its job stream."""
    return s.accuracy.noise_sd > 0 and s.accuracy.noise_draws == "sequence"
