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
``get_arrays(idx)`` is the same batch as numpy arrays: reading a file and its arrays never imports
torch (a task-continuity job scores numpy arrays; torch's import is most of such a job's time).

:func:`load_split` dispatches on ``meta["kind"]``:

* ``regression`` (E2): arrays ``x`` (N, L, 1) float32 and ``y`` (N, k) float32 labels;
* ``forecasting`` (E3): compact arrays (latent state, symbols, W, Q, η; an η file takes all but η
  from the latent file it names, :func:`contlaws.data.forecasting.resolve_latent`); the 16-dimensional
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
from typing import TYPE_CHECKING, Any

import numpy as np

from contlaws.data.forecasting import forecast_observations, resolve_latent
from contlaws.errors import DataFileError
from contlaws.io import load_npz

if TYPE_CHECKING:
    import torch

    from contlaws.data.regression import LabelStandardization

KINDS = ("regression", "forecasting", "classification")


class SequenceDataset:
    """A split of sequences with targets; subclasses implement :meth:`get_arrays`.

    A plain class (``len``, ``dataset[i]``), not torch's ``Dataset``, so that torch is imported only
    when tensors are asked for (:meth:`get_batch`).
    """

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

    def get_arrays(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inputs (b, L, d_input) float32 or (b, L) int64, targets (b, d_output) float32 or (b,) int64."""
        raise NotImplementedError

    def get_batch(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`get_arrays` as tensors sharing the arrays' memory."""
        import torch

        x, y = self.get_arrays(idx)
        return torch.from_numpy(x), torch.from_numpy(y)

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

    def get_arrays(self, idx):
        idx = np.asarray(idx, dtype=np.int64)
        return self.x[idx], self.y[idx]


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

    def get_arrays(self, idx):
        inputs, targets = forecast_observations(self.arrays, idx, self.targets)  # (b L D), (b [L] H D)
        flat = targets.reshape(*targets.shape[:-2], -1)  # (b H·D) or (b L H·D)
        return inputs, np.ascontiguousarray(flat)


def _require(arrays: Mapping[str, np.ndarray], names: tuple[str, ...], path: Path, kind: str) -> None:
    missing = [k for k in names if k not in arrays]
    if missing:
        raise DataFileError(f"{path}: {kind} file lacks array(s) {', '.join(missing)}")


# dtype kinds accepted per role: numbers (float, signed or unsigned integer) or integers only
_NUMERIC, _INTEGER = "fiu", "iu"


def _check_array(where: Path, kind: str, name: str, arr: np.ndarray, shape: str, ndim: tuple[int, ...],
                 dtypes: str = _NUMERIC, rows: int | None = None) -> np.ndarray:
    """``arr`` if it is usable as array ``name`` of a ``kind`` file, else :class:`DataFileError`
    naming the file and the array, with the expected ``shape`` (text) and what was found.

    Checks, in order: number of dimensions, dtype kind, at least one row (or exactly ``rows``),
    and, for floats, only finite values. Every array is read whole at load (for its checksum)
    already, so the checks cost one more pass at most.
    """
    arr = np.asarray(arr)
    found = f"found shape {arr.shape}, dtype {arr.dtype}"
    if arr.ndim not in ndim:
        raise DataFileError(f"{where}: {kind} array {name!r} must be {shape}; {found}")
    if arr.dtype.kind not in dtypes:
        wanted = "integers" if dtypes == _INTEGER else "numbers"
        raise DataFileError(f"{where}: {kind} array {name!r} must hold {wanted} ({shape}); {found}")
    if rows is None and len(arr) == 0:
        raise DataFileError(f"{where}: {kind} array {name!r} has no samples ({found})")
    if rows is not None and len(arr) != rows:
        raise DataFileError(f"{where}: {kind} array {name!r} has {len(arr)} samples but 'x' has {rows} ({found})")
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr.reshape(len(arr), -1)).all(1) if arr.ndim > 1 else np.isfinite(arr)
        if not finite.all():
            first = int(np.flatnonzero(~finite)[0])
            raise DataFileError(f"{where}: {kind} array {name!r} holds NaN or infinite values ({int((~finite).sum())} "
                                f"of {len(arr)} rows, the first at row {first}); the file cannot be used as data")
    return arr


