"""Verdicts on the paper's claims (C1–C5), computed from this run's result tables.

Every claim is one function ``evaluate_cN(inputs, cfg) -> dict`` registered with :func:`claim`
under its id, the statement it tests and the named input files it reads. It returns

    verdict      "supported" | "not supported" | "inconclusive"
    numbers      the headline numbers the verdict used (scalars; shown in the claims table)
    details      optional: the per-system / per-amplitude numbers behind them
    thresholds   the ``claims.*`` config values it compared them with
    explanation  one paragraph: the test, and why this verdict

and :func:`evaluate_claim` adds the claim id, its statement, the input files (path and sha256) and
provenance. Thresholds come only from the config section ``claims`` (defaults and descriptions in
workflow/schemas/config.schema.yaml); docs/claims.md states each test in words.

    contlaws claims evaluate C1 --config results/quick/config.resolved.json \\
        --inputs model_continuity=results/quick/refinement_trained/model_continuity.csv \\
                 numerical_orders=results/quick/refinement_numerical/orders.csv \\
        --out results/quick/claims/C1.json
    contlaws claims list                     # ids, statements, expected inputs

Adding a claim: write ``evaluate_cN`` below the others and decorate it with
``@claim("CN", statement, inputs=(...))``; nothing else changes.
"""

from __future__ import annotations

import argparse
import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from contlaws.io import DataFileError, read_result_csv

VERDICTS = ("supported", "not supported", "inconclusive")


@dataclass(frozen=True)
class Claim:
    """A registered claim: id, statement, the named inputs its evaluator reads, the evaluator."""

    claim_id: str
    statement: str
    inputs: tuple[str, ...]
    evaluate: Callable[[Mapping[str, Path], Mapping[str, Any]], dict]


CLAIMS: dict[str, Claim] = {}


def claim(claim_id: str, statement: str, inputs: Sequence[str]):
    """Decorator: register ``fn(inputs, cfg) -> {verdict, numbers, thresholds, explanation}`` as ``claim_id``."""

    def register_fn(fn):
        CLAIMS[claim_id] = Claim(claim_id, statement, tuple(inputs), fn)
        return fn

    return register_fn


def combine(parts: Sequence[str]) -> str:
    """Verdict of a claim that needs every part: any part not supported -> not supported; else any
    part inconclusive (or no parts) -> inconclusive; else supported."""
    if "not supported" in parts:
        return "not supported"
    if not parts or "inconclusive" in parts:
        return "inconclusive"
    return "supported"


def read_csv_input(inputs: Mapping[str, Path], name: str, columns: Sequence[str]) -> pd.DataFrame:
    """The CSV given as ``name``; DataFileError naming the file when it is unreadable or lacks columns."""
    return read_result_csv(Path(inputs[name]), columns, what=f"input '{name}'", allow_empty=True)


def _r(x: float, digits: int = 4) -> float | None:
    """Round for the verdict record (None for NaN)."""
    return None if x is None or not math.isfinite(float(x)) else round(float(x), digits)


def _key(*parts) -> str:
    return "/".join(str(p) for p in parts)


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


def s4_continuity_summary(continuity: pd.DataFrame, model: str = "s4d") -> dict[str, dict]:
    """Per (system, discretization) of ``model``: seed-mean d(τ), mean order, whether d falls with τ."""
    out = {}
    rows = continuity[continuity["model"] == model]
    for (system, method), group in rows.groupby(["system", "discretization"], sort=False):
        d = group.groupby("tau")["d"].mean().sort_index()  # increasing τ
        below = d[d.index <= 1.0]  # τ_ref first (d = 0), then up to τ = 1
        orders = group.groupby("seed")["order"].first()
        out[_key(system, method)] = {
            "d": {f"{t:g}": _r(v, 6) for t, v in d.items()},
            # None when fewer than two τ in (τ_ref, 1] (no trend to fit).
            "order": _r(orders.mean()) if len(below) >= 3 and orders.notna().any() else None,
            # d falls as τ falls (toward τ_ref, where it is 0): every step down in τ lowers d.
            "decreasing": bool(len(below) >= 3 and np.all(np.diff(below.to_numpy()) > 0)),
        }
    return out


