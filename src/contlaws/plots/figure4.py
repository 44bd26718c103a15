"""E2 Figure 4: trained S4D / S6 regressors under temporal refinement.

Reads only ``errors.csv`` written by ``contlaws refinement-trained-gather``, so restyling never
retrains or re-evaluates anything, and draws pooled test RMSE against τ (log τ axis, one panel per
system, S4D vs S6, ZOH solid and bilinear dashed, τ = 1 marked; drawn with seaborn: lines = mean
over seeds, band = mean ± 2 standard errors over seeds; in grey the train-mean predictor's RMSE,
the trivial reference, and the learning gate at ``gates.e2_rmse_ratio`` times it; models that did
not learn drawn faint and marked "not learned"). The RMSE and model-continuity tables are computed in
:mod:`contlaws.experiments.refinement_trained_tables`.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedFormatter, FixedLocator

from contlaws.experiments.refinement_trained import DISCRETIZATIONS, ERROR_COLUMNS, MODELS
from contlaws.experiments.refinement_trained_tables import (
    GROUP,
    METHOD_LABELS,
    learned_by_group,
    pooled,
    read_table,
    tau_label,
)
from contlaws.plots.style import (
    MODEL_COLORS,
    MODEL_LABELS,
    SEED_BAND_TEXT,
    SEED_ERRORBAR,
    SYSTEM_LABELS,
    apply_theme,
    band_edges,
    save_figure,
)

LINESTYLES = {"zoh": "-", "bilinear": (0, (4, 2))}
MARKERS = {"zoh": "o", "bilinear": "s"}
# A log RMSE axis once a panel's curves span more than this factor (else linear reads better).
LOG_Y_SPAN = 20.0
REFERENCE_STYLE = {"color": "0.5", "linewidth": 1.0, "zorder": 1}
GATE_STYLE = {"color": "0.5", "linewidth": 0.8, "linestyle": ":", "zorder": 1}
NOT_LEARNED_ALPHA = 0.35


# ---------------------------------------------------------------------------------------------
# Figure
# ---------------------------------------------------------------------------------------------
def relative_to_tau1(errors: pd.DataFrame) -> pd.DataFrame:
    """``errors`` with column ``rmse_rel`` = rmse(τ) / rmse(τ = 1) of the same run (system, model, discretization, seed)."""
    runs = GROUP + ["seed"]
    at_1 = errors[np.isclose(errors["tau"], 1.0)].set_index(runs)["rmse"]
    ref = at_1.reindex(pd.MultiIndex.from_frame(errors[runs])).to_numpy()
    return errors.assign(rmse_rel=errors["rmse"].to_numpy() / ref)


def _draw_curves(ax, runs: pd.DataFrame, column: str, banded: bool, learned: dict[tuple, bool]) -> None:
    """One line per (model, discretization) through the seed means of ``column`` (seaborn); seed bands
    (:data:`SEED_ERRORBAR`) only on the main discretization (less clutter); models that did not pass
    their learning gate faint. ``runs``: one row per (system, model, discretization, seed, τ)."""
    main = next(m for m in DISCRETIZATIONS if m in set(runs["discretization"]))
    order = {key: i for i, key in enumerate((m, d) for m in MODELS for d in DISCRETIZATIONS)}
    groups = sorted(runs.groupby(GROUP, sort=False), key=lambda item: order[item[0][1:]])
    for (system, model, method), curve in groups:
        color = MODEL_COLORS[model]
        alpha = 1.0 if learned.get((system, model, method), True) else NOT_LEARNED_ALPHA
        sns.lineplot(data=curve, x="tau", y=column, color=color, linestyle=LINESTYLES[method], marker=MARKERS[method],
                     markerfacecolor=color if method == "zoh" else "white", markeredgecolor=color, markeredgewidth=1.0,
                     alpha=alpha, errorbar=SEED_ERRORBAR if banded and method == main else None,
                     err_kws={"alpha": 0.15 * alpha, "linewidth": 0}, ax=ax)  # fmt: skip
    ax.set_xlabel("")
    ax.set_ylabel("")


def plot_figure4(errors: pd.DataFrame, gate_ratio: float | None = None):
    """Top row: pooled test RMSE against τ, one panel per system, with the train-mean predictor's RMSE
    (grey, solid) and the learning gate ``gate_ratio`` × it (grey, dotted); bottom row: RMSE relative to τ = 1.

    Args:
        errors: errors.csv (all labels; the pooled rows are drawn).
    Returns the matplotlib Figure.
    """
    # Longer than ~60 lines on purpose: one figure drawn top to bottom (both rows share axes, colours and the legend); the reason it stays whole.
    apply_theme()
    errors = pooled(errors) if "label" in errors else errors
    learned = learned_by_group(errors)
    reference = errors.groupby(["system", "tau"], sort=False)["train_mean_rmse"].mean().reset_index()
    relative = relative_to_tau1(errors)
    systems = list(dict.fromkeys(errors["system"]))
    taus = np.sort(errors["tau"].unique())
    n_seeds = int(errors.groupby(GROUP)["seed"].nunique().max())
    keys = GROUP + ["tau"]
    _, rmse_high = band_edges(errors, keys, "rmse")
    rel_low, rel_high = band_edges(relative, keys, "rmse_rel")

    fig, axes = plt.subplots(2, len(systems), figsize=(2.45 * len(systems) + 0.3, 4.1), sharex=True, squeeze=False,
                             layout="constrained", gridspec_kw={"height_ratios": [1.25, 1]})  # fmt: skip
    rel_top = rel_high.max()
    for col, system in enumerate(systems):
        top, bottom = axes[0, col], axes[1, col]
        panel = errors[errors["system"] == system]
        _draw_curves(top, panel, "rmse", n_seeds > 1, learned)
        ref = reference[reference["system"] == system].sort_values("tau")
        top.plot(ref["tau"], ref["train_mean_rmse"], **REFERENCE_STYLE)
        if gate_ratio:
            top.plot(ref["tau"], gate_ratio * ref["train_mean_rmse"], **GATE_STYLE)
        high = rmse_high.xs(system, level="system")
        values = pd.concat([panel.groupby(GROUP + ["tau"])["rmse"].mean(), ref["train_mean_rmse"]])
        if values.max() / max(values.min(), 1e-300) > LOG_Y_SPAN:
            top.set_yscale("log")
        else:
            top.set_ylim(0, max(high.max(), ref["train_mean_rmse"].max()) * 1.12)
        failed = [MODEL_LABELS[m] + (f" {METHOD_LABELS[d]}" if len(set(panel["discretization"])) > 1 else "")
                  for (sy, m, d), ok in learned.items() if sy == system and not ok]  # fmt: skip
        top.set_title(SYSTEM_LABELS.get(system, system))
        if failed:
            top.text(0.02, 0.02, "not learned: " + ", ".join(failed), transform=top.transAxes, fontsize=6.5,
                     color="0.3", ha="left", va="bottom")  # fmt: skip
        _draw_curves(bottom, relative[relative["system"] == system], "rmse_rel", n_seeds > 1, learned)
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
        low = min(1.0, rel_low.min())
        pad = 0.08 * (rel_top - low)
        axes[1, 0].set_ylim(low - pad, rel_top + pad)
    axes[0, 0].set_ylabel("test RMSE\n(standardized)")  # two lines: one ran into the bottom row's label
    axes[1, 0].set_ylabel(r"RMSE / RMSE at $\tau = 1$")
    fig.align_ylabels(axes[:, 0])
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
    seeds = f"mean over {n_seeds} seeds, band {SEED_BAND_TEXT} ({main})" if n_seeds > 1 else "one seed"
    fig.suptitle(f"Trained at $\\tau = 1$, tested on the same trajectories sampled every $\\tau \\cdot \\delta$ ({seeds})",
                 fontsize=8, color="0.25")  # fmt: skip
    return fig


def write_figure4(errors_csv: Path, figure: Path, gate_ratio: float | None = None) -> None:
    """Figure 4 (STEM.pdf/.png) from errors.csv."""
    errors = read_table(errors_csv, ERROR_COLUMNS)
    save_figure(plot_figure4(errors, gate_ratio), figure)
