"""C4: task continuity aligns with the continuous model's advantage (Spearman ρ, bootstrap)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from contlaws.claims.power import datasets_needed, rho_detectable, rho_ruled_out
from contlaws.claims.registry import (
    ANY_SIZE,
    ETA_RANGE,
    NONNEGATIVE,
    TC_RANGE,
    claim,
    inconclusive_for_non_finite,
    non_finite,
    pair_key,
    read_csv_input,
    rounded,
)
from contlaws.config import fmt_num
from contlaws.errors import DataFileError
from contlaws.stats import bootstrap_rho, critical_rho, spearman

# ---------------------------------------------------------------------------------------------
# C4
# ---------------------------------------------------------------------------------------------
C4_MIN_N = 4  # fewer datasets: no one-sided exact test can reach alpha = 0.05 (1/3! = 0.17)
# The model whose per-seed advantages C4 resamples (S6's contrast reads the alignment table only).
SEED_MODEL = "s4d"
# What each column of the two tables can hold (optional columns are checked when present).
ALIGNMENT_RANGES = {"eta": ETA_RANGE, "tc": TC_RANGE, "tc_stderr": NONNEGATIVE, "rmse_s4d": NONNEGATIVE,
                    "rmse_s6": NONNEGATIVE, "rmse_reference": NONNEGATIVE, "advantage_s4d": ANY_SIZE,
                    "advantage_s4d_se": NONNEGATIVE, "n_seeds_s4d": NONNEGATIVE, "advantage_s6": ANY_SIZE,
                    "advantage_s6_se": NONNEGATIVE, "n_seeds_s6": NONNEGATIVE}  # fmt: skip
SEED_RANGES = {"eta": ETA_RANGE, "tc": TC_RANGE, "advantage": ANY_SIZE}


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
    table, seeds = read_c4_inputs(inputs)
    thresholds = {"rank_correlation_min": rho_min, "rank_correlation_alpha": alpha, "paired_min_seeds": min_seeds,
                  "bootstrap_samples": n_boot}  # fmt: skip
    problems = c4_non_finite(inputs, table, seeds)
    if problems:
        return inconclusive_for_non_finite(problems, thresholds)
    missing = c4_missing_grid_points(inputs, table, seeds, cfg)
    usable, excluded = c4_usable_datasets(table, min_seeds)
    combine_rule = claims_cfg.get("c4_combine", "pooled")
    if combine_rule != "pooled":  # the default leaves the record as it was before the key existed
        thresholds["c4_combine"] = combine_rule
    contrast = spearman(table["tc"], table["advantage_s6"])
    if combine_rule == "within_system":
        usable, excluded, stats, boot, low, high = c4_within_system(usable, excluded, seeds, n_boot, alpha, int(cfg["seed"]))
        needed = math.nan  # significance from the stratified permutation test, not a critical value
    else:
        stats = spearman(usable["tc"], usable["advantage_s4d"])
        boot, low, high = c4_bootstrap(usable, seeds, n_boot, alpha, int(cfg["seed"]))
        needed = critical_rho(len(usable), alpha) if len(usable) >= 3 else math.nan
    n = len(usable)

    readout = cfg["eta_performance"]["readout"]
    verdict, why = c4_verdict(readout, n, len(excluded), stats, low, high, needed, thresholds)
    outcome = f"{verdict.capitalize()}: {why}"
    if missing:  # a correlation over part of the grid is not the run's correlation, whatever it says
        outcome = f"On the rows present the rule gives {verdict} ({why}), but the grid is incomplete: inconclusive"
        verdict = "inconclusive"
    numbers = c4_numbers(usable, excluded, stats, contrast, low, high, needed)
    numbers["missing_grid_points"] = len(missing)
    details = c4_details(usable, excluded, boot, n_boot, alpha, contrast)
    details["tc_metric"] = str(cfg["task_continuity"]["metric"])  # which TC the alignment table holds
    details["missing_grid_points"] = missing
    if combine_rule == "within_system":
        numbers["combine"] = "within_system"
        details["within_system"] = stats["per_system"]
    lacking = (f"Inconclusive: the alignment tables lack {len(missing)} point(s) of the E3 grid "
               "(eta_performance.systems x forecasting.etas, and the paired seeds each dataset declares among "
               f"eta_performance.seeds): {', '.join(missing)}; rerun `snakemake alignment`. The numbers below use the "
               "rows present. ") if missing else ""  # fmt: skip
    explanation = lacking + (
        ("Within each system, then averaged over systems (stratified bootstrap and permutation test): " if combine_rule ==
         "within_system" else "") +
        f"Spearman rho between TC and the advantage A = ln(RMSE_ref / RMSE_S4D) of S4D over the best attention "
        f"baseline (both past their learning gate, paired by seed, at least {min_seeds} seeds), over {n} (system, eta) "
        f"datasets ({len(excluded)} excluded): rho = {numbers['rho']}, bootstrap {1 - 2 * alpha:.0%} interval "
        f"[{numbers['rho_bootstrap_low']}, {numbers['rho_bootstrap_high']}], one-sided p = {numbers['p_one_sided']} "
        f"({stats['method']}); S4D ahead beyond 2 SE on {numbers['s4d_ahead_beyond_2se']}, behind on "
        f"{numbers['s4d_behind_beyond_2se']}. {outcome}. S6 for contrast: rho = {numbers['rho_s6_for_contrast']}."
    )
    power_numbers, power_text = c4_power(verdict, n, len(table), stats["rho"], rho_min, alpha)
    numbers.update(power_numbers)
    explanation += power_text
    return {"verdict": verdict, "numbers": numbers, "details": details, "explanation": explanation,
            "thresholds": thresholds}


def c4_power(verdict: str, n: int, n_design: int, rho: float, rho_min: float, alpha: float,
             unit: str = "datasets") -> tuple[dict, str]:  # fmt: skip
    """Power beside a verdict that is not supported (docs/claims.md, "Power"): at the n ``unit`` that
    count (C4: datasets, C4(b): tasks), the smallest ρ a one-sided 1 − α interval separates from 0 and the largest ρ whose interval
    rules out ``rho_min`` (Fisher z, SE sqrt(1.06/(n − 3))); for an inconclusive verdict, the datasets
    that would decide at the observed ρ. Nothing for a supported verdict."""
    if verdict == "supported":
        return {}, ""
    level = f"one-sided {1 - alpha:.0%} Fisher-z interval, SE sqrt(1.06/(n-3))"
    if n >= C4_MIN_N:
        detect, ruled = rho_detectable(n, alpha), rho_ruled_out(n, alpha, rho_min)
        text = (f"with n = {n} {unit} the {level} excludes 0 only for rho >= {detect:.3f} and rules out "
                f"{rho_min:g} only for rho <= {ruled:.3f}")  # fmt: skip
    else:
        detect = ruled = math.nan
        text = f"with n = {n} {unit} (fewer than {C4_MIN_N}) no rho is detectable"
        if n_design >= C4_MIN_N:
            text += f"; were all {n_design} {unit} to count, the {level} would exclude 0 for rho >= {rho_detectable(n_design, alpha):.3f}"
    needed = datasets_needed(rho, rho_min, alpha, at_least=C4_MIN_N) if verdict == "inconclusive" else None
    if verdict == "inconclusive":
        text += (f"; at the observed rho = {rho:.3f} about {needed} {unit} would decide" if needed is not None
                 else f"; the observed rho cannot decide it with more {unit} (undefined or not positive)")  # fmt: skip
    numbers = {"power_rho_detectable": rounded(detect), "power_rho_ruled_out_below": rounded(ruled),
               "power_datasets_needed": needed, "power": text}  # fmt: skip
    return numbers, f" Power: {text}."


def read_c4_inputs(inputs: Mapping[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The alignment table (one row per E3 dataset) and the advantages per seed."""
    table = read_csv_input(inputs, "alignment", ["system", "eta", "tc", "reference_model", "advantage_s4d",
                                                  "advantage_s4d_se", "n_seeds_s4d", "advantage_s6", "note"],
                           ranges=ALIGNMENT_RANGES, key=["system", "eta"])  # fmt: skip
    seeds = read_csv_input(inputs, "advantages_by_seed", ["system", "eta", "model", "seed", "advantage"],
                           ranges=SEED_RANGES, key=["system", "eta", "model", "seed"])  # fmt: skip
    return table, seeds


