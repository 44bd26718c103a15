"""E4 alignment: task-continuity table, alignment tables, Spearman statistics, claims C3/C4, figure, rules."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import with_c4_grid_of

from contlaws.claims import evaluate_claim
from contlaws.commands import main
from contlaws.errors import DataFileError
from contlaws.experiments.alignment import (
    ALIGNMENT_COLUMNS,
    CONTINUITY_COLUMNS,
    TC_COLUMNS,
    alignment_table,
    continuity_alignment,
    dataset_labels,
    tc_table,
)
from contlaws.plots.alignment import logit_tick, plot_alignment
from contlaws.stats import spearman


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------
def write_record(path, tc, curve=None, kind="continuous"):
    path.parent.mkdir(parents=True, exist_ok=True)
    curve = curve or {"2": tc, "4": tc - 0.1}
    path.write_text(json.dumps({"source": "x.npz", "result": {"score": tc, "stderr": 0.001, "curve": curve,
                                "input_kind": kind, "metric": "refinement", "n_sequences": 50, "n_excluded": 0}}))  # fmt: skip
    return path


def test_record_names_and_table_order(tmp_path):
    labels = dataset_labels(tmp_path / "forecasting" / "dho_eta0.25.json")
    assert (labels["family"], labels["dataset"], labels["system"], labels["eta"], labels["task"]) == (
        "forecasting", "forecasting/dho_eta0.25", "dho", 0.25, "")
    assert np.isnan(labels["tau"])
    from contlaws.data.benchmarks.registry import TASKS
    from contlaws.experiments.alignment import BENCHMARK_LABELS

    assert set(BENCHMARK_LABELS) == set(TASKS)  # every benchmark task has a name in the LaTeX table
    assert dataset_labels(tmp_path / "regression" / "vdp_tau1.json")["tau"] == 1.0
    assert dataset_labels(tmp_path / "benchmarks" / "listops_synth.json")["task"] == "listops_synth"
    with pytest.raises(DataFileError, match="expected <family>/<name>.json"):
        dataset_labels(tmp_path / "other" / "vdp.json")

    paths = [write_record(tmp_path / "benchmarks" / "digits.json", 0.97),
             write_record(tmp_path / "forecasting" / "vdp_eta1.json", 0.95),
             write_record(tmp_path / "regression" / "vdp_tau1.json", 0.999),
             write_record(tmp_path / "forecasting" / "vdp_eta0.json", 0.9999),
             write_record(tmp_path / "forecasting" / "dho_eta0.json", 0.9998)]  # fmt: skip
    table = tc_table(paths)
    assert list(table.columns) == TC_COLUMNS + ["tc_s2", "tc_s4"]
    assert table["dataset"].tolist() == ["forecasting/vdp_eta0", "forecasting/vdp_eta1", "forecasting/dho_eta0",
                                         "regression/vdp_tau1", "benchmarks/digits"]  # fmt: skip
    assert table.loc[1, "tc_s4"] == pytest.approx(0.85)
    (tmp_path / "forecasting" / "ou_eta0.json").write_text("{}")
    with pytest.raises(DataFileError, match="ou_eta0.json: not a `contlaws task-continuity --out-json` record"):
        tc_table([tmp_path / "forecasting" / "ou_eta0.json"])


def tc_frame(values):
    """A task-continuity table of the eta family from {(system, eta): tc}, plus a regression row per system."""
    rows = [{"family": "forecasting", "dataset": f"forecasting/{s}_eta{e:g}", "system": s, "eta": e, "tau": np.nan,
             "task": "", "input_kind": "continuous", "metric": "refinement", "tc": v, "tc_stderr": 1e-4,
             "n_sequences": 100, "n_excluded": 0} for (s, e), v in values.items()]  # fmt: skip
    for system, tc in (("vdp", 0.9999), ("dho", 0.999)):
        rows.append({"family": "regression", "dataset": f"regression/{system}_tau1", "system": system, "eta": np.nan,
                     "tau": 1.0, "task": "", "input_kind": "continuous", "metric": "refinement", "tc": tc,
                     "tc_stderr": 1e-5, "n_sequences": 100, "n_excluded": 0})  # fmt: skip
    return pd.DataFrame(rows, columns=TC_COLUMNS)


def eta_results(rmse, not_learned=()):
    """E3 results from {(system, eta, model): [rmse per seed]}; None marks a model that did not run, and the
    (system, eta, model) keys in ``not_learned`` ran but lost to their gate."""
    rows = []
    for (system, eta, model), values in rmse.items():
        for seed, value in enumerate(values):
            ok = value is not None
            rows.append({"system": system, "eta": eta, "model": model, "seed": seed, "status": "ok" if ok else "not run",
                         "reason": "" if ok else "needs CUDA", "test_rmse": value if ok else np.nan,
                         "test_mae": value if ok else np.nan, "n": 10 if ok else 0,
                         "gate_rmse": 2 * value if ok else np.nan, "gate_z": -3.0 if ok else np.nan,
                         "learned": ok and (system, eta, model) not in not_learned})  # fmt: skip
    return pd.DataFrame(rows)


def test_alignment_table_uses_best_reference_and_seed_means():
    tc = tc_frame({("vdp", 0.0): 0.9999, ("vdp", 1.0): 0.95})
    results = eta_results({
        ("vdp", 0.0, "s4d"): [1.0, 3.0], ("vdp", 0.0, "s6"): [4.0, 4.0],
        ("vdp", 0.0, "transformer"): [5.0, 3.0], ("vdp", 0.0, "linear_attention"): [6.0, 6.0],
        ("vdp", 0.0, "mamba2"): [0.1, 0.1],  # not a reference model
        ("vdp", 1.0, "s4d"): [2.0, 2.0], ("vdp", 1.0, "transformer"): [None, None],
        ("vdp", 1.0, "linear_attention"): [1.0, 1.0],
    })  # fmt: skip
    table = alignment_table(tc, results)
    assert list(table.columns) == ALIGNMENT_COLUMNS and len(table) == 2
    first, second = table.iloc[0], table.iloc[1]
    assert first["reference_model"] == "transformer" and first["rmse_reference"] == pytest.approx(4.0)
    # paired by seed: mean of ln(ref_s / model_s), not the ratio of seed means
    assert first["advantage_s4d"] == pytest.approx((np.log(5.0 / 1.0) + np.log(3.0 / 3.0)) / 2)
    assert first["advantage_s6"] == pytest.approx((np.log(5.0 / 4.0) + np.log(3.0 / 4.0)) / 2)
    assert second["reference_model"] == "linear_attention"  # the transformer did not run there
    assert second["advantage_s4d"] == pytest.approx(np.log(0.5)) and np.isnan(second["advantage_s6"])
    assert first["advantage_s4d_se"] == pytest.approx(np.std([np.log(5.0), np.log(1.0)], ddof=1) / np.sqrt(2))
    assert first["n_seeds_s4d"] == 2 and first["note"] == "" and "s6 did not run" in second["note"]
    no_reference = alignment_table(tc, results[results["model"].isin(["s4d", "s6"])])
    assert no_reference["advantage_s4d"].isna().all() and (no_reference["reference_model"] == "").all()
    assert (no_reference["note"].str.contains("no attention baseline learned")).all()


def test_alignment_counts_only_models_that_learned():
    """A model below its gate is left out: the reference falls back to the other baseline, S4D's advantage is NaN."""
    tc = tc_frame({("vdp", 0.0): 0.9999})
    rmse = {("vdp", 0.0, "s4d"): [1.0, 1.0], ("vdp", 0.0, "s6"): [2.0, 2.0], ("vdp", 0.0, "transformer"): [0.5, 0.5],
            ("vdp", 0.0, "linear_attention"): [4.0, 4.0]}  # fmt: skip
    every = alignment_table(tc, eta_results(rmse)).iloc[0]
    assert every["reference_model"] == "transformer" and every["advantage_s4d"] == pytest.approx(np.log(0.5))
    gated = alignment_table(tc, eta_results(rmse, not_learned={("vdp", 0.0, "transformer")})).iloc[0]
    assert gated["reference_model"] == "linear_attention" and gated["advantage_s4d"] == pytest.approx(np.log(4.0))
    no_s4d = alignment_table(tc, eta_results(rmse, not_learned={("vdp", 0.0, "s4d")})).iloc[0]
    assert np.isnan(no_s4d["advantage_s4d"]) and "s4d did not learn" in no_s4d["note"]
    assert no_s4d["n_seeds_s4d"] == 0 and no_s4d["advantage_s6"] == pytest.approx(np.log(0.25))


