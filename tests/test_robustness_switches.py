"""The config switches the robustness variants turn (config/robustness.yaml): the SSM optimizer group
(train.ssm_param_group), matched parameter counts (model.param_target), C4 within systems
(claims.c4_combine) and the task-continuity metric the claims read (task_continuity.metric)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import with_c4_grid_of

from contlaws.claims import evaluate_claim
from contlaws.config import load_config
from contlaws.errors import ConfigError, DataFileError
from contlaws.models.registry import build_model, count_parameters, matched_width, optimizer_param_groups
from contlaws.robustness import load_variants, variant_config

REPO = Path(__file__).resolve().parents[1]
EVIDENCE = REPO / "config" / "evidence.yaml"
E3_MODELS = ("s4d", "s6", "transformer", "linear_attention")


@pytest.fixture(scope="module")
def evidence():
    return load_config(EVIDENCE)


@pytest.fixture(scope="module")
def variant_cfgs():
    baseline, variants = load_variants(REPO / "config" / "robustness.yaml")
    return {v.name: variant_config(baseline, v) for v in variants}


# ---------------------------------------------------------------------------------------------
# train.ssm_param_group
# ---------------------------------------------------------------------------------------------
def group_members(model, groups) -> dict[str, set[str]]:
    names = {id(p): n for n, p in model.named_parameters()}
    return {g["name"]: {names[id(p)] for p in g["params"]} for g in groups}


def leaf_names(names: set[str]) -> set[str]:
    """``layers.0.layer.log_dt`` -> ``log_dt``; ``layers.1.dt_proj.bias`` -> ``dt_proj.bias``."""
    return {n.split(".", 2)[-1].removeprefix("layer.") for n in names}


@pytest.mark.parametrize("name, expected", [
    ("s4d", {"log_dt", "log_A_real", "A_imag", "C"}),
    ("s6", {"log_A_real", "dt_proj.weight", "dt_proj.bias"}),
])  # fmt: skip
def test_ssm_group_holds_exactly_the_state_space_parameters(evidence, name, expected):
    model = build_model(name, d_input=1, d_output=1, model_cfg=evidence["model"])
    groups = optimizer_param_groups(model, 1e-2, 0.01, evidence["model"], ssm_group={"lr": 1e-3, "weight_decay": 0})
    members = group_members(model, groups)
    assert leaf_names(members["ssm"]) == expected
    n_layers = evidence["model"]["n_layers"]
    assert len(members["ssm"]) == len(expected) * n_layers  # every layer's, nothing else
    ssm = next(g for g in groups if g["name"] == "ssm")
    assert (ssm["lr"], ssm["weight_decay"]) == (1e-3, 0.0)
    default = next(g for g in groups if g["name"] == "default")
    assert (default["lr"], default["weight_decay"]) == (1e-2, 0.01)
    everything = set().union(*members.values())
    assert everything == {n for n, p in model.named_parameters() if p.requires_grad}  # each parameter once
    assert sum(len(m) for m in members.values()) == len(everything)
    assert not any("x_proj" in n or n.endswith(".D") for n in members["ssm"])  # input-dependent B, C and D stay


def test_without_the_key_the_per_layer_groups_are_unchanged(evidence):
    model = build_model("s4d", d_input=1, d_output=1, model_cfg=evidence["model"])
    members = group_members(model, optimizer_param_groups(model, 1e-2, 0.01, evidence["model"]))
    assert "ssm" not in members
    assert leaf_names(members["s4d_ssm"]) == {"log_dt", "log_A_real"} and leaf_names(members["s4d_a_imag"]) == {"A_imag"}
    assert "C" in leaf_names(members["default"])


def test_the_variant_reaches_the_optimizer_of_e2_and_e3_trainings(evidence, variant_cfgs):
    """The key is read in one place (settings_from_config): E2/E3 trainings carry it; E5 keeps the
    authors' SSM settings (log_dt frozen, SSM lr 4e-5) of its own section."""
    from contlaws.experiments.subsampling import train_settings
    from contlaws.train import build_optimizer
    from contlaws.train_settings import settings_from_config

    cfg = variant_cfgs["ssm_lr_convention"]
    settings = settings_from_config(cfg, "s6", "eta_performance")
    assert settings.ssm_param_group == {"lr": 1e-3, "weight_decay": 0}
    assert train_settings(cfg, "subsampled", 0, task="gunpoint").ssm_param_group is None
    model = build_model("s6", d_input=16, d_output=16, model_cfg=cfg["model"], causal=True)
    optimizer, _ = build_optimizer(model, settings, 64, None)
    by_name = {g["name"]: g for g in optimizer.param_groups}
    assert (by_name["ssm"]["lr"], by_name["ssm"]["weight_decay"]) == (1e-3, 0.0)
    assert by_name["default"]["lr"] == cfg["train"]["lr"]
    baseline = settings_from_config(evidence, "s6", "eta_performance")
    assert baseline.ssm_param_group is None and "ssm_param_group" not in baseline.as_record()  # old checkpoints resume


