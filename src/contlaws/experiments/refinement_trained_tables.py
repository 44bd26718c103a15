"""E2 summary tables (the compute step beside Figure 4): test RMSE and model continuity per τ.

Reads the tables written by ``contlaws refinement-trained-gather`` and writes

* from ``errors.csv`` (system, model, discretization, seed, tau, label, rmse, mae, train_mean_rmse,
  rmse_ratio, n, readout, learned; RMSE in standardized label units, one row per label component
  and one ``pooled``) the RMSE table: CSV per label with the train-mean predictor's RMSE and how
  many seeds learned, LaTeX pooled with a train-mean row per system;
* from ``model_continuity.csv`` (system, model, discretization, seed, tau, d, delta, order,
  order_note, tau_ref, spread, learned) the model-continuity table: d(τ) per τ and the order p
  (CSV + LaTeX).

Models that did not learn are marked. Means and stds are over seeds. Figure 4
(:mod:`contlaws.plots.figure4`) uses the helpers here and draws only; this module imports no
plotting library. Kept apart from :mod:`contlaws.experiments.refinement_trained` (evaluation and
gathering) so neither module grows past about 400 lines.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

from contlaws.experiments.refinement_trained import (
    CONTINUITY_COLUMNS,
    DISCRETIZATIONS,
    ERROR_COLUMNS,
    MODELS,
    sort_runs,
)
from contlaws.io import as_flags, meta_path, provenance, read_json, read_result_csv, write_table
from contlaws.labels import MODEL_LABELS, SYSTEM_LABELS
from contlaws.latex import write_latex_table

METHOD_LABELS = {"zoh": "ZOH", "bilinear": "bilinear"}
GROUP = ["system", "model", "discretization"]
NOT_LEARNED_MARK = "\u2020"  # † after a model that did not pass its learning gate


def pooled(errors: pd.DataFrame) -> pd.DataFrame:
    """The pooled-over-labels rows of errors.csv."""
    return errors[errors["label"] == "pooled"].reset_index(drop=True)


def learned_by_group(df: pd.DataFrame) -> dict[tuple, bool]:
    """(system, model, discretization) -> True when every seed passed its learning gate."""
    flags = df.assign(learned=as_flags(df["learned"])).groupby(GROUP, sort=False)["learned"].all()
    return {tuple(k): bool(v) for k, v in flags.items()}


def read_table(path: str | Path, columns) -> pd.DataFrame:
    """A result CSV with the given columns; DataFileError naming the file when missing or malformed."""
    allowed = {"model": MODELS, "discretization": DISCRETIZATIONS}
    return read_result_csv(path, columns, hint="run `contlaws refinement-trained-gather` first", allowed=allowed)


def tau_label(tau: float) -> str:
    """1 -> "1", 0.125 -> "1/8", 2 -> "2"."""
    return str(Fraction(float(tau)).limit_denominator(1 << 20))


def seed_stats(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """Mean, std (0 for one seed), min, max and count of ``column`` over seeds per (system, model, discretization, τ)."""
    stats = df.groupby(GROUP + ["tau"], sort=False)[column].agg(["mean", "std", "min", "max", "count"]).reset_index()
    stats["std"] = stats["std"].fillna(0.0)
    return sort_runs(stats, list(dict.fromkeys(df["system"])))


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------
def _cell(mean: float, std: float, count: int, digits: int = 3) -> str:
    text = f"{mean:.{digits}g}"
    return f"{text} ± {std:.1g}" if count > 1 else text


def _row_labels(key) -> dict[str, str]:
    system, model, method = key
    return {"system": SYSTEM_LABELS.get(system, system), "model": MODEL_LABELS[model], "discretization": METHOD_LABELS[method]}


def rmse_table(errors: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(tidy CSV table, wide LaTeX table) of test RMSE per τ, mean and std over seeds.

    The CSV has one row per (system, model, discretization, τ, label) with the train-mean
    predictor's RMSE and how many seeds learned; the LaTeX table shows the pooled RMSE, a
    "train mean" row per system and marks models that did not learn with a dagger.
    """
    rows = []
    for label, part in errors.groupby("label", sort=False):
        rmse, mae = seed_stats(part, "rmse"), seed_stats(part, "mae")
        ref = seed_stats(part, "train_mean_rmse")
        learned = part.assign(learned=as_flags(part["learned"])).groupby(GROUP + ["tau"], sort=False)["learned"].sum()
        rows.append(rmse[GROUP + ["tau"]].assign(
            label=label, rmse_mean=rmse["mean"], rmse_std=rmse["std"], mae_mean=mae["mean"], mae_std=mae["std"],
            train_mean_rmse=ref["mean"], rmse_ratio_to_train_mean=rmse["mean"] / ref["mean"], n_seeds=rmse["count"],
            n_learned=[int(learned.get(tuple(k), 0)) for k in rmse[GROUP + ["tau"]].itertuples(index=False)],
            rmse_ratio_to_tau1=rmse["mean"] / _at_tau1(rmse),
        ))  # fmt: skip
    tidy = pd.concat(rows, ignore_index=True)
    tidy = sort_runs(tidy, list(dict.fromkeys(errors["system"])))
    order = {name: i for i, name in enumerate(dict.fromkeys(errors["label"]))}
    tidy = tidy.sort_values(["system", "model", "discretization", "tau", "label"],
                            key=lambda c: c.map(order) if c.name == "label" else c.map(
                                {v: i for i, v in enumerate(dict.fromkeys(tidy[c.name]))}),
                            kind="stable").reset_index(drop=True)  # fmt: skip
    part = pooled(errors)
    rmse = seed_stats(part, "rmse")
    learned = learned_by_group(part)
    wide = []
    for system, per_system in rmse.groupby("system", sort=False):
        for key, group in per_system.groupby(GROUP, sort=False):
            row = _row_labels(key)
            if not learned.get(key, True):
                row["model"] += NOT_LEARNED_MARK
            row.update({f"{tau_label(t)}": _cell(m, s, c) for t, m, s, c in
                        zip(group["tau"], group["mean"], group["std"], group["count"])})  # fmt: skip
            wide.append(row)
        ref = part[part["system"] == system].groupby("tau")["train_mean_rmse"].mean()
        row = {"system": SYSTEM_LABELS.get(system, system), "model": "train mean", "discretization": "--"}
        row.update({f"{tau_label(t)}": f"{v:.3g}" for t, v in ref.items()})
        wide.append(row)
    return tidy, pd.DataFrame(wide)


