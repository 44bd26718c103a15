"""E3 forecasting sets: a latent trajectory seen through a mix of a continuous and a symbolic view.

For a latent state s_t (x_t, v_t), or x_t for OU, of one trajectory:

    cont_t = s_t · W                   W: (d, obs_dim) Gaussian (seed + 101), columns of unit norm
    symbol_t = per-trajectory bins     each component cut into b equal bins over its own min–max
                                       over the input window s[0:L] only (later states clipped to the
                                       end bins: no look-ahead); symbol = 4·x_bin + v_bin (b = 4), OU: 16 bins of x
    disc_t = Q[:, symbol_t]            Q: orthogonal factor of QR of a Gaussian obs_dim × obs_dim (seed + 202)
    obs_t = (1 − η)·cont_t + η·disc_t  η = 0 continuous, η = 1 a piecewise-constant symbol stream

A sample's input is obs[0:L], its target obs[L:L + horizon]. The window (L + horizon states) is
recorded after the burn-in (Duffing: 50 time units plus a random 0..10-unit offset per trajectory).

Storage stays compact at paper scale (20000 × 1025 × 16 float32 would be 1.3 GB per η and system).
Nothing but η depends on η, so the latent trajectories are stored once per system and split:

* the **latent file** (``<system>_latent_<split>.npz``, :func:`make_forecasting_latent`) holds the
  latent ``state`` (float32), the ``symbols`` (uint8), ``W``, ``Q``, ``horizon`` and ``labels``;
* each **η file** (``<system>_eta<η>_<split>.npz``, :func:`eta_file_record`) holds only ``eta`` and,
  in its meta, the latent file's name (relative to the η file's folder) and checksum.

:func:`resolve_latent` merges the two on load (``contlaws.data.sets.load_split`` calls it), giving
the arrays a self-contained file would hold, and :func:`forecast_observations` materializes obs for
the requested samples only. A self-contained file (``contlaws data generate forecasting`` without
``--latent``; :func:`make_forecasting_split`) holds the same arrays in one file and loads the same.

Code names -> paper symbols: ``eta`` η, ``W`` the continuous map, ``Q`` the codebook, ``length`` L.
Shapes: n trajectories, T = L + horizon window states, d latent components, D = obs_dim.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from contlaws.data.dynamics import DynamicalSystem, get_system, simulate
from contlaws.data.regression import (
    STREAM_BROWNIAN,
    STREAM_OFFSET,
    STREAM_PARAMS,
    split_rng,
    split_seed,
)
from contlaws.errors import ConfigError, DataFileError
from contlaws.io import load_npz, provenance

W_SEED_OFFSET = 101  # W ~ default_rng(seed + 101)
Q_SEED_OFFSET = 202  # Q from default_rng(seed + 202)
LATENT_KIND = "forecasting_latent"  # meta kind of a latent file (an η file's kind is "forecasting")
LATENT_ARRAYS = ("state", "symbols", "W", "Q", "horizon", "labels")


def continuous_map(seed: int, state_dim: int, obs_dim: int) -> np.ndarray:
    """W: Gaussian (state_dim, obs_dim), each column scaled to unit norm. Returns float32."""
    w = np.random.default_rng(seed).standard_normal((state_dim, obs_dim))
    return (w / np.linalg.norm(w, axis=0, keepdims=True)).astype(np.float32)


def orthogonal_codebook(seed: int, obs_dim: int) -> np.ndarray:
    """Q: orthogonal factor of the QR decomposition of a Gaussian (obs_dim, obs_dim). Returns float32."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((obs_dim, obs_dim)))
    return q.astype(np.float32)


def bins_per_component(obs_dim: int, state_dim: int) -> int:
    """b with b**state_dim == obs_dim symbols (16 symbols: 4 bins for (x, v), 16 for x)."""
    b = round(obs_dim ** (1.0 / state_dim))
    if b**state_dim != obs_dim or obs_dim > 256:
        raise ConfigError(
            f"key 'forecasting.obs_dim' = {obs_dim}: a system with {state_dim} latent component(s) needs "
            f"obs_dim = b^{state_dim} symbols for a whole number of bins b, at most 256 (e.g. 16)"
        )
    return b


