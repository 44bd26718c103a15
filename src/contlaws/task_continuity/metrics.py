"""The task-continuity metrics (the pluggable part) and their registry :data:`METRICS`."""

from __future__ import annotations

import numpy as np

from contlaws.task_continuity.kernels import (
    interpolation_residual_sq,
    lagged_difference_sq,
    onehot_interpolation_residual_sq,
    onehot_lagged_difference_sq,
)
from contlaws.task_continuity.noise import refinement_noise_level


# ---------------------------------------------------------------------------------------------
# Metrics (the pluggable part)
# ---------------------------------------------------------------------------------------------
class Metric:
    """One task-continuity metric. A new metric subclasses this and is added to :data:`METRICS`.

    The accumulator calls, per chunk and stride s: ``continuous_numerator`` or ``onehot_numerator``
    (per-row squared error, summed over channels by the caller; ``work`` is a dict of reusable
    buffers, see :func:`scratch`), then, per batch, ``ratio`` (the metric's raw
    residual from numerator, centered sum of squares ‖x − mean(x)‖² and length) and ``noise_level``
    (the residual's expectation for i.i.d. noise; 0 marks a (sequence, stride) where it is undefined).
    """

    name: str = ""
    score_stride: int = 2
    description: str = ""

    def formula(self, normalized: bool) -> str:
        """How TC is computed, for reports."""
        return self.description

    def continuous_numerator(self, rows: np.ndarray, lengths: np.ndarray, stride: int, work: dict | None = None) -> np.ndarray:
        raise NotImplementedError

    def onehot_numerator(self, tokens: np.ndarray, lengths: np.ndarray, stride: int) -> np.ndarray:
        raise NotImplementedError

    def ratio(self, numerator: np.ndarray, centered_sq: np.ndarray, lengths: np.ndarray, stride: int) -> np.ndarray:
        raise NotImplementedError

    def noise_level(self, lengths: np.ndarray, stride: int) -> np.ndarray:
        raise NotImplementedError


class RefinementResidual(Metric):
    """r_s = ‖x − I_s(x)‖² / ‖x − mean(x)‖², the variance lost by stride-s subsampling."""

    name = "refinement"
    score_stride = 2
    description = "refinement residual r_s = ‖x − I_s(x)‖²/‖x − mean(x)‖²"

    def formula(self, normalized):
        return "TC_s = 1 − r_s/r̄_s (noise-normalized)" if normalized else "TC_s = 1 − r_s (raw)"

    def continuous_numerator(self, rows, lengths, stride, work=None):
        return interpolation_residual_sq(rows, lengths, stride, work)

    def onehot_numerator(self, tokens, lengths, stride):
        return onehot_interpolation_residual_sq(tokens, lengths, stride)

    def ratio(self, numerator, centered_sq, lengths, stride):
        return numerator / np.where(centered_sq > 0, centered_sq, np.inf)

    def noise_level(self, lengths, stride):
        return refinement_noise_level(lengths, stride)


class FirstDifference(Metric):
    """E‖Δ_s x‖² / (2 Var x): mean of the L − s lagged differences over twice the unbiased variance.

    Its i.i.d.-noise expectation is exactly 1 (the same ratio-of-quadratic-forms argument as
    :func:`refinement_noise_level`: tr(Δ_sᵀΔ_s) = 2(L − s)), so 1 − it is a normalized lag-s
    autocorrelation: 1 smooth, 0 white noise, −1 an alternating sign.
    """

    name = "first_difference"
    score_stride = 1
    description = "TC_s = 1 − E‖x_{t+s} − x_t‖²/(2 Var x)"

    def continuous_numerator(self, rows, lengths, stride, work=None):
        return lagged_difference_sq(rows, lengths, stride, work)

    def onehot_numerator(self, tokens, lengths, stride):
        return onehot_lagged_difference_sq(tokens, lengths, stride)

    def ratio(self, numerator, centered_sq, lengths, stride):
        pairs = np.maximum(lengths - stride, 1)
        variance = centered_sq / np.maximum(lengths - 1, 1)
        return numerator / pairs / (2.0 * np.where(variance > 0, variance, np.inf))

    def noise_level(self, lengths, stride):
        return np.where(lengths > stride, 1.0, 0.0)


METRICS: dict[str, Metric] = {}


def register_metric(metric: Metric) -> Metric:
    """Add ``metric`` to :data:`METRICS` under ``metric.name`` (the one place a new metric goes)."""
    METRICS[metric.name] = metric
    return metric


register_metric(RefinementResidual())
register_metric(FirstDifference())


def get_metric(name: str) -> Metric:
    if name not in METRICS:
        raise ValueError(f"unknown task-continuity metric {name!r} (available: {', '.join(sorted(METRICS))})")
    return METRICS[name]
