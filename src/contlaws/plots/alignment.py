"""E4 alignment figure: task continuity against model performance and model continuity.

Reads the tables of ``contlaws alignment-run`` (:mod:`contlaws.experiments.alignment`):

* panel (a), the η family (seaborn): TC (x) against A = ln(RMSE_ref / RMSE_model) (y) of S4D
  (filled) and, for contrast, S6 (open), one marker shape per system, bars ± 2 standard errors over
  paired seeds, η written at the ends of each system's line; Spearman's ρ
  of (TC, A_S4D) with its one-sided p-value and n in the panel;
* panel (b), where model continuity exists (the E2 regression sets): TC of the τ = 1 training set
  (x) against d(τ = 1) of the trained S4D and S6 (y, log), joined per system.

TC sits close to 1 on smooth data, so the TC axis is a logit axis (0.9, 0.99, 0.999 equally
spaced) whenever every TC lies in (0, 1); rank correlations do not depend on the axis.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, Locator, LogitLocator, NullFormatter

from contlaws.experiments.alignment import (
    ALIGNMENT_COLUMNS,
    CONTINUITY_COLUMNS,
    CONTINUOUS_MODEL,
    CONTRAST_MODEL,
    read_csv,
)
from contlaws.plots.style import (
    MODEL_COLORS,
    MODEL_LABELS,
    SEED_BAND_TEXT,
    SEED_ERRORBAR,
    SYSTEM_LABELS,
    apply_theme,
    panel_grid,
    save_figure,
)
from contlaws.stats import spearman

SYSTEM_MARKERS = {"vdp": "o", "duffing": "s", "dho": "^", "ou": "D"}


def logit_tick(value: float, _pos=None) -> str:
    """0.999 for 1 − 10⁻³, 0.01 for 10⁻²: as many decimals as the tick needs."""
    tail = min(value, 1.0 - value)
    if not 0 < tail < 1:
        return ""
    digits = max(1, round(float(-np.log10(tail))))
    return f"{value:.{digits}f}"


class LogitDecadeLocator(Locator):
    """Major ticks of a logit TC axis: 0.5 and the decades 10⁻ᵏ, 1 − 10⁻ᵏ inside the view, thinned at
    draw time so that no two labels (:func:`logit_tick`) collide at the axis's width in pixels. The
    decades nearest TC = 1 are kept first: that is where smooth data sit."""

    GAP_EM = 0.8  # free space between two labels, in font sizes

    @staticmethod
    def candidates(lo: float, hi: float) -> list[float]:
        decades = [10.0**-k for k in range(1, 16)] + [0.5] + [1 - 10.0**-k for k in range(1, 16)]
        return sorted(v for v in decades if lo <= v <= hi)

    def __call__(self):
        lo, hi = sorted(self.axis.get_view_interval())
        return self.tick_values(lo, hi)

    def tick_values(self, vmin, vmax):
        lo, hi = max(vmin, 1e-15), min(vmax, 1 - 1e-15)
        ticks = self.candidates(lo, hi)
        if len(ticks) < 3:  # a range within about one decade: matplotlib's finer logit ticks label it
            return LogitLocator().tick_values(vmin, vmax)
        axes = getattr(self.axis, "axes", None)
        if axes is None:
            return ticks
        font_px = FontProperties(size=rcparam_size(self.axis)).get_size_in_points() * axes.figure.dpi / 72

        def logit(v: float) -> float:
            return float(np.log(v / (1 - v)))

        def half_width(v: float) -> float:  # a label's half width in pixels: about 0.6 em per character
            return 0.3 * font_px * len(logit_tick(v))

        px_per_unit = axes.bbox.width / (logit(hi) - logit(lo))
        kept = [ticks[-1]]
        for value in reversed(ticks[:-1]):  # right to left: the high tail first
            distance = (logit(kept[-1]) - logit(value)) * px_per_unit
            if distance >= half_width(kept[-1]) + half_width(value) + self.GAP_EM * font_px:
                kept.append(value)
        return sorted(kept)


def rcparam_size(axis) -> float | str:
    """The tick-label font size of ``axis`` (its rcParams entry: a number or a name such as 'medium')."""
    from matplotlib import rcParams

    return rcParams["xtick.labelsize" if axis.axis_name == "x" else "ytick.labelsize"]


def tc_axis(ax, tc: np.ndarray) -> None:
    """Logit x-axis (ticks 0.9, 0.99, 0.999, …) when every TC is in (0, 1), linear otherwise; labelled."""
    tc = tc[np.isfinite(tc)]
    if len(tc) and tc.min() > 0 and tc.max() < 1:
        ax.set_xscale("logit")
        lo, hi = np.log(tc.min() / (1 - tc.min())), np.log(tc.max() / (1 - tc.max()))
        pad = 0.1 * max(hi - lo, 2.0)
        ax.set_xlim(1 / (1 + np.exp(-(lo - pad))), 1 / (1 + np.exp(-(hi + pad))))
        ax.xaxis.set_major_locator(LogitDecadeLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(logit_tick))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("task continuity TC (logit axis)" if ax.get_xscale() == "logit" else "task continuity TC")


def correlation_text(x, y) -> str:
    """Spearman's ρ, its one-sided p-value and n, in one line."""
    stats = spearman(x, y)
    if not np.isfinite(stats["rho"]):
        return f"n = {stats['n']}, too few for a rank correlation"
    exact = "exact" if stats["method"].startswith("exact") else "approx."
    return f"Spearman $\\rho$ = {stats['rho']:.2f}, one-sided p = {stats['p_greater']:.2g} ({exact}), n = {stats['n']}"


