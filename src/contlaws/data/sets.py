"""The dataset protocol the training engine codes against, and the loader of every dataset file.

Every split file (written with :func:`contlaws.io.save_npz`) loads as a :class:`SequenceDataset`:

    task        "regression" | "classification"
    input_kind  "continuous" (x float32 (L, d_input)) | "tokens" (x int64 (L,), ids < d_input)
    d_input     channels, or vocabulary size for tokens
    d_output    regression targets, or number of classes
    length      sequence length L
    meta, path  the file's metadata record and location

``dataset[i]`` gives one ``(x, y)`` pair of tensors (y float32 (d_output,) or int64 ()), and
``get_batch(idx)`` a whole batch at once ((b, L, ...) and (b, ...)); the engine uses the latter.

:func:`load_split` dispatches on ``meta["kind"]``:

* ``regression`` (E2): arrays ``x`` (N, L, 1) float32 and ``y`` (N, k) float32 labels;
* ``forecasting`` (E3): compact arrays (latent state, symbols, W, Q, η); the 16-dimensional
  observations are materialized per batch by :func:`contlaws.data.forecasting.forecast_observations`,
  the target is obs[L:L + horizon] flattened to (horizon·D,), or, in the view
  ``with_targets("every_position")`` (E3 causal forecaster), obs[t+1 : t+1+horizon] for every input
  position t, (L, horizon·D);
* ``classification`` (benchmarks): ``x`` (N, L) int64 tokens or (N, L, C) float32, ``y`` (N,) int64;
  meta ``n_classes``, ``input_kind`` and, for tokens, ``vocab_size``.

Missing, truncated, corrupt files and checksum mismatches raise
:class:`contlaws.io.DataFileError` naming the file (from :func:`contlaws.io.load_npz`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from contlaws.data.forecasting import forecast_observations
from contlaws.io import DataFileError, load_npz

KINDS = ("regression", "forecasting", "classification")


class SequenceDataset(Dataset):
    """A split of sequences with targets; subclasses implement :meth:`get_batch`."""

    task: str
    input_kind: str
    d_input: int
    d_output: int
    length: int
    meta: dict
    path: Path | None

    def __init__(self, n: int, meta: Mapping[str, Any], path: str | Path | None = None):
        self.n = int(n)
        self.meta = dict(meta)
        self.path = Path(path) if path is not None else None

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.get_batch(np.array([i], dtype=np.int64))
        return x[0], y[0]

    def get_batch(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs (b, L, d_input) float32 or (b, L) int64, targets (b, d_output) float32 or (b,) int64."""
        raise NotImplementedError

    def __repr__(self) -> str:
        where = f", path={str(self.path)!r}" if self.path else ""
        return (
            f"{type(self).__name__}(n={self.n}, task={self.task!r}, input_kind={self.input_kind!r}, "
            f"length={self.length}, d_input={self.d_input}, d_output={self.d_output}{where})"
        )


