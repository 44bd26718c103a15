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
