"""Robustness variants (config/robustness.yaml): variant loading, the stability table and the
specification curve; the variant-specific switches (SSM optimizer group, matched parameter counts,
C4 within-system combine, the TC metric) are tested in tests/test_robustness_switches.py."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from contlaws.config import deep_merge, load_config, read_config_file
from contlaws.errors import ConfigError
from contlaws.robustness import (
    BASELINE,
    NOT_RUN,
    Variant,
    changed_keys,
    check_variant,
    gather_runs,
    load_variants,
    mark_complete,
    spec_curve,
    stability_summary,
    stability_table,
    variant_config,
    write_overlays,
    write_stability,
)

REPO = Path(__file__).resolve().parents[1]
VARIANTS = REPO / "config" / "robustness.yaml"
EVIDENCE = REPO / "config" / "evidence.yaml"
EXPECTED_VARIANTS = ["fresh_seeds", "ssm_lr_convention", "larger_models", "matched_params", "unequal_budgets_22895f5",
                     "double_budget", "c4_within_system", "first_difference_tc", "e5_longer_authors_strides",
                     "e3_best_trivial_gate"]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Variants
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def variants():
    baseline, found = load_variants(VARIANTS)
    return baseline, found


def test_the_ten_preregistered_variants_are_listed_in_order(variants):
    baseline, found = variants
    assert [v.name for v in found] == EXPECTED_VARIANTS
    assert baseline.resolve() == EVIDENCE.resolve()
    assert all(v.reason.strip() and v.run_name == f"robustness_{v.name}" for v in found)
    header = VARIANTS.read_text().splitlines()[:8]
    assert any("before any" in line for line in header) and any("none is selected" in line for line in header)


@pytest.mark.parametrize("name", EXPECTED_VARIANTS)
def test_each_variant_loads_and_differs_from_evidence_in_exactly_its_declared_keys(variants, name):
    baseline, found = variants
    variant = next(v for v in found if v.name == name)
    cfg = variant_config(baseline, variant)  # the project's loader: paper <- evidence <- overlay, validated
    assert cfg["run_name"] == f"robustness_{name}"
    changed = changed_keys(baseline, variant)
    assert changed, f"{name} changes nothing"
    assert check_variant(baseline, variant) == []
    for key in changed:
        assert any(key == p or key.startswith(p + ".") for p in variant.changes), key


def test_variant_values_are_the_registered_ones(variants):
    baseline, found = variants
    cfg = {v.name: variant_config(baseline, v) for v in found}
    evidence = load_config(EVIDENCE)
    assert cfg["ssm_lr_convention"]["train"]["ssm_param_group"] == {"lr": 1e-3, "weight_decay": 0}
    assert cfg["c4_within_system"]["claims"]["c4_combine"] == "within_system"
    assert cfg["first_difference_tc"]["task_continuity"]["metric"] == "first_difference"
    assert cfg["e3_best_trivial_gate"]["gates"]["e3_reference"] == "best_trivial"
    fresh = cfg["fresh_seeds"]
    assert fresh["seed"] != evidence["seed"]
    for section in ("refinement_trained", "eta_performance", "subsampling"):
        assert not set(fresh[section]["seeds"]) & set(evidence[section]["seeds"]), section
        assert len(fresh[section]["seeds"]) == len(evidence[section]["seeds"])
    larger = cfg["larger_models"]
    assert 64 <= larger["model"]["d_model"] <= 128 and larger["model"]["n_layers"] == 4
    unequal = cfg["unequal_budgets_22895f5"]["eta_performance"]
    assert unequal["allow_unequal_budgets"] is True
    assert unequal["epochs_per_model"] == {"s4d": 8, "s6": 8, "transformer": 24, "linear_attention": 48}
    e5 = cfg["e5_longer_authors_strides"]["subsampling"]
    from contlaws.experiments.subsampling import stage_strides

    assert stage_strides(e5["n_stages"]) == [4, 2, 1]
    assert e5["epochs_per_stage"] > evidence["subsampling"]["epochs_per_stage"]


def e3_epochs(cfg, model):
    exp = cfg["eta_performance"]
    return exp["epochs_per_model"].get(model, exp.get("epochs", cfg["train"]["epochs"]))


def test_double_budget_doubles_every_training_budget_of_the_evidence_run(variants):
    baseline, found = variants
    doubled = variant_config(baseline, next(v for v in found if v.name == "double_budget"))
    evidence = load_config(EVIDENCE)
    assert doubled["refinement_trained"]["epochs"] == 2 * evidence["refinement_trained"]["epochs"]
    assert doubled["subsampling"]["epochs_per_stage"] == 2 * evidence["subsampling"]["epochs_per_stage"]
    for model in evidence["eta_performance"]["models"]:
        assert e3_epochs(doubled, model) == 2 * e3_epochs(evidence, model), model


def test_a_stray_or_idle_key_is_reported_by_name():
    stray = Variant("bad", "test", ("train.lr",), {"train": {"lr": 3e-3, "epochs": 99}})
    assert check_variant(EVIDENCE, stray) == ["variant bad: key 'train.epochs' differs from the baseline but is not in its changes"]
    idle = Variant("idle", "test", ("train.lr", "claims.c4_combine"), {"train": {"lr": 3e-3}})
    assert check_variant(EVIDENCE, idle) == ["variant idle: declared change 'claims.c4_combine' is the same as in the baseline"]


def test_variants_file_errors_name_the_variant_and_write_nothing(tmp_path):
    bad = tmp_path / "robustness.yaml"
    bad.write_text(f"baseline: {EVIDENCE}\nvariants:\n  v1:\n    reason: r\n    changes: [train.lr]\n"
                   "    overlay: {train: {lr: 3.0e-3, epochs: 99}}\n")  # fmt: skip
    with pytest.raises(ConfigError, match="variant v1: key 'train.epochs'"):
        write_overlays(bad, tmp_path / "overlays")
    assert not (tmp_path / "overlays").exists()
    bad.write_text(f"baseline: {EVIDENCE}\nvariants:\n  v2:\n    reason: r\n    overlay: {{}}\n")
    with pytest.raises(ConfigError, match="variants.v2: needs exactly the keys reason, changes, overlay"):
        load_variants(bad)
    bad.write_text(f"baseline: {EVIDENCE}\nvariants:\n  v3:\n    reason: r\n    changes: [model.d_model]\n"
                   "    overlay: {model: {d_model: -4}}\n")  # fmt: skip
    with pytest.raises(ConfigError, match="model.d_model"):
        write_overlays(bad, tmp_path / "overlays")


def test_overlay_files_merge_in_order_as_snakemake_merges_several_configfiles(variants, tmp_path):
    """Snakemake applies configfile: config/config.yaml, then each --configfile in order with
    snakemake.utils.update_config (recursive); the project's loader must give the same config."""
    from snakemake.utils import update_config

    baseline, found = variants
    written = {v.name: p for v, p in write_overlays(VARIANTS, tmp_path)}
    assert sorted(written) == sorted(EXPECTED_VARIANTS)
    for variant in found:
        overlay = yaml.safe_load(written[variant.name].read_text())
        snake = read_config_file(REPO / "config" / "config.yaml")
        update_config(snake, read_config_file(baseline))
        update_config(snake, overlay)
        ours = deep_merge(deep_merge(read_config_file(REPO / "src/contlaws/paper.yaml"), read_config_file(baseline)), overlay)
        assert snake == ours, variant.name
        assert load_config(baseline, overrides=overlay) == variant_config(baseline, variant)


