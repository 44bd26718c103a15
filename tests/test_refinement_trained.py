"""E2 trained refinement: standardized labels, refinement-trained-evaluate vs direct computation, learning
gate, amplitude sweep, batch partition, tables, Figure 4, rules."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from test_model_continuity import make_tiny_refinement_run

from contlaws.commands import main
from contlaws.data.regression import LabelStandardization, checkpoint_standardization
from contlaws.data.sets import load_split
from contlaws.errors import DataFileError
from contlaws.experiments.refinement_trained import (
    CONTINUITY_COLUMNS,
    ERROR_COLUMNS,
    SWEEP_COLUMNS,
    evaluate_refinement,
    evaluation_mem_mb,
    label_errors,
    learned_gate,
    refined_test_arguments,
    refined_test_inputs,
    run_files,
)
from contlaws.experiments.refinement_trained_tables import continuity_table, rmse_table, write_rmse_table
from contlaws.plots.figure4 import plot_figure4, relative_to_tau1
from contlaws.train import load_model


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return make_tiny_refinement_run(tmp_path_factory.mktemp("tiny_s6"), model="s6", system="dho")


def direct_outputs(model, path, tau, batch):
    """Model outputs and targets computed batch by batch (fixed partition), without the engine."""
    ds = load_split(path)
    outs, ys = [], []
    with torch.no_grad():
        for start in range(0, len(ds), batch):
            x, y = ds.get_batch(np.arange(start, min(len(ds), start + batch)))
            outs.append(model(x, tau=tau).double().numpy())
            ys.append(y.double().numpy())
    return np.concatenate(outs), np.concatenate(ys)


def test_cli_rows_match_direct_computation(tmp_path, tiny_run):
    errors_csv, cont_csv, sweep_csv = tmp_path / "errors.csv", tmp_path / "continuity.csv", tmp_path / "sweep.csv"
    tests = [f"{t}={p}" for t, p in tiny_run["tests"].items()]
    status = main(["refinement-trained-evaluate", "--config", str(tiny_run["config"]), "--checkpoint", str(tiny_run["checkpoint"]),
                   "--data", *tests, "--out", str(errors_csv), "--out-continuity", str(cont_csv),
                   "--out-sweep", str(sweep_csv)])  # fmt: skip
    assert status == 0
    errors, cont, sweep = pd.read_csv(errors_csv), pd.read_csv(cont_csv), pd.read_csv(sweep_csv)
    assert list(errors.columns) == ERROR_COLUMNS and list(cont.columns) == CONTINUITY_COLUMNS
    assert list(sweep.columns) == SWEEP_COLUMNS and sorted(sweep["amplitude"].unique()) == [1.0, 4.0, 16.0]
    assert set(errors["label"]) == {"omega", "zeta", "pooled"}
    assert sorted(errors["tau"].unique()) == sorted(tiny_run["tests"])
    assert set(errors["system"]) == {"dho"} and set(errors["model"]) == {"s6"}
    assert set(errors["discretization"]) == {"zoh"} and set(errors["seed"]) == {3} and set(errors["readout"]) == {"c"}

    model, checkpoint = load_model(tiny_run["checkpoint"])
    stats = checkpoint_standardization(checkpoint)
    outputs = {}
    for tau, path in tiny_run["tests"].items():
        out, y = direct_outputs(model, path, tau, batch=tiny_run["n_test"])
        z = (y - np.array(stats.mean)) / np.array(stats.std)  # labels in training-standardized units
        outputs[tau] = out
        rows = errors[errors["tau"] == tau].set_index("label")
        for j, name in enumerate(("omega", "zeta")):
            assert rows.loc[name, "rmse"] == pytest.approx(np.sqrt(np.mean((out[:, j] - z[:, j]) ** 2)), rel=1e-5)
            assert rows.loc[name, "train_mean_rmse"] == pytest.approx(np.sqrt(np.mean(z[:, j] ** 2)), rel=1e-5)
        assert rows.loc["pooled", "rmse"] == pytest.approx(np.sqrt(np.mean((out - z) ** 2)), rel=1e-5)
        assert rows.loc["pooled", "mae"] == pytest.approx(np.mean(np.abs(out - z)), rel=1e-5)
        assert (rows["n"] == tiny_run["n_test"]).all()
    at_1 = errors[(errors["tau"] == 1.0) & (errors["label"] == "pooled")].iloc[0]
    gate = tiny_run["cfg"]["gates"]["e2_rmse_ratio"]
    assert bool(at_1["learned"]) == (at_1["rmse"] <= gate * at_1["train_mean_rmse"])
    assert errors["learned"].nunique() == 1 and cont["learned"].nunique() == 1
    ref = outputs[min(outputs)]
    spread = np.sqrt(np.mean((ref - ref.mean(axis=0)) ** 2))
    for tau, out in outputs.items():
        d = cont.loc[cont["tau"] == tau, "d"].iloc[0]
        assert d == pytest.approx(np.sqrt(np.mean((out - ref) ** 2)) / spread, rel=1e-4, abs=1e-7)
    assert np.allclose(sweep.loc[sweep["amplitude"] == 1.0, "d"].to_numpy(), cont["d"].to_numpy())


def test_standardization_uses_the_training_split_only(tiny_run):
    """Per-component mean/std of the training labels, recorded in the checkpoint; the round trip is exact."""
    from contlaws.data.sets import load_split as load

    _, checkpoint = load_model(tiny_run["checkpoint"])
    stats = checkpoint_standardization(checkpoint)
    train_dir = tiny_run["tests"][1.0].parent
    y_train = load(train_dir / "dho_tau1_train.npz").y.astype(np.float64)
    y_val = load(train_dir / "dho_tau1_val.npz").y.astype(np.float64)
    assert np.allclose(stats.mean, y_train.mean(axis=0)) and np.allclose(stats.std, y_train.std(axis=0))
    assert not np.allclose(stats.mean, y_val.mean(axis=0))  # not the validation (or pooled) statistics
    assert stats.std[0] > 5 * stats.std[1]  # omega's spread dwarfs zeta's: why each component is scaled
    z = stats.apply(y_train)
    assert np.allclose(z.mean(axis=0), 0, atol=1e-5) and np.allclose(z.std(axis=0), 1, atol=1e-5)
    assert np.allclose(stats.invert(z), y_train, rtol=1e-6)
    assert LabelStandardization.from_dict(stats.to_dict()) == stats
    # A component without spread keeps std 1 (no division by zero); wrong widths are refused.
    flat = LabelStandardization.fit(np.array([[1.0, 2.0], [1.0, 4.0]]))
    assert flat.std == (1.0, 1.0) and flat.mean == (1.0, 3.0)
    with pytest.raises(ValueError, match="components"):
        flat.apply(np.zeros((3, 3)))


def test_checkpoint_without_standardization_is_refused(tmp_path, tiny_run):
    import torch as _torch

    checkpoint = _torch.load(tiny_run["checkpoint"], weights_only=True)
    checkpoint["provenance"].pop("label_standardization")
    old = tmp_path / "old.pt"
    _torch.save(checkpoint, old)
    tests = [f"{t}={p}" for t, p in tiny_run["tests"].items()]
    assert main(["refinement-trained-evaluate", "--checkpoint", str(old), "--data", *tests, "--out", str(tmp_path / "e.csv")]) == 2


def _nan_label_sets(run, tmp_path):
    """The run's test sets with the label of sample 1 set to NaN (a valid checksum)."""
    from contlaws.io import load_npz, save_npz

    args = []
    for tau, path in run["tests"].items():
        arrays, meta = load_npz(path)
        y = arrays["y"].copy()
        y[1] = np.nan
        save_npz(tmp_path / f"nan_label_{tau}.npz", {**arrays, "y": y}, {k: v for k, v in meta.items() if k != "checksum"})
        args.append(f"{tau}={tmp_path / f'nan_label_{tau}.npz'}")
    return args