class ArrayDataset(SequenceDataset):
    """Inputs and targets held as arrays (regression and classification files)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, *, task: str, input_kind: str, d_input: int,
                 d_output: int, meta: Mapping[str, Any], path: str | Path | None = None):
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} samples but y has {len(y)}")
        super().__init__(len(x), meta, path)
        self.x, self.y = x, y
        self.task, self.input_kind = task, input_kind
        self.d_input, self.d_output = int(d_input), int(d_output)
        self.length = int(x.shape[1])

    def get_batch(self, idx):
        idx = np.asarray(idx, dtype=np.int64)
        return torch.from_numpy(self.x[idx]), torch.from_numpy(self.y[idx])


class ForecastingDataset(SequenceDataset):
    """E3 forecasting split: observations built per batch from the latent state and symbols."""

    task = "regression"
    input_kind = "continuous"

    def __init__(self, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any], path: str | Path | None = None,
                 targets: str = "last"):
        super().__init__(len(arrays["state"]), meta, path)
        self.arrays = dict(arrays)
        self.targets = targets
        self.horizon = int(np.asarray(arrays["horizon"]).item())
        self.obs_dim = int(arrays["Q"].shape[0])
        self.length = int(arrays["state"].shape[1]) - self.horizon
        self.d_input = self.obs_dim
        self.d_output = self.horizon * self.obs_dim

    def with_targets(self, targets: str) -> ForecastingDataset:
        """The same split with targets "last" ((b, horizon·D): obs[L:L+horizon]) or "every_position"
        ((b, L, horizon·D): obs[t+1 : t+1+horizon] at each position t, the causal forecaster's loss)."""
        return ForecastingDataset(self.arrays, self.meta, self.path, targets=targets)

    def get_batch(self, idx):
        inputs, targets = forecast_observations(self.arrays, idx, self.targets)  # (b L D), (b [L] H D)
        flat = targets.reshape(*targets.shape[:-2], -1)  # (b H·D) or (b L H·D)
        return torch.from_numpy(inputs), torch.from_numpy(np.ascontiguousarray(flat))


def _require(arrays: Mapping[str, np.ndarray], names: tuple[str, ...], path: Path, kind: str) -> None:
    missing = [k for k in names if k not in arrays]
    if missing:
        raise DataFileError(f"{path}: {kind} file lacks array(s) {', '.join(missing)}")


def regression_dataset(arrays, meta, path=None) -> ArrayDataset:
    _require(arrays, ("x", "y"), Path(path or "<memory>"), "regression")
    x = np.asarray(arrays["x"], dtype=np.float32)
    y = np.asarray(arrays["y"], dtype=np.float32)
    return ArrayDataset(x, y, task="regression", input_kind="continuous", d_input=x.shape[2],
                        d_output=y.shape[1], meta=meta, path=path)


def forecasting_dataset(arrays, meta, path=None) -> ForecastingDataset:
    _require(arrays, ("state", "symbols", "W", "Q", "eta", "horizon"), Path(path or "<memory>"), "forecasting")
    return ForecastingDataset(arrays, meta, path)


def classification_dataset(arrays, meta, path=None) -> ArrayDataset:
    where = Path(path or "<memory>")
    _require(arrays, ("x", "y"), where, "classification")
    x, y = arrays["x"], np.asarray(arrays["y"], dtype=np.int64)
    try:
        n_classes = int(meta["n_classes"])
        if x.ndim == 2:
            input_kind, d_input, x = "tokens", int(meta["vocab_size"]), np.asarray(x, dtype=np.int64)
        elif x.ndim == 3:
            input_kind, d_input, x = "continuous", x.shape[2], np.asarray(x, dtype=np.float32)
        else:
            raise DataFileError(f"{where}: classification x must be (N, L) tokens or (N, L, C), got shape {x.shape}")
    except KeyError as err:
        raise DataFileError(f"{where}: classification meta lacks key {err}") from None
    declared = meta.get("input_kind", input_kind)
    if declared != input_kind:
        raise DataFileError(f"{where}: meta input_kind {declared!r} does not match x of shape {x.shape}")
    return ArrayDataset(x, y, task="classification", input_kind=input_kind, d_input=d_input,
                        d_output=n_classes, meta=meta, path=path)


_BUILDERS = {
    "regression": regression_dataset,
    "forecasting": forecasting_dataset,
    "classification": classification_dataset,
}


def load_split(path: str | Path) -> SequenceDataset:
    """Load a split file as a :class:`SequenceDataset` (checksum verified)."""
    path = Path(path)
    arrays, meta = load_npz(path)
    kind = meta.get("kind")
    if kind not in _BUILDERS:
        raise DataFileError(f"{path}: unknown dataset kind {kind!r} in its meta (expected one of {', '.join(KINDS)})")
    return _BUILDERS[kind](arrays, meta, path)
