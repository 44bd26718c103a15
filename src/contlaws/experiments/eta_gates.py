"""E3 learning gates: the trivial forecasts, the best of them on a test split, and the paired gate
against a reference forecast (:mod:`contlaws.experiments.eta_performance` writes the rows).

Reference forecasts of inputs obs[0:L] for k = 0..horizon−1: ``last_value`` ŷ_{L+k} = obs_{L−1},
``linear_extrapolation`` obs_{L−1} + (k+1)·(obs_{L−1} − obs_{L−2}), ``window_mean`` mean_t obs_t.
Per test sample i, e_i is a forecast's squared error (mean over the horizon·D outputs); the gate
compares a model's e_i with a reference's by the paired z of their difference
(:func:`contlaws.stats.paired_z`). ``gates.e3_reference`` picks the reference: the last value, or
the best trivial forecast (lowest RMSE on the split, ties in :data:`BASELINES` order).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from contlaws.errors import UserError
from contlaws.stats import paired_z

BASELINES = ("last_value", "linear_extrapolation", "window_mean")
GATE_BASELINE = "last_value"
GATE_REFERENCES = ("last_value", "best_trivial")  # gates.e3_reference


def learned_gate(test_rmse: float, gate_rmse: float, margin: float, gate_z: float = -math.inf, se: float = 0.0) -> bool:
    """E3 learning gate: test_rmse ≤ gate_rmse·(1 + margin) and gate_z ≤ −se (the model beats the
    reference forecast, by default the last value, by more than ``se`` paired standard errors);
    False for a missing (NaN) metric or z."""
    return bool(math.isfinite(test_rmse) and math.isfinite(gate_rmse) and test_rmse <= gate_rmse * (1.0 + margin)
                and not math.isnan(gate_z) and gate_z <= -se)  # fmt: skip


def best_trivial(sq_errors: Mapping[str, np.ndarray]) -> str:
    """The reference forecast with the lowest RMSE, sqrt(mean per-sample squared error); ties go to
    the first in :data:`BASELINES` order."""
    return min((b for b in BASELINES if b in sq_errors), key=lambda b: float(np.mean(sq_errors[b])))


def gate_columns(model_sq_err: np.ndarray, test_rmse: float, trivial_sq_err: Mapping[str, np.ndarray], *,
                 gate_rmse: float, margin: float, se: float, reference: str = GATE_BASELINE) -> dict[str, Any]:  # fmt: skip
    """The gate columns of one model row from per-sample squared errors (N,) on one test split.

    Args:
        model_sq_err: the model's per-sample squared error (mean over the horizon·D outputs).
        test_rmse: the model's pooled test RMSE.
        trivial_sq_err: {baseline: per-sample squared error} of the reference forecasts.
        gate_rmse: the last value's RMSE (its gate when ``reference`` is ``last_value``).
        margin, se: ``gates.e3_margin``, ``gates.e3_se``.
        reference: ``gates.e3_reference``.
    """
    if reference not in GATE_REFERENCES:
        raise UserError(f"key 'gates.e3_reference' = {reference!r}: must be one of {', '.join(GATE_REFERENCES)}")
    best = best_trivial(trivial_sq_err)
    best_rmse = float(np.sqrt(np.mean(trivial_sq_err[best])))
    best_z = paired_z(model_sq_err, trivial_sq_err[best])
    beats_best = learned_gate(test_rmse, best_rmse, margin, best_z, se)
    if reference == "best_trivial":
        used, used_rmse, used_z = best, best_rmse, best_z
    else:
        used, used_rmse, used_z = GATE_BASELINE, gate_rmse, paired_z(model_sq_err, trivial_sq_err[GATE_BASELINE])
    return {"gate_rmse": used_rmse, "gate_z": used_z, "learned": learned_gate(test_rmse, used_rmse, margin, used_z, se),
            "gate_reference": used, "best_trivial": best, "best_trivial_rmse": best_rmse, "best_trivial_z": best_z,
            "beats_best_trivial": beats_best}  # fmt: skip


def trivial_forecasts(x: np.ndarray, horizon: int) -> dict[str, np.ndarray]:
    """The :data:`BASELINES` forecasts of inputs x (b L D): {name: (b H D)} (formulas in the module docstring)."""
    steps = np.arange(1, horizon + 1)[None, :, None]  # (1 H 1): k + 1
    return {
        "last_value": np.repeat(x[:, None, -1], horizon, axis=1),  # (b H D)
        "linear_extrapolation": x[:, None, -1] + steps * (x[:, None, -1] - x[:, None, -2]),
        "window_mean": np.repeat(x.mean(axis=1)[:, None], horizon, axis=1),
    }


def trivial_errors(test, batch_size: int = 256) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Targets (N, horizon·D) float64 of a forecasting test split and, per baseline, the per-sample
    squared and absolute errors (N,) (means over the horizon·D outputs): the paired references of
    the learning gates."""
    targets, sq, ab = [], {b: [] for b in BASELINES}, {b: [] for b in BASELINES}
    for start in range(0, len(test), batch_size):
        x, y = test.get_batch(np.arange(start, min(len(test), start + batch_size)))
        x, y = x.double().numpy(), y.double().numpy().reshape(len(x), -1)  # (b L D), (b H·D)
        targets.append(y)
        for name, forecast in trivial_forecasts(x, y.shape[1] // x.shape[2]).items():
            err = forecast.reshape(len(x), -1) - y  # (b H·D)
            sq[name].append(np.square(err).mean(axis=1))
            ab[name].append(np.abs(err).mean(axis=1))
    return (np.concatenate(targets), {b: np.concatenate(v) for b, v in sq.items()},
            {b: np.concatenate(v) for b, v in ab.items()})  # fmt: skip


def last_value_errors(test, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Targets (N, horizon·D) and the last value's per-sample squared error (N,) (see :func:`trivial_errors`)."""
    targets, sq, _ = trivial_errors(test, batch_size)
    return targets, sq[GATE_BASELINE]