def test_continuity_alignment_reads_d_at_tau1():
    tc = tc_frame({})
    rows = []
    for system, d4, d6 in (("vdp", 0.01, 0.08), ("dho", 0.02, 0.04), ("ou", 0.1, 0.1)):
        for seed, jitter in enumerate((0.9, 1.1)):
            for model, d in (("s4d", d4), ("s6", d6)):
                for tau, factor in ((0.25, 0.0), (0.5, 0.5), (1.0, 1.0)):
                    rows.append({"system": system, "model": model, "discretization": "zoh", "seed": seed, "tau": tau,
                                 "d": d * jitter * factor, "order": 1.5, "tau_ref": 0.25})  # fmt: skip
    cont = continuity_alignment(tc, pd.DataFrame(rows))
    assert list(cont.columns) == CONTINUITY_COLUMNS and cont["system"].tolist() == ["vdp", "dho"]  # ou: no TC row
    vdp = cont.iloc[0]
    assert vdp["tc"] == pytest.approx(0.9999) and vdp["d_tau1_s4d"] == pytest.approx(0.01)
    assert vdp["gap"] == pytest.approx(np.log(8.0)) and vdp["order_s6"] == pytest.approx(1.5)


# ---------------------------------------------------------------------------------------------
# Claims C3 and C4
# ---------------------------------------------------------------------------------------------
def c3_verdict(tmp_path, values, config):
    path = tmp_path / "tc.csv"
    tc_frame(values).to_csv(path, index=False)
    return evaluate_claim("C3", {"task_continuity": path}, config)


