"""Impossible, contradictory or incomplete inputs of C4 (alignment tables) and C5 (E5 tables): refused
naming file, line and column (exit 2 from `contlaws claims evaluate`, no verdict written), or
"inconclusive" naming the grid points that are missing; never a verdict computed from the rest.

Each case damages a table that gives a decided verdict as written (the first test of each section),
so a case that passes because the check fired, not because the table was undecidable anyway.
"""

from __future__ import annotations

import copy
import itertools
import json

import numpy as np
import pandas as pd
import pytest
from test_faults_claims_inputs import refused

from contlaws.claims import evaluate_claim
from contlaws.commands import main
from contlaws.experiments import subsampling as ss
from contlaws.experiments.alignment import ALIGNMENT_COLUMNS, SEED_ADVANTAGE_COLUMNS


def write(folder, **tables) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, df in tables.items():
        paths[name] = folder / f"{name}.csv"
        df.to_csv(paths[name], index=False)
    return paths


def line_of(df: pd.DataFrame, mask: pd.Series) -> int:
    """The CSV line of the first row of ``mask`` (the header is line 1)."""
    return int(np.flatnonzero(mask.to_numpy())[0]) + 2


def verdict_by_cli(tmp_path, claim: str, cfg: dict, paths: dict) -> dict:
    """The verdict record `contlaws claims evaluate` writes (exit 0) with ``cfg`` as its config file."""
    config, out = tmp_path / "config.json", tmp_path / f"{claim}.json"
    config.write_text(json.dumps(cfg))
    assert main(["claims", "evaluate", claim, "--config", str(config), "--inputs",
                 *(f"{k}={v}" for k, v in paths.items()), "--out", str(out)]) == 0  # fmt: skip
    return json.loads(out.read_text())


# =============================================================================================
# C4: alignment.csv and advantages_by_seed.csv on the quick E3 grid (vdp, dho x eta 0, 0.5, 1)
# =============================================================================================
SYSTEMS, ETAS, SEEDS = ("vdp", "dho"), (0.0, 0.5, 1.0), (0, 1, 2)


def c4_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(alignment, advantages_by_seed) as the alignment step writes them: six datasets whose S4D
    advantage rises with TC (ρ = 1), three paired seeds each, S6 rows beside S4D's."""
    rows, seed_rows = [], []
    for system, eta in itertools.product(SYSTEMS, ETAS):
        tc = 0.99 - 0.1 * eta - 0.01 * (system == "dho")
        per_seed = {"s4d": 5 * (tc - 0.9) + 0.002 * (np.array(SEEDS) - 1), "s6": -0.1 - 0.002 * np.array(SEEDS)}
        row = {"system": system, "eta": eta, "tc": tc, "tc_stderr": 1e-4, "rmse_s4d": 0.1, "rmse_s6": 0.2,
               "reference_model": "transformer", "rmse_reference": 0.15, "note": ""}  # fmt: skip
        for model, values in per_seed.items():
            row.update({f"advantage_{model}": values.mean(), f"advantage_{model}_se": values.std(ddof=1) / np.sqrt(3),
                        f"n_seeds_{model}": len(values)})  # fmt: skip
            seed_rows += [{"system": system, "eta": eta, "tc": tc, "model": model, "reference_model": "transformer",
                           "seed": s, "advantage": a} for s, a in zip(SEEDS, values)]  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows, columns=ALIGNMENT_COLUMNS), pd.DataFrame(seed_rows, columns=SEED_ADVANTAGE_COLUMNS)


@pytest.fixture()
def c4_cfg(quick_config):
    """The quick config with the three seeds the tables hold (C4 needs claims.paired_min_seeds = 3)."""
    cfg = copy.deepcopy(quick_config)
    cfg["eta_performance"]["seeds"] = list(SEEDS)
    cfg["claims"]["bootstrap_samples"] = 200
    return cfg


def c4_paths(folder, table, seeds) -> dict:
    return write(folder, alignment=table, advantages_by_seed=seeds)


