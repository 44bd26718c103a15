"""Shared statistics: the standard error against scipy's, and its edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from contlaws.stats import mean_and_stderr


def test_mean_and_stderr_matches_scipy():
    values = np.random.default_rng(0).normal(size=7)
    mean, se = mean_and_stderr(values)
    assert mean == pytest.approx(values.mean()) and se == pytest.approx(stats.sem(values))


def test_one_value_has_no_spread_and_none_has_no_mean():
    assert mean_and_stderr([0.3])[0] == 0.3 and math.isnan(mean_and_stderr([0.3])[1])
    assert all(math.isnan(v) for v in mean_and_stderr([]))