def test_ssm_group_values_are_validated():
    with pytest.raises(ConfigError, match="train.ssm_param_group"):
        load_config(EVIDENCE, overrides={"train": {"ssm_param_group": {"lr": 1e-3}}})  # weight_decay missing
    with pytest.raises(ConfigError, match="train.ssm_param_group"):
        load_config(EVIDENCE, overrides={"train": {"ssm_param_group": {"lr": -1, "weight_decay": 0}}})


# ---------------------------------------------------------------------------------------------
# model.param_target
# ---------------------------------------------------------------------------------------------
def test_matched_width_against_an_analytic_count():
    count = lambda w: 3 * w * w + 5 * w
    assert matched_width(count, count(40)) == 40
    assert matched_width(count, count(40) + 1) == 40
    assert matched_width(count, 4000, step=4) == 36  # 4068 beats 32: 3232 and 40: 5000
    with pytest.raises(ValueError, match="within 10%"):
        matched_width(count, 10 ** 9, max_width=64)
    with pytest.raises(ValueError, match="within 10%"):
        matched_width(lambda w: 1000 * w, 1500, tol=0.1)  # 1000 or 2000: both 33 % off


@pytest.mark.parametrize("d_io, causal", [(16, True), (1, False)])  # E3 forecaster, E2 regressor
def test_matched_params_counts_within_ten_percent(variant_cfgs, d_io, causal):
    cfg = variant_cfgs["matched_params"]
    target = cfg["model"]["param_target"]
    counts = {}
    for name in E3_MODELS:
        model = build_model(name, d_input=d_io, d_output=d_io, model_cfg=cfg["model"], causal=causal)
        counts[name] = count_parameters(model)
        width = model.build_kwargs["model_cfg"]["d_model"]
        if name in ("transformer", "linear_attention"):
            assert width % cfg["model"][name]["n_heads"] == 0
        rebuilt = build_model(**model.build_kwargs)  # a checkpoint rebuilds the same width directly
        assert count_parameters(rebuilt) == counts[name] and rebuilt.build_kwargs["model_cfg"]["param_target"] is None
    assert all(abs(c - target) <= 0.1 * target for c in counts.values()), counts
    assert max(counts.values()) / min(counts.values()) <= 1.1 / 0.9
    # without the key the evidence widths are far apart (the reason for the variant)
    plain = {n: count_parameters(build_model(n, d_input=d_io, d_output=d_io, model_cfg={**cfg["model"], "param_target": None},
                                             causal=causal)) for n in E3_MODELS}  # fmt: skip
    assert max(plain.values()) / min(plain.values()) > 3


def test_an_unreachable_target_names_the_key(evidence):
    cfg = {**copy.deepcopy(evidence["model"]), "param_target": 10}
    with pytest.raises(ConfigError, match="model.param_target.*s4d"):
        build_model("s4d", d_input=1, d_output=1, model_cfg=cfg)


# ---------------------------------------------------------------------------------------------
# claims.c4_combine
# ---------------------------------------------------------------------------------------------
def write_c4_inputs(tmp_path, datasets, seeds=3, noise=0.01):
    """Alignment inputs from {(system, eta): (tc, advantage)}, per-seed advantages ± noise."""
    from contlaws.experiments.alignment import ALIGNMENT_COLUMNS, SEED_ADVANTAGE_COLUMNS

    offsets = noise * (np.arange(seeds) - (seeds - 1) / 2)
    rows, seed_rows = [], []
    for (system, eta), (tc, adv) in datasets.items():
        per_seed = adv + offsets
        rows.append({"system": system, "eta": eta, "tc": tc, "tc_stderr": 1e-4, "rmse_s4d": 1.0, "rmse_s6": 1.0,
                     "reference_model": "transformer", "rmse_reference": 1.0, "advantage_s4d": per_seed.mean(),
                     "advantage_s4d_se": per_seed.std(ddof=1) / np.sqrt(seeds), "n_seeds_s4d": seeds,
                     "advantage_s6": 0.0, "advantage_s6_se": 0.0, "n_seeds_s6": seeds, "note": ""})  # fmt: skip
        seed_rows += [{"system": system, "eta": eta, "tc": tc, "model": "s4d", "reference_model": "transformer",
                       "seed": k, "advantage": a} for k, a in enumerate(per_seed)]  # fmt: skip
    paths = {"alignment": tmp_path / "alignment.csv", "advantages_by_seed": tmp_path / "seeds.csv"}
    pd.DataFrame(rows, columns=ALIGNMENT_COLUMNS).to_csv(paths["alignment"], index=False)
    pd.DataFrame(seed_rows, columns=SEED_ADVANTAGE_COLUMNS).to_csv(paths["advantages_by_seed"], index=False)
    return paths


