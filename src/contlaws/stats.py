"""Statistics shared by the experiments, the plots and the claims (one definition of each).

    mean_and_stderr(values) -> (mean, SE)     SE = sample std (ddof 1) / sqrt(n)
    paired_z(model, baseline) -> mean(d)/SE(d), d = model − baseline per sample (the E3 gate)
    spearman(x, y) -> {rho, p_greater, p_two_sided, n, method}   rank correlation and its p-values
    critical_rho(n, alpha)                    smallest significant one-sided ρ at n pairs
    bootstrap_rho(tc, advantages, n, seed)    ρ under a two-level (dataset, seed) bootstrap

Used for per-seed quantities paired by seed: C2(c)'s degradation differences, the C4 advantages of
:mod:`contlaws.experiments.alignment`, C5's accuracy differences and log speed-ups; the Spearman
statistics for C4 and the alignment figure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

# scipy.stats is imported where a rank statistic needs it, not with this module: the E3 gate (paired_z),
# mean_and_stderr and the claims that use only these run in jobs (every E3 training) that would
# otherwise pay for importing scipy.stats at each start (1-2 s on 2 busy cores; benchmarks/RESULTS.md).


def _scipy_stats():
    """scipy.stats (imported on first use)."""
    from scipy import stats

    return stats


# Largest n for which Spearman's p-value comes from all n! permutations (8! = 40320).
EXACT_MAX_N = 8


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


# ---------------------------------------------------------------------------------------------
# Rank correlation
# ---------------------------------------------------------------------------------------------
def _centered_ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean rank) minus their mean."""
    r = _scipy_stats().rankdata(x)
    return r - r.mean()


def _exact_pairings_null(rx: np.ndarray, ry: np.ndarray, alternative: str):
    """scipy's exact permutation test of ρ over all n! re-pairings of centered ranks rx, ry."""
    scale = math.sqrt((rx @ rx) * (ry @ ry))

    def rho_of(ranks_y, axis=-1):
        return np.moveaxis(ranks_y, axis, -1) @ rx / scale

    return _scipy_stats().permutation_test((ry,), rho_of, permutation_type="pairings", n_resamples=np.inf,
                                        alternative=alternative, vectorized=True)  # fmt: skip


def spearman(x, y) -> dict:
    """Spearman's ρ of paired values and its p-values against independence.

    ρ is the Pearson correlation of the average ranks. p_greater tests ρ > 0 (one-sided), p_two
    |ρ| (two-sided). For n ≤ :data:`EXACT_MAX_N` they are exact, from ``scipy.stats.permutation_test``
    over all n! re-pairings; above, scipy's t approximation (``spearmanr``).

    Args:
        x, y: (n,) paired values; pairs with a NaN are dropped.
    Returns:
        {"rho", "p_greater", "p_two_sided", "n", "method"}; NaNs when n < 3 or a side is constant.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = len(x)
    out = {"rho": math.nan, "p_greater": math.nan, "p_two_sided": math.nan, "n": n, "method": "undefined"}
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return out
    rx, ry = _centered_ranks(x), _centered_ranks(y)
    rho = float(rx @ ry / math.sqrt((rx @ rx) * (ry @ ry)))
    if n <= EXACT_MAX_N:
        p_greater = float(_exact_pairings_null(rx, ry, "greater").pvalue)
        p_two = float(_exact_pairings_null(rx, ry, "two-sided").pvalue)
        method = f"exact ({math.factorial(n)} permutations)"
    else:
        p_greater = float(_scipy_stats().spearmanr(x, y, alternative="greater").pvalue)
        p_two = float(_scipy_stats().spearmanr(x, y).pvalue)
        method = "t approximation"
    return {"rho": rho, "p_greater": p_greater, "p_two_sided": p_two, "n": n, "method": method}


def critical_rho(n: int, alpha: float) -> float:
    """Smallest ρ whose one-sided p-value (ρ > 0, no ties) is ≤ α at n pairs; NaN if none exists.

    Exact from the null distribution of all n! re-pairings (``scipy.stats.permutation_test``) for
    n ≤ :data:`EXACT_MAX_N`, else from the t approximation ρ_c = t / sqrt(n − 2 + t²), t the (1 − α)
    quantile of Student's t with n − 2 degrees of freedom.
    """
    if n < 3:
        return math.nan
    if n <= EXACT_MAX_N:
        ranks = np.arange(n, dtype=float) - (n - 1) / 2
        null = np.sort(_exact_pairings_null(ranks, ranks, "greater").null_distribution)  # increasing
        p = 1.0 - np.arange(len(null)) / len(null)  # P(ρ ≥ null[k]), ties counted below
        values, first = np.unique(np.round(null, 12), return_index=True)
        ok = p[first] <= alpha + 1e-12
        return float(values[ok][0]) if ok.any() else math.nan
    t = _scipy_stats().t.ppf(1 - alpha, n - 2)
    return float(t / math.sqrt(n - 2 + t * t))


def bootstrap_rho(tc: np.ndarray, advantages: Sequence[np.ndarray], n_boot: int, seed: int) -> np.ndarray:
    """Spearman ρ(TC, mean advantage) under a two-level bootstrap: datasets, then seeds within each.

    Each replicate draws n datasets with replacement and, for every drawn dataset, its per-seed
    advantages with replacement; ρ is computed on the replicate's (TC, mean advantage) pairs.
    Replicates where ρ is undefined (a constant side, e.g. one dataset drawn n times) are dropped.
    Written out rather than ``scipy.stats.bootstrap``: that resamples one level (observations) only,
    and the seeds within a dataset are a second level of sampling noise that C4 must include.

    Args:
        tc: (n,) TC per dataset; advantages: n arrays of per-seed advantages A_s.
        n_boot: replicates; seed: the generator's seed (same inputs and seed -> same replicates).
    Returns:
        (≤ n_boot,) finite ρ of the replicates.
    """
    rng = np.random.default_rng(seed)
    n = len(tc)
    out = np.empty(n_boot)
    for b in range(n_boot):
        pick = rng.integers(0, n, size=n)
        adv = np.array([rng.choice(advantages[i], size=len(advantages[i])).mean() for i in pick])
        x, y = _centered_ranks(tc[pick]), _centered_ranks(adv)
        scale = math.sqrt((x @ x) * (y @ y))
        out[b] = x @ y / scale if scale > 0 else math.nan
    return out[np.isfinite(out)]
