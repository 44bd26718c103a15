"""Power beside a verdict that is not "supported": what the design could have detected, and how much
more data would decide an inconclusive part at the effect it observed (docs/claims.md, "Power").

Paired seeds (C2(b), C2(c), C5 accuracy): a mean over n seeds counts beyond k standard errors,
SE = sd/sqrt(n). The smallest difference the design resolves is k·SE; at an observed effect e (the
distance of the mean from the rule's line) and the observed spread sd, the seeds needed are the
smallest n with k·sd/sqrt(n) < |e|, i.e. n = floor((k·sd/|e|)²) + 1.

Rank correlation (C4): Spearman's ρ over n datasets, on Fisher's z = atanh(ρ) with the standard
error sqrt(1.06/(n − 3)) of Fieller, Hartley & Pearson (1957). The smallest ρ a one-sided 1 − α
interval separates from 0 is tanh(z_{1−α}·SE); the largest observed ρ whose upper bound falls below
ρ_min is tanh(atanh(ρ_min) − z_{1−α}·SE). The approximation has one level of sampling (datasets);
C4's bootstrap also resamples seeds, so these numbers are the most the design could do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import NormalDist  # the standard library's normal quantile: claims load no scipy
from typing import Any

# var(atanh(r_s)) ≈ SPEARMAN_Z_VARIANCE / (n − 3) for Spearman's r_s (Fieller, Hartley & Pearson 1957).
SPEARMAN_Z_VARIANCE = 1.06
# Keeps atanh finite at |ρ| = 1 (a perfect ranking).
RHO_CLIP = 1.0 - 1e-12


def resolvable_difference(se: float | None, se_factor: float) -> float:
    """Smallest |mean| a paired comparison resolves: k·SE (NaN without an SE)."""
    return se_factor * se if se is not None and math.isfinite(se) else math.nan


def units_needed(effect: float | None, sd: float | None, se_factor: float, at_least: int = 2) -> int | None:
    """Smallest n >= ``at_least`` with se_factor·sd/sqrt(n) < |effect| (a mean of n units resolved beyond
    k standard errors, the per-unit spread sd held at its observed value); None when no n does (no
    effect, or no spread measured)."""
    if effect is None or sd is None or not (math.isfinite(effect) and math.isfinite(sd)) or effect == 0:
        return None
    n = math.floor((se_factor * sd / abs(effect)) ** 2) + 1
    return max(int(n), int(at_least))


def binomial_difference_se(accuracy: float, n_test: int) -> float:
    """SE of the difference of two accuracies near ``accuracy`` on ``n_test`` items each, taken as
    independent binomials: sqrt(2·p(1 − p)/n_test) (test-set noise of one seed's difference)."""
    return math.sqrt(2.0 * accuracy * (1.0 - accuracy) / n_test) if n_test > 0 else math.nan


def spearman_z_se(n: int) -> float:
    """Standard error of atanh(Spearman ρ) over n pairs: sqrt(1.06/(n − 3)); NaN for n < 4."""
    return math.sqrt(SPEARMAN_Z_VARIANCE / (n - 3)) if n >= 4 else math.nan


def _z(alpha: float) -> float:
    return float(NormalDist().inv_cdf(1.0 - alpha))


def rho_detectable(n: int, alpha: float) -> float:
    """Smallest ρ > 0 whose one-sided 1 − α interval excludes 0 at n datasets: tanh(z_{1−α}·SE_z(n))."""
    return math.tanh(_z(alpha) * spearman_z_se(n))


def rho_ruled_out(n: int, alpha: float, rho_min: float) -> float:
    """Largest observed ρ whose one-sided 1 − α upper bound is below ``rho_min`` at n datasets."""
    return math.tanh(math.atanh(max(-RHO_CLIP, min(RHO_CLIP, rho_min))) - _z(alpha) * spearman_z_se(n))


def datasets_needed(rho: float, rho_min: float, alpha: float, at_least: int = 4) -> int | None:
    """Datasets that would decide C4 at the observed ρ (same ρ, more datasets).

    ρ >= ρ_min: the interval must exclude 0, n − 3 > 1.06·(z/atanh ρ)²; ρ < ρ_min: its upper bound
    must fall below ρ_min, n − 3 > 1.06·(z/(atanh ρ_min − atanh ρ))². None when ρ is undefined or,
    at ρ >= ρ_min, not positive (then no n supports the claim).
    """
    if rho is None or not math.isfinite(rho):
        return None
    rho_c = max(-RHO_CLIP, min(RHO_CLIP, rho))
    if rho >= rho_min:
        effect = math.atanh(rho_c) if rho > 0 else 0.0
    else:
        effect = math.atanh(max(-RHO_CLIP, min(RHO_CLIP, rho_min))) - math.atanh(rho_c)
    if effect <= 0:
        return None
    n = math.floor(SPEARMAN_Z_VARIANCE * (_z(alpha) / effect) ** 2) + 4
    return max(int(n), int(at_least))


def paired_power(items: list[tuple[float | None, float | None, int]], se_factor: float, at_least: int) -> dict:
    """Power of paired comparisons over several units (pairs of a part, tasks of a claim).

    items: (effect, SE, n) per unit, effect the distance of the unit's mean from the rule's line.
    Returns ``resolvable``: the largest k·SE over the units (the smallest effect every unit resolves;
    None without any SE), ``unresolved``: how many units have |effect| <= k·SE (or no SE), and
    ``seeds_needed``: the most seeds any unresolved unit needs at its observed effect and spread
    (:func:`units_needed`; None when one of them cannot say, e.g. a single seed has no spread).
    """
    resolvable = [resolvable_difference(se, se_factor) for _, se, _ in items]
    finite = [r for r in resolvable if math.isfinite(r)]
    unresolved = [(e, se, n) for (e, se, n), r in zip(items, resolvable)
                  if not math.isfinite(r) or e is None or not abs(e) > r]  # fmt: skip
    needed = [units_needed(e, se * math.sqrt(n) if se is not None and math.isfinite(se) else None, se_factor, at_least)
              for e, se, n in unresolved]  # fmt: skip
    return {
        "resolvable": max(finite) if finite else None,
        "unresolved": len(unresolved),
        "seeds_needed": (max(needed) if needed and None not in needed else None) if unresolved else 0,
    }


def paired_power_text(power: Mapping[str, Any], what: str, unit: str) -> str:
    """One sentence from :func:`paired_power`: what the seeds resolve and what would decide the rest."""
    res = power["resolvable"]
    text = (f"the seeds resolve {what} of {res:.3g} (k SE, largest over {unit}s)" if res is not None
            else f"no standard error of {what} (fewer than two seeds)")  # fmt: skip
    if power["unresolved"]:
        need = power["seeds_needed"]
        how_many = f"about {need} seeds" if need else "an unknown number of seeds (no spread measured)"
        text += f"; {power['unresolved']} {unit}(s) unresolved, {how_many} would decide at the observed effect and spread"
    return text