def regression_dataset(arrays, meta, path=None) -> ArrayDataset:
    where = Path(path or "<memory>")
    _require(arrays, ("x", "y"), where, "regression")
    x = _check_array(where, "regression", "x", arrays["x"], "(N, L, d) inputs", (3,))
    y = _check_array(where, "regression", "y", arrays["y"], "(N, k) labels", (2,), rows=len(x))
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.float32)
    return ArrayDataset(x, y, task="regression", input_kind="continuous", d_input=x.shape[2],
                        d_output=y.shape[1], meta=meta, path=path)


def forecasting_dataset(arrays, meta, path=None) -> ForecastingDataset:
    where = Path(path or "<memory>")
    arrays = resolve_latent(arrays, meta, where)  # an η file: the latent file's arrays and its η
    _require(arrays, ("state", "symbols", "W", "Q", "eta", "horizon"), where, "forecasting")
    state = _check_array(where, "forecasting", "state", arrays["state"], "(N, T, d) latent states", (3,))
    _check_array(where, "forecasting", "symbols", arrays["symbols"], "(N, T) symbol ids", (2,), _INTEGER, rows=len(state))
    for name in ("W", "Q", "eta", "horizon"):
        _check_array(where, "forecasting", name, arrays[name], "numbers", (1, 2, 3))
    horizon = int(np.asarray(arrays["horizon"]).ravel()[0])
    if not 1 <= horizon < state.shape[1]:
        raise DataFileError(f"{where}: forecasting horizon {horizon} leaves no input window in sequences of "
                            f"{state.shape[1]} steps (array 'state' of shape {state.shape})")
    return ForecastingDataset(arrays, meta, path)


def classification_dataset(arrays, meta, path=None) -> ArrayDataset:
    where = Path(path or "<memory>")
    _require(arrays, ("x", "y"), where, "classification")
    x = _check_array(where, "classification", "x", arrays["x"], "(N, L) token ids or (N, L, C) values", (2, 3))
    y = _check_array(where, "classification", "y", arrays["y"], "(N,) class ids", (1,), _INTEGER, rows=len(x))
    try:
        n_classes = int(meta["n_classes"])
        if x.ndim == 2:
            _check_array(where, "classification", "x", x, "(N, L) integer token ids", (2,), _INTEGER)
            input_kind, d_input, x = "tokens", int(meta["vocab_size"]), np.asarray(x, dtype=np.int64)
        else:
            input_kind, d_input, x = "continuous", x.shape[2], np.asarray(x, dtype=np.float32)
    except KeyError as err:
        raise DataFileError(f"{where}: classification meta lacks key {err}") from None
    declared = meta.get("input_kind", input_kind)
    if declared != input_kind:
        raise DataFileError(f"{where}: meta input_kind {declared!r} does not match x of shape {x.shape}")
    if y.min() < 0 or y.max() >= n_classes:
        raise DataFileError(f"{where}: classification array 'y' holds class ids {y.min()}..{y.max()}, "
                            f"outside 0..{n_classes - 1} (meta n_classes = {n_classes})")
    y = np.asarray(y, dtype=np.int64)
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


def standardized_dataset(dataset, stats: LabelStandardization) -> ArrayDataset:
    """A copy of a regression :class:`contlaws.data.sets.ArrayDataset` with labels z = (y − mean)/std.

    The inputs are shared, not copied; the meta records the statistics used. (Here beside the
    dataset classes, not in :mod:`contlaws.data.regression`, which the datasets' module imports.)
    """
    if getattr(dataset, "task", None) != "regression" or not hasattr(dataset, "y"):
        raise ValueError(f"{getattr(dataset, 'path', None) or 'dataset'}: label standardization needs a regression "
                         "split held as arrays (x, y)")  # fmt: skip
    meta = {**dataset.meta, "label_standardization": stats.to_dict()}
    return ArrayDataset(dataset.x, stats.apply(dataset.y), task="regression", input_kind=dataset.input_kind,
                        d_input=dataset.d_input, d_output=dataset.d_output, meta=meta, path=dataset.path)  # fmt: skip