def with_combine(cfg, rule, n_boot=400):
    return {**cfg, "claims": {**cfg["claims"], "c4_combine": rule, "bootstrap_samples": n_boot}}


def c4_on(tmp_path, datasets, cfg, rule):
    """C4 under combine ``rule`` on the inputs of ``datasets``, the config's E3 grid set to theirs."""
    paths = write_c4_inputs(tmp_path, datasets)
    return evaluate_claim("C4", paths, with_combine(with_c4_grid_of(cfg, paths), rule))


ETAS = (0.0, 0.25, 0.5, 0.75, 1.0)


def test_c4_pooled_and_within_system_disagree_on_a_between_system_confound(tmp_path, evidence):
    """Within each system the advantage FALLS with TC, but the smooth system is ahead overall: pooled rho
    is positive (0.515 by hand: sum d^2 = 80 over n = 10), within-system rho is -1 in both systems."""
    datasets = {("vdp", eta): (0.94 - 0.01 * i, 1.0 + 0.1 * i) for i, eta in enumerate(ETAS)}
    datasets.update({("ou", eta): (0.54 - 0.01 * i, 0.0 + 0.1 * i) for i, eta in enumerate(ETAS)})
    paths = write_c4_inputs(tmp_path, datasets)
    pooled = evaluate_claim("C4", paths, with_combine(with_c4_grid_of(evidence, paths), "pooled"))
    within = evaluate_claim("C4", paths, with_combine(with_c4_grid_of(evidence, paths), "within_system"))
    assert pooled["numbers"]["rho"] == pytest.approx(1 - 6 * 80 / (10 * 99), abs=1e-4)
    assert pooled["verdict"] != "not supported"
    assert within["numbers"]["rho"] == -1.0 and within["details"]["within_system"] == {"ou": -1.0, "vdp": -1.0}
    assert within["verdict"] == "not supported", within["explanation"]
    assert within["numbers"]["rho_bootstrap_high"] < evidence["claims"]["rank_correlation_min"]
    assert within["thresholds"]["c4_combine"] == "within_system" and "c4_combine" not in pooled["thresholds"]


def test_c4_within_system_supports_a_trend_present_in_every_system(tmp_path, evidence):
    datasets = {("vdp", eta): (0.94 - 0.01 * i, 1.0 - 0.1 * i) for i, eta in enumerate(ETAS)}
    datasets.update({("ou", eta): (0.99 - 0.01 * i, 0.0 - 0.1 * i) for i, eta in enumerate(ETAS)})  # level differs
    within = c4_on(tmp_path, datasets, evidence, "within_system")
    assert within["verdict"] == "supported", within["explanation"]
    assert within["numbers"]["rho"] == 1.0 and within["numbers"]["p_one_sided"] < 0.05
    same = c4_on(tmp_path, datasets, evidence, "within_system")
    assert same["numbers"] == within["numbers"]  # seeded bootstrap and permutations: same inputs, same record


def test_c4_within_system_leaves_out_a_system_with_too_few_datasets(tmp_path, evidence):
    datasets = {("vdp", eta): (0.94 - 0.01 * i, 1.0 - 0.1 * i) for i, eta in enumerate(ETAS)}
    datasets.update({("ou", eta): (0.5 + 0.1 * i, 0.3) for i, eta in enumerate(ETAS[:3])})  # 3 < 4 datasets
    within = c4_on(tmp_path, datasets, evidence, "within_system")
    assert set(within["details"]["within_system"]) == {"vdp"} and within["numbers"]["n"] == 5
    assert all("system ou has 3 usable dataset(s)" in why for key, why in within["details"]["excluded"].items()
               if key.startswith("ou/"))  # fmt: skip


