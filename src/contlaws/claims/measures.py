"""Measurements on the E1 and E2 tables shared by several claims (C1, C2): orders, amplitude growth,
paired-by-seed differences."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from contlaws.claims.registry import pair_key, rounded
from contlaws.io import as_flags
from contlaws.stats import mean_and_stderr


# ---------------------------------------------------------------------------------------------
# Shared measurements on the E1 and E2 tables
# ---------------------------------------------------------------------------------------------
def nominal_s4_order(input_hold: str) -> int:
    """Convergence order of discretized S4 in E1 for the input hold used.

    The S4 step there is 0.01·τ, so ZOH and bilinear differ only at order 3 in the state update;
    what limits the order is the input held over a step: the left end point is a first-order
    approximation of u (order 1 for both methods), the average of both ends a second-order one
    (order 2 for both).
    """
    return {"left": 1, "average": 2}[input_hold]


def learned_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of runs that passed their learning gate (column ``learned``; CSV text "True"/"False" accepted)."""
    return df[as_flags(df["learned"])]


def combine_across(parts: Sequence[str]) -> str:
    """Verdict of a part tested on several (system, discretization) pairs: supported when every pair
    is, not supported when none is (and none is inconclusive), inconclusive otherwise (mixed, or no pairs)."""
    if parts and all(p == "supported" for p in parts):
        return "supported"
    if parts and all(p == "not supported" for p in parts):
        return "not supported"
    return "inconclusive"


def continuity_summary(continuity: pd.DataFrame, model: str, min_runs: int) -> dict[str, dict]:
    """Per (system, discretization) of ``model``'s learned runs: seed-mean d(τ), mean order, trend, verdict inputs.

    ``decreasing``: the seed-mean d falls at every step down in τ ≤ 1 (toward d(τ_ref) = 0).
    ``order``: mean over seeds of the fitted order p (NaN orders left out; None when none is finite,
    ``order_note`` then says why). ``runs``: learned seeds; ``not_learned``: seeds that failed the gate.
    """
    out = {}
    rows = continuity[continuity["model"] == model]
    for (system, method), group in rows.groupby(["system", "discretization"], sort=False):
        all_seeds = sorted(group["seed"].unique())
        group = learned_rows(group)
        seeds = sorted(group["seed"].unique())
        entry = {"runs": len(seeds), "not_learned": [int(s) for s in all_seeds if s not in seeds]}
        if len(seeds) < min_runs:
            out[pair_key(system, method)] = {**entry, "d": {}, "order": None, "decreasing": None,
                                         "why": f"{len(seeds)} learned run(s), {min_runs} needed"}  # fmt: skip
            continue
        d = group.groupby("tau")["d"].mean().sort_index()  # increasing τ
        below = d[d.index <= 1.0]
        orders = group.groupby("seed")["order"].first()
        notes = group.groupby("seed")["order_note"].first().dropna() if "order_note" in group else pd.Series(dtype=str)
        finite = orders[np.isfinite(orders)]
        entry.update({
            "d": {f"{t:g}": rounded(v, 6) for t, v in d.items()},
            "order": rounded(finite.mean()) if len(finite) else None,
            "order_by_seed": {int(k): rounded(v) for k, v in orders.items()},
            "decreasing": bool(len(below) >= 3 and np.all(np.diff(below.to_numpy()) > 0)),
            "why": "" if len(finite) else (str(notes.iloc[0]) if len(notes) else "no finite order"),
        })  # fmt: skip
        out[pair_key(system, method)] = entry
    return out