# ---------------------------------------------------------------------------------------------
# Stability table (pure function of verdict records) with fixtures
# ---------------------------------------------------------------------------------------------
def rec_c1(verdict="supported", order=0.77):
    return {"claim": "C1", "verdict": verdict, "numbers": {"e2_s4d_order_min": order, "part_a_trained": verdict}}


def rec_c2(parts=("supported", "inconclusive", "inconclusive"), mean=0.2, se=0.02):
    verdict = "not supported" if "not supported" in parts else ("inconclusive" if "inconclusive" in parts else "supported")
    return {"claim": "C2", "verdict": verdict, "thresholds": {"paired_se": 2.0},
            "numbers": {"e1_s6_amplitude_ratio_median": 4.1, "e1_s6_amplitude_ratio_range": "0.68-308",
                        "e2_s6_amplitude_exponent_min": 0.37, "part_a_numerical": parts[0],
                        "part_b_amplitude": parts[1], "part_c_degradation": parts[2]},
            "details": {"e2_relative_rmse_increase": {"vdp/zoh": {"mean": 13.8, "se": 7.6}, "ou/zoh": {"mean": mean, "se": se}}}}


def rec_c3(verdict="supported"):
    return {"claim": "C3", "verdict": verdict, "numbers": {"separation_min": 0.094}}


