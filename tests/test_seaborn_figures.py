"""The figures drawn with seaborn (Figures 4, 5 and 6, the alignment figure): the shared theme, the
seed interval they draw, and byte-identical files from the same tables, in one process and across
processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import matplotlib as mpl
import numpy as np
import pandas as pd
from conftest import REPO

from contlaws.commands import main
from contlaws.experiments.alignment import ALIGNMENT_COLUMNS, CONTINUITY_COLUMNS
from contlaws.experiments.eta_performance import BASELINE_COLUMNS, COLUMNS
from contlaws.experiments.refinement_trained import ERROR_COLUMNS
from contlaws.experiments.subsampling import CURVE_COLUMNS, RUN_KEYS
from contlaws.experiments.subsampling_tables import TABLE_COLUMNS
from contlaws.plots import style

ETAS = (0.0, 0.25, 0.5, 0.75, 1.0)
SEEDS = (0, 1, 2)


# ---------------------------------------------------------------------------------------------
# Fixture tables (the columns the gather commands write; values from a seeded generator)
# ---------------------------------------------------------------------------------------------
def eta_results_frame() -> pd.DataFrame:
    """E3 results: 2 systems × 5 η × 4 models × 3 seeds, Mamba-2 "not run", S6 seed 2 not learned at η = 1."""
    rng = np.random.default_rng(5)
    base = {"vdp": 0.5, "dho": 0.08}
    factor = {"s4d": 1.0, "s6": 1.15, "transformer": 0.85, "linear_attention": 1.3}
    rows = []
    for system, b in base.items():
        for eta in ETAS:
            for model in [*factor, "mamba2"]:
                for seed in SEEDS:
                    if model == "mamba2":
                        rows.append({"system": system, "eta": eta, "model": model, "seed": seed, "status": "not run",
                                     "reason": "needs CUDA (none available)", "test_rmse": np.nan, "test_mae": np.nan,
                                     "n": 0, "gate_rmse": np.nan, "gate_z": np.nan, "learned": False})  # fmt: skip
                        continue
                    slope = 1.0 + (eta if model in ("s4d", "s6") else 0.3 * eta)
                    rmse = b * factor[model] * slope * (1 + 0.08 * rng.standard_normal())
                    learned = not (model == "s6" and seed == 2 and eta == 1.0)
                    rows.append({"system": system, "eta": eta, "model": model, "seed": seed, "status": "ok", "reason": "",
                                 "test_rmse": rmse, "test_mae": 0.8 * rmse, "n": 64, "gate_rmse": 2 * b,
                                 "gate_z": -4.0, "learned": learned, "gate_reference": "last_value",
                                 "best_trivial": "last_value", "best_trivial_rmse": 2 * b, "best_trivial_z": -4.0,
                                 "beats_best_trivial": learned, "epochs_used": 8, "stop_reason": "epoch_cap"})  # fmt: skip
    return pd.DataFrame(rows).reindex(columns=COLUMNS)


def eta_baselines_frame() -> pd.DataFrame:
    base = {"vdp": 0.5, "dho": 0.08}
    rows = [{"system": s, "eta": e, "baseline": name, "test_rmse": f * b * (1 + 0.5 * e), "test_mae": f * b, "n": 64}
            for s, b in base.items() for e in ETAS
            for name, f in (("last_value", 1.8), ("linear_extrapolation", 2.4), ("window_mean", 3.5))]  # fmt: skip
    return pd.DataFrame(rows, columns=BASELINE_COLUMNS)


def subsampling_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """E5 curves (2 tasks × 2 modes × 3 seeds × 6 epochs; strides 4, 2, 1) and the speed table."""
    rng = np.random.default_rng(6)
    curves, table = [], []
    for task, ceiling in (("pathfinder_synth", 0.86), ("digits", 0.95)):
        for seed in SEEDS:
            for mode in ("subsampled", "baseline"):
                seconds = 0.0
                for epoch in range(1, 7):
                    stage = (epoch - 1) // 2 if mode == "subsampled" else 0
                    stride = (4, 2, 1)[stage] if mode == "subsampled" else 1
                    epoch_seconds = (12.0 / stride + 2.0) * (1 + 0.05 * rng.standard_normal())
                    seconds += epoch_seconds
                    acc = ceiling - (ceiling - 0.5) * np.exp(-epoch / 1.6) + 0.015 * rng.standard_normal()
                    curves.append({"task": task, "continuity": "continuous" if task == "digits" else "discrete",
                                   "mode": mode, "seed": seed, "epoch": epoch, "stage": stage, "stride": stride,
                                   "lr": 1e-3, "val_accuracy": round(acc, 4), "epoch_seconds": epoch_seconds,
                                   "cumulative_seconds": seconds})  # fmt: skip
            table.append({"task": task, "seed": seed, "task_continuity": 0.93 if task == "digits" else 0.41,
                          "majority_accuracy": 0.5 if task == "pathfinder_synth" else 0.1,
                          "best_val_accuracy_baseline": ceiling - 0.02,
                          "speedup_to_reach_seconds": 1.4 + 0.1 * seed, "learned_subsampled": True,
                          "learned_baseline": True})  # fmt: skip
    return pd.DataFrame(curves)[[*RUN_KEYS, *CURVE_COLUMNS]], pd.DataFrame(table)[list(TABLE_COLUMNS)]


def alignment_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """E4 tables: 2 systems × 5 η with paired-seed standard errors, and the E2 continuity rows."""
    rows = []
    for system, tcs in (("vdp", (0.9999, 0.9990, 0.998, 0.99, 0.94)), ("dho", (0.99999, 0.9995, 0.995, 0.98, 0.93))):
        for k, (eta, tc) in enumerate(zip(ETAS, tcs)):
            rows.append({"system": system, "eta": eta, "tc": tc, "tc_stderr": 1e-5, "rmse_s4d": 0.5, "rmse_s6": 0.55,
                         "reference_model": "transformer", "rmse_reference": 0.45,
                         "advantage_s4d": -0.05 - 0.08 * k, "advantage_s4d_se": 0.02 + 0.005 * k, "n_seeds_s4d": 3,
                         "advantage_s6": -0.1 - 0.06 * k, "advantage_s6_se": 0.03, "n_seeds_s6": 3, "note": ""})  # fmt: skip
    cont = [{"system": s, "tc": tc, "discretization": "zoh", "d_tau1_s4d": d4, "d_tau1_s6": d6, "order_s4d": 1.0,
             "order_s6": 0.6, "gap": float(np.log(d6 / d4))}
            for s, tc, d4, d6 in (("vdp", 0.9999, 0.01, 0.05), ("dho", 0.99999, 0.004, 0.03), ("ou", 0.97, 0.05, 0.07))]  # fmt: skip
    return pd.DataFrame(rows, columns=ALIGNMENT_COLUMNS), pd.DataFrame(cont, columns=CONTINUITY_COLUMNS)


def refinement_errors_frame() -> pd.DataFrame:
    """E2 errors.csv (pooled rows only): 2 systems × S4D/S6 × ZOH/bilinear × 3 seeds × 4 τ; S6 grows away from τ = 1."""
    rng = np.random.default_rng(7)
    rows = []
    for system in ("vdp", "dho"):
        for model in ("s4d", "s6"):
            for method in ("zoh", "bilinear"):
                for seed in SEEDS:
                    base = rng.uniform(0.1, 0.2)
                    for tau in (0.25, 0.5, 1.0, 2.0):
                        growth = 0.02 if model == "s4d" else 0.5
                        rmse = base * (1 + growth * abs(np.log2(tau)) * rng.uniform(0.5, 1.5))
                        rows.append({"system": system, "model": model, "discretization": method, "seed": seed,
                                     "tau": tau, "label": "pooled", "rmse": rmse, "mae": 0.8 * rmse,
                                     "train_mean_rmse": 1.0, "rmse_ratio": rmse, "n": 32, "readout": "c",
                                     "learned": True})  # fmt: skip
    return pd.DataFrame(rows)[ERROR_COLUMNS]


def write_fixtures(folder) -> dict:
    """The fixture CSVs under ``folder``; returns {name: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    curves, speed = subsampling_frames()
    alignment, continuity = alignment_frames()
    frames = {"results": eta_results_frame(), "baselines": eta_baselines_frame(), "curves": curves, "speed": speed,
              "alignment": alignment, "continuity": continuity, "errors": refinement_errors_frame()}  # fmt: skip
    paths = {}
    for name, frame in frames.items():
        paths[name] = folder / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    return paths


def plot_commands(paths: dict, out) -> dict[str, list[str]]:
    """{figure stem: `contlaws` arguments that draw it into ``out``} for the four seaborn figures."""
    return {
        "figure4": ["refinement-trained-plot", "--errors", str(paths["errors"]), "--out-figure", str(out / "figure4"),
                    "--gate-ratio", "0.5"],
        "figure5": ["eta-performance-plot", "--results", str(paths["results"]), "--baselines", str(paths["baselines"]),
                    "--out-figure", str(out / "figure5"), "--out-csv", str(out / "figure5_table.csv"),
                    "--out-tex", str(out / "figure5_table.tex")],
        "figure6": ["subsampling-plot", "--curves-csv", str(paths["curves"]), "--speed-table", str(paths["speed"]),
                    "--out-figure", str(out / "figure6")],
        "alignment": ["alignment-plot", "--alignment", str(paths["alignment"]), "--continuity",
                      str(paths["continuity"]), "--out-figure", str(out / "alignment")],
    }  # fmt: skip


def figure_bytes(out, stems) -> dict[str, bytes]:
    return {f"{stem}{ext}": (out / f"{stem}{ext}").read_bytes() for stem in stems for ext in (".png", ".pdf")}


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------
def test_theme_is_seaborn_paper_with_project_sizes_and_colourblind_models():
    mpl.rcParams.update({"font.size": 20, "axes.grid": False, "axes.prop_cycle": mpl.cycler(color=["k"])})
    style.apply_theme()  # undoes whatever ran before
    assert mpl.rcParams["font.size"] == 9 and mpl.rcParams["legend.fontsize"] == 7 and mpl.rcParams["axes.grid"]
    assert mpl.rcParams["font.sans-serif"] == ["DejaVu Sans"]  # matplotlib's own font: same bytes on any machine
    colourblind = [mpl.colors.to_hex(c) for c in style.sns.color_palette("colorblind")]
    assert [mpl.colors.to_hex(c) for c in mpl.rcParams["axes.prop_cycle"].by_key()["color"]] == colourblind
    assert set(style.MODEL_COLORS.values()) <= set(colourblind)
    assert len(set(style.MODEL_COLORS.values())) == len(style.MODEL_COLORS), "two models share a colour"


def test_seed_band_is_mean_plus_minus_two_standard_errors():
    """The band Figure 5 draws around a curve is mean ± 2·sd/√n over seeds (checked against numpy)."""
    from contlaws.plots.figure5 import plot_figure5

    results = eta_results_frame()
    fig = plot_figure5(results, eta_baselines_frame())
    top = fig.axes[0]  # Van der Pol, test RMSE
    ok = results[(results["system"] == "vdp") & (results["model"] == "transformer")]
    values = ok.groupby("eta")["test_rmse"].agg(["mean", "std", "count"])
    expected_low = (values["mean"] - 2 * values["std"] / np.sqrt(values["count"])).to_numpy()
    expected_high = (values["mean"] + 2 * values["std"] / np.sqrt(values["count"])).to_numpy()
    bands = [c for c in top.collections if c.get_paths() and len(c.get_paths()[0].vertices) >= 2 * len(ETAS)]
    found = False
    for band in bands:
        vertices = band.get_paths()[0].vertices
        xs, ys = vertices[:, 0], vertices[:, 1]
        lows = [ys[np.isclose(xs, e)].min() for e in ETAS]
        highs = [ys[np.isclose(xs, e)].max() for e in ETAS]
        if np.allclose(lows, expected_low) and np.allclose(highs, expected_high):
            found = True
    assert found, "no band equals mean ± 2 SE of the transformer's seeds"
    assert "band mean ± 2 SE" in fig.get_suptitle()


def render(paths: dict, out) -> dict[str, bytes]:
    """The four figures drawn from the tables ``paths`` into ``out`` in this process; their bytes."""
    commands = plot_commands(paths, out)
    for args in commands.values():
        assert main(args) == 0
    return figure_bytes(out, commands)


def test_same_tables_give_same_figure_bytes_in_one_process_and_across_processes(tmp_path):
    """Twice here and once in a fresh interpreter (another hash seed): the same PNG and PDF bytes; no
    warning from seaborn with this pandas (``pytest -W error`` stays usable); and a changed number in
    a table changes the figure, so the comparison can fail."""
    paths = write_fixtures(tmp_path / "tables")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        outputs = [render(paths, tmp_path / "first")]
    outputs.append(render(paths, tmp_path / "second"))
    out = tmp_path / "other_process"
    env = {**os.environ, "PYTHONHASHSEED": "123", "PYTHONPATH": str(REPO / "src")}
    script = ("import sys, json; from contlaws.commands import main; "
              "sys.exit(max(main(a) for a in json.loads(sys.argv[1])))")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", script, json.dumps(list(plot_commands(paths, out).values()))],
                          capture_output=True, text=True, env=env, timeout=240, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    outputs.append(figure_bytes(out, plot_commands(paths, out)))
    assert outputs[0].keys() == outputs[1].keys() == outputs[2].keys() and len(outputs[0]) == 8
    for name in outputs[0]:
        assert outputs[0][name] == outputs[1][name], f"{name}: differs between two renders in one process"
        assert outputs[0][name] == outputs[2][name], f"{name}: differs between processes"

    for table, column in (("errors", "rmse"), ("results", "test_rmse"), ("curves", "val_accuracy"),
                          ("alignment", "advantage_s4d")):
        frame = pd.read_csv(paths[table])
        frame.loc[0, column] = frame.loc[0, column] * 0.9
        frame.to_csv(paths[table], index=False)
    changed = render(paths, tmp_path / "changed")
    for stem in ("figure4", "figure5", "figure6", "alignment"):
        assert changed[f"{stem}.png"] != outputs[0][f"{stem}.png"], f"{stem}: a changed table gave the same figure"
