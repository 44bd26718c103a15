"""E1 numerical refinement: HiPPO-LegS, RK4 reference and discretizations against independent
solutions (closed forms, solve_ivp, per-step loops), convergence orders, CLI outputs and bytes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import scipy.integrate
import scipy.linalg
import yaml

from contlaws.config import load_config
from contlaws.errors import ConfigError, DataFileError
from contlaws.experiments import refinement_numerical as e1
from contlaws.plots.refinement_numerical import write_outputs

# A small run where the asymptotic regime holds: τ from 2^-9 to 2^-5, reference step 2^-11.
SMALL = {
    "n_systems": 3, "state_size": 8, "n_chebyshev": 20, "amplitude_log2": [0, 2.5, 5],
    "tau_log2": [-9, -8, -7, -6, -5], "reference_log2_step": -11,
}
SEED = 37


def constant_input_systems(n_systems: int = 2, state_size: int = 6, seed: int = 0) -> e1.Systems:
    """Random systems whose input is the constant 4·a·c_0 (all Chebyshev modes but c_0 zeroed)."""
    sy = e1.draw_systems(n_systems, state_size, 4, seed)
    cheb = np.zeros_like(sy.cheb)
    cheb[:, 0] = 0.5 + np.abs(sy.cheb[:, 0])  # away from zero so S6 sees a real input
    return dataclasses.replace(sy, cheb=cheb)


def phi1(a: np.ndarray, s: float, v: np.ndarray) -> np.ndarray:
    """A⁻¹(e^{sA} − I)v through the eigendecomposition A = V Λ V⁻¹ (distinct eigenvalues), with
    expm1(λs)/λ per eigenvalue: an independent route to the ZOH forcing, accurate for small s."""
    lam, vec = np.linalg.eig(a)
    return (vec @ (np.expm1(lam * s) / lam * np.linalg.solve(vec, v))).real


def constant_input_solution(sy: e1.Systems, amplitudes: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
    """Closed forms for a constant input v: S4 x(t) = A⁻¹(e^{0.01tA} − I)B v;
    S6 x(t) = A⁻¹(e^{δ(v)tA} − I)B v², y = v Cᵀx. Returns (S, Na, T) outputs."""
    out = {"s4": np.zeros((sy.n_systems, len(amplitudes), len(t))), "s6": np.zeros((sy.n_systems, len(amplitudes), len(t)))}
    for s in range(sy.n_systems):
        for i, amp in enumerate(amplitudes):
            v = 4.0 * amp * sy.cheb[s, 0]
            delta = np.log1p(np.exp(sy.w_delta[s] * v + e1.B_DELTA))
            for j, tj in enumerate(t):
                out["s4"][s, i, j] = sy.c[s] @ phi1(sy.a, 0.01 * tj, sy.b[s] * v)
                out["s6"][s, i, j] = v * (sy.c[s] @ phi1(sy.a, delta * tj, sy.b[s] * v * v))
    return out


def test_phi1_matches_the_spec_formula():
    a = e1.hippo_legs(8)
    v = np.random.default_rng(0).standard_normal(8)
    for s in (0.3, 2.0, 20.0):  # steps where A⁻¹(e^{sA} − I) does not cancel
        want = np.linalg.solve(a, (scipy.linalg.expm(s * a) - np.eye(8)) @ v)
        np.testing.assert_allclose(phi1(a, s, v), want, rtol=1e-9, atol=1e-12)
        _, got = e1.zoh_pair(a, np.array(s), v)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    for s in (1e-4, 1e-7, 1e-10):  # where it does: the block-exponential route stays accurate
        _, got = e1.zoh_pair(a, np.array(s), v)
        np.testing.assert_allclose(got, phi1(a, s, v), rtol=1e-9)


@pytest.fixture(scope="module")
def small_errors() -> pd.DataFrame:
    return e1.run_experiment(SMALL, SEED, progress=False)


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------
def test_hippo_legs_matches_formula():
    n = 8
    a = e1.hippo_legs(n)
    for i in range(n):
        for k in range(n):
            want = -(i + 1) if i == k else (-np.sqrt(2 * i + 1) * np.sqrt(2 * k + 1) if i > k else 0.0)
            assert a[i, k] == pytest.approx(want, rel=1e-14, abs=0)
    np.testing.assert_allclose(np.sort(np.linalg.eigvals(a).real), -np.arange(n, 0, -1.0), rtol=1e-8)


def test_selectivity_and_systems():
    assert e1.selective_step(np.zeros(3), np.array([0.3, -2.0, 5.0])) == pytest.approx(0.01, rel=1e-12)
    assert e1.softplus(np.array([e1.inverse_softplus(0.25)]))[0] == pytest.approx(0.25, rel=1e-12)
    # Drawing more systems leaves the first ones unchanged; B, C have variance 1/N.
    few, many = e1.draw_systems(3, 8, 20, 5), e1.draw_systems(400, 8, 20, 5)
    for name in ("b", "c", "w_delta", "cheb"):
        np.testing.assert_array_equal(getattr(few, name), getattr(many, name)[:3])
    assert many.b.var() == pytest.approx(1 / 8, rel=0.1) and many.c.var() == pytest.approx(1 / 8, rel=0.1)


def test_chebyshev_input_matches_cosine_form():
    sy = e1.draw_systems(2, 4, 20, 1)
    t = np.linspace(0, 1, 33)
    amps = np.array([1.0, 8.0])
    u = e1.chebyshev_input(t, sy, amps)  # (T S Na)
    theta = np.arccos(2 * t - 1)
    for s in range(2):
        shape = sy.cheb[s, 0] + sum(sy.cheb[s, k] * np.cos(k * theta) for k in range(1, 21))
        for i, amp in enumerate(amps):
            np.testing.assert_allclose(u[:, s, i], 4 * amp * shape, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# RK4 reference against independent solutions
# ---------------------------------------------------------------------------------------------
def test_rk4_reference_matches_closed_form_for_constant_input():
    sy = constant_input_systems()
    amps = np.array([1.0, 4.0])
    ref = e1.rk4_reference(sy, amps, -8, record_every=16, progress=False)
    exact = constant_input_solution(sy, amps, np.arange(17) / 16)
    for model in e1.MODELS:
        assert ref[model][..., 0] == pytest.approx(0.0)  # y(0) = 0
        np.testing.assert_allclose(ref[model], exact[model], rtol=1e-8, atol=1e-10 * np.abs(exact[model]).max())


def test_rk4_reference_matches_solve_ivp_for_chebyshev_input():
    """Both models with the full polynomial input, against an adaptive high-order solver."""
    sy = e1.draw_systems(2, 8, 20, 3)
    amps = np.array([1.0, 8.0])
    ref = e1.rk4_reference(sy, amps, -12, record_every=64, progress=False)
    t_eval = np.arange(65) / 64
    for s in range(sy.n_systems):
        poly = np.polynomial.Chebyshev(sy.cheb[s], domain=[0, 1])
        for i, amp in enumerate(amps):
            def u(t, amp=amp, poly=poly):
                return 4 * amp * poly(t)

            def rhs(t, x, s=s, u=u):
                v = u(t)
                delta = np.logaddexp(0, sy.w_delta[s] * v + e1.B_DELTA)
                return np.concatenate([0.01 * (sy.a @ x[:8] + sy.b[s] * v), delta * (sy.a @ x[8:] + sy.b[s] * v * v)])

            sol = scipy.integrate.solve_ivp(rhs, (0, 1), np.zeros(16), method="DOP853", t_eval=t_eval,
                                            rtol=1e-12, atol=1e-14)
            y4 = sy.c[s] @ sol.y[:8]
            y6 = u(t_eval) * (sy.c[s] @ sol.y[8:])
            np.testing.assert_allclose(ref["s4"][s, i], y4, rtol=0, atol=1e-9 * np.abs(y4).max())
            np.testing.assert_allclose(ref["s6"][s, i], y6, rtol=0, atol=1e-6 * np.abs(y6).max())


# ---------------------------------------------------------------------------------------------
# Discretizations against independent references
# ---------------------------------------------------------------------------------------------
def test_zoh_is_exact_for_constant_input():
    """ZOH integrates a held constant input exactly: S4 and S6 hit the closed form at every grid point."""
    sy = constant_input_systems()
    amps = np.array([1.0, 4.0])
    exact = constant_input_solution(sy, amps, np.arange(33) / 32)
    for model in e1.MODELS:
        y = e1.simulate_discrete(sy, amps, 1 / 32, model, "zoh")
        np.testing.assert_allclose(y, exact[model], rtol=1e-9, atol=1e-12 * np.abs(exact[model]).max())


@pytest.mark.parametrize("model", e1.MODELS)
@pytest.mark.parametrize("method", e1.DISCRETIZATIONS)
def test_batched_discretization_matches_sequential_loop(model, method):
    """The batched code against the spec's formulas applied one step at a time (one system, one a)."""
    sy = e1.draw_systems(2, 8, 20, 11)
    amps = np.array([0.5, 16.0])
    tau = 1 / 16
    y = e1.simulate_discrete(sy, amps, tau, model, method)
    a, eye = sy.a, np.eye(8)
    t = np.arange(17) * tau
    for s in range(2):
        poly = np.polynomial.Chebyshev(sy.cheb[s], domain=[0, 1])
        for i, amp in enumerate(amps):
            x = np.zeros(8)
            ys = []
            for tk in t:
                uk = 4 * amp * poly(tk)
                ys.append(sy.c[s] @ x * (uk if model == "s6" else 1.0))
                step = tau * (0.01 if model == "s4" else np.log1p(np.exp(sy.w_delta[s] * uk + e1.B_DELTA)))
                drive = sy.b[s] * (uk if model == "s4" else uk * uk)
                if method == "zoh":
                    x = scipy.linalg.expm(step * a) @ x + phi1(a, step, drive)
                else:
                    lhs = eye - 0.5 * step * a
                    x = np.linalg.solve(lhs, (eye + 0.5 * step * a) @ x + step * drive)
            np.testing.assert_allclose(y[s, i], ys, rtol=1e-9, atol=1e-12 * np.abs(ys).max())


