"""E2 figure and tables (paper Figure 4): trained S4D / S6 regressors under temporal refinement.

Reads only the tables written by ``contlaws refinement-trained-aggregate``, so restyling never
retrains or re-evaluates anything:

* ``errors.csv`` (system, model, discretization, seed, tau, rmse, mae, n, readout) ->
  the figure (test RMSE against τ, log τ axis, one panel per system, S4D vs S6, ZOH solid and
  bilinear dashed, τ = 1 marked; lines = mean over seeds, band = min–max over seeds) and the RMSE
  table (CSV + LaTeX);
* ``model_continuity.csv`` (system, model, discretization, seed, tau, d, order, tau_ref) -> the
  model-continuity table: d(τ) per τ and the order p (CSV + LaTeX).
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedFormatter, FixedLocator

from contlaws.experiments.refinement_trained import (
    CONTINUITY_COLUMNS,
    DISCRETIZATIONS,
    ERROR_COLUMNS,
    MODELS,
    sort_runs,
)
from contlaws.io import DataFileError, meta_path, provenance, read_json, read_result_csv, write_table
from contlaws.plots.style import MODEL_COLORS, MODEL_LABELS, SYSTEM_LABELS, save_figure, write_latex_table

LINESTYLES = {"zoh": "-", "bilinear": (0, (4, 2))}
MARKERS = {"zoh": "o", "bilinear": "s"}
METHOD_LABELS = {"zoh": "ZOH", "bilinear": "bilinear"}
GROUP = ["system", "model", "discretization"]
# A log RMSE axis once a panel's curves span more than this factor (else linear reads better).
LOG_Y_SPAN = 20.0


def read_table(path: str | Path, columns) -> pd.DataFrame:
    """A result CSV with the given columns; DataFileError naming the file when missing or malformed."""
    path = Path(path)
    df = read_result_csv(path, columns, hint="run `contlaws refinement-trained-aggregate` first")
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


def _draw_curves(ax, stats: pd.DataFrame, banded: bool) -> None:
    """One line per (model, discretization); seed bands only on the main discretization (less clutter)."""
    main = next(m for m in DISCRETIZATIONS if m in set(stats["discretization"]))
    for (model, method), curve in stats.groupby(["model", "discretization"], sort=False):
        color = MODEL_COLORS[model]
        if banded and method == main:
            ax.fill_between(curve["tau"], curve["min"], curve["max"], color=color, alpha=0.15, linewidth=0)
        ax.plot(curve["tau"], curve["mean"], color=color, linestyle=LINESTYLES[method], marker=MARKERS[method],
                markerfacecolor=color if method == "zoh" else "white", markeredgewidth=1.0)  # fmt: skip


def plot_figure4(errors: pd.DataFrame):
    """Top row: test RMSE against τ, one panel per system; bottom row: the same relative to τ = 1.

    Returns the matplotlib Figure.
    """
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
        _draw_curves(top, panel, n_seeds > 1)
        if panel["mean"].max() / max(panel["mean"].min(), 1e-300) > LOG_Y_SPAN:
            top.set_yscale("log")
        else:
            top.set_ylim(0, panel["max"].max() * 1.12)
        top.set_title(SYSTEM_LABELS.get(system, system))
        _draw_curves(bottom, relative[relative["system"] == system], n_seeds > 1)
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
    axes[0, 0].set_ylabel("test RMSE")
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
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False)
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
    """(tidy CSV table, wide LaTeX table) of test RMSE and MAE per τ, mean and std over seeds."""
    rmse, mae = seed_stats(errors, "rmse"), seed_stats(errors, "mae")
    tidy = rmse[GROUP + ["tau"]].assign(
        rmse_mean=rmse["mean"], rmse_std=rmse["std"], mae_mean=mae["mean"], mae_std=mae["std"], n_seeds=rmse["count"],
        rmse_ratio_to_tau1=rmse["mean"] / _at_tau1(rmse),
    )  # fmt: skip
    wide = []
    for key, group in rmse.groupby(GROUP, sort=False):
        row = _row_labels(key)
        row.update({f"{tau_label(t)}": _cell(m, s, c) for t, m, s, c in
                    zip(group["tau"], group["mean"], group["std"], group["count"])})  # fmt: skip
        wide.append(row)
    return tidy, pd.DataFrame(wide)


def _at_tau1(stats: pd.DataFrame) -> pd.Series:
    """Each row's mean at τ = 1 of its (system, model, discretization)."""
    ref = stats[np.isclose(stats["tau"], 1.0)].set_index(GROUP)["mean"]
    return pd.Series([ref.get(tuple(k), np.nan) for k in stats[GROUP].itertuples(index=False)], index=stats.index)


