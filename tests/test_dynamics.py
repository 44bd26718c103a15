"""Integrators of the dynamical systems against closed forms, an adaptive solver and plain loops."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from contlaws.data import dynamics
from contlaws.data.dynamics import (
    FORECASTING_SETTINGS,
    REGRESSION_SETTINGS,
    DampedOscillator,
    OrnsteinUhlenbeck,
    simulate,
)
from contlaws.data.regression import fine_grid_noise


def damped_oscillator_exact(t, omega, zeta, x0, v0):
    """Closed-form underdamped solution of x'' + 2ζωx' + ω²x = 0. t: (T,), the rest (n,). Returns (n, T, 2)."""
    a = (zeta * omega)[:, None]
    w = (omega * np.sqrt(1.0 - zeta**2))[:, None]  # damped frequency
    b = (v0[:, None] + a * x0[:, None]) / w
    decay, cos, sin = np.exp(-a * t), np.cos(w * t), np.sin(w * t)
    x = decay * (x0[:, None] * cos + b * sin)
    v = decay * (v0[:, None] * cos + (-a * b - w * x0[:, None]) * sin)
    return np.stack([x, v], axis=-1)


def test_rk4_damped_oscillator_matches_closed_form_with_fourth_order_error():
    system = DampedOscillator()
    rng = np.random.default_rng(0)
    n = 16
    params = {"omega": rng.uniform(0.5, 3.0, n), "zeta": rng.uniform(0.02, 0.4, n)}
    y0 = rng.uniform(-2, 2, (n, 2))
    errors = []
    for h in (0.1, 0.05, 0.025):
        steps = round(10.0 / h)
        states = simulate(system, params, y0, h, steps)  # (n T 2)
        t = h * np.arange(1, steps + 1)  # stored after each step
        exact = damped_oscillator_exact(t, params["omega"], params["zeta"], y0[:, 0], y0[:, 1])
        errors.append(np.abs(states - exact).max())
    assert errors[-1] < 5e-6
    for coarse, fine in itertools.pairwise(errors):
        assert 12 < coarse / fine < 20, errors  # halving h divides the error by ~2^4


@pytest.mark.parametrize("name", ["vdp", "duffing"])
def test_nonlinear_systems_match_adaptive_solver_after_burn_in(name):
    """Burn-in steps advance time too (the Duffing forcing phase), and the state is stored after each step."""
    system = FORECASTING_SETTINGS[name]
    params, y0 = system.draw(np.random.default_rng(1), 3)
    h, burn_in, n_record = 0.005, 137, 300
    states = simulate(system, params, y0, h, n_record, start_step=burn_in)
    t_eval = h * (burn_in + np.arange(1, n_record + 1))
    for i in range(3):
        p = {k: v[i : i + 1] for k, v in params.items()}
        sol = solve_ivp(
            lambda t, y, p=p: system.field(t, y[:, None], p)[:, 0],
            (0.0, t_eval[-1]), y0[i], t_eval=t_eval, method="DOP853", rtol=1e-12, atol=1e-12,
        )
        np.testing.assert_allclose(states[i], sol.y.T, atol=5e-7)  # RK4 error at h = 0.005 (mu up to 5)


def test_record_every_and_per_trajectory_starts_select_the_right_states():
    system = REGRESSION_SETTINGS["dho"]
    params, y0 = system.draw(np.random.default_rng(2), 4)
    full = simulate(system, params, y0, 0.05, 40)  # states after steps 1..40
    strided = simulate(system, params, y0, 0.05, 4, record_every=3, start_step=5)
    np.testing.assert_array_equal(strided, full[:, [7, 10, 13, 16]])  # after steps 8, 11, 14, 17
    starts = np.array([0, 3, 1, 9])
    windows = simulate(system, params, y0, 0.05, 6, start_step=starts)
    for i, s in enumerate(starts):
        np.testing.assert_array_equal(windows[i], full[i, s : s + 6])


def test_euler_maruyama_matches_a_sequential_loop_with_the_same_increments():
    system = OrnsteinUhlenbeck(sigma=(0.1, 1.0))
    params, y0 = system.draw(np.random.default_rng(3), 5)
    h, steps = 0.01, 50
    states = simulate(system, params, y0, h, steps, rng=np.random.default_rng(4))
    xi = np.random.default_rng(4).standard_normal((steps, 1, 5))  # the same draws, time-major
    for i in range(5):
        x = y0[i, 0]
        for k in range(steps):
            x = x + h * (-params["theta"][i] * x) + params["sigma"][i] * np.sqrt(h) * xi[k, 0, i]
            assert states[i, k, 0] == pytest.approx(x, rel=1e-13, abs=1e-15)


