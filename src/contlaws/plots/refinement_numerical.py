"""E1 figure and table: error of discretized S4/S6 against the RK4 reference as τ shrinks.

Reads only the tidy CSV written by ``contlaws refinement-numerical-run`` (columns system, amplitude,
amplitude_log2, tau, tau_log2, model, discretization, rel_max_error, rel_rmse), so restyling the
figure never recomputes anything. Writes

* the figure: a 2 × 2 grid (rows S4, S6; columns ZOH, bilinear), error against τ on log-log axes,
  one curve per input amplitude a (mean over systems, band = min–max over systems), with guide
  lines of slope 1 and 2;
* the empirical convergence orders p (log-log slope of the mean error against τ) per model,
  discretization and amplitude, as CSV and as a LaTeX table;
* with ``--out-ratios-csv``, the amplitude error ratio (relative max error at the largest amplitude /
  at the smallest, at the finest τ) per random system, with its median and range over systems: the
  ratio depends on the drawn system, so it is never reported as one number.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.ticker import FixedLocator, LogLocator, NullFormatter

from contlaws.experiments.refinement_numerical import (
    DISCRETIZATIONS,
    ERROR_COLUMNS,
    MODELS,
    amplitude_ratio_summary,
    amplitude_ratios,
    convergence_orders,
)
from contlaws.io import meta_path, provenance, read_json, read_result_csv, write_table
from contlaws.plots.style import apply_theme, save_figure, write_latex_table

REQUIRED_COLUMNS = (
    "system", "amplitude", "amplitude_log2", "tau", "tau_log2", "model", "discretization", *ERROR_COLUMNS,
)
MODEL_NAMES = {"s4": "S4", "s6": "S6"}
METHOD_NAMES = {"zoh": "ZOH", "bilinear": "bilinear"}
METRIC_NAMES = {"rel_max_error": "relative max error", "rel_rmse": "relative RMSE"}
CMAP = "viridis"
GUIDE_STYLES = {1: (0, (4, 2)), 2: (0, (1, 1.5))}  # dash pattern of the slope-1 and slope-2 guides


def read_errors(path: str | Path) -> pd.DataFrame:
    """The E1 error table; raises DataFileError naming the file if it is missing or malformed."""
    allowed = {"model": MODELS, "discretization": DISCRETIZATIONS}
    hint = "run `contlaws refinement-numerical-run` first"
    return read_result_csv(path, REQUIRED_COLUMNS, hint=hint, allowed=allowed)


def summarize(errors: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean, min and max of ``metric`` over systems per (model, discretization, amplitude, τ)."""
    keys = ["model", "discretization", "amplitude_log2", "tau"]
    return errors.groupby(keys, sort=True)[metric].agg(["mean", "min", "max"]).reset_index()


def plot_errors(errors: pd.DataFrame, metric: str = "rel_max_error"):
    """The 2 × 2 figure; returns the matplotlib Figure."""
    # Longer than ~60 lines on purpose: one figure drawn top to bottom; the reason it stays whole.
    apply_theme()
    stats = summarize(errors, metric)
    amp_log2 = np.sort(stats["amplitude_log2"].unique())
    norm = Normalize(vmin=amp_log2.min(), vmax=amp_log2.max() if len(amp_log2) > 1 else amp_log2.min() + 1)
    cmap = plt.get_cmap(CMAP)
    n_systems = errors["system"].nunique()
    orders = convergence_orders(errors)
    order_col = "order_max_error" if metric == "rel_max_error" else "order_rmse"

    fig, axes = plt.subplots(2, 2, figsize=(6.4, 4.9), sharex=True, sharey=True, layout="constrained")
    for row, model in enumerate(MODELS):
        for col, method in enumerate(DISCRETIZATIONS):
            ax = axes[row, col]
            panel = stats[(stats["model"] == model) & (stats["discretization"] == method)]
            means = panel.pivot(index="tau", columns="amplitude_log2", values="mean")
            coincide = len(amp_log2) > 1 and (means.max(axis=1) / means.min(axis=1)).max() < 1.01
            # Bands of the extreme amplitudes only: eleven overlapping bands would hide each other.
            banded = amp_log2[:1] if coincide else [amp_log2[0], amp_log2[-1]]
            for value in amp_log2:
                curve = panel[panel["amplitude_log2"] == value]
                color = "0.15" if coincide else cmap(norm(value))
                if value in banded:
                    ax.fill_between(curve["tau"], curve["min"], curve["max"], color=color, alpha=0.15, linewidth=0)
                ax.plot(curve["tau"], curve["mean"], "o-", color=color, markersize=2.5, linewidth=1.2)
            if coincide:
                ax.text(0.03, 0.97, "all amplitudes coincide", transform=ax.transAxes, ha="left", va="top", fontsize=7)
            p = orders[(orders["model"] == model) & (orders["discretization"] == method)][order_col]
            fitted = f"{p.iloc[0]:.2f}" if p.max() - p.min() < 0.005 else f"{p.min():.2f}–{p.max():.2f}"
            ax.text(0.97, 0.04, f"fitted order {fitted}", transform=ax.transAxes, ha="right", va="bottom", fontsize=7)
            ax.set_title(f"{MODEL_NAMES[model]}, {METHOD_NAMES[method]}")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            if row == 1:
                ax.set_xlabel(r"step $\tau$")
            if col == 0:
                ax.set_ylabel(METRIC_NAMES[metric])

    # Axis ticks: every other power of two labelled on τ, decades on the error.
    taus = np.sort(errors["tau"].unique())
    log2_taus = np.log2(taus).round().astype(int)
    major = [2.0**k for k in log2_taus if (k - log2_taus.max()) % 2 == 0]
    for ax in axes.ravel():
        ax.xaxis.set_major_locator(FixedLocator(major))
        ax.xaxis.set_minor_locator(FixedLocator([t for t in taus if t not in major]))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_major_locator(LogLocator(base=10, numticks=12))
    axes[0, 0].set_xlim(taus.min() / 1.3, taus.max() * 1.3)
    add_slope_guides(axes, stats, taus)

    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes, shrink=0.85, pad=0.02, aspect=30)
    ticks = list(amp_log2) if len(amp_log2) <= 6 else [v for v in amp_log2 if float(v).is_integer()]
    bar.set_ticks(ticks, labels=[f"$2^{{{v:g}}}$" for v in ticks])
    bar.set_label("input amplitude $a$")
    fig.text(
        0.0, -0.01,
        f"Lines: mean over {n_systems} random systems; bands: min–max over systems (smallest and largest $a$). "
        "Input held at the left end point of each step; reference: RK4.",
        fontsize=7, ha="left", va="top", color="0.3",
    )
    return fig