def test_c3_verdicts(tmp_path, quick_config):
    ordered = {("vdp", 0.0): 0.9999, ("vdp", 0.5): 0.998, ("vdp", 1.0): 0.94,
               ("dho", 0.0): 0.99999, ("dho", 0.5): 0.987, ("dho", 1.0): 0.93}  # fmt: skip
    rec = c3_verdict(tmp_path, ordered, quick_config)
    assert rec["verdict"] == "supported", rec["explanation"]
    assert rec["numbers"]["separation_min"] == pytest.approx(0.0599) and rec["numbers"]["smallest_drop"] == pytest.approx(0.0019)
    assert rec["details"]["eta_family"]["vdp"]["smallest_drop_in_stderr"] == pytest.approx(0.0019 / np.hypot(1e-4, 1e-4), rel=1e-3)

    swapped = {**ordered, ("dho", 0.5): 0.99999, ("dho", 0.0): 0.987}
    assert c3_verdict(tmp_path, swapped, quick_config)["numbers"]["part_a_ordering"] == "not supported"
    strict = {**quick_config, "claims": {**quick_config["claims"], "tc_separation_min": 0.06}}
    rec = c3_verdict(tmp_path, ordered, strict)
    assert rec["verdict"] == "not supported" and rec["numbers"]["part_b_separation"] == "not supported"
    no_symbolic_end = {k: v for k, v in ordered.items() if k[1] != 1.0}
    rec = c3_verdict(tmp_path, no_symbolic_end, quick_config)
    assert rec["verdict"] == "inconclusive" and rec["numbers"]["part_b_separation"] == "inconclusive"


