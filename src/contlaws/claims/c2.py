"""C2: S6 is not reliably continuous (amplitude sensitivity, degradation against S4D)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from contlaws.claims.measures import amplitude_growth, combine_across, paired_difference, relative_rmse_increase_by_seed
from contlaws.claims.power import paired_power, paired_power_text
from contlaws.claims.registry import (
    NONNEGATIVE,
    POSITIVE,
    RUN_KEY,
    claim,
    combine,
    inconclusive_for_non_finite,
    non_finite,
    pair_key,
    read_csv_input,
    read_sweep,
    rounded,
)


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
    thr = cfg["claims"]
    ratio_min, exponent_min = float(thr["s6_amplitude_ratio_min"]), float(thr["s6_amplitude_exponent_min"])
    min_runs, min_seeds, se_factor = int(thr["min_learned_runs"]), int(thr["paired_min_seeds"]), float(thr["paired_se"])
    thresholds = {"s6_amplitude_ratio_min": ratio_min, "s6_amplitude_exponent_min": exponent_min,
                  "min_learned_runs": min_runs, "paired_min_seeds": min_seeds, "paired_se": se_factor}  # fmt: skip

    e1, sweep, errors, problems = read_c2_inputs(inputs)
    if problems:
        return inconclusive_for_non_finite(problems, thresholds)
    finest_tau, e1_summary, e1_per_system, s6_e1, part_a = c2_part_a_numerical(e1, ratio_min)
    growth, excluded, part_b = c2_part_b_amplitude(sweep, exponent_min, min_runs)
    comparison, part_c = c2_part_c_degradation(errors, excluded, min_seeds, se_factor)

    verdict = combine([part_a, part_b, part_c])
    s4_growth = amplitude_growth(sweep, "s4d", min_runs)
    numbers = c2_numbers(e1_summary, s6_e1, growth, s4_growth, comparison, (part_a, part_b, part_c))
    details = {
        "e1_amplitude_ratio_at_finest_tau": e1_summary,
        "e1_amplitude_ratio_per_system": e1_per_system,
        "e1_finest_tau": rounded(finest_tau, 8),
        "e2_s6_amplitude": growth,
        "e2_s4d_amplitude_for_contrast": s4_growth,
        "e2_relative_rmse_increase": comparison,
        "e2_excluded_not_learned": excluded,
    }
    explanation = c2_explanation(e1_summary, growth, s4_growth, comparison, excluded, thresholds,
                                 (part_a, part_b, part_c), verdict)  # fmt: skip
    power_numbers, power_text = c2_power(growth, comparison, thresholds, (part_b, part_c))
    numbers.update(power_numbers)
    explanation += power_text
    return {"verdict": verdict, "numbers": numbers, "details": details, "explanation": explanation,
            "thresholds": thresholds}


def read_c2_inputs(inputs: Mapping[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list]:
    """The three tables of C2 and the non-finite values found in them."""
    e1 = read_csv_input(inputs, "numerical_errors", ["system", "model", "discretization", "amplitude", "tau", "rel_max_error"],
                        ranges={"amplitude": POSITIVE, "tau": POSITIVE, "rel_max_error": NONNEGATIVE},
                        key=["system", "model", "discretization", "amplitude", "tau"])  # fmt: skip
    sweep = read_sweep(inputs)
    errors = read_csv_input(inputs, "errors", [*RUN_KEY, "tau", "rmse", "learned"],
                            ranges={"tau": POSITIVE, "rmse": NONNEGATIVE}, flags=["learned"],
                            key=[*RUN_KEY, "tau", "label"])  # fmt: skip
    problems = [p for p in (
        *(non_finite(inputs, "numerical_errors", e1, c) for c in ("amplitude", "tau", "rel_max_error")),
        *(non_finite(inputs, "amplitude_sweep", sweep, c) for c in ("amplitude", "tau", "d")),
        *(non_finite(inputs, "errors", errors, c) for c in ("tau", "rmse")),
    ) if p]  # fmt: skip
    return e1, sweep, errors, problems


def c2_part_a_numerical(e1: pd.DataFrame, ratio_min: float) -> tuple[float, dict, dict, dict, str]:
    """(a) discretized S6 (E1): (finest τ, ratio summary per model/discretization, ratios per system,
    the S6 summaries, verdict)."""
    from contlaws.experiments.refinement_numerical import amplitude_ratio_summary, amplitude_ratios
    finest_tau = e1["tau"].min() if len(e1) else math.nan
    e1_finest = e1[np.isclose(e1["tau"], finest_tau)] if len(e1) else e1
    ratios = amplitude_ratios(e1_finest) if len(e1) and e1["amplitude"].nunique() >= 2 else pd.DataFrame()
    summary = amplitude_ratio_summary(ratios) if len(ratios) else pd.DataFrame()
    e1_summary = {
        pair_key(r.model, r.discretization): {"median": rounded(r.median), "min": rounded(r.min), "max": rounded(r.max), "n_systems": int(r.n_systems)}
        for r in summary.itertuples()
    }  # fmt: skip
    e1_per_system = {
        pair_key(model, method): {str(int(r.system)) if str(r.system).isdigit() else str(r.system): rounded(r.ratio)
                              for r in group.itertuples()}
        for (model, method), group in (ratios.groupby(["model", "discretization"], sort=False) if len(ratios) else [])
    }  # fmt: skip
    s6_e1 = {k: v for k, v in e1_summary.items() if k.startswith("s6/")}
    if not s6_e1:
        part_a = "inconclusive"
    else:
        part_a = "supported" if all(v["median"] >= ratio_min for v in s6_e1.values()) else "not supported"
    return finest_tau, e1_summary, e1_per_system, s6_e1, part_a


def c2_part_b_amplitude(sweep: pd.DataFrame, exponent_min: float, min_runs: int) -> tuple[dict, dict, str]:
    """(b) amplitude sweep of trained S6: (growth per pair, pairs left out as not learned and why, verdict)."""
    growth = amplitude_growth(sweep, "s6", min_runs)
    excluded = {k: v["why"] for k, v in growth.items() if v["runs"] < min_runs}
    per_pair_b = {k: "inconclusive" if v["exponent"] is None else
                  ("supported" if v["exponent"] >= exponent_min else "not supported")
                  for k, v in growth.items() if k not in excluded}  # fmt: skip
    part_b = combine_across(list(per_pair_b.values()))
    return growth, excluded, part_b


def c2_part_c_degradation(errors: pd.DataFrame, excluded: dict, min_seeds: int, se_factor: float) -> tuple[dict, str]:
    """(c) S6 minus S4D relative RMSE increase, paired by seed: (comparison per pair, verdict); adds
    the pairs where both never learned to ``excluded``."""
    increase = relative_rmse_increase_by_seed(errors)
    pairs = sorted({(system, method) for _, system, method in
                    errors[["model", "system", "discretization"]].drop_duplicates().itertuples(index=False)})  # fmt: skip
    comparison = {}
    for system, method in pairs:
        s6_runs, s4_runs = increase.get(("s6", system, method), {}), increase.get(("s4d", system, method), {})
        comparison[pair_key(system, method)] = {
            **paired_difference(s6_runs, s4_runs, min_seeds, se_factor),
            "s6_by_seed": {k: rounded(v) for k, v in s6_runs.items()}, "s4d_by_seed": {k: rounded(v) for k, v in s4_runs.items()},
        }  # fmt: skip
    # A pair where S6 and S4D never both learned carries no evidence: left out, listed.
    excluded.update({k: v["why"] for k, v in comparison.items() if v["n_seeds"] == 0})
    part_c = combine_across([v["verdict"] for k, v in comparison.items() if v["n_seeds"] > 0])
    return comparison, part_c


def c2_power(growth: dict, comparison: dict, thresholds: Mapping[str, Any], parts: tuple[str, str]) -> tuple[dict, str]:
    """Power beside the trained-model parts that are not supported (docs/claims.md, "Power"): the
    smallest distance each part's seeds resolve (k SE) and the seeds that would decide its unresolved
    pairs at the observed effect. (b): exponent minus its threshold, SE of the exponent over seeds;
    (c): the paired S6 − S4D difference and its SE. Nothing when both parts are supported."""
    part_b, part_c = parts
    k = thresholds["paired_se"]
    numbers, texts = {}, []
    if part_b != "supported":
        q_min = thresholds["s6_amplitude_exponent_min"]
        items = [(v["exponent"] - q_min, v["exponent_se"], v["runs"]) for v in growth.values() if v["exponent"] is not None]
        power = paired_power(items, k, max(2, thresholds["min_learned_runs"]))
        numbers.update(power_b_exponent_resolvable=power["resolvable"], power_b_seeds_needed=power["seeds_needed"])
        texts.append("(b) " + paired_power_text(power, f"an exponent distance from {q_min:g}", "pair"))
    if part_c != "supported":
        items = [(v["mean"], v["se"], v["n_seeds"]) for v in comparison.values() if v["n_seeds"] > 0]
        power = paired_power(items, k, max(2, thresholds["paired_min_seeds"]))
        numbers.update(power_c_difference_resolvable=power["resolvable"], power_c_seeds_needed=power["seeds_needed"])
        texts.append("(c) " + paired_power_text(power, "a paired difference", "pair"))
    if not texts:
        return {}, ""
    numbers = {key: rounded(v) if isinstance(v, float) else v for key, v in numbers.items()}
    numbers["power"] = "; ".join(texts)
    return numbers, f" Power: {numbers['power']}."


def c2_numbers(e1_summary: dict, s6_e1: dict, growth: dict, s4_growth: dict, comparison: dict,
               parts: tuple[str, str, str]) -> dict:  # fmt: skip
    """The headline numbers of C2 (in the claim file's order)."""
    part_a, part_b, part_c = parts
    s4_e1 = {k: v for k, v in e1_summary.items() if k.startswith("s4/")}
    s6_exponents = [v["exponent"] for v in growth.values() if v["exponent"] is not None]
    return {
        "e1_s6_amplitude_ratio_median": rounded(min(v["median"] for v in s6_e1.values())) if s6_e1 else None,
        "e1_s6_amplitude_ratio_range": (f"{min(v['min'] for v in s6_e1.values()):.3g}-{max(v['max'] for v in s6_e1.values()):.3g}"
                                        if s6_e1 else None),
        "e1_s6_n_systems": max((v["n_systems"] for v in s6_e1.values()), default=0),
        "e1_s4_amplitude_ratio_median": rounded(max(v["median"] for v in s4_e1.values())) if s4_e1 else None,
        "e2_s6_amplitude_exponent_min": rounded(min(s6_exponents)) if s6_exponents else None,
        "e2_s4d_amplitude_exponent_max": rounded(max((v["exponent"] for v in s4_growth.values() if v["exponent"] is not None),
                                                default=math.nan)),
        "e2_s6_minus_s4d_increase": ", ".join(f"{k} {v['mean']} ± {v['se'] if v['se'] is not None else 'n/a'} SE (n={v['n_seeds']})"
                                              for k, v in comparison.items()) or None,
        "part_a_numerical": part_a,
        "part_b_amplitude": part_b,
        "part_c_degradation": part_c,
    }


def c2_explanation(e1_summary: dict, growth: dict, s4_growth: dict, comparison: dict, excluded: dict,
                   thresholds: Mapping[str, Any], parts: tuple[str, str, str], verdict: str) -> str:  # fmt: skip
    """The sentence of C2's claim file: each part's test, verdict and numbers."""
    part_a, part_b, part_c = parts
    ratio_min, exponent_min = thresholds["s6_amplitude_ratio_min"], thresholds["s6_amplitude_exponent_min"]
    min_seeds, se_factor = thresholds["paired_min_seeds"], thresholds["paired_se"]
    e1_text = "; ".join(f"{k} median {v['median']}, range {v['min']}-{v['max']} over {v['n_systems']} systems"
                        for k, v in e1_summary.items()) or "no data"  # fmt: skip
    s6_text = ", ".join(f"{k} {v['exponent']} (x{v['growth']})" for k, v in growth.items()) or "n/a"
    s4_text = ", ".join(f"{k} {v['exponent']} (x{v['growth']})" for k, v in s4_growth.items()) or "n/a"
    c_text = "; ".join(f"{k}: {v['why']}" for k, v in comparison.items()) or "no pairs"
    return (
        f"(a) Discretized S6 (E1): per random system, error at the largest amplitude / error at the smallest at the "
        f"finest tau; the median over systems must be >= {ratio_min} for every discretization: {part_a} ({e1_text}). "
        f"(b) Trained S6, amplitude sweep (learned runs only): d at the finest compared tau must grow at least like a^{exponent_min} with "
        f"the input amplitude a on every system: {part_b} (exponent and growth over the sweep {s6_text}; S4D for "
        f"contrast {s4_text}). "
        f"(c) Trained S6 vs S4D: relative RMSE increase away from tau = 1, S6 minus S4D paired by seed, must exceed "
        f"{se_factor:g} standard errors over >= {min_seeds} seeds where both learned: {part_c} ({c_text}). "
        f"Left out as not learned: {'; '.join(f'{k} ({v})' for k, v in excluded.items()) or 'none'}. Verdict: {verdict}."
    )
