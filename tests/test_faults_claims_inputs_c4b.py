"""Impossible, contradictory or incomplete inputs of C4(b) (the alignment tables of the real
benchmarks): refused naming file, line and column (exit 2 from `contlaws claims evaluate`, no verdict
written), or "inconclusive" naming the tasks and seeds that are missing; never a verdict computed
from the rest.

Each case damages tables that give "supported" as written (the first test), so a case passes
because the check fired, not because the tables were undecidable anyway.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from test_faults_claims_inputs import refused
from test_faults_claims_inputs_c4_c5 import line_of, verdict_by_cli, write

from contlaws.claims import evaluate_claim
from contlaws.experiments.alignment_benchmarks import ALIGNMENT_COLUMNS, SEED_COLUMNS

TASKS = ("italypowerdemand", "japanesevowels", "basicmotions", "gunpoint", "arrowhead", "osuleaf")
SEEDS = (0, 1, 2)
REFERENCE = "linear_attention"


def c4b_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(alignment, advantages_by_seed) as the gather step writes them: six tasks whose S4D advantage
    rises with TC (ρ = 1), every run past its gate, three paired seeds each, S6 rows beside S4D's."""
    rows, seed_rows = [], []
    for k, task in enumerate(TASKS):
        tc = 0.2 + 0.15 * k
        error_reference = 0.3
        per_seed = {"s4d": 0.2 * k + 0.01 * (np.array(SEEDS) - 1), "s6": -0.1 - 0.01 * np.array(SEEDS)}
        row = {"task": task, "tc": tc, "tc_stderr": 0.002, "reference_model": REFERENCE, "error_reference": error_reference,
               "error_s4d": error_reference * np.exp(-per_seed["s4d"]).mean(), "all_learned": True, "note": ""}  # fmt: skip
        for model, values in per_seed.items():
            row[f"advantage_{model}"] = values.mean()
            row[f"advantage_{model}_se"] = values.std(ddof=1) / np.sqrt(len(values))
            seed_rows += [{"task": task, "model": model, "seed": s, "reference_model": REFERENCE,
                           "error_reference": error_reference, "error_model": error_reference * np.exp(-a), "advantage": a}
                          for s, a in zip(SEEDS, values)]  # fmt: skip
        row["n_seeds_s4d"] = len(SEEDS)
        rows.append(row)
    return pd.DataFrame(rows, columns=ALIGNMENT_COLUMNS), pd.DataFrame(seed_rows, columns=SEED_COLUMNS)


@pytest.fixture()
def c4b_cfg(quick_config):
    """The quick config with the tables' tasks and seeds (C4 needs claims.paired_min_seeds = 3)."""
    cfg = copy.deepcopy(quick_config)
    cfg["alignment_benchmarks"]["tasks"] = list(TASKS)
    cfg["alignment_benchmarks"]["seeds"] = list(SEEDS)
    cfg["claims"]["bootstrap_samples"] = 200
    return cfg


def c4b_paths(folder, table, seeds) -> dict:
    return write(folder, alignment=table, advantages_by_seed=seeds)


def at(df, task="gunpoint", **more) -> pd.Series:
    mask = df["task"] == task
    for column, value in more.items():
        mask &= df[column] == value
    return mask


def test_c4b_baseline_is_supported_on_the_full_grid(tmp_path, c4b_cfg):
    """The tables the cases below damage: supported as written, no grid point missing, no power line."""
    rec = evaluate_claim("C4b", c4b_paths(tmp_path, *c4b_tables()), c4b_cfg)
    assert rec["verdict"] == "supported", rec["explanation"]
    assert rec["numbers"]["n"] == 6 and rec["numbers"]["missing_grid_points"] == 0
    assert rec["details"]["missing_grid_points"] == [] and "lack" not in rec["explanation"]