def test_relative_errors():
    ref = np.array([[0.0, 2.0, -4.0]])
    y = np.array([[0.0, 3.0, -4.0]])
    rel_max, rel_rmse = e1.relative_errors(y, ref)
    assert rel_max[0] == pytest.approx(0.25)
    assert rel_rmse[0] == pytest.approx(np.sqrt(1 / 20))


# ---------------------------------------------------------------------------------------------
# The experiment: orders and the S4/S6 contrast
# ---------------------------------------------------------------------------------------------
def test_convergence_order_fit_recovers_power_law():
    taus = 2.0 ** np.arange(-8, -2)
    rows = [
        {"system": s, "amplitude": 1.0, "amplitude_log2": 0.0, "tau": t, "tau_log2": np.log2(t), "model": "s4",
         "discretization": "zoh", "rel_max_error": (1 + s) * 3 * t**1.5, "rel_rmse": (1 + s) * t**0.7}
        for s in range(3) for t in taus
    ]
    orders = e1.convergence_orders(pd.DataFrame(rows))
    assert list(orders.columns) == ["model", "discretization", "amplitude", "order_max_error", "order_rmse"]
    assert orders["order_max_error"].iloc[0] == pytest.approx(1.5, abs=1e-9)
    assert orders["order_rmse"].iloc[0] == pytest.approx(0.7, abs=1e-9)


