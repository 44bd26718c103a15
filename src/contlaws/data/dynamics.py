"""The four dynamical systems of the E2/E3 datasets and a vectorized integrator for them.

Each system is a frozen dataclass whose defaults are the authors' settings for the E2 regression
sets (spec E2 table); :data:`FORECASTING_SETTINGS` overrides the few values the authors used for the
E3 forecasting sets. This file is the one place where system parameters live.

Code names -> paper symbols:

    mu              μ       Van der Pol nonlinearity (label)
    alpha, beta     α, β    Duffing linear and cubic stiffness
    damping         d       Duffing damping
    omega (Duffing) ω       Duffing forcing frequency
    gamma           γ       Duffing forcing amplitude (label)
    omega, zeta     ω, ζ    damped oscillator natural frequency and damping ratio (labels)
    theta, sigma    θ, σ    Ornstein–Uhlenbeck mean reversion (label) and noise level
    dt              δ       integration step (a refined set uses δ = base_dt · τ)
    burn_in         -       physical time simulated and discarded before the recorded window

Shapes: n trajectories, d state components ((x, v), or x for OU), T recorded states. The public
arrays are (n, ...); inside :func:`simulate` the state is (d, n) so each component is contiguous.
Ranges are ``(lo, hi)`` and mean U[lo, hi]; ``lo == hi`` is a fixed value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np
from tqdm import tqdm

SYSTEMS = ("vdp", "duffing", "dho", "ou")
Range = tuple[float, float]
# Show a progress bar when trajectories x steps exceeds this (a few seconds of work).
PROGRESS_MIN_WORK = 20_000_000


def uniform(rng: np.random.Generator, bounds: Range, n: int) -> np.ndarray:
    """n draws from U[lo, hi] (always consumes n draws, so streams stay aligned). Returns (n,)."""
    lo, hi = bounds
    return rng.uniform(lo, hi, size=n)


# ---------------------------------------------------------------------------------------------
# Systems
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DynamicalSystem:
    """Settings shared by every system (the subclasses add their own parameters).

    Attributes:
        burn_in: physical time simulated and discarded before the recorded window (its step count
            is ``round(burn_in / dt)``, so it scales with 1/τ on a refined grid).
        max_offset: extra per-trajectory burn-in, a uniform whole number of steps in
            ``0 .. round(max_offset / dt)`` (the authors' random window offset).
        noise_std: additive Gaussian observation noise on x (regression input only).

    Which systems' regression inputs are z-normalized is a config choice, ``regression.z_normalize``.
    """

    burn_in: float = 0.0
    max_offset: float = 0.0
    noise_std: float = 0.0

    name: ClassVar[str] = ""
    state_names: ClassVar[tuple[str, ...]] = ("x", "v")
    label_names: ClassVar[tuple[str, ...]] = ()
    stochastic: ClassVar[bool] = False

    @property
    def state_dim(self) -> int:
        return len(self.state_names)

    def draw(self, rng: np.random.Generator, n: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Parameters and initial states of n trajectories. Returns (params {name: (n,)}, y0 (n, d))."""
        raise NotImplementedError

    def field(self, t: float, y: np.ndarray, p: dict[str, np.ndarray]) -> np.ndarray:
        """Drift f(t, y) of y' = f(t, y); y is (d, n), returns (d, n)."""
        raise NotImplementedError

    def diffusion(self, p: dict[str, np.ndarray]) -> np.ndarray:
        """Noise amplitude g of dy = f dt + g dW (stochastic systems only); broadcasts with (d, n)."""
        raise NotImplementedError

    def labels(self, p: dict[str, np.ndarray]) -> np.ndarray:
        """Regression targets, (n, len(label_names))."""
        return np.stack([p[k] for k in self.label_names], axis=1)

    def settings(self) -> dict:
        """All parameters as a plain dict (for dataset metadata)."""
        return {"system": self.name, **asdict(self)}


@dataclass(frozen=True)
class VanDerPol(DynamicalSystem):
    """Van der Pol: x'' − μ(1 − x²)x' + x = 0, state (x, v = x'), label μ."""

    mu: Range = (0.2, 2.0)
    x0: Range = (1.0, 1.0)
    v0: Range = (0.0, 0.0)
    burn_in: float = 20.0

    name: ClassVar[str] = "vdp"
    label_names: ClassVar[tuple[str, ...]] = ("mu",)

    def draw(self, rng, n):
        params = {"mu": uniform(rng, self.mu, n)}
        y0 = np.stack([uniform(rng, self.x0, n), uniform(rng, self.v0, n)], axis=1)  # (n 2)
        return params, y0

    def field(self, t, y, p):
        x, v = y
        return np.array((v, p["mu"] * (1.0 - x * x) * v - x))


@dataclass(frozen=True)
class Duffing(DynamicalSystem):
    """Forced Duffing: x'' + d x' + αx + βx³ = γ cos(ωt), state (x, v), label γ.

    Time t starts at 0 at the first burn-in step, so the forcing phase is part of the trajectory.
    """

    alpha: float = -1.0
    beta: float = 1.0
    damping: float = 0.10
    omega: float = 1.2
    gamma: Range = (0.4, 0.8)
    x0: Range = (-1.0, 1.0)
    v0: Range = (-1.0, 1.0)

    name: ClassVar[str] = "duffing"
    label_names: ClassVar[tuple[str, ...]] = ("gamma",)

    def draw(self, rng, n):
        params = {"gamma": uniform(rng, self.gamma, n)}
        y0 = np.stack([uniform(rng, self.x0, n), uniform(rng, self.v0, n)], axis=1)  # (n 2)
        return params, y0

    def field(self, t, y, p):
        x, v = y
        forcing = p["gamma"] * np.cos(self.omega * t)
        return np.array((v, forcing - self.damping * v - self.alpha * x - self.beta * (x * x * x)))


@dataclass(frozen=True)
class DampedOscillator(DynamicalSystem):
    """Damped harmonic oscillator: x'' + 2ζωx' + ω²x = 0, state (x, v), labels (ω, ζ)."""

    omega: Range = (0.5, 2.0)
    zeta: Range = (0.05, 0.2)
    x0: Range = (1.0, 1.0)
    v0: Range = (0.0, 0.0)
    noise_std: float = 0.01

    name: ClassVar[str] = "dho"
    label_names: ClassVar[tuple[str, ...]] = ("omega", "zeta")

    def draw(self, rng, n):
        params = {"omega": uniform(rng, self.omega, n), "zeta": uniform(rng, self.zeta, n)}
        y0 = np.stack([uniform(rng, self.x0, n), uniform(rng, self.v0, n)], axis=1)  # (n 2)
        return params, y0

    def field(self, t, y, p):
        x, v = y
        omega = p["omega"]
        return np.array((v, -2.0 * p["zeta"] * omega * v - omega * omega * x))


@dataclass(frozen=True)
class OrnsteinUhlenbeck(DynamicalSystem):
    """Ornstein–Uhlenbeck: dX = −θX dt + σ dW (Euler–Maruyama), state x, label θ.

    ``x0_law``: ``uniform`` draws x0 from the ``x0`` range, ``stationary`` from N(0, σ²/(2θ)).
    """

    theta: Range = (0.5, 2.0)
    sigma: Range = (0.01, 0.01)
    x0: Range = (-1.0, 1.0)
    x0_law: str = "uniform"

    name: ClassVar[str] = "ou"
    state_names: ClassVar[tuple[str, ...]] = ("x",)
    label_names: ClassVar[tuple[str, ...]] = ("theta",)
    stochastic: ClassVar[bool] = True

    def draw(self, rng, n):
        params = {"theta": uniform(rng, self.theta, n), "sigma": uniform(rng, self.sigma, n)}
        if self.x0_law == "uniform":
            x0 = uniform(rng, self.x0, n)
        elif self.x0_law == "stationary":
            x0 = np.sqrt(params["sigma"] ** 2 / (2.0 * params["theta"])) * rng.standard_normal(n)
        else:
            raise ValueError(f"OrnsteinUhlenbeck.x0_law must be 'uniform' or 'stationary', got {self.x0_law!r}")
        return params, x0[:, None]  # (n 1)

    def field(self, t, y, p):
        return -p["theta"] * y

    def diffusion(self, p):
        return p["sigma"]


# E2 (regression, paper Figure 4): the dataclass defaults, i.e. the authors' commands in their README.
REGRESSION_SETTINGS: dict[str, DynamicalSystem] = {
    "vdp": VanDerPol(),
    "duffing": Duffing(),
    "dho": DampedOscillator(),
    "ou": OrnsteinUhlenbeck(),
}

# E3 (forecasting, paper Figure 5 left): the authors' script defaults. Duffing's 5000 burn-in steps
# and 0..1000-step window offset at their step 0.01 are kept as physical time (50 and 10 units).
# Observation noise concerns the regression input only and is off here (as is z-normalization, a
# regression setting: regression.z_normalize).
FORECASTING_SETTINGS: dict[str, DynamicalSystem] = {
    "vdp": VanDerPol(mu=(0.1, 5.0), x0=(-2.0, 2.0), v0=(-2.0, 2.0), burn_in=0.0),
    "duffing": Duffing(gamma=(0.2, 0.4), damping=0.2, burn_in=50.0, max_offset=10.0),
    "dho": DampedOscillator(
        omega=(0.5, 3.0), zeta=(0.02, 0.4), x0=(-2.0, 2.0), v0=(-2.0, 2.0), noise_std=0.0
    ),
    "ou": OrnsteinUhlenbeck(theta=(0.2, 2.0), sigma=(0.1, 1.0), x0_law="stationary"),
}


def get_system(name: str, task: str = "regression") -> DynamicalSystem:
    """The settings of system ``name`` for ``task`` ("regression" or "forecasting")."""
    table = {"regression": REGRESSION_SETTINGS, "forecasting": FORECASTING_SETTINGS}[task]
    if name not in table:
        raise ValueError(f"unknown system {name!r}; choose one of {', '.join(SYSTEMS)}")
    return table[name]


# ---------------------------------------------------------------------------------------------
# Integrators (one step each; y is (d, n))
# ---------------------------------------------------------------------------------------------
def rk4_step(system: DynamicalSystem, t: float, y: np.ndarray, h: float, p: dict) -> np.ndarray:
    """Classical fourth-order Runge–Kutta step of y' = f(t, y) from t to t + h."""
    k1 = system.field(t, y, p)
    k2 = system.field(t + 0.5 * h, y + (0.5 * h) * k1, p)
    k3 = system.field(t + 0.5 * h, y + (0.5 * h) * k2, p)
    k4 = system.field(t + h, y + h * k3, p)
    return y + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def euler_maruyama_step(
    system: DynamicalSystem, t: float, y: np.ndarray, h: float, p: dict, xi: np.ndarray
) -> np.ndarray:
    """Euler–Maruyama step of dy = f dt + g dW with Brownian increment dW = sqrt(h)·ξ, ξ ~ N(0, 1)."""
    return y + h * system.field(t, y, p) + system.diffusion(p) * (np.sqrt(h) * xi)


def simulate(
    system: DynamicalSystem,
    params: dict[str, np.ndarray],
    y0: np.ndarray,
    dt: float,
    n_record: int,
    *,
    record_every: int = 1,
    start_step: int | np.ndarray = 0,
    rng: np.random.Generator | None = None,
    desc: str | None = None,
) -> np.ndarray:
    """Integrate n trajectories on the grid t_s = s·dt (RK4, or Euler–Maruyama for OU).

    The state is stored *after* steps ``start + record_every·(k + 1)``, k = 0 … n_record − 1; the
    initial state is never stored (spec E2: "state stored after each step"). ``start_step`` steps
    before the window are the burn-in; it may differ per trajectory (random window offsets).

    Args:
        system: the system and its settings.
        params: {name: (n,)} parameters from ``system.draw``.
        y0: (n, d) initial states at t = 0.
        dt: integration step δ.
        n_record: number of stored states T.
        record_every: store every r-th state (OU on a finer grid than the one recorded).
        start_step: int or (n,) ints, burn-in steps before the window.
        rng: source of the Brownian increments (stochastic systems): one ``standard_normal((d, n))``
            draw per step, in time order, so the same rng gives the same path for any n_record.
        desc: progress-bar label (a bar appears when n × steps is large).

    Returns:
        (n, n_record, d) float64 states.
    """
    # Longer than ~60 lines on purpose: one integration loop with its input checks; most of its length is the docstring.
    if system.stochastic and rng is None:
        raise ValueError(f"{system.name}: a stochastic system needs rng for its Brownian increments")
    y = np.array(y0, dtype=np.float64).T.copy()  # (d n)
    d, n = y.shape
    per_trajectory = np.ndim(start_step) > 0
    # Plain ints on the common path: numpy scalars cost microseconds per step in the loop below.
    start = np.asarray(start_step, dtype=np.int64) if per_trajectory else int(start_step)
    window = n_record * record_every  # steps inside the recorded window
    total_steps = (int(start.max()) if per_trajectory else start) + window
    out = np.empty((n_record, d, n), dtype=np.float64)  # (T d n)
    bar = tqdm(
        range(total_steps), desc=desc or system.name, unit="step", mininterval=2.0,
        disable=n * total_steps < PROGRESS_MIN_WORK,
    )
    for s in bar:
        t = s * dt  # time at the start of step s (products, not sums: no drift in t)
        if system.stochastic:
            y = euler_maruyama_step(system, t, y, dt, params, rng.standard_normal((d, n)))
        else:
            y = rk4_step(system, t, y, dt, params)
        since = s + 1 - start  # steps taken since the window opened, (n,) or scalar
        if per_trajectory:
            keep = (since > 0) & (since % record_every == 0) & (since <= window)
            if keep.any():
                out[since[keep] // record_every - 1, :, keep] = y[:, keep].T
        elif since > 0 and since % record_every == 0:
            out[since // record_every - 1] = y
    # (T d n) -> (n T d) as one 2-D transpose, which numpy copies several times faster than a 3-D one.
    return out.reshape(n_record * d, n).T.copy().reshape(n, n_record, d)