def c4_missing_grid_points(inputs: Mapping[str, Path], table: pd.DataFrame, seeds: pd.DataFrame,
                           cfg: Mapping[str, Any]) -> list[str]:  # fmt: skip
    """The points of the run's E3 grid the tables lack: a dataset (``eta_performance.systems`` ×
    ``forecasting.etas``) without an alignment row, as ``dho eta=0.5``, and per alignment row the
    paired S4D seeds it counts (``n_seeds_s4d``) without a per-seed row, as ``vdp eta=0.5 s4d seed=2``
    (seeds that did not learn are not paired, so they are not missing)."""
    out = []
    for system in cfg["eta_performance"]["systems"]:
        present = table.loc[table["system"] == system, "eta"].to_numpy(dtype=float)
        out += [f"{system} eta={fmt_num(eta)}" for eta in cfg["forecasting"]["etas"]
                if not np.isclose(present, float(eta)).any()]  # fmt: skip
    return out + missing_seeds(inputs, table, seeds, [int(s) for s in cfg["eta_performance"]["seeds"]])


def missing_seeds(inputs: Mapping[str, Path], table: pd.DataFrame, seeds: pd.DataFrame,
                  run_seeds: list[int]) -> list[str]:  # fmt: skip
    """Per alignment row, the paired seeds of :data:`SEED_MODEL` it counts that ``advantages_by_seed``
    lacks; DataFileError when that table holds more of them than the row counts (tables of two runs)."""
    model_rows = seeds[seeds["model"] == SEED_MODEL]
    out = []
    for line, r in table.iterrows():
        same_eta = np.isclose(model_rows["eta"].to_numpy(dtype=float), float(r["eta"]))
        here = model_rows[(model_rows["system"] == r["system"]) & same_eta]
        present, counted = sorted(int(s) for s in here["seed"]), int(r["n_seeds_s4d"])
        point = f"{r['system']} eta={fmt_num(r['eta'])} {SEED_MODEL}"
        if len(present) > counted:
            raise DataFileError(
                f"{inputs['advantages_by_seed']} (input 'advantages_by_seed'): {len(present)} {SEED_MODEL} seed(s) for "
                f"system={r['system']}, eta={r['eta']} (lines {', '.join(str(i + 2) for i in here.index)}), but "
                f"{inputs['alignment']} (input 'alignment') line {line + 2} counts n_seeds_s4d = {counted}; the tables "
                "are not from the same run (rerun `snakemake alignment`)"
            )  # fmt: skip
        absent = [s for s in run_seeds if s not in present]
        if len(absent) == counted - len(present):  # the seeds that lack a row are known
            out += [f"{point} seed={s}" for s in absent]
        elif len(present) < counted:
            out.append(f"{point}: {counted - len(present)} of {counted} paired seed(s) (present: "
                       f"{', '.join(map(str, present)) or 'none'})")  # fmt: skip
    return out