def at(df, system="vdp", eta=0.5, **more) -> pd.Series:
    mask = (df["system"] == system) & np.isclose(df["eta"], eta)
    for column, value in more.items():
        mask &= df[column] == value
    return mask


def test_c4_baseline_is_supported_on_the_full_grid(tmp_path, c4_cfg):
    """The tables the cases below damage: supported as written, no grid point missing."""
    rec = evaluate_claim("C4", c4_paths(tmp_path, *c4_tables()), c4_cfg)
    assert rec["verdict"] == "supported", rec["explanation"]
    assert rec["numbers"]["n"] == 6 and rec["numbers"]["missing_grid_points"] == 0
    assert rec["details"]["missing_grid_points"] == [] and "lack" not in rec["explanation"]


@pytest.mark.parametrize("input_name, column, value, why", [
    ("alignment", "tc", 1.5, "is impossible, above 1 (task continuity is at most 1)"),
    ("alignment", "eta", 1.25, "is impossible, above 1 (eta is a mixing weight in [0, 1])"),
    ("alignment", "advantage_s4d_se", -0.01, "is impossible, below 0 (an error or a distance is never negative)"),
    ("alignment", "rmse_s4d", -0.1, "is impossible, below 0"),          # a column C4 does not read, checked all the same
    ("alignment", "advantage_s4d", 1e200, "is impossible, too large to compute with (|value| above 1e+150"),
    ("alignment", "n_seeds_s4d", -1, "is impossible, below 0"),
    ("advantages_by_seed", "advantage", -1e200, "is impossible, too large to compute with"),
    ("advantages_by_seed", "eta", -0.5, "is impossible, below 0 (eta is a mixing weight in [0, 1])"),
    ("advantages_by_seed", "tc", 2.0, "is impossible, above 1"),
])  # fmt: skip
def test_c4_an_impossible_value_is_refused_naming_file_line_and_column(tmp_path, capsys, input_name, column, value, why):
    tables = dict(zip(("alignment", "advantages_by_seed"), c4_tables()))
    df = tables[input_name]
    row = at(df, model="s4d", seed=1) if input_name == "advantages_by_seed" else at(df)
    line = line_of(df, row)
    df.loc[row, column] = value
    paths = c4_paths(tmp_path, *tables.values())
    err = refused(capsys, "C4", paths, tmp_path / "C4.json")
    eta = df.loc[row, "eta"].iloc[0]  # the row's key as written (the damaged eta, where eta is the column)
    key = f"system=vdp, eta={eta}" + (", model=s4d, seed=1" if input_name == "advantages_by_seed" else "")
    shown = df.loc[row, column].iloc[0]
    assert f"{paths[input_name]}: input '{input_name}' line {line} ({key}): {column} = {shown} {why}" in err


def test_c4_conflicting_duplicate_rows_are_refused_naming_the_key(tmp_path, capsys):
    table, seeds = c4_tables()
    damaged = pd.concat([table, table[at(table)].assign(tc=0.5)], ignore_index=True)
    paths = c4_paths(tmp_path, damaged, seeds)
    err = refused(capsys, "C4", paths, tmp_path / "C4.json")
    assert (f"{paths['alignment']}: input 'alignment' has 2 different rows for the same system=vdp, eta=0.5 "
            f"(lines {line_of(table, at(table))}, {len(table) + 2})") in err  # fmt: skip

    row = at(seeds, model="s4d", seed=2)
    damaged = pd.concat([seeds, seeds[row].assign(advantage=9.0)], ignore_index=True)
    paths = c4_paths(tmp_path, table, damaged)
    err = refused(capsys, "C4", paths, tmp_path / "C4.json")
    assert (f"{paths['advantages_by_seed']}: input 'advantages_by_seed' has 2 different rows for the same system=vdp, "
            f"eta=0.5, model=s4d, seed=2 (lines {line_of(seeds, row)}, {len(seeds) + 2})") in err  # fmt: skip