@pytest.mark.parametrize("case", ["NaN weights", "outputs overflow", "NaN labels"])
def test_non_finite_metrics_are_refused(tmp_path, tiny_run, capfd, case):
    """refinement-trained-evaluate wrote NaN errors and exited 0; now: exit 2, one line naming the checkpoint, no tables."""
    checkpoint = torch.load(tiny_run["checkpoint"], weights_only=True)
    tests = [f"{t}={p}" for t, p in tiny_run["tests"].items()]
    if case == "NaN weights":
        for value in checkpoint["model_state"].values():
            if value.is_floating_point():
                value.fill_(float("nan"))
        expected = "weights contain NaN or inf"
    elif case == "outputs overflow":  # finite weights whose outputs are not
        for name in ("decoder.0.weight", "decoder.2.weight"):
            checkpoint["model_state"][name].fill_(3e38)
        expected = "are NaN or inf for"
    else:
        # refused when the split is loaded, naming the data file (not the checkpoint)
        tests = _nan_label_sets(tiny_run, tmp_path)
        expected = "regression array 'y' holds NaN or infinite values"
    path = tmp_path / "model.pt"
    torch.save(checkpoint, path)
    outs = [tmp_path / name for name in ("errors.csv", "continuity.csv", "sweep.csv")]
    status = main(["refinement-trained-evaluate", "--checkpoint", str(path), "--data", *tests, "--out", str(outs[0]),
                   "--out-continuity", str(outs[1]), "--out-sweep", str(outs[2])])  # fmt: skip
    err = capfd.readouterr().err
    assert status == 2
    named = f"error: {tmp_path / 'nan_label_'}" if case == "NaN labels" else f"error: {path}: "
    assert named in err and expected in err and "Traceback" not in err
    assert not any(out.exists() for out in outs)