def c4_verdict(tmp_path, tc, advantage, config, seeds=3, seed_noise=0.01, learned=None):
    """C4 on a constructed alignment: dataset i has TC tc[i] and per-seed advantages advantage[i] ± seed_noise."""
    from contlaws.experiments.alignment import ALIGNMENT_COLUMNS, SEED_ADVANTAGE_COLUMNS

    n = len(tc)
    learned = np.ones(n, dtype=bool) if learned is None else np.asarray(learned)
    offsets = seed_noise * (np.arange(seeds) - (seeds - 1) / 2)
    rows, seed_rows = [], []
    for i in range(n):
        eta = i / max(n - 1, 1)
        per_seed = advantage[i] + offsets if learned[i] else np.array([])
        se = per_seed.std(ddof=1) / np.sqrt(seeds) if len(per_seed) > 1 else np.nan
        rows.append({"system": "vdp", "eta": eta, "tc": tc[i], "tc_stderr": 1e-4, "rmse_s4d": 1.0, "rmse_s6": 1.0,
                     "reference_model": "transformer", "rmse_reference": 1.0,
                     "advantage_s4d": per_seed.mean() if len(per_seed) else np.nan, "advantage_s4d_se": se,
                     "n_seeds_s4d": len(per_seed), "advantage_s6": -advantage[i], "advantage_s6_se": se,
                     "n_seeds_s6": seeds, "note": "" if learned[i] else "s4d did not learn"})  # fmt: skip
        seed_rows += [{"system": "vdp", "eta": eta, "tc": tc[i], "model": "s4d", "reference_model": "transformer",
                       "seed": k, "advantage": a} for k, a in enumerate(per_seed)]  # fmt: skip
    paths = {"alignment": tmp_path / "alignment.csv", "advantages_by_seed": tmp_path / "seeds.csv"}
    pd.DataFrame(rows, columns=ALIGNMENT_COLUMNS).to_csv(paths["alignment"], index=False)
    pd.DataFrame(seed_rows, columns=SEED_ADVANTAGE_COLUMNS).to_csv(paths["advantages_by_seed"], index=False)
    return evaluate_claim("C4", paths, with_c4_grid_of(config, paths))


def test_c4_positive_control_supported(tmp_path, quick_config):
    tc = np.linspace(0.5, 0.999, 20)
    rec = c4_verdict(tmp_path, tc, np.linspace(-0.2, 0.3, 20), quick_config)  # aligned, 3 seeds each
    assert rec["verdict"] == "supported", rec["explanation"]
    assert rec["numbers"]["rho"] == 1.0 and rec["numbers"]["rho_bootstrap_low"] > 0.9
    assert rec["numbers"]["rho_s6_for_contrast"] == -1.0 and rec["numbers"]["min_paired_seeds"] == 3
    assert rec["thresholds"] == {"rank_correlation_min": 0.3, "rank_correlation_alpha": 0.05, "paired_min_seeds": 3,
                                 "bootstrap_samples": quick_config["claims"]["bootstrap_samples"]}  # fmt: skip


