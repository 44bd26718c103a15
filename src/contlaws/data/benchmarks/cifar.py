"""CIFAR-10 (LRA "Image"): 32x32 images read as 1024-step sequences, 10 classes.

Format (``cifar-10-python.tar.gz`` unpacked to ``cifar-10-batches-py/``): pickles ``data_batch_1`` ..
``data_batch_5`` (training) and ``test_batch``, each a dict with ``b"data"`` (10000, 3072) uint8 and
``b"labels"``. A row holds the 1024 red values, then green, then blue, each plane row-major.

Sequence order: step t = r*32 + c is pixel (row r, column c), scanned row by row. Values are
intensities / 255 in [0, 1]. ``grayscale=True`` (the LRA "Image" task, and the default of
:mod:`~contlaws.data.benchmarks.tasks`) gives one channel with the ITU-R 601 luma weights that
``tf.image.rgb_to_grayscale`` uses in the LRA code; ``grayscale=False`` gives RGB channels in that order.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from contlaws.data.benchmarks.common import images_to_sequences
from contlaws.io import DataFileError

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)
LUMA_WEIGHTS = np.array([0.2989, 0.5870, 0.1140])  # R, G, B (tf.image.rgb_to_grayscale)
SIDE = 32


def read_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR pickle -> images (N, 32, 32, 3) uint8, labels (N,) int64."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except FileNotFoundError:
        raise DataFileError(f"{path}: CIFAR-10 batch not found") from None
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as err:
        raise DataFileError(f"{path}: not a CIFAR-10 python batch ({type(err).__name__}: {err})") from None
    if data.ndim != 2 or data.shape[1] != 3 * SIDE * SIDE or len(labels) != len(data):
        raise DataFileError(f"{path}: data has shape {data.shape} with {len(labels)} labels; expected (N, 3072)")
    images = data.reshape(-1, 3, SIDE, SIDE).transpose(0, 2, 3, 1)  # (N H W 3): planes -> channels last
    return images, labels


def read_split(root: str | Path, split: str, grayscale: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """All images of ``split`` ('train': data_batch_1..5 in order, 'test': test_batch).

    Returns:
        x: (N, 1024, C) float32 in [0, 1], C = 1 (grayscale) or 3 (RGB); labels: (N,) int64.
    """
    root = Path(root)
    if (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    names = TRAIN_FILES if split == "train" else TEST_FILES
    parts = [read_batch(root / name) for name in names]
    images = np.concatenate([p[0] for p in parts]).astype(np.float64) / 255.0  # (N H W 3)
    labels = np.concatenate([p[1] for p in parts])
    if grayscale:
        images = images @ LUMA_WEIGHTS  # (N H W)
    return images_to_sequences(images).astype(np.float32), labels
