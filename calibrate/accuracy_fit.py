"""The accuracy curve of spotsim/accuracy.py fitted to measured (epoch, validation accuracy) points,
only where the points determine it.

a(e) = a_max - (a_max - a_0) exp(-e / tau). The fit is bounded to what is
physical: 0 <= a_0 <= a_max <= 1 (a_0 = f a_max with 0 <= f <= 1), and
TAU_MIN <= tau <= TAU_FACTOR x the last epoch observed (a slower curve has its
plateau far outside the data, which then cannot say where it is). The curve is
*undetermined* (the caller keeps the defaults and says why) when the points
are too few, the fit fails, a_max or tau ends on its bound, the accuracy does
not rise, or the 95% confidence interval of a_max or tau (+-1.96 standard
errors) reaches 0: the data cannot tell that value from none.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_EPOCHS = 4
"""Distinct epochs needed for a three-parameter curve plus a residual."""
TAU_FACTOR = 3.0
TAU_MIN = 0.05
Z95 = 1.96
_AT_BOUND = 1e-6


@dataclass(frozen=True)
class AccuracyFit:
    """A determined curve, its standard errors and the residual sd of the points about it."""

    a_max: float
    a_0: float
    tau: float
    se_a_max: float
    se_a_0: float
    se_tau: float
    noise_sd: float
    points: int
    epochs: int
    """Distinct epochs among the points."""


def accuracy_model(e, a_max, a_0, tau):
    return a_max - (a_max - a_0) * np.exp(-np.asarray(e, dtype=float) / tau)


def _model(e, a_max, f, tau):
    return accuracy_model(e, a_max, f * a_max, tau)


def fit_accuracy(epochs, accuracies) -> tuple[AccuracyFit | None, str | None]:
    """(the fit, None) where the points determine the curve, else (None, why not, in a sentence)."""
    x = np.asarray(epochs, dtype=float)
    y = np.asarray(accuracies, dtype=float)
    distinct = len(set(x.tolist()))
    if distinct < MIN_EPOCHS:
        return None, (f"the accuracy curve needs validation results at {MIN_EPOCHS} or more epochs "
                      f"({distinct} in the logs)")
    from scipy.optimize import curve_fit

    last = float(x.max())
    tau_max = TAU_FACTOR * last
    lo, hi = [0.0, 0.0, TAU_MIN], [1.0, 1.0, tau_max]
    top = float(np.clip(y.max(), 1e-3, 1.0))
    p0 = [top, float(np.clip(y.min() / top, 0.0, 1.0)), float(np.clip(last / 3, TAU_MIN * 2, tau_max / 2))]
    try:
        popt, pcov = curve_fit(_model, x, y, p0=p0, bounds=(lo, hi), maxfev=20000)
    except (RuntimeError, ValueError) as exc:
        return None, f"the least-squares fit of the accuracy curve failed ({exc})"
    a_max, f, tau = (float(v) for v in popt)
    if f >= 1 - _AT_BOUND or a_max * (1 - f) < 1e-3:
        return None, (f"validation accuracy does not rise over epochs 1-{last:g} (the best fit is flat at "
                      f"{a_max:.3g}): not the rising curve the simulator assumes")
    if a_max >= 1 - _AT_BOUND:
        return None, (f"the fit runs to its bound a_max = 1: the points (epochs 1-{last:g}) do not show "
                      f"where accuracy levels off")
    if tau >= tau_max * (1 - _AT_BOUND):
        return None, (f"the fit runs to its bound tau = {TAU_FACTOR:g} x the {last:g} epochs observed: "
                      f"accuracy still rises steadily at the last epoch, so its plateau is not in the data")
    se = _standard_errors(pcov, a_max, f)
    if se is None:
        return None, "the fit gives no standard errors (its covariance is undefined)"
    se_a_max, se_a_0, se_tau = se
    for name, v, e in (("a_max", a_max, se_a_max), ("tau", tau, se_tau)):
        if not Z95 * e < abs(v):
            return None, (f"the points (epochs 1-{last:g}) do not determine the curve: {name} = {v:.3g} with a "
                          f"standard error of {e:.2g}, so its 95% interval reaches 0")
    resid = y - _model(x, *popt)
    noise = float(np.sqrt(np.sum(resid ** 2) / max(1, len(y) - 3)))
    return AccuracyFit(a_max, f * a_max, tau, se_a_max, se_a_0, se_tau, noise, len(y), distinct), None


def _standard_errors(pcov, a_max: float, f: float) -> tuple[float, float, float] | None:
    """Standard errors of a_max, a_0 = f a_max (delta method) and tau."""
    c = np.asarray(pcov, dtype=float)
    if c.shape != (3, 3) or not np.all(np.isfinite(c)):
        return None
    var_a0 = f * f * c[0, 0] + a_max * a_max * c[1, 1] + 2 * f * a_max * c[0, 1]
    return (math.sqrt(max(c[0, 0], 0.0)), math.sqrt(max(var_a0, 0.0)), math.sqrt(max(c[2, 2], 0.0)))