def quantize(state: np.ndarray, bins: int, length: int | None = None) -> np.ndarray:
    """Per-trajectory symbols: each component in ``bins`` equal bins over its own min–max.

    Bin = clip(floor(bins·(s − min)/(max − min)), 0, bins − 1) (the maximum falls in the top bin, a
    constant component in bin 0); symbol = Σ_c bin_c · bins^(d−1−c), i.e. 4·x_bin + v_bin.
    min and max are taken over the first ``length`` steps (the input window s[0:L]) only, so the
    forecast target never shapes the bins of the inputs (no look-ahead); later steps outside that
    range fall in the end bins.

    Args:
        state: (n, T, d).
        length: steps that define the bin edges (default all T).
    Returns:
        (n, T) uint8 symbols in 0 .. bins^d − 1.
    """
    state = state.astype(np.float64)
    window = state[:, :length] if length is not None else state  # (n L d)
    lo = window.min(axis=1, keepdims=True)  # (n 1 d)
    width = window.max(axis=1, keepdims=True) - lo
    width = np.where(width > 0, width, 1.0)
    component_bins = np.clip(np.floor(bins * (state - lo) / width), 0, bins - 1).astype(np.int64)  # (n T d)
    weights = bins ** np.arange(state.shape[2] - 1, -1, -1)  # (d,) e.g. [4, 1]
    return (component_bins * weights).sum(axis=2).astype(np.uint8)


def mix_observations(state: np.ndarray, symbols: np.ndarray, W: np.ndarray, Q: np.ndarray, eta: float) -> np.ndarray:
    """obs = (1 − η)·(s·W) + η·Q[:, symbol], in float32.

    The projection is written as a sum of broadcast products (d is 1 or 2) rather than a matmul, so
    every element is computed the same way whatever the batch: obs bytes do not depend on batching.

    Args:
        state: (n, T, d) float32; symbols: (n, T) ints; W: (d, D); Q: (D, D); eta: η in [0, 1].
    Returns:
        (n, T, D) float32.
    """
    cont = state[:, :, 0, None] * W[0]  # (n T D)
    for c in range(1, state.shape[2]):
        cont = cont + state[:, :, c, None] * W[c]
    disc = Q.T[symbols.astype(np.int64)]  # (n T D): row s of Qᵀ is column s of Q
    return np.float32(1.0 - eta) * cont + np.float32(eta) * disc


TARGETS = ("last", "every_position")