def test_c4_negative_controls(tmp_path, quick_config):
    tc = np.linspace(0.5, 0.999, 20)
    advantage = np.linspace(-0.2, 0.3, 20)
    shuffled_tc = np.random.default_rng(0).permutation(tc)  # the TC column shuffled: no alignment left
    rec = c4_verdict(tmp_path, shuffled_tc, advantage, quick_config)
    assert rec["verdict"] != "supported", rec["explanation"]
    assert abs(rec["numbers"]["rho"]) < 0.5 and rec["numbers"]["rho_bootstrap_low"] < 0
    rec = c4_verdict(tmp_path, tc, -advantage, quick_config)  # anti-aligned
    assert rec["verdict"] == "not supported" and rec["numbers"]["rho_bootstrap_high"] < 0.3
    # aligned means but seed noise larger than the trend: the bootstrap interval keeps it open
    rec = c4_verdict(tmp_path, tc, advantage, quick_config, seed_noise=2.0)
    assert rec["verdict"] == "inconclusive" and rec["numbers"]["rho"] == 1.0, rec["explanation"]
    # the authors' mean-pool readout: the Transformer reference is permutation-invariant
    authors = {**quick_config, "eta_performance": {**quick_config["eta_performance"], "readout": "mean_pool"}}
    rec = c4_verdict(tmp_path, tc, advantage, authors)
    assert rec["verdict"] == "inconclusive" and "order-blind" in rec["explanation"]
    # one seed per run: nothing counts
    rec = c4_verdict(tmp_path, tc, advantage, quick_config, seeds=1)
    assert rec["verdict"] == "inconclusive" and "only n = 0" in rec["explanation"]
    # S4D below its gate on all but three datasets: too few left
    rec = c4_verdict(tmp_path, tc, advantage, quick_config, learned=np.arange(20) < 3)
    assert rec["verdict"] == "inconclusive" and rec["numbers"]["n_excluded"] == 17
    assert rec["details"]["excluded"]["vdp/eta=1"] == "0 paired seed(s) where S4D and the reference learned, 3 needed; s4d did not learn"


def test_c4_small_n_needs_significance(tmp_path, quick_config):
    tc = np.linspace(0.9, 0.999, 6)
    weak = np.array([3, 1, 2, 5, 6, 4], dtype=float)  # rho = 0.657: right sign, not significant at n = 6
    rec = c4_verdict(tmp_path, tc, weak, quick_config)
    assert rec["numbers"]["rho"] == pytest.approx(1 - 72 / 210, abs=1e-4) and rec["verdict"] == "inconclusive"
    assert rec["numbers"]["rho_needed_for_significance"] == pytest.approx(0.8286, abs=1e-3)


def test_c3_and_c4_non_finite_values_are_inconclusive_naming_the_rows(tmp_path, quick_config):
    """A NaN TC was dropped from C3's ordering test and listed by C4 as "not enough paired seeds"."""
    ordered = {("vdp", 0.0): 0.9999, ("vdp", 0.5): np.nan, ("vdp", 1.0): 0.94,
               ("dho", 0.0): 0.99999, ("dho", 0.5): 0.987, ("dho", 1.0): 0.93}  # fmt: skip
    rec = c3_verdict(tmp_path, ordered, quick_config)
    assert rec["verdict"] == "inconclusive"
    assert (f"{tmp_path / 'tc.csv'} (input 'task_continuity'): tc is NaN, inf or not a number on line 3 "
            "(family=forecasting, dataset=forecasting/vdp_eta0.5, system=vdp, eta=0.5") in rec["explanation"]  # fmt: skip
    rec = c3_verdict(tmp_path, {**ordered, ("vdp", 0.5): np.inf}, quick_config)
    assert rec["verdict"] == "inconclusive" and "tc is NaN, inf or not a number on line 3 " in rec["explanation"]

    tc = np.linspace(0.5, 0.999, 20)
    tc[4] = np.nan
    rec = c4_verdict(tmp_path, tc, np.linspace(-0.2, 0.3, 20), quick_config)
    assert rec["verdict"] == "inconclusive" and rec["numbers"] == {"non_finite_inputs": 1}
    assert f"{tmp_path / 'alignment.csv'} (input 'alignment'): tc is NaN, inf or not a number on line 6 " in rec["explanation"]
    advantage = np.linspace(-0.2, 0.3, 20)
    advantage[7] = np.inf
    rec = c4_verdict(tmp_path, np.linspace(0.5, 0.999, 20), advantage, quick_config)
    assert rec["verdict"] == "inconclusive" and "advantage_s4d is NaN, inf or not a number on line 9 " in rec["explanation"]
    assert "(input 'advantages_by_seed'): advantage is NaN, inf or not a number" in rec["explanation"]