def c4_non_finite(inputs: Mapping[str, Path], table: pd.DataFrame, seeds: pd.DataFrame) -> list:
    """The non-finite values of C4's inputs, beyond the NaNs that are there by design."""
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
        non_finite(inputs, "advantages_by_seed", seeds, "seed"),
        non_finite(inputs, "advantages_by_seed", seeds, "advantage"),
    ) if p]  # fmt: skip
    return problems


def c4_usable_datasets(table: pd.DataFrame, min_seeds: int) -> tuple[pd.DataFrame, dict]:
    """(datasets that count, {dataset: why it is left out}); fills missing notes of ``table`` in place."""
    table["note"] = table["note"].astype("string").fillna("")
    finite = np.isfinite(table["tc"]) & np.isfinite(table["advantage_s4d"])
    enough = table["n_seeds_s4d"] >= min_seeds
    usable = table[finite & enough].reset_index(drop=True)
    excluded = {pair_key(r.system, f"eta={r.eta:g}"): "; ".join(filter(None, [(f"{int(r.n_seeds_s4d)} paired seed(s) where S4D "
                f"and the reference learned, {min_seeds} needed"), r.note])) for r in table[~(finite & enough)].itertuples()}  # fmt: skip
    return usable, excluded


def c4_bootstrap(usable: pd.DataFrame, seeds: pd.DataFrame, n_boot: int, alpha: float, seed: int
                 ) -> tuple[np.ndarray, float, float]:  # fmt: skip
    """Two-level bootstrap replicates of ρ and their α and 1 − α quantiles (NaN below :data:`C4_MIN_N`)."""
    n = len(usable)
    s4d_seeds = seeds[seeds["model"] == "s4d"]
    per_dataset = [s4d_seeds[(s4d_seeds["system"] == r.system) & np.isclose(s4d_seeds["eta"], r.eta)]["advantage"]
                   .to_numpy(dtype=float) for r in usable.itertuples()]  # fmt: skip
    boot = (bootstrap_rho(usable["tc"].to_numpy(dtype=float), per_dataset, n_boot, seed)
            if n >= C4_MIN_N else np.array([]))  # fmt: skip
    low, high = (float(np.quantile(boot, alpha)), float(np.quantile(boot, 1 - alpha))) if len(boot) else (math.nan, math.nan)
    return boot, low, high