def test_table_layout(small_errors):
    assert list(small_errors.columns) == [
        "system", "amplitude", "amplitude_log2", "tau", "tau_log2", "model", "discretization", "rel_max_error", "rel_rmse",
    ]
    assert len(small_errors) == 3 * 3 * 5 * 2 * 2
    assert np.isfinite(small_errors[["rel_max_error", "rel_rmse"]].to_numpy()).all()
    np.testing.assert_allclose(small_errors["tau"], 2.0 ** small_errors["tau_log2"])


def test_s4_orders_at_every_amplitude(small_errors):
    """S4 with the input held at the left end point is first order, for ZOH and bilinear alike: the
    held input (a left Riemann sum of the forcing) dominates the error of the slow 0.01·A dynamics."""
    orders = e1.convergence_orders(small_errors)
    s4 = orders[orders["model"] == "s4"]
    assert len(s4) == 2 * 3
    for col in ("order_max_error", "order_rmse"):
        assert np.all(np.abs(s4[col] - 1.0) < 0.15), s4


def test_s4_bilinear_is_second_order_when_the_input_is_not_held_at_the_left():
    """With the step's input averaged over both end points, bilinear S4 is the trapezoidal rule."""
    errors = e1.run_experiment(SMALL, SEED, hold="average", progress=False)
    orders = e1.convergence_orders(errors)
    bil = orders[(orders["model"] == "s4") & (orders["discretization"] == "bilinear")]
    assert len(bil) == 3
    for col in ("order_max_error", "order_rmse"):
        assert np.all(np.abs(bil[col] - 2.0) < 0.3), bil


def test_s4_is_amplitude_independent_and_s6_is_not(small_errors):
    mean = small_errors.groupby(["model", "discretization", "amplitude_log2", "tau_log2"])["rel_max_error"].mean()
    for method in e1.DISCRETIZATIONS:
        s4, s6 = mean["s4", method], mean["s6", method]
        # S4 is linear, so relative errors do not depend on the amplitude.
        np.testing.assert_allclose(s4[0.0].to_numpy(), s4[5.0].to_numpy(), rtol=1e-6)
        # S6 at the largest amplitude is worse than S4 at every τ, and worse than S6 at a = 1.
        assert np.all(s6[5.0].to_numpy() > s4[5.0].to_numpy())
        assert np.all(s6[5.0].to_numpy() > 2 * s6[0.0].to_numpy())


