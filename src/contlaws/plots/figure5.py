"""E3 figure and table (paper Figure 5, left): test RMSE against the continuity level η.

Reads only ``results/<run>/eta_performance/results.csv`` and ``baselines.csv``
(:mod:`contlaws.experiments.eta_performance`), so restyling never retrains anything:

* the figure (seaborn): one column per system; top, test RMSE (mean over seeds; band mean ± 2 SE
  over seeds when several, :data:`contlaws.plots.style.SEED_ERRORBAR`)
  against η, one line per model that ran, and in grey the three reference forecasts that need no
  training (last value, linear extrapolation, window mean); bottom, each model's RMSE relative to
  the best model at that η. A hollow marker is a (system, η, model) that did not learn (some seed
  lost to the last value, the learning gate of results.csv). The legend names the models that did
  not run and why;
* the table: a tidy CSV (system, eta, model, status, reason, n_seeds, n_learned, learned, gate
  reference, best trivial forecast, n_beats_best_trivial, beats_best_trivial, epochs used min/max,
  rmse/mae mean, std, min, max) and a LaTeX table (rows system × model and the reference forecasts,
  one column per η, the best model per column marked *, a model that did not learn marked †, one
  that does not beat the best trivial forecast of its column marked ‡, and the epochs each model
  used).
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from contlaws.errors import DataFileError
from contlaws.experiments.eta_performance import BASELINE_COLUMNS, BASELINES, COLUMNS, STATUS_OK
from contlaws.io import as_flags, meta_path, provenance, read_json, read_result_csv, write_table
from contlaws.plots.style import (
    MODEL_COLORS,
    MODEL_LABELS,
    SEED_BAND_TEXT,
    SEED_ERRORBAR,
    SYSTEM_LABELS,
    apply_theme,
    band_edges,
    save_figure,
    write_latex_table,
)

MARKERS = {"s4d": "o", "s6": "s", "transformer": "^", "linear_attention": "v", "mamba2": "D", "gla": "P",
           "fla_linear_attention": "X", "gated_deltanet": "*", "mamba3": "d"}  # fmt: skip
# A log RMSE axis once a panel's curves span more than this factor (else linear from 0 reads better).
LOG_Y_SPAN = 20.0
BASELINE_STYLES = {"last_value": {"linestyle": (0, (4, 2)), "marker": "_"},
                   "linear_extrapolation": {"linestyle": "-.", "marker": "_"},
                   "window_mean": {"linestyle": ":", "marker": "_"}}  # fmt: skip
BASELINE_LABELS = {"last_value": "last value (no training)",
                   "linear_extrapolation": "linear extrapolation (no training)",
                   "window_mean": "window mean (no training)"}  # fmt: skip
REFERENCE_NOTE = (" Last value, linear extrapolation, window mean: forecasts without training (the last input; "
                  "2 x last - previous; the mean of the input window).")  # fmt: skip
NOT_LEARNED_MARK = "†"
NOT_LEARNED_NOTE = f" {NOT_LEARNED_MARK}: did not learn (some seed's test RMSE above the last value's)."
NOT_BEATING_MARK = "‡"
NOT_BEATING_NOTE = (f" {NOT_BEATING_MARK}: some seed does not beat the best trivial forecast of its column (lowest "
                    "RMSE of the three) by 2 paired standard errors.")  # fmt: skip
TEXT_COLUMNS = ("reason", "gate_reference", "best_trivial", "stop_reason")


def read_results(path: str | Path) -> pd.DataFrame:
    """results.csv with its columns checked; DataFileError naming the file when missing or malformed."""
    path = Path(path)
    df = read_result_csv(path, COLUMNS, hint="run `contlaws eta-performance-gather` first")
    unknown = sorted(set(df["model"]) - set(MODEL_LABELS))
    if unknown:
        raise DataFileError(f"{path}: unknown model(s) {unknown}")
    for text in TEXT_COLUMNS:
        df[text] = df[text].fillna("")
    for flag in ("learned", "beats_best_trivial"):
        df[flag] = as_flags(df[flag])
    return df


def read_baselines(path: str | Path) -> pd.DataFrame:
    """baselines.csv with its columns and baseline names checked."""
    path = Path(path)
    df = read_result_csv(path, BASELINE_COLUMNS, what="reference-forecast table",
                         hint="run `contlaws eta-performance-gather --out-baselines`", allow_empty=True)
    if not set(df["baseline"]) <= set(BASELINES):
        raise DataFileError(f"{path}: unknown baselines {sorted(set(df['baseline']) - set(BASELINES))}")
    return df


def short_reason(reason: str) -> str:
    """The gist of a not-run reason: "needs CUDA (none available) and package x" -> "needs CUDA"."""
    gist = re.split(r" \(| and |: ", reason.strip(), maxsplit=1)[0]
    return gist or "not run"


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Per (system, η, model): status, reason, n_seeds, n_learned, learned, gate_reference,
    best_trivial, n_beats_best_trivial, beats_best_trivial, epochs_used_min/max and RMSE/MAE mean,
    std (0 for one seed), min, max.

    A (system, η, model) counts as ok when at least one seed ran; its statistics use those seeds;
    ``learned`` (``beats_best_trivial``) when every seed that ran passed its learning gate (beat the
    best trivial forecast).
    """
    rows = []
    for (system, eta, model), group in results.groupby(["system", "eta", "model"], sort=False):
        ok = group[group["status"] == STATUS_OK]
        row = {"system": system, "eta": eta, "model": model,
               "status": STATUS_OK if len(ok) else group["status"].iloc[0],
               "reason": "" if len(ok) else group["reason"].iloc[0], "n_seeds": len(ok),
               "n_learned": int(ok["learned"].sum()), "learned": bool(len(ok)) and bool(ok["learned"].all()),
               "gate_reference": _names(ok["gate_reference"]), "best_trivial": _names(ok["best_trivial"]),
               # a missing flag counts as not beaten: no skill is claimed without the evidence
               "n_beats_best_trivial": int(_flags(ok["beats_best_trivial"]).sum()),
               "beats_best_trivial": bool(len(ok)) and bool(_flags(ok["beats_best_trivial"]).all()),
               "epochs_used_min": ok["epochs_used"].min() if len(ok) else np.nan,
               "epochs_used_max": ok["epochs_used"].max() if len(ok) else np.nan}  # fmt: skip
        for metric in ("rmse", "mae"):
            values = ok[f"test_{metric}"].to_numpy(dtype=float)
            row[f"{metric}_mean"] = values.mean() if len(values) else np.nan
            row[f"{metric}_std"] = values.std(ddof=1) if len(values) > 1 else (0.0 if len(values) else np.nan)
            row[f"{metric}_min"] = values.min() if len(values) else np.nan
            row[f"{metric}_max"] = values.max() if len(values) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _names(values: pd.Series) -> str:
    """The distinct non-empty names of a text column, in order, joined by ", "."""
    return ", ".join(dict.fromkeys(str(v) for v in values if isinstance(v, str) and v))