def test_learned_gate():
    rows = pd.DataFrame({"tau": [1.0, 1.0, 0.5], "label": ["mu", "pooled", "pooled"], "rmse": [0.3, 0.3, 0.9],
                         "train_mean_rmse": [1.0, 1.0, 1.0]})  # fmt: skip
    assert learned_gate(rows, 0.5) and not learned_gate(rows, 0.25)
    with pytest.raises(ValueError, match="tau = 1"):
        learned_gate(rows[rows["tau"] != 1.0], 0.5)
    # The trivial predictor itself (all zeros in standardized units) has ratio 1: never learned.
    rec = label_errors(np.zeros((4, 1)), np.array([[1.0], [-1.0], [2.0], [-2.0]]), ["mu"])
    assert rec[-1]["label"] == "pooled" and rec[-1]["rmse_ratio"] == pytest.approx(1.0)


def test_same_batch_partition_at_every_tau(tiny_refinement_s4d):
    """S4D's channel norm mixes a batch: every τ must use the batch sized for the longest set."""
    run = tiny_refinement_s4d
    model, checkpoint = load_model(run["checkpoint"])
    stats = checkpoint_standardization(checkpoint)
    tests = {t: load_split(p) for t, p in run["tests"].items()}
    longest, width = max(ds.length for ds in tests.values()), 8
    batch = 4  # 6 test rows -> batches of 4 and 2 at every τ
    result = evaluate_refinement(model, tests, stats, amplitudes=(1.0,), eval_max_elements=batch * longest * width,
                                 progress=False)  # fmt: skip
    errors = result.errors[result.errors["label"] == "pooled"]
    for tau, path in run["tests"].items():
        out, y = direct_outputs(model, path, tau, batch=batch)
        z = stats.apply(y)
        assert errors.loc[errors["tau"] == tau, "rmse"].iloc[0] == pytest.approx(np.sqrt(np.mean((out - z) ** 2)), rel=1e-5)
    # The partition matters (so the test above can fail): one whole batch gives other numbers at τ = 1.
    out_whole, y = direct_outputs(model, run["tests"][1.0], 1.0, batch=run["n_test"])
    out_split, _ = direct_outputs(model, run["tests"][1.0], 1.0, batch=batch)
    assert not np.allclose(out_whole, out_split, rtol=1e-6, atol=0)