def continuity_table(continuity: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(tidy CSV table, wide LaTeX table) of d(τ) per τ and the order p, mean and std over seeds."""
    d = seed_stats(continuity, "d")
    orders = continuity.groupby(GROUP + ["seed"], sort=False)["order"].first().groupby(GROUP, sort=False)
    order_stats = orders.agg(["mean", "std", "count"]).fillna({"std": 0.0})
    tidy = d[GROUP + ["tau"]].assign(d_mean=d["mean"], d_std=d["std"], n_seeds=d["count"])
    tidy["order_mean"] = [order_stats.loc[tuple(k), "mean"] for k in tidy[GROUP].itertuples(index=False)]
    tidy["order_std"] = [order_stats.loc[tuple(k), "std"] for k in tidy[GROUP].itertuples(index=False)]
    tidy["tau_ref"] = continuity.groupby(GROUP)["tau_ref"].first().reindex(pd.MultiIndex.from_frame(tidy[GROUP])).to_numpy()
    wide = []
    for key, group in d.groupby(GROUP, sort=False):
        row = _row_labels(key)
        tau_ref = group["tau"].min()
        row.update({f"d({tau_label(t)})": _cell(m, s, c) for t, m, s, c in
                    zip(group["tau"], group["mean"], group["std"], group["count"]) if t != tau_ref})  # fmt: skip
        o = order_stats.loc[key]
        row["order $p$"] = "--" if not np.isfinite(o["mean"]) else _cell(o["mean"], o["std"], int(o["count"]), 2)
        wide.append(row)
    return tidy, pd.DataFrame(wide)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------
def _source_meta(path: Path, **extra) -> dict:
    source = read_json(meta_path(path)) if meta_path(path).exists() else {}
    return provenance(source.get("config"), source.get("seed"), source=str(path), **extra)


def cli_figure4(args: argparse.Namespace) -> None:
    errors = read_table(args.errors, ERROR_COLUMNS)
    save_figure(plot_figure4(errors), args.figure)
    tidy, wide = rmse_table(errors)
    write_table(args.table_csv, tidy, meta=_source_meta(args.errors))
    readouts = ", ".join(sorted(errors.loc[errors["model"] == "s6", "readout"].astype(str).unique())) or "none"
    write_latex_table(
        args.table_tex, wide,
        caption=("Test RMSE of regressors trained at $\\tau = 1$ and evaluated on the same test trajectories sampled "
                 f"every $\\tau\\cdot\\delta$; columns: refinement factor $\\tau$ (mean $\\pm$ std over seeds where "
                 f"several). S6 readout: {readouts}."),
        label="tab:refinement-trained-rmse",
    )  # fmt: skip
    print(tidy.to_string(index=False))


def cli_continuity_table(args: argparse.Namespace) -> None:
    continuity = read_table(args.continuity, CONTINUITY_COLUMNS)
    tidy, wide = continuity_table(continuity)
    write_table(args.table_csv, tidy, meta=_source_meta(args.continuity))
    write_latex_table(
        args.table_tex, wide,
        caption=("Model continuity $d(\\tau) = \\|f_\\tau(x_\\tau) - f_{\\tau_{\\min}}(x_{\\tau_{\\min}})\\| / "
                 "\\|f_{\\tau_{\\min}}(x_{\\tau_{\\min}})\\|$ of the trained regressors on the test trajectories, and "
                 "its empirical order $p$ (log-log slope over $\\tau_{\\min} < \\tau \\le 1$); $\\tau_{\\min}$ is the "
                 "finest grid (mean $\\pm$ std over seeds where several)."),
        label="tab:model-continuity",
    )  # fmt: skip
    print(tidy.to_string(index=False))


def register(subparsers) -> None:
    p = subparsers.add_parser("plot-figure4", help="E2: Figure 4 (test RMSE vs tau) and the RMSE table from errors.csv")
    p.add_argument("--errors", type=Path, required=True, help="results/<run>/refinement_trained/errors.csv")
    p.add_argument("--figure", type=Path, required=True, help="figure stem (writes STEM.pdf and STEM.png)")
    p.add_argument("--table-csv", type=Path, required=True)
    p.add_argument("--table-tex", type=Path, required=True)
    p.set_defaults(func=cli_figure4)

    p = subparsers.add_parser("table-model-continuity", help="E2: model-continuity table from model_continuity.csv")
    p.add_argument("--continuity", type=Path, required=True, help="results/<run>/refinement_trained/model_continuity.csv")
    p.add_argument("--table-csv", type=Path, required=True)
    p.add_argument("--table-tex", type=Path, required=True)
    p.set_defaults(func=cli_continuity_table)