def test_c4_exact_duplicate_rows_give_the_same_record(tmp_path, c4_cfg):
    table, seeds = c4_tables()
    once = evaluate_claim("C4", c4_paths(tmp_path / "a", table, seeds), c4_cfg)
    doubled = c4_paths(tmp_path / "b", pd.concat([table, table.iloc[::2]], ignore_index=True),
                       pd.concat([seeds, seeds.iloc[::3]], ignore_index=True))  # fmt: skip
    twice = evaluate_claim("C4", doubled, c4_cfg)
    assert once["verdict"] == twice["verdict"] == "supported"
    assert once["numbers"] == twice["numbers"] and once["details"] == twice["details"]


def test_c4_a_missing_dataset_is_inconclusive_naming_the_grid_point(tmp_path, c4_cfg):
    """Five of six datasets still give ρ = 1 and "supported" when read alone; the gap must decide."""
    table, seeds = c4_tables()
    paths = c4_paths(tmp_path, table[~at(table, "dho", 0.5)], seeds[~at(seeds, "dho", 0.5)])
    rec = verdict_by_cli(tmp_path, "C4", c4_cfg, paths)
    assert rec["verdict"] == "inconclusive"
    assert rec["details"]["missing_grid_points"] == ["dho eta=0.5"] and rec["numbers"]["missing_grid_points"] == 1
    assert rec["explanation"].startswith("Inconclusive: the alignment tables lack 1 point(s) of the E3 grid "
                                         "(eta_performance.systems x forecasting.etas")  # fmt: skip
    assert "On the rows present the rule gives supported" in rec["explanation"] and rec["numbers"]["n"] == 5
    # a whole system absent is named point by point
    rec = evaluate_claim("C4", c4_paths(tmp_path, table[table["system"] == "vdp"], seeds[seeds["system"] == "vdp"]), c4_cfg)
    assert rec["verdict"] == "inconclusive" and rec["details"]["missing_grid_points"] == ["dho eta=0", "dho eta=0.5", "dho eta=1"]


def test_c4_a_missing_paired_seed_is_inconclusive_naming_it(tmp_path, c4_cfg):
    """The alignment row counts three paired S4D seeds; the per-seed table has two: the bootstrap would
    resample two."""
    table, seeds = c4_tables()
    rec = evaluate_claim("C4", c4_paths(tmp_path, table, seeds[~at(seeds, model="s4d", seed=1)]), c4_cfg)
    assert rec["verdict"] == "inconclusive" and rec["details"]["missing_grid_points"] == ["vdp eta=0.5 s4d seed=1"]
    assert "lack 1 point(s) of the E3 grid" in rec["explanation"] and "vdp eta=0.5 s4d seed=1" in rec["explanation"]
    # two paired seeds counted of three run, one row present: which one is gone is not known, the count is
    table.loc[at(table), "n_seeds_s4d"] = 2
    kept = seeds[~(at(seeds, model="s4d") & seeds["seed"].isin([1, 2]))]
    rec = evaluate_claim("C4", c4_paths(tmp_path, table, kept), c4_cfg)
    assert rec["verdict"] == "inconclusive"
    assert rec["details"]["missing_grid_points"] == ["vdp eta=0.5 s4d: 1 of 2 paired seed(s) (present: 0)"]


def test_c4_a_seed_that_did_not_learn_is_not_missing(tmp_path, c4_cfg):
    """A seed where S4D or the reference did not learn is not paired: the alignment row counts two,
    the per-seed table holds two; nothing is missing and the dataset is left out for too few seeds."""
    table, seeds = c4_tables()
    table.loc[at(table), "n_seeds_s4d"] = 2
    rec = evaluate_claim("C4", c4_paths(tmp_path, table, seeds[~at(seeds, model="s4d", seed=2)]), c4_cfg)
    assert rec["details"]["missing_grid_points"] == [] and rec["numbers"]["n_excluded"] == 1
    assert rec["verdict"] == "supported", rec["explanation"]