def test_amplitude_sweep_scales_the_inputs(tiny_refinement_s4d):
    """The sweep at a evaluates the model on a·x (checked against a direct call)."""
    run = tiny_refinement_s4d
    model, checkpoint = load_model(run["checkpoint"])
    tests = {t: load_split(p) for t, p in run["tests"].items()}
    result = evaluate_refinement(model, tests, checkpoint_standardization(checkpoint), amplitudes=(4.0,),
                                 eval_max_elements=2**24, progress=False)  # fmt: skip
    assert sorted(result.continuity) == [1.0, 4.0]
    with torch.no_grad():
        scaled = {t: model(4.0 * ds.get_batch(np.arange(len(ds)))[0], tau=t).double().numpy() for t, ds in tests.items()}
    ref = scaled[min(scaled)]
    spread = np.sqrt(np.mean((ref - ref.mean(axis=0)) ** 2))
    assert result.continuity[4.0].d[1.0] == pytest.approx(np.sqrt(np.mean((scaled[1.0] - ref) ** 2)) / spread, rel=1e-4)


@pytest.fixture(scope="module")
def tiny_refinement_s4d(tmp_path_factory):
    return make_tiny_refinement_run(tmp_path_factory.mktemp("tiny_s4d"), model="s4d", system="vdp")


def synthetic_errors(seeds=(0, 1), not_learned=()):
    """errors.csv rows: two labels and pooled per τ; (system, model) pairs in ``not_learned`` fail the gate."""
    rng = np.random.default_rng(0)
    rows = []
    for system in ("vdp", "dho"):
        for model in ("s4d", "s6"):
            for method in ("zoh", "bilinear"):
                for seed in seeds:
                    base = rng.uniform(0.1, 0.2)
                    learned = (system, model) not in not_learned
                    for tau in (2.0, 1.0, 0.5, 0.25):
                        growth = 0.01 if model == "s4d" else 0.5
                        rmse = base * (1 + growth * abs(np.log2(tau)) * rng.uniform(0.5, 1.5)) * (1 if learned else 6)
                        for label, scale in (("a", 0.9), ("b", 1.1), ("pooled", 1.0)):
                            rows.append({"system": system, "model": model, "discretization": method, "seed": seed,
                                         "tau": tau, "label": label, "rmse": scale * rmse, "mae": 0.8 * scale * rmse,
                                         "train_mean_rmse": 1.0, "rmse_ratio": scale * rmse, "n": 10, "readout": "c",
                                         "learned": learned})  # fmt: skip
    return pd.DataFrame(rows)