def rec_c4(verdict="not supported", rho=-0.75, low=-0.85, high=-0.48):
    return {"claim": "C4", "verdict": verdict, "numbers": {"rho": rho, "rho_bootstrap_low": low, "rho_bootstrap_high": high}}


def rec_c5(verdict="not supported"):
    return {"claim": "C5", "verdict": verdict, "thresholds": {"paired_se": 2.0},
            "details": {"tasks": {
                "gunpoint": {"continuity": "continuous", "verdict": "inconclusive", "test_accuracy_difference_mean": -0.044,
                             "test_accuracy_difference_se": 0.031},
                "osuleaf": {"continuity": "continuous", "verdict": "not supported", "test_accuracy_difference_mean": -0.01,
                            "test_accuracy_difference_se": 0.02},
                "digits": {"continuity": "discrete", "verdict": "inconclusive", "test_accuracy_difference_mean": -0.5,
                           "test_accuracy_difference_se": 0.01}}},
            "timing": {"tasks": {"gunpoint": {"speedups": [1.4, 1.9, 1.6]}, "osuleaf": {"speedups": [None, 1.1, None]}}}}


def rec_c4b(verdict="inconclusive", rho=0.3, low=-0.2, high=0.7):
    return {"claim": "C4b", "verdict": verdict, "numbers": {"rho": rho, "rho_bootstrap_low": low, "rho_bootstrap_high": high}}


def all_records(**changes):
    records = {"C1": rec_c1(), "C2": rec_c2(), "C3": rec_c3(), "C4": rec_c4(), "C4b": rec_c4b(), "C5": rec_c5()}
    records.update(changes)
    return records


@pytest.fixture
def runs():
    partial = all_records()
    del partial["C5"], partial["C4b"]  # a variant whose C5 and C4(b) jobs did not finish
    return {BASELINE: all_records(), "v_same": all_records(), "v_missing": {}, "v_partial": partial,
            "v_mixed": all_records(C4=rec_c4("supported", 0.6, 0.35, 0.8), C2=rec_c2(("supported", "not supported", "supported")))}


def test_stability_table_cells_and_not_run(runs):
    table = stability_table(runs)
    assert list(dict.fromkeys(table["claim"])) == ["C1", "C2(a)", "C2(b)", "C2(c)", "C3", "C4(a)", "C4(b)", "C5"]
    assert list(dict.fromkeys(table["column"])) == [BASELINE, "v_same", "v_missing", "v_partial", "v_mixed"]
    cell = table.set_index(["claim", "column"])
    assert (cell.xs("v_missing", level="column")["verdict"] == NOT_RUN).all()  # shown, never dropped
    assert cell.loc[("C5", "v_partial"), "verdict"] == NOT_RUN and cell.loc[("C4(a)", "v_partial"), "verdict"] == "not supported"
    c4 = cell.loc[("C4(a)", BASELINE)]
    assert (c4["value"], c4["low"], c4["high"]) == (-0.75, -0.85, -0.48)
    assert c4["cell"] == "not supported: rho -0.75 [-0.85, -0.48]"
    assert cell.loc[("C4(a)", "v_mixed"), "verdict"] == "supported"
    assert cell.loc[("C2(b)", "v_mixed"), "verdict"] == "not supported"  # the part's verdict, not the claim's
    c2c = cell.loc[("C2(c)", BASELINE)]  # the least resolved system: vdp (13.8 / 7.6 = 1.8 SE; ou 10 SE)
    assert c2c["value"] == 13.8 and math.isclose(c2c["low"], 13.8 - 2 * 7.6) and math.isclose(c2c["high"], 13.8 + 2 * 7.6)
    c5 = cell.loc[("C5", BASELINE)]  # the continuous task with the smallest accuracy difference; digits is discrete
    assert c5["value"] == -0.044 and math.isclose(c5["low"], -0.044 - 0.062) and "gunpoint" in c5["what"]
    c4b = cell.loc[("C4(b)", BASELINE)]  # C4(b) is its own record, C4b.json
    assert (c4b["verdict"], c4b["value"], c4b["low"], c4b["high"]) == ("inconclusive", 0.3, -0.2, 0.7)
    assert cell.loc[("C4(b)", "v_partial"), "verdict"] == NOT_RUN


