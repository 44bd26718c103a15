"""`contlaws train` with several models and seeds: one process, one folder per run, the bytes of runs alone."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from test_train import CLI_DRIVER, metrics_without_timing, run_cli_in_process, tiny_config, write_splits

from contlaws.commands.common import run_folders
from contlaws.errors import UserError
from contlaws.io import read_json
from contlaws.train import TrainingDiverged, read_checkpoint

MODELS, SEEDS = ("s4d", "s6"), (0, 1)


def many_args(config, train, val, out, models=MODELS, seeds=SEEDS) -> list[str]:
    return ["train", "--config", config, "--model", *models, "--train", train, "--val", val, "--out", str(out),
            "--seed", *map(str, seeds)]  # fmt: skip


def test_runs_in_one_process_give_the_bytes_of_runs_in_their_own_processes(tmp_path, monkeypatch):
    """Seeds and models trained one after another in one process must not see each other's state:
    same weights (best.pt, last.pt) and the same metrics.csv (timing columns aside) as one process per run."""
    config = tiny_config(tmp_path, epochs=3)
    train, val = write_splits(tmp_path)
    shared = tmp_path / "shared"
    assert run_cli_in_process(monkeypatch, many_args(config, train, val, f"{shared}/{{model}}_seed{{seed}}")) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for model in MODELS:
        for seed in SEEDS:
            alone = tmp_path / "alone" / f"{model}_seed{seed}"
            args = many_args(config, train, val, alone, models=[model], seeds=[seed])
            done = subprocess.run([sys.executable, "-c", CLI_DRIVER, *args], env=env, capture_output=True, text=True,
                                  check=False)
            assert done.returncode == 0, done.stderr
            together = shared / f"{model}_seed{seed}"
            for name in ("best.pt", "last.pt"):
                a = read_checkpoint(together / name)["model_state"]
                b = read_checkpoint(alone / name)["model_state"]
                assert a.keys() == b.keys()
                for key in a:
                    assert torch.equal(a[key], b[key]), f"{model} seed {seed} {name} {key}"
            assert metrics_without_timing(together).equals(metrics_without_timing(alone)), f"{model} seed {seed}"
            summary = read_json(together / "summary.json")
            assert summary["model_name"] == model and summary["provenance"]["seed"] == seed
    # different seeds really are different runs (the comparison above could not pass by accident)
    a = read_checkpoint(shared / "s4d_seed0" / "best.pt")["model_state"]
    b = read_checkpoint(shared / "s4d_seed1" / "best.pt")["model_state"]
    assert any(not torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    ("out", "models", "seeds", "message"),
    [
        ("runs/x", ["s4d", "s6"], [0], "must contain {model} and {seed}"),
        ("runs/{model}", ["s4d"], [0, 1], "must contain {model} and {seed}"),
        ("runs/{model}_{seed}_{extra}", ["s4d", "s6"], [0], "only {model} and {seed}"),
        ("runs/{model}_seed{seed}", ["s4d", "s4d"], [0], "repeat a run"),
    ],
)
def test_several_runs_need_one_folder_each(out, models, seeds, message):
    with pytest.raises(UserError, match=message):
        run_folders(out, models, seeds)


def test_run_folders_order_and_the_single_run_form():
    assert run_folders("r/{model}_seed{seed}", ["s6", "s4d"], [2, 0]) == [
        ("s6", 2, run_folders("r/s6_seed2", ["s6"], [2])[0][2]),
        ("s6", 0, run_folders("r/s6_seed0", ["s6"], [0])[0][2]),
        ("s4d", 2, run_folders("r/s4d_seed2", ["s4d"], [2])[0][2]),
        ("s4d", 0, run_folders("r/s4d_seed0", ["s4d"], [0])[0][2]),
    ]
    assert str(run_folders("plain/folder", ["s4d"], [3])[0][2]) == "plain/folder"


def test_a_bad_out_pattern_exits_2_before_any_training(tmp_path, monkeypatch, capsys):
    config = tiny_config(tmp_path, epochs=1)
    train, val = write_splits(tmp_path)
    assert run_cli_in_process(monkeypatch, many_args(config, train, val, tmp_path / "one_folder")) == 2
    assert "must contain {model} and {seed}" in capsys.readouterr().err
    assert not (tmp_path / "one_folder").exists()


def test_a_diverging_run_fails_the_command_after_the_others_have_trained(tmp_path, monkeypatch, capsys):
    import contlaws.train as engine

    real = engine.train_run

    def diverge_for_s6(cfg, model, *args, **kwargs):
        if model == "s6":
            raise TrainingDiverged("training diverged: loss = nan at epoch 1, step 1")
        return real(cfg, model, *args, **kwargs)

    monkeypatch.setattr(engine, "train_run", diverge_for_s6)
    config = tiny_config(tmp_path, epochs=1)
    train, val = write_splits(tmp_path)
    pattern = f"{tmp_path}/runs/{{model}}_seed{{seed}}"
    assert run_cli_in_process(monkeypatch, many_args(config, train, val, pattern, models=["s6", "s4d"], seeds=[0])) == 1
    err = capsys.readouterr().err
    assert "1 of 2 runs diverged" in err and "s6_seed0" in err
    assert (tmp_path / "runs" / "s4d_seed0" / "summary.json").exists()  # trained after the failure
    assert not (tmp_path / "runs" / "s6_seed0" / "summary.json").exists()
