"""Model continuity: how much a model's prediction moves when its input grid is refined (spec E2).

For a model f, inputs x_τ that sample the same trajectories at τ times the training step, and the
finest grid τ_min of the set:

    d(τ) = RMS_{i,j}(f_τ(x_τ) − f_τmin(x_τmin)) / s,   s² = mean_{i,j} (f_τmin,ij − mean_i f_τmin,ij)²

(i samples, j outputs). s is the spread of the reference predictions over the trajectories, pooled
over outputs: a predictor that barely depends on its input has a tiny s, so it cannot look
continuous just because its outputs sit near a large mean (normalizing by ‖f_τmin‖, as before,
let a near-constant predictor score d ≈ 0). f_τ is f with every internal step Δ multiplied by τ.
Outputs are time averages over the same physical window at every τ (mean pool), so they are
comparable. For E2 regressors the outputs are standardized labels (train statistics per component),
so every component weighs alike. A model is continuous on a task when d(τ) → 0 as τ → 0.

The empirical order p is the least-squares slope of log δ(τ) against log τ, where
δ(τ_k) = RMS(f_τk − f_τk+1)/s is the difference between neighbouring refinement levels
(τ_k ≤ 1). For f_τ = f* + c·τ^p on a geometric grid δ is exactly ∝ τ^p, so the fit is unbiased;
a slope of d(τ) against the finest grid is not (d(τ_min) = 0 forces a positive slope on any
τ-dependent output, and a first-order map scores log₂ 3 ≈ 1.58 from τ ∈ {1, ½} against ¼). The fit
needs :data:`MIN_ORDER_LEVELS` (3) differences, i.e. four grid levels τ ≤ 1; with fewer the order
is NaN and ``order_note`` says why.

Code names -> symbols:

    tau, taus        τ            sampling step / training step
    tau_ref          τ_min        the finest grid, the stand-in for the continuous limit
    outputs[τ]       f_τ(x_τ)     (N, d_out) model outputs, rows = the same trajectories at every τ
    spread           s            RMS spread of f_τmin(x_τmin) over samples, pooled over outputs
    d[τ]             d(τ)         deviation from the finest-grid output, in units of s
    delta[τ]         δ(τ)         deviation from the next finer level, in units of s
    order            p            slope of log δ(τ) against log τ

Works on any registry model (``model(x, tau=τ) -> (B, d_out)``), on any callable with that
signature, and on the bare S4D / S6 layers through :class:`PooledLayer` (time mean of the layer
output). A layer fed point samples u(t_k) converges at order 1 whatever its discretization (ZOH or
bilinear), because the input sampling and the D·u skip term are first-order accurate
(docs/claims.md).

Size (about 410 lines, above the package's ~400): the measurement (d(τ), its order) and the
input checks that make it usable on a user's own checkpoint and data files belong together.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from contlaws.config import schema_default
from contlaws.errors import DataFileError, UserError

log = logging.getLogger(__name__)

# The API default of model_continuity() for any model (and the CLI without a checkpoint setting): the
# schema's train.eval_max_elements, which lives there only.
DEFAULT_EVAL_MAX_ELEMENTS = schema_default("train.eval_max_elements")


# ---------------------------------------------------------------------------------------------
# The formulas
# ---------------------------------------------------------------------------------------------
MIN_ORDER_LEVELS = 3  # successive differences a fitted order needs (no two-point slopes)
SPREAD_RTOL = 1e-9  # spread below this fraction of the outputs' RMS counts as 0 (a constant predictor)


def prediction_spread(reference: np.ndarray) -> float:
    """s = RMS deviation of the predictions from their mean over samples, pooled over outputs.

    s² = mean over i, j of (f_ij − mean_i f_ij)² for (N, d_out) predictions f. A constant predictor
    has s = 0: it carries no information about the trajectories, so nothing it does is "small".
    """
    ref = np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)  # (N d_out)
    spread = float(np.sqrt(np.mean((ref - ref.mean(axis=0)) ** 2)))
    # A spread at rounding level of the outputs' size is a constant predictor.
    return 0.0 if spread <= SPREAD_RTOL * float(np.sqrt(np.mean(ref**2))) else spread


def rms_difference(outputs: np.ndarray, reference: np.ndarray) -> float:
    """RMS over samples and outputs of outputs − reference (both (N, d_out))."""
    outputs = np.asarray(outputs, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if outputs.shape != reference.shape:
        raise ValueError(f"outputs {outputs.shape} and reference {reference.shape} differ in shape")
    return float(np.sqrt(np.mean((outputs - reference) ** 2)))


def relative_deviation(outputs: np.ndarray, reference: np.ndarray, spread: float | None = None) -> float:
    """d = RMS(outputs − reference) / s, s = :func:`prediction_spread` of the reference.

    Normalizing by the spread of the predictions (not their norm, which includes their mean) means a
    near-constant predictor cannot look continuous: its small changes are large against its tiny
    spread. When s = 0 (a constant reference), d is inf if the outputs differ and NaN if they do not.

    Args:
        outputs, reference: (N, d_out) predictions for the same N trajectories.
        spread: s, when already computed.
    """
    diff = rms_difference(outputs, reference)
    s = prediction_spread(reference) if spread is None else float(spread)
    if s == 0:
        return math.inf if diff > 0 else math.nan
    return diff / s


def fit_order(values: Mapping[float, float], min_levels: int = MIN_ORDER_LEVELS) -> tuple[float, str]:
    """Least-squares slope p of log value against log τ, and why it is NaN ("" when fitted).

    Args:
        values: {τ: e(τ)} with e(τ) ≈ C·τ^p; zero, negative and non-finite values are left out.
        min_levels: fewest points a fit may use (a two-point slope is not a fit).
    """
    points = [(t, v) for t, v in values.items() if v > 0 and math.isfinite(v)]
    if len(points) < min_levels:
        usable = ", ".join(f"{t:g}" for t, _ in points) or "none"
        return math.nan, f"order needs {min_levels} refinement levels with a nonzero difference, got {len(points)} ({usable})"
    log_tau, log_v = np.log([t for t, _ in points]), np.log([v for _, v in points])
    return float(np.polyfit(log_tau, log_v, 1)[0]), ""


def successive_differences(
    outputs_by_tau: Mapping[float, np.ndarray], spread: float, tau_max: float = 1.0
) -> dict[float, float]:
    """δ(τ_k) = RMS(f_τk(x_τk) − f_τk+1(x_τk+1)) / s for every τ_k ≤ tau_max but the finest, τ_k+1 the next finer.

    For outputs f_τ = f* + c·τ^p and a geometric grid τ_k+1 = τ_k/r, δ(τ_k) = ‖c‖·(1 − r^−p)·τ_k^p / s:
    a pure power law whose log-log slope is exactly p. (d(τ) against the finest grid is not one: for
    p = 1 and τ ∈ {1, ½} against τ_min = ¼ its slope is log₂ 3 ≈ 1.58, and any τ-dependent output gets
    a positive slope because d(τ_min) = 0 by construction.)
    """
    taus = sorted(outputs_by_tau)
    out = {}
    for coarse, fine in zip(taus[1:], taus[:-1]):
        if coarse <= tau_max:
            diff = rms_difference(outputs_by_tau[coarse], outputs_by_tau[fine])
            out[coarse] = diff / spread if spread > 0 else (math.inf if diff > 0 else math.nan)
    return out


@dataclass(frozen=True)
class ModelContinuity:
    """d(τ) of one model on one set of refined trajectories.

    Attributes:
        d: {τ: d(τ)} for every τ given (d[tau_ref] = 0), keys in increasing order.
        delta: {τ: δ(τ)}, successive differences (:func:`successive_differences`) for τ_ref < τ ≤ tau_max.
        order: empirical order p, the log-log slope of δ(τ) (:func:`fit_order`); NaN with ``order_note``
            saying why when fewer than :data:`MIN_ORDER_LEVELS` levels are usable.
        order_note: "" when the order was fitted, else the reason it is NaN.
        tau_ref: τ_min, the grid every output is compared with.
        spread: s, the RMS spread of the reference predictions over samples (the normalizer of d).
        n: trajectories compared.
    """

    d: dict[float, float]
    delta: dict[float, float]
    order: float
    order_note: str
    tau_ref: float
    spread: float
    n: int

    def rows(self) -> list[dict[str, Any]]:
        """One record per τ: tau, d, delta (NaN where undefined), order, order_note, tau_ref, spread."""
        return [{"tau": t, "d": v, "delta": self.delta.get(t, math.nan), "order": self.order,
                 "order_note": self.order_note, "tau_ref": self.tau_ref, "spread": self.spread}
                for t, v in self.d.items()]  # fmt: skip


def continuity_from_outputs(outputs_by_tau: Mapping[float, np.ndarray], tau_max: float = 1.0) -> ModelContinuity:
    """:class:`ModelContinuity` from outputs already computed at every τ ({τ: (N, d_out) array})."""
    if len(outputs_by_tau) < 2:
        raise ValueError(f"model continuity needs outputs at two or more τ, got {sorted(outputs_by_tau)}")
    taus = sorted(float(t) for t in outputs_by_tau)
    outputs = {float(t): np.asarray(v, dtype=np.float64).reshape(len(v), -1) for t, v in outputs_by_tau.items()}
    reference = outputs[taus[0]]
    spread = prediction_spread(reference)
    d = {t: relative_deviation(outputs[t], reference, spread) for t in taus}
    d[taus[0]] = 0.0
    delta = successive_differences(outputs, spread, tau_max)
    order, note = fit_order(delta)
    return ModelContinuity(d=d, delta=delta, order=order, order_note=note, tau_ref=taus[0], spread=spread,
                           n=len(reference))  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Running a model on refined inputs
# ---------------------------------------------------------------------------------------------
class PooledLayer(nn.Module):
    """A bare sequence layer as a model: its output averaged over time, (B, channels).

    Args:
        layer: ``layer(x, tau)``, e.g. :class:`contlaws.models.s4d.S4D` on (B, H, L) or
            :class:`contlaws.models.s6.S6` on (B, L, D).
        time_axis: the time axis of the layer's input and output; default -1 for S4D
            (channels first), 1 for anything else.
    """

    def __init__(self, layer: nn.Module, time_axis: int | None = None):
        super().__init__()
        from contlaws.models.s4d import S4D

        self.layer = layer
        self.time_axis = time_axis if time_axis is not None else (-1 if isinstance(layer, S4D) else 1)

    def forward(self, x: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
        return self.layer(x, tau).mean(dim=self.time_axis)  # (B H)


class NonFiniteOutputs(ValueError):
    """A model returned NaN or inf: there is no deviation or error to report (diverged or damaged weights)."""


def _as_callable(model) -> Callable[[torch.Tensor, float], torch.Tensor]:
    if isinstance(model, nn.Module):
        return lambda x, tau: model(x, tau=tau)
    if callable(model):
        return model
    raise TypeError(f"model must be an nn.Module or a callable f(x, tau), got {type(model).__name__}")


def _batch_inputs(data, idx: np.ndarray) -> torch.Tensor:
    """Inputs of rows ``idx`` from a SequenceDataset (``get_batch``) or an array/tensor (N, ...)."""
    if hasattr(data, "get_batch"):
        return data.get_batch(idx)[0]
    if isinstance(data, torch.Tensor):
        return data[torch.from_numpy(idx)]
    return torch.from_numpy(np.ascontiguousarray(np.asarray(data)[idx]))


def _row_size(data) -> int:
    """Time steps of a dataset (``length``), or values per row of an (N, ...) array."""
    if hasattr(data, "length"):
        return int(data.length)
    return int(np.prod(data.shape[1:]))


@torch.no_grad()
def predict(
    model, data, tau: float, *, batch_size: int, device: str | torch.device | None = None, n: int | None = None,
    amplitude: float = 1.0,
) -> np.ndarray:
    """Outputs of ``model`` at step factor τ on the first ``n`` rows of ``data`` (inputs × ``amplitude``), (n, d_out) float64.

    Args:
        model: a module or callable ``f(x, tau) -> (B, ...)``; modules run in eval mode.
        data: a SequenceDataset or an (N, ...) array/tensor of inputs in the model's layout.
        batch_size: rows per call; keep it the same at every τ (the authors' S4D channel-norm
            mixes a batch, so the partition must not change with τ).
        device: where inputs go (default: the module's device, else CPU).
        amplitude: a, the factor the inputs are scaled by (E2's amplitude sweep; 1 = as recorded).
    """
    fn = _as_callable(model)
    was_training = isinstance(model, nn.Module) and model.training
    if isinstance(model, nn.Module):
        model.eval()
        params = next(model.parameters(), None)
        device = device if device is not None else (params.device if params is not None else "cpu")
    device = torch.device(device or "cpu")
    n = len(data) if n is None else int(n)
    chunks = []
    for start in range(0, n, batch_size):
        x = _batch_inputs(data, np.arange(start, min(n, start + batch_size)))
        x = x if amplitude == 1.0 else x * amplitude  # the amplitude sweep: inputs scaled by a
        chunks.append(fn(x.to(device), float(tau)).reshape(len(x), -1).double().cpu().numpy())
    if isinstance(model, nn.Module):
        model.train(was_training)
    out = np.concatenate(chunks)
    # NaN would pass through every mean below and come out as d = nan with exit status 0.
    bad_rows = np.flatnonzero(~np.isfinite(out).all(axis=1))
    if len(bad_rows):
        scaled = "" if amplitude == 1.0 else f" with inputs scaled by {amplitude:g}"
        raise NonFiniteOutputs(f"the model's outputs at tau = {tau:g}{scaled} are NaN or inf for {len(bad_rows)} of "
                               f"{len(out)} rows (first: row {bad_rows[0]})")  # fmt: skip
    return out


# Meta fields that name what a split holds apart from its sampling step: refined sets of the same
# trajectories agree in all of them (τ, the grid and the length are what differ). E3 sets of two η
# values, or one split of two systems or seeds, are other data and are refused.
IDENTITY_KEYS = ("kind", "task", "input_kind", "system", "system_settings", "seed", "split", "eta", "benchmark",
                 "label_names", "normalization", "integrator", "dt", "horizon", "obs_dim", "W_seed", "Q_seed")  # fmt: skip


def check_refined_sets(datasets_by_tau: Mapping[float, Any]) -> int:
    """Number of trajectories shared by the sets; raises if they cannot hold the same trajectories.

    Datasets written by contlaws must agree in size and in every field of :data:`IDENTITY_KEYS` their
    meta records (system, split seed, η of an E3 set, ...), and each file's own τ must be the key it
    is given under.
    """
    sizes = {t: len(v) for t, v in datasets_by_tau.items()}
    if len(set(sizes.values())) != 1:
        raise DataFileError(f"refined sets differ in size ({_describe(datasets_by_tau, sizes)}); "
                            "they must hold the same trajectories")  # fmt: skip
    metas = {t: getattr(v, "meta", None) or {} for t, v in datasets_by_tau.items()}
    for key in IDENTITY_KEYS:
        if not any(key in m for m in metas.values()):
            continue
        values = {t: m.get(key, "(absent)") for t, m in metas.items()}
        if len({json.dumps(v, sort_keys=True, default=str) for v in values.values()}) > 1:
            raise DataFileError(f"refined sets differ in {key} ({_describe(datasets_by_tau, values)}); "
                                "they must hold the same trajectories")  # fmt: skip
    for t, m in metas.items():
        if "tau" in m and not math.isclose(float(m["tau"]), float(t), rel_tol=1e-9):
            where = getattr(datasets_by_tau[t], "path", None) or "the data"
            raise DataFileError(f"{where}: was made at tau = {m['tau']} but is given as tau = {t}")
    return next(iter(sizes.values()))


def check_model_fits_data(checkpoint: Mapping[str, Any], datasets_by_tau: Mapping[float, Any], checkpoint_path) -> None:
    """Raise :class:`DataFileError` when a data set's inputs are not what the checkpoint's model reads
    (input kind, input channels, token vocabulary), naming both files."""
    kwargs = checkpoint["build_kwargs"]
    kind = kwargs.get("input_kind", "continuous")
    for tau, ds in datasets_by_tau.items():
        where = getattr(ds, "path", None) or f"the data at tau = {tau}"
        ds_kind = getattr(ds, "input_kind", kind)
        if ds_kind != kind:
            raise DataFileError(f"{where}: has {ds_kind} inputs but the model in {checkpoint_path} reads {kind} inputs")
        size, what = (kwargs.get("vocab_size"), "token vocabulary") if kind == "tokens" else (kwargs.get("d_input"), "input channels")
        if size is not None and getattr(ds, "d_input", size) != size:
            raise DataFileError(f"{where}: has {ds.d_input} {what} but the model in {checkpoint_path} "
                                f"was trained on {size}")  # fmt: skip


def require_npz(path: Path, option: str) -> None:
    """Raise :class:`DataFileError` when an existing ``path`` is not a .npz archive (e.g. a bare .npy array)."""
    import zipfile

    if path.is_file() and not zipfile.is_zipfile(path):
        raise DataFileError(f"{path}: not a .npz split file ({option} takes files written by `contlaws data` "
                            "or `contlaws bench prepare`, not a bare array)")  # fmt: skip


def _describe(datasets_by_tau, values) -> str:
    return ", ".join(f"tau={t}: {getattr(datasets_by_tau[t], 'path', None) or 'array'} -> {v}" for t, v in values.items())


def default_batch_size(model, datasets_by_tau: Mapping[float, Any], eval_max_elements: int) -> int:
    """The rows per call at every τ that the pipeline's evaluation uses: the largest B with
    B·L_max·d_model ≤ ``eval_max_elements`` (L_max the longest set; for arrays the most values per row, d_model 1)."""
    from contlaws.train import eval_batch_size, model_width

    longest = max(_row_size(v) for v in datasets_by_tau.values())
    return eval_batch_size(longest, model_width(model) if isinstance(model, nn.Module) else 1, eval_max_elements)


def depends_on_batch(model) -> bool:
    """Whether ``model``'s outputs for one row depend on the other rows of its batch: an S4D layer
    with the authors' channel norm, which rescales by a mean over the batch's rows and time steps."""
    from contlaws.models.s4d import S4D

    return isinstance(model, nn.Module) and any(isinstance(m, S4D) and m.channel_norm for m in model.modules())


def model_continuity(
    model,
    datasets_by_tau: Mapping[float, Any],
    *,
    batch_size: int | None = None,
    max_samples: int | None = None,
    device: str | torch.device | None = None,
    eval_max_elements: int = DEFAULT_EVAL_MAX_ELEMENTS,
    tau_max: float = 1.0,
) -> ModelContinuity:
    """d(τ) and the order p of ``model`` on refined versions of the same trajectories.

    Args:
        model: a registry model (``model(x, tau=τ) -> (B, d_out)``), any callable ``f(x, tau)``, or
            a :class:`PooledLayer` around a bare S4D / S6 layer.
        datasets_by_tau: {τ: SequenceDataset or (N, ...) array}, row i the same trajectory at every τ.
        batch_size: rows per call, the same at every τ; default: the largest with
            batch·L_max·d_model ≤ ``eval_max_elements`` (L_max the longest sequence; for arrays
            the most values per row, d_model 1).
        max_samples: compare only the first rows (default all).
        device: where to run (default: the model's device).
        tau_max: largest τ in the order fit.
    """
    n = check_refined_sets(datasets_by_tau)
    n = min(n, max_samples) if max_samples else n
    if batch_size is None:
        batch_size = default_batch_size(model, datasets_by_tau, eval_max_elements)
    outputs = {
        float(t): predict(model, data, float(t), batch_size=batch_size, device=device, n=n)
        for t, data in sorted(datasets_by_tau.items())
    }
    return continuity_from_outputs(outputs, tau_max)


# ---------------------------------------------------------------------------------------------
# A checkpoint on refined data files (what `contlaws model-continuity` calls)
# ---------------------------------------------------------------------------------------------
def checkpoint_continuity(
    checkpoint_path: Path,
    data_paths: Mapping[float, Path],
    *,
    device: str = "cpu",
    batch_size: int | None = None,
    max_samples: int | None = None,
) -> tuple[ModelContinuity, dict]:
    """d(τ) and the order of a checkpoint written by `contlaws train` on refined split files {τ: path};
    the result and its JSON record (with provenance). ``--data`` in messages names the option the
    paths came from."""
    from contlaws.data.sets import load_split
    from contlaws.io import provenance
    from contlaws.train import load_model, resolve_device

    model, checkpoint = load_model(checkpoint_path, device=resolve_device(device))
    for path in data_paths.values():
        require_npz(path, "--data")
    datasets = {tau: load_split(path) for tau, path in sorted(data_paths.items())}
    check_model_fits_data(checkpoint, datasets, checkpoint_path)
    eval_max_elements = checkpoint["settings"].get("eval_max_elements", DEFAULT_EVAL_MAX_ELEMENTS)
    default = default_batch_size(model, datasets, eval_max_elements)
    batch_dependent = depends_on_batch(model)
    if batch_size is not None and batch_size != default and batch_dependent:
        log.warning("%s: this model's outputs depend on the batch (S4D channel norm averages over rows and time); "
                    "--batch-size %d gives other d(tau) than the pipeline's evaluation (batch %d)",
                    checkpoint_path, batch_size, default)  # fmt: skip
    batch_size = default if batch_size is None else batch_size
    try:
        result = model_continuity(model, datasets, batch_size=batch_size, max_samples=max_samples)
    except NonFiniteOutputs as err:
        raise UserError(f"{checkpoint_path}: {err}; no continuity to report (diverged model or extreme input values?)") from None
    record = {
        "checkpoint": str(checkpoint_path),
        "model_name": checkpoint["model_name"],
        "data": {str(t): str(p) for t, p in sorted(data_paths.items())},
        "d": [{"tau": t, "d": v, "delta": result.delta.get(t)} for t, v in result.d.items()],
        "order": result.order,
        "order_note": result.order_note,
        "spread": result.spread,
        "label_standardization": checkpoint["provenance"].get("label_standardization"),
        "tau_ref": result.tau_ref,
        "n": result.n,
        "batch_size": batch_size,
        "batch_dependent": batch_dependent,
        "provenance": provenance(checkpoint["provenance"].get("config"), checkpoint["settings"].get("seed")),
    }
    return result, record