def paired_correlation_text(tc, advantage_s4d, advantage_s6) -> str:
    """Spearman's ρ of TC with the advantage of S4D (the C4 statistic) and of S6, one-sided p; two lines."""
    s4d, s6 = spearman(tc, advantage_s4d), spearman(tc, advantage_s6)
    if not np.isfinite(s4d["rho"]):
        return f"n = {s4d['n']}, too few for a rank correlation"
    exact = "exact" if s4d["method"].startswith("exact") else "approx."
    text = f"Spearman $\\rho$ (n = {s4d['n']}, one-sided {exact} p)\nS4D {s4d['rho']:.2f} (p = {s4d['p_greater']:.2g})"
    if np.isfinite(s6["rho"]):
        text += f", S6 {s6['rho']:.2f} (p = {s6['p_greater']:.2g})"
    return text


def advantages_long(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (system, η, model) of S4D and S6: tc, advantage, advantage_se (long form for seaborn)."""
    parts = [table[["system", "eta", "tc"]].assign(model=model, advantage=table[f"advantage_{model}"],
                                                   advantage_se=table[f"advantage_{model}_se"])
             for model in (CONTINUOUS_MODEL, CONTRAST_MODEL)]  # fmt: skip
    return pd.concat(parts, ignore_index=True).sort_values(["model", "system", "eta"], kind="stable")


def label_eta_ends(ax, table: pd.DataFrame, min_gap: float = 0.06) -> None:
    """η next to the first and last S4D point of each system, skipping a label closer than ``min_gap``
    (axes fraction) to one already placed: TC falls with η, so the ends say which way η runs."""
    placed = []
    to_axes = ax.transData + ax.transAxes.inverted()
    for _, rows in table.groupby("system", sort=False):
        rows = rows[np.isfinite(rows[f"advantage_{CONTINUOUS_MODEL}"])].sort_values("eta")
        for r in (rows.iloc[[0, -1]] if len(rows) > 1 else rows).itertuples(index=False):
            where = to_axes.transform((r.tc, r.advantage_s4d))
            if all(np.hypot(*(where - other)) >= min_gap for other in placed):
                placed.append(where)
                ax.annotate(f"$\\eta$={r.eta:g}", (r.tc, r.advantage_s4d), xytext=(4, 3), textcoords="offset points",
                            fontsize=6, color="0.3")  # fmt: skip


def plot_performance(ax, table: pd.DataFrame) -> list:
    """Panel (a): seaborn scatter of filled S4D and open S6 markers, one shape per system; thin lines
    join the η of a system; bars :data:`SEED_ERRORBAR`'s multiple of the paired-seed standard error of the table. Returns
    legend handles for the systems."""
    tc_axis(ax, table["tc"].to_numpy(dtype=float))
    ax.axhline(0.0, color="0.45", linestyle=":", linewidth=1.0, zorder=0)
    long = advantages_long(table)
    systems = list(dict.fromkeys(table["system"]))
    markers = {s: SYSTEM_MARKERS.get(s, "o") for s in systems}
    for (model, _), rows in long.groupby(["model", "system"], sort=False):  # η order; a gap where a model has no point
        ax.plot(rows["tc"], rows["advantage"], color=MODEL_COLORS[model], linewidth=0.8, alpha=0.5, zorder=1)
    for model, filled in ((CONTINUOUS_MODEL, True), (CONTRAST_MODEL, False)):
        rows, color = long[long["model"] == model], MODEL_COLORS[model]
        sns.scatterplot(data=rows, x="tc", y="advantage", style="system", style_order=systems, markers=markers, s=26,
                        color=color, facecolor=color if filled else "white", edgecolor=color, linewidth=1.0,
                        legend=False, zorder=2, ax=ax)  # fmt: skip
        se = rows["advantage_se"]
        if np.isfinite(se).any():  # the table's standard error over paired seeds (the claim's statistic)
            ax.errorbar(rows["tc"], rows["advantage"], yerr=SEED_ERRORBAR[1] * se.fillna(0.0), fmt="none", ecolor=color,
                        elinewidth=0.7, capsize=1.5, alpha=0.7, zorder=1)  # fmt: skip
    ax.set_xlabel("task continuity TC (logit axis)" if ax.get_xscale() == "logit" else "task continuity TC")
    ax.set_ylabel("advantage ln(RMSE$_{\\rm ref}$ / RMSE$_{\\rm model}$)")
    ax.set_title("(a) $\\eta$ family: TC vs advantage over attention\n"
                 + paired_correlation_text(table["tc"], table["advantage_s4d"], table["advantage_s6"]), fontsize=8)  # fmt: skip
    ax.margins(y=0.12)
    label_eta_ends(ax, table)
    return [Line2D([], [], color="0.3", marker=markers[s], linestyle="none", markerfacecolor="white",
                   label=SYSTEM_LABELS.get(s, s)) for s in systems]  # fmt: skip


def plot_model_continuity(ax, cont: pd.DataFrame) -> list:
    """Panel (b); returns legend handles for the systems it adds."""
    tc_axis(ax, cont["tc"].to_numpy(dtype=float))
    for r in cont.itertuples(index=False):
        marker = SYSTEM_MARKERS.get(r.system, "o")
        ax.plot([r.tc, r.tc], [r.d_tau1_s4d, r.d_tau1_s6], color="0.6", linewidth=0.8, zorder=1)
        for model, value, filled in ((CONTINUOUS_MODEL, r.d_tau1_s4d, True), (CONTRAST_MODEL, r.d_tau1_s6, False)):
            color = MODEL_COLORS[model]
            ax.scatter([r.tc], [value], marker=marker, s=26, zorder=2, linewidths=1.0, edgecolors=color,
                       facecolors=color if filled else "white")  # fmt: skip
    ax.set_yscale("log")
    ax.margins(y=0.15)
    ax.set_ylabel("model continuity $d(\\tau = 1)$\n(lower: more continuous)")
    methods = ", ".join(m.upper() if m == "zoh" else m for m in sorted(set(cont["discretization"])))
    ax.set_title(f"(b) E2 regressors ({methods}), TC vs ln(d$_{{S6}}$ / d$_{{S4D}}$)\n"
                 f"{correlation_text(cont['tc'], cont['gap'])}", fontsize=8)  # fmt: skip
    return [Line2D([], [], color="0.3", marker=SYSTEM_MARKERS.get(s, "o"), linestyle="none", markerfacecolor="white",
                   label=SYSTEM_LABELS.get(s, s)) for s in dict.fromkeys(cont["system"])]  # fmt: skip


def plot_alignment(table: pd.DataFrame, cont: pd.DataFrame | None = None):
    """The alignment figure: panel (a), and panel (b) when ``cont`` has rows; returns the Figure."""
    apply_theme()
    with_b = cont is not None and len(cont) > 0
    fig, axes = panel_grid(2 if with_b else 1, width=3.6, height=3.0, layout="constrained")
    handles = plot_performance(axes[0], table)
    if with_b:
        extra = plot_model_continuity(axes[1], cont)
        labels = {h.get_label() for h in handles}
        handles += [h for h in extra if h.get_label() not in labels]
    models = [Line2D([], [], color=MODEL_COLORS[m], marker="o", linestyle="none", markeredgecolor=MODEL_COLORS[m],
                     markerfacecolor=MODEL_COLORS[m] if m == CONTINUOUS_MODEL else "white", label=MODEL_LABELS[m])
              for m in (CONTINUOUS_MODEL, CONTRAST_MODEL)]  # fmt: skip
    refs = ", ".join(MODEL_LABELS.get(m, m) for m in dict.fromkeys(table["reference_model"].dropna()) if m)
    legend = fig.legend(handles=models + handles, loc="outside lower center", ncol=len(models) + len(handles),
                        frameon=False, title_fontsize=6.5,
                        title=f"ref = the best attention baseline that learned ({refs or 'none'}); above 0: the model "
                              f"beats it; bars: {SEED_BAND_TEXT} over paired seeds")  # fmt: skip
    legend.get_title().set_color("0.35")
    return fig


def write_alignment_figure(alignment_csv: Path, continuity_csv: Path | None, figure: Path) -> None:
    """The alignment figure (STEM.pdf/.png) from the tables of `contlaws alignment-run` (panel b with ``continuity_csv``)."""
    table = read_csv(alignment_csv, ALIGNMENT_COLUMNS, "alignment table")
    cont = read_csv(continuity_csv, CONTINUITY_COLUMNS, "TC vs model-continuity table") if continuity_csv else None
    save_figure(plot_alignment(table, cont), figure)
