"""Handwritten digits shipped with scikit-learn (``load_digits``), read as a pixel sequence.

1797 grayscale images of 8x8 pixels with values 0..16, 10 classes, no download. Each image is
scaled to [0, 1] (divided by 16), optionally upsampled to ``size`` x ``size`` by corner-aligned
bilinear interpolation (:func:`~contlaws.data.benchmarks.common.bilinear_resize`; 16 -> 256 steps,
a longer and smoother sequence than the raw 64 steps), and scanned row by row: step t = r*size + c.
"""

from __future__ import annotations

import numpy as np

from contlaws.data.benchmarks.common import bilinear_resize, images_to_sequences

N_CLASSES = 10
NATIVE_SIDE = 8


def load(size: int = NATIVE_SIDE) -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits as x (N, size*size, 1) float32 in [0, 1] and labels (N,) int64 (sklearn order)."""
    from sklearn.datasets import load_digits  # imported here: a heavy import only this task needs

    digits = load_digits()
    images = digits.images.astype(np.float64) / 16.0  # (N 8 8)
    images = bilinear_resize(images, size)  # (N size size)
    return images_to_sequences(images).astype(np.float32), digits.target.astype(np.int64)
