"""The function API: :func:`task_continuity` of in-memory sequences and :func:`score_dataset` of a
file or dataset (streamed through the accumulator)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from contlaws.errors import DataFileError
from contlaws.task_continuity.accumulator import DEFAULT_STRIDES, TaskContinuity, TaskContinuityAccumulator
from contlaws.task_continuity.arrays import _is_contlaws_dataset, npz_keys, open_array
from contlaws.task_continuity.metrics import Metric


# ---------------------------------------------------------------------------------------------
# One-shot and dataset APIs
# ---------------------------------------------------------------------------------------------
def task_continuity(
    x,
    *,
    metric: str = "refinement",
    strides: Iterable[int] = DEFAULT_STRIDES,
    lengths: np.ndarray | None = None,
    input_kind: str = "continuous",
    vocab_size: int | None = None,
    embedding: np.ndarray | None = None,
    normalize: bool = True,
    batch_size: int = 4096,
    standardize: str = "channels",
) -> TaskContinuity:
    """Task continuity of sequences held in memory (or in a memory-mapped array).

    Args:
        x: (N, L) or (N, L, d) values, (N, L) token ids, (N, H, W[, C]) images, or a list of
            (L_i[, d]) arrays of different lengths.
        metric, strides, input_kind, vocab_size, embedding, normalize, standardize: see
            :class:`TaskContinuityAccumulator`.
        lengths: (N,) true lengths of a padded ``x`` (values past a length are ignored).
        batch_size: sequences per update (bounds memory for memory-mapped ``x``).
    Returns:
        :class:`TaskContinuity`.
    """
    acc = TaskContinuityAccumulator(
        metric, strides, input_kind=input_kind, vocab_size=vocab_size, embedding=embedding, normalize=normalize,
        standardize=standardize,
    )
    if isinstance(x, (list, tuple)):
        if lengths is not None:
            raise ValueError("pass either a list of sequences or a padded array with lengths, not both")
        for lo in range(0, len(x), batch_size):
            acc.update(list(x[lo : lo + batch_size]))
        return acc.result()
    if not hasattr(x, "shape"):
        x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"expected sequences (N, L[, d]), got an array of shape {x.shape}")
    n = len(x)
    if lengths is not None and np.shape(lengths) != (n,):
        raise ValueError(f"lengths must be ({n},) integers, got shape {np.shape(lengths)}")
    for lo in range(0, n, batch_size):
        acc.update(x[lo : lo + batch_size], None if lengths is None else np.asarray(lengths)[lo : lo + batch_size])
    return acc.result()


def split_side_by_side(x: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows holding k padded sequences side by side (lengths (N, k), e.g. the AAN document pairs)
    -> (N·k, L/k[, d]) sequences and (N·k,) lengths. (N,) lengths pass through unchanged."""
    if lengths.ndim == 1:
        return x, lengths
    n, k = lengths.shape
    if x.shape[1] % k:
        raise ValueError(f"lengths of shape {lengths.shape} split rows of length {x.shape[1]} into {k} equal parts, which is impossible")
    return x.reshape(n * k, x.shape[1] // k, *x.shape[2:]), lengths.reshape(n * k)


def _to_numpy(x) -> np.ndarray:
    return np.asarray(x.detach().cpu() if hasattr(x, "detach") else x)


def score_dataset(
    path_or_dataset,
    *,
    metric: str = "refinement",
    strides: Iterable[int] = DEFAULT_STRIDES,
    key: str = "x",
    lengths_key: str | None = "lengths",
    input_kind: str | None = None,
    vocab_size: int | None = None,
    embedding: np.ndarray | None = None,
    normalize: bool = True,
    max_sequences: int = 0,
    batch_size: int = 1024,
    progress: bool = False,
    standardize: str = "channels",
    check_strides: bool = False,
) -> TaskContinuity:
    """Task continuity of a dataset, streamed in batches (memory: one batch).

    Args:
        path_or_dataset: a contlaws dataset file (read with :func:`contlaws.data.sets.load_split`),
            a user's ``.npy`` (memory-mapped) or ``.npz``, an object with ``get_batch(idx) -> (x, y)``
            and ``len()`` (a :class:`contlaws.data.sets.SequenceDataset`), or an array.
        key: the array inside a user's ``.npz``.
        lengths_key: true lengths stored next to the inputs in an ``.npz`` (a contlaws benchmark file
            or a user's), used when present; (N,) or (N, k) for k sequences side by side. None: never.
        input_kind: None = the dataset's own ``input_kind``, else ``continuous``.
        max_sequences: score only the first N rows (0 = all).
        batch_size: rows read per batch.
        progress: show a progress bar on stderr.
        check_strides: refuse (ValueError) a stride not below the longest sequence length instead of
            scoring it (see :func:`check_strides_fit`); the CLI sets it.
        metric, strides, vocab_size, embedding, normalize, standardize: see :class:`TaskContinuityAccumulator`.
    Returns:
        :class:`TaskContinuity`.
    Raises:
        DataFileError naming the file (and key) for a missing or unreadable file; ValueError for
        unusable contents.
    """
    if max_sequences < 0:
        raise ValueError(f"max_sequences must be >= 0, got {max_sequences}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    source, lengths, kind, vocab = _resolve_source(path_or_dataset, key, lengths_key)
    input_kind = input_kind or kind or "continuous"
    if vocab_size is None and input_kind == "tokens" and embedding is None:
        vocab_size = vocab
    acc = TaskContinuityAccumulator(
        metric, strides, input_kind=input_kind, vocab_size=vocab_size, embedding=embedding, normalize=normalize,
        standardize=standardize,
    )
    total = len(source)
    limit = total if max_sequences == 0 else min(total, max_sequences)
    stream_into(acc, source, lengths, limit, batch_size, progress)
    if total == 0:
        raise ValueError(f"no sequences to score (array of shape {tuple(np.shape(source))})" if hasattr(source, "shape")
                         else "no sequences to score (the dataset is empty)")
    if check_strides:
        check_strides_fit(acc.strides, acc.max_length, acc.metric)
    return acc.result()


def stream_into(acc: TaskContinuityAccumulator, source, lengths, limit: int, batch_size: int, progress: bool) -> None:
    """Feed the first ``limit`` rows of ``source`` to ``acc`` in batches of ``batch_size`` (sequences
    side by side split by ``lengths`` when given)."""
    if hasattr(source, "get_arrays"):  # a contlaws dataset: numpy arrays, torch never imported
        read = lambda idx: np.asarray(source.get_arrays(idx)[0])
    elif hasattr(source, "get_batch"):  # any object of the documented get_batch protocol
        read = lambda idx: _to_numpy(source.get_batch(idx)[0])
    else:
        read = lambda idx: np.asarray(source[idx[0] : idx[-1] + 1])
    with tqdm(total=limit, disable=not progress, unit="seq", desc="task continuity", leave=False) as bar:
        for lo in range(0, limit, batch_size):
            idx = np.arange(lo, min(lo + batch_size, limit))
            x = read(idx)
            if lengths is None:
                acc.update(x)
            else:
                acc.update(*split_side_by_side(x, np.asarray(lengths[idx])))
            bar.update(len(idx))


def check_strides_fit(strides: Iterable[int], max_length: int, metric: Metric) -> None:
    """ValueError unless every stride is below the longest sequence length L.

    Why: refinement keeps samples 0, s, 2s, … and the last, so every s ≥ L − 1 keeps only the first
    and last sample and gives the same TC (a curve of repeated values, not a measurement);
    first_difference has no pair at a lag ≥ L.
    """
    unit = "lag" if metric.name == "first_difference" else "stride"
    if max_length == 0:
        raise ValueError("every sequence is empty (length 0); nothing to score")
    too_long = [s for s in strides if s >= max_length]
    if too_long:
        why = ("no pair of samples is that far apart" if unit == "lag"
               else f"every stride >= L - 1 = {max_length - 1} keeps only the first and last sample and gives the same TC")
        named = f"{unit} {too_long[0]} is" if len(too_long) == 1 else f"{unit}s {', '.join(map(str, too_long))} are"
        raise ValueError(f"{named} not below the sequence length L = {max_length} (the longest sequence): {why}; "
                         f"use {unit}s below {max_length}")


def _read_lengths(path: Path, lengths_key: str | None, n: int) -> np.ndarray | None:
    if not lengths_key or lengths_key not in npz_keys(path):
        return None
    lengths = np.asarray(open_array(path, lengths_key))
    if lengths.ndim not in (1, 2) or len(lengths) != n or not np.issubdtype(lengths.dtype, np.integer):
        raise DataFileError(f"{path}: array {lengths_key!r} of shape {lengths.shape} is not ({n},) or ({n}, k) integer lengths")
    return lengths


def _resolve_source(path_or_dataset, key: str, lengths_key: str | None):
    """-> (indexable source, lengths or None, input kind or None, vocabulary size or None)."""
    obj = path_or_dataset
    if isinstance(obj, (str, Path)):
        path = Path(obj)
        if _is_contlaws_dataset(path):
            from contlaws.data.sets import load_split

            dataset = load_split(path)
            return dataset, _read_lengths(path, lengths_key, len(dataset)), dataset.input_kind, _vocab(dataset)
        array = open_array(path, key)
        if array.ndim < 2:
            raise DataFileError(f"{path}: array {key!r} has shape {array.shape}, expected (N, L[, d]) sequences")
        lengths = _read_lengths(path, lengths_key, len(array)) if path.suffix.lower() == ".npz" and lengths_key != key else None
        return array, lengths, None, None
    if hasattr(obj, "get_batch"):
        return obj, getattr(obj, "lengths", None), getattr(obj, "input_kind", None), _vocab(obj)
    return np.asarray(obj), None, None, None


def _vocab(dataset) -> int | None:
    """Vocabulary size of a token dataset (contlaws datasets store it as ``d_input``)."""
    if getattr(dataset, "input_kind", None) != "tokens":
        return None
    return getattr(dataset, "vocab_size", None) or getattr(dataset, "d_input", None)
