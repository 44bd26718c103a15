"""Shared statistics: the standard error against scipy's, Spearman's ρ and its p-values against
independent references, the critical values and the two-level bootstrap."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from contlaws.stats import bootstrap_rho, critical_rho, mean_and_stderr, spearman


def test_mean_and_stderr_matches_scipy():
    values = np.random.default_rng(0).normal(size=7)
    mean, se = mean_and_stderr(values)
    assert mean == pytest.approx(values.mean()) and se == pytest.approx(stats.sem(values))


def test_one_value_has_no_spread_and_none_has_no_mean():
    assert mean_and_stderr([0.3])[0] == 0.3 and math.isnan(mean_and_stderr([0.3])[1])
    assert all(math.isnan(v) for v in mean_and_stderr([]))


# ---------------------------------------------------------------------------------------------
# Spearman statistics
# ---------------------------------------------------------------------------------------------
def test_spearman_rho_matches_scipy_with_ties():
    rng = np.random.default_rng(0)
    for n in (5, 8, 30):
        x = rng.integers(0, 4, n).astype(float)  # many ties
        y = x + rng.normal(0, 1.0, n)
        assert spearman(x, y)["rho"] == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)


@pytest.mark.parametrize("n", [4, 6, 7])
def test_exact_p_values_match_a_full_permutation_test(n):
    rng = np.random.default_rng(n)
    x, y = rng.normal(size=n), rng.normal(size=n)
    y[0] = y[1]  # a tie in y

    # Independent of scipy's permutation_test (which spearman uses): every one of the n! re-pairings.
    rho = stats.spearmanr(x, y).statistic
    null = np.array([stats.spearmanr(x, y[list(p)]).statistic for p in itertools.permutations(range(n))])
    p_greater, p_less = np.mean(null >= rho - 1e-12), np.mean(null <= rho + 1e-12)
    ours = spearman(x, y)
    assert ours["method"] == f"exact ({math.factorial(n)} permutations)"
    assert ours["p_greater"] == pytest.approx(p_greater, abs=1e-12)
    assert ours["p_two_sided"] == pytest.approx(min(1.0, 2 * min(p_greater, p_less)), abs=1e-12)


def test_large_n_uses_the_t_approximation_and_drops_nan_pairs():
    rng = np.random.default_rng(1)
    x = rng.normal(size=40)
    y = x + rng.normal(size=40)
    y[3] = np.nan
    ours = spearman(x, y)
    keep = np.isfinite(y)
    assert ours["n"] == 39 and ours["method"] == "t approximation"
    assert ours["p_greater"] == pytest.approx(stats.spearmanr(x[keep], y[keep], alternative="greater").pvalue)
    assert np.isnan(spearman([1, 2], [3, 4])["rho"]) and np.isnan(spearman([1, 1, 1, 1], [1, 2, 3, 4])["rho"])


def test_critical_rho_matches_published_table():
    # One-sided alpha = 0.05 critical values of Spearman's rho (exact; e.g. Zar, Biostatistical Analysis, Table B.20).
    for n, value in ((5, 0.900), (6, 0.829), (7, 0.714), (8, 0.643)):
        assert critical_rho(n, 0.05) == pytest.approx(value, abs=6e-4)
    assert np.isnan(critical_rho(3, 0.05))  # 1/3! > 0.05: no value is significant
    # For n > 8 the t approximation: its p-value at the critical value is alpha.
    n, c = 20, critical_rho(20, 0.05)
    t = c * np.sqrt((n - 2) / (1 - c * c))
    assert stats.t.sf(t, n - 2) == pytest.approx(0.05, abs=1e-9)


def test_bootstrap_rho_is_seeded_and_brackets_rho():
    tc = np.linspace(0.5, 0.99, 12)
    advantages = [np.array([t, t + 0.01, t - 0.01]) for t in tc]  # perfectly ordered, tiny seed noise
    boot = bootstrap_rho(tc, advantages, 300, seed=3)
    assert np.array_equal(boot, bootstrap_rho(tc, advantages, 300, seed=3)) and 250 < len(boot) <= 300
    assert np.quantile(boot, 0.05) > 0.9  # seed noise far below the spacing: every replicate stays ordered
    noisy = [np.array([0.0, 1.0, -1.0]) + 0.01 * t for t in tc]  # seed noise swamps the trend
    wide = bootstrap_rho(tc, noisy, 300, seed=3)
    assert np.quantile(wide, 0.05) < 0 < np.quantile(wide, 0.95)
