"""Specification curve of C4 and C5 across the robustness variants (seaborn on the project's style).

Reads ``results/robustness/spec_curve.csv`` (:func:`contlaws.robustness.spec_curve`): per claim, each
run's key number (C4: ρ with its bootstrap interval; C5: the subsampled − baseline test accuracy
difference of each continuous task, mean ± k SE) sorted from smallest to largest, one panel per
claim, the interval as a vertical bar, the point coloured by the run's verdict. The baseline (the
evidence run) is circled in black. Computation stays in :mod:`contlaws.robustness`; this module
only draws the CSV.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from contlaws.io import read_result_csv
from contlaws.plots.style import apply_theme, panel_grid, save_figure
from contlaws.robustness import BASELINE, SPEC_CURVE_COLUMNS

VERDICT_COLORS = {"supported": "#2ca02c", "not supported": "#d62728", "inconclusive": "#7f7f7f"}
TITLES = {"C4": r"C4(a): Spearman $\rho$(TC, $A_{\mathrm{S4D}}$)",
          "C5": "C5: accuracy difference (subsampled − baseline),\ncontinuous tasks"}
YLABELS = {"C4": r"$\rho$ with its bootstrap interval", "C5": "test accuracy difference, mean ± k SE"}


def point_label(row: pd.Series) -> str:
    """x tick label: the run (and the task for C5)."""
    return f"{row['column']} ({row['task']})" if isinstance(row["task"], str) and row["task"] else str(row["column"])


def plot_spec_curve(csv_path: str | Path, out_stem: str | Path) -> list[Path]:
    """Render the specification curve of ``csv_path`` to ``out_stem``.{pdf,png}; returns the paths."""
    apply_theme()
    df = read_result_csv(Path(csv_path), SPEC_CURVE_COLUMNS, what="specification curve", allow_empty=True)
    df["task"] = df["task"].fillna("").astype(str)
    claims = [c for c in ("C4", "C5") if (df["claim"] == c).any()] or ["C4"]
    fig, axes = panel_grid(len(claims), ncols=len(claims), width=4.2, height=4.6, layout="constrained")
    for ax, claim_id in zip(axes, claims):
        rows = df[df["claim"] == claim_id].sort_values("rank").reset_index(drop=True)
        ax.set_title(TITLES[claim_id])
        if rows.empty:
            ax.text(0.5, 0.5, "no run with a number", ha="center", va="center", transform=ax.transAxes)
            continue
        x = list(range(len(rows)))
        low = (rows["value"] - rows["low"]).clip(lower=0).fillna(0)
        high = (rows["high"] - rows["value"]).clip(lower=0).fillna(0)
        ax.errorbar(x, rows["value"], yerr=[low, high], fmt="none", ecolor="#444444", elinewidth=0.8, capsize=2)
        sns.scatterplot(x=x, y=rows["value"], hue=rows["verdict"], palette=VERDICT_COLORS,
                        hue_order=[v for v in VERDICT_COLORS if v in set(rows["verdict"])], ax=ax, s=30,
                        zorder=3, legend=False)  # fmt: skip
        base = rows.index[rows["column"] == BASELINE]
        ax.scatter(base, rows.loc[base, "value"], s=70, facecolors="none", edgecolors="black", zorder=4)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_xticks(x, [point_label(r) for _, r in rows.iterrows()], rotation=60, ha="right", fontsize=6)
        ax.set_xlabel("specification (sorted)")
        ax.set_ylabel(YLABELS[claim_id])
    # one legend for both panels: every verdict that appears in either, and the baseline's ring
    shown = [v for v in VERDICT_COLORS if v in set(df["verdict"])]
    handles = [Line2D([], [], marker="o", linestyle="", color=VERDICT_COLORS[v], label=v) for v in shown]
    handles.append(Line2D([], [], marker="o", linestyle="", markerfacecolor="none", markeredgecolor="black",
                          markersize=9, label="baseline (evidence run)"))  # fmt: skip
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False)
    return save_figure(fig, out_stem)