def c4_verdict(readout: str, n: int, n_excluded: int, stats: Mapping[str, Any], low: float, high: float,
               needed: float, thresholds: Mapping[str, Any]) -> tuple[str, str]:  # fmt: skip
    """(verdict, why) from ρ, its significance and its bootstrap bounds."""
    rho, rho_min = stats["rho"], thresholds["rank_correlation_min"]
    alpha, min_seeds = thresholds["rank_correlation_alpha"], thresholds["paired_min_seeds"]
    if readout != "causal":
        # The authors' readout (mean over time) with a Transformer without mask or positions is
        # permutation-invariant: an order-blind reference says nothing about continuity.
        verdict = "inconclusive"
        why = f"E3 ran with eta_performance.readout = {readout!r}: the attention reference is order-blind"
    elif n < C4_MIN_N or not math.isfinite(rho):
        verdict = "inconclusive"
        why = (f"only n = {n} datasets where S4D and an attention baseline both learned on at least {min_seeds} "
               f"paired seeds (at least {C4_MIN_N} needed; {n_excluded} excluded)")  # fmt: skip
    elif rho >= rho_min and stats["p_greater"] <= alpha and math.isfinite(low) and low > 0:
        verdict, why = "supported", (f"rho >= {rho_min}, significantly positive (p {stats['p_greater']:.3g} <= {alpha}) "
                                     f"and the bootstrap lower bound {low:.3f} is above 0")  # fmt: skip
    elif math.isfinite(high) and high < rho_min:
        verdict, why = "not supported", f"the bootstrap upper bound of rho, {high:.3f}, is below {rho_min}"
    else:
        verdict = "inconclusive"
        why = (f"the data do not decide: rho = {rho:.3f} with bootstrap interval [{low:.3f}, {high:.3f}] "
               f"(significance at alpha = {alpha} needs " + (f"rho >= {needed:.3f}" if math.isfinite(needed) else "p <= alpha")
               + " and a lower bound above 0; "
               f"'not supported' needs the upper bound below {rho_min})")  # fmt: skip
    return verdict, why


def c4_numbers(usable: pd.DataFrame, excluded: dict, stats: Mapping[str, Any], contrast: Mapping[str, Any],
               low: float, high: float, needed: float) -> dict:  # fmt: skip
    """The headline numbers of C4 (in the claim file's order)."""
    n, rho = len(usable), stats["rho"]
    se = usable["advantage_s4d_se"].to_numpy(dtype=float)
    ahead = int((usable["advantage_s4d"] > 2 * se).sum())
    behind = int((usable["advantage_s4d"] < -2 * se).sum())
    return {
        "rho": rounded(rho),
        "rho_bootstrap_low": rounded(low),
        "rho_bootstrap_high": rounded(high),
        "p_one_sided": rounded(stats["p_greater"]),
        "n": n,
        "n_excluded": len(excluded),
        "min_paired_seeds": int(usable["n_seeds_s4d"].min()) if n else 0,
        "rho_needed_for_significance": rounded(needed),
        "p_method": stats["method"],
        "rho_s6_for_contrast": rounded(contrast["rho"]),
        "s4d_ahead_beyond_2se": f"{ahead} of {n}",
        "s4d_behind_beyond_2se": f"{behind} of {n}",
    }


def c4_details(usable: pd.DataFrame, excluded: dict, boot: np.ndarray, n_boot: int, alpha: float,
               contrast: Mapping[str, Any]) -> dict:  # fmt: skip
    """Per-dataset TC and advantage, the excluded datasets, the bootstrap and S6's ρ for contrast."""
    return {
        "datasets": {pair_key(r.system, f"eta={r.eta:g}"): {"tc": rounded(r.tc, 6), "advantage_s4d": rounded(r.advantage_s4d),
                                                          "advantage_s4d_se": rounded(r.advantage_s4d_se),
                                                          "paired_seeds": int(r.n_seeds_s4d), "reference": r.reference_model}
                     for r in usable.itertuples()},
        "excluded": excluded,
        "bootstrap": {"replicates": len(boot), "requested": n_boot, "levels": [alpha, 1 - alpha]},
        "s6_for_contrast": {k: rounded(v) if isinstance(v, float) else v for k, v in contrast.items()},
    }  # fmt: skip


