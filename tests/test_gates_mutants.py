"""Learning gates against their trivial references where the tempting shortcut gives another answer:
E2's gate on a table whose pooled row and label rows disagree, E5's majority class when the
training and test splits have different majority classes, and E5's pair of runs where only one
of them learned."""

from __future__ import annotations

import numpy as np
import pandas as pd
from conftest import with_c5_grid_of

from contlaws.claims import evaluate_claim
from contlaws.data.sets import ArrayDataset
from contlaws.experiments import subsampling as ss
from contlaws.experiments.refinement_trained import POOLED, learned_gate


# ---------------------------------------------------------------------------------------------
# E2: the gate reads the pooled row
# ---------------------------------------------------------------------------------------------
def gate_errors(component_ratio: float, pooled_ratio: float) -> pd.DataFrame:
    """errors rows at τ = 1 and ½: two label rows (x, y) then the pooled row, train-mean RMSE 1."""
    rows = []
    for tau in (1.0, 0.5):
        for label, ratio in (("x", component_ratio), ("y", component_ratio), (POOLED, pooled_ratio)):
            rows.append({"tau": tau, "label": label, "rmse": ratio, "mae": ratio, "train_mean_rmse": 1.0,
                         "rmse_ratio": ratio, "n": 10})  # fmt: skip
    return pd.DataFrame(rows)


def test_e2_gate_follows_the_pooled_row_not_a_label_row():
    # Guards against: the gate reading a label component's row at τ = 1 instead of the pooled row.
    assert learned_gate(gate_errors(component_ratio=0.8, pooled_ratio=0.4), 0.5)
    assert not learned_gate(gate_errors(component_ratio=0.4, pooled_ratio=0.8), 0.5)


# ---------------------------------------------------------------------------------------------
# E5: the majority class comes from the training split
# ---------------------------------------------------------------------------------------------
def labelled_split(labels: list[int]) -> ArrayDataset:
    """A classification split of length-3 sequences with the given class labels."""
    y = np.asarray(labels, dtype=np.int64)
    x = np.zeros((len(y), 3, 1), dtype=np.float32)
    return ArrayDataset(x, y, task="classification", input_kind="continuous", d_input=1, d_output=2, meta={})


def test_e5_majority_class_is_taken_from_the_training_split():
    # Guards against: the trivial reference predicting the test split's own majority class.
    train = labelled_split([0, 0, 0, 1, 1])  # majority class 0
    test = labelled_split([1, 1, 1, 0])  # majority class 1; class 0 is a quarter of it
    assert ss.majority_test_accuracy(train, test) == 0.25
    assert ss.majority_test_accuracy(test, train) == 0.4  # the other way round: class 1 on the training split


# ---------------------------------------------------------------------------------------------
# E5: a seed counts only when both of its runs learned
# ---------------------------------------------------------------------------------------------
ACCURACY = [0.2, 0.4, 0.6, 0.7, 0.8, 0.85, 0.88, 0.86]
SECONDS = [1.0] * 8


def seed_runs(learned: dict[int, tuple[bool, bool]]):
    """(curves, runs) of one continuous task; per seed (subsampled learned, baseline learned)."""
    curves, runs = [], []
    for seed, flags in learned.items():
        for mode, ok in zip(("subsampled", "baseline"), flags):
            for i, acc in enumerate(ACCURACY):
                curves.append({"task": "digits", "continuity": "continuous", "mode": mode, "seed": seed,
                               "epoch": i + 1, "stage": 1 + i // 4, "stride": 1, "lr": 0.0, "val_accuracy": acc,
                               "epoch_seconds": SECONDS[i], "cumulative_seconds": float(sum(SECONDS[: i + 1]))})  # fmt: skip
            runs.append({"task": "digits", "continuity": "continuous", "mode": mode, "seed": seed,
                         "test_accuracy": 0.9 if ok else 0.5, "test_accuracy_best_val": 0.9, "epochs": 8,
                         "n_val": 200, "val_chance_accuracy": 0.5, "task_continuity": 0.99,
                         "majority_accuracy": 0.5, "n_test": 200, "learned": ok, "total_seconds": 8.0})  # fmt: skip
    return pd.DataFrame(curves), pd.DataFrame(runs)


def test_e5_seed_where_only_the_subsampled_run_learned_does_not_count(tmp_path, quick_config):
    # Guards against: a seed counted as learned when either run (not both) passed its gate.
    curves, runs = seed_runs({0: (True, True), 1: (True, True), 2: (True, False)})
    table = ss.speed_table(curves, runs)
    assert list(table["learned"]) == [True, True, False]
    assert bool(table.iloc[2]["learned_subsampled"]) and not bool(table.iloc[2]["learned_baseline"])
    paths = {"table": tmp_path / "table.csv", "curves": tmp_path / "curves.csv"}
    table.to_csv(paths["table"], index=False)
    curves.to_csv(paths["curves"], index=False)
    rec = evaluate_claim("C5", paths, with_c5_grid_of(quick_config, paths))
    assert rec["details"]["tasks"]["digits"]["seeds_learned"] == 2
    assert rec["verdict"] == "inconclusive"
    assert "only 2 of 3 seeds learned" in rec["details"]["tasks"]["digits"]["reason"]
