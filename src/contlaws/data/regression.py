"""E2 parameter-regression sets: a system observed through x(t) only, sampled at refinement factor τ.

A set at τ samples the trajectory every δ = dt·τ for L = round(length/τ) steps, so every τ covers
the same physical window. Labels and initial conditions come from the same seed at every τ, so a
refined set is the same physical trajectory sampled more finely:

* ODE systems (VDP, Duffing, DHO) are integrated by RK4 on the recorded grid (step δ); the burn-in
  is physical time, round(burn_in/δ) steps. Sets at different τ agree to integration error.
* OU is stochastic, so "the same trajectory" needs the same Brownian path. The path is drawn on the
  finest grid τ_f = min(config taus, τ) and Euler–Maruyama runs on that grid; coarser sets record
  every r-th state, r = τ/τ_f. Each coarse increment is then the sum of r fine increments and every
  OU set is an exact subsample of one discrete path. (Stepping Euler–Maruyama on the coarse grid
  with the summed increments would add the scheme's O(δ) drift error, a few percent at τ = 2.)
* The DHO's additive observation noise is measurement noise at a time point, not a property of the
  grid: it is drawn on the same finest grid and subsampled, so an observation at physical time t
  carries the same noise value at every τ (white, std 0.01, at every τ).

Per-sample z-normalization (x − mean)/(std + 1e−6) over the recorded window, after noise, is
applied to the systems listed in ``regression.z_normalize`` (default: where the authors applied it,
Duffing and DHO), the same way at every τ; the file keeps the shift and scale so the raw observation
is ``x * x_scale + x_shift``.

Code names -> paper symbols: ``tau`` τ, ``step`` δ = dt·τ, ``length`` L, ``fine_tau`` τ_f,
``stride`` r = τ/τ_f. Shapes: n trajectories, L recorded steps, k labels.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from contlaws.data.dynamics import DynamicalSystem, get_system, simulate
from contlaws.errors import ConfigError
from contlaws.io import provenance

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
SPLIT_OFFSETS = {"train": 0, "val": 1, "test": 2}  # split seed = config seed + offset (spec E2)
# Independent random streams of one split: SeedSequence([split seed, stream]). Separate streams keep
# each one's draws identical whatever the others consume (e.g. the noise grid's size).
STREAM_PARAMS, STREAM_NOISE, STREAM_BROWNIAN, STREAM_OFFSET = 0, 1, 2, 3
NORM_EPS = 1e-6  # z-normalization: (x − mean) / (std + NORM_EPS)
_RATIO_TOL = 1e-9


def split_seed(cfg: Mapping[str, Any], split: str) -> int:
    """Seed of a split: config seed + 0/1/2 for train/val/test."""
    if split not in SPLIT_OFFSETS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return int(cfg["seed"]) + SPLIT_OFFSETS[split]


def split_rng(seed: int, stream: int) -> np.random.Generator:
    """The generator of one random stream of a split."""
    return np.random.default_rng(np.random.SeedSequence([seed, stream]))


def fine_grid_noise(rng: np.random.Generator, n: int, n_record: int, stride: int) -> np.ndarray:
    """Standard normals drawn on a fine grid (time-major) and kept at every ``stride``-th point.

    Fine point j of trajectory i is the (j·n + i)-th draw of ``rng``; the value kept for recorded
    step k is fine point (k + 1)·stride − 1, the same physical time (states are stored after each
    step). So a grid r times finer sees the same values at the shared time points.

    Returns:
        (n, n_record) float64.
    """
    out = np.empty((n_record, n))  # (T n)
    for k in range(n_record):
        out[k] = rng.standard_normal((stride, n))[-1]
    return out.T.copy()


def z_normalize(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-sample (x − mean) / (std + 1e−6) over time. x: (n, L). Returns (x_norm, mean (n,), scale (n,))."""
    mean = x.mean(axis=1)
    scale = x.std(axis=1) + NORM_EPS
    return (x - mean[:, None]) / scale[:, None], mean, scale