# ---------------------------------------------------------------------------------------------
# End to end on generated data: task-continuity CLI records -> table -> C3; figure; rules
# ---------------------------------------------------------------------------------------------
def test_eta_family_records_table_and_c3(tmp_path, quick_config):
    from contlaws.data.forecasting import make_forecasting_split
    from contlaws.io import save_npz, write_json

    cfg = {**quick_config, "forecasting": {**quick_config["forecasting"], "n_train": 24}}
    config = tmp_path / "config.json"
    write_json(config, cfg)
    records = []
    for system, eta in itertools.product(("vdp", "dho"), (0.0, 0.5, 1.0)):
        data = tmp_path / f"{system}_eta{eta:g}_train.npz"
        save_npz(data, *make_forecasting_split(cfg, system, eta, "train"))
        records.append(tmp_path / "tc" / "forecasting" / f"{system}_eta{eta:g}.json")
        assert main(["task-continuity", str(data), "--config", str(config), "--out-json", str(records[-1])]) == 0
    csv, tex = tmp_path / "table.csv", tmp_path / "table.tex"
    assert main(["task-continuity-gather", "--config", str(config), "--inputs", *map(str, records),
                 "--out-csv", str(csv), "--out-tex", str(tex)]) == 0  # fmt: skip
    table = pd.read_csv(csv)
    assert len(table) == 6 and table["n_sequences"].eq(24).all() and "tc_s16" in table.columns
    assert "Van der Pol, eta = 0.5" in tex.read_text()
    verdict = tmp_path / "C3.json"
    assert main(["claims", "evaluate", "C3", "--config", str(config), "--inputs", f"task_continuity={csv}",
                 "--out", str(verdict)]) == 0  # fmt: skip
    rec = json.loads(verdict.read_text())
    assert rec["numbers"]["all_strictly_decreasing"] is True and rec["numbers"]["separation_min"] > 0.02


def test_alignment_cli_and_figure(tmp_path, quick_config):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(quick_config))
    tc_csv, results_csv = tmp_path / "tc.csv", tmp_path / "results.csv"
    values = {("vdp", 0.0): 0.9999, ("vdp", 0.5): 0.998, ("vdp", 1.0): 0.94, ("dho", 0.0): 0.99999,
              ("dho", 0.5): 0.987, ("dho", 1.0): 0.93}  # fmt: skip
    tc_frame(values).to_csv(tc_csv, index=False)
    rmse = {}
    for (system, eta), tc in values.items():
        rmse.update({(system, eta, "s4d"): [1.0], (system, eta, "s6"): [1.1], (system, eta, "transformer"): [1.0 + 20 * (1 - tc)]})
    eta_results(rmse).to_csv(results_csv, index=False)
    out = tmp_path / "alignment.csv"
    assert main(["alignment-run", "--config", str(config), "--task-continuity", str(tc_csv), "--eta-results",
                 str(results_csv), "--out", str(out), "--out-seeds", str(tmp_path / "seeds.csv")]) == 0  # fmt: skip
    table = pd.read_csv(out)
    assert spearman(table["tc"], table["advantage_s4d"])["rho"] == pytest.approx(-1.0)  # S4D gains where TC is low here
    assert main(["alignment-run", "--config", str(config), "--task-continuity", str(tc_csv), "--eta-results",
                 str(results_csv), "--out", str(tmp_path / "b.csv"), "--out-seeds", str(tmp_path / "s.csv"),
                 "--model-continuity", str(tc_csv)]) == 2  # fmt: skip
    assert not (tmp_path / "b.csv").exists()

    fig = plot_alignment(table)
    assert len(fig.axes) == 1 and "n = 6" in fig.axes[0].get_title() and fig.axes[0].get_xscale() == "logit"
    stems = [tmp_path / "a" / "alignment", tmp_path / "b" / "alignment"]
    for stem in stems:
        assert main(["alignment-plot", "--alignment", str(out), "--out-figure", str(stem)]) == 0
    assert stems[0].with_suffix(".png").read_bytes() == stems[1].with_suffix(".png").read_bytes()
    assert [logit_tick(v) for v in (0.9, 0.99, 0.999, 0.01)] == ["0.9", "0.99", "0.999", "0.01"]