def test_c4_more_seed_rows_than_the_alignment_counts_is_refused(tmp_path, capsys):
    table, seeds = c4_tables()
    table.loc[at(table), "n_seeds_s4d"] = 2
    paths = c4_paths(tmp_path, table, seeds)
    err = refused(capsys, "C4", paths, tmp_path / "C4.json")
    lines = ", ".join(str(i + 2) for i in np.flatnonzero(at(seeds, model="s4d")))
    assert (f"{paths['advantages_by_seed']} (input 'advantages_by_seed'): 3 s4d seed(s) for system=vdp, eta=0.5 "
            f"(lines {lines}), but {paths['alignment']} (input 'alignment') line {line_of(table, at(table))} counts "
            "n_seeds_s4d = 2; the tables are not from the same run") in err  # fmt: skip


# =============================================================================================
# C5: the E5 table and curves, two continuous tasks x three seeds
# =============================================================================================
TASKS = ("digits", "gunpoint")
ACC_SUB = [0.3, 0.5, 0.7, 0.8, 0.85, 0.9, 0.9, 0.9]  # reaches the baseline's best 0.88 at epoch 6
ACC_BASE = [0.2, 0.4, 0.6, 0.7, 0.8, 0.85, 0.88, 0.86]
SECONDS_SUB, SECONDS_BASE = [1.0] * 4 + [2.0] * 4, [2.0] * 8
TEST_SUB, TEST_BASE = (0.91, 0.90, 0.91), 0.90  # per seed; paired differences 0.01, 0, 0.01: no worse