def test_tables_average_over_seeds():
    errors = synthetic_errors(not_learned={("dho", "s6")})
    tidy, wide = rmse_table(errors)
    pooled = errors[errors["label"] == "pooled"]
    sel = (pooled["system"] == "dho") & (pooled["model"] == "s6") & (pooled["discretization"] == "bilinear")
    for tau in (2.0, 0.25):
        values = pooled.loc[sel & (pooled["tau"] == tau), "rmse"]
        row = tidy[(tidy["system"] == "dho") & (tidy["model"] == "s6") & (tidy["discretization"] == "bilinear")
                   & (tidy["tau"] == tau) & (tidy["label"] == "pooled")].iloc[0]  # fmt: skip
        assert row["rmse_mean"] == pytest.approx(values.mean())
        assert row["rmse_std"] == pytest.approx(values.std())
        assert row["n_seeds"] == 2 and row["n_learned"] == 0 and row["train_mean_rmse"] == 1.0
    assert set(tidy["label"]) == {"a", "b", "pooled"}
    assert len(wide) == 8 + 2 and {"1/4", "1/2", "1", "2"} <= set(wide.columns)  # + one train-mean row per system
    assert (wide["model"] == "train mean").sum() == 2
    assert wide["model"].str.endswith("\u2020").sum() == 2  # dho S6 (zoh, bilinear) marked as not learned
    rel = relative_to_tau1(pooled)
    assert np.allclose(rel.loc[rel["tau"] == 1.0, "rmse_rel"], 1.0)

    cont = pooled.rename(columns={"rmse": "d"}).assign(order=lambda df: df["seed"] + 1.0, tau_ref=0.25, delta=0.1,
                                                       order_note="", spread=1.0)  # fmt: skip
    tidy_c, wide_c = continuity_table(cont[CONTINUITY_COLUMNS])
    assert np.allclose(tidy_c["order_mean"], 1.5) and np.allclose(tidy_c["order_std"], np.std([1.0, 2.0], ddof=1))
    assert "d(1/4)" not in wide_c.columns and "d(1/2)" in wide_c.columns  # the reference column is left out
    assert wide_c["model"].str.endswith("\u2020").sum() == 2 and not tidy_c.loc[tidy_c["model"] == "s6", "learned"].all()


def test_plot_and_cli(tmp_path):
    errors = synthetic_errors(seeds=(0,))
    path = tmp_path / "errors.csv"
    errors.to_csv(path, index=False)
    stem = tmp_path / "fig" / "figure4"
    status = main(["refinement-trained-plot", "--errors", str(path), "--out-figure", str(stem)])
    assert status == 0
    assert stem.with_suffix(".png").stat().st_size > 10_000 and stem.with_suffix(".pdf").exists()
    assert sorted(p.name for p in stem.parent.iterdir()) == ["figure4.pdf", "figure4.png"]  # the plot writes no table
    tidy = write_rmse_table(path, tmp_path / "t.csv", tmp_path / "t.tex")
    assert len(pd.read_csv(tmp_path / "t.csv")) == len(tidy) > 0
    tex = (tmp_path / "t.tex").read_text()
    assert "\\begin{tabular}" in tex and "Van der Pol" in tex
    fig = plot_figure4(errors, gate_ratio=0.5)
    assert len(fig.axes) == 4  # two systems x (RMSE, relative RMSE)
    grey = [line for line in fig.axes[0].get_lines() if line.get_color() == "0.5"]
    assert len(grey) == 2 and np.allclose(grey[0].get_ydata(), 1.0) and np.allclose(grey[1].get_ydata(), 0.5)
    fig = plot_figure4(synthetic_errors(seeds=(0,), not_learned={("dho", "s6")}))
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any(t.startswith("not learned: S6") for t in texts)
    # A table without the needed columns is a clear error naming the file.
    errors.drop(columns=["rmse"]).to_csv(path, index=False)
    with pytest.raises(DataFileError, match="errors.csv"):
        from contlaws.experiments.refinement_trained_tables import read_table

        read_table(path, ERROR_COLUMNS)