def add_slope_guides(axes, stats: pd.DataFrame, taus: np.ndarray, octaves: int = 2) -> None:
    """Lines ∝ τ and ∝ τ² over the finest ``octaves`` of the τ range, fanning out from one point
    below the S4 mean curves (so they do not cross the data), in every panel."""
    start = taus.min()
    stop = taus[min(octaves, len(taus) - 1)]
    at_stop = stats[np.isclose(stats["tau"], stop)]
    s4 = at_stop[at_stop["model"] == "s4"]
    anchor = 0.3 * (s4 if len(s4) else at_stop)["mean"].min()
    grid = np.array([start, stop])
    for ax in axes.ravel():
        for order, dashes in GUIDE_STYLES.items():
            ax.plot(grid, anchor * (grid / stop) ** order, color="0.3", linestyle=dashes, linewidth=1.0,
                    label=rf"$\propto \tau^{order}$")
    axes[0, 0].legend(loc="upper left", bbox_to_anchor=(0.0, 0.9), frameon=False, handlelength=2.4)


def orders_table_tex(orders: pd.DataFrame) -> pd.DataFrame:
    """Orders pivoted for print: one row per amplitude, one column per method, 'max / RMS' cells."""
    # The CSV keeps 6 significant digits, so log2(a) is rounded back to the grid's short form.
    wide = pd.DataFrame({"$a$": [f"$2^{{{round(np.log2(a), 3):g}}}$" for a in sorted(orders["amplitude"].unique())]})
    for model in MODELS:
        for method in DISCRETIZATIONS:
            sub = orders[(orders["model"] == model) & (orders["discretization"] == method)].sort_values("amplitude")
            if len(sub):
                cells = [f"{m:.2f} / {r:.2f}" for m, r in zip(sub["order_max_error"], sub["order_rmse"])]
                wide[f"{MODEL_NAMES[model]} {METHOD_NAMES[method]}"] = cells
    return wide


def write_outputs(results: Path, figure: Path, orders_csv: Path, orders_tex: Path, ratios_csv: Path | None = None,
                  metric: str = "rel_max_error") -> pd.DataFrame | None:
    """Figure (STEM.pdf/.png) and orders table (CSV, LaTeX) from the error CSV; with ``ratios_csv`` also the
    amplitude error ratios, whose summary over systems is returned."""
    errors = read_errors(results)
    source_meta = read_json(meta_path(results)) if meta_path(results).exists() else {}
    orders = convergence_orders(errors)
    meta = provenance(
        source_meta.get("config"), source_meta.get("seed"), source=str(results),
        source_git_commit=source_meta.get("git_commit"),
    )
    write_table(orders_csv, orders, meta=meta, float_format="%.4f")
    n_sys = errors["system"].nunique()
    write_latex_table(
        orders_tex,
        orders_table_tex(orders),
        caption=(
            "Empirical convergence order $p$ (least-squares slope of $\\log$ error against $\\log\\tau$, "
            f"error averaged over {n_sys} random systems) of discretized S4 and S6 against an RK4 reference, "
            "per input amplitude $a$; cells give the order of the relative max error / relative RMSE."
        ),
        label="tab:refinement-numerical-orders",
    )
    summary = None
    if ratios_csv:
        ratios = amplitude_ratios(errors, "rel_max_error")
        summary = amplitude_ratio_summary(ratios)
        finest = ratios[np.isclose(ratios["tau"], ratios["tau"].min())]
        table = finest.merge(summary, on=["model", "discretization", "tau"], suffixes=("", "_over_systems"))
        write_table(ratios_csv, table, meta={**meta, "metric": "rel_max_error",
                                             "what": "per-system amplitude ratio at the finest tau, with median/min/max over systems"})  # fmt: skip
    save_figure(plot_errors(errors, metric=metric), figure)
    return summary