def forecast_observations(
    arrays: Mapping[str, np.ndarray], idx: np.ndarray | None = None, targets: str = "last"
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets of forecasting samples, materialized from a file's compact arrays.

    Args:
        arrays: the arrays of a forecasting file (``state``, ``symbols``, ``W``, ``Q``, ``eta``,
            ``horizon``), e.g. from :func:`contlaws.io.load_npz`.
        idx: sample indices (default: all).
        targets: "last" (the forecast after the whole input window) or "every_position" (the
            causal forecaster's training targets: position t forecasts obs[t+1 : t+1+horizon]).
    Returns:
        inputs (b, L, D) float32 = obs[0:L]; targets: "last" (b, horizon, D) = obs[L:L + horizon],
        "every_position" (b, L, horizon, D) with [:, t, k] = obs[t + 1 + k] (so [:, L−1] is the
        "last" target).
    """
    if targets not in TARGETS:
        raise ValueError(f"targets must be one of {TARGETS}, got {targets!r}")
    state, symbols = arrays["state"], arrays["symbols"]
    if idx is not None:
        idx = np.asarray(idx, dtype=np.int64)
        state, symbols = state[idx], symbols[idx]
    obs = mix_observations(state, symbols, arrays["W"], arrays["Q"], np.asarray(arrays["eta"]).item())  # (b T D)
    horizon = int(np.asarray(arrays["horizon"]).item())
    length = obs.shape[1] - horizon
    if targets == "every_position":
        shifted = np.stack([obs[:, 1 + k : length + 1 + k] for k in range(horizon)], axis=2)  # (b L horizon D)
        return obs[:, :length], shifted
    return obs[:, :length], obs[:, length:]


def simulate_latent(
    cfg: Mapping[str, Any], system_name: str, split: str
) -> tuple[np.ndarray, dict[str, np.ndarray], DynamicalSystem, dict[str, Any]]:
    """Latent window states of one forecasting split (independent of η).

    Returns:
        state (n, L + horizon, d) float64, params {name: (n,)}, the system, simulation info.
    """
    system = get_system(system_name, "forecasting")
    fc = cfg["forecasting"]
    n, dt = int(fc[f"n_{split}"]), float(fc["dt"])
    window = int(fc["length"]) + int(fc["horizon"])
    seed = split_seed(cfg, split)
    params, y0 = system.draw(split_rng(seed, STREAM_PARAMS), n)
    burn_in_steps = round(system.burn_in / dt)
    max_offset_steps = round(system.max_offset / dt)
    start = burn_in_steps
    if max_offset_steps:
        start = burn_in_steps + split_rng(seed, STREAM_OFFSET).integers(0, max_offset_steps + 1, size=n)
    rng = split_rng(seed, STREAM_BROWNIAN) if system.stochastic else None
    state = simulate(system, params, y0, dt, window, start_step=start, rng=rng, desc=f"{system_name} {split}")
    info = {
        "integrator": "euler_maruyama" if system.stochastic else "rk4",
        "step": dt,
        "burn_in_steps": burn_in_steps,
        "max_offset_steps": max_offset_steps,
    }
    return state, params, system, info


def make_forecasting_latent(cfg: Mapping[str, Any], system: str, split: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The η-independent part of one forecasting split, ready for :func:`contlaws.io.save_npz`.

    Args:
        cfg: the full resolved config; system: a name in SYSTEMS; split: train/val/test.
    Returns:
        arrays: ``state`` (n, T, d) float32, ``symbols`` (n, T) uint8, ``W`` (d, D) float32,
        ``Q`` (D, D) float32, ``horizon`` (1,) int64, ``labels`` (n, k) float32 (the system
        parameters, for reference); meta: see docs/datasets.md (kind :data:`LATENT_KIND`).
    """
    fc = cfg["forecasting"]
    obs_dim, length, horizon = int(fc["obs_dim"]), int(fc["length"]), int(fc["horizon"])
    state, params, settings, info = simulate_latent(cfg, system, split)
    bins = bins_per_component(obs_dim, settings.state_dim)
    state32 = state.astype(np.float32)
    symbols = quantize(state32, bins, length)  # from the stored float32 state; edges from obs[0:L] only
    arrays = {
        "state": state32,
        "symbols": symbols,
        "W": continuous_map(int(cfg["seed"]) + W_SEED_OFFSET, settings.state_dim, obs_dim),
        "Q": orthogonal_codebook(int(cfg["seed"]) + Q_SEED_OFFSET, obs_dim),
        "horizon": np.array([horizon], dtype=np.int64),  # shape (1,): save_npz stores arrays at least 1-d
        "labels": settings.labels(params).astype(np.float32),
    }
    seen = np.zeros((len(symbols), obs_dim), dtype=bool)
    seen[np.arange(len(symbols))[:, None], symbols[:, :length]] = True
    distinct = seen.sum(axis=1)  # distinct symbols per input window
    seed = split_seed(cfg, split)
    # what the latent trajectories depend on: not the list of η values
    section = {"seed": cfg["seed"], "forecasting": {k: v for k, v in cfg["forecasting"].items() if k != "etas"}}
    meta = {
        "kind": LATENT_KIND,
        "task": "regression",
        "input_kind": "continuous",
        "system": system,
        "split": split,
        "n": len(state),
        "length": length,
        "horizon": horizon,
        "obs_dim": obs_dim,
        "d_input": obs_dim,
        "d_output": horizon * obs_dim,
        "latent": list(settings.state_names),
        "label_names": list(settings.label_names),
        "bins_per_component": bins,
        "symbols_per_input": {"mean": float(distinct.mean()), "min": int(distinct.min()), "max": int(distinct.max())},
        "dt": float(fc["dt"]),
        "system_settings": settings.settings(),
        "simulation": info,
        "seed": seed,
        "W_seed": int(cfg["seed"]) + W_SEED_OFFSET,
        "Q_seed": int(cfg["seed"]) + Q_SEED_OFFSET,
        "provenance": provenance(section, seed),
    }
    return arrays, meta


def _check_eta(eta: float) -> float:
    eta = float(eta)
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must lie in [0, 1], got {eta}")
    return eta


def _eta_meta(latent_meta: Mapping[str, Any], eta: float) -> dict[str, Any]:
    """An η file's meta: the latent file's record with kind "forecasting" and η."""
    meta = {k: v for k, v in latent_meta.items() if k != "checksum"}
    meta["kind"] = "forecasting"
    meta["eta"] = eta
    return meta


def make_forecasting_split(
    cfg: Mapping[str, Any], system: str, eta: float, split: str
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """One η-mixed forecasting split in one self-contained compact file (latent arrays and ``eta``).

    Args:
        cfg: the full resolved config; system: a name in SYSTEMS; eta: η in [0, 1]; split: train/val/test.
    Returns:
        arrays: those of :func:`make_forecasting_latent` and ``eta`` (1,) float64; meta: see
        docs/datasets.md.
    """
    eta = _check_eta(eta)
    arrays, latent_meta = make_forecasting_latent(cfg, system, split)
    return {**arrays, "eta": np.array([eta])}, _eta_meta(latent_meta, eta)


def eta_file_record(latent_path: str | Path, out_path: str | Path, eta: float) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and meta of an η file that refers to the latent file ``latent_path``.

    The latent file is read (and its checksum verified) once here; the η file records its name
    relative to the folder of ``out_path`` and its checksum, which :func:`resolve_latent` checks.
    Returns ``({"eta": (1,) float64}, meta)``.
    """
    eta = _check_eta(eta)
    latent_path = Path(latent_path)
    _, latent_meta = load_npz(latent_path)
    if latent_meta.get("kind") != LATENT_KIND:
        raise DataFileError(f"{latent_path}: not a forecasting latent file (meta kind {latent_meta.get('kind')!r}, "
                            f"expected {LATENT_KIND!r})")  # fmt: skip
    meta = _eta_meta(latent_meta, eta)
    meta["latent_file"] = Path(os.path.relpath(latent_path.resolve(), Path(out_path).resolve().parent)).as_posix()
    meta["latent_checksum"] = latent_meta["checksum"]
    return {"eta": np.array([eta])}, meta


def resolve_latent(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any], path: str | Path) -> dict[str, np.ndarray]:
    """The full compact arrays of a forecasting file: an η file's ``eta`` merged with its latent file's
    arrays (``meta["latent_file"]``, relative to the folder of ``path``), or a self-contained file's
    arrays as they are.

    Raises :class:`contlaws.io.DataFileError` naming the file when the latent file is missing,
    corrupt, of another kind, or not the one the η file was made from (checksum).
    """
    if "latent_file" not in meta:
        return dict(arrays)
    path = Path(path)
    latent_path = path.parent / str(meta["latent_file"])
    if not latent_path.is_file():
        raise DataFileError(f"{path}: its latent file {latent_path} is missing (regenerate both with snakemake "
                            f"or `contlaws data generate forecasting-latent`)")  # fmt: skip
    latent_arrays, latent_meta = load_npz(latent_path)
    if latent_meta.get("kind") != LATENT_KIND:
        raise DataFileError(f"{path}: its latent file {latent_path} is not a forecasting latent file "
                            f"(meta kind {latent_meta.get('kind')!r})")  # fmt: skip
    if latent_meta.get("checksum") != meta.get("latent_checksum"):
        raise DataFileError(f"{path}: its latent file {latent_path} has changed since the eta file was made "
                            f"(checksum {latent_meta.get('checksum')}, recorded {meta.get('latent_checksum')}); "
                            f"regenerate the eta file")  # fmt: skip
    missing = [k for k in LATENT_ARRAYS if k not in latent_arrays]
    if missing:
        raise DataFileError(f"{latent_path}: forecasting latent file lacks array(s) {', '.join(missing)}")
    return {**{k: latent_arrays[k] for k in LATENT_ARRAYS}, **arrays}