@pytest.mark.parametrize("input_name, column, value, why", [
    ("alignment", "tc", 1.5, "is impossible, above 1 (task continuity is at most 1)"),
    ("alignment", "advantage_s4d_se", -0.01, "is impossible, below 0 (an error or a distance is never negative)"),
    ("alignment", "error_s4d", 1.2, "is impossible, above 1 (an accuracy is a fraction in [0, 1])"),  # not read, checked
    ("alignment", "error_reference", -0.1, "is impossible, below 0"),
    ("alignment", "advantage_s4d", 1e200, "is impossible, too large to compute with (|value| above 1e+150"),
    ("alignment", "n_seeds_s4d", -1, "is impossible, below 0"),
    ("advantages_by_seed", "advantage", -1e200, "is impossible, too large to compute with"),
    ("advantages_by_seed", "error_model", 1.5, "is impossible, above 1"),
    ("advantages_by_seed", "error_reference", -0.5, "is impossible, below 0"),
    ("advantages_by_seed", "seed", -1, "is impossible, below 0"),
])  # fmt: skip
def test_c4b_an_impossible_value_is_refused_naming_file_line_and_column(tmp_path, capsys, input_name, column, value,
                                                                        why):  # fmt: skip
    tables = dict(zip(("alignment", "advantages_by_seed"), c4b_tables()))
    df = tables[input_name]
    row = at(df, model="s4d", seed=1) if input_name == "advantages_by_seed" else at(df)
    line = line_of(df, row)
    df.loc[row, column] = value
    paths = c4b_paths(tmp_path, *tables.values())
    err = refused(capsys, "C4b", paths, tmp_path / "C4b.json")
    seed = df.loc[row, "seed"].iloc[0] if input_name == "advantages_by_seed" else None  # as written (damaged too)
    key = "task=gunpoint" + (f", model=s4d, seed={seed}" if input_name == "advantages_by_seed" else "")
    shown = df.loc[row, column].iloc[0]
    assert f"{paths[input_name]}: input '{input_name}' line {line} ({key}): {column} = {shown} {why}" in err


@pytest.mark.parametrize("value", ["maybe", "yes", ""])
def test_c4b_a_non_boolean_all_learned_is_refused(tmp_path, capsys, value):
    table, seeds = c4b_tables()
    table["all_learned"] = table["all_learned"].astype(object)
    table.loc[at(table), "all_learned"] = value
    paths = c4b_paths(tmp_path, table, seeds)
    err = refused(capsys, "C4b", paths, tmp_path / "C4b.json")
    shown = repr(value) if value else "nan"  # an empty cell reads as NaN
    assert (f"{paths['alignment']}: input 'alignment' line {line_of(table, at(table))} (task=gunpoint): all_learned = "
            f"{shown} is not a boolean") in err  # fmt: skip


def test_c4b_boolean_spellings_of_all_learned_are_read(tmp_path, c4b_cfg):
    """0/1 and lower case as written by other tools: the same verdict; a 0 leaves that task out."""
    table, seeds = c4b_tables()
    table["all_learned"] = ["1", "true", "TRUE", "0", "1.0", "True"]
    rec = evaluate_claim("C4b", c4b_paths(tmp_path, table, seeds), c4b_cfg)
    assert rec["numbers"]["n"] == 5 and list(rec["details"]["excluded"]) == ["gunpoint"]


def test_c4b_conflicting_duplicate_rows_are_refused_naming_the_key(tmp_path, capsys):
    table, seeds = c4b_tables()
    damaged = pd.concat([table, table[at(table)].assign(tc=0.5)], ignore_index=True)
    paths = c4b_paths(tmp_path, damaged, seeds)
    err = refused(capsys, "C4b", paths, tmp_path / "C4b.json")
    assert (f"{paths['alignment']}: input 'alignment' has 2 different rows for the same task=gunpoint "
            f"(lines {line_of(table, at(table))}, {len(table) + 2})") in err  # fmt: skip

    row = at(seeds, model="s4d", seed=2)
    damaged = pd.concat([seeds, seeds[row].assign(advantage=9.0)], ignore_index=True)
    paths = c4b_paths(tmp_path, table, damaged)
    err = refused(capsys, "C4b", paths, tmp_path / "C4b.json")
    assert (f"{paths['advantages_by_seed']}: input 'advantages_by_seed' has 2 different rows for the same "
            f"task=gunpoint, model=s4d, seed=2 (lines {line_of(seeds, row)}, {len(seeds) + 2})") in err  # fmt: skip