def relative_rmse_increase(errors: pd.DataFrame) -> dict[str, float]:
    """Per (model, system, discretization): mean over seeds and τ ≠ 1 of rmse(τ)/rmse(1) − 1."""
    out = {}
    for (model, system, method), group in errors.groupby(["model", "system", "discretization"], sort=False):
        by_seed = []
        for _, run in group.groupby("seed"):
            at_1 = run.loc[np.isclose(run["tau"], 1.0), "rmse"]
            away = run.loc[~np.isclose(run["tau"], 1.0), "rmse"]
            if len(at_1) and len(away):
                by_seed.append(float((away / at_1.iloc[0] - 1.0).mean()))
        if by_seed:
            out[_key(model, system, method)] = float(np.mean(by_seed))
    return out


# ---------------------------------------------------------------------------------------------
# C1
# ---------------------------------------------------------------------------------------------
@claim(
    "C1",
    "Model continuity is convergence under temporal refinement, and S4 is continuous.",
    inputs=("model_continuity", "numerical_orders"),
)
def evaluate_c1(inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """C1: trained S4D outputs converge as τ → 0 and discretized S4 converges at its nominal order.

    (a) E2, every system and discretization of the trained S4D: the seed-mean d(τ) falls at every
        step down in τ ≤ 1 and its order p ≥ ``claims.s4_order_min``.
    (b) E1, every discretization and amplitude: |p_S4 − nominal| ≤ ``claims.s4_numerical_order_tol``
        for the orders of both error measures; nominal is set by the input hold
        (:func:`nominal_s4_order`). This also makes S4's convergence amplitude-independent.
    """
    thr = cfg["claims"]
    order_min, tol = float(thr["s4_order_min"]), float(thr["s4_numerical_order_tol"])
    hold = cfg["refinement_numerical"].get("input_hold", "left")
    nominal = nominal_s4_order(hold)

    continuity = read_csv_input(inputs, "model_continuity", ["system", "model", "discretization", "seed", "tau", "d", "order"])
    trained = s4_continuity_summary(continuity, "s4d")
    if not trained or any(v["order"] is None for v in trained.values()):
        part_a = "inconclusive"  # no S4D runs, or too few τ ≤ 1 for a trend
    else:
        ok = [v["decreasing"] and v["order"] >= order_min for v in trained.values()]
        part_a = "supported" if all(ok) else "not supported"

    orders = read_csv_input(inputs, "numerical_orders", ["model", "discretization", "amplitude", "order_max_error", "order_rmse"])
    s4 = orders[orders["model"] == "s4"]
    numerical = {
        _key(r.discretization, f"a={r.amplitude:g}"): [_r(r.order_max_error), _r(r.order_rmse)] for r in s4.itertuples()
    }
    deviation = float(np.abs(s4[["order_max_error", "order_rmse"]].to_numpy() - nominal).max()) if len(s4) else math.nan
    part_b = "inconclusive" if not len(s4) else ("supported" if deviation <= tol else "not supported")

    verdict = combine([part_a, part_b])
    s6 = s4_continuity_summary(continuity, "s6")
    s4_orders = [v["order"] for v in trained.values() if v["order"] is not None]
    numbers = {
        "e2_s4d_order_min": _r(min(s4_orders)) if s4_orders else None,
        "e2_s4d_all_decreasing": all(v["decreasing"] for v in trained.values()) if trained else None,
        "e2_s4d_d_tau1_max": _r(max((v["d"].get("1", math.nan) for v in trained.values()), default=math.nan), 6),
        "e2_s6_d_tau1_min": _r(min((v["d"].get("1", math.nan) for v in s6.values()), default=math.nan), 6),
        "e1_s4_order_max_deviation": _r(deviation),
        "e1_s4_nominal_order": nominal,
        "part_a_trained": part_a,
        "part_b_numerical": part_b,
    }
    details = {"e1_input_hold": hold, "e2_s4d": trained, "e2_s6_for_contrast": s6, "e1_s4_orders_max_error_rmse": numerical}
    explanation = (
        f"(a) Trained S4D (E2): d(tau) must fall at every refinement step tau <= 1 with order >= {order_min} on every "
        f"system and discretization: {part_a} (smallest order {numbers['e2_s4d_order_min']}). "
        f"(b) Discretized S4 (E1): convergence orders must be within {tol} of {nominal} (the order of the "
        f"'{hold}' input hold, for ZOH and bilinear alike) at every amplitude: {part_b} "
        f"(largest deviation {numbers['e1_s4_order_max_deviation']}). Verdict: {verdict}."
    )
    return {"verdict": verdict, "numbers": numbers, "details": details, "explanation": explanation,
            "thresholds": {"s4_order_min": order_min, "s4_numerical_order_tol": tol}}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# C2
# ---------------------------------------------------------------------------------------------
@claim(
    "C2",
    "S6 (the core of Mamba) is not reliably continuous: it is sensitive to input amplitude and its selective step.",
    inputs=("numerical_errors", "errors"),
)
def evaluate_c2(inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """C2: S6's numerical error grows with amplitude, and trained S6 degrades more than S4D away from τ = 1.

    (a) E1, each discretization: at the finest τ, the mean-over-systems relative max error of S6 at
        the largest amplitude divided by that at the smallest is ≥ ``claims.s6_amplitude_ratio_min``
        (a continuous model has ratio ≈ 1 there; S4's is reported for contrast).
    (b) E2, each system and discretization: S6's mean relative RMSE increase away from τ = 1,
        mean over τ ≠ 1 of rmse(τ)/rmse(1) − 1, exceeds S4D's. Supported when it does on every
        pair, not supported when on none, inconclusive when mixed.
    """
    ratio_min = float(cfg["claims"]["s6_amplitude_ratio_min"])
    e1 = read_csv_input(inputs, "numerical_errors", ["model", "discretization", "amplitude", "tau", "rel_max_error"])
    mean = e1.groupby(["model", "discretization", "tau", "amplitude"])["rel_max_error"].mean()
    ratios: dict[str, dict[str, float]] = {}
    for (model, method), series in mean.groupby(level=["model", "discretization"], sort=False):
        table = series.droplevel(["model", "discretization"]).unstack("amplitude").sort_index()  # rows τ, cols a
        by_tau = table[table.columns.max()] / table[table.columns.min()]
        ratios[_key(model, method)] = {f"{t:g}": _r(v) for t, v in by_tau.items()}
    finest = {k: v[min(v, key=float)] for k, v in ratios.items()}
    s6_ratios = {k: v for k, v in finest.items() if k.startswith("s6/")}
    if not s6_ratios or e1["amplitude"].nunique() < 2:
        part_a = "inconclusive"
    else:
        part_a = "supported" if all(v >= ratio_min for v in s6_ratios.values()) else "not supported"

    errors = read_csv_input(inputs, "errors", ["system", "model", "discretization", "seed", "tau", "rmse"])
    increase = relative_rmse_increase(errors)
    comparison = {}
    for key, s6_value in increase.items():
        model, system, method = key.split("/")
        s4_value = increase.get(_key("s4d", system, method))
        if model == "s6" and s4_value is not None:
            comparison[_key(system, method)] = {"s6": _r(s6_value), "s4d": _r(s4_value), "s6_worse": s6_value > s4_value}
    worse = [v["s6_worse"] for v in comparison.values()]
    part_b = "inconclusive" if not worse else ("supported" if all(worse) else "not supported" if not any(worse) else "inconclusive")

    verdict = combine([part_a, part_b])
    s4_ratios = [v for k, v in finest.items() if k.startswith("s4/")]
    numbers = {
        "e1_s6_amplitude_ratio_min": _r(min(s6_ratios.values())) if s6_ratios else None,
        "e1_s4_amplitude_ratio_max": _r(max(s4_ratios)) if s4_ratios else None,
        "e2_s6_worse_than_s4d": f"{sum(worse)} of {len(worse)}",
        "e2_s6_rmse_increase_min": _r(min((v["s6"] for v in comparison.values()), default=math.nan)),
        "e2_s4d_rmse_increase_max": _r(max((v["s4d"] for v in comparison.values()), default=math.nan)),
        "part_a_numerical": part_a,
        "part_b_trained": part_b,
    }
    details = {
        "e1_amplitude_ratio_at_finest_tau": finest,
        "e1_amplitude_ratio_by_tau": ratios,
        "e2_relative_rmse_increase": comparison,
    }
    explanation = (
        f"(a) Discretized S6 (E1): error at the largest amplitude / error at the smallest, at the finest tau, "
        f"must be >= {ratio_min} for every discretization: {part_a} (smallest ratio "
        f"{numbers['e1_s6_amplitude_ratio_min']}; S4 for contrast: "
        f"{', '.join(f'{k} {v}' for k, v in finest.items() if k.startswith('s4/')) or 'n/a'}). "
        f"(b) Trained S6 vs S4D (E2): mean relative RMSE increase away from tau = 1 larger for S6 on "
        f"{numbers['e2_s6_worse_than_s4d']} system/discretization pairs: {part_b}. Verdict: {verdict}."
    )
    return {"verdict": verdict, "numbers": numbers, "details": details, "explanation": explanation,
            "thresholds": {"s6_amplitude_ratio_min": ratio_min}}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# C3
# ---------------------------------------------------------------------------------------------
def eta_family_tc(tc: pd.DataFrame) -> dict[str, pd.Series]:
    """Per system of the E3 family: TC indexed by increasing η (rows ``family == "forecasting"``)."""
    rows = tc[tc["family"] == "forecasting"]
    return {system: group.set_index("eta")["tc"].sort_index() for system, group in rows.groupby("system", sort=False)}


@claim(
    "C3",
    "Task continuity can be measured directly from a dataset's temporal structure: the score orders the "
    "continuity levels of the E3 family and separates smooth from symbolic data.",
    inputs=("task_continuity",),
)
def evaluate_c3(inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """C3: on the E3 family obs = (1 − η)·cont + η·disc, TC falls with η and TC(0) − TC(1) is large.

    (a) For every system, TC decreases at every step of the η grid by more than ``claims.c3_se``
        combined standard errors sqrt(SE_k² + SE_{k+1}²) (needs at least two η); a family whose η adds
        no discontinuity (flat TC) or whose order is shuffled fails it.
    (b) For every system, TC(η = 0) − TC(η = 1) ≥ ``claims.tc_separation_min`` (needs both ends).
    The smallest step between neighbouring η is reported in units of its standard error, to show
    whether the ordering is resolved beyond sampling noise.
    """
    sep_min = float(cfg["claims"]["tc_separation_min"])
    n_se = float(cfg["claims"].get("c3_se", 2.0))
    tc = read_csv_input(inputs, "task_continuity", ["family", "dataset", "system", "eta", "tc", "tc_stderr"])
    family = eta_family_tc(tc)
    stderr = tc[tc["family"] == "forecasting"].set_index(["system", "eta"])["tc_stderr"]

    per_system, steps, separations = {}, [], []
    for system, series in family.items():
        etas, values = series.index.to_numpy(dtype=float), series.to_numpy(dtype=float)
        drops = -np.diff(values)  # TC(η_k) − TC(η_{k+1}), > 0 when decreasing
        noise = np.hypot(stderr[system].reindex(etas[:-1]).to_numpy(), stderr[system].reindex(etas[1:]).to_numpy())
        ends = bool(np.isclose(etas, 0.0).any() and np.isclose(etas, 1.0).any())
        separation = float(values[np.isclose(etas, 0.0)][0] - values[np.isclose(etas, 1.0)][0]) if ends else math.nan
        per_system[system] = {
            "tc": {f"{e:g}": _r(v, 6) for e, v in zip(etas, values)},
            "strictly_decreasing": bool(len(values) >= 2 and np.all(drops > np.nan_to_num(n_se * noise, nan=0.0))),
            "smallest_drop": _r(drops.min(), 6) if len(drops) else None,
            "smallest_drop_in_stderr": _r((drops / noise).min(), 2) if len(drops) and np.all(noise > 0) else None,
            "separation": _r(separation, 6),
        }
        steps += list(drops)
        if ends:
            separations.append(separation)

    enough_etas = bool(family) and all(len(s) >= 2 for s in family.values())
    if not enough_etas:
        part_a = "inconclusive"
    else:
        part_a = "supported" if all(v["strictly_decreasing"] for v in per_system.values()) else "not supported"
    if not family or len(separations) < len(family):
        part_b = "inconclusive"  # η = 0 or η = 1 not on the grid for some system
    else:
        part_b = "supported" if min(separations) >= sep_min else "not supported"
    verdict = combine([part_a, part_b])

    benchmarks = tc[tc["family"] != "forecasting"]
    numbers = {
        "systems": len(family),
        "etas_per_system": min((len(s) for s in family.values()), default=0),
        "all_strictly_decreasing": all(v["strictly_decreasing"] for v in per_system.values()) if per_system else None,
        "smallest_drop": _r(min(steps), 6) if steps else None,
        "separation_min": _r(min(separations), 6) if separations else None,
        "tc_eta0_min": _r(min(float(s[np.isclose(s.index, 0.0)].iloc[0]) for s in family.values()), 6) if separations else None,
        "tc_eta1_max": _r(max(float(s[np.isclose(s.index, 1.0)].iloc[0]) for s in family.values()), 6) if separations else None,
        "part_a_ordering": part_a,
        "part_b_separation": part_b,
    }
    details = {"eta_family": per_system, "other_datasets": {r.dataset: _r(r.tc, 6) for r in benchmarks.itertuples()}}
    explanation = (
        f"(a) On the E3 family obs = (1 - eta) cont + eta disc, TC must fall at every step of the eta grid by more "
        f"than {n_se:g} combined standard errors "
        f"for every system ({numbers['systems']} systems, {numbers['etas_per_system']} eta values): {part_a} "
        f"(smallest drop {numbers['smallest_drop']}). (b) TC(eta=0) - TC(eta=1) must be >= {sep_min} for every "
        f"system: {part_b} (smallest separation {numbers['separation_min']}; TC(eta=0) >= {numbers['tc_eta0_min']}, "
        f"TC(eta=1) <= {numbers['tc_eta1_max']}). Verdict: {verdict}."
    )
    return {"verdict": verdict, "numbers": numbers, "details": details, "explanation": explanation,
            "thresholds": {"tc_separation_min": sep_min, "c3_se": n_se}}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# C4
# ---------------------------------------------------------------------------------------------
C4_DEFAULT_ALPHA = 0.05  # significance level of C4's tests unless the config sets claims.rank_correlation_alpha
C4_MIN_N = 4  # fewer datasets: no one-sided exact test can reach alpha = 0.05 (1/3! = 0.17)


@claim(
    "C4",
    "Task continuity aligns with performance: the more continuous the task, the larger the advantage of the "
    "continuous-time model (S4D) over attention baselines.",
    inputs=("alignment",),
)
def evaluate_c4(inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """C4: Spearman ρ between TC and A = ln(RMSE_ref / RMSE_S4D) over the E3 datasets.

    Supported when ρ ≥ ``claims.rank_correlation_min`` and ρ > 0 is significant (one-sided p ≤ α,
    exact permutation p for small n); not supported when the one-sided (1 − α) upper confidence
    bound of ρ (Fisher z, Bonett–Wright) is below ``claims.rank_correlation_min``; inconclusive
    otherwise, in particular when n < :data:`C4_MIN_N` or n is too small for the observed ρ to be
    significant. S6's ρ is reported for contrast.
    """
    from contlaws.experiments.alignment import critical_rho, rho_upper_bound, spearman

    rho_min = float(cfg["claims"]["rank_correlation_min"])
    alpha = float(cfg["claims"].get("rank_correlation_alpha", C4_DEFAULT_ALPHA))
    table = read_csv_input(inputs, "alignment", ["system", "eta", "tc", "reference_model", "advantage_s4d", "advantage_s6"])
    stats = spearman(table["tc"], table["advantage_s4d"])
    contrast = spearman(table["tc"], table["advantage_s6"])
    rho, n = stats["rho"], stats["n"]
    upper = rho_upper_bound(rho, n, alpha)
    needed = critical_rho(n, alpha) if n >= 3 else math.nan

    if n < C4_MIN_N or not math.isfinite(rho):
        verdict, why = "inconclusive", f"only n = {n} datasets with both a TC and an advantage (at least {C4_MIN_N} needed)"
    elif rho >= rho_min and stats["p_greater"] <= alpha:
        verdict, why = "supported", f"rho >= {rho_min} and significantly positive (p {stats['p_greater']:.3g} <= {alpha})"
    elif upper < rho_min:
        verdict, why = "not supported", f"the {1 - alpha:.0%} upper confidence bound of rho, {upper:.3f}, is below {rho_min}"
    else:
        verdict = "inconclusive"
        why = (f"n = {n} is too small to decide: significance at alpha = {alpha} needs rho >= {needed:.3f}, and the "
               f"{1 - alpha:.0%} upper confidence bound {upper:.3f} does not rule out rho >= {rho_min}")  # fmt: skip
    usable = table[np.isfinite(table["tc"]) & np.isfinite(table["advantage_s4d"])]
    numbers = {
        "rho": _r(rho),
        "p_one_sided": _r(stats["p_greater"]),
        "p_two_sided": _r(stats["p_two_sided"]),
        "n": n,
        "rho_needed_for_significance": _r(needed),
        "rho_upper_bound": _r(upper),
        "p_method": stats["method"],
        "rho_s6_for_contrast": _r(contrast["rho"]),
        "s4d_ahead": f"{int((usable['advantage_s4d'] > 0).sum())} of {len(usable)}",
    }
    details = {
        "datasets": {_key(r.system, f"eta={r.eta:g}"): {"tc": _r(r.tc, 6), "advantage_s4d": _r(r.advantage_s4d),
                                                          "advantage_s6": _r(r.advantage_s6), "reference": r.reference_model}
                     for r in table.itertuples()},
        "s6_for_contrast": {k: _r(v) if isinstance(v, float) else v for k, v in contrast.items()},
    }  # fmt: skip
    explanation = (
        f"Spearman rho between TC and the advantage A = ln(RMSE_ref / RMSE_S4D) of S4D over the best attention "
        f"baseline, over {n} (system, eta) datasets: rho = {numbers['rho']}, one-sided p = {numbers['p_one_sided']} "
        f"({stats['method']}); S4D ahead on {numbers['s4d_ahead']}. Supported needs rho >= {rho_min} with p <= {alpha}; "
        f"not supported needs the upper confidence bound below {rho_min}. {verdict.capitalize()}: {why}. "
        f"S6 for contrast: rho = {numbers['rho_s6_for_contrast']}."
    )
    return {"verdict": verdict, "numbers": numbers, "details": details, "explanation": explanation,
            "thresholds": {"rank_correlation_min": rho_min, "rank_correlation_alpha": alpha}}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# C5
# ---------------------------------------------------------------------------------------------
def timing_margin(noise: float) -> float:
    """Relative speed-up margin within which C5 calls wall-clock differences noise.

    Twice the measured relative noise of epoch times (:func:`contlaws.experiments.subsampling.timing_noise`),
    never below ``MIN_TIMING_NOISE``; 0.2 when the runs are too short to measure the noise.
    """
    from contlaws.experiments.subsampling import MIN_TIMING_NOISE

    return max(MIN_TIMING_NOISE, 2.0 * noise) if math.isfinite(noise) else 0.2


def paired_mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean of per-seed paired differences and its standard error sd/sqrt(n) (NaN SE for n < 2)."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return math.nan, math.nan
    se = float(arr.std(ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else math.nan
    return float(arr.mean()), se


def c5_task_verdict(differences: Sequence[float], log_speedups: Sequence[float], tol: float, n_se: float,
                    margin: float) -> tuple[str, str, str, str]:  # fmt: skip
    """(verdict, accuracy part, speed part, reason) of one continuous task from its learned seeds.

    Accuracy (paired by seed, d = subsampled − baseline test accuracy): *worse* when mean(d) + k·SE <
    −tol (below the tolerance beyond k standard errors), *no worse* when mean(d) − k·SE ≥ −tol, else
    unresolved. Speed (log of t_baseline / t_subsampled per seed, −inf when the subsampled run never
    reached the target): *faster* when every seed reached it and mean − k·SE > ln(1 + m), *slower*
    when mean + k·SE < −ln(1 + m) or most seeds never reached it, else unresolved. The task is not
    supported when worse or slower, supported when no worse and faster, inconclusive otherwise.
    """
    mean_d, se_d = paired_mean_se(differences)
    if mean_d + n_se * se_d < -tol:
        accuracy = "worse"
    elif mean_d - n_se * se_d >= -tol:
        accuracy = "no worse"
    else:
        accuracy = "unresolved"
    logs = np.asarray(log_speedups, dtype=float)
    reached = np.isfinite(logs)
    bound = math.log1p(margin)
    if reached.sum() * 2 < logs.size:
        speed = "slower"
    elif not reached.all():
        speed = "unresolved"
    else:
        mean_s, se_s = paired_mean_se(logs)
        speed = "faster" if mean_s - n_se * se_s > bound else "slower" if mean_s + n_se * se_s < -bound else "unresolved"
    if accuracy == "worse" or speed == "slower":
        verdict = "not supported"
    elif accuracy == "no worse" and speed == "faster":
        verdict = "supported"
    else:
        verdict = "inconclusive"
    reason = (f"accuracy {accuracy} (mean paired difference {mean_d:+.4f} ± {se_d:.4f} SE, tolerance {tol}), "
              f"speed {speed}")  # fmt: skip
    return verdict, accuracy, speed, reason


@claim(
    "C5",
    "On continuous tasks, coarse-to-fine subsampled training reaches the full-resolution accuracy in less "
    "time and is no less accurate.",
    inputs=("table", "curves"),
)
def evaluate_c5(inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """C5 on the E5 table: per task labelled continuous by its measured TC, paired by seed.

    Only (task, seed) pairs where both runs learned (``learned``: test accuracy above the majority
    class by ``gates.e5_se`` binomial SEs) count; a continuous task with fewer than
    ``claims.c5_min_seeds`` such seeds is inconclusive (reason recorded). Per task,
    :func:`c5_task_verdict` with k = ``claims.c5_se``, tol = ``claims.subsample_accuracy_tol`` and m =
    :func:`timing_margin` of the timing noise measured on the runs' own epoch times. The claim
    combines the tasks (any not supported -> not supported; all supported -> supported); with no
    continuous task it is inconclusive. Tasks labelled discrete are reported for contrast only.
    Wall-clock numbers go to ``timing`` (not ``numbers``), so the claims table stays byte-identical
    across reruns unless a verdict changes.
    """
    from contlaws.experiments.subsampling import timing_noise

    claims_cfg = cfg["claims"]
    tol = float(claims_cfg["subsample_accuracy_tol"])
    min_seeds = int(claims_cfg.get("c5_min_seeds", 3))
    n_se = float(claims_cfg.get("c5_se", 2.0))
    table = read_csv_input(inputs, "table", ["task", "continuity", "task_continuity", "seed", "learned",
                                             "test_accuracy_difference", "test_accuracy_subsampled",
                                             "test_accuracy_baseline", "majority_accuracy",
                                             "reached_baseline_best", "speedup_to_reach_seconds"])  # fmt: skip
    curves = read_csv_input(inputs, "curves", ["task", "mode", "seed", "stage", "epoch", "epoch_seconds"])
    noise = timing_noise(curves)
    margin = timing_margin(noise)
    learned_col = table["learned"].map(lambda v: v if isinstance(v, bool) else str(v).strip().lower() == "true")

    parts, per_task, timing = {}, {}, {}
    for task, rows in table.groupby("task", sort=False):
        ok = rows[learned_col[rows.index]]
        continuity = str(rows["continuity"].iloc[0])
        reached = ok["reached_baseline_best"] == "yes"
        logs = [math.log(float(v)) if r else -math.inf for v, r in zip(ok["speedup_to_reach_seconds"], reached)]
        record = {
            "continuity": continuity,
            "task_continuity": _r(float(rows["task_continuity"].iloc[0])),
            "seeds": len(rows),
            "seeds_learned": len(ok),
            "test_accuracy_subsampled_mean": _r(rows["test_accuracy_subsampled"].mean()),
            "test_accuracy_baseline_mean": _r(rows["test_accuracy_baseline"].mean()),
            "majority_accuracy": _r(rows["majority_accuracy"].mean()),
        }
        if len(ok) < min_seeds:
            verdict, reason = "inconclusive", f"only {len(ok)} of {len(rows)} seeds learned (both runs); {min_seeds} needed"
            accuracy = speed = "not evaluated"
        else:
            verdict, accuracy, speed, reason = c5_task_verdict(ok["test_accuracy_difference"].tolist(), logs, tol, n_se, margin)
        mean_d, se_d = paired_mean_se(ok["test_accuracy_difference"].tolist())
        record.update(verdict=verdict, accuracy=accuracy, reason=reason,
                      test_accuracy_difference_mean=_r(mean_d), test_accuracy_difference_se=_r(se_d),
                      reached=f"{int(reached.sum())} of {len(ok)}")  # fmt: skip
        per_task[task] = record
        timing[task] = {"speed": speed, "speedups": [_r(math.exp(v)) if math.isfinite(v) else None for v in logs]}
        if continuity == "continuous":
            parts[task] = verdict
    verdict = combine(list(parts.values())) if parts else "inconclusive"
    numbers = {
        "continuous_tasks": len(parts),
        "continuous_task_verdicts": ", ".join(f"{list(parts.values()).count(v)} {v}" for v in VERDICTS),
        "continuous_seeds_learned": {t: per_task[t]["seeds_learned"] for t in parts},
        "test_accuracy_difference_mean": {t: per_task[t]["test_accuracy_difference_mean"] for t in parts},
    }
    reasons = "; ".join(f"{t}: {per_task[t]['verdict']} ({per_task[t]['reason']})" for t in parts)
    explanation = (
        f"Tasks labelled continuous by their measured TC (>= task_continuity.continuous_min): "
        f"{', '.join(parts) or 'none in this run, so the claim is inconclusive'}. Per task, only seeds where both "
        f"runs learned (test accuracy > majority class + gates.e5_se binomial SEs) count, at least {min_seeds}; "
        f"differences are paired by seed and count only beyond {n_se:g} standard errors: the subsampled run must be "
        f"no worse than the baseline by more than {tol} and reach the baseline's best validation accuracy with a "
        f"speed-up above 1 + m (timing noise {noise:.3f}, m = {margin:.3f}). {reasons}. Verdict: {verdict}."
    )
    return {
        "verdict": verdict,
        "numbers": numbers,
        "details": {"parts": parts, "tasks": per_task},
        "timing": {"noise": _r(noise), "margin": _r(margin), "tasks": timing},
        "explanation": explanation,
        "thresholds": {"subsample_accuracy_tol": tol, "c5_min_seeds": min_seeds, "c5_se": n_se},
    }


# ---------------------------------------------------------------------------------------------
# Running a claim, command line
# ---------------------------------------------------------------------------------------------
def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def evaluate_claim(claim_id: str, inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """Run a registered claim on named input files; the verdict record (see the module docstring)."""
    from contlaws.cli import UserError

    if claim_id not in CLAIMS:
        raise UserError(f"unknown claim {claim_id!r}; registered: {', '.join(sorted(CLAIMS))}")
    entry = CLAIMS[claim_id]
    missing = [name for name in entry.inputs if name not in inputs]
    unknown = [name for name in inputs if name not in entry.inputs]
    if missing or unknown:
        raise UserError(f"claim {claim_id} reads --inputs {' '.join(n + '=PATH' for n in entry.inputs)}"
                        + (f"; missing: {', '.join(missing)}" if missing else "")
                        + (f"; unknown: {', '.join(unknown)}" if unknown else ""))  # fmt: skip
    for name, path in inputs.items():
        if not Path(path).is_file():
            raise DataFileError(f"{path}: input '{name}' of claim {claim_id} not found")
    result = entry.evaluate(inputs, cfg)
    if result.get("verdict") not in VERDICTS:
        raise ValueError(f"claim {claim_id} returned verdict {result.get('verdict')!r}, not one of {VERDICTS}")
    return {
        "claim": claim_id,
        "statement": entry.statement,
        **result,
        "inputs": {name: {"path": str(path), "sha256": file_sha256(Path(path))} for name, path in sorted(inputs.items())},
    }


def parse_named_path(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name, Path(path)


def cli_evaluate(args: argparse.Namespace) -> None:
    from contlaws.cli import config_from_args
    from contlaws.io import provenance, write_json

    cfg = config_from_args(args)
    record = evaluate_claim(args.claim, dict(args.inputs), cfg)
    record["provenance"] = provenance({"seed": cfg["seed"], "claims": cfg["claims"]}, cfg["seed"], run_name=cfg["run_name"])
    write_json(args.out, record)
    print(f"{record['claim']}: {record['verdict']}\n{record['explanation']}")


def cli_list(args: argparse.Namespace) -> None:
    for entry in CLAIMS.values():
        print(f"{entry.claim_id}: {entry.statement}\n    --inputs {' '.join(n + '=PATH' for n in entry.inputs)}")


def register(subparsers) -> None:
    from contlaws.cli import add_config_argument

    p = subparsers.add_parser("claims", help="verdicts on the paper's claims C1-C5 (docs/claims.md)")
    actions = p.add_subparsers(dest="claims_action", required=True, metavar="ACTION")
    ev = actions.add_parser("evaluate", help="evaluate one claim from result tables, write its verdict JSON")
    ev.add_argument("claim", help="claim id (see `contlaws claims list`)")
    add_config_argument(ev)
    ev.add_argument("--inputs", type=parse_named_path, nargs="+", required=True, metavar="NAME=PATH",
                    help="the claim's named input files")
    ev.add_argument("--out", type=Path, required=True, help="verdict JSON (results/<run>/claims/<claim>.json)")
    ev.set_defaults(func=cli_evaluate)
    ls = actions.add_parser("list", help="registered claims and the inputs each reads")
    ls.set_defaults(func=cli_list)
