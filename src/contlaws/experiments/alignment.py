"""E4: the task-continuity table of every dataset, and its alignment with model performance.

Task continuity TC (:mod:`contlaws.task_continuity`) is scored per dataset by ``contlaws
task-continuity PATH --out-json OUT``; the rules name each record ``<family>/<name>.json``:

    forecasting/<system>_eta<η>.json     E3 inputs at continuity level η (train split)
    regression/<system>_tau<τ>.json      E2 inputs (train split, τ = 1)
    benchmarks/<task>.json               benchmark and stand-in tasks (train split)

``contlaws task-continuity-gather`` gathers them into ``task_continuity/table.{csv,tex}``: the score
TC (stride 2), its standard error and the curve TC_s over the configured strides.

Alignment (spec E4, **Decision**): on every dataset of the η family, the relative performance of
the continuous model over the others is

    A = ln(RMSE_ref / RMSE_S4D)      RMSE_ref = min over REFERENCE_MODELS that ran (seed means)

A > 0: S4D forecasts better than the best attention baseline (transformer, linear attention),
A < 0: worse. The claim (C4) is that A rises with TC: Spearman ρ(TC, A) over the (system, η)
datasets. The same A is reported for S6 (``advantage_s6``) for contrast.

Model continuity (spec E2) exists for the regression sets: d(τ) of the trained S4D / S6 at τ = 1,
the relative change of their predictions between the training grid and the finest grid. Lower d is
a more continuous model on that task; the S4D-vs-S6 gap is ln(d_S6 / d_S4D).

Code names -> symbols: ``tc`` TC, ``advantage_s4d`` A, ``rho`` ρ, ``d_tau1`` d(1), ``eta`` η.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from contlaws.errors import DataFileError
from contlaws.io import as_flags, provenance, read_json, read_result_csv, write_table
from contlaws.labels import SYSTEM_LABELS
from contlaws.stats import mean_and_stderr, spearman

log = logging.getLogger(__name__)

FAMILIES = ("forecasting", "regression", "benchmarks")
CONTINUOUS_MODEL = "s4d"
CONTRAST_MODEL = "s6"
REFERENCE_MODELS = ("transformer", "linear_attention")
_NAME_PATTERNS = {
    "forecasting": re.compile(r"^(?P<system>[a-z]+)_eta(?P<eta>[0-9.]+)$"),
    "regression": re.compile(r"^(?P<system>[a-z]+)_tau(?P<tau>[0-9.e-]+)$"),
    "benchmarks": re.compile(r"^(?P<task>[A-Za-z0-9_]+)$"),
}
BENCHMARK_LABELS = {"listops_synth": "ListOps (generated stand-in)", "pathfinder_synth": "Pathfinder (generated stand-in)",
                    "digits": "Digits (scikit-learn, pixel sequence)", "listops": "ListOps (LRA)",
                    "aan": "Retrieval (LRA, AAN)", "pathfinder32": "Pathfinder-32 (LRA)", "pathx": "Path-X (LRA)",
                    "imdb": "Text (IMDB)", "cifar10": "Image (CIFAR-10, grayscale)"}  # fmt: skip
BENCHMARK_LABELS.update({"gunpoint": "GunPoint (UCR)", "arrowhead": "ArrowHead (UCR)", "osuleaf": "OSULeaf (UCR)",
                         "acsf1": "ACSF1 (UCR)", "basicmotions": "BasicMotions (UEA, 6 channels)",
                         "italypowerdemand": "ItalyPowerDemand (UCR)", "japanesevowels": "JapaneseVowels (UEA, 12 channels)",
                         "pickupgesture": "PickupGestureWiimoteZ (UCR)", "covid3month": "Covid3Month, 3 classes",
                         "stdlib_text": "CPython library text (bytes)"})  # real sets, aeon wheel; stdlib_text
# The E3 results columns the alignment reads (results.csv has more: gates, budgets).
E3_COLUMNS_READ = ("system", "eta", "model", "seed", "status", "test_rmse", "learned")
TC_COLUMNS = ["family", "dataset", "system", "eta", "tau", "task", "input_kind", "metric", "tc", "tc_stderr",
              "n_sequences", "n_excluded"]  # fmt: skip
ALIGNMENT_COLUMNS = ["system", "eta", "tc", "tc_stderr", "rmse_s4d", "rmse_s6", "reference_model", "rmse_reference",
                     "advantage_s4d", "advantage_s4d_se", "n_seeds_s4d", "advantage_s6", "advantage_s6_se",
                     "n_seeds_s6", "note"]  # fmt: skip
SEED_ADVANTAGE_COLUMNS = ["system", "eta", "tc", "model", "reference_model", "seed", "advantage"]
CONTINUITY_COLUMNS = ["system", "tc", "discretization", "d_tau1_s4d", "d_tau1_s6", "order_s4d", "order_s6", "gap"]


# ---------------------------------------------------------------------------------------------
# Task-continuity table
# ---------------------------------------------------------------------------------------------
def dataset_labels(path: Path) -> dict:
    """family, dataset, system, eta, tau, task of a record ``.../<family>/<name>.json``."""
    family, stem = path.parent.name, path.stem
    match = _NAME_PATTERNS[family].match(stem) if family in _NAME_PATTERNS else None
    if match is None:
        raise DataFileError(f"{path}: expected <family>/<name>.json with family in {FAMILIES} and name "
                            "<system>_eta<eta>, <system>_tau<tau> or <task>")  # fmt: skip
    groups = match.groupdict()
    return {
        "family": family,
        "dataset": f"{family}/{stem}",
        "system": groups.get("system", ""),
        "eta": float(groups["eta"]) if "eta" in groups else math.nan,
        "tau": float(groups["tau"]) if "tau" in groups else math.nan,
        "task": groups.get("task", ""),
    }


def tc_row(path: Path) -> dict:
    """One table row from a ``contlaws task-continuity --out-json`` record."""
    record = read_json(path)
    try:
        result = record["result"]
        row = dataset_labels(path) | {
            "input_kind": result["input_kind"], "metric": result["metric"], "tc": float(result["score"]),
            "tc_stderr": float(result["stderr"]) if result.get("stderr") is not None else math.nan,
            "n_sequences": int(result["n_sequences"]), "n_excluded": int(result["n_excluded"]),
        }  # fmt: skip
        row.update({f"tc_s{int(s)}": float(v) for s, v in sorted(result["curve"].items(), key=lambda kv: int(kv[0]))})
    except (KeyError, TypeError, ValueError) as err:
        raise DataFileError(f"{path}: not a `contlaws task-continuity --out-json` record ({type(err).__name__}: {err})") from None
    return row


def tc_table(paths: Sequence[Path]) -> pd.DataFrame:
    """Rows of every record, ordered forecasting (system, η), regression (system, τ), benchmarks (task)."""
    if not paths:
        raise DataFileError("no task-continuity records given")
    df = pd.DataFrame([tc_row(Path(p)) for p in paths])
    curve = sorted((c for c in df.columns if c.startswith("tc_s") and c != "tc_stderr"), key=lambda c: int(c[4:]))
    df["_family"] = df["family"].map({f: i for i, f in enumerate(FAMILIES)})
    df["_order"] = range(len(df))  # systems and tasks in the order given (the config's)
    first = df.groupby(["family", "system", "task"], sort=False)["_order"].transform("min")
    df = df.assign(_first=first).sort_values(["_family", "_first", "eta", "tau"], kind="stable")
    return df[TC_COLUMNS + curve].reset_index(drop=True)


def tc_latex_rows(tc: pd.DataFrame) -> pd.DataFrame:
    """The table in words: dataset, input, TC ± stderr, then TC_s per stride."""
    curve = [c for c in tc.columns if c.startswith("tc_s") and c != "tc_stderr"]
    rows = []
    for r in tc.itertuples(index=False):
        system = SYSTEM_LABELS.get(r.system, r.system)
        name = {
            "forecasting": f"{system}, eta = {r.eta:g}",
            "regression": f"{system}, regression (tau = {r.tau:g})",
            "benchmarks": BENCHMARK_LABELS.get(r.task, r.task),
        }[r.family]
        row = {"dataset": name, "input": r.input_kind, "TC (s = 2)": f"{r.tc:.4f} ± {r.tc_stderr:.1g}"}
        row.update({f"s = {c[4:]}": f"{getattr(r, c):.3f}" for c in curve if c != "tc_s2"})
        row["n"] = str(r.n_sequences)
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Alignment with performance and with model continuity
# ---------------------------------------------------------------------------------------------
def learned_runs(results: pd.DataFrame) -> pd.DataFrame:
    """The E3 runs that count: trained here (status ok) and past their learning gate (``learned``).

    A run below its gate (no better than repeating the last observation) has learned nothing about
    the task, so no advantage may rest on it (spec E3, issue "a result must be able to fail").
    """
    ok = results["status"] == "ok"
    learned = as_flags(results["learned"])
    return results[ok & learned]


def seed_mean_rmse(results: pd.DataFrame) -> pd.DataFrame:
    """Mean test RMSE over the learned seeds, per (system, η, model); only models that ran and learned."""
    return learned_runs(results).groupby(["system", "eta", "model"], sort=False)["test_rmse"].mean().reset_index()


def paired_advantages(by_seed: Mapping[str, pd.Series], model: str, reference: str) -> pd.Series:
    """A_s = ln(RMSE_ref,s / RMSE_model,s) for every seed s where both runs learned (paired by seed)."""
    if model not in by_seed or reference not in by_seed:
        return pd.Series(dtype=float)
    both = by_seed[model].index.intersection(by_seed[reference].index)
    return np.log(by_seed[reference][both] / by_seed[model][both])


def alignment_tables(tc: pd.DataFrame, results: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per (system, η) of the η family: TC and the continuous models' relative performance.

    Only runs that learned count (:func:`learned_runs`). The reference is the attention baseline
    with the lowest seed-mean RMSE among its learned runs; the advantage of S4D (S6) is the mean over
    seeds of the per-seed A_s = ln(RMSE_ref,s / RMSE_model,s), paired by seed, with its standard
    error; ``n_seeds_<model>`` counts the pairs.

    Args:
        tc: the task-continuity table (:func:`tc_table`); its ``forecasting`` rows are used.
        results: E3 results (:data:`contlaws.experiments.eta_performance.COLUMNS`, with ``learned``).
    Returns:
        the summary (:data:`ALIGNMENT_COLUMNS`; advantages NaN where S4D (S6) or every reference
        model did not run or did not learn, ``note`` says which) and the per-seed advantages
        (:data:`SEED_ADVANTAGE_COLUMNS`, one row per paired seed and model).
    """
    runs = learned_runs(results)
    ran = results[results["status"] == "ok"]
    rows, seed_rows = [], []
    for r in tc[tc["family"] == "forecasting"].itertuples(index=False):
        here = runs[(runs["system"] == r.system) & np.isclose(runs["eta"].astype(float), r.eta)]
        by_seed = {m: g.set_index("seed")["test_rmse"].astype(float) for m, g in here.groupby("model", sort=False)}
        means = {m: float(by_seed[m].mean()) for m in REFERENCE_MODELS if m in by_seed}
        reference = min(means, key=means.get) if means else ""
        row = {"system": r.system, "eta": r.eta, "tc": r.tc, "tc_stderr": r.tc_stderr, "reference_model": reference,
               "rmse_reference": means.get(reference, math.nan)}  # fmt: skip
        notes = []
        for model in (CONTINUOUS_MODEL, CONTRAST_MODEL):
            row[f"rmse_{model}"] = float(by_seed[model].mean()) if model in by_seed else math.nan
            pairs = paired_advantages(by_seed, model, reference)
            row[f"advantage_{model}"], row[f"advantage_{model}_se"] = mean_and_stderr(pairs)
            row[f"n_seeds_{model}"] = len(pairs)
            seed_rows += [{"system": r.system, "eta": r.eta, "tc": r.tc, "model": model, "reference_model": reference,
                           "seed": int(seed), "advantage": float(a)} for seed, a in pairs.items()]  # fmt: skip
            if model not in by_seed:
                trained = ((ran["system"] == r.system) & np.isclose(ran["eta"].astype(float), r.eta)
                           & (ran["model"] == model)).any()  # fmt: skip
                notes.append(f"{model} {'did not learn' if trained else 'did not run'}")
        if not reference:
            notes.append("no attention baseline learned")
        row["note"] = "; ".join(notes)
        rows.append(row)
    return pd.DataFrame(rows, columns=ALIGNMENT_COLUMNS), pd.DataFrame(seed_rows, columns=SEED_ADVANTAGE_COLUMNS)


