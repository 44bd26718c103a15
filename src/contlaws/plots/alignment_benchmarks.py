"""C4(b) figure: task continuity (x) against the advantage A of S4D over the best attention baseline (y).

One point per real task, labelled with its name; vertical bars ± one standard error of A over seeds,
horizontal bars ± one standard error of TC over sequences; TC on a logit axis when the tasks span
token streams (TC < 0.5) to smooth signals (as the E4 alignment figure). Tasks counted by the verdict are filled,
those left out (a model not past its gate, too few seeds) are open and greyed. The title carries
Spearman's ρ and its bootstrap interval as the C4b verdict file records them. Reads
``alignment.csv`` of ``contlaws alignment-benchmarks-gather`` and ``claims/C4b.json``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from contlaws.io import read_json
from contlaws.plots.alignment import tc_axis
from contlaws.plots.style import MODEL_COLORS, panel_grid, save_figure

COLUMNS = ["task", "tc", "tc_stderr", "advantage_s4d", "advantage_s4d_se", "all_learned"]


def title_of(verdict: dict) -> str:
    """'C4(b): <verdict>, ρ = r [low, high], n = k' from a C4b verdict record."""
    numbers = verdict.get("numbers", {})

    def fmt(v):
        return "n/a" if v is None else f"{v:.2f}"

    return (f"C4(b): {verdict.get('verdict', '?')}, Spearman $\\rho$ = {fmt(numbers.get('rho'))} "
            f"[{fmt(numbers.get('rho_bootstrap_low'))}, {fmt(numbers.get('rho_bootstrap_high'))}], "
            f"n = {numbers.get('n', 0)} tasks")  # fmt: skip


def plot(ax, table: pd.DataFrame, counted: set[str]) -> None:
    """Error bars and task labels on ``ax`` (seaborn scatter, matplotlib error bars)."""
    table = table.assign(counted=table["task"].isin(counted))
    for counted_now, colour in ((True, MODEL_COLORS["s4d"]), (False, "0.6")):
        part = table[table["counted"] == counted_now]
        finite = part[np.isfinite(part["advantage_s4d"].astype(float))]
        if finite.empty:
            continue
        ax.errorbar(finite["tc"], finite["advantage_s4d"], yerr=finite["advantage_s4d_se"].fillna(0),
                    xerr=finite["tc_stderr"].fillna(0), fmt="none", ecolor=colour, elinewidth=0.8, capsize=2)  # fmt: skip
        sns.scatterplot(data=finite, x="tc", y="advantage_s4d", ax=ax, color=colour if counted_now else "white",
                        edgecolor=colour, s=28, zorder=3, legend=False)  # fmt: skip
        for r in finite.itertuples():
            ax.annotate(r.task, (r.tc, r.advantage_s4d), textcoords="offset points", xytext=(3, 3), fontsize=6,
                        color="0.1" if counted_now else "0.5")  # fmt: skip
    ax.axhline(0.0, color="0.4", lw=0.8, ls="--")
    tc = table["tc"].to_numpy(dtype=float)
    if np.nanmin(tc) < 0.5:  # token streams and smooth signals together: logit axis, TC crowds near 1
        tc_axis(ax, tc)
    else:
        ax.set_xlabel("task continuity TC")
    ax.set_ylabel("A = ln(err$_{ref}$ / err$_{S4D}$)")
    handles = [Line2D([], [], marker="o", ls="none", color=MODEL_COLORS["s4d"], label="counted"),
               Line2D([], [], marker="o", ls="none", markerfacecolor="white", color="0.6",
                      label="left out (a run not past its gate, or too few seeds)")]  # fmt: skip
    ax.legend(handles=handles, loc="best", frameon=False)


def write_figure(alignment: Path, claim: Path, stem: Path) -> list[Path]:
    """Render the C4(b) figure to ``stem.{pdf,png}``; returns the written paths."""
    from contlaws.io import read_result_csv

    table = read_result_csv(Path(alignment), COLUMNS, what="C4(b) alignment table", allow_empty=True)
    verdict = read_json(claim)
    counted = set(verdict.get("details", {}).get("tasks", {}))
    fig, (ax,) = panel_grid(1, width=5.2, height=3.4)
    plot(ax, table, counted)
    ax.set_title(title_of(verdict), fontsize=8)
    return save_figure(fig, stem)
