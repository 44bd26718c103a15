"""Compute budget (contlaws.budget, benchmarks/compute_budget.py): step counts, FLOP formulas, projected
GPU time and cluster requests on a tiny config, checked against arithmetic done by hand here."""

from __future__ import annotations

import importlib.util
import math

import pytest

from contlaws import budget
from contlaws.config import REPO_ROOT, load_config

SCRIPT = REPO_ROOT / "benchmarks" / "compute_budget.py"


def load_script():
    spec = importlib.util.spec_from_file_location("compute_budget", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def tiny():
    """Two systems, one seed, S4D and S6 only, tiny counts: every number below is hand-countable."""
    cfg = load_config(REPO_ROOT / "config" / "quick.yaml")
    cfg["regression"].update(n_train=100, n_val=10, n_test=4, length=8, taus=[1, 0.5])
    cfg["forecasting"].update(n_train=50, n_val=10, n_test=6, length=16, etas=[0, 1])
    cfg["model"].update(d_model=4, n_layers=2, s6={"d_state": 2, "dt_rank": 1})
    cfg["train"].update(epochs=3, batch_size=32, batch_size_per_model={"s6": 16})
    cfg["refinement_trained"].update(systems=["vdp", "dho"], models=["s4d", "s6"], discretizations=["zoh", "bilinear"],
                                     seeds=[0], epochs=2, amplitudes=[1, 4])  # fmt: skip
    cfg["eta_performance"].update(systems=["vdp"], models=["s4d", "transformer"], seeds=[0, 1], epochs_per_model={},
                                  train={"batch_size": 25}, model={})  # fmt: skip
    cfg["eta_performance"].pop("epochs", None)  # E3 inherits train.epochs (3)
    cfg["subsampling"].update(tasks=["gunpoint"], n_stages=2, epochs_per_stage=3, batch_size=8,
                              batch_size_per_task={}, seeds=[0], d_model=4, n_layers=1, d_state=2)  # fmt: skip
    return cfg


def jobs_by_key(cfg):
    return {(j.rule, j.key): j for j in budget.training_jobs(cfg)}


def test_steps_are_samples_over_batch_times_epochs_times_runs(tiny):
    jobs = jobs_by_key(tiny)
    s4d, s6 = jobs[("train_refinement", "s4d")], jobs[("train_refinement", "s6")]
    assert (s4d.runs, s4d.steps_per_run, s4d.steps) == (4, 4 * 2, 32)  # 2 systems x 2 disc; ceil(100/32) = 4
    assert (s6.batch, s6.steps_per_run, s6.steps) == (16, 7 * 2, 56)  # ceil(100/16) = 7
    eta = jobs[("eta_train", "transformer")]
    assert (eta.runs, eta.batch, eta.steps_per_run) == (4, 25, 2 * 3)  # 1 system x 2 etas x 2 seeds; E3 batch 25
    sub = jobs[("subsample_train", "gunpoint/subsampled")]
    assert (sub.n_train, sub.steps_per_run, sub.strides) == (50, 7 * 6, (2, 2, 2, 1, 1, 1))
    assert sub.epoch_lengths() == [75, 75, 75, 150, 150, 150]
    assert jobs[("subsample_train", "gunpoint/baseline")].epoch_lengths() == [150] * 6


def test_flops_per_step_by_hand(tiny):
    jobs = jobs_by_key(tiny)
    s4d = jobs[("train_refinement", "s4d")]  # D = 4, L = 8, 2 layers, d_in = 1, mean pool
    per_token = 2 * (4 * 16 + 15 * 4 * math.log2(16)) + 2 * 1 * 4
    assert budget.flops_per_step(s4d) == pytest.approx(3 * per_token * 32 * 8)
    s6 = jobs[("train_refinement", "s6")]  # R = 1, N = 2
    per_token = 2 * (2 * 4 * (1 + 4) + 2 * 1 * 4 + 9 * 4 * 2) + 2 * 4
    assert budget.flops_per_step(s6) == pytest.approx(3 * per_token * 16 * 8)
    tr = jobs[("eta_train", "transformer")]  # causal: decoder at every position, d_in = d_out = 16
    d_ff = tiny["model"]["transformer"]["d_ff"]
    per_token = 2 * (8 * 16 + 4 * 16 * 4 + 4 * 4 * d_ff) + 2 * 16 * 4 + (2 * 16 + 2 * 4 * 16)
    assert budget.flops_per_step(tr) == pytest.approx(3 * per_token * 25 * 16)


def test_gpu_time_is_work_over_rate_plus_launches(tiny, monkeypatch):
    monkeypatch.setitem(budget.GPU, "peak_flops", 1e9)
    monkeypatch.setitem(budget.GPU, "achieved_fraction", 0.5)
    monkeypatch.setitem(budget.GPU, "launch_seconds", 1e-3)
    monkeypatch.setitem(budget.GPU, "other_launches_per_layer", 10)
    jobs = jobs_by_key(tiny)
    s4d, s6 = jobs[("train_refinement", "s4d")], jobs[("train_refinement", "s6")]
    assert budget.gpu_seconds_per_step(s4d) == pytest.approx(budget.flops_per_step(s4d) / 5e8 + (2 * 10 + 20) * 1e-3)
    # S6: 3 launches per time step and layer, 40 per chunk (L = 8 fits one chunk)
    assert budget.s6_chunk(s6, 16) == 256
    assert budget.gpu_seconds_per_step(s6) == pytest.approx(
        budget.flops_per_step(s6) / 5e8 + (2 * (10 + 3 * 8 + 40) + 20) * 1e-3)
    # a run: per epoch, the training steps and a third of a step per validation batch
    per_epoch = (4 + 1 / 3) * budget.gpu_seconds_per_step(s4d)  # ceil(10 / 32) = 1 validation batch
    assert budget.gpu_seconds_per_run(s4d) == pytest.approx(2 * per_epoch)


def test_requests_scale_with_the_measurements_and_floors(tiny):
    jobs = jobs_by_key(tiny)
    measured = {("train_refinement", "s6"): {"jobs": 1, "seconds": 30.0, "max_rss_mb": 2600.0, "step_seconds": 12.0}}
    s6 = jobs[("train_refinement", "s6")]
    minutes, mem = budget.training_request(s6, measured)
    assert minutes == math.ceil(budget.RUNTIME_STARTUP_MIN + budget.RUNTIME_MARGIN * budget.gpu_seconds_per_run(s6) / 60)
    data_mb = (100 + 10) * 8 * 1 * 4 / 2**20
    assert mem == 500 * math.ceil((2600 + data_mb) / 500) == 3000
    # no measurement: the unmeasured key takes the rule's largest, an unknown rule the defaults
    assert budget.training_request(jobs[("train_refinement", "s4d")], measured)[1] == 3000
    assert budget.other_request("claims", {}) == (budget.RUNTIME_STARTUP_MIN + 2, 1500)


def test_collect_reads_benchmark_files_and_step_times(tmp_path):
    script = load_script()
    bench = tmp_path / "logs" / "r" / "benchmarks"
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    for rule, stem, seconds, rss in [("train_refinement", "train_vdp_s6_zoh_seed0", 30.5, 1600.2),
                                     ("train_refinement", "train_dho_s6_bilinear_seed0", 40.5, 1700.0),
                                     ("eta_train", "train_vdp_eta0.5_linear_attention_seed0", 9.0, 900.0),
                                     ("subsample_train", "train_pathx_subsampled_seed0", 60.0, 5000.0),
                                     ("claims", "claims", 2.0, 150.0)]:  # fmt: skip
        (bench / rule).mkdir(parents=True, exist_ok=True)
        (bench / rule / f"{stem}.tsv").write_text(header + f"{seconds}\t0:00:30\t{rss}\t1\t1\t1\t0\t0\t50\t10\n")
    run = tmp_path / "results" / "r" / "refinement_trained" / "vdp" / "s6_zoh_seed0"
    run.mkdir(parents=True)
    (run / "metrics.csv").write_text("epoch,stride,step_seconds,step_cpu_seconds\n1,1,12.0,8.0\n2,1,13.0,9.0\n3,1,20.0,9.5\n")
    run = tmp_path / "results" / "r" / "subsampling" / "pathx" / "subsampled_seed0"
    run.mkdir(parents=True)
    (run / "metrics.csv").write_text("epoch,stride,step_seconds\n1,4,1.0\n2,2,2.0\n3,1,4.0\n")
    (run.parent / "baseline_seed0").mkdir()
    (run.parent / "baseline_seed0" / "summary.json").write_text('{"status": "ok", "peak_rss_mb": 7000.5}')
    (run / "summary.json").write_text('{"status": "ok", "peak_rss_mb": 4000.0}')  # below the sampled 5000
    (bench / "subsample_train" / "train_pathx_baseline_seed0.tsv").write_text(header + "9\t0:00:09\t900\t1\t1\t1\t0\t0\t50\t8\n")
    rows = {(r["rule"], r["key"]): r for r in script.collect(tmp_path, "r")}
    assert rows[("subsample_train", "pathx/subsampled")]["max_rss_mb"] == 5000.0
    assert rows[("subsample_train", "pathx/baseline")]["max_rss_mb"] == 7000.5  # the exact peak the sampling missed
    assert rows[("train_refinement", "s6")] == {"rule": "train_refinement", "key": "s6", "jobs": 2, "seconds": 35.5,
                                                "cpu_seconds": 10.0, "max_rss_mb": 1700.0, "step_seconds": 13.0,
                                                "step_cpu_seconds": 9.0}  # fmt: skip
    assert rows[("eta_train", "linear_attention")]["step_seconds"] == ""  # no metrics.csv
    assert rows[("subsample_train", "pathx/subsampled")]["step_cpu_seconds"] == ""  # an older metrics.csv
    assert rows[("subsample_train", "pathx/subsampled")]["step_seconds"] == 4.0  # stride 1 epochs only
    assert rows[("claims", "")]["seconds"] == 2.0
    out = tmp_path / "measured.csv"
    script.write_measured(list(rows.values()), out)
    back = budget.read_measured(out)
    assert back[("train_refinement", "s6")]["step_seconds"] == 13.0 and math.isnan(back[("eta_train", "linear_attention")]["step_seconds"])


@pytest.mark.parametrize(
    ("stem", "key"),
    [("train_acsf1_s4d_seed0", "acsf1/s4d"), ("train_listops_synth_linear_attention_seed0", "listops_synth/linear_attention"),
     ("train_stdlib_text_transformer_seed2", "stdlib_text/transformer"),
     ("train_gunpoint_fla_linear_attention_seed1", "gunpoint/fla_linear_attention"), ("train_acsf1_lstm_seed0", "")],
)
def test_c4b_training_keys_split_task_and_model_names_that_both_hold_underscores(stem, key):
    """The report looks C4(b) trainings up by "task/model" (budget.training_jobs); an unknown model gives no key."""
    assert load_script().benchmark_key("alignment_benchmarks_train", stem) == key


def test_report_totals_add_up(tiny):
    script = load_script()
    rows = script.training_rows(tiny, {})
    text = script.report(tiny, {})
    fig4 = [r for r in rows if r["figure"] == "Figure 4 (E2)"]
    assert sum(r["steps"] for r in fig4) == 32 + 56
    assert "| Figure 4 (E2) | 88 |" in text
    total = sum(r["steps"] for r in rows)
    assert f"| **whole study** | **{total:,}** |" in text


def test_report_uses_the_measured_cpu_seconds_per_step(tiny):
    script = load_script()
    measured = {("train_refinement", "s6"): {"jobs": 1.0, "seconds": 30.0, "cpu_seconds": 20.0, "max_rss_mb": 1600.0,
                                             "step_seconds": 13.0, "step_cpu_seconds": 2.0}}  # fmt: skip
    row = next(r for r in script.training_rows(tiny, measured) if r["key"] == "s6")
    assert (row["cpu_s_per_step"], row["wall_s_per_step"], row["peak_mb"]) == (2.0, 13.0, 1600.0)
    assert row["cpu_hours"] == pytest.approx(2.0 * 56 / 3600)


def test_data_jobs_request_memory_for_the_arrays_they_hold(tiny):
    # forecasting train split: 50 x (16 + 1 horizon) x 16 channels float32; regression at tau 0.5: 100 x 16
    assert budget.data_mb("forecasting_dataset", tiny, {"split": "train"}) == pytest.approx(50 * 17 * 16 * 4 / 2**20)
    assert budget.data_mb("regression_dataset", tiny, {"split": "train", "tau": "0.5"}) == pytest.approx(100 * 16 * 4 / 2**20)
    big = {**tiny, "forecasting": {**tiny["forecasting"], "n_train": 20000, "length": 1024}}
    held = 20000 * 1025 * 16 * 4 / 2**20  # 1.25 GB
    measured = {("forecasting_dataset", ""): {"seconds": 2.0, "max_rss_mb": 300.0}}
    assert budget.other_request("forecasting_dataset", measured, 1.0, budget.data_mb("forecasting_dataset", big, {}))[1] \
        == 500 * math.ceil((500 + 300 + 3 * held) / 500)


def test_a_job_of_several_runs_requests_the_start_up_once_and_every_run_after_it(tiny):
    """eta_performance.train_job: cell (no model wildcard): one job trains every model x seed of a set;
    its runtime is the start-up plus each run's projected time, its memory the largest run's."""
    tiny["eta_performance"]["train_job"] = "cell"
    assert budget.training_keys("eta_train", {"system": "vdp", "eta": "0"}, tiny) == ["s4d", "s4d", "transformer",
                                                                                        "transformer"]  # fmt: skip
    assert budget.training_keys("eta_train", {"system": "vdp", "eta": "0", "model": "s4d", "seed": "1"}, tiny) == ["s4d"]
    tiny["alignment_benchmarks"].update(models=["s4d", "s6"], seeds=[0, 1, 2])
    assert budget.training_keys("alignment_benchmarks_train", {"task": "gunpoint"}, tiny) == ["gunpoint/s4d"] * 3 + [
        "gunpoint/s6"] * 3  # fmt: skip
    costs = budget.RuleCosts(tiny, {}, tiny)
    per_run = {m: budget.training_request(costs.jobs[("eta_train", m)], {}) for m in ("s4d", "transformer")}
    minutes, mem = costs.request("eta_train", {"system": "vdp", "eta": "0"})
    assert minutes == budget.RUNTIME_STARTUP_MIN + 2 * sum(m - budget.RUNTIME_STARTUP_MIN for m, _ in per_run.values())
    assert mem == max(m for _, m in per_run.values())
    assert costs.request("eta_train", {"system": "vdp", "eta": "0", "model": "s4d", "seed": "0"}) == per_run["s4d"]


def test_paper_scale_page_matches_the_code_and_the_measurements():
    """docs/paper-scale.md's tables are generated; this fails when code, config or measurements moved
    without the page being regenerated (`python benchmarks/compute_budget.py report --out docs/paper-scale.md`)."""
    assert load_script().main(["report", "--out", str(REPO_ROOT / "docs" / "paper-scale.md"), "--check"]) == 0


def test_check_reports_a_stale_page_and_leaves_it_alone(tmp_path, capsys):
    page = tmp_path / "page.md"
    doc = "prose\n<!-- budget:begin -->\nold table\n<!-- budget:end -->\nmore prose\n"
    page.write_text(doc)
    script = load_script()
    assert script.main(["report", "--no-dag", "--out", str(page), "--check"]) == 1
    err = capsys.readouterr().err
    assert "stale" in err and str(page) in err and "-old table" in err
    assert page.read_text() == doc
    assert script.main(["report", "--no-dag", "--out", str(page)]) == 0
    assert script.main(["report", "--no-dag", "--out", str(page), "--check"]) == 0
    assert page.read_text().startswith("prose\n<!-- budget:begin -->\nConfig: run") and page.read_text().endswith(
        "<!-- budget:end -->\nmore prose\n")
