"""Power beside non-supported verdicts: the formulas against simulation, scipy and brute force, and
the numbers the claims and the claims table show."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from contlaws.claims import paired_difference
from contlaws.claims.power import (
    binomial_difference_se,
    datasets_needed,
    resolvable_difference,
    rho_detectable,
    rho_ruled_out,
    spearman_z_se,
    units_needed,
)


def simulated_spearman(n: int, rho: float, reps: int, seed: int) -> np.ndarray:
    """(reps,) Spearman ρ of n bivariate-normal pairs with correlation ``rho`` (scipy ranks)."""
    rng = np.random.default_rng(seed)
    x = rng.multivariate_normal([0.0, 0.0], [[1.0, rho], [rho, 1.0]], size=(reps, n))  # (reps, n, 2)
    rx, ry = stats.rankdata(x[..., 0], axis=1), stats.rankdata(x[..., 1], axis=1)
    rx, ry = rx - rx.mean(1, keepdims=True), ry - ry.mean(1, keepdims=True)
    return (rx * ry).sum(1) / np.sqrt((rx * rx).sum(1) * (ry * ry).sum(1))


@pytest.mark.parametrize("n, rho", [(12, 0.0), (20, 0.0), (20, 0.5), (30, 0.3)])
def test_spearman_z_standard_error_matches_simulation(n, rho):
    """sd of atanh(r_s) over simulated samples is sqrt(1.06/(n − 3)) within 5 %."""
    r = simulated_spearman(n, rho, 20000, seed=n)
    assert np.arctanh(r).std() == pytest.approx(spearman_z_se(n), rel=0.05)


@pytest.mark.parametrize("n, alpha", [(12, 0.05), (20, 0.05), (30, 0.1)])
def test_rho_detectable_is_the_null_quantile(n, alpha):
    """Under independence, P(r_s > rho_detectable) ≈ α: the simulated (1 − α) quantile and scipy's
    t-approximation critical value agree with it within 0.03."""
    null = simulated_spearman(n, 0.0, 20000, seed=100 + n)
    assert np.quantile(null, 1 - alpha) == pytest.approx(rho_detectable(n, alpha), abs=0.03)
    t = stats.t.ppf(1 - alpha, n - 2)
    assert t / math.sqrt(n - 2 + t * t) == pytest.approx(rho_detectable(n, alpha), abs=0.03)


def test_rho_bounds_round_trip_and_edges():
    """The Fisher upper bound of rho_ruled_out is rho_min; the lower bound of rho_detectable is 0."""
    z = stats.norm.ppf(0.95)
    for n in (5, 12, 20):
        se = math.sqrt(1.06 / (n - 3))
        assert math.tanh(math.atanh(rho_ruled_out(n, 0.05, 0.3)) + z * se) == pytest.approx(0.3, abs=1e-12)
        assert math.tanh(math.atanh(rho_detectable(n, 0.05)) - z * se) == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(spearman_z_se(3)) and math.isnan(rho_detectable(3, 0.05))
    assert rho_detectable(40, 0.05) < rho_detectable(20, 0.05) < rho_detectable(10, 0.05)


@pytest.mark.parametrize("rho, rho_min", [(0.25, 0.3), (0.5, 0.3), (0.1, 0.3), (-0.2, 0.3), (0.9, 0.3), (0.31, 0.3)])
def test_datasets_needed_is_the_smallest_n_that_decides(rho, rho_min):
    """At the returned n the Fisher interval decides (excludes 0 when ρ >= ρ_min, rules out ρ_min
    otherwise); at n − 1 it does not (unless n is the floor of 4)."""
    n = datasets_needed(rho, rho_min, 0.05)

    def decides(m):
        return rho > rho_detectable(m, 0.05) if rho >= rho_min else rho < rho_ruled_out(m, 0.05, rho_min)

    assert decides(n)
    assert n == 4 or not decides(n - 1)


def test_datasets_needed_undefined():
    assert datasets_needed(math.nan, 0.3, 0.05) is None
    assert datasets_needed(0.0, -0.1, 0.05) is None  # ρ >= ρ_min but not positive: no n supports it
    assert datasets_needed(1.0, 0.3, 0.05) == 4


def brute_force_units(effect, sd, k, at_least):
    n = at_least
    while not k * sd / math.sqrt(n) < abs(effect):
        n += 1
    return n


def test_units_needed_against_brute_force():
    rng = np.random.default_rng(7)
    for _ in range(300):
        effect, sd, k = rng.uniform(-1, 1), rng.uniform(0.01, 2), rng.choice([1.0, 2.0, 2.5])
        at_least = int(rng.integers(2, 5))
        assert units_needed(effect, sd, k, at_least) == brute_force_units(effect, sd, k, at_least)
    assert units_needed(0.0, 1.0, 2.0) is None and units_needed(0.1, None, 2.0) is None
    assert units_needed(0.1, 0.0, 2.0, at_least=3) == 3


@pytest.mark.parametrize("effect, sd", [(0.1, 0.2), (-0.05, 0.2), (0.3, 1.1)])
def test_units_needed_flips_the_paired_rule(effect, sd):
    """Seeds whose differences have mean ``effect`` and sample sd ``sd``: at units_needed seeds the
    C2(c) rule (paired_difference, k = 2) resolves them, one seed fewer it does not."""
    n = units_needed(effect, sd, 2.0, at_least=3)

    def verdict(m):
        z = np.random.default_rng(m).standard_normal(m)
        diffs = effect + sd * (z - z.mean()) / z.std(ddof=1)
        return paired_difference(dict(enumerate(diffs)), dict.fromkeys(range(m), 0.0), 3, 2.0)["verdict"]

    assert verdict(n) == ("supported" if effect > 0 else "not supported")
    assert verdict(n - 1) == "inconclusive"


def test_resolvable_difference():
    assert resolvable_difference(0.125, 2.0) == 0.25
    assert math.isnan(resolvable_difference(None, 2.0)) and math.isnan(resolvable_difference(math.nan, 2.0))


def test_binomial_difference_se_matches_simulation():
    rng = np.random.default_rng(3)
    p, n_test = 0.8, 500
    diffs = (rng.binomial(n_test, p, 40000) - rng.binomial(n_test, p, 40000)) / n_test
    assert diffs.std() == pytest.approx(binomial_difference_se(p, n_test), rel=0.02)


# ---------------------------------------------------------------------------------------------
# The power numbers in the verdicts and the claims table
# ---------------------------------------------------------------------------------------------
from test_claim_boundaries import (
    ONE_PAIR,
    aligned,
    c2_record,
    c4_paths,
    c4_record,
    c5_record,
    with_claims,
)


def test_c2_power_beside_an_inconclusive_degradation(tmp_path, quick_config):
    """Three seeds, mean 0.1167, SE 0.1014: 2 SE = 0.2028 resolvable; sd = SE·√3, (2·sd/mean)² = 9.06 -> 10 seeds."""
    diffs = [0.1, 0.3, -0.05]
    rec = c2_record(tmp_path, quick_config, degradation={ONE_PAIR: {"s6": diffs, "s4d": [0.0] * 3}})
    assert rec["verdict"] == "inconclusive" and rec["numbers"]["part_c_degradation"] == "inconclusive"
    mean, sd = np.mean(diffs), np.std(diffs, ddof=1)
    assert rec["numbers"]["power_c_difference_resolvable"] == pytest.approx(2 * sd / math.sqrt(3), abs=1e-4)
    assert rec["numbers"]["power_c_seeds_needed"] == math.floor((2 * sd / mean) ** 2) + 1 == 10
    assert "power_b_exponent_resolvable" not in rec["numbers"]  # (b) is supported: no power line for it
    assert "Power: (c) the seeds resolve a paired difference of 0.203" in rec["explanation"]
    assert "about 10 seeds would decide" in rec["numbers"]["power"]


def test_c2_power_of_the_exponent_uses_its_spread_over_seeds(tmp_path, quick_config):
    """S6 exponents 0.2, 0.5, 0.4 over seeds on a second pair, 1.0 on the first: (b) mixed -> inconclusive;
    the exponent SE over seeds is 0.0882, 2 SE = 0.176; the unresolved pair sits 0.133 below 0.5, so
    (2·sd/0.133)² = 5.25 -> 6 seeds."""
    rec = c2_record(tmp_path, quick_config, s6_exponents={ONE_PAIR: [1.0, 1.0, 1.0], ("dho", "zoh"): [0.2, 0.5, 0.4]},
                    degradation={ONE_PAIR: {"s6": [1.0, 1.25, 1.5], "s4d": [0.0] * 3}})  # fmt: skip
    assert rec["numbers"]["part_b_amplitude"] == "inconclusive"
    q = [0.2, 0.5, 0.4]
    se = np.std(q, ddof=1) / math.sqrt(3)
    assert rec["numbers"]["power_b_exponent_resolvable"] == pytest.approx(2 * se, abs=1e-4)
    distance = 0.5 - np.mean(q)
    assert rec["numbers"]["power_b_seeds_needed"] == math.floor((2 * se * math.sqrt(3) / distance) ** 2) + 1 == 6


def test_supported_verdicts_carry_no_power(tmp_path, quick_config):
    rec = c2_record(tmp_path, quick_config)
    assert rec["verdict"] == "supported" and not any(k.startswith("power") for k in rec["numbers"])
    assert "Power" not in rec["explanation"]
    rec = c5_record(tmp_path, quick_config, {"digits": {"diffs": [0.0] * 3}})
    assert rec["verdict"] == "supported" and not any(k.startswith("power") for k in rec["numbers"])


def test_c4_power_beside_inconclusive_and_not_supported(tmp_path, quick_config):
    cfg = with_claims(quick_config, bootstrap_samples=200)
    rec = c4_record(c4_paths(tmp_path, aligned(4, order=[0, 1, 3, 2])), cfg)  # ρ = 0.8, not significant
    assert rec["verdict"] == "inconclusive"
    z = stats.norm.ppf(0.95)
    assert rec["numbers"]["power_rho_detectable"] == pytest.approx(math.tanh(z * math.sqrt(1.06 / 1)), abs=1e-4)
    assert rec["numbers"]["power_datasets_needed"] == math.floor(1.06 * (z / math.atanh(0.8)) ** 2) + 4 == 6
    assert "about 6 datasets would decide" in rec["explanation"]
    rec = c4_record(c4_paths(tmp_path, aligned(8, order=range(7, -1, -1))), cfg)  # anti-aligned
    assert rec["verdict"] == "not supported" and rec["numbers"]["power_datasets_needed"] is None
    assert rec["numbers"]["power_rho_ruled_out_below"] == pytest.approx(
        math.tanh(math.atanh(0.3) - z * math.sqrt(1.06 / 5)), abs=1e-4)  # fmt: skip
    rec = c4_record(c4_paths(tmp_path, aligned(3)), cfg)  # n = 3: nothing detectable
    assert rec["numbers"]["power_rho_detectable"] is None and "fewer than 4" in rec["numbers"]["power"]


def test_c5_power_beside_an_unresolved_accuracy(tmp_path, quick_config):
    """Paired differences −0.02, 0.01, −0.005 (mean −0.005, sd 0.015): 2 SE = 0.0173; the mean sits
    0.005 above −tol, so (2·0.015/0.005)² = 36 -> 37 seeds would decide. One seed: binomial SE at n_test."""
    rec = c5_record(tmp_path, quick_config, {"digits": {"diffs": [-0.02, 0.01, -0.005]}})
    assert rec["verdict"] == "inconclusive"
    assert rec["numbers"]["power_accuracy_resolvable"] == {"digits": pytest.approx(2 * 0.015 / math.sqrt(3), abs=1e-4)}
    assert rec["numbers"]["power_seeds_needed"] == 37 and "Power: " in rec["explanation"]
    rec = c5_record(tmp_path, quick_config, {"digits": {"diffs": [-0.02]}})
    binomial = math.sqrt(2 * 0.75 * 0.25 / 1024)  # baseline accuracy 0.75, n_test 1024
    assert rec["numbers"]["power_accuracy_resolvable"] == {"digits": pytest.approx(2 * binomial, abs=1e-4)}
    assert rec["numbers"]["power_seeds_needed"] == math.floor((2 * binomial / 0.01) ** 2) + 1


def test_claims_table_shows_power_for_non_supported_verdicts(tmp_path):
    import json

    from contlaws.report import write_claims_table

    paths = []
    for claim, verdict in (("C1", "supported"), ("C2", "inconclusive"), ("C4", "not supported")):
        path = tmp_path / f"{claim}.json"
        numbers = {"x": 1.0, "power": f"power line of {claim}"}
        path.write_text(json.dumps({"claim": claim, "statement": "s", "verdict": verdict, "numbers": numbers}))
        paths.append(path)
    md = write_claims_table(paths, tmp_path / "claims.csv", tmp_path / "claims.md")
    import pandas as pd

    table = pd.read_csv(tmp_path / "claims.csv", comment="#", keep_default_na=False)
    assert table["power"].tolist() == ["", "power line of C2", "power line of C4"]  # none beside "supported"
    assert md.splitlines()[0] == "| claim | statement | verdict | numbers | power |"
    assert md.splitlines()[3].endswith("| power line of C2 |") and md.splitlines()[2].endswith("|  |")


def test_c1_power_beside_a_failing_exponent(tmp_path, quick_config):
    """S4D exponents 0.4, 0.9, 0.85 over seeds (mean 0.717 > 0.5): (c) not supported; 2 SE of the
    exponent = 0.318 > 0.217, so (2·sd/0.217)² = 6.46 -> 7 seeds would resolve it."""
    from test_claim_boundaries import c1_record

    q = [0.4, 0.9, 0.85]
    rec = c1_record(tmp_path, quick_config, exponents=q,
                    continuity={ONE_PAIR: {"orders": [1.0] * 3}})  # fmt: skip
    assert rec["numbers"]["part_c_amplitude"] == "not supported"
    se = np.std(q, ddof=1) / math.sqrt(3)
    assert rec["numbers"]["power_c_exponent_resolvable"] == pytest.approx(2 * se, abs=1e-4)
    assert rec["numbers"]["power_c_seeds_needed"] == math.floor((2 * se * math.sqrt(3) / (np.mean(q) - 0.5)) ** 2) + 1 == 7
    assert "Power: (c) the seeds resolve an exponent distance from 0.5" in rec["explanation"]
    rec = c1_record(tmp_path, quick_config)
    assert rec["verdict"] == "supported" and "power" not in rec["numbers"]
