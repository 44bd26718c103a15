"""E5 temporal subsampling: τ reaches the layers, stages and learning rate follow the schedule,
mean pooling handles the tail, the table, Figure 6 and claim C5."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import with_c5_grid_of
from torch.optim.optimizer import register_optimizer_step_pre_hook

from contlaws import commands
from contlaws.claims import evaluate_claim
from contlaws.errors import ConfigError, UserError
from contlaws.experiments import subsampling as ss
from contlaws.io import load_npz, read_json, save_npz
from contlaws.models import S4D
from contlaws.models.wrapper import mean_pool_time

N_TRAIN, N_VAL, N_TEST, LENGTH, BATCH = 24, 8, 8, 10, 8  # L = 10: strides 4 and 2 leave a short tail
TINY = {"d_model": 8, "n_layers": 2, "d_state": 4, "batch_size": BATCH, "n_stages": 3, "epochs_per_stage": 2,
        "warmup_epochs": 1, "lr": 0.01, "weight_decay": 0.03, "seeds": [0]}  # fmt: skip


# ------------------------------------------------------------------------------------------------
# Tiny classification splits and config
# ------------------------------------------------------------------------------------------------
def write_split(path, n: int, seed: int, task: str = "pathfinder_synth") -> None:
    """A 2-class continuous split: label = whether the sequence's second half is brighter."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, LENGTH, 1), dtype=np.float32)
    y = (x[:, LENGTH // 2 :, 0].mean(1) > x[:, : LENGTH // 2, 0].mean(1)).astype(np.int64)
    meta = {"kind": "classification", "task": "classification", "benchmark": task, "input_kind": "continuous",
            "n_classes": 2, "continuity": "continuous"}  # fmt: skip
    save_npz(path, {"x": x, "y": y}, meta)


@pytest.fixture()
def tiny_cfg(quick_config):
    cfg = copy.deepcopy(quick_config)
    cfg["subsampling"].update(TINY)
    return cfg


@pytest.fixture()
def splits(tmp_path):
    paths = {split: tmp_path / f"pathfinder_synth_{split}.npz" for split in ("train", "val", "test")}
    for seed, (split, n) in enumerate((("train", N_TRAIN), ("val", N_VAL), ("test", N_TEST))):
        write_split(paths[split], n, seed)
    return paths


# ------------------------------------------------------------------------------------------------
# Stages, pooling, τ
# ------------------------------------------------------------------------------------------------
def test_stage_plan_coarse_to_fine_and_baseline():
    assert ss.stage_strides(3) == [4, 2, 1]
    assert ss.stage_strides(1) == [1]
    assert ss.stage_plan(3, 27, "subsampled") == [(27, 4), (27, 2), (27, 1)]
    assert ss.stage_plan(3, 27, "baseline") == [(27, 1), (27, 1), (27, 1)]
    with pytest.raises(ValueError):
        ss.stage_plan(2, 3, "coarse")


def test_settings_differ_only_in_strides(tiny_cfg):
    sub, base = (ss.train_settings(tiny_cfg, mode, seed=3) for mode in ss.MODES)
    assert sub.schedule == "cosine_step_restarts" and sub.task == "classification"
    assert sub.epochs == base.epochs == 6 and sub.seed == 3
    assert [e for e, _ in sub.stages] == [e for e, _ in base.stages]
    assert {k: v for k, v in vars(sub).items() if k != "stages"} == {k: v for k, v in vars(base).items() if k != "stages"}


def direct_window_means(x: np.ndarray, stride: int) -> np.ndarray:
    """Reference: mean of x[:, k·s : min((k+1)·s, L)] for every window k, by a loop."""
    length = x.shape[1]
    return np.stack([x[:, k : min(k + stride, length)].mean(axis=1) for k in range(0, length, stride)], axis=1)


@pytest.mark.parametrize("stride", [1, 2, 3, 4, 10, 16])
def test_mean_pool_with_tail_matches_direct_means(stride):
    x = torch.randn(3, LENGTH, 5, dtype=torch.float64)
    got = mean_pool_time(x, stride)  # (B ceil(L/s) D)
    assert got.shape == (3, math.ceil(LENGTH / stride), 5)
    np.testing.assert_allclose(got.numpy(), direct_window_means(x.numpy(), stride), rtol=1e-12, atol=1e-12)
    # the spec's wording: pad with the last value repeated, then average the last window over true samples
    pad = math.ceil(LENGTH / stride) * stride - LENGTH
    padded = torch.cat([x, x[:, -1:].expand(-1, pad, -1)], dim=1).view(3, -1, stride, 5)
    true_counts = torch.tensor([stride] * (padded.shape[1] - 1) + [stride - pad], dtype=x.dtype).view(1, -1, 1)
    mask = (torch.arange(stride).view(1, 1, -1, 1) < true_counts.unsqueeze(-1)).to(x.dtype)
    np.testing.assert_allclose(got.numpy(), ((padded * mask).sum(2) / true_counts).numpy(), rtol=1e-12)


def test_tau_changes_layer_output_as_a_step_scale():
    torch.manual_seed(0)
    layer = S4D(6, d_state=4, a_imag_init="lin", channel_norm=False, dt_min=1e-4, dt_max=1e-1).double()
    u = torch.randn(2, 6, 12, dtype=torch.float64)
    y1, y2 = layer(u, 1.0), layer(u, 2.0)
    assert (y1 - y2).abs().max() > 1e-3  # τ is consumed, not ignored
    # τ = 2 is the same as a layer whose step Δ is twice as large (log_dt + log 2) at τ = 1
    scaled = copy.deepcopy(layer)
    with torch.no_grad():
        scaled.log_dt += math.log(2.0)
    torch.testing.assert_close(layer(u, 2.0), scaled(u, 1.0), rtol=1e-10, atol=1e-12)


def test_model_stride_is_pool_then_layers_at_tau_stride(tiny_cfg, splits):
    from contlaws.data.sets import load_split

    torch.manual_seed(0)
    model = ss.build_classifier(tiny_cfg["subsampling"], load_split(splits["train"])).double().eval()
    x = torch.randn(3, LENGTH, 1, dtype=torch.float64)
    with torch.no_grad():
        for stride in (1, 2, 4):
            h = torch.from_numpy(direct_window_means(model.encoder(x).numpy(), stride))  # (B L/s D)
            for layer, norm in zip(model.layers, model.norms):
                h = h + layer(norm(h), float(stride))  # prenorm blocks, layer at τ = s
            reference = model.decoder(h.mean(dim=1))
            torch.testing.assert_close(model(x, stride=stride), reference, rtol=1e-10, atol=1e-12)


def test_classifier_follows_the_demo_settings(tiny_cfg, splits):
    from contlaws.data.sets import load_split

    model = ss.build_classifier(tiny_cfg["subsampling"], load_split(splits["train"]))
    layers = [m for m in model.modules() if isinstance(m, S4D)]
    assert len(layers) == TINY["n_layers"] and model.prenorm
    for layer in layers:
        assert not layer.log_dt.requires_grad  # Δ frozen
        assert layer.d_state == TINY["d_state"] and not layer.channel_norm
        dt = layer.log_dt.exp()
        assert dt.min() >= ss.DT_MIN and dt.max() <= ss.DT_MAX
        torch.testing.assert_close(layer.continuous_A().real, torch.full_like(layer.A_imag, -0.5))


def test_tasks_must_match_source(tiny_cfg):
    sub = dict(tiny_cfg["subsampling"], tasks=["digits", "pathx"])
    with pytest.raises(ConfigError, match="subsampling.tasks.*pathx"):
        ss.check_tasks(sub)
    ss.check_tasks(dict(sub, tasks=["pathx"], source="lra"))


# ------------------------------------------------------------------------------------------------
# One staged run, watched by spies on every S4D call and every optimizer step
# ------------------------------------------------------------------------------------------------
def expected_lr_factor(step: int, steps_per_epoch: int, epochs_per_stage: int, warmup_steps: int) -> float:
    """Closed form: linear warmup over W steps, then a cosine from 1 to 0 restarted at every stage."""
    stage_steps = steps_per_epoch * epochs_per_stage
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    k = step // stage_steps
    begin, length = (warmup_steps, stage_steps - warmup_steps) if k == 0 else (k * stage_steps, stage_steps)
    return 0.5 * (1 + math.cos(math.pi * (step - begin) / length))


def test_staged_run_tau_strides_and_learning_rate(tiny_cfg, splits, tmp_path):
    events = []  # ("layer", tau, length, training) and ("step", {group: lr})

    def layer_spy(module, args):
        if isinstance(module, S4D):
            u, tau = args
            events.append(("layer", float(tau), u.shape[-1], module.training))

    def step_spy(optimizer, args, kwargs):
        events.append(("step", {g["name"]: g["lr"] for g in optimizer.param_groups}))

    hooks = [torch.nn.modules.module.register_module_forward_pre_hook(layer_spy),
             register_optimizer_step_pre_hook(step_spy)]  # fmt: skip
    try:
        out = tmp_path / "run"
        summary = ss.run(tiny_cfg, "pathfinder_synth", "subsampled", 0, splits["train"], splits["val"], splits["test"], out)
    finally:
        for hook in hooks:
            hook.remove()

    steps_per_epoch, epochs_per_stage, n_layers = N_TRAIN // BATCH, TINY["epochs_per_stage"], TINY["n_layers"]
    warmup_steps = round(TINY["warmup_epochs"] * steps_per_epoch)
    strides = [4, 2, 1]
    step_events = [e for e in events if e[0] == "step"]
    assert len(step_events) == 3 * epochs_per_stage * steps_per_epoch

    # every training call of every layer before optimizer step t runs at τ = stride of t's stage, on
    # the pooled length; validation calls run at the stride of the epoch they close; the test at 1
    step, n_val_calls = 0, {s: 0 for s in strides}
    for event in events:
        if event[0] == "step":
            factor = expected_lr_factor(step, steps_per_epoch, epochs_per_stage, warmup_steps)
            assert event[1]["default"] == pytest.approx(TINY["lr"] * factor, rel=1e-12, abs=1e-15)
            assert event[1]["s4d_ssm"] == pytest.approx(ss.SSM_LR * factor, rel=1e-12, abs=1e-15)
            step += 1
            continue
        _, tau, length, training = event
        if training:
            stride = strides[step // (steps_per_epoch * epochs_per_stage)]
        else:
            stride = strides[(step - 1) // (steps_per_epoch * epochs_per_stage)]  # the epoch just finished
            n_val_calls[stride] += 1
        assert tau == stride and length == math.ceil(LENGTH / stride)
    # validation: one batch per epoch and layer; then the test of the final and the best weights at s = 1
    assert n_val_calls == {4: 2 * n_layers, 2: 2 * n_layers, 1: (2 + 2) * n_layers}

    metrics = pd.read_csv(out / "metrics.csv")
    assert metrics["stage"].tolist() == [1, 1, 2, 2, 3, 3]
    assert metrics["stride"].tolist() == [4, 4, 2, 2, 1, 1]
    first_steps = np.arange(6) * steps_per_epoch
    expected = [TINY["lr"] * expected_lr_factor(t, steps_per_epoch, epochs_per_stage, warmup_steps) for t in first_steps]
    np.testing.assert_allclose(metrics["lr"], expected, rtol=1e-6)
    assert (np.diff(metrics["cumulative_seconds"]) > 0).all()

    saved = read_json(out / "summary.json")
    assert saved["stages"] == [[2, 4], [2, 2], [2, 1]] and saved["mode"] == "subsampled"
    assert saved["test"]["stride"] == 1 and saved["test"]["n"] == N_TEST
    assert saved["test"]["accuracy"] == summary["test"]["accuracy"]
    assert saved["n_trainable"] < saved["n_parameters"]  # log_dt frozen
    val_labels = load_npz(splits["val"])[0]["y"]
    assert saved["n_val"] == N_VAL and saved["val_chance_accuracy"] == max(np.mean(val_labels), 1 - np.mean(val_labels))


def test_reported_test_scores_are_those_of_the_saved_weights(tiny_cfg, splits, tmp_path):
    # test_best_val must be best.pt evaluated on the test split at stride 1, and test the final
    # weights (last.pt); nothing else compared the reported number with the saved checkpoint.
    from contlaws.data.sets import load_split
    from contlaws.train import evaluate, load_model

    out = tmp_path / "run"
    summary = ss.run(tiny_cfg, "pathfinder_synth", "baseline", 0, splits["train"], splits["val"], splits["test"], out)
    n_epochs = len(pd.read_csv(out / "metrics.csv"))
    assert summary["best_epoch"] < n_epochs, "best epoch is the last one: best and final weights coincide"
    test = load_split(splits["test"])
    for key, checkpoint in (("test_best_val", "best.pt"), ("test", "last.pt")):
        model, saved = load_model(out / checkpoint)
        expected = evaluate(model, test, stride=1, eval_max_elements=saved["settings"]["eval_max_elements"])
        reported = read_json(out / "summary.json")[key]
        assert reported["n"] == N_TEST and reported["stride"] == 1
        assert reported["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-12), key
        assert reported["loss"] == pytest.approx(expected["loss"], rel=1e-6), key
    assert summary["test_best_val"]["loss"] != pytest.approx(summary["test"]["loss"], rel=1e-6)


def cli_train(cfg_path, splits, out, mode):
    return commands.main(["subsampling-train", "--config", str(cfg_path), "--task", "pathfinder_synth", "--mode", mode,
                     "--seed", "0", "--train", str(splits["train"]), "--val", str(splits["val"]),
                     "--test", str(splits["test"]), "--out", str(out)])  # fmt: skip


def test_cli_runs_resume_plot_and_claim(tiny_cfg, splits, tmp_path):
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text(json.dumps(tiny_cfg))
    runs = {mode: tmp_path / mode for mode in ss.MODES}
    for mode, out in runs.items():
        assert cli_train(cfg_path, splits, out, mode) == 0
    first = read_json(runs["baseline"] / "summary.json")
    first_metrics = pd.read_csv(runs["baseline"] / "metrics.csv").drop(columns=["epoch_seconds", "cumulative_seconds", "step_seconds", "step_cpu_seconds"])
    # the completion marker gone (a killed job), the run resumes from last.pt and ends the same
    (runs["baseline"] / "summary.json").unlink()
    assert cli_train(cfg_path, splits, runs["baseline"], "baseline") == 0
    again = read_json(runs["baseline"] / "summary.json")
    assert again["test"] == first["test"] and again["best_epoch"] == first["best_epoch"]
    pd.testing.assert_frame_equal(
        pd.read_csv(runs["baseline"] / "metrics.csv").drop(columns=["epoch_seconds", "cumulative_seconds", "step_seconds", "step_cpu_seconds"]), first_metrics
    )

    figs = tmp_path / "figs"
    tc_record = tmp_path / "benchmarks" / "pathfinder_synth.json"  # the task's E4 record labels it
    assert commands.main(["task-continuity", str(splits["train"]), "--config", str(cfg_path), "--strides", "2", "4",
                          "--out-json", str(tc_record)]) == 0  # L = 10: strides below 9
    assert commands.main(["subsampling-gather", "--runs", str(runs["subsampled"]), str(runs["baseline"]),
                          "--task-continuity", str(tc_record),
                          "--out-curves", str(figs / "curves_timing.csv"), "--out-csv", str(figs / "table.csv"),
                          "--out-tex", str(figs / "table.tex")]) == 0  # fmt: skip
    assert sorted(p.name for p in figs.iterdir()) == sorted(
        ["curves_timing.csv", "curves_timing.csv.meta.json", "table.csv", "table.csv.meta.json", "table.tex"])
    assert commands.main(["subsampling-plot", "--curves-csv", str(figs / "curves_timing.csv"), "--speed-table", str(figs / "table.csv"),
                          "--out-figure", str(figs / "figure6")]) == 0  # fmt: skip
    assert (figs / "figure6.pdf").stat().st_size > 0 and (figs / "figure6.png").stat().st_size > 0
    table = pd.read_csv(figs / "table.csv")
    assert len(table) == 1 and table.loc[0, "test_accuracy_baseline"] == pytest.approx(first["test"]["accuracy"])
    assert "\\toprule" in (figs / "table.tex").read_text()
    curves = pd.read_csv(figs / "curves_timing.csv")
    assert len(curves) == 2 * 6 and set(curves["mode"]) == set(ss.MODES)

    record = evaluate_claim("C5", {"table": figs / "table.csv", "curves": figs / "curves_timing.csv"}, tiny_cfg)
    assert record["claim"] == "C5" and record["verdict"] in ("supported", "not supported", "inconclusive")
    assert {"majority_accuracy", "learned", "learned_subsampled", "task_continuity", "n_test"} <= set(table.columns)
    assert 0 < table.loc[0, "majority_accuracy"] < 1 and table.loc[0, "n_test"] == N_TEST
    assert table.loc[0, "task_continuity"] == pytest.approx(read_json(tc_record)["result"]["score"], rel=1e-6)
    # the label follows the task's TC, not the training: another TC re-labels the same runs
    for score, label in ((0.95, "continuous"), (0.05, "discrete")):
        _, runs_table = ss.collect_runs([runs["subsampled"], runs["baseline"]], {"pathfinder_synth": score})
        assert set(runs_table["continuity"]) == {label} and set(runs_table["task_continuity"]) == {score}
    with pytest.raises(UserError, match="no task-continuity record of task 'pathfinder_synth'"):
        ss.collect_runs([runs["baseline"]], {"digits": 0.5})
    # one seed: below claims.paired_min_seeds, so whatever the runs did the claim cannot be decided
    assert record["verdict"] == "inconclusive"


def test_refuses_a_split_of_another_task(tiny_cfg, splits, tmp_path):
    write_split(splits["val"], N_VAL, 1, task="digits")
    with pytest.raises(UserError, match="digits"):
        ss.run(tiny_cfg, "pathfinder_synth", "baseline", 0, splits["train"], splits["val"], splits["test"], tmp_path / "r")
    assert not (tmp_path / "r" / "summary.json").exists()


# ------------------------------------------------------------------------------------------------
# Table and C5 on hand-made curves (three seeds unless said otherwise)
# ------------------------------------------------------------------------------------------------
def hand_curves(sub_acc, base_acc, sub_seconds, base_seconds, task="digits", continuity="continuous", seed=0):
    rows = []
    for mode, accs, seconds in (("subsampled", sub_acc, sub_seconds), ("baseline", base_acc, base_seconds)):
        for i, (acc, sec) in enumerate(zip(accs, seconds)):
            rows.append({"task": task, "continuity": continuity, "mode": mode, "seed": seed, "epoch": i + 1,
                         "stage": 1 + i // 4, "stride": 1, "lr": 0.0, "val_accuracy": acc,
                         "epoch_seconds": sec, "cumulative_seconds": float(np.sum(seconds[: i + 1]))})  # fmt: skip
    return pd.DataFrame(rows)


def hand_runs(curves, test_sub, test_base, majority=0.5, n_test=200, tc=0.99):
    runs = []
    seed = int(curves["seed"].iloc[0])
    for mode, test in (("subsampled", test_sub), ("baseline", test_base)):
        c = curves[curves["mode"] == mode]
        runs.append({"task": c["task"].iloc[0], "continuity": c["continuity"].iloc[0], "mode": mode, "seed": seed,
                     "test_accuracy": test, "test_accuracy_best_val": test, "epochs": len(c), "n_val": 200,
                     "val_chance_accuracy": 0.5, "task_continuity": tc, "majority_accuracy": majority,
                     "n_test": n_test, "learned": ss.learned_gate(test, majority, n_test, 2.0),
                     "total_seconds": c["cumulative_seconds"].iloc[-1]})  # fmt: skip
    return pd.DataFrame(runs)


def seeded(sub_acc, base_acc, tests, sub_seconds=None, base_seconds=None, **kw):
    """Curves and runs of several seeds: ``tests`` = [(test_sub, test_base), ...] one per seed."""
    run_kw = {k: kw.pop(k) for k in ("majority", "n_test", "tc") if k in kw}
    curves, runs = [], []
    for seed, (t_sub, t_base) in enumerate(tests):
        c = hand_curves(sub_acc, base_acc, sub_seconds or SECONDS_SUB, base_seconds or SECONDS_BASE, seed=seed, **kw)
        curves.append(c)
        runs.append(hand_runs(c, t_sub, t_base, **run_kw))
    return pd.concat(curves, ignore_index=True), pd.concat(runs, ignore_index=True)


def c5_verdict(curves, runs, cfg, tmp_path):
    table = ss.speed_table(curves, runs)
    table.to_csv(tmp_path / "table.csv", index=False)
    curves.to_csv(tmp_path / "curves.csv", index=False)
    paths = {"table": tmp_path / "table.csv", "curves": tmp_path / "curves.csv"}
    return table, evaluate_claim("C5", paths, with_c5_grid_of(cfg, paths))


SECONDS_SUB = [1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0]  # cheap coarse stage, then full resolution
SECONDS_BASE = [2.0] * 8
SUB_FAST = [0.3, 0.5, 0.7, 0.8, 0.85, 0.9, 0.9, 0.9]
BASE = [0.2, 0.4, 0.6, 0.7, 0.8, 0.85, 0.88, 0.86]


def test_learned_gate_is_two_binomial_standard_errors_above_majority():
    se = np.sqrt(0.5 * 0.5 / 200)  # 0.0354
    assert not ss.learned_gate(0.5 + 2 * se - 1e-9, 0.5, 200, 2.0)
    assert ss.learned_gate(0.5 + 2 * se + 1e-9, 0.5, 200, 2.0)
    assert ss.learned_gate(0.51, 0.5, 200, 0.0) and not ss.learned_gate(0.5, 0.5, 200, 0.0)


def test_speed_table_and_c5_supported(quick_config, tmp_path):
    """Positive control: three learned seeds, the subsampled run reaches the target sooner and is as accurate."""
    curves, runs = seeded(SUB_FAST, BASE, [(0.90, 0.90), (0.91, 0.90), (0.90, 0.89)])
    table, record = c5_verdict(curves, runs, quick_config, tmp_path)
    row = table.iloc[0]
    assert row["best_val_accuracy_baseline"] == 0.88 and row["epoch_best_baseline"] == 7
    assert row["reached_baseline_best"] == "yes" and row["epoch_reached_subsampled"] == 6
    assert row["time_to_reach_baseline_seconds"] == 14.0 and row["time_to_reach_subsampled_seconds"] == 8.0
    assert row["speedup_to_reach_seconds"] == pytest.approx(14 / 8)
    assert row["speedup_total_seconds"] == pytest.approx(16 / 12)
    assert bool(row["learned"]) and row["majority_accuracy"] == 0.5
    assert record["verdict"] == "supported", record["explanation"]
    assert record["details"]["tasks"]["digits"]["seeds_learned"] == 3
    assert record["timing"]["noise"] == 0.0 and record["timing"]["margin"] == ss.MIN_TIMING_NOISE


def test_c5_subsampled_worse_is_not_supported(quick_config, tmp_path):
    """Negative controls: a subsampled run that is clearly less accurate, or never reaches the target."""
    curves, runs = seeded(SUB_FAST, BASE, [(0.80, 0.90), (0.82, 0.91), (0.81, 0.90)])
    _, record = c5_verdict(curves, runs, quick_config, tmp_path)
    assert record["verdict"] == "not supported"
    assert record["details"]["tasks"]["digits"]["accuracy"] == "worse"
    slow = [0.3, 0.5, 0.7, 0.8, 0.85, 0.86, 0.87, 0.87]  # never reaches the baseline's best 0.88
    curves, runs = seeded(slow, BASE, [(0.90, 0.90)] * 3)
    table, record = c5_verdict(curves, runs, quick_config, tmp_path)
    assert (table["reached_baseline_best"] == "no").all() and record["verdict"] == "not supported"
    assert record["timing"]["tasks"]["digits"]["speed"] == "slower"


def test_c5_differences_within_two_standard_errors_are_inconclusive(quick_config, tmp_path):
    # mean difference -0.0067 (beyond tol 0.01? no) with SE 0.0145: neither worse nor shown to be no worse
    curves, runs = seeded(SUB_FAST, BASE, [(0.87, 0.90), (0.92, 0.90), (0.89, 0.90)])
    _, record = c5_verdict(curves, runs, quick_config, tmp_path)
    assert record["details"]["tasks"]["digits"]["accuracy"] == "unresolved"
    assert record["verdict"] == "inconclusive"


def test_c5_needs_three_learned_seeds(quick_config, tmp_path):
    curves, runs = seeded(SUB_FAST, BASE, [(0.90, 0.90), (0.91, 0.90)])
    _, record = c5_verdict(curves, runs, quick_config, tmp_path)
    assert record["verdict"] == "inconclusive" and "2 of 2 seeds learned" in record["details"]["tasks"]["digits"]["reason"]
    # runs at the majority class did not learn: they never count, whatever their curves say
    curves, runs = seeded(SUB_FAST, BASE, [(0.52, 0.53)] * 3)
    table, record = c5_verdict(curves, runs, quick_config, tmp_path)
    assert not table["learned"].any()
    assert record["verdict"] == "inconclusive" and "only 0 of 3" in record["details"]["tasks"]["digits"]["reason"]


def test_c5_within_timing_noise_is_inconclusive(quick_config, tmp_path):
    # reaches the target one epoch before the baseline, but epoch times jitter by ±25 %
    noisy = [2.0, 2.5, 1.5, 2.0, 2.5, 1.5, 2.0, 2.0]
    curves, runs = seeded([0.2, 0.4, 0.6, 0.7, 0.8, 0.88, 0.88, 0.88], BASE, [(0.9, 0.9)] * 3, noisy, noisy)
    table, record = c5_verdict(curves, runs, quick_config, tmp_path)
    noise = np.median([np.std(s, ddof=1) / np.mean(s) for s in ([2.5, 1.5, 2.0], [2.5, 1.5, 2.0, 2.0])])
    assert record["timing"]["noise"] == pytest.approx(noise, abs=1e-4)
    assert 1 < table.iloc[0]["speedup_to_reach_seconds"] < 1 + 2 * noise
    assert record["verdict"] == "inconclusive"


def test_c5_ignores_tasks_labelled_discrete(quick_config, tmp_path):
    curves, runs = seeded(SUB_FAST, BASE, [(0.9, 0.9)] * 3)
    d_curves, d_runs = seeded([0.1] * 8, [0.2, 0.3, 0.4, 0.5, 0.5, 0.5, 0.5, 0.5], [(0.3, 0.5)] * 3,
                              task="listops_synth", continuity="discrete", majority=0.1, tc=0.4)  # fmt: skip
    _, record = c5_verdict(pd.concat([curves, d_curves], ignore_index=True),
                           pd.concat([runs, d_runs], ignore_index=True), quick_config, tmp_path)  # fmt: skip
    assert record["verdict"] == "supported"
    assert record["details"]["tasks"]["listops_synth"]["verdict"] == "not supported"  # reported, not counted
    assert record["details"]["parts"] == {"digits": "supported"}


@pytest.mark.parametrize("column", ["test_accuracy_difference", "epoch_seconds"])
def test_c5_non_finite_value_is_inconclusive_naming_the_row(quick_config, tmp_path, column):
    """A NaN accuracy difference was skipped by the mean (the other two seeds decided the verdict)."""
    curves, runs = seeded(SUB_FAST, BASE, [(0.90, 0.90), (0.91, 0.90), (0.90, 0.89)])
    table = ss.speed_table(curves, runs)
    frame, name = (table, "table") if column in table else (curves, "curves")
    frame.loc[frame.index[1], column] = np.nan
    table.to_csv(tmp_path / "table.csv", index=False)
    curves.to_csv(tmp_path / "curves.csv", index=False)
    paths = {"table": tmp_path / "table.csv", "curves": tmp_path / "curves.csv"}
    record = evaluate_claim("C5", paths, with_c5_grid_of(quick_config, paths))
    assert record["verdict"] == "inconclusive"
    assert f"{tmp_path / (name + '.csv')} (input '{name}'): {column} is NaN, inf or not a number on line 3 (task=digits" \
        in record["explanation"]


def test_collect_runs_labels_tasks_by_measured_tc():
    assert ss.continuity_label(0.81, 0.8) == "continuous" and ss.continuity_label(0.79, 0.8) == "discrete"
