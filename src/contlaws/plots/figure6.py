"""E5 Figure 6: coarse-to-fine subsampled training against full resolution.

Reads only the tables written by ``contlaws subsampling-gather``
(:mod:`contlaws.experiments.subsampling_tables`): ``curves_timing.csv`` (per-epoch curves) and
``table.csv`` (the speed table), so restyling never recomputes a table, and draws the figure:
one column per task; top row validation accuracy against wall-clock seconds, bottom row against epoch (stages shaded and labelled
with their stride s), subsampled vs full resolution; open markers are epochs trained and validated
on subsampled input. The dashed line is the baseline's best validation accuracy; stars mark where
each run first reaches it. The dotted grey line is the majority class (the learning gate's trivial
reference, test split); a task whose runs did not learn (``learned`` false) has its title in red
with "NOT LEARNED" and the runs concerned. Titles give the label from the measured TC and the TC.
Several seeds (seaborn): the line is the seed mean, the band mean ± 2 SE over seeds
(:data:`contlaws.plots.style.SEED_ERRORBAR`); in the time panel each epoch sits at its seed-mean time.
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from contlaws.experiments.subsampling import first_reach
from contlaws.experiments.subsampling_tables import read_tables
from contlaws.labels import TASK_LABELS
from contlaws.plots.style import SEED_BAND_TEXT, SEED_ERRORBAR, apply_theme, band_edges, save_figure

log = logging.getLogger(__name__)

MODE_COLORS = {"subsampled": "#d55e00", "baseline": "#0072b2"}
MODE_WIDTHS = {"subsampled": 2.0, "baseline": 1.2}
MODE_LABELS = {"subsampled": "subsampled, coarse to fine", "baseline": "full resolution (s = 1)"}
STAGE_SHADES = ("#ececec", "#f7f7f7")


def mean_curve(curve: pd.DataFrame) -> pd.DataFrame:
    """Seed mean of validation accuracy and cumulative seconds per epoch (stage, stride kept): the
    points of the mean line, for its markers and for the first epoch at the target."""
    return curve.groupby("epoch", as_index=False).agg(
        stage=("stage", "first"), stride=("stride", "first"),
        val_accuracy=("val_accuracy", "mean"), cumulative_seconds=("cumulative_seconds", "mean"),
    )  # fmt: skip


def shade_stages(ax, curve: pd.DataFrame) -> None:
    """Alternating backgrounds per stage of the subsampled run, labelled with the stride s."""
    for k, (stage, rows) in enumerate(curve.groupby("stage", sort=True)):
        lo, hi = rows["epoch"].min() - 0.5, rows["epoch"].max() + 0.5
        ax.axvspan(lo, hi, color=STAGE_SHADES[k % 2], zorder=0, lw=0)
        ax.text((lo + hi) / 2, 1.01, f"s = {int(rows['stride'].iloc[0])}", transform=ax.get_xaxis_transform(),
                ha="center", va="bottom", fontsize=7, color="#555555")  # fmt: skip


def plot_task(ax_time, ax_epoch, curves: pd.DataFrame, target: float, majority: float | None = None) -> None:
    """Both panels of one task: accuracy vs seconds (top) and vs epoch (bottom); lines are seed means
    and, with several seeds, bands :data:`SEED_ERRORBAR` (seaborn)."""
    shade_stages(ax_epoch, curves[curves["mode"] == "subsampled"])
    errorbar = SEED_ERRORBAR if curves["seed"].nunique() > 1 else None
    # The time panel places each epoch at its seed-mean wall-clock time, so the seeds of one epoch share
    # an x and the band shows their accuracy spread (the timing spread is the subject of the speed table).
    runs = curves.assign(accuracy=100 * curves["val_accuracy"],
                         seconds=curves.groupby(["mode", "epoch"])["cumulative_seconds"].transform("mean"))  # fmt: skip
    for mode in ("subsampled", "baseline"):  # the baseline on top, thinner: both stay visible where they coincide
        rows = runs[runs["mode"] == mode]
        color = MODE_COLORS[mode]
        for ax, x in ((ax_time, "seconds"), (ax_epoch, "epoch")):
            sns.lineplot(data=rows, x=x, y="accuracy", color=color, linewidth=MODE_WIDTHS[mode], errorbar=errorbar,
                         err_kws={"alpha": 0.2, "linewidth": 0}, ax=ax)  # fmt: skip
        mean = mean_curve(rows)  # the points the lines join: markers, and where the mean first reaches the target
        coarse = mean["stride"] > 1
        for ax, x in ((ax_time, "cumulative_seconds"), (ax_epoch, "epoch")):
            ax.plot(mean.loc[~coarse, x], 100 * mean.loc[~coarse, "val_accuracy"], ls="none", marker="o", ms=2.8,
                    color=color)  # fmt: skip
            ax.plot(mean.loc[coarse, x], 100 * mean.loc[coarse, "val_accuracy"], ls="none", marker="o", ms=3.2,
                    mfc="white", mec=color, mew=0.9)  # fmt: skip
        hit = first_reach(mean, target)
        if hit is not None:
            for ax, x in ((ax_time, "cumulative_seconds"), (ax_epoch, "epoch")):
                ax.plot(hit[x], 100 * hit["val_accuracy"], marker="*", ms=9, color=color, mec="black", mew=0.5, zorder=5)
    for ax in (ax_time, ax_epoch):
        ax.axhline(100 * target, color="#444444", lw=0.8, ls=(0, (4, 2)), zorder=1)
        if majority is not None:  # the learning gate's trivial reference (majority class, test split)
            ax.axhline(100 * majority, color="#999999", lw=0.8, ls=":", zorder=1)
    ax_time.set_xlim(left=0)
    for ax in (ax_time, ax_epoch):
        ax.set_ylabel("")


def plot_figure6(curves: pd.DataFrame, table: pd.DataFrame):
    """The figure: 2 rows (vs seconds, vs epoch) × one column per task. Returns the figure."""
    apply_theme()
    tasks = list(dict.fromkeys(curves["task"]))
    fig, axes = plt.subplots(2, len(tasks), figsize=(2.9 * len(tasks) + 0.3, 4.9), squeeze=False, layout="constrained")
    for j, task in enumerate(tasks):
        task_curves = curves[curves["task"] == task]
        # the seed-mean of the baseline's best validation accuracy (one seed: exactly its best)
        target = float(table.loc[table["task"] == task, "best_val_accuracy_baseline"].mean())
        ax_time, ax_epoch = axes[0, j], axes[1, j]
        rows = table[table["task"] == task]
        majority = float(rows["majority_accuracy"].mean())
        plot_task(ax_time, ax_epoch, task_curves, target, majority)
        continuity = task_curves["continuity"].iloc[0]
        tc = float(rows["task_continuity"].iloc[0])
        failed = [f"{m[:3]}. s{int(seed)}" for m in ("subsampled", "baseline") for seed, ok in zip(rows["seed"], rows[f"learned_{m}"]) if not ok]
        title = f"{TASK_LABELS.get(task, task)}\n({continuity}, TC = {tc:.2f})"
        if failed:
            title += f"\nNOT LEARNED: {', '.join(failed)}"
        ax_time.set_title(title, color="#b00000" if failed else "black", fontsize=8 if failed else None)
        ax_time.set_xlabel("wall-clock time (s)")
        ax_epoch.set_xlabel("epoch")
        epochs = int(task_curves["epoch"].max())
        ax_epoch.set_xlim(0.5, epochs + 0.7)
        ax_epoch.xaxis.set_major_locator(plt.MaxNLocator(integer=True, nbins=6))
        speedups = table.loc[table["task"] == task, "speedup_to_reach_seconds"]
        numeric = pd.to_numeric(speedups, errors="coerce")
        note = "target not reached" if numeric.isna().all() else f"speed-up to target ×{np.nanmean(numeric):.2f}"
        if len(numeric) > 1:
            note += f" ({numeric.notna().sum()} of {len(numeric)} seeds reach it)"
        ax_time.text(0.98, 0.04, note, transform=ax_time.transAxes, ha="right", va="bottom", fontsize=7,
                     bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": "#bbbbbb", "lw": 0.5})  # fmt: skip
        band_low, band_high = band_edges(task_curves.assign(accuracy=100 * task_curves["val_accuracy"]),
                                         ["mode", "epoch"], "accuracy")  # fmt: skip
        for ax in (ax_time, ax_epoch):
            low = min(band_low.min(), 100 * majority)
            ax.set_ylim(max(0.0, low - 5), min(100.0, band_high.max() + 8))
    axes[0, 0].set_ylabel("validation accuracy (%)")
    axes[1, 0].set_ylabel("validation accuracy (%)")
    strides = " → ".join(str(int(s)) for s in dict.fromkeys(curves.loc[curves["mode"] == "subsampled", "stride"]))
    handles = [
        Line2D([], [], color=MODE_COLORS["subsampled"], lw=MODE_WIDTHS["subsampled"], marker="o", ms=3, label=f"{MODE_LABELS['subsampled']} (stride s = {strides})"),
        Line2D([], [], color=MODE_COLORS["baseline"], lw=MODE_WIDTHS["baseline"], marker="o", ms=3, label=MODE_LABELS["baseline"]),
        Line2D([], [], color="#444444", lw=0.8, ls=(0, (4, 2)), label="best validation accuracy at full resolution"),
        Line2D([], [], color="#999999", lw=0.8, ls=":", label="majority class (test split; learning gate)"),
        Line2D([], [], ls="none", marker="o", ms=3.2, mfc="white", mec="#555555", mew=0.9,
               label="epoch on subsampled input (s > 1)"),
        Line2D([], [], ls="none", marker="*", ms=9, mfc="#999999", mec="black", mew=0.5,
               label="first reaches the dashed line"),
    ]
    n_seeds = curves["seed"].nunique()
    if n_seeds > 1:
        band = f"lines: mean over {n_seeds} seeds; band {SEED_BAND_TEXT}"
        handles.append(Patch(color="#999999", alpha=0.35, lw=0, label=band))
    fig.legend(handles=handles, loc="outside upper center", ncol=3 if len(tasks) >= 3 else 2, frameon=False)
    return fig


def write_figure6(curves_csv: Path, table_csv: Path, figure: Path) -> None:
    """Figure 6 (STEM.pdf/.png) from the curves and the speed table written by ``contlaws subsampling-gather``."""
    curves, table = read_tables(curves_csv, table_csv)
    save_figure(plot_figure6(curves, table), figure)
    log.info("wrote %s.{pdf,png}", figure)