def alignment_table(tc: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    """The summary of :func:`alignment_tables`."""
    return alignment_tables(tc, results)[0]


def continuity_alignment(tc: pd.DataFrame, continuity: pd.DataFrame) -> pd.DataFrame:
    """Per (system, discretization) with both: TC of the τ = 1 regression set and the trained models' d(1).

    Args:
        tc: the task-continuity table; its ``regression`` rows at τ = 1 are used.
        continuity: E2 model continuity (system, model, discretization, seed, tau, d, order, tau_ref).
    Returns:
        :data:`CONTINUITY_COLUMNS`: d(τ = 1) and order p per model (seed means), gap = ln(d_S6 / d_S4D).
    """
    reg = tc[(tc["family"] == "regression") & np.isclose(tc["tau"], 1.0)].set_index("system")["tc"]
    at_1 = continuity[np.isclose(continuity["tau"], 1.0)]
    d = at_1.groupby(["system", "discretization", "model"], sort=False)["d"].mean()
    order = at_1.groupby(["system", "discretization", "model"], sort=False)["order"].mean()
    rows = []
    for (system, method), _ in at_1.groupby(["system", "discretization"], sort=False):
        if system not in reg.index:
            continue
        d4, d6 = (float(d.get((system, method, m), math.nan)) for m in (CONTINUOUS_MODEL, CONTRAST_MODEL))
        rows.append({"system": system, "tc": float(reg[system]), "discretization": method, "d_tau1_s4d": d4,
                     "d_tau1_s6": d6, "order_s4d": float(order.get((system, method, CONTINUOUS_MODEL), math.nan)),
                     "order_s6": float(order.get((system, method, CONTRAST_MODEL), math.nan)),
                     "gap": math.log(d6 / d4) if d4 > 0 and d6 > 0 else math.nan})  # fmt: skip
    return pd.DataFrame(rows, columns=CONTINUITY_COLUMNS)


# ---------------------------------------------------------------------------------------------
# The experiment's tables (what the commands call)
# ---------------------------------------------------------------------------------------------
def read_csv(path: Path, columns: Sequence[str], what: str) -> pd.DataFrame:
    return read_result_csv(path, columns, what=what, allow_empty=True)


def write_tc_table(cfg: Mapping[str, Any], inputs: Sequence[Path], out_csv: Path, out_tex: Path) -> pd.DataFrame:
    """The task-continuity table of every dataset (CSV, LaTeX) from `contlaws task-continuity --out-json` records."""
    from contlaws.latex import write_latex_table

    tc = tc_table(inputs)
    section = {k: cfg[k] for k in ("seed", "task_continuity", "forecasting", "regression")}
    write_table(out_csv, tc, meta=provenance(section, cfg["seed"], inputs=sorted(str(p) for p in inputs)))
    settings = cfg["task_continuity"]
    write_latex_table(
        out_tex, tc_latex_rows(tc),
        caption=(f"Task continuity of every dataset of the run ({settings['metric']} metric, noise-normalized: "
                 "1 smooth, 0 i.i.d. noise): TC at stride 2 ± standard error over sequences, and TC at the larger "
                 f"strides of the curve; n sequences scored (at most {settings['max_sequences'] or 'all'}, train split)."),
        label="tab:task-continuity", float_format="%.4f",
    )  # fmt: skip
    return tc


def write_alignment(cfg: Mapping[str, Any], task_continuity: Path, eta_results: Path, out: Path, seeds_out: Path,
                    model_continuity: Path | None = None, continuity_out: Path | None = None,
                    ) -> tuple[pd.DataFrame, dict, pd.DataFrame | None]:  # fmt: skip
    """The alignment table and its per-seed advantages (and, with ``model_continuity``, TC vs model
    continuity); returns (alignment table, Spearman statistics of TC vs the S4D advantage, continuity table)."""
    tc = read_csv(task_continuity, TC_COLUMNS, "task-continuity table")
    results = read_csv(eta_results, E3_COLUMNS_READ, "E3 results")
    table, per_seed = alignment_tables(tc, results)
    section = {k: cfg[k] for k in ("seed", "task_continuity", "eta_performance")}
    record = provenance(section, cfg["seed"], task_continuity=str(task_continuity), eta_results=str(eta_results),
                        continuous_model=CONTINUOUS_MODEL, reference_models=list(REFERENCE_MODELS),
                        advantage="ln(RMSE_ref / RMSE_model), RMSE_ref the lowest seed-mean RMSE among reference models")  # fmt: skip
    write_table(out, table, meta=record)
    write_table(seeds_out, per_seed, meta=record)
    stats = spearman(table["tc"], table["advantage_s4d"])
    cont = None
    if model_continuity is not None:
        from contlaws.experiments.refinement_trained import CONTINUITY_COLUMNS as MC_COLUMNS

        continuity = read_csv(model_continuity, MC_COLUMNS, "model-continuity table")
        cont = continuity_alignment(tc, continuity)
        write_table(continuity_out, cont, meta=provenance(section, cfg["seed"], task_continuity=str(task_continuity),
                                                          model_continuity=str(model_continuity)))  # fmt: skip
    return table, stats, cont