def test_stability_summary_counts_variants_not_the_baseline(runs):
    summary = stability_summary(stability_table(runs))
    assert summary["C4(a)"] == "across 4 variants: 1 supported, 2 not supported, 0 inconclusive, 1 not run"
    assert summary["C5"] == "across 4 variants: 0 supported, 2 not supported, 0 inconclusive, 2 not run"
    assert summary["C4(b)"] == "across 4 variants: 0 supported, 0 not supported, 2 inconclusive, 2 not run"


def test_gather_reads_verdict_files_and_writes_every_output(tmp_path):
    variants_file = tmp_path / "robustness.yaml"
    variants_file.write_text(f"baseline: {EVIDENCE}\nvariants:\n"
                             "  ran: {reason: r, changes: [claims.c4_combine], overlay: {claims: {c4_combine: within_system}}}\n"
                             "  never: {reason: r, changes: [seed], overlay: {seed: 5}}\n")  # fmt: skip
    for run, records in (("evidence", all_records()), ("robustness_ran", all_records(C4=rec_c4("inconclusive", 0.1, -0.3, 0.5)))):
        folder = tmp_path / "results" / run / "claims"
        folder.mkdir(parents=True)
        for claim_id, record in records.items():
            (folder / f"{claim_id}.json").write_text(json.dumps(record))
    mark_complete(variants_file, "ran", tmp_path / "results")
    runs, reasons = gather_runs(variants_file, tmp_path / "results")
    assert list(runs) == [BASELINE, "ran", "never"] and runs["never"] == {}
    summary = write_stability(runs, reasons, tmp_path / "out")
    assert summary["C4(a)"] == "across 2 variants: 0 supported, 0 not supported, 1 inconclusive, 1 not run"
    assert summary["C4(b)"] == "across 2 variants: 0 supported, 0 not supported, 1 inconclusive, 1 not run"  # C4b.json read
    csv = pd.read_csv(tmp_path / "out" / "stability.csv")
    assert len(csv) == 8 * 3
    md = (tmp_path / "out" / "stability.md").read_text()
    assert "| claim | baseline | ran | never |" in md and "not run" in md and "across 2 variants" in md
    curve = pd.read_csv(tmp_path / "out" / "spec_curve.csv")
    assert list(curve[curve["claim"] == "C4"]["column"]) == [BASELINE, "ran"]  # sorted by rho: -0.75, 0.1


def test_spec_curve_sorted_per_claim_with_one_point_per_continuous_task(runs):
    curve = spec_curve(runs)
    c4 = curve[curve["claim"] == "C4"]
    assert list(c4["value"]) == sorted(c4["value"]) and list(c4["rank"]) == list(range(len(c4)))
    assert len(c4) == 4  # baseline, v_same, v_partial, v_mixed; v_missing has no record
    c5 = curve[curve["claim"] == "C5"]
    assert set(c5["task"]) == {"gunpoint", "osuleaf"} and len(c5) == 2 * 3  # no discrete task, no missing run


def test_spec_curve_figure_is_deterministic(runs, tmp_path):
    from contlaws.plots.robustness import plot_spec_curve

    csv = tmp_path / "spec_curve.csv"
    spec_curve(runs).to_csv(csv, index=False)
    first = [p.read_bytes() for p in plot_spec_curve(csv, tmp_path / "a" / "spec")]
    second = [p.read_bytes() for p in plot_spec_curve(csv, tmp_path / "b" / "spec")]
    assert first == second and all(len(b) > 1000 for b in first)


def test_c5_cell_and_curve_read_a_real_c5_record(quick_config, tmp_path):
    """A C5 record as the claim writes it (the positive control of tests/test_subsampling.py)."""
    from test_subsampling import BASE, SUB_FAST, c5_verdict, seeded

    curves, runs_table = seeded(SUB_FAST, BASE, [(0.90, 0.90), (0.91, 0.90), (0.90, 0.89)])
    _, record = c5_verdict(curves, runs_table, quick_config, tmp_path)
    task = record["details"]["tasks"]["digits"]
    assert task["continuity"] == "continuous" and record["verdict"] == "supported"
    cell = stability_table({BASELINE: {"C5": record}}).set_index("claim").loc["C5"]
    mean, se = task["test_accuracy_difference_mean"], task["test_accuracy_difference_se"]
    assert cell["verdict"] == "supported" and cell["value"] == mean
    assert cell["low"] == pytest.approx(mean - 2 * se) and cell["high"] == pytest.approx(mean + 2 * se)
    curve = spec_curve({BASELINE: {"C5": record}})
    assert curve[["claim", "task", "verdict"]].values.tolist() == [["C5", "digits", "supported"]]