def test_aggregate_orders_rows_and_rejects_bad_tables(tmp_path):
    from contlaws.experiments.refinement_trained import aggregate, sort_runs

    errors = synthetic_errors(seeds=(0,))
    errors = errors[errors["label"] == "pooled"]
    parts = []
    for i, (_, group) in enumerate(errors.groupby(["system", "model", "discretization"])):
        parts.append(tmp_path / f"run{i}.csv")
        group.sample(frac=1, random_state=i).to_csv(parts[-1], index=False)
    merged = sort_runs(aggregate(parts, ERROR_COLUMNS), ["vdp", "dho"])
    assert list(merged["system"].unique()) == ["vdp", "dho"]
    first = merged.iloc[:8]
    assert list(first["model"]) == ["s4d"] * 8 and list(first["discretization"]) == ["zoh"] * 4 + ["bilinear"] * 4
    assert list(first["tau"][:4]) == [0.25, 0.5, 1.0, 2.0]
    pd.DataFrame({"system": ["vdp"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataFileError, match="bad.csv"):
        aggregate([tmp_path / "bad.csv"], ERROR_COLUMNS)


def test_rule_helpers_and_memory(quick_config):
    files = run_files(quick_config, "R", "errors.csv")
    rt = quick_config["refinement_trained"]
    assert len(files) == len(rt["systems"]) * len(rt["models"]) * len(rt["discretizations"]) * len(rt["seeds"])
    assert "R/vdp/s4d_zoh_seed0/errors.csv" in files
    taus = [2, 1, 0.5]
    inputs = refined_test_inputs(taus, lambda s, t, splits: [f"{s}_tau{t}_{splits[0]}.npz"], SimpleNamespace(system="dho"))
    assert refined_test_arguments(taus, SimpleNamespace(**inputs)) == "2=dho_tau2_test.npz 1=dho_tau1_test.npz 0.5=dho_tau0.5_test.npz"
    # Memory grows as the finest grid gets finer (longer test sets).
    finer = {**quick_config, "regression": {**quick_config["regression"], "taus": [1, 0.5, 0.25, 0.125, 0.0625]}}
    assert evaluation_mem_mb(finer) > evaluation_mem_mb(quick_config) > 500


def test_fig4_target_needs_no_other_experiment(repo_root):
    """`snakemake fig4` builds data, training, evaluation and the plot only (dry run of the whole subgraph)."""
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--forceall", "--quiet", "rules", "--configfile",
                          "config/quick.yaml", "--cores", "1", "fig4"],
                         cwd=repo_root, capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    rules = {line.split()[0] for line in out.stdout.splitlines() if line and line.split()[-1].isdigit()}
    assert {"train_refinement", "evaluate_refinement", "refinement_trained_tables", "figure4_plot"} <= rules
    assert not rules & {"refine_numerical_compute", "claim_c1", "claim_c2", "model_continuity_table"}


def test_deleting_best_pt_plans_the_training_job_again(repo_root, tmp_path):
    """best.pt is a declared output of train_refinement and an input of evaluate_refinement: when the
    evaluation has to run again and best.pt is gone, `snakemake -n` plans the training job first (before,
    the evaluation deleted errors.csv and failed on the missing checkpoint, and nothing retrained).
    Snakemake, like for temp() files, does not rebuild a missing intermediate while everything
    downstream of it is present and up to date. Dry runs on a tree of placeholder files."""
    import os

    target = "results/quick/refinement_trained/vdp/s4d_zoh_seed0/errors.csv"

    def snakemake(*args):
        # The target goes first: --configfile and --quiet take several values and would swallow it.
        out = subprocess.run([sys.executable, "-m", "snakemake", target, "-s", str(repo_root / "Snakefile"),
                              "--directory", str(tmp_path), "--cores", "1", *args,
                              "--configfile", str(repo_root / "config" / "quick.yaml")],
                             capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout

    # Every file of the target's DAG, each rule's outputs newer than its inputs (data, training, evaluation).
    rows = [line.split("\t") for line in snakemake("--summary").splitlines()[1:] if "\t" in line]
    age = {"train_refinement": 100, "evaluate_refinement": 0}
    for path, _, rule, *_ in rows:
        file = tmp_path / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text("placeholder")
        stamp = 1_700_000_000 - age.get(rule, 200)
        os.utime(file, (stamp, stamp))
    assert {"train_refinement", "evaluate_refinement"} <= {row[2] for row in rows}

    def planned():
        out = snakemake("-n", "--quiet", "rules")
        return {line.split()[0] for line in out.splitlines() if line and line.split()[-1].isdigit()} - {"total"}

    assert not planned()  # the placeholder tree is up to date
    (tmp_path / target).unlink()  # the evaluation must run again ...
    assert planned() == {"evaluate_refinement"}
    (tmp_path / target).with_name("best.pt").unlink()  # ... and its checkpoint is gone
    assert planned() == {"train_refinement", "evaluate_refinement"}