def test_c4b_exact_duplicate_rows_give_the_same_record(tmp_path, c4b_cfg):
    table, seeds = c4b_tables()
    once = evaluate_claim("C4b", c4b_paths(tmp_path / "a", table, seeds), c4b_cfg)
    doubled = c4b_paths(tmp_path / "b", pd.concat([table, table.iloc[::2]], ignore_index=True),
                        pd.concat([seeds, seeds.iloc[::3]], ignore_index=True))  # fmt: skip
    twice = evaluate_claim("C4b", doubled, c4b_cfg)
    assert once["verdict"] == twice["verdict"] == "supported"
    assert once["numbers"] == twice["numbers"] and once["details"] == twice["details"]


def test_c4b_a_missing_task_is_inconclusive_naming_it(tmp_path, c4b_cfg):
    """Five of six tasks still give ρ = 1 and "supported" when read alone; the gap must decide."""
    table, seeds = c4b_tables()
    paths = c4b_paths(tmp_path, table[~at(table, "osuleaf")], seeds[~at(seeds, "osuleaf")])
    rec = verdict_by_cli(tmp_path, "C4b", c4b_cfg, paths)
    assert rec["verdict"] == "inconclusive"
    assert rec["details"]["missing_grid_points"] == ["osuleaf"] and rec["numbers"]["missing_grid_points"] == 1
    assert rec["explanation"].startswith("Inconclusive: the alignment tables lack 1 point(s) of the C4(b) grid "
                                         "(alignment_benchmarks.tasks")  # fmt: skip
    assert "On the rows present the rule gives supported" in rec["explanation"] and rec["numbers"]["n"] == 5


def test_c4b_a_missing_seed_is_inconclusive_naming_it(tmp_path, c4b_cfg):
    """The per-seed table lacks S4D's seed 1 on gunpoint: the bootstrap would resample two seeds there."""
    table, seeds = c4b_tables()
    table.loc[at(table), "n_seeds_s4d"] = 2  # as the gather step counts a run that is absent
    rec = evaluate_claim("C4b", c4b_paths(tmp_path, table, seeds[~at(seeds, model="s4d", seed=1)]), c4b_cfg)
    assert rec["verdict"] == "inconclusive" and rec["details"]["missing_grid_points"] == ["gunpoint s4d seed=1"]
    assert "lack 1 point(s) of the C4(b) grid" in rec["explanation"] and "gunpoint s4d seed=1" in rec["explanation"]
    # a seed of the config that no task has: named on every task
    cfg = copy.deepcopy(c4b_cfg)
    cfg["alignment_benchmarks"]["seeds"] = [*SEEDS, 3]
    rec = evaluate_claim("C4b", c4b_paths(tmp_path, *c4b_tables()), cfg)
    assert rec["verdict"] == "inconclusive"
    assert rec["details"]["missing_grid_points"] == [f"{task} s4d seed=3" for task in TASKS]


def test_c4b_more_seed_rows_than_the_alignment_counts_is_refused(tmp_path, capsys):
    table, seeds = c4b_tables()
    table.loc[at(table), "n_seeds_s4d"] = 2
    paths = c4b_paths(tmp_path, table, seeds)
    err = refused(capsys, "C4b", paths, tmp_path / "C4b.json")
    lines = ", ".join(str(i + 2) for i in np.flatnonzero(at(seeds, model="s4d")))
    assert (f"{paths['advantages_by_seed']} (input 'advantages_by_seed'): 3 s4d seed(s) for task=gunpoint "
            f"(lines {lines}), but {paths['alignment']} (input 'alignment') line {line_of(table, at(table))} counts "
            "n_seeds_s4d = 2; the tables are not from the same run") in err  # fmt: skip