def _flags(values: pd.Series) -> pd.Series:
    """A flag column as booleans, missing values False."""
    return values.map(lambda v: isinstance(v, (bool, np.bool_)) and bool(v))


def not_run_models(summary: pd.DataFrame) -> dict[str, list[str]]:
    """{short reason: [models]} of the models that ran on no (system, η) at all."""
    ran = set(summary.loc[summary["status"] == STATUS_OK, "model"])
    out: dict[str, list[str]] = {}
    for model, group in summary[~summary["model"].isin(ran)].groupby("model", sort=False):
        out.setdefault(short_reason(group["reason"].iloc[0]), []).append(model)
    return out


# ---------------------------------------------------------------------------------------------
# Figure
# ---------------------------------------------------------------------------------------------
def eta_label(eta: float) -> str:
    """Tick label of an η value; the two ends also say what they are."""
    return {0.0: "0\ncontinuous", 1.0: "1\nsymbolic"}.get(float(eta), f"{eta:g}")


def relative_to_best(ran: pd.DataFrame) -> pd.Series:
    """Each row's mean RMSE divided by the lowest mean RMSE of its (system, η) (1 = the best model)."""
    return ran["rmse_mean"] / ran.groupby(["system", "eta"])["rmse_mean"].transform("min")


def seed_rows(results: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """The seeds that ran, one row each, with ``relative`` = the seed's RMSE / the lowest seed-mean
    RMSE among the models at its (system, η); the mean of ``relative`` over seeds is then the model's
    mean RMSE relative to the best model, the quantity of the bottom row."""
    ok = results[results["status"] == STATUS_OK]
    best = summary[summary["status"] == STATUS_OK].groupby(["system", "eta"])["rmse_mean"].min().rename("best")
    ok = ok.join(best, on=["system", "eta"])
    return ok.assign(relative=ok["test_rmse"] / ok["best"])


def plot_figure5(results: pd.DataFrame, baselines: pd.DataFrame | None = None):
    """Test RMSE against η, one column per system, one line per model that ran; returns the Figure.

    Top row: test RMSE (its scale changes with η, the targets being observations at that η) and the
    reference forecasts of ``baselines`` in grey; bottom row: RMSE relative to the best model at the
    same η, which shows the ranking at every η.
    """
    # Longer than ~60 lines on purpose: one figure drawn top to bottom (both rows share axes, colours and the legend); the reason it stays whole.
    apply_theme()
    baselines = baselines if baselines is not None else pd.DataFrame(columns=BASELINE_COLUMNS)
    summary = summarize(results)
    ran = summary[summary["status"] == STATUS_OK].copy()
    ran["relative"] = relative_to_best(ran)
    systems = list(dict.fromkeys(summary["system"]))
    models = list(dict.fromkeys(ran["model"]))
    etas = np.sort(summary["eta"].unique())
    n_seeds = int(ran["n_seeds"].max()) if len(ran) else 0

    fig, axes = plt.subplots(2, len(systems), figsize=(2.6 * len(systems), 4.0), sharex="col", squeeze=False,
                             layout="constrained", height_ratios=(3, 2))  # fmt: skip
    seeds = seed_rows(results, summary)
    for col, system in enumerate(systems):
        top, bottom = axes[0, col], axes[1, col]
        panel = ran[ran["system"] == system].sort_values("eta")
        runs = seeds[seeds["system"] == system]
        for ax, y in ((top, "test_rmse"), (bottom, "relative")):  # lines: seed mean; band: SEED_ERRORBAR
            if len(runs):
                hue_order = [m for m in models if m in set(runs["model"])]
                sns.lineplot(data=runs, x="eta", y=y, hue="model", hue_order=hue_order, palette=MODEL_COLORS, errorbar=SEED_ERRORBAR if n_seeds > 1 else None,
                             err_kws={"alpha": 0.15, "linewidth": 0}, legend=False, ax=ax)  # fmt: skip
        for model, curve in panel.groupby("model", sort=False):
            color = MODEL_COLORS[model]
            for learned, points in curve.groupby("learned"):  # filled: learned; hollow: lost to the last value
                face = color if learned else "white"
                top.plot(points["eta"], points["rmse_mean"], linestyle="none", marker=MARKERS[model], color=color,
                         markerfacecolor=face)  # fmt: skip
                bottom.plot(points["eta"], points["relative"], linestyle="none", marker=MARKERS[model], color=color,
                            markerfacecolor=face)  # fmt: skip
        reference = baselines[baselines["system"] == system].sort_values("eta")
        for name, curve in reference.groupby("baseline", sort=False):
            top.plot(curve["eta"], curve["test_rmse"], color="0.5", linewidth=1.0, zorder=1, **BASELINE_STYLES[name])
        band_high = band_edges(runs, ["model", "eta"], "test_rmse")[1]
        values = pd.concat([panel["rmse_mean"], band_high, reference["test_rmse"]])
        if len(values):
            if values.max() / max(values.min(), 1e-300) > LOG_Y_SPAN:
                top.set_yscale("log")
            else:
                top.set_ylim(0, values.max() * 1.12)
        if len(panel):
            low, high = band_edges(runs, ["model", "eta"], "relative")
            bottom.set_ylim(min(1.0, low.min()) - 0.04 * (high.max() - 1) - 1e-3, None)
        top.set_xlabel("")
        top.set_ylabel("")
        bottom.set_ylabel("")
        bottom.axhline(1.0, color="0.45", linestyle=":", linewidth=1.0, zorder=0)
        bottom.set_xticks(etas)
        bottom.set_xticklabels([eta_label(e) for e in etas])
        bottom.set_xlim(etas.min() - 0.06, etas.max() + 0.06)
        bottom.set_xlabel(r"continuity level $\eta$")
        top.set_title(SYSTEM_LABELS.get(system, system))
    axes[0, 0].set_ylabel("test RMSE")
    axes[1, 0].set_ylabel("RMSE / best at $\\eta$")

    handles = [Line2D([], [], color=MODEL_COLORS[m], marker=MARKERS[m], label=MODEL_LABELS[m]) for m in models]
    handles += [Line2D([], [], color="0.5", linewidth=1.0, label=BASELINE_LABELS[b], **BASELINE_STYLES[b])
                for b in dict.fromkeys(baselines["baseline"])]  # fmt: skip
    if len(ran) and not ran["learned"].all():
        reference = "last value" if set(ran["gate_reference"]) <= {"last_value", ""} else "best trivial forecast"
        handles.append(Line2D([], [], color="0.3", marker="o", markerfacecolor="white", linestyle="none",
                              label=f"hollow: did not learn (lost to {reference})"))  # fmt: skip
    missing = not_run_models(summary)
    note = "; ".join(f"not run ({reason}): {', '.join(MODEL_LABELS[m] for m in ms)}" for reason, ms in missing.items())
    legend = fig.legend(handles=handles, loc="outside lower center", ncol=min(max(len(handles), 1), 3), frameon=False,
                        title=note or None, title_fontsize=6.5)  # fmt: skip
    legend.get_title().set_color("0.35")
    spread = f"mean over {n_seeds} seeds, band {SEED_BAND_TEXT}" if n_seeds > 1 else "one seed"
    fig.suptitle(f"Forecasting $(1-\\eta)\\cdot$continuous $+\\ \\eta\\cdot$symbolic observations ({spread})",
                 fontsize=8, color="0.25")  # fmt: skip
    return fig


# ---------------------------------------------------------------------------------------------
# Table
# ---------------------------------------------------------------------------------------------
def _cell(mean: float, std: float, count: int, best: bool, learned: bool = True, beats_trivial: bool = True) -> str:
    text = f"{mean:#.3g}" + (f" ± {std:.1g}" if count > 1 else "")
    # the gate's dagger stays last (it decides whether the cell counts anywhere)
    marks = ("" if beats_trivial else NOT_BEATING_MARK) + ("*" if best else "") + ("" if learned else NOT_LEARNED_MARK)
    return text + marks


def epochs_range(group: pd.DataFrame) -> str:
    """The epochs a (system, model) row's runs used, over η and seeds: "12" or "9–48" ("" if none ran)."""
    ran = group[group["status"] == STATUS_OK]
    if not len(ran) or ran["epochs_used_min"].isna().all():
        return ""
    low, high = int(ran["epochs_used_min"].min()), int(ran["epochs_used_max"].max())
    return f"{low}" if low == high else f"{low}–{high}"


def results_table(results: pd.DataFrame, baselines: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(tidy CSV table, wide LaTeX table) of test RMSE per (system, η, model).

    The wide table has one row per (system, model) and one column per η; "not run" where the model
    did not run, * on the lowest mean RMSE of each (system, η) among the models, † on a model that
    did not learn, ‡ on one that does not beat the best trivial forecast, and an ``epochs used``
    column (range over η and seeds); then, per system, the reference forecasts of ``baselines``.
    """
    tidy = summarize(results)
    best = tidy[tidy["status"] == STATUS_OK].groupby(["system", "eta"])["rmse_mean"].transform("min")
    is_best = pd.Series(False, index=tidy.index)
    is_best[best.index] = np.isclose(tidy.loc[best.index, "rmse_mean"], best)
    wide = []
    for (system, model), group in tidy.groupby(["system", "model"], sort=False):
        row = {"system": SYSTEM_LABELS.get(system, system), "model": MODEL_LABELS[model]}
        for i, r in group.iterrows():
            key = f"eta = {r['eta']:g}"
            row[key] = (_cell(r["rmse_mean"], r["rmse_std"], r["n_seeds"], bool(is_best[i]), bool(r["learned"]),
                              bool(r["beats_best_trivial"]))
                        if r["status"] == STATUS_OK else r["status"])  # fmt: skip
        row["epochs used"] = epochs_range(group)
        wide.append(row)
    if baselines is not None:
        for (system, name), group in baselines.groupby(["system", "baseline"], sort=False):
            row = {"system": SYSTEM_LABELS.get(system, system), "model": BASELINE_LABELS[name]}
            row.update({f"eta = {r.eta:g}": f"{r.test_rmse:#.3g}" for r in group.itertuples()})
            row["epochs used"] = ""  # no training
            wide.append(row)
    order = {label: i for i, label in enumerate(dict.fromkeys(SYSTEM_LABELS.get(s, s) for s in tidy["system"]))}
    wide = pd.DataFrame(wide)
    return tidy, wide.sort_values("system", key=lambda col: col.map(order), kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Writing the figure and table
# ---------------------------------------------------------------------------------------------
def write_figure5(results_csv: Path, baselines_csv: Path | None, figure: Path, table_csv: Path,
                  table_tex: Path) -> pd.DataFrame:
    """Figure 5 (STEM.pdf/.png) and its table (CSV, LaTeX) from results.csv; returns the wide table."""
    results = read_results(results_csv)
    baselines = read_baselines(baselines_csv) if baselines_csv is not None else None
    save_figure(plot_figure5(results, baselines), figure)
    tidy, wide = results_table(results, baselines)
    source = read_json(meta_path(results_csv)) if meta_path(results_csv).exists() else {}
    write_table(table_csv, tidy, meta=provenance(source.get("config"), source.get("seed"), source=str(results_csv)))
    missing = not_run_models(tidy)
    note = "; ".join(f"not run ({reason}): {', '.join(MODEL_LABELS[m] for m in ms)}" for reason, ms in missing.items())
    write_latex_table(
        table_tex, wide,
        caption=("Test RMSE of one-step forecasts of observations mixing a continuous (weight 1 - eta) and a "
                 "symbolic (weight eta) view of the same trajectories (mean ± std over seeds where several; "
                 "* lowest per column among the models)." + (REFERENCE_NOTE if baselines is not None else "")
                 + (NOT_LEARNED_NOTE if not tidy.loc[tidy["status"] == STATUS_OK, "learned"].all() else "")
                 + (NOT_BEATING_NOTE if not tidy.loc[tidy["status"] == STATUS_OK, "beats_best_trivial"].all() else "")
                 + " Epochs used: the epochs the runs trained (early stopping), range over eta and seeds."
                 + (f" {note}." if note else "")),
        label="tab:eta-performance",
    )  # fmt: skip
    return wide