def test_split_range_reads_the_c2_range_text():
    from contlaws.robustness import split_range

    assert split_range("0.68-308") == (0.68, 308.0)
    assert split_range("1e-05-3") == (1e-05, 3.0)
    assert split_range("n/a") == (None, None)


def test_c1_and_c2_cells_read_real_records(quick_config, tmp_path):
    """C1 and C2 records as the claims write them (the positive controls of tests/test_claims.py)."""
    from test_claims import numerical_errors, orders_table, real_tables, trained_errors, write

    from contlaws.claims import evaluate_claim

    continuity, sweep = real_tables({"s4d": "s4d", "s6": "s6"})
    c1 = evaluate_claim("C1", write(tmp_path, model_continuity=continuity, amplitude_sweep=sweep,
                                    numerical_orders=orders_table()), quick_config)  # fmt: skip
    c2 = evaluate_claim("C2", write(tmp_path, numerical_errors=numerical_errors(40.0, spread=(0.5, 1.0, 3.0)),
                                    errors=trained_errors(), amplitude_sweep=sweep), quick_config)  # fmt: skip
    cell = stability_table({BASELINE: {"C1": c1, "C2": c2}}).set_index("claim")
    assert cell.loc["C1", "verdict"] == "supported" and cell.loc["C1", "value"] == c1["numbers"]["e2_s4d_order_min"]
    assert (cell.loc["C2(a)", "value"], cell.loc["C2(a)", "low"], cell.loc["C2(a)", "high"]) == (
        c2["numbers"]["e1_s6_amplitude_ratio_median"], 20.0, 120.0)
    assert cell.loc["C2(b)", "value"] == c2["numbers"]["e2_s6_amplitude_exponent_min"]
    pairs = c2["details"]["e2_relative_rmse_increase"]
    weakest = min(pairs.values(), key=lambda v: v["mean"] / v["se"])
    assert cell.loc["C2(c)", "value"] == weakest["mean"]
    assert cell.loc["C2(c)", "low"] == pytest.approx(weakest["mean"] - 2 * weakest["se"])
    for part, key in (("C2(a)", "part_a_numerical"), ("C2(b)", "part_b_amplitude"), ("C2(c)", "part_c_degradation")):
        assert cell.loc[part, "verdict"] == c2["numbers"][key]


def seeded_variant(tmp_path):
    """A variants file with one variant whose claims folder holds the baseline's verdict files, as
    `contlaws robustness-seed` leaves it before (or while) the variant's own run."""
    variants_file = tmp_path / "robustness.yaml"
    variants_file.write_text(f"baseline: {EVIDENCE}\nvariants:\n"
                             "  v: {reason: why, changes: [claims.c4_combine], overlay: {claims: {c4_combine: within_system}}}\n")  # fmt: skip
    for run in ("evidence", "robustness_v"):
        folder = tmp_path / "results" / run / "claims"
        folder.mkdir(parents=True)
        for claim_id, record in all_records().items():
            (folder / f"{claim_id}.json").write_text(json.dumps(record))
    return variants_file, tmp_path / "results"


def test_a_seeded_variant_counts_only_once_its_run_has_finished(tmp_path):
    """Seeded verdict files are the baseline's: without a completion record the variant is "not run" in
    every cell (it would otherwise repeat the baseline's verdicts as its own); with one it is read."""
    variants_file, results = seeded_variant(tmp_path)
    runs, reasons = gather_runs(variants_file, results)
    assert runs["v"] == {} and "has not finished" in reasons["v"] and reasons["v"].startswith("why (not run:")
    table = stability_table(runs)
    assert set(table[table["column"] == "v"]["verdict"]) == {NOT_RUN}
    path = mark_complete(variants_file, "v", results)
    assert path == results / "robustness_v" / "robustness_complete.json"
    runs, reasons = gather_runs(variants_file, results)
    assert set(runs["v"]) == set(runs[BASELINE]) and reasons["v"] == "why"