def amplitude_growth(sweep: pd.DataFrame, model: str, min_runs: int) -> dict[str, dict]:
    """Per (system, discretization) of ``model``'s learned runs: how its non-convergence grows with the input amplitude a.

    The measure is d at the finest compared level, d(τ₁) with τ₁ the smallest τ above τ_min: what is
    left of the model's τ-dependence next to the finest grid. ``exponent`` q: least-squares slope of
    log d(τ₁, a) against log a over the swept amplitudes, mean over learned seeds (d ∝ a^q). A model
    whose discretization error scales with its input like its output spread has q ≈ 0; S6, whose
    step Δ grows with the input, has q > 0. (At τ = 1, far from τ_min, S6's d saturates at the
    spread of its outputs for large a and stops growing, so the finest level is where convergence is
    judged.) ``exponent_se``: standard error of that mean over seeds (None for one seed).
    ``growth`` = d(τ₁, a_max)/d(τ₁, a_min) (geometric mean over seeds) for reading. None
    when fewer than two amplitudes or ``min_runs`` learned seeds.
    """
    out = {}
    rows = sweep[sweep["model"] == model]
    for (system, method), group in rows.groupby(["system", "discretization"], sort=False):
        group = learned_rows(group)
        seeds = sorted(group["seed"].unique())
        taus = sorted(group["tau"].unique())
        tau_fine = taus[1] if len(taus) >= 2 else math.nan
        group = group[np.isclose(group["tau"], tau_fine)]
        amplitudes = sorted(group["amplitude"].unique())
        entry = {"runs": len(seeds), "tau": rounded(tau_fine, 8), "amplitudes": [float(a) for a in amplitudes],
                 "d_by_amplitude": {f"{a:g}": rounded(v, 6) for a, v in group.groupby("amplitude")["d"].mean().items()}}  # fmt: skip
        per_seed = group.pivot_table(index="seed", columns="amplitude", values="d") if len(group) else pd.DataFrame()
        usable = per_seed[(per_seed > 0).all(axis=1) & np.isfinite(per_seed).all(axis=1)] if len(per_seed) else per_seed
        if len(seeds) < min_runs or len(amplitudes) < 2 or len(usable) < max(1, min_runs):
            entry.update(exponent=None, exponent_se=None, growth=None,
                         why=f"{len(seeds)} learned run(s) ({min_runs} needed), {len(amplitudes)} amplitude(s) (2 needed)")
        else:
            log_a = np.log(np.asarray(amplitudes, dtype=float))
            slopes = [np.polyfit(log_a, np.log(row.to_numpy(dtype=float)), 1)[0] for _, row in usable.iterrows()]
            ratio = usable[amplitudes[-1]] / usable[amplitudes[0]]
            _, slope_se = mean_and_stderr(slopes)  # spread of the exponent over seeds (NaN for one seed)
            entry.update(exponent=rounded(float(np.mean(slopes))), exponent_se=rounded(slope_se),
                         growth=rounded(float(np.exp(np.log(ratio).mean()))), why="")
        out[pair_key(system, method)] = entry
    return out


def relative_rmse_increase_by_seed(errors: pd.DataFrame) -> dict[tuple[str, str, str], dict[int, float]]:
    """Per (model, system, discretization) and learned seed: mean over τ ≠ 1 of rmse(τ)/rmse(1) − 1 (pooled RMSE)."""
    pooled = errors[errors["label"] == "pooled"] if "label" in errors else errors
    pooled = learned_rows(pooled)
    out: dict[tuple[str, str, str], dict[int, float]] = {}
    for (model, system, method, seed), run in pooled.groupby(["model", "system", "discretization", "seed"], sort=False):
        at_1 = run.loc[np.isclose(run["tau"], 1.0), "rmse"]
        away = run.loc[~np.isclose(run["tau"], 1.0), "rmse"]
        if len(at_1) and len(away):
            out.setdefault((model, system, method), {})[int(seed)] = float((away / at_1.iloc[0] - 1.0).mean())
    return out


def paired_difference(a: Mapping[int, float], b: Mapping[int, float], min_seeds: int, se_factor: float) -> dict:
    """Paired-by-seed comparison of a − b: mean, standard error, and the part's verdict.

    supported when mean > se_factor·SE, not supported when mean < −se_factor·SE, inconclusive
    otherwise or with fewer than ``min_seeds`` seeds common to both (SE = sample std / sqrt(n)).
    """
    seeds = sorted(set(a) & set(b))
    diffs = np.array([a[s] - b[s] for s in seeds])
    if len(seeds) < max(2, min_seeds):
        return {"verdict": "inconclusive", "n_seeds": len(seeds), "mean": rounded(diffs.mean()) if len(seeds) else None,
                "se": None, "why": f"{len(seeds)} seed(s) where both learned, {max(2, min_seeds)} needed"}  # fmt: skip
    overflow = [s for s, d in zip(seeds, diffs) if not math.isfinite(d)]
    if overflow:  # e.g. a ratio over an RMSE of 0 at tau = 1: no number to judge by, and no verdict from it
        return {"verdict": "inconclusive", "n_seeds": len(seeds), "mean": None, "se": None,
                "why": f"the difference is not a finite number for seed(s) {', '.join(map(str, overflow))} "
                       "(a ratio over a zero value, or values too large to compute with)"}  # fmt: skip
    mean, se = mean_and_stderr(diffs)
    if not (math.isfinite(mean) and math.isfinite(se)):
        return {"verdict": "inconclusive", "n_seeds": len(seeds), "mean": None, "se": None,
                "why": "the mean difference or its standard error overflows (values too large to compute with)"}
    if mean > se_factor * se:
        verdict, why = "supported", f"mean {mean:.4g} > {se_factor:g} SE ({se:.3g})"
    elif mean < -se_factor * se:
        verdict, why = "not supported", f"mean {mean:.4g} < -{se_factor:g} SE ({se:.3g})"
    else:
        verdict, why = "inconclusive", f"|mean| {abs(mean):.4g} within {se_factor:g} SE ({se:.3g})"
    return {"verdict": verdict, "n_seeds": len(seeds), "mean": rounded(mean), "se": rounded(se), "why": why}