def test_ou_ensemble_mean_and_variance_match_the_exact_law():
    theta, sigma, x0, n = 1.5, 0.8, 1.0, 20000
    system = OrnsteinUhlenbeck(theta=(theta, theta), sigma=(sigma, sigma), x0=(x0, x0))
    params, y0 = system.draw(np.random.default_rng(5), n)
    h, steps = 0.002, 500  # t = 1
    x_end = simulate(system, params, y0, h, 1, record_every=steps, rng=np.random.default_rng(6))[:, 0, 0]
    mean = x0 * np.exp(-theta)
    var = sigma**2 * (1.0 - np.exp(-2.0 * theta)) / (2.0 * theta)
    assert abs(x_end.mean() - mean) < 4 * np.sqrt(var / n) + 0.01 * mean  # sampling + O(h) bias
    assert abs(x_end.var() / var - 1.0) < 4 * np.sqrt(2.0 / n) + 0.01


def test_stationary_initial_law_has_the_stationary_variance():
    system = FORECASTING_SETTINGS["ou"]
    params, y0 = system.draw(np.random.default_rng(7), 20000)
    z = y0[:, 0] / np.sqrt(params["sigma"] ** 2 / (2.0 * params["theta"]))
    assert abs(z.std() - 1.0) < 0.03 and abs(z.mean()) < 0.03


def test_fine_grid_noise_is_an_exact_subsample_of_the_finer_grid():
    fine = fine_grid_noise(np.random.default_rng(8), 3, 24, 1)
    coarse = fine_grid_noise(np.random.default_rng(8), 3, 6, 4)
    np.testing.assert_array_equal(coarse, fine[:, 3::4])


def test_every_system_has_regression_and_forecasting_settings():
    assert set(REGRESSION_SETTINGS) == set(FORECASTING_SETTINGS) == set(dynamics.SYSTEMS)
    with pytest.raises(ValueError, match="unknown system"):
        dynamics.get_system("lorenz")


# The right-hand sides against the equations as written in the spec (table of systems), at points
# computed by hand. The solver tests integrate the package's own `field`, so they check the
# integrator, not the equation; a sign error in a stiffness or damping term passes them.
def _field(system, t, state, **params):
    y = np.array(state, dtype=float)[:, None]  # (d 1): one trajectory
    return system.field(t, y, {k: np.array([v]) for k, v in params.items()})[:, 0]


def test_van_der_pol_field_is_x2_minus_mu_1_minus_x_squared_x1_plus_x():
    # x'' − μ(1 − x²)x' + x = 0 at x = 2, v = 3, μ = 0.5: v' = 0.5·(1 − 4)·3 − 2 = −6.5
    vdp = dynamics.VanDerPol()
    assert _field(vdp, 0.0, (2.0, 3.0), mu=0.5) == pytest.approx([3.0, -6.5])
    # x = 0.5, v = −1, μ = 2: v' = 2·0.75·(−1) − 0.5 = −2.0
    assert _field(vdp, 7.0, (0.5, -1.0), mu=2.0) == pytest.approx([-1.0, -2.0])


def test_duffing_field_is_the_forced_duffing_equation():
    # x'' + d x' + αx + βx³ = γ cos(ωt), α = −1, β = 1, d = 0.1, ω = 1.2
    duffing = dynamics.Duffing(alpha=-1.0, beta=1.0, damping=0.1, omega=1.2)
    # t = 0, x = 2, v = 3, γ = 0.5: v' = 0.5 − 0.3 + 2 − 8 = −5.8
    assert _field(duffing, 0.0, (2.0, 3.0), gamma=0.5) == pytest.approx([3.0, -5.8])
    # cos(ωt) = 1/2, x = −1, v = 0, γ = 0.4: v' = 0.2 − 0 − 1 + 1 = 0.2 (both stiffness signs matter)
    t = (np.pi / 3) / 1.2
    assert _field(duffing, t, (-1.0, 0.0), gamma=0.4) == pytest.approx([0.0, 0.2])
    # x = 0.5 with a positive linear stiffness α = 2, β = 0, no forcing: v' = −1
    linear = dynamics.Duffing(alpha=2.0, beta=0.0, damping=0.0, omega=1.2)
    assert _field(linear, 0.0, (0.5, 0.0), gamma=0.0) == pytest.approx([0.0, -1.0])


def test_damped_oscillator_field_is_x2_plus_2_zeta_omega_x1_plus_omega_squared_x():
    # ω = 2, ζ = 0.1, x = 1, v = 3: v' = −2·0.1·2·3 − 4·1 = −5.2
    dho = dynamics.DampedOscillator()
    assert _field(dho, 0.0, (1.0, 3.0), omega=2.0, zeta=0.1) == pytest.approx([3.0, -5.2])


def test_ornstein_uhlenbeck_drift_is_minus_theta_x_and_diffusion_sigma():
    ou = dynamics.OrnsteinUhlenbeck()
    assert _field(ou, 0.0, (2.0,), theta=1.5, sigma=0.01) == pytest.approx([-3.0])
    assert ou.diffusion({"sigma": np.array([0.01])}) == pytest.approx([0.01])