def test_a_completion_record_of_another_overlay_or_of_changed_verdicts_does_not_count(tmp_path):
    variants_file, results = seeded_variant(tmp_path)
    mark_complete(variants_file, "v", results)
    c4 = results / "robustness_v" / "claims" / "C4.json"
    c4.write_text(json.dumps(rec_c4("inconclusive", 0.1, -0.3, 0.5)))  # a rerun rewrote a verdict after the record
    runs, reasons = gather_runs(variants_file, results)
    assert runs["v"] == {} and "verdict files changed" in reasons["v"]
    mark_complete(variants_file, "v", results)
    assert gather_runs(variants_file, results)[0]["v"]["C4"]["verdict"] == "inconclusive"
    variants_file.write_text(variants_file.read_text().replace("within_system", "pooled"))  # the overlay changed
    runs, reasons = gather_runs(variants_file, results)
    assert runs["v"] == {} and "another overlay" in reasons["v"]


@pytest.mark.parametrize("content", [b"[1]", b"{not json", b"\xff\xfe"])
def test_an_unreadable_completion_record_leaves_the_variant_not_run(tmp_path, content):
    variants_file, results = seeded_variant(tmp_path)
    (results / "robustness_v" / "robustness_complete.json").write_bytes(content)
    runs, reasons = gather_runs(variants_file, results)
    assert runs["v"] == {} and "unreadable completion record" in reasons["v"]


def test_marking_a_variant_complete_needs_its_verdicts_and_a_known_name(tmp_path):
    variants_file, results = seeded_variant(tmp_path)
    with pytest.raises(ConfigError, match="no variant named 'w'.*variants: v"):
        mark_complete(variants_file, "w", results)
    for path in (results / "robustness_v" / "claims").glob("C*.json"):
        path.unlink()
    with pytest.raises(ConfigError, match="no verdict files") as err:
        mark_complete(variants_file, "v", results)
    assert "robustness_v/claims" in str(err.value)
    assert not (results / "robustness_v" / "robustness_complete.json").exists()


def test_the_c3_cell_shows_the_part_that_decides():
    """Separation where the ordering holds; where it fails, the weakest per-step drop in SE (the
    first-difference TC variant: vdp drops 1.08 SE from eta 0 to 0.25 while every separation is large)."""
    from contlaws.robustness import cell_c3

    ordered = rec_c3()
    assert (cell_c3(ordered).value, cell_c3(ordered).what) == (0.094, "smallest TC(0)-TC(1)")
    family = {"vdp": {"smallest_drop_in_stderr": 1.08, "strictly_decreasing": False},
              "dho": {"smallest_drop_in_stderr": 9.14, "strictly_decreasing": True}}
    failing = {"claim": "C3", "verdict": "not supported", "details": {"eta_family": family},
               "numbers": {"separation_min": 0.136, "part_a_ordering": "not supported"}}  # fmt: skip
    cell = cell_c3(failing)
    assert (cell.verdict, cell.value, cell.what) == ("not supported", 1.08, "weakest TC drop per eta step (SE)")
    assert cell.text() == "not supported: weakest TC drop per eta step (SE) 1.08"
    passing_order = {**failing, "numbers": {**failing["numbers"], "part_a_ordering": "supported"}}
    assert cell_c3(passing_order).value == 0.136
    undecided = {**failing, "numbers": {**failing["numbers"], "part_a_ordering": "inconclusive"}}
    assert cell_c3(undecided).value == 0.136  # only a failed ordering replaces the separation
    # the failing system has no number (zero noise): the passing systems' drops would mislead, so separation
    no_number = {**failing, "details": {"eta_family": {**family, "vdp": {"smallest_drop_in_stderr": None,
                                                                        "strictly_decreasing": False}}}}  # fmt: skip
    assert cell_c3(no_number).value == 0.136


def test_spec_curve_legend_names_every_verdict_of_both_panels(runs):
    """One legend for the figure: each verdict drawn in either panel (C4's supported points included,
    which a legend on the C5 panel alone left unexplained) and the baseline's ring."""
    import matplotlib.pyplot as plt

    from contlaws.plots import robustness as plots

    captured = {}
    real_save = plots.save_figure

    def keep(fig, stem):
        captured["fig"] = fig
        return real_save(fig, stem)

    curve = spec_curve(runs)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plots, "save_figure", keep)
        csv = Path(__import__("tempfile").mkdtemp()) / "spec_curve.csv"
        curve.to_csv(csv, index=False)
        plots.plot_spec_curve(csv, csv.with_name("spec"))
    fig = captured["fig"]
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert labels == [v for v in plots.VERDICT_COLORS if v in set(curve["verdict"])] + ["baseline (evidence run)"]
    assert all(ax.get_legend() is None for ax in fig.axes)
    plt.close(fig)
