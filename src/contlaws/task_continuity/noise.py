"""Closed forms of the i.i.d.-noise level r̄_s(L) of the refinement residual (spec E4), one function
per equation; the derivation is in docs/task_continuity.md."""

from __future__ import annotations

import numpy as np


# ---------------------------------------------------------------------------------------------
# Closed forms
# ---------------------------------------------------------------------------------------------
def segment_noise_trace(n: np.ndarray) -> np.ndarray:
    """Σ over the n − 1 interior points of one interpolation segment of n steps of 1 + (1−w)² + w².

    For i.i.d. noise of variance σ², the interior point at w = m/n has E[(x_m − (1−w)x_0 − w x_n)²]
    = σ²(1 + (1−w)² + w²); summed over m = 1..n−1 this is (n − 1)(5n − 1)/(3n). n = 0 or 1 gives 0.
    """
    n = np.asarray(n, dtype=np.float64)
    return np.where(n > 1, (n - 1.0) * (5.0 * n - 1.0) / (3.0 * np.maximum(n, 1.0)), 0.0)


def refinement_noise_level(lengths: np.ndarray, stride: int) -> np.ndarray:
    """r̄_s(L) = E[r_s] for i.i.d. Gaussian noise: ‖I − P_s‖²_F / (L − 1), exactly.

    Why exact: the residual x − I_s(x) = (I − P_s)x vanishes on constants, so r_s is a ratio of
    quadratic forms in the centered vector, which is isotropic in an (L − 1)-dimensional subspace;
    its direction is uniform and independent of its norm, so E[r_s] = tr((I − P_s)ᵀ(I − P_s))/(L − 1).
    (For any other i.i.d. law this is the ratio of the expectations.) Segments: k = ⌊(L−1)/s⌋ full
    ones of s steps and a tail of L − 1 − ks steps.

    Args:
        lengths: (N,) sequence lengths L. stride: s ≥ 2.
    Returns:
        (N,) float64; 0 where L < 3 (no interior point, the residual is undefined).
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    full = np.maximum(lengths - 1, 0) // stride
    tail = np.maximum(lengths - 1, 0) - full * stride
    trace = full * segment_noise_trace(stride) + segment_noise_trace(tail)
    return np.where(lengths >= 3, trace / np.maximum(lengths - 1, 1), 0.0)