@dataclass(frozen=True)
class RefinementGrid:
    """Where a regression set at τ is sampled and simulated.

    Attributes:
        tau: τ; step: recorded sampling step δ = dt·τ; length: L = round(length/τ).
        fine_tau: τ_f, grid of the OU Brownian path and the observation noise (τ if neither applies).
        stride: r = τ / τ_f (an integer).
        sim_step: integration step (δ for ODEs, dt·τ_f for OU); burn_in_steps: on that step.
    """

    tau: float
    step: float
    length: int
    fine_tau: float
    stride: int
    sim_step: float
    burn_in_steps: int


def refinement_grid(cfg: Mapping[str, Any], system: DynamicalSystem, tau: float) -> RefinementGrid:
    """The grid of ``system``'s regression set at ``tau`` (config ``regression.{dt,length,taus}``)."""
    reg = cfg["regression"]
    tau = float(tau)
    if not tau > 0:
        raise ValueError(f"tau must be positive, got {tau}")
    if system.max_offset:
        raise ValueError(f"{system.name}: random window offsets would misalign refined regression sets")
    dt = float(reg["dt"])
    fine_tau = tau
    if system.stochastic or system.noise_std > 0:
        fine_tau = min(min(float(t) for t in reg["taus"]), tau)
        if tau < min(float(t) for t in reg["taus"]):
            log.warning(
                "tau = %g is finer than every regression.taus; its %s noise path is drawn on its own grid "
                "and is not a refinement of the configured sets (add it to regression.taus)", tau, system.name,
            )
    stride = round(tau / fine_tau)
    if abs(tau - stride * fine_tau) > _RATIO_TOL * tau:
        raise ConfigError(
            f"key 'regression.taus' = {reg['taus']}: tau = {tau:g} is not a whole multiple of the finest "
            f"tau = {fine_tau:g}; {system.name} noise is drawn on the finest grid and summed, which needs "
            "whole ratios (use e.g. powers of 2)"
        )
    sim_step = dt * (fine_tau if system.stochastic else tau)
    return RefinementGrid(
        tau=tau,
        step=dt * tau,
        length=max(1, round(int(reg["length"]) / tau)),
        fine_tau=fine_tau,
        stride=stride,
        sim_step=sim_step,
        burn_in_steps=round(system.burn_in / sim_step),
    )


def simulate_observations(
    cfg: Mapping[str, Any], system_name: str, tau: float, split: str
) -> tuple[np.ndarray, np.ndarray, RefinementGrid]:
    """Raw observations x(t) (noise added, not normalized) and labels of one regression split.

    Returns:
        x: (n, L) float64; labels: (n, k) float64; the grid.
    """
    system = get_system(system_name, "regression")
    grid = refinement_grid(cfg, system, tau)
    n = int(cfg["regression"][f"n_{split}"])
    seed = split_seed(cfg, split)
    params, y0 = system.draw(split_rng(seed, STREAM_PARAMS), n)
    desc = f"{system_name} tau={grid.tau:g} {split}"
    if system.stochastic:
        states = simulate(
            system, params, y0, grid.sim_step, grid.length, record_every=grid.stride,
            start_step=grid.burn_in_steps, rng=split_rng(seed, STREAM_BROWNIAN), desc=desc,
        )
    else:
        states = simulate(system, params, y0, grid.sim_step, grid.length, start_step=grid.burn_in_steps, desc=desc)
    x = states[:, :, 0]  # (n L)
    if system.noise_std > 0:
        x = x + system.noise_std * fine_grid_noise(split_rng(seed, STREAM_NOISE), n, grid.length, grid.stride)
    return x, system.labels(params), grid


