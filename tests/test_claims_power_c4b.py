"""Power beside C4(b) verdicts that are not supported: the numbers and keys of C4's power line, over
tasks, checked against the Fisher-z formulas written out here (scipy's normal quantile)."""

from __future__ import annotations

import copy
import math

import pandas as pd
import pytest
from scipy import stats
from test_claim_boundaries import aligned, with_claims

from contlaws.claims import evaluate_claim
from contlaws.experiments.alignment_benchmarks import ALIGNMENT_COLUMNS, SEED_COLUMNS
from contlaws.stats import mean_and_stderr

Z = stats.norm.ppf(0.95)  # one-sided 95 % (claims.rank_correlation_alpha = 0.05)
POWER_KEYS = {"power_rho_detectable", "power_rho_ruled_out_below", "power_datasets_needed", "power"}


def c4b_record(tmp_path, cfg, tasks: list[tuple[float, list[float]]], learned: list[bool] | None = None) -> dict:
    """C4b on tables of tasks [(TC, [S4D advantage per seed])], the config's grid set to the tables'."""
    rows, seed_rows = [], []
    for i, (tc, advantages) in enumerate(tasks):
        mean, se = mean_and_stderr(advantages)
        ok = True if learned is None else learned[i]
        rows.append({"task": f"task{i}", "tc": tc, "tc_stderr": 0.0, "reference_model": "linear_attention",
                     "advantage_s4d": mean, "advantage_s4d_se": se, "n_seeds_s4d": len(advantages),
                     "advantage_s6": -mean, "advantage_s6_se": se, "error_s4d": 0.1, "error_reference": 0.1,
                     "all_learned": ok, "note": "" if ok else "s6 seed 0 not past its gate"})  # fmt: skip
        seed_rows += [{"task": f"task{i}", "model": "s4d", "seed": k, "reference_model": "linear_attention",
                       "error_reference": 0.1, "error_model": 0.1 * math.exp(-a), "advantage": a}
                      for k, a in enumerate(advantages)]  # fmt: skip
    paths = {"alignment": tmp_path / "alignment.csv", "advantages_by_seed": tmp_path / "seeds.csv"}
    pd.DataFrame(rows, columns=ALIGNMENT_COLUMNS).to_csv(paths["alignment"], index=False)
    pd.DataFrame(seed_rows, columns=SEED_COLUMNS).to_csv(paths["advantages_by_seed"], index=False)
    cfg = copy.deepcopy(cfg)
    cfg["alignment_benchmarks"]["tasks"] = [f"task{i}" for i in range(len(tasks))]
    cfg["alignment_benchmarks"]["seeds"] = list(range(len(tasks[0][1])))
    return evaluate_claim("C4b", paths, cfg)


@pytest.fixture()
def cfg(quick_config):
    return with_claims(quick_config, bootstrap_samples=200)


def test_c4b_power_beside_an_inconclusive_verdict(tmp_path, cfg):
    """Four tasks, ρ = 0.8 (not significant at n = 4): SE_z = sqrt(1.06/1); 1.06·(z/atanh 0.8)² + 4 -> 6 tasks."""
    rec = c4b_record(tmp_path, cfg, aligned(4, order=[0, 1, 3, 2]))
    assert rec["verdict"] == "inconclusive" and rec["numbers"]["rho"] == pytest.approx(0.8)
    assert POWER_KEYS <= set(rec["numbers"])
    assert rec["numbers"]["power_rho_detectable"] == pytest.approx(math.tanh(Z * math.sqrt(1.06 / 1)), abs=1e-4)
    assert rec["numbers"]["power_rho_ruled_out_below"] == pytest.approx(
        math.tanh(math.atanh(0.3) - Z * math.sqrt(1.06 / 1)), abs=1e-4)  # fmt: skip
    assert rec["numbers"]["power_datasets_needed"] == math.floor(1.06 * (Z / math.atanh(0.8)) ** 2) + 4 == 6
    assert "about 6 tasks would decide" in rec["explanation"] and rec["explanation"].endswith(".")
    assert rec["numbers"]["power"].startswith("with n = 4 tasks the one-sided 95% Fisher-z interval")


def test_c4b_power_beside_a_not_supported_verdict(tmp_path, cfg):
    """Eight anti-aligned tasks (ρ = −1): ruled out below tanh(atanh 0.3 − z·sqrt(1.06/5)); nothing to add."""
    rec = c4b_record(tmp_path, cfg, aligned(8, order=range(7, -1, -1)))
    assert rec["verdict"] == "not supported" and rec["numbers"]["power_datasets_needed"] is None
    assert rec["numbers"]["power_rho_ruled_out_below"] == pytest.approx(
        math.tanh(math.atanh(0.3) - Z * math.sqrt(1.06 / 5)), abs=1e-4)  # fmt: skip
    assert rec["numbers"]["power_rho_detectable"] == pytest.approx(math.tanh(Z * math.sqrt(1.06 / 5)), abs=1e-4)
    assert "Power: with n = 8 tasks" in rec["explanation"] and "would decide" not in rec["numbers"]["power"]


def test_c4b_power_with_too_few_tasks_names_the_design(tmp_path, cfg):
    """Three of six tasks count (three did not learn): nothing detectable at n = 3; were all six to count,
    tanh(z·sqrt(1.06/3)) would be."""
    rec = c4b_record(tmp_path, cfg, aligned(6), learned=[True, True, True, False, False, False])
    assert rec["verdict"] == "inconclusive" and rec["numbers"]["n"] == 3
    assert rec["numbers"]["power_rho_detectable"] is None and rec["numbers"]["power_rho_ruled_out_below"] is None
    assert "with n = 3 tasks (fewer than 4) no rho is detectable" in rec["numbers"]["power"]
    assert f"were all 6 tasks to count, the one-sided 95% Fisher-z interval, SE sqrt(1.06/(n-3)) would exclude 0 for rho >= {math.tanh(Z * math.sqrt(1.06 / 3)):.3f}" in rec["numbers"]["power"]  # fmt: skip


def test_c4b_supported_carries_no_power(tmp_path, cfg):
    rec = c4b_record(tmp_path, cfg, aligned(8))
    assert rec["verdict"] == "supported"
    assert not any(k.startswith("power") for k in rec["numbers"]) and "Power" not in rec["explanation"]