# ---------------------------------------------------------------------------------------------
# task_continuity.metric, as the claims read it
# ---------------------------------------------------------------------------------------------
def tc_table(metric: str) -> pd.DataFrame:
    from contlaws.experiments.alignment import TC_COLUMNS

    grid = load_config(EVIDENCE)  # the whole E3 grid of the run (C3 names missing grid points)
    rows = [{"family": "forecasting", "dataset": f"forecasting/{s}_eta{e:g}", "system": s, "eta": e, "tau": np.nan,
             "task": "", "input_kind": "continuous", "metric": metric, "tc": 0.99 - 0.2 * e, "tc_stderr": 1e-4,
             "n_sequences": 100, "n_excluded": 0}
            for s in grid["eta_performance"]["systems"] for e in grid["forecasting"]["etas"]]  # fmt: skip
    return pd.DataFrame(rows, columns=TC_COLUMNS)


def with_tc_table_grid(cfg):
    """A copy of ``cfg`` whose E3 grid is that of :func:`tc_table` (C3 names the grid points a table lacks)."""
    out = copy.deepcopy(cfg)
    out["eta_performance"]["systems"], out["forecasting"]["etas"] = ["vdp", "dho"], [0.0, 0.5, 1.0]
    return out


def test_claims_record_the_tc_metric_and_refuse_a_table_scored_with_another(tmp_path, variant_cfgs, evidence):
    path = tmp_path / "tc.csv"
    first_difference = variant_cfgs["first_difference_tc"]
    tc_table("first_difference").to_csv(path, index=False)
    rec = evaluate_claim("C3", {"task_continuity": path}, with_tc_table_grid(first_difference))
    assert rec["details"]["tc_metric"] == "first_difference" and rec["verdict"] == "supported"
    with pytest.raises(DataFileError, match="metric column holds first_difference.*task_continuity.metric = 'refinement'"):
        evaluate_claim("C3", {"task_continuity": path}, evidence)
    tc_table("refinement").to_csv(path, index=False)
    assert evaluate_claim("C3", {"task_continuity": path}, evidence)["details"]["tc_metric"] == "refinement"
    with pytest.raises(DataFileError, match="metric column holds refinement"):
        evaluate_claim("C3", {"task_continuity": path}, first_difference)


def test_the_metric_switch_changes_the_scores_the_claims_read(variant_cfgs, evidence, tmp_path):
    """TC of the same sequences under each config's metric: the variant changes the number itself."""
    from contlaws.task_continuity import task_continuity

    t = np.linspace(0, 8 * np.pi, 256)
    rng = np.random.default_rng(0)
    x = np.sin(t)[None, :] + 0.3 * rng.standard_normal((64, 256))  # (N, L)
    scores = {}
    for cfg in (evidence, variant_cfgs["first_difference_tc"]):
        tc_cfg = cfg["task_continuity"]
        res = task_continuity(x, metric=tc_cfg["metric"], strides=tc_cfg["strides"], normalize=tc_cfg["normalize"])
        assert res.metric == tc_cfg["metric"]
        scores[tc_cfg["metric"]] = res.score
    assert set(scores) == {"refinement", "first_difference"}
    assert abs(scores["refinement"] - scores["first_difference"]) > 1e-3


def test_stability_cells_read_real_c3_and_c4_records(tmp_path, evidence):
    """The table's key numbers come from the records the claims write (not only hand-made fixtures)."""
    from contlaws.robustness import BASELINE, stability_table

    datasets = {("vdp", eta): (0.94 - 0.01 * i, 1.0 - 0.1 * i) for i, eta in enumerate(ETAS)}
    c4 = c4_on(tmp_path, datasets, evidence, "pooled")
    path = tmp_path / "tc.csv"
    tc_table("refinement").to_csv(path, index=False)
    c3 = evaluate_claim("C3", {"task_continuity": path}, with_tc_table_grid(evidence))
    cell = stability_table({BASELINE: {"C3": c3, "C4": c4}}).set_index("claim")
    assert cell.loc["C4(a)", "verdict"] == c4["verdict"] and cell.loc["C4(a)", "value"] == c4["numbers"]["rho"]
    assert (cell.loc["C4(a)", "low"], cell.loc["C4(a)", "high"]) == (c4["numbers"]["rho_bootstrap_low"],
                                                                     c4["numbers"]["rho_bootstrap_high"])  # fmt: skip
    assert cell.loc["C3", "value"] == pytest.approx(0.2) and cell.loc["C3", "verdict"] == "supported"
    assert cell.loc["C1", "verdict"] == "not run"