def test_alignment_target_subgraph(repo_root):
    """`snakemake alignment`: TC of every dataset, E3 and E2 trainings, claims C3 and C4 (dry run)."""
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--forceall", "--quiet", "rules", "--configfile",
                          "config/quick.yaml", "--cores", "1", "alignment"],
                         cwd=repo_root, capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    counts = {line.split()[0]: int(line.split()[-1]) for line in out.stdout.splitlines() if line and line.split()[-1].isdigit()}
    assert {"task_continuity_table", "alignment_tables", "alignment_plot", "claim_c3", "claim_c4", "eta_train",
            "train_refinement"} <= set(counts)  # fmt: skip
    # 2 systems x 3 eta + 2 regression sets + benchmarks (3 built-in quick tasks, digits among them,
    # and the 9 UCR/UEA sets of the aeon wheel, gunpoint and the quick C4(b) tasks among them)
    assert counts["task_continuity_score"] == 2 * 3 + 2 + 3 + 9
    assert counts["bench_fetch_ucr"] == 1
    assert "subsample_train" not in counts and "claim_c5" not in counts


def _label_boxes(fig, ax):
    """Window extents of the visible, non-empty major tick labels of ``ax``'s x-axis, left to right."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = [t for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
    lo, hi = sorted(ax.get_xlim())
    return sorted((t.get_window_extent(renderer) for t, v in zip(labels, ax.get_xticks(), strict=False) if lo <= v <= hi),
                  key=lambda box: box.x0)  # fmt: skip


@pytest.mark.parametrize("width", [2.0, 2.4, 2.8, 3.2, 4.0, 6.0])
def test_logit_tc_axis_labels_never_collide_and_keep_the_smooth_end(width):
    """The evidence run's TC range (0.20 to 0.999985) on axes 2 to 6 inches wide in the project's theme:
    no two tick labels overlap, and 0.5 and the decade next to TC = 1 keep their labels. Control: at
    2.4 inches matplotlib's own logit ticks overlap (the evidence figure's 0.9999 and 0.99999)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogitLocator

    from contlaws.plots.alignment import tc_axis
    from contlaws.plots.style import apply_theme

    apply_theme()
    tc = np.array([0.201335, 0.9, 0.999985])
    fig = plt.figure(figsize=(width + 1, 2.5), dpi=200)
    ax = fig.add_axes((0.5 / (width + 1), 0.2, width / (width + 1), 0.7))
    ax.plot(tc, np.zeros_like(tc), "o")
    tc_axis(ax, tc)
    boxes = _label_boxes(fig, ax)
    assert len(boxes) >= 4
    assert all(left.x1 < right.x0 for left, right in itertools.pairwise(boxes)), [(b.x0, b.x1) for b in boxes]
    shown = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert "0.99999" in shown and "0.5" in shown
    if width == 2.4:
        ax.xaxis.set_major_locator(LogitLocator())  # the control: the locator the figure had before
        default = _label_boxes(fig, ax)
        assert any(left.x1 >= right.x0 for left, right in itertools.pairwise(default))
    plt.close(fig)


@pytest.mark.parametrize("tc", [[0.9985], [0.3, 0.45], [0.6, 0.8], [0.7, 0.97]])
def test_logit_tc_axis_within_about_one_decade_still_has_labels(tc):
    """Where 0.5 and the decades leave fewer than three ticks in view, matplotlib's finer logit ticks
    label the axis (a single system in panel (b), a narrow C4(b) range)."""
    import matplotlib.pyplot as plt

    from contlaws.plots.alignment import tc_axis
    from contlaws.plots.style import apply_theme

    apply_theme()
    fig, ax = plt.subplots(figsize=(3.0, 2.5), dpi=150)
    ax.plot(tc, np.zeros(len(tc)), "o")
    tc_axis(ax, np.array(tc))
    assert len(_label_boxes(fig, ax)) >= 2
    plt.close(fig)
