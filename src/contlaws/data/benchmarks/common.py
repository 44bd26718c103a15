"""Pieces shared by the benchmark loaders: byte tokens, padding, seeded splits, image sequences.

Token conventions (every token task): id 0 is padding; byte-level text maps byte b to id b + 1
(vocabulary 257, as ``tfds.deprecated.text.ByteTextEncoder`` in the LRA code).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

PAD = 0
BYTE_VOCAB_SIZE = 257  # 256 byte values + padding


def byte_tokens(data: bytes, max_length: int | None = None) -> np.ndarray:
    """Byte-level tokens of raw text: byte b -> b + 1 (0 stays free for padding). Returns (L,) int64."""
    if max_length is not None:
        data = data[:max_length]
    return np.frombuffer(data, dtype=np.uint8).astype(np.int64) + 1


def pad_sequences(sequences: Sequence[np.ndarray], length: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad (and truncate) token sequences to ``length`` with :data:`PAD`.

    Returns:
        x: (N, length) int64 tokens; lengths: (N,) int64 true lengths after truncation.
    """
    x = np.full((len(sequences), length), PAD, dtype=np.int64)  # (N L)
    lengths = np.zeros(len(sequences), dtype=np.int64)
    for i, seq in enumerate(sequences):
        n = min(len(seq), length)
        x[i, :n] = seq[:n]
        lengths[i] = n
    return x, lengths


def split_by_counts(n_total: int, counts: Sequence[int], seed: int | None) -> list[np.ndarray]:
    """Disjoint index sets of the given sizes, from a seeded permutation (or in order if seed is None)."""
    if sum(counts) > n_total:
        raise ValueError(f"split sizes {list(counts)} exceed the {n_total} available examples")
    order = np.arange(n_total) if seed is None else np.random.default_rng(seed).permutation(n_total)
    bounds = np.cumsum([0, *counts])
    return [np.sort(order[a:b]) for a, b in itertools.pairwise(bounds)]


def split_by_fractions(n_total: int, fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Seeded split into parts of ``floor(f * n)`` examples; the first part takes the remainder."""
    sizes = [int(f * n_total) for f in fractions]
    sizes[0] = n_total - sum(sizes[1:])
    return split_by_counts(n_total, sizes, seed)


def images_to_sequences(images: np.ndarray) -> np.ndarray:
    """Images (N, H, W) or (N, H, W, C) -> sequences (N, H*W, C) in row-major pixel order.

    Step t = r*W + c reads pixel (row r, column c): the image is scanned row by row, top to bottom.
    """
    if images.ndim == 3:
        images = images[..., None]  # (N H W 1)
    n, h, w, c = images.shape
    return images.reshape(n, h * w, c)  # (N H*W C)


def bilinear_resize(images: np.ndarray, size: int) -> np.ndarray:
    """Resize square images (N, S, S) to (N, size, size) by bilinear interpolation.

    Corner-aligned grid: output pixel i samples the input at i * (S - 1) / (size - 1), so the four
    corner pixels are kept and any image that is affine in (row, column) stays exactly affine.
    """
    _, s, s2 = images.shape
    if s != s2:
        raise ValueError(f"bilinear_resize expects square images, got {images.shape}")
    if size == s:
        return images.astype(np.float64)
    pos = np.linspace(0.0, s - 1, size)  # (size,) sample positions on the input grid
    lo = np.minimum(np.floor(pos).astype(int), s - 2)
    frac = pos - lo  # (size,)
    rows = images[:, lo, :] * (1 - frac)[None, :, None] + images[:, lo + 1, :] * frac[None, :, None]  # (N size S)
    return rows[:, :, lo] * (1 - frac)[None, None, :] + rows[:, :, lo + 1] * frac[None, None, :]  # (N size size)