def _at_tau1(stats: pd.DataFrame) -> pd.Series:
    """Each row's mean at τ = 1 of its (system, model, discretization)."""
    ref = stats[np.isclose(stats["tau"], 1.0)].set_index(GROUP)["mean"]
    return pd.Series([ref.get(tuple(k), np.nan) for k in stats[GROUP].itertuples(index=False)], index=stats.index)


def continuity_table(continuity: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(tidy CSV table, wide LaTeX table) of d(τ) per τ and the order p, mean and std over seeds."""
    d = seed_stats(continuity, "d")
    learned = learned_by_group(continuity)
    orders = continuity.groupby(GROUP + ["seed"], sort=False)["order"].first().groupby(GROUP, sort=False)
    order_stats = orders.agg(["mean", "std", "count"]).fillna({"std": 0.0})
    tidy = d[GROUP + ["tau"]].assign(d_mean=d["mean"], d_std=d["std"], n_seeds=d["count"])
    tidy["order_mean"] = [order_stats.loc[tuple(k), "mean"] for k in tidy[GROUP].itertuples(index=False)]
    tidy["order_std"] = [order_stats.loc[tuple(k), "std"] for k in tidy[GROUP].itertuples(index=False)]
    tidy["tau_ref"] = continuity.groupby(GROUP)["tau_ref"].first().reindex(pd.MultiIndex.from_frame(tidy[GROUP])).to_numpy()
    tidy["learned"] = [learned.get(tuple(k), False) for k in tidy[GROUP].itertuples(index=False)]
    wide = []
    for key, group in d.groupby(GROUP, sort=False):
        row = _row_labels(key)
        if not learned.get(key, True):
            row["model"] += NOT_LEARNED_MARK
        tau_ref = group["tau"].min()
        row.update({f"d({tau_label(t)})": _cell(m, s, c) for t, m, s, c in
                    zip(group["tau"], group["mean"], group["std"], group["count"]) if t != tau_ref})  # fmt: skip
        o = order_stats.loc[key]
        row["order $p$"] = "--" if not np.isfinite(o["mean"]) else _cell(o["mean"], o["std"], int(o["count"]), 2)
        wide.append(row)
    return tidy, pd.DataFrame(wide)


# ---------------------------------------------------------------------------------------------
# Writing the tables
# ---------------------------------------------------------------------------------------------
def _source_meta(path: Path, **extra) -> dict:
    source = read_json(meta_path(path)) if meta_path(path).exists() else {}
    return provenance(source.get("config"), source.get("seed"), source=str(path), **extra)


def write_rmse_table(errors_csv: Path, table_csv: Path, table_tex: Path) -> pd.DataFrame:
    """The RMSE table (CSV, LaTeX) from errors.csv; returns the tidy table."""
    errors = read_table(errors_csv, ERROR_COLUMNS)
    tidy, wide = rmse_table(errors)
    write_table(table_csv, tidy, meta=_source_meta(errors_csv))
    readouts = ", ".join(sorted(errors.loc[errors["model"] == "s6", "readout"].astype(str).unique())) or "none"
    write_latex_table(
        table_tex, wide,
        caption=("Test RMSE (labels standardized with the training split's mean and std per component, pooled over "
                 "components) of regressors trained at $\\tau = 1$ and evaluated on the same test trajectories sampled "
                 f"every $\\tau\\cdot\\delta$; columns: refinement factor $\\tau$ (mean $\\pm$ std over seeds where "
                 "several). Train mean: the RMSE of predicting the training split's mean label. "
                 f"{NOT_LEARNED_MARK}: did not learn (RMSE at $\\tau = 1$ above the gate). S6 readout: {readouts}."),
        label="tab:refinement-trained-rmse",
    )  # fmt: skip
    return tidy


def write_model_continuity_table(continuity_csv: Path, table_csv: Path, table_tex: Path) -> pd.DataFrame:
    """The model-continuity table (CSV, LaTeX) from model_continuity.csv; returns the tidy table."""
    continuity = read_table(continuity_csv, CONTINUITY_COLUMNS)
    tidy, wide = continuity_table(continuity)
    write_table(table_csv, tidy, meta=_source_meta(continuity_csv))
    write_latex_table(
        table_tex, wide,
        caption=("Model continuity $d(\\tau)$ = RMS of $f_\\tau(x_\\tau) - f_{\\tau_{\\min}}(x_{\\tau_{\\min}})$ divided by "
                 "the RMS spread of $f_{\\tau_{\\min}}(x_{\\tau_{\\min}})$ over the test trajectories, and the empirical "
                 "order $p$ (log-log slope of the differences between neighbouring $\\tau \\le 1$, at least three); "
                 "$\\tau_{\\min}$ is the finest grid (mean $\\pm$ std over seeds where several). "
                 f"{NOT_LEARNED_MARK}: did not learn (no claim counts it)."),
        label="tab:model-continuity",
    )  # fmt: skip
    return tidy
