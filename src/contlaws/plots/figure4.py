"""E2 figure and tables (paper Figure 4): trained S4D / S6 regressors under temporal refinement.

Reads only the tables written by ``contlaws refinement-trained-gather``, so restyling never
retrains or re-evaluates anything:

* ``errors.csv`` (system, model, discretization, seed, tau, label, rmse, mae, train_mean_rmse,
  rmse_ratio, n, readout, learned; RMSE in standardized label units, one row per label component
  and one ``pooled``) -> the figure (pooled test RMSE against τ, log τ axis, one panel per system,
  S4D vs S6, ZOH solid and bilinear dashed, τ = 1 marked; lines = mean over seeds, band = min–max
  over seeds; in grey the train-mean predictor's RMSE, the trivial reference, and the learning gate
  at ``gates.e2_rmse_ratio`` times it; models that did not learn drawn faint and marked "not
  learned") and the RMSE table (CSV per label + LaTeX pooled, with the train-mean row);
* ``model_continuity.csv`` (system, model, discretization, seed, tau, d, delta, order, order_note,
  tau_ref, spread, learned) -> the model-continuity table: d(τ) per τ and the order p (CSV + LaTeX),
  models that did not learn marked.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedFormatter, FixedLocator

from contlaws.errors import DataFileError
from contlaws.experiments.refinement_trained import (
    CONTINUITY_COLUMNS,
    DISCRETIZATIONS,
    ERROR_COLUMNS,
    MODELS,
    sort_runs,
)
from contlaws.io import as_flags, meta_path, provenance, read_json, read_result_csv, write_table
from contlaws.plots.style import MODEL_COLORS, MODEL_LABELS, SYSTEM_LABELS, save_figure, write_latex_table

LINESTYLES = {"zoh": "-", "bilinear": (0, (4, 2))}
MARKERS = {"zoh": "o", "bilinear": "s"}
METHOD_LABELS = {"zoh": "ZOH", "bilinear": "bilinear"}
GROUP = ["system", "model", "discretization"]
# A log RMSE axis once a panel's curves span more than this factor (else linear reads better).
LOG_Y_SPAN = 20.0
REFERENCE_STYLE = {"color": "0.5", "linewidth": 1.0, "zorder": 1}
GATE_STYLE = {"color": "0.5", "linewidth": 0.8, "linestyle": ":", "zorder": 1}
NOT_LEARNED_ALPHA = 0.35
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
    path = Path(path)
    df = read_result_csv(path, columns, hint="run `contlaws refinement-trained-gather` first")
    bad = df[~df["model"].isin(MODELS) | ~df["discretization"].isin(DISCRETIZATIONS)]
    if len(bad):
        raise DataFileError(f"{path}: unknown model/discretization in row {bad.index[0] + 2}")
    return df


def tau_label(tau: float) -> str:
    """1 -> "1", 0.125 -> "1/8", 2 -> "2"."""
    return str(Fraction(float(tau)).limit_denominator(1 << 20))


def seed_stats(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """Mean, std (0 for one seed), min, max and count of ``column`` over seeds per (system, model, discretization, τ)."""
    stats = df.groupby(GROUP + ["tau"], sort=False)[column].agg(["mean", "std", "min", "max", "count"]).reset_index()
    stats["std"] = stats["std"].fillna(0.0)
    return sort_runs(stats, list(dict.fromkeys(df["system"])))


# ---------------------------------------------------------------------------------------------
# Figure
# ---------------------------------------------------------------------------------------------
def relative_to_tau1(errors: pd.DataFrame) -> pd.DataFrame:
    """``errors`` with column ``rmse_rel`` = rmse(τ) / rmse(τ = 1) of the same run (system, model, discretization, seed)."""
    runs = GROUP + ["seed"]
    at_1 = errors[np.isclose(errors["tau"], 1.0)].set_index(runs)["rmse"]
    ref = at_1.reindex(pd.MultiIndex.from_frame(errors[runs])).to_numpy()
    return errors.assign(rmse_rel=errors["rmse"].to_numpy() / ref)


def _draw_curves(ax, stats: pd.DataFrame, banded: bool, learned: dict[tuple, bool]) -> None:
    """One line per (model, discretization); seed bands only on the main discretization (less clutter);
    models that did not pass their learning gate faint."""
    main = next(m for m in DISCRETIZATIONS if m in set(stats["discretization"]))
    for (system, model, method), curve in stats.groupby(GROUP, sort=False):
        color = MODEL_COLORS[model]
        alpha = 1.0 if learned.get((system, model, method), True) else NOT_LEARNED_ALPHA
        if banded and method == main:
            ax.fill_between(curve["tau"], curve["min"], curve["max"], color=color, alpha=0.15 * alpha, linewidth=0)
        ax.plot(curve["tau"], curve["mean"], color=color, linestyle=LINESTYLES[method], marker=MARKERS[method],
                markerfacecolor=color if method == "zoh" else "white", markeredgewidth=1.0, alpha=alpha)  # fmt: skip


def plot_figure4(errors: pd.DataFrame, gate_ratio: float | None = None):
    """Top row: pooled test RMSE against τ, one panel per system, with the train-mean predictor's RMSE
    (grey, solid) and the learning gate ``gate_ratio`` × it (grey, dotted); bottom row: RMSE relative to τ = 1.

    Args:
        errors: errors.csv (all labels; the pooled rows are drawn).
    Returns the matplotlib Figure.
    """
    errors = pooled(errors) if "label" in errors else errors
    learned = learned_by_group(errors)
    reference = errors.groupby(["system", "tau"], sort=False)["train_mean_rmse"].mean().reset_index()
    stats = seed_stats(errors, "rmse")
    relative = seed_stats(relative_to_tau1(errors), "rmse_rel")
    systems = list(dict.fromkeys(stats["system"]))
    taus = np.sort(stats["tau"].unique())
    n_seeds = int(errors.groupby(GROUP)["seed"].nunique().max())

    fig, axes = plt.subplots(2, len(systems), figsize=(2.45 * len(systems) + 0.3, 4.1), sharex=True, squeeze=False,
                             layout="constrained", gridspec_kw={"height_ratios": [1.25, 1]})  # fmt: skip
    rel_top = relative["max"].max()
    for col, system in enumerate(systems):
        top, bottom = axes[0, col], axes[1, col]
        panel = stats[stats["system"] == system]
        _draw_curves(top, panel, n_seeds > 1, learned)
        ref = reference[reference["system"] == system].sort_values("tau")
        top.plot(ref["tau"], ref["train_mean_rmse"], **REFERENCE_STYLE)
        if gate_ratio:
            top.plot(ref["tau"], gate_ratio * ref["train_mean_rmse"], **GATE_STYLE)
        values = pd.concat([panel["mean"], ref["train_mean_rmse"]])
        if values.max() / max(values.min(), 1e-300) > LOG_Y_SPAN:
            top.set_yscale("log")
        else:
            top.set_ylim(0, max(panel["max"].max(), ref["train_mean_rmse"].max()) * 1.12)
        failed = [MODEL_LABELS[m] + (f" {METHOD_LABELS[d]}" if len(set(panel["discretization"])) > 1 else "")
                  for (sy, m, d), ok in learned.items() if sy == system and not ok]  # fmt: skip
        top.set_title(SYSTEM_LABELS.get(system, system))
        if failed:
            top.text(0.02, 0.02, "not learned: " + ", ".join(failed), transform=top.transAxes, fontsize=6.5,
                     color="0.3", ha="left", va="bottom")  # fmt: skip
        _draw_curves(bottom, relative[relative["system"] == system], n_seeds > 1, learned)
        bottom.axhline(1.0, color="0.45", linewidth=0.8, zorder=0)
        bottom.set_xlabel(r"refinement factor $\tau$")
        for ax in (top, bottom):
            ax.axvline(1.0, color="0.45", linestyle=":", linewidth=1.0, zorder=0)
        top.text(1.0, 1.0, " train", transform=top.get_xaxis_transform(), ha="left", va="top", fontsize=6.5, color="0.35")
    for ax in axes[1]:
        ax.sharey(axes[1, 0])
    if rel_top > LOG_Y_SPAN:
        axes[1, 0].set_yscale("log")
    else:
        low = min(1.0, relative["min"].min())
        pad = 0.08 * (rel_top - low)
        axes[1, 0].set_ylim(low - pad, rel_top + pad)
    axes[0, 0].set_ylabel("test RMSE (standardized)")
    axes[1, 0].set_ylabel(r"RMSE / RMSE at $\tau = 1$")
    ax = axes[0, 0]
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(list(taus)))
    ax.xaxis.set_minor_locator(FixedLocator([]))
    ax.xaxis.set_major_formatter(FixedFormatter([tau_label(t) for t in taus]))
    ax.set_xlim(taus.min() / 1.35, taus.max() * 1.35)

    handles = []
    for model in MODELS:
        for method in DISCRETIZATIONS:
            if ((errors["model"] == model) & (errors["discretization"] == method)).any():
                handles.append(Line2D([], [], color=MODEL_COLORS[model], linestyle=LINESTYLES[method],
                                      marker=MARKERS[method], markeredgewidth=1.0,
                                      markerfacecolor=MODEL_COLORS[model] if method == "zoh" else "white",
                                      label=f"{MODEL_LABELS[model]} {METHOD_LABELS[method]}"))  # fmt: skip
    handles.append(Line2D([], [], label="train-mean label (no training)", **REFERENCE_STYLE))
    if gate_ratio:
        handles.append(Line2D([], [], label=f"learning gate ({gate_ratio:g} × train mean)", **GATE_STYLE))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4), frameon=False)
    main = METHOD_LABELS[next(m for m in DISCRETIZATIONS if m in set(errors["discretization"]))]
    seeds = f"mean over {n_seeds} seeds, band min–max ({main})" if n_seeds > 1 else "one seed"
    fig.suptitle(f"Trained at $\\tau = 1$, tested on the same trajectories sampled every $\\tau \\cdot \\delta$ ({seeds})",
                 fontsize=8, color="0.25")  # fmt: skip
    return fig


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
# Writing the figure and tables
# ---------------------------------------------------------------------------------------------
def _source_meta(path: Path, **extra) -> dict:
    source = read_json(meta_path(path)) if meta_path(path).exists() else {}
    return provenance(source.get("config"), source.get("seed"), source=str(path), **extra)


def write_figure4(errors_csv: Path, figure: Path, table_csv: Path, table_tex: Path,
                  gate_ratio: float | None = None) -> pd.DataFrame:
    """Figure 4 (STEM.pdf/.png) and the RMSE table (CSV, LaTeX) from errors.csv; returns the tidy table."""
    errors = read_table(errors_csv, ERROR_COLUMNS)
    save_figure(plot_figure4(errors, gate_ratio), figure)
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