def e5_tables(test_sub=TEST_SUB) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(table, curves) as `contlaws subsampling-gather` writes them, from hand-made runs."""
    curves, runs = [], []
    for task, seed in itertools.product(TASKS, SEEDS):
        for mode, accs, seconds, test in (("subsampled", ACC_SUB, SECONDS_SUB, test_sub[seed]),
                                          ("baseline", ACC_BASE, SECONDS_BASE, TEST_BASE)):  # fmt: skip
            curves += [{"task": task, "continuity": "continuous", "mode": mode, "seed": seed, "epoch": i + 1,
                        "stage": 1 + i // 4, "stride": 1, "lr": 1e-3, "val_accuracy": acc, "epoch_seconds": sec,
                        "cumulative_seconds": float(sum(seconds[: i + 1]))}
                       for i, (acc, sec) in enumerate(zip(accs, seconds))]  # fmt: skip
            runs.append({"task": task, "continuity": "continuous", "mode": mode, "seed": seed, "test_accuracy": test,
                         "test_accuracy_best_val": test, "epochs": len(accs), "n_val": 200, "val_chance_accuracy": 0.5,
                         "task_continuity": 0.99, "majority_accuracy": 0.5, "n_test": 200,
                         "learned": ss.learned_gate(test, 0.5, 200, 2.0), "total_seconds": float(sum(seconds))})  # fmt: skip
    curves = pd.DataFrame(curves)
    return ss.speed_table(curves, pd.DataFrame(runs)), curves


@pytest.fixture()
def c5_cfg(quick_config):
    """The quick config with the E5 grid of the tables (two tasks, three seeds)."""
    cfg = copy.deepcopy(quick_config)
    cfg["subsampling"]["tasks"], cfg["subsampling"]["seeds"] = list(TASKS), list(SEEDS)
    return cfg


def c5_paths(folder, table, curves) -> dict:
    return write(folder, table=table, curves=curves)


def task_seed(df, task="digits", seed=1) -> pd.Series:
    return (df["task"] == task) & (df["seed"] == seed)


def test_c5_baseline_is_supported_on_the_full_grid(tmp_path, c5_cfg):
    rec = evaluate_claim("C5", c5_paths(tmp_path, *e5_tables()), c5_cfg)
    assert rec["verdict"] == "supported", rec["explanation"]
    assert rec["details"]["parts"] == {"digits": "supported", "gunpoint": "supported"}
    assert rec["numbers"]["missing_grid_points"] == 0 and rec["details"]["missing_grid_points"] == []


@pytest.mark.parametrize("input_name, column, value, why", [
    ("table", "test_accuracy_subsampled", 1.2, "is impossible, above 1 (an accuracy is a fraction in [0, 1])"),
    ("table", "test_accuracy_baseline", -0.1, "is impossible, below 0 (an accuracy is a fraction in [0, 1])"),
    ("table", "majority_accuracy", 1.5, "is impossible, above 1"),
    ("table", "test_accuracy_difference", -1.5, "is impossible, below -1 (a difference of two accuracies lies in [-1, 1])"),
    ("table", "task_continuity", 1.01, "is impossible, above 1 (task continuity is at most 1)"),
    ("table", "speedup_to_reach_seconds", 0.0, "is impossible, at or below 0 (a speed-up is a ratio of two positive times)"),
    ("table", "time_to_reach_baseline_seconds", -3.0, "is impossible, below 0 (a time or a count is never negative)"),
    ("table", "total_baseline_seconds", 1e200, "is impossible, too large to compute with (|value| above 1e+150"),
    ("curves", "epoch_seconds", -1.0, "is impossible, below 0 (a time or a count is never negative)"),
    ("curves", "val_accuracy", 1.1, "is impossible, above 1 (an accuracy is a fraction in [0, 1])"),
])  # fmt: skip
def test_c5_an_impossible_value_is_refused_naming_file_line_and_column(tmp_path, capsys, input_name, column, value, why):
    tables = dict(zip(("table", "curves"), e5_tables()))
    df = tables[input_name]
    row = task_seed(df) & (df["mode"] == "baseline") & (df["epoch"] == 3) if input_name == "curves" else task_seed(df)
    line = line_of(df, row)
    df[column] = df[column].astype(object)  # "not reached" text and numbers side by side, as the CSV holds them
    df.loc[row, column] = value
    paths = c5_paths(tmp_path, *tables.values())
    err = refused(capsys, "C5", paths, tmp_path / "C5.json")
    key = "task=digits, mode=baseline, seed=1, epoch=3" if input_name == "curves" else "task=digits, seed=1"
    assert f"{paths[input_name]}: input '{input_name}' line {line} ({key}): {column} = {value} {why}" in err


def test_c5_learned_must_be_a_boolean(tmp_path, c5_cfg, capsys):
    """`learned` = "maybe" was read as False (the seed silently not counted)."""
    table, curves = e5_tables()
    table["learned"] = table["learned"].astype(object)
    table.loc[task_seed(table), "learned"] = "maybe"
    paths = c5_paths(tmp_path, table, curves)
    err = refused(capsys, "C5", paths, tmp_path / "C5.json")
    assert (f"{paths['table']}: input 'table' line {line_of(table, task_seed(table))} (task=digits, seed=1): "
            "learned = 'maybe' is not a boolean (True/False/true/false/1/0)") in err  # fmt: skip
    # the spellings a CSV writer uses are read alike
    for spelling, verdict in (("true", "supported"), ("1", "supported"), ("0", "inconclusive")):
        rec = evaluate_claim("C5", c5_paths(tmp_path, table.assign(learned=spelling), curves), c5_cfg)
        assert rec["verdict"] == verdict, (spelling, rec["explanation"])


def test_c5_conflicting_duplicate_rows_are_refused_naming_the_key(tmp_path, capsys):
    """A seed repeated with a lower accuracy changed the paired mean silently."""
    table, curves = e5_tables()
    row = task_seed(table, seed=2)
    damaged = pd.concat([table, table[row].assign(test_accuracy_subsampled=0.5, test_accuracy_difference=-0.4)],
                        ignore_index=True)  # fmt: skip
    paths = c5_paths(tmp_path, damaged, curves)
    err = refused(capsys, "C5", paths, tmp_path / "C5.json")
    assert (f"{paths['table']}: input 'table' has 2 different rows for the same task=digits, seed=2 "
            f"(lines {line_of(table, row)}, {len(table) + 2})") in err  # fmt: skip

    row = task_seed(curves, seed=0) & (curves["mode"] == "subsampled") & (curves["epoch"] == 4)
    damaged = pd.concat([curves, curves[row].assign(epoch_seconds=30.0)], ignore_index=True)
    paths = c5_paths(tmp_path, table, damaged)
    err = refused(capsys, "C5", paths, tmp_path / "C5.json")
    assert (f"{paths['curves']}: input 'curves' has 2 different rows for the same task=digits, mode=subsampled, "
            f"seed=0, epoch=4 (lines {line_of(curves, row)}, {len(curves) + 2})") in err  # fmt: skip


def test_c5_exact_duplicate_rows_give_the_same_record(tmp_path, c5_cfg):
    table, curves = e5_tables()
    once = evaluate_claim("C5", c5_paths(tmp_path / "a", table, curves), c5_cfg)
    doubled = c5_paths(tmp_path / "b", pd.concat([table, table.iloc[[0, 4]]], ignore_index=True),
                       pd.concat([curves, curves.iloc[::5]], ignore_index=True))  # fmt: skip
    twice = evaluate_claim("C5", doubled, c5_cfg)
    assert once["verdict"] == twice["verdict"] == "supported"
    assert once["numbers"] == twice["numbers"] and once["details"] == twice["details"] and once["timing"] == twice["timing"]


def test_c5_a_missing_seed_is_inconclusive_naming_it(tmp_path, c5_cfg):
    """digits without seed 2: with claims.paired_min_seeds = 2 its two other seeds would decide it
    ("supported"); the part and the claim are inconclusive instead, naming the seed."""
    table, curves = e5_tables()
    cfg = copy.deepcopy(c5_cfg)
    cfg["claims"]["paired_min_seeds"] = 2  # two seeds would decide: only the gap keeps the verdict open
    paths = c5_paths(tmp_path, table[~task_seed(table, seed=2)], curves[~task_seed(curves, seed=2)])
    rec = verdict_by_cli(tmp_path, "C5", cfg, paths)
    assert rec["verdict"] == "inconclusive"
    assert rec["details"]["missing_grid_points"] == ["digits seed=2"] and rec["numbers"]["missing_grid_points"] == 1
    assert rec["details"]["parts"] == {"digits": "inconclusive", "gunpoint": "supported"}
    assert rec["details"]["tasks"]["digits"]["reason"].startswith("the tables lack digits seed=2; on the rows present: supported")
    assert rec["explanation"].startswith("Inconclusive: the E5 tables lack 1 point(s) of the run's grid "
                                         "(subsampling.tasks x subsampling.seeds, a subsampled and a baseline run each): "
                                         "digits seed=2;")  # fmt: skip


def test_c5_a_missing_task_is_inconclusive_even_beside_a_task_not_supported(tmp_path, c5_cfg):
    """A task of subsampling.tasks absent: its label and verdict are unknown, so the claim is not decided
    on the other tasks, whatever they say (here digits is not supported: clearly less accurate)."""
    table, curves = e5_tables(test_sub=(0.8, 0.8, 0.8))
    keep_table, keep_curves = table["task"] == "digits", curves["task"] == "digits"
    rec = evaluate_claim("C5", c5_paths(tmp_path, table[keep_table], curves[keep_curves]), c5_cfg)
    assert rec["details"]["parts"] == {"digits": "not supported"} and rec["verdict"] == "inconclusive"
    assert rec["details"]["missing_grid_points"] == ["gunpoint seed=0", "gunpoint seed=1", "gunpoint seed=2"]
    # all tasks present: the same table is not supported
    assert evaluate_claim("C5", c5_paths(tmp_path, table, curves), c5_cfg)["verdict"] == "not supported"


def test_c5_a_run_without_its_curve_is_inconclusive_naming_it(tmp_path, c5_cfg):
    """The timing noise (hence the speed margin) is measured on every run's epoch times."""
    table, curves = e5_tables()
    gone = task_seed(curves, "gunpoint", 1) & (curves["mode"] == "baseline")
    rec = evaluate_claim("C5", c5_paths(tmp_path, table, curves[~gone]), c5_cfg)
    assert rec["verdict"] == "inconclusive"
    assert rec["details"]["missing_grid_points"] == ["gunpoint baseline seed=1 (curves)"]
    assert rec["details"]["parts"] == {"digits": "supported", "gunpoint": "inconclusive"}
