"""Impossible, contradictory or incomplete claim inputs: refused naming file, line and column (exit 2,
no verdict written), or "inconclusive" naming what is missing; never a verdict computed from them.

Cases from a robustness run, each of which used to print a verdict (or a traceback): a negative RMSE
and a TC of 1.5 flipped C2 and C3, an RMSE of 1e308 gave "|mean| inf within 2 SE (nan)", rows
repeated with other values and `learned` = "maybe" changed the numbers silently, a repeated dataset
row crashed C3, and a missing eta row went unnoticed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import REPO
from test_claims import numerical_errors, real_tables, trained_errors, write

from contlaws.claims import evaluate_claim
from contlaws.commands import main
from contlaws.errors import DataFileError
from contlaws.io import read_result_csv
from contlaws.table_checks import ValueRange

QUICK = REPO / "config" / "quick.yaml"


def evaluate_cli(claim: str, paths: dict, out) -> int:
    """`contlaws claims evaluate CLAIM` as the pipeline runs it; the exit status."""
    return main(["claims", "evaluate", claim, "--config", str(QUICK), "--inputs", *(f"{k}={v}" for k, v in paths.items()),
                 "--out", str(out)])  # fmt: skip


def refused(capsys, claim: str, paths: dict, out) -> str:
    """The one-line error of a refused claim (exit 2, no verdict file)."""
    capsys.readouterr()
    assert evaluate_cli(claim, paths, out) == 2
    assert not out.exists()
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    return err


# ---------------------------------------------------------------------------------------------
# C2 tables
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sweep():
    return real_tables({"s4d": "s4d", "s6": "s6"})[1]


def s6_row(errors: pd.DataFrame, seed=0, tau=2.0, system="vdp") -> pd.Series:
    return (errors["model"] == "s6") & (errors["system"] == system) & (errors["seed"] == seed) & (errors["tau"] == tau)


def c2_paths(tmp_path, sweep, errors):
    return write(tmp_path, numerical_errors=numerical_errors(40.0), errors=errors, amplitude_sweep=sweep)


def test_c2_baseline_is_supported(tmp_path, quick_config, sweep):
    """The fixture the cases below damage: supported as written."""
    rec = evaluate_claim("C2", c2_paths(tmp_path, sweep, trained_errors()), quick_config)
    assert rec["verdict"] == "supported", rec["explanation"]


def test_c2_negative_rmse_is_refused_naming_file_line_and_column(tmp_path, sweep, capsys):
    errors = trained_errors()
    errors.loc[s6_row(errors), "rmse"] = -1.0
    paths = c2_paths(tmp_path, sweep, errors)
    line = int(np.flatnonzero(s6_row(errors))[0]) + 2
    err = refused(capsys, "C2", paths, tmp_path / "C2.json")
    assert (f"{paths['errors']}: input 'errors' line {line} (system=vdp, model=s6, discretization=zoh, seed=0, tau=2.0, "
            "label=pooled): rmse = -1.0 is impossible, below 0") in err  # fmt: skip


@pytest.mark.parametrize("value", [1e308, 1e200])
def test_c2_rmse_too_large_to_square_is_refused_naming_the_row(tmp_path, sweep, capsys, value):
    """1e308 used to give exit 0 and "|mean| inf within 2 SE (nan)"."""
    errors = trained_errors()
    errors.loc[s6_row(errors, seed=1), "rmse"] = value
    paths = c2_paths(tmp_path, sweep, errors)
    err = refused(capsys, "C2", paths, tmp_path / "C2.json")
    assert "seed=1, tau=2.0, label=pooled): rmse = " in err and "too large to compute with" in err
    assert "inf" not in err.replace("infinity", "")


def test_c2_a_ratio_that_overflows_is_inconclusive_naming_the_seed(tmp_path, quick_config, sweep):
    """Legal values whose derived number is not finite (an RMSE of 0 at tau = 1 makes the ratio inf):
    the part is inconclusive and says which seed, instead of "|mean| inf within 2 SE (nan)"."""
    errors = trained_errors()
    errors.loc[s6_row(errors, seed=2, tau=1.0), "rmse"] = 0.0
    rec = evaluate_claim("C2", c2_paths(tmp_path, sweep, errors), quick_config)
    comparison = rec["details"]["e2_relative_rmse_increase"]["vdp/zoh"]
    assert comparison["verdict"] == "inconclusive" and comparison["mean"] is None
    assert "not a finite number for seed(s) 2" in rec["explanation"]
    assert rec["verdict"] == "inconclusive" and "inf within" not in rec["explanation"]


def test_c2_conflicting_duplicate_rows_are_refused_naming_the_key(tmp_path, sweep, capsys):
    """Seed-0 S6 rows repeated with 10x the RMSE flipped C2 from supported to inconclusive silently."""
    errors = trained_errors()
    seed0 = errors[(errors["model"] == "s6") & (errors["seed"] == 0)]
    damaged = pd.concat([errors, seed0.assign(rmse=seed0["rmse"] * 10)], ignore_index=True)
    paths = c2_paths(tmp_path, sweep, damaged)
    err = refused(capsys, "C2", paths, tmp_path / "C2.json")
    first = int(seed0.index[0]) + 2
    assert (f"{paths['errors']}: input 'errors' has 2 different rows for the same system=vdp, model=s6, "
            f"discretization=zoh, seed=0, tau=2.0, label=pooled (lines {first}, {len(errors) + 2})") in err  # fmt: skip


def test_c2_exact_duplicate_rows_give_the_same_record(tmp_path, quick_config, sweep):
    errors = trained_errors()
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    once = evaluate_claim("C2", c2_paths(tmp_path / "a", sweep, errors), quick_config)
    doubled = pd.concat([errors, errors.iloc[::3]], ignore_index=True)
    twice = evaluate_claim("C2", c2_paths(tmp_path / "b", pd.concat([sweep, sweep.iloc[:7]]), doubled), quick_config)
    assert once["verdict"] == twice["verdict"] == "supported"
    assert once["numbers"] == twice["numbers"] and once["details"] == twice["details"]


def test_c2_learned_must_be_a_boolean(tmp_path, quick_config, sweep, capsys):
    """`learned` = "maybe" was read as False for that row only, and a verdict printed."""
    errors = trained_errors().astype({"learned": object})
    errors.loc[s6_row(errors, seed=1), "learned"] = "maybe"
    paths = c2_paths(tmp_path, sweep, errors)
    line = int(np.flatnonzero(s6_row(errors, seed=1))[0]) + 2
    err = refused(capsys, "C2", paths, tmp_path / "C2.json")
    assert f"{paths['errors']}: input 'errors' line {line} (system=vdp, model=s6" in err
    assert "learned = 'maybe' is not a boolean (True/False/true/false/1/0)" in err
    # the spellings a CSV writer uses are all read alike
    for spelling in ("true", "1", "TRUE"):
        errors = trained_errors().astype({"learned": object}).assign(learned=spelling)
        rec = evaluate_claim("C2", c2_paths(tmp_path, sweep, errors), quick_config)
        assert rec["verdict"] == "supported", (spelling, rec["explanation"])
    errors = trained_errors().astype({"learned": object})
    errors.loc[errors["model"] == "s6", "learned"] = "0"  # S6 not learned: as with False
    rec = evaluate_claim("C2", c2_paths(tmp_path, sweep, errors), quick_config)
    assert rec["numbers"]["part_c_degradation"] == "inconclusive"


def test_an_impossible_distance_in_the_sweep_is_refused(tmp_path, sweep, capsys):
    damaged = sweep.copy()
    damaged.loc[damaged.index[4], "d"] = -0.5
    paths = c2_paths(tmp_path, damaged, trained_errors())
    err = refused(capsys, "C2", paths, tmp_path / "C2.json")
    assert f"{paths['amplitude_sweep']}: input 'amplitude_sweep' line 6 (" in err and "d = -0.5 is impossible" in err


# ---------------------------------------------------------------------------------------------
# C3: the task-continuity table
# ---------------------------------------------------------------------------------------------
ORDERED = {("vdp", 0.0): 0.9999, ("vdp", 0.5): 0.998, ("vdp", 1.0): 0.94,
           ("dho", 0.0): 0.99999, ("dho", 0.5): 0.987, ("dho", 1.0): 0.93}  # fmt: skip


def tc_table(values=ORDERED) -> pd.DataFrame:
    """A TC table of the quick grid (vdp, dho x eta 0, 0.5, 1) plus a regression and a benchmark row."""
    rows = [{"family": "forecasting", "dataset": f"forecasting/{s}_eta{e:g}", "system": s, "eta": e, "tc": v,
             "tc_stderr": 1e-4} for (s, e), v in values.items()]  # fmt: skip
    rows.append({"family": "regression", "dataset": "regression/vdp_tau1", "system": "vdp", "eta": np.nan, "tc": 0.99,
                 "tc_stderr": 1e-4})  # fmt: skip
    rows.append({"family": "benchmarks", "dataset": "benchmarks/gunpoint", "system": "", "eta": np.nan, "tc": -0.2,
                 "tc_stderr": 1e-3})  # TC below 0: rougher than noise, possible  # fmt: skip
    return pd.DataFrame(rows)


def c3_paths(tmp_path, table):
    return write(tmp_path, task_continuity=table)


def test_c3_baseline_is_supported(tmp_path, quick_config):
    rec = evaluate_claim("C3", c3_paths(tmp_path, tc_table()), quick_config)
    assert rec["verdict"] == "supported" and rec["numbers"]["missing_grid_points"] == 0, rec["explanation"]


def test_c3_tc_above_1_is_refused(tmp_path, capsys):
    """TC 1.5 flipped C3 from supported to not supported."""
    paths = c3_paths(tmp_path, tc_table({**ORDERED, ("dho", 0.5): 1.5}))
    err = refused(capsys, "C3", paths, tmp_path / "C3.json")
    assert (f"{paths['task_continuity']}: input 'task_continuity' line 6 (family=forecasting, "
            "dataset=forecasting/dho_eta0.5): tc = 1.5 is impossible, above 1 (task continuity is at most 1)") in err  # fmt: skip


def test_c3_a_repeated_dataset_row(tmp_path, quick_config, capsys):
    """A repeated row crashed C3 ("cannot reindex on an axis with duplicate labels"). Identical: dropped,
    same record; with another TC: refused naming the dataset; another name for the same (system, eta):
    refused naming the grid point."""
    table = tc_table()
    alone = evaluate_claim("C3", c3_paths(tmp_path, table), quick_config)
    repeated = pd.concat([table, table.iloc[[1]]], ignore_index=True)
    rec = evaluate_claim("C3", c3_paths(tmp_path, repeated), quick_config)
    assert rec["verdict"] == alone["verdict"] == "supported"
    assert rec["numbers"] == alone["numbers"] and rec["details"] == alone["details"]

    conflicting = pd.concat([table, table.iloc[[1]].assign(tc=0.5)], ignore_index=True)
    paths = c3_paths(tmp_path, conflicting)
    err = refused(capsys, "C3", paths, tmp_path / "C3.json")
    assert (f"{paths['task_continuity']}: input 'task_continuity' has 2 different rows for the same family=forecasting, "
            f"dataset=forecasting/vdp_eta0.5 (lines 3, {len(table) + 2})") in err  # fmt: skip

    renamed = pd.concat([table, table.iloc[[1]].assign(dataset="forecasting/vdp_eta0.5_copy")], ignore_index=True)
    err = refused(capsys, "C3", c3_paths(tmp_path, renamed), tmp_path / "C3.json")
    assert f"has 2 different rows for the same family=forecasting, system=vdp, eta=0.5 (lines 3, {len(table) + 2})" in err


def test_c3_a_missing_eta_row_is_inconclusive_naming_the_grid_point(tmp_path, quick_config):
    """With one eta row gone the verdict was "supported ... 2 eta values" and the gap unnamed."""
    table = tc_table()
    table = table[~((table["system"] == "dho") & (table["eta"] == 0.5))]
    rec = evaluate_claim("C3", c3_paths(tmp_path, table), quick_config)
    assert rec["verdict"] == "inconclusive"
    assert rec["details"]["missing_grid_points"] == ["dho eta=0.5"] and rec["numbers"]["missing_grid_points"] == 1
    assert rec["explanation"].startswith("Inconclusive: the table lacks 1 point(s) of the E3 grid "
                                         "(eta_performance.systems x forecasting.etas): dho eta=0.5;")  # fmt: skip
    # a whole system absent is named point by point
    rec = evaluate_claim("C3", c3_paths(tmp_path, tc_table({k: v for k, v in ORDERED.items() if k[0] == "vdp"})), quick_config)
    assert rec["verdict"] == "inconclusive" and rec["details"]["missing_grid_points"] == ["dho eta=0", "dho eta=0.5", "dho eta=1"]


def test_c3_eta_outside_0_1_is_refused(tmp_path, capsys):
    table = tc_table()
    table.loc[2, "eta"] = 1.5
    err = refused(capsys, "C3", c3_paths(tmp_path, table), tmp_path / "C3.json")
    assert "line 4 (family=forecasting, dataset=forecasting/vdp_eta1): eta = 1.5 is impossible, above 1" in err


# ---------------------------------------------------------------------------------------------
# The reader itself
# ---------------------------------------------------------------------------------------------
def test_read_result_csv_checks_leave_nan_to_the_caller_and_keep_line_numbers(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"k": [1, 2, 2, 3], "v": [0.5, np.nan, np.nan, 2.0], "ok": ["True", "false", "false", "1"]}).to_csv(path, index=False)
    df = read_result_csv(path, ["k", "v"], ranges={"v": ValueRange(low=0)}, flags=["ok"], key=["k"])
    assert list(df.index) == [0, 1, 3] and df["ok"].tolist() == [True, False, True] and np.isnan(df.at[1, "v"])
    with pytest.raises(DataFileError, match=r"t.csv: results file line 5 \(k=3\): v = 2.0 is impossible, above 1"):
        read_result_csv(path, ranges={"v": ValueRange(high=1)}, key=["k"])