def make_regression_split(
    cfg: Mapping[str, Any], system: str, tau: float, split: str
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """One regression split, ready for :func:`contlaws.io.save_npz`.

    Args:
        cfg: the full resolved config (:func:`contlaws.config.load_config`).
        system: one of :data:`contlaws.data.dynamics.SYSTEMS`.
        tau: refinement factor τ.
        split: ``train``, ``val`` or ``test``.

    Returns:
        arrays: ``x`` (n, L, 1) float32 input, ``y`` (n, k) float32 labels, ``x_shift`` and
        ``x_scale`` (n,) float64 with raw x = x·x_scale + x_shift; meta: see docs/datasets.md.
    """
    settings = get_system(system, "regression")
    raw, labels, grid = simulate_observations(cfg, system, tau, split)
    normalize = system in cfg["regression"]["z_normalize"]
    if normalize:
        x, shift, scale = z_normalize(raw)
    else:
        x, shift, scale = raw, np.zeros(len(raw)), np.ones(len(raw))
    arrays = {
        "x": x[:, :, None].astype(np.float32),  # (n L 1)
        "y": labels.astype(np.float32),  # (n k)
        "x_shift": shift,
        "x_scale": scale,
    }
    seed = split_seed(cfg, split)
    section = {"seed": cfg["seed"], "regression": cfg["regression"]}
    meta = {
        "kind": "regression",
        "task": "regression",
        "input_kind": "continuous",
        "system": system,
        "split": split,
        "tau": grid.tau,
        "n": len(x),
        "length": grid.length,
        "d_input": 1,
        "d_output": labels.shape[1],
        "label_names": list(settings.label_names),
        "observation": "x",
        "dt": float(cfg["regression"]["dt"]),
        "normalization": "per-sample z" if normalize else "none",
        "system_settings": settings.settings(),
        "grid": asdict(grid),
        "integrator": "euler_maruyama" if settings.stochastic else "rk4",
        "seed": seed,
        "provenance": provenance(section, seed),
    }
    return arrays, meta


# ---------------------------------------------------------------------------------------------
# Label standardization (spec E2, "Decision (revised)")
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LabelStandardization:
    """Per-component affine map of the labels, z = (y − mean) / std, fitted on the training split.

    DHO's labels (ω, ζ) differ tenfold in spread; standardizing each component makes the MSE loss
    and the pooled RMSE weigh them alike. Training, evaluation and ``contlaws model-continuity``
    use the statistics stored in the checkpoint (``provenance.label_standardization``).

    Attributes:
        mean, std: one value per label component k (std of the training labels, ddof 0).
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, labels: np.ndarray) -> LabelStandardization:
        """Statistics of (n, k) training labels; a component with zero spread keeps std 1."""
        y = np.asarray(labels, dtype=np.float64).reshape(len(labels), -1)  # (n k)
        if len(y) == 0:
            raise ValueError("cannot standardize labels of an empty split")
        std = y.std(axis=0)
        return cls(tuple(float(v) for v in y.mean(axis=0)), tuple(float(s) if s > 0 else 1.0 for s in std))

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> LabelStandardization:
        return cls(tuple(float(v) for v in record["mean"]), tuple(float(v) for v in record["std"]))

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": list(self.mean), "std": list(self.std)}

    def apply(self, labels: np.ndarray) -> np.ndarray:
        """y -> z = (y − mean)/std, (n, k) float32."""
        y = np.asarray(labels, dtype=np.float64).reshape(len(labels), -1)
        if y.shape[1] != len(self.mean):
            raise ValueError(f"labels have {y.shape[1]} components, the standardization {len(self.mean)}")
        return ((y - np.asarray(self.mean)) / np.asarray(self.std)).astype(np.float32)

    def invert(self, standardized: np.ndarray) -> np.ndarray:
        """z -> y = z·std + mean, (n, k) float64."""
        z = np.asarray(standardized, dtype=np.float64).reshape(len(standardized), -1)
        return z * np.asarray(self.std) + np.asarray(self.mean)


def checkpoint_standardization(checkpoint: Mapping[str, Any]) -> LabelStandardization | None:
    """The label statistics a model was trained with (None when it was trained on raw labels)."""
    record = (checkpoint.get("provenance") or {}).get("label_standardization")
    return LabelStandardization.from_dict(record) if record else None