def test_amplitude_ratio_per_system_with_median_and_range(small_errors):
    """The S6 amplitude ratio is reported per system (it depends on the draw), with its median and range."""
    ratios = e1.amplitude_ratios(small_errors)
    a_min, a_max = small_errors["amplitude"].min(), small_errors["amplitude"].max()
    tau = small_errors["tau"].min()
    for system in small_errors["system"].unique():
        sel = (small_errors["model"] == "s6") & (small_errors["discretization"] == "zoh") & (small_errors["tau"] == tau)
        rows = small_errors[sel & (small_errors["system"] == system)].set_index("amplitude")["rel_max_error"]
        got = ratios[(ratios["model"] == "s6") & (ratios["discretization"] == "zoh") & (ratios["system"] == system)
                     & (ratios["tau"] == tau)]["ratio"].iloc[0]  # fmt: skip
        assert got == pytest.approx(rows[a_max] / rows[a_min])
    summary = e1.amplitude_ratio_summary(ratios)
    row = summary[(summary["model"] == "s6") & (summary["discretization"] == "zoh") & (summary["tau"] == tau)].iloc[0]
    per_system = ratios[(ratios["model"] == "s6") & (ratios["discretization"] == "zoh") & (ratios["tau"] == tau)]["ratio"]
    assert row["median"] == pytest.approx(per_system.median()) and row["min"] == per_system.min()
    assert row["max"] == per_system.max() and row["n_systems"] == small_errors["system"].nunique()
    s4 = ratios[ratios["model"] == "s4"]["ratio"]
    np.testing.assert_allclose(s4, 1.0, rtol=1e-6)  # linear S4: no amplitude dependence on any system


def test_grid_validation_names_the_key():
    with pytest.raises(ConfigError, match=r"refinement_numerical\.tau_log2\[1\]"):
        e1.check_grids([-5, -4.5], -10)
    with pytest.raises(ConfigError, match="reference_log2_step"):
        e1.check_grids([-5, -12], -10)


# ---------------------------------------------------------------------------------------------
# Command-line outputs
# ---------------------------------------------------------------------------------------------
@pytest.fixture()
def small_config(tmp_path, repo_root):
    cfg = yaml.safe_load((repo_root / "config" / "quick.yaml").read_text())
    cfg["refinement_numerical"] = {**SMALL, "n_systems": 2, "tau_log2": [-7, -6, -5, -4], "reference_log2_step": -9}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_compute_is_deterministic_and_plot_writes_outputs(tmp_path, small_config):
    paths = [tmp_path / "a" / "errors.csv", tmp_path / "b" / "errors.csv"]
    for path in paths:
        e1.write_errors(load_config(small_config), path)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    meta = yaml.safe_load((tmp_path / "a" / "errors.csv.meta.json").read_text())
    assert meta["seed"] == SEED and meta["config"]["refinement_numerical"]["n_systems"] == 2

    out = tmp_path / "plot"
    write_outputs(paths[0], out / "fig", out / "orders.csv", out / "orders.tex", out / "ratios.csv", "rel_max_error")
    for name in ("fig.pdf", "fig.png", "orders.csv", "orders.csv.meta.json", "orders.tex", "ratios.csv"):
        assert (out / name).stat().st_size > 0, name
    orders = pd.read_csv(out / "orders.csv")
    assert len(orders) == 2 * 2 * 3
    assert "\\begin{tabular}" in (out / "orders.tex").read_text()
    ratios = pd.read_csv(out / "ratios.csv")
    assert len(ratios) == 2 * 2 * 2  # model x discretization x system, at the finest tau
    assert {"ratio", "median", "min", "max", "n_systems"} <= set(ratios.columns)


def test_plot_rejects_a_wrong_table(tmp_path):
    from contlaws.plots.refinement_numerical import read_errors

    bad = tmp_path / "bad.csv"
    bad.write_text("system,tau\n0,0.5\n")
    with pytest.raises(DataFileError, match="bad.csv.*lacks column"):
        read_errors(bad)
    with pytest.raises(DataFileError, match="absent.csv"):
        read_errors(tmp_path / "absent.csv")
    from contlaws.plots.refinement_numerical import REQUIRED_COLUMNS

    values = {c: "0.5" for c in REQUIRED_COLUMNS} | {"model": "s4", "discretization": "zoh"}
    rows = [values, values | {"discretization": "euler"}]  # the second data row (line 3) is wrong
    unknown = tmp_path / "unknown.csv"
    header = dict(zip(REQUIRED_COLUMNS, REQUIRED_COLUMNS))
    unknown.write_text("\n".join(",".join(row[c] for c in REQUIRED_COLUMNS) for row in [header, *rows]) + "\n")
    with pytest.raises(DataFileError, match=r"unknown.csv.*unknown discretization 'euler' in row 3"):
        read_errors(unknown)
    unknown.write_text("\n".join(",".join(row[c] for c in REQUIRED_COLUMNS) for row in [header, rows[0]]) + "\n")
    assert len(read_errors(unknown)) == 1
