"""C4(b): the alignment claim across real classification benchmarks (Spearman ρ over tasks, bootstrap).

The same test and thresholds as C4(a) (:mod:`contlaws.claims.c4`), on the tables of
:mod:`contlaws.experiments.alignment_benchmarks`: one point per task (TC, A), A the seed-mean of
A_s = ln(err_ref,s / err_S4D,s). Registered as its own verdict, C4b, so the claims table shows the
synthetic (C4) and the real-benchmark (C4b) test apart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from contlaws.claims.c4 import C4_MIN_N, c4_verdict
from contlaws.claims.registry import claim, inconclusive_for_non_finite, non_finite, read_csv_input, rounded
from contlaws.stats import bootstrap_rho, critical_rho, spearman

ALIGNMENT_COLUMNS = ["task", "tc", "reference_model", "advantage_s4d", "advantage_s4d_se", "n_seeds_s4d",
                     "advantage_s6", "all_learned", "note"]  # fmt: skip
SEED_COLUMNS = ["task", "model", "seed", "advantage"]


@claim(
    "C4b",
    "Task continuity aligns with performance across real benchmarks: over classification tasks from token streams "
    "to smooth signals, the more continuous the task, the larger the advantage of S4D over attention baselines.",
    inputs=("alignment", "advantages_by_seed"),
)
def evaluate_c4b(inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """C4(b): Spearman ρ between TC and A = ln(err_ref / err_S4D) over the real tasks.

    A task counts when every run of every model passed its learning gate (``all_learned``) and S4D
    pairs with the attention reference on at least ``claims.paired_min_seeds`` seeds. ρ, its
    two-level bootstrap interval (tasks, then seeds) and the verdict rule are those of C4(a)
    (:func:`contlaws.claims.c4.c4_verdict`): supported when ρ ≥ ``claims.rank_correlation_min``, ρ > 0
    significant at α and the bootstrap lower bound above 0; not supported when the upper bound is
    below ``rank_correlation_min``; inconclusive otherwise (fewer than 4 tasks included among them).
    """
    claims_cfg = cfg["claims"]
    thresholds = {"rank_correlation_min": float(claims_cfg["rank_correlation_min"]),
                  "rank_correlation_alpha": float(claims_cfg["rank_correlation_alpha"]),
                  "paired_min_seeds": int(claims_cfg["paired_min_seeds"]),
                  "bootstrap_samples": int(claims_cfg["bootstrap_samples"])}  # fmt: skip
    alpha = thresholds["rank_correlation_alpha"]
    table = read_csv_input(inputs, "alignment", ALIGNMENT_COLUMNS)
    seeds = read_csv_input(inputs, "advantages_by_seed", SEED_COLUMNS)
    problems = c4b_non_finite(inputs, table, seeds)
    if problems:
        return inconclusive_for_non_finite(problems, thresholds)
    usable, excluded = usable_tasks(table, thresholds["paired_min_seeds"])
    n = len(usable)
    stats = spearman(usable["tc"], usable["advantage_s4d"])
    contrast = spearman(usable["tc"], usable["advantage_s6"]) if usable["advantage_s6"].notna().all() else {"rho": math.nan}
    boot, low, high = task_bootstrap(usable, seeds, thresholds["bootstrap_samples"], alpha, int(cfg["seed"]))
    needed = critical_rho(n, alpha) if n >= 3 else math.nan
    # the references are order-aware (positions, causal): the readout caveat of C4(a) does not apply
    verdict, why = c4_verdict("causal", n, len(excluded), stats, low, high, needed, thresholds)
    numbers = {
        "rho": rounded(stats["rho"]), "rho_bootstrap_low": rounded(low), "rho_bootstrap_high": rounded(high),
        "p_one_sided": rounded(stats["p_greater"]), "n": n, "n_excluded": len(excluded),
        "rho_needed_for_significance": rounded(needed), "p_method": stats["method"],
        "rho_s6_for_contrast": rounded(contrast["rho"]),
    }  # fmt: skip
    details = {
        "tasks": {r.task: {"tc": rounded(r.tc, 6), "advantage_s4d": rounded(r.advantage_s4d),
                           "advantage_s4d_se": rounded(r.advantage_s4d_se), "paired_seeds": int(r.n_seeds_s4d),
                           "reference": r.reference_model} for r in usable.itertuples()},
        "excluded": excluded,
        "bootstrap": {"replicates": int(len(boot)), "requested": thresholds["bootstrap_samples"],
                      "levels": [alpha, 1 - alpha]},
    }  # fmt: skip
    explanation = (
        f"Spearman rho between TC and the advantage A = ln(err_ref / err_S4D) of S4D over the best order-aware "
        f"attention baseline (paired by seed), over {n} real classification tasks where every model passed its "
        f"learning gate on every seed ({len(excluded)} excluded: {', '.join(excluded) or 'none'}): rho = {numbers['rho']}, "
        f"bootstrap {1 - 2 * alpha:.0%} interval [{numbers['rho_bootstrap_low']}, {numbers['rho_bootstrap_high']}], "
        f"one-sided p = {numbers['p_one_sided']} ({stats['method']}). {verdict.capitalize()}: {why}. "
        f"S6 for contrast: rho = {numbers['rho_s6_for_contrast']}."
    )
    return {"verdict": verdict, "numbers": numbers, "details": details, "explanation": explanation,
            "thresholds": thresholds}  # fmt: skip


def c4b_non_finite(inputs: Mapping[str, Path], table: pd.DataFrame, seeds: pd.DataFrame) -> list:
    """Non-finite values beyond those by design (A where no seed paired, its SE below two seeds)."""
    paired = pd.to_numeric(table["n_seeds_s4d"], errors="coerce")
    return [p for p in (
        non_finite(inputs, "alignment", table, "tc"),
        non_finite(inputs, "alignment", table, "n_seeds_s4d"),
        non_finite(inputs, "alignment", table, "advantage_s4d", nan_ok=paired < 1),
        non_finite(inputs, "alignment", table, "advantage_s4d_se", nan_ok=paired < 2),
        non_finite(inputs, "alignment", table, "advantage_s6", nan_ok=pd.Series(True, index=table.index)),
        non_finite(inputs, "advantages_by_seed", seeds, "advantage"),
    ) if p]  # fmt: skip


def usable_tasks(table: pd.DataFrame, min_seeds: int) -> tuple[pd.DataFrame, dict]:
    """(tasks that count, {task: why it is left out}): every run learned and enough paired seeds."""
    table = table.copy()
    table["note"] = table["note"].astype("string").fillna("")
    learned = table["all_learned"].astype(str).str.lower().isin(["true", "1"])
    enough = pd.to_numeric(table["n_seeds_s4d"]) >= min_seeds
    finite = np.isfinite(table["tc"].astype(float)) & np.isfinite(table["advantage_s4d"].astype(float))
    keep = learned & enough & finite
    excluded = {}
    for r in table[~keep].itertuples():
        reasons = [r.note if not learned[r.Index] else "",
                   "" if enough[r.Index] else f"{int(r.n_seeds_s4d)} paired seed(s), {min_seeds} needed"]
        excluded[r.task] = "; ".join(filter(None, reasons)) or "no finite advantage"
    return table[keep].reset_index(drop=True), excluded


def task_bootstrap(usable: pd.DataFrame, seeds: pd.DataFrame, n_boot: int, alpha: float, seed: int
                   ) -> tuple[np.ndarray, float, float]:  # fmt: skip
    """Two-level bootstrap replicates of ρ (tasks, then S4D's seeds within a task) and their α, 1 − α quantiles."""
    s4d = seeds[seeds["model"] == "s4d"]
    per_task = [s4d[s4d["task"] == t]["advantage"].to_numpy(dtype=float) for t in usable["task"]]
    if len(usable) < C4_MIN_N:
        return np.array([]), math.nan, math.nan
    boot = bootstrap_rho(usable["tc"].to_numpy(dtype=float), per_task, n_boot, seed)
    if not len(boot):
        return boot, math.nan, math.nan
    return boot, float(np.quantile(boot, alpha)), float(np.quantile(boot, 1 - alpha))
