"""Statistics shared by the experiments and the claims (one definition of each).

    mean_and_stderr(values) -> (mean, SE)     SE = sample std (ddof 1) / sqrt(n)
    paired_z(model, baseline) -> mean(d)/SE(d), d = model − baseline per sample (the E3 gate)

Used for per-seed quantities paired by seed: C2(c)'s degradation differences, the C4 advantages of
:mod:`contlaws.experiments.alignment`, C5's accuracy differences and log speed-ups.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np


def mean_and_stderr(values: Iterable[float]) -> tuple[float, float]:
    """Mean and its standard error sd/sqrt(n) with the sample std (ddof 1).

    Returns (NaN, NaN) for no values and (mean, NaN) for one: a single seed has no spread.
    """
    arr = np.asarray(list(values), dtype=float)
    if arr.size == 0:
        return math.nan, math.nan
    se = float(arr.std(ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else math.nan
    return float(arr.mean()), se


def paired_z(model_sq_err: np.ndarray, baseline_sq_err: np.ndarray) -> float:
    """Paired z of the per-sample squared-error difference d = model − baseline: mean(d) / SE(d).

    Negative: the model's errors are smaller. NaN when there is no spread to judge by (fewer than two
    samples, or d ≡ 0: the model makes the baseline's forecast); −inf/+inf for a constant non-zero d.
    """
    d = np.asarray(model_sq_err, dtype=np.float64) - np.asarray(baseline_sq_err, dtype=np.float64)
    if d.size < 2:
        return math.nan
    mean, se = mean_and_stderr(d)
    if se == 0.0:
        return math.nan if mean == 0.0 else math.copysign(math.inf, mean)
    return mean / se