# ---------------------------------------------------------------------------------------------
# C4 within each system (claims.c4_combine = within_system)
# ---------------------------------------------------------------------------------------------
def _rank_rho(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman ρ of paired values (NaN when fewer than 3 or a side is constant); fast, no p-value."""
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    from scipy.stats import rankdata  # only C4 needs scipy: the other claims load without it

    rx, ry = rankdata(x) - (len(x) + 1) / 2, rankdata(y) - (len(y) + 1) / 2  # average ranks, centred
    return float(rx @ ry / math.sqrt((rx @ rx) * (ry @ ry)))


def _mean_defined(values: list[float]) -> float:
    """Mean of the finite values (NaN when none is)."""
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def c4_within_system(usable: pd.DataFrame, excluded: dict, seeds: pd.DataFrame, n_boot: int, alpha: float,
                     seed: int) -> tuple[pd.DataFrame, dict, dict, np.ndarray, float, float]:  # fmt: skip
    """C4 combined within systems: ρ_s = Spearman ρ(TC, A_S4D) over the η grid of system s, for every
    system with at least :data:`C4_MIN_N` usable datasets; the statistic is their unweighted mean.

    Why: pooling mixes two sources of rank order, along η within a system and between systems (their TC
    levels and advantage levels differ), and the second can dominate the first. Within-system keeps only
    the first. Interval: a stratified two-level bootstrap (within each system, its datasets with
    replacement, then seeds within each dataset), ``n_boot`` replicates, α and 1 − α quantiles of the
    replicate means. One-sided p: a stratified permutation test (TC re-paired with the advantages within
    each system, ``n_boot`` permutations), p = (1 + #{mean ≥ observed}) / (1 + n_boot).

    Returns (datasets of the systems that count, excluded datasets with reasons, stats {rho, p_greater,
    method, per_system}, replicates, low, high).
    """
    excluded = dict(excluded)
    counts = usable.groupby("system", sort=True).size()
    keep = [system for system, n in counts.items() if n >= C4_MIN_N]
    for r in usable[~usable["system"].isin(keep)].itertuples():
        excluded[pair_key(r.system, f"eta={r.eta:g}")] = (f"system {r.system} has {counts[r.system]} usable dataset(s), "
                                                           f"{C4_MIN_N} needed for a within-system rho")  # fmt: skip
    usable = usable[usable["system"].isin(keep)].reset_index(drop=True)
    s4d_seeds = seeds[seeds["model"] == "s4d"]
    strata = []  # per system: (tc (n_s,), mean advantage (n_s,), per-seed advantages [n_s arrays])
    for system in keep:
        rows = usable[usable["system"] == system]
        per_seed = [s4d_seeds[(s4d_seeds["system"] == system) & np.isclose(s4d_seeds["eta"], r.eta)]["advantage"]
                    .to_numpy(dtype=float) for r in rows.itertuples()]  # fmt: skip
        strata.append((rows["tc"].to_numpy(dtype=float), rows["advantage_s4d"].to_numpy(dtype=float), per_seed))
    per_system = {system: _rank_rho(tc, adv) for system, (tc, adv, _) in zip(keep, strata)}
    rho = _mean_defined(list(per_system.values()))
    rng = np.random.default_rng(seed)
    boot, null = np.empty(n_boot if strata else 0), np.empty(n_boot if strata else 0)
    for b in range(len(boot)):
        resampled = []
        for tc, _, per_seed in strata:
            pick = rng.integers(0, len(tc), size=len(tc))
            adv = np.array([rng.choice(per_seed[i], size=len(per_seed[i])).mean() for i in pick])
            resampled.append(_rank_rho(tc[pick], adv))
        boot[b] = _mean_defined(resampled)
        null[b] = _mean_defined([_rank_rho(rng.permutation(tc), adv) for tc, adv, _ in strata])
    boot = boot[np.isfinite(boot)]
    low, high = (float(np.quantile(boot, alpha)), float(np.quantile(boot, 1 - alpha))) if len(boot) else (math.nan, math.nan)
    p_greater = float((1 + np.sum(null >= rho - 1e-12)) / (1 + len(null))) if math.isfinite(rho) else math.nan
    stats = {"rho": rho, "p_greater": p_greater, "n": len(usable),
             "method": f"stratified permutation ({len(null)} permutations within {len(keep)} systems)",
             "per_system": {system: rounded(v) for system, v in per_system.items()}}  # fmt: skip
    return usable, excluded, stats, boot, low, high
