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
src/contlaws/config.schema.yaml); docs/claims.md states each test in words.

    contlaws claims evaluate C1 --config results/quick/config.resolved.json \\
        --inputs model_continuity=results/quick/refinement_trained/model_continuity.csv \\
                 amplitude_sweep=results/quick/refinement_trained/amplitude_sweep.csv \\
                 numerical_orders=results/quick/refinement_numerical/orders.csv \\
        --out results/quick/claims/C1.json
    contlaws claims list                     # ids, statements, expected inputs

Adding a claim: write ``evaluate_cN`` below the others and decorate it with
``@claim("CN", statement, inputs=(...))``; nothing else changes.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from contlaws.errors import DataFileError, UserError
from contlaws.io import as_flags, read_result_csv
from contlaws.stats import bootstrap_rho, critical_rho, mean_and_stderr, spearman

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


# Columns that name a row of a result table, in the order they are shown in a non-finite report.
ROW_KEYS = ("task", "family", "dataset", "system", "model", "discretization", "mode", "seed", "eta", "amplitude", "tau",
            "label", "stage", "epoch")  # fmt: skip
MAX_ROWS_SHOWN = 5


def non_finite(inputs: Mapping[str, Path], name: str, df: pd.DataFrame, column: str,
               where: pd.Series | None = None, nan_ok: pd.Series | None = None) -> str | None:  # fmt: skip
    """Why ``column`` of input ``name`` is unusable, or None: the rows (of ``where``, default all) whose
    value is NaN, infinite or not a number, naming the file and the rows.

    A claim must not turn such a value into a number: pandas means skip NaN, and comparisons with
    NaN are False, so one NaN would silently change a verdict. ``nan_ok`` marks rows whose NaN is
    part of the table's meaning (e.g. an order that could not be fitted, with its reason); an
    infinite value is never accepted.
    """
    values = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if nan_ok is not None:
        # Only a real NaN (empty cell or "nan") is accepted there, not text that is no number at all.
        is_nan = df[column].map(lambda v: (isinstance(v, float) and math.isnan(v)) or str(v).strip().lower() in ("nan", "", "<na>"))
        bad &= ~(is_nan.to_numpy(dtype=bool) & nan_ok.to_numpy(dtype=bool))
    if where is not None:
        bad &= where.to_numpy(dtype=bool)
    if not bad.any():
        return None
    keys = [k for k in ROW_KEYS if k in df.columns and k != column]
    rows = df[bad].head(MAX_ROWS_SHOWN)
    # CSV line numbers count the header as line 1.
    shown = [f"line {i + 2} ({', '.join(f'{k}={r[k]}' for k in keys if not pd.isna(r[k]) and str(r[k]) != '')}: "
             f"{r[column]})" for i, r in rows.iterrows()]  # fmt: skip
    more = f" and {bad.sum() - len(rows)} more" if bad.sum() > len(rows) else ""
    return f"{inputs[name]} (input '{name}'): {column} is NaN, inf or not a number on {'; '.join(shown)}{more}"


def inconclusive_for_non_finite(problems: Sequence[str], thresholds: Mapping[str, Any]) -> dict:
    """The verdict record of a claim whose inputs hold NaN or infinite metrics: inconclusive, the reason
    naming each file, column and row (nothing is computed from the other rows)."""
    return {
        "verdict": "inconclusive",
        "numbers": {"non_finite_inputs": len(problems)},
        "details": {"non_finite": list(problems)},
        "explanation": ("Inconclusive: an input holds NaN or infinite values where the claim needs numbers, so no "
                        "verdict is computed (a mean would skip them silently). " + " ".join(problems)
                        + ". Rerun or repair the job that wrote the table."),
        "thresholds": dict(thresholds),
    }


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
            out[_key(system, method)] = {**entry, "d": {}, "order": None, "decreasing": None,
                                         "why": f"{len(seeds)} learned run(s), {min_runs} needed"}  # fmt: skip
            continue
        d = group.groupby("tau")["d"].mean().sort_index()  # increasing τ
        below = d[d.index <= 1.0]
        orders = group.groupby("seed")["order"].first()
        notes = group.groupby("seed")["order_note"].first().dropna() if "order_note" in group else pd.Series(dtype=str)
        finite = orders[np.isfinite(orders)]
        entry.update({
            "d": {f"{t:g}": _r(v, 6) for t, v in d.items()},
            "order": _r(finite.mean()) if len(finite) else None,
            "order_by_seed": {int(k): _r(v) for k, v in orders.items()},
            "decreasing": bool(len(below) >= 3 and np.all(np.diff(below.to_numpy()) > 0)),
            "why": "" if len(finite) else (str(notes.iloc[0]) if len(notes) else "no finite order"),
        })  # fmt: skip
        out[_key(system, method)] = entry
    return out


def amplitude_growth(sweep: pd.DataFrame, model: str, min_runs: int) -> dict[str, dict]:
    """Per (system, discretization) of ``model``'s learned runs: how its non-convergence grows with the input amplitude a.

    The measure is d at the finest compared level, d(τ₁) with τ₁ the smallest τ above τ_min: what is
    left of the model's τ-dependence next to the finest grid. ``exponent`` q: least-squares slope of
    log d(τ₁, a) against log a over the swept amplitudes, mean over learned seeds (d ∝ a^q). A model
    whose discretization error scales with its input like its output spread has q ≈ 0; S6, whose
    step Δ grows with the input, has q > 0. (At τ = 1, far from τ_min, S6's d saturates at the
    spread of its outputs for large a and stops growing, so the finest level is where convergence is
    judged.) ``growth`` = d(τ₁, a_max)/d(τ₁, a_min) (geometric mean over seeds) for reading. None
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
        entry = {"runs": len(seeds), "tau": _r(tau_fine, 8), "amplitudes": [float(a) for a in amplitudes],
                 "d_by_amplitude": {f"{a:g}": _r(v, 6) for a, v in group.groupby("amplitude")["d"].mean().items()}}  # fmt: skip
        per_seed = group.pivot_table(index="seed", columns="amplitude", values="d") if len(group) else pd.DataFrame()
        usable = per_seed[(per_seed > 0).all(axis=1) & np.isfinite(per_seed).all(axis=1)] if len(per_seed) else per_seed
        if len(seeds) < min_runs or len(amplitudes) < 2 or len(usable) < max(1, min_runs):
            entry.update(exponent=None, growth=None,
                         why=f"{len(seeds)} learned run(s) ({min_runs} needed), {len(amplitudes)} amplitude(s) (2 needed)")
        else:
            log_a = np.log(np.asarray(amplitudes, dtype=float))
            slopes = [np.polyfit(log_a, np.log(row.to_numpy(dtype=float)), 1)[0] for _, row in usable.iterrows()]
            ratio = usable[amplitudes[-1]] / usable[amplitudes[0]]
            entry.update(exponent=_r(float(np.mean(slopes))), growth=_r(float(np.exp(np.log(ratio).mean()))), why="")
        out[_key(system, method)] = entry
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
        return {"verdict": "inconclusive", "n_seeds": len(seeds), "mean": _r(diffs.mean()) if len(seeds) else None,
                "se": None, "why": f"{len(seeds)} seed(s) where both learned, {max(2, min_seeds)} needed"}  # fmt: skip
    mean, se = mean_and_stderr(diffs)
    if mean > se_factor * se:
        verdict, why = "supported", f"mean {mean:.4g} > {se_factor:g} SE ({se:.3g})"
    elif mean < -se_factor * se:
        verdict, why = "not supported", f"mean {mean:.4g} < -{se_factor:g} SE ({se:.3g})"
    else:
        verdict, why = "inconclusive", f"|mean| {abs(mean):.4g} within {se_factor:g} SE ({se:.3g})"
    return {"verdict": verdict, "n_seeds": len(seeds), "mean": _r(mean), "se": _r(se), "why": why}


# ---------------------------------------------------------------------------------------------
# C1
# ---------------------------------------------------------------------------------------------
@claim(
    "C1",
    "Model continuity is convergence under temporal refinement, and S4 is continuous.",
    inputs=("model_continuity", "amplitude_sweep", "numerical_orders"),
)
def evaluate_c1(inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """C1: trained S4D outputs converge as τ → 0, whatever the input amplitude; discretized S4 converges at its nominal order.

    Only runs that passed the E2 learning gate (column ``learned``) count; a (system,
    discretization) with fewer than ``claims.min_learned_runs`` of them is inconclusive.

    (a) E2 trained S4D, every system and discretization: the seed-mean d(τ) falls at every step down
        in τ ≤ 1 and the fitted order p (log-log slope of the successive differences over ≥ 3
        levels) is ≥ ``claims.s4_order_min``; inconclusive when no order could be fitted.
    (b) E1, every discretization and amplitude: |p_S4 − nominal| ≤ ``claims.s4_numerical_order_tol``
        for the orders of both error measures; nominal is set by the input hold (:func:`nominal_s4_order`).
    (c) E2 amplitude sweep: trained S4D's d at the finest compared level grows at most like a^q,
        q = ``claims.s4d_amplitude_exponent_max``, with the input amplitude a (:func:`amplitude_growth`),
        on every system and discretization.
    """
    thr = cfg["claims"]
    order_min, tol = float(thr["s4_order_min"]), float(thr["s4_numerical_order_tol"])
    exponent_max, min_runs = float(thr["s4d_amplitude_exponent_max"]), int(thr["min_learned_runs"])
    hold = cfg["refinement_numerical"]["input_hold"]
    nominal = nominal_s4_order(hold)

    thresholds = {"s4_order_min": order_min, "s4_numerical_order_tol": tol,
                  "s4d_amplitude_exponent_max": exponent_max, "min_learned_runs": min_runs}  # fmt: skip

    continuity = read_csv_input(inputs, "model_continuity", ["system", "model", "discretization", "seed", "tau", "d",
                                                             "order", "learned"])  # fmt: skip
    orders = read_csv_input(inputs, "numerical_orders", ["model", "discretization", "amplitude", "order_max_error", "order_rmse"])
    sweep = read_csv_input(inputs, "amplitude_sweep", ["system", "model", "discretization", "seed", "amplitude", "tau",
                                                       "d", "learned"])  # fmt: skip
    # An order is NaN by design when it could not be fitted, and then order_note says why.
    order_explained = continuity["order_note"].astype("string").fillna("").str.strip() != "" if "order_note" in continuity \
        else pd.Series(False, index=continuity.index)  # fmt: skip
    problems = [p for p in (
        non_finite(inputs, "model_continuity", continuity, "tau"),
        non_finite(inputs, "model_continuity", continuity, "d"),
        non_finite(inputs, "model_continuity", continuity, "order", nan_ok=order_explained),
        non_finite(inputs, "numerical_orders", orders, "amplitude"),
        non_finite(inputs, "numerical_orders", orders, "order_max_error"),
        non_finite(inputs, "numerical_orders", orders, "order_rmse"),
        non_finite(inputs, "amplitude_sweep", sweep, "amplitude"),
        non_finite(inputs, "amplitude_sweep", sweep, "tau"),
        non_finite(inputs, "amplitude_sweep", sweep, "d"),
    ) if p]  # fmt: skip
    if problems:
        return inconclusive_for_non_finite(problems, thresholds)

    trained = continuity_summary(continuity, "s4d", min_runs)
    # Pairs (system, discretization) without enough learned runs carry no evidence: left out, listed.
    excluded = {k: v["why"] for k, v in trained.items() if v["runs"] < min_runs}
    per_pair_a = {}
    for key, v in trained.items():
        if key in excluded:
            continue
        if v["order"] is None:
            per_pair_a[key] = "inconclusive"
        else:
            per_pair_a[key] = "supported" if v["decreasing"] and v["order"] >= order_min else "not supported"
    part_a = combine(list(per_pair_a.values())) if per_pair_a else "inconclusive"

    s4 = orders[orders["model"] == "s4"]
    numerical = {
        _key(r.discretization, f"a={r.amplitude:g}"): [_r(r.order_max_error), _r(r.order_rmse)] for r in s4.itertuples()
    }
    deviation = float(np.abs(s4[["order_max_error", "order_rmse"]].to_numpy() - nominal).max()) if len(s4) else math.nan
    part_b = "inconclusive" if not len(s4) else ("supported" if deviation <= tol else "not supported")

    growth = amplitude_growth(sweep, "s4d", min_runs)
    per_pair_c = {k: "inconclusive" if v["exponent"] is None else
                  ("supported" if v["exponent"] <= exponent_max else "not supported")
                  for k, v in growth.items() if v["runs"] >= min_runs}  # fmt: skip
    part_c = combine(list(per_pair_c.values())) if per_pair_c else "inconclusive"

    verdict = combine([part_a, part_b, part_c])
    s6 = continuity_summary(continuity, "s6", min_runs)
    s6_growth = amplitude_growth(sweep, "s6", min_runs)
    s4_orders = [v["order"] for v in trained.values() if v["order"] is not None]
    s4_exponents = [v["exponent"] for v in growth.values() if v["exponent"] is not None]
    learned_pairs = sum(v["runs"] >= min_runs for v in trained.values())
    numbers = {
        "e2_s4d_learned_pairs": f"{learned_pairs} of {len(trained)}",
        "e2_s4d_order_min": _r(min(s4_orders)) if s4_orders else None,
        "e2_s4d_all_decreasing": all(bool(v["decreasing"]) for v in trained.values()) if trained else None,
        "e2_s4d_d_tau1_max": _r(max((v["d"].get("1", math.nan) for v in trained.values() if v["d"]), default=math.nan), 6),
        "e2_s4d_amplitude_exponent_max": _r(max(s4_exponents)) if s4_exponents else None,
        "e2_s6_amplitude_exponent_for_contrast": _r(min((v["exponent"] for v in s6_growth.values() if v["exponent"] is not None),
                                                        default=math.nan)),  # fmt: skip
        "e2_s6_order_min_for_contrast": _r(min((v["order"] for v in s6.values() if v["order"] is not None), default=math.nan)),
        "e1_s4_order_max_deviation": _r(deviation),
        "e1_s4_nominal_order": nominal,
        "part_a_trained": part_a,
        "part_b_numerical": part_b,
        "part_c_amplitude": part_c,
    }
    details = {"e1_input_hold": hold, "e2_s4d": trained, "e2_s4d_parts": per_pair_a, "e2_s4d_amplitude": growth,
               "e2_excluded_not_learned": excluded,
               "e2_s6_for_contrast": s6, "e2_s6_amplitude_for_contrast": s6_growth,
               "e1_s4_orders_max_error_rmse": numerical}  # fmt: skip
    why_a = "; ".join(f"{k}: {v['why']}" for k, v in trained.items() if v.get("why")) or "none"
    if not per_pair_a:
        why_a += " (no S4D system/discretization with enough learned runs)"
    explanation = (
        f"Only runs that passed the E2 learning gate count ({numbers['e2_s4d_learned_pairs']} S4D system/discretization "
        f"pairs with >= {min_runs} learned run(s)). (a) Trained S4D (E2): d(tau) must fall at every refinement step tau "
        f"<= 1 and its fitted order (slope of the successive differences over >= 3 levels) be >= {order_min} on every "
        f"system and discretization: {part_a} (smallest order {numbers['e2_s4d_order_min']}; missing: {why_a}). "
        f"(b) Discretized S4 (E1): convergence orders must be within {tol} of {nominal} (the order of the "
        f"'{hold}' input hold, for ZOH and bilinear alike) at every amplitude: {part_b} "
        f"(largest deviation {numbers['e1_s4_order_max_deviation']}). (c) Amplitude sweep (E2, evaluation only): "
        f"S4D's d at the finest compared tau may grow at most like a^{exponent_max} with the input amplitude a (log-log slope over the "
        f"swept amplitudes): {part_c} (largest exponent {numbers['e2_s4d_amplitude_exponent_max']}; S6 for contrast "
        f"{numbers['e2_s6_amplitude_exponent_for_contrast']}). Verdict: {verdict}."
    )
    return {"verdict": verdict, "numbers": numbers, "details": details, "explanation": explanation,
            "thresholds": thresholds}


# ---------------------------------------------------------------------------------------------
# C2
# ---------------------------------------------------------------------------------------------
@claim(
    "C2",
    "S6 (the core of Mamba) is not reliably continuous: it is sensitive to input amplitude and its selective step.",
    inputs=("numerical_errors", "errors", "amplitude_sweep"),
)
def evaluate_c2(inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """C2: S6's error grows with the input amplitude (E1 and trained), and trained S6 degrades more than S4D.

    Only E2 runs that passed the learning gate count.

    (a) E1, each discretization: at the finest τ, the per-system ratio of S6's relative max error at
        the largest amplitude to that at the smallest; its median over the random systems must be
        ≥ ``claims.s6_amplitude_ratio_min`` (median and range recorded; S4's for contrast).
    (b) E2 amplitude sweep: trained S6's d at the finest compared level grows at least like a^q,
        q = ``claims.s6_amplitude_exponent_min``, with the input amplitude a (:func:`amplitude_growth`):
        supported when on every system and
        discretization, not supported when on none, inconclusive when mixed or too few learned runs.
    (c) E2 degradation: per seed where both learned, S6's relative RMSE increase away from τ = 1
        (mean over τ ≠ 1 of rmse(τ)/rmse(1) − 1, pooled standardized RMSE) minus S4D's; the mean
        difference must exceed ``claims.paired_se`` standard errors over ≥ ``claims.paired_min_seeds``
        seeds (below −that: not supported; else inconclusive). Combined over pairs as (b).
    """
    from contlaws.experiments.refinement_numerical import amplitude_ratio_summary, amplitude_ratios

    thr = cfg["claims"]
    ratio_min, exponent_min = float(thr["s6_amplitude_ratio_min"]), float(thr["s6_amplitude_exponent_min"])
    min_runs, min_seeds, se_factor = int(thr["min_learned_runs"]), int(thr["paired_min_seeds"]), float(thr["paired_se"])
    thresholds = {"s6_amplitude_ratio_min": ratio_min, "s6_amplitude_exponent_min": exponent_min,
                  "min_learned_runs": min_runs, "paired_min_seeds": min_seeds, "paired_se": se_factor}  # fmt: skip

    e1 = read_csv_input(inputs, "numerical_errors", ["system", "model", "discretization", "amplitude", "tau", "rel_max_error"])
    sweep = read_csv_input(inputs, "amplitude_sweep", ["system", "model", "discretization", "seed", "amplitude", "tau",
                                                       "d", "learned"])  # fmt: skip
    errors = read_csv_input(inputs, "errors", ["system", "model", "discretization", "seed", "tau", "rmse", "learned"])
    problems = [p for p in (
        *(non_finite(inputs, "numerical_errors", e1, c) for c in ("amplitude", "tau", "rel_max_error")),
        *(non_finite(inputs, "amplitude_sweep", sweep, c) for c in ("amplitude", "tau", "d")),
        *(non_finite(inputs, "errors", errors, c) for c in ("tau", "rmse")),
    ) if p]  # fmt: skip
    if problems:
        return inconclusive_for_non_finite(problems, thresholds)
    finest_tau = e1["tau"].min() if len(e1) else math.nan
    e1_finest = e1[np.isclose(e1["tau"], finest_tau)] if len(e1) else e1
    ratios = amplitude_ratios(e1_finest) if len(e1) and e1["amplitude"].nunique() >= 2 else pd.DataFrame()
    summary = amplitude_ratio_summary(ratios) if len(ratios) else pd.DataFrame()
    e1_summary = {
        _key(r.model, r.discretization): {"median": _r(r.median), "min": _r(r.min), "max": _r(r.max), "n_systems": int(r.n_systems)}
        for r in summary.itertuples()
    }  # fmt: skip
    e1_per_system = {
        _key(model, method): {str(int(r.system)) if str(r.system).isdigit() else str(r.system): _r(r.ratio)
                              for r in group.itertuples()}
        for (model, method), group in (ratios.groupby(["model", "discretization"], sort=False) if len(ratios) else [])
    }  # fmt: skip
    s6_e1 = {k: v for k, v in e1_summary.items() if k.startswith("s6/")}
    if not s6_e1:
        part_a = "inconclusive"
    else:
        part_a = "supported" if all(v["median"] >= ratio_min for v in s6_e1.values()) else "not supported"

    growth = amplitude_growth(sweep, "s6", min_runs)
    excluded = {k: v["why"] for k, v in growth.items() if v["runs"] < min_runs}
    per_pair_b = {k: "inconclusive" if v["exponent"] is None else
                  ("supported" if v["exponent"] >= exponent_min else "not supported")
                  for k, v in growth.items() if k not in excluded}  # fmt: skip
    part_b = combine_across(list(per_pair_b.values()))

    increase = relative_rmse_increase_by_seed(errors)
    pairs = sorted({(system, method) for _, system, method in
                    errors[["model", "system", "discretization"]].drop_duplicates().itertuples(index=False)})  # fmt: skip
    comparison = {}
    for system, method in pairs:
        s6_runs, s4_runs = increase.get(("s6", system, method), {}), increase.get(("s4d", system, method), {})
        comparison[_key(system, method)] = {
            **paired_difference(s6_runs, s4_runs, min_seeds, se_factor),
            "s6_by_seed": {k: _r(v) for k, v in s6_runs.items()}, "s4d_by_seed": {k: _r(v) for k, v in s4_runs.items()},
        }  # fmt: skip
    # A pair where S6 and S4D never both learned carries no evidence: left out, listed.
    excluded.update({k: v["why"] for k, v in comparison.items() if v["n_seeds"] == 0})
    part_c = combine_across([v["verdict"] for k, v in comparison.items() if v["n_seeds"] > 0])

    verdict = combine([part_a, part_b, part_c])
    s4_e1 = {k: v for k, v in e1_summary.items() if k.startswith("s4/")}
    s6_exponents = [v["exponent"] for v in growth.values() if v["exponent"] is not None]
    s4_growth = amplitude_growth(sweep, "s4d", min_runs)
    numbers = {
        "e1_s6_amplitude_ratio_median": _r(min(v["median"] for v in s6_e1.values())) if s6_e1 else None,
        "e1_s6_amplitude_ratio_range": (f"{min(v['min'] for v in s6_e1.values()):.3g}-{max(v['max'] for v in s6_e1.values()):.3g}"
                                        if s6_e1 else None),  # fmt: skip
        "e1_s6_n_systems": max((v["n_systems"] for v in s6_e1.values()), default=0),
        "e1_s4_amplitude_ratio_median": _r(max(v["median"] for v in s4_e1.values())) if s4_e1 else None,
        "e2_s6_amplitude_exponent_min": _r(min(s6_exponents)) if s6_exponents else None,
        "e2_s4d_amplitude_exponent_max": _r(max((v["exponent"] for v in s4_growth.values() if v["exponent"] is not None),
                                                default=math.nan)),  # fmt: skip
        "e2_s6_minus_s4d_increase": ", ".join(f"{k} {v['mean']} ± {v['se'] if v['se'] is not None else 'n/a'} SE (n={v['n_seeds']})"
                                              for k, v in comparison.items()) or None,  # fmt: skip
        "part_a_numerical": part_a,
        "part_b_amplitude": part_b,
        "part_c_degradation": part_c,
    }
    details = {
        "e1_amplitude_ratio_at_finest_tau": e1_summary,
        "e1_amplitude_ratio_per_system": e1_per_system,
        "e1_finest_tau": _r(finest_tau, 8),
        "e2_s6_amplitude": growth,
        "e2_s4d_amplitude_for_contrast": s4_growth,
        "e2_relative_rmse_increase": comparison,
        "e2_excluded_not_learned": excluded,
    }
    e1_text = "; ".join(f"{k} median {v['median']}, range {v['min']}-{v['max']} over {v['n_systems']} systems"
                        for k, v in e1_summary.items()) or "no data"  # fmt: skip
    s6_text = ", ".join(f"{k} {v['exponent']} (x{v['growth']})" for k, v in growth.items()) or "n/a"
    s4_text = ", ".join(f"{k} {v['exponent']} (x{v['growth']})" for k, v in s4_growth.items()) or "n/a"
    c_text = "; ".join(f"{k}: {v['why']}" for k, v in comparison.items()) or "no pairs"
    explanation = (
        f"(a) Discretized S6 (E1): per random system, error at the largest amplitude / error at the smallest at the "
        f"finest tau; the median over systems must be >= {ratio_min} for every discretization: {part_a} ({e1_text}). "
        f"(b) Trained S6, amplitude sweep (learned runs only): d at the finest compared tau must grow at least like a^{exponent_min} with "
        f"the input amplitude a on every system: {part_b} (exponent and growth over the sweep {s6_text}; S4D for "
        f"contrast {s4_text}). "
        f"(c) Trained S6 vs S4D: relative RMSE increase away from tau = 1, S6 minus S4D paired by seed, must exceed "
        f"{se_factor:g} standard errors over >= {min_seeds} seeds where both learned: {part_c} ({c_text}). "
        f"Left out as not learned: {'; '.join(f'{k} ({v})' for k, v in excluded.items()) or 'none'}. Verdict: {verdict}."
    )
    return {"verdict": verdict, "numbers": numbers, "details": details, "explanation": explanation,
            "thresholds": thresholds}


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
    n_se = float(cfg["claims"]["c3_se"])
    tc = read_csv_input(inputs, "task_continuity", ["family", "dataset", "system", "eta", "tc", "tc_stderr"])
    in_family = tc["family"] == "forecasting"
    problems = [p for p in (
        non_finite(inputs, "task_continuity", tc, "tc"),
        non_finite(inputs, "task_continuity", tc, "eta", where=in_family),
        # A standard error is NaN when a single sequence was scored (no spread); never infinite.
        non_finite(inputs, "task_continuity", tc, "tc_stderr", where=in_family, nan_ok=pd.Series(True, index=tc.index)),
    ) if p]  # fmt: skip
    if problems:
        return inconclusive_for_non_finite(problems, {"tc_separation_min": sep_min, "c3_se": n_se})
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
C4_MIN_N = 4  # fewer datasets: no one-sided exact test can reach alpha = 0.05 (1/3! = 0.17)


@claim(
    "C4",
    "Task continuity aligns with performance: the more continuous the task, the larger the advantage of the "
    "continuous-time model (S4D) over attention baselines.",
    inputs=("alignment", "advantages_by_seed"),
)
def evaluate_c4(inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """C4: Spearman ρ between TC and A = ln(RMSE_ref / RMSE_S4D) over the E3 datasets.

    A dataset counts when S4D and an attention baseline both learned there (past their E3 gate) on
    at least ``claims.paired_min_seeds`` paired seeds. ρ comes with a two-level bootstrap interval
    (datasets, then seeds within a dataset; ``claims.bootstrap_samples`` replicates, seeded by the
    run's seed): its one-sided bounds at level 1 − α are the α and 1 − α quantiles.

    Supported when ρ ≥ ``claims.rank_correlation_min``, ρ > 0 is significant (one-sided exact or t
    p ≤ α) and the bootstrap lower bound is above 0; not supported when the bootstrap upper bound is
    below ``claims.rank_correlation_min`` (the data rule out a correlation as strong as the claim
    needs); inconclusive otherwise, in particular with fewer than :data:`C4_MIN_N` datasets that count.
    S6's ρ is reported for contrast.
    """
    claims_cfg = cfg["claims"]
    rho_min = float(claims_cfg["rank_correlation_min"])
    alpha = float(claims_cfg["rank_correlation_alpha"])
    min_seeds = int(claims_cfg["paired_min_seeds"])
    n_boot = int(claims_cfg["bootstrap_samples"])
    table = read_csv_input(inputs, "alignment", ["system", "eta", "tc", "reference_model", "advantage_s4d",
                                                  "advantage_s4d_se", "n_seeds_s4d", "advantage_s6", "note"])  # fmt: skip
    seeds = read_csv_input(inputs, "advantages_by_seed", ["system", "eta", "model", "seed", "advantage"])
    thresholds = {"rank_correlation_min": rho_min, "rank_correlation_alpha": alpha, "paired_min_seeds": min_seeds,
                  "bootstrap_samples": n_boot}  # fmt: skip
    # An advantage is NaN by design where no seed paired (n_seeds 0), its SE where fewer than two did.
    paired = pd.to_numeric(table["n_seeds_s4d"], errors="coerce")
    problems = [p for p in (
        non_finite(inputs, "alignment", table, "tc"),
        non_finite(inputs, "alignment", table, "eta"),
        non_finite(inputs, "alignment", table, "n_seeds_s4d"),
        non_finite(inputs, "alignment", table, "advantage_s4d", nan_ok=paired < 1),
        non_finite(inputs, "alignment", table, "advantage_s4d_se", nan_ok=paired < 2),
        non_finite(inputs, "alignment", table, "advantage_s6", nan_ok=pd.Series(True, index=table.index)),
        non_finite(inputs, "advantages_by_seed", seeds, "eta"),
        non_finite(inputs, "advantages_by_seed", seeds, "advantage"),
    ) if p]  # fmt: skip
    if problems:
        return inconclusive_for_non_finite(problems, thresholds)
    table["note"] = table["note"].astype("string").fillna("")
    finite = np.isfinite(table["tc"]) & np.isfinite(table["advantage_s4d"])
    enough = table["n_seeds_s4d"] >= min_seeds
    usable = table[finite & enough].reset_index(drop=True)
    excluded = {_key(r.system, f"eta={r.eta:g}"): "; ".join(filter(None, [f"{int(r.n_seeds_s4d)} paired seed(s) where S4D "
                f"and the reference learned, {min_seeds} needed", r.note])) for r in table[~(finite & enough)].itertuples()}  # fmt: skip
    n = len(usable)
    stats = spearman(usable["tc"], usable["advantage_s4d"])
    contrast = spearman(table["tc"], table["advantage_s6"])
    rho = stats["rho"]
    s4d_seeds = seeds[seeds["model"] == "s4d"]
    per_dataset = [s4d_seeds[(s4d_seeds["system"] == r.system) & np.isclose(s4d_seeds["eta"], r.eta)]["advantage"]
                   .to_numpy(dtype=float) for r in usable.itertuples()]  # fmt: skip
    boot = (bootstrap_rho(usable["tc"].to_numpy(dtype=float), per_dataset, n_boot, int(cfg["seed"]))
            if n >= C4_MIN_N else np.array([]))  # fmt: skip
    low, high = (float(np.quantile(boot, alpha)), float(np.quantile(boot, 1 - alpha))) if len(boot) else (math.nan, math.nan)
    needed = critical_rho(n, alpha) if n >= 3 else math.nan

    readout = cfg["eta_performance"]["readout"]
    if readout != "causal":
        # The authors' readout (mean over time) with a Transformer without mask or positions is
        # permutation-invariant: an order-blind reference says nothing about continuity.
        verdict = "inconclusive"
        why = f"E3 ran with eta_performance.readout = {readout!r}: the attention reference is order-blind"
    elif n < C4_MIN_N or not math.isfinite(rho):
        verdict = "inconclusive"
        why = (f"only n = {n} datasets where S4D and an attention baseline both learned on at least {min_seeds} "
               f"paired seeds (at least {C4_MIN_N} needed; {len(excluded)} excluded)")  # fmt: skip
    elif rho >= rho_min and stats["p_greater"] <= alpha and low > 0:
        verdict, why = "supported", (f"rho >= {rho_min}, significantly positive (p {stats['p_greater']:.3g} <= {alpha}) "
                                     f"and the bootstrap lower bound {low:.3f} is above 0")  # fmt: skip
    elif high < rho_min:
        verdict, why = "not supported", f"the bootstrap upper bound of rho, {high:.3f}, is below {rho_min}"
    else:
        verdict = "inconclusive"
        why = (f"the data do not decide: rho = {rho:.3f} with bootstrap interval [{low:.3f}, {high:.3f}] "
               f"(significance at alpha = {alpha} needs rho >= {needed:.3f} and a lower bound above 0; "
               f"'not supported' needs the upper bound below {rho_min})")  # fmt: skip
    se = usable["advantage_s4d_se"].to_numpy(dtype=float)
    ahead = int((usable["advantage_s4d"] > 2 * se).sum())
    behind = int((usable["advantage_s4d"] < -2 * se).sum())
    numbers = {
        "rho": _r(rho),
        "rho_bootstrap_low": _r(low),
        "rho_bootstrap_high": _r(high),
        "p_one_sided": _r(stats["p_greater"]),
        "n": n,
        "n_excluded": len(excluded),
        "min_paired_seeds": int(usable["n_seeds_s4d"].min()) if n else 0,
        "rho_needed_for_significance": _r(needed),
        "p_method": stats["method"],
        "rho_s6_for_contrast": _r(contrast["rho"]),
        "s4d_ahead_beyond_2se": f"{ahead} of {n}",
        "s4d_behind_beyond_2se": f"{behind} of {n}",
    }
    details = {
        "datasets": {_key(r.system, f"eta={r.eta:g}"): {"tc": _r(r.tc, 6), "advantage_s4d": _r(r.advantage_s4d),
                                                          "advantage_s4d_se": _r(r.advantage_s4d_se),
                                                          "paired_seeds": int(r.n_seeds_s4d), "reference": r.reference_model}
                     for r in usable.itertuples()},
        "excluded": excluded,
        "bootstrap": {"replicates": int(len(boot)), "requested": n_boot, "levels": [alpha, 1 - alpha]},
        "s6_for_contrast": {k: _r(v) if isinstance(v, float) else v for k, v in contrast.items()},
    }  # fmt: skip
    explanation = (
        f"Spearman rho between TC and the advantage A = ln(RMSE_ref / RMSE_S4D) of S4D over the best attention "
        f"baseline (both past their learning gate, paired by seed, at least {min_seeds} seeds), over {n} (system, eta) "
        f"datasets ({len(excluded)} excluded): rho = {numbers['rho']}, bootstrap {1 - 2 * alpha:.0%} interval "
        f"[{numbers['rho_bootstrap_low']}, {numbers['rho_bootstrap_high']}], one-sided p = {numbers['p_one_sided']} "
        f"({stats['method']}); S4D ahead beyond 2 SE on {numbers['s4d_ahead_beyond_2se']}, behind on "
        f"{numbers['s4d_behind_beyond_2se']}. {verdict.capitalize()}: {why}. S6 for contrast: rho = {numbers['rho_s6_for_contrast']}."
    )
    return {"verdict": verdict, "numbers": numbers, "details": details, "explanation": explanation,
            "thresholds": thresholds}


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
    mean_d, se_d = mean_and_stderr(differences)
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
        mean_s, se_s = mean_and_stderr(logs)
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
    ``claims.paired_min_seeds`` such seeds is inconclusive (reason recorded). Per task,
    :func:`c5_task_verdict` with k = ``claims.paired_se``, tol = ``claims.subsample_accuracy_tol`` and m =
    :func:`timing_margin` of the timing noise measured on the runs' own epoch times. The claim
    combines the tasks (any not supported -> not supported; all supported -> supported); with no
    continuous task it is inconclusive. Tasks labelled discrete are reported for contrast only.
    Wall-clock numbers go to ``timing`` (not ``numbers``), so the claims table stays byte-identical
    across reruns unless a verdict changes.
    """
    from contlaws.experiments.subsampling import timing_noise

    claims_cfg = cfg["claims"]
    tol = float(claims_cfg["subsample_accuracy_tol"])
    min_seeds = int(claims_cfg["paired_min_seeds"])
    n_se = float(claims_cfg["paired_se"])
    table = read_csv_input(inputs, "table", ["task", "continuity", "task_continuity", "seed", "learned",
                                             "test_accuracy_difference", "test_accuracy_subsampled",
                                             "test_accuracy_baseline", "majority_accuracy",
                                             "reached_baseline_best", "speedup_to_reach_seconds"])  # fmt: skip
    curves = read_csv_input(inputs, "curves", ["task", "mode", "seed", "stage", "epoch", "epoch_seconds"])
    thresholds = {"subsample_accuracy_tol": tol, "paired_min_seeds": min_seeds, "paired_se": n_se}
    # speedup_to_reach_seconds is text ("not reached") where the subsampled run never reached the target.
    reached_rows = table["reached_baseline_best"].astype(str) == "yes"
    problems = [p for p in (
        *(non_finite(inputs, "table", table, c) for c in ("task_continuity", "test_accuracy_difference",
                                                         "test_accuracy_subsampled", "test_accuracy_baseline",
                                                         "majority_accuracy")),
        non_finite(inputs, "table", table, "speedup_to_reach_seconds", where=reached_rows),
        non_finite(inputs, "curves", curves, "epoch_seconds"),
    ) if p]  # fmt: skip
    if problems:
        return inconclusive_for_non_finite(problems, thresholds)
    noise = timing_noise(curves)
    margin = timing_margin(noise)
    learned_col = as_flags(table["learned"])

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
        mean_d, se_d = mean_and_stderr(ok["test_accuracy_difference"].tolist())
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
        "thresholds": thresholds,
    }


# ---------------------------------------------------------------------------------------------
# Running a claim
# ---------------------------------------------------------------------------------------------
def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def evaluate_claim(claim_id: str, inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """Run a registered claim on named input files; the verdict record (see the module docstring)."""
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
