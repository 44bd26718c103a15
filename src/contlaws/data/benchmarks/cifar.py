"""CIFAR-10 (LRA "Image"): 32x32 images read as 1024-step sequences, 10 classes.

Format (``cifar-10-python.tar.gz`` unpacked to ``cifar-10-batches-py/``): pickles ``data_batch_1`` ..
``data_batch_5`` (training) and ``test_batch``, each a dict with ``b"data"`` (10000, 3072) uint8 and
``b"labels"``. A row holds the 1024 red values, then green, then blue, each plane row-major.

Sequence order: step t = r*32 + c is pixel (row r, column c), scanned row by row. Values are
intensities / 255 in [0, 1]. ``grayscale=True`` (the LRA "Image" task, and the default of
:mod:`~contlaws.data.benchmarks.tasks`) gives one channel with the ITU-R 601 luma weights that
``tf.image.rgb_to_grayscale`` uses in the LRA code; ``grayscale=False`` gives RGB channels in that order.

The batches are read with :class:`BatchUnpickler`, which admits only the few globals a CIFAR batch
refers to (numpy array and dtype reconstruction, and ``_codecs.encode`` for byte strings in pickles
written by Python 3 at protocol 2), so a crafted batch cannot run code: a plain ``pickle.load``
calls whatever the file names.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np

from contlaws.data.benchmarks.common import images_to_sequences
from contlaws.errors import DataFileError

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct as _numpy_reconstruct
except ImportError:  # pragma: no cover (numpy 1)
    from numpy.core.multiarray import _reconstruct as _numpy_reconstruct


# The largest array a batch may declare: a real batch holds 10000 x 3072 bytes (30 MB). A crafted
# shape is refused before numpy allocates it.
MAX_ARRAY_BYTES = 1 << 30


def _plain_dtype(spec, align=False, copy=True):
    """numpy.dtype for fixed-size numbers and bytes only (an object dtype would unpickle arbitrary items)."""
    dtype = np.dtype(spec, align, copy)
    if dtype.hasobject or dtype.kind not in "biufcSUV":
        raise pickle.UnpicklingError(f"refusing {dtype!r}: not a plain numeric dtype")
    return dtype


def _check_size(shape, dtype: np.dtype) -> None:
    """UnpicklingError when ``shape`` is not a tuple of non-negative ints or exceeds :data:`MAX_ARRAY_BYTES`."""
    dims = (shape,) if isinstance(shape, int) else shape
    if not isinstance(dims, tuple) or not all(isinstance(d, int) and d >= 0 for d in dims):
        raise pickle.UnpicklingError(f"refusing array shape {shape!r}: not a tuple of sizes")
    n_bytes = math.prod(dims) * max(dtype.itemsize, 1)
    if n_bytes > MAX_ARRAY_BYTES:
        raise pickle.UnpicklingError(f"refusing an array of shape {dims} ({n_bytes:.3g} bytes): more than a "
                                     f"CIFAR-10 batch holds (limit {MAX_ARRAY_BYTES} bytes)")  # fmt: skip


def _new_array(shape, dtype=float, *args, **kwargs):
    """What a batch gets for ``numpy.ndarray``: the constructor with a plain dtype and a bounded size only."""
    dtype = _plain_dtype(dtype)
    _check_size(shape, dtype)
    return np.ndarray(shape, dtype, *args, **kwargs)


def _reconstruct_array(cls, shape, typecode):
    """numpy's ``_reconstruct`` for plain ndarrays only (the class comes from the pickle: ``numpy.ndarray``,
    which :class:`BatchUnpickler` maps to :func:`_new_array`)."""
    if cls is not _new_array:
        raise pickle.UnpicklingError(f"refusing array class {cls!r}: not numpy.ndarray")
    dtype = _plain_dtype(typecode)
    _check_size(shape, dtype)
    return _numpy_reconstruct(np.ndarray, shape, typecode)


def _latin1_encode(text, encoding="utf-8"):
    """``_codecs.encode`` as Python 3 pickles bytes at protocols < 3: latin-1 only."""
    if not isinstance(text, str) or encoding.lower().replace("_", "-") not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refusing _codecs.encode of {type(text).__name__} to {encoding!r}")
    return text.encode("latin-1")


# (module, name) a CIFAR batch may refer to -> what it gets instead. The release was pickled by
# Python 2 at protocol 2 (numpy.core.multiarray); numpy >= 2 and Python 3 write the others.
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct_array,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct_array,
    ("numpy", "ndarray"): _new_array,
    ("numpy", "dtype"): _plain_dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class BatchUnpickler(pickle.Unpickler):
    """An unpickler that builds dicts, lists, numbers, byte strings and plain numpy arrays, and
    refuses every other global (so no callable named by the file is ever called)."""

    def find_class(self, module: str, name: str):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing {module}.{name}: a CIFAR-10 batch holds only arrays, "
                                         "lists and byte strings (a crafted file?)") from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refusing a persistent id: not a CIFAR-10 batch")


TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)
LUMA_WEIGHTS = np.array([0.2989, 0.5870, 0.1140])  # R, G, B (tf.image.rgb_to_grayscale)
SIDE = 32


def read_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR pickle -> images (N, 32, 32, 3) uint8, labels (N,) int64."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            batch = BatchUnpickler(f, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except FileNotFoundError:
        raise DataFileError(f"{path}: CIFAR-10 batch not found") from None
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        raise DataFileError(f"{path}: not a CIFAR-10 python batch ({type(err).__name__}: {err})") from None
    except MemoryError:  # an allocation the checks above did not foresee (a huge list, a huge byte string)
        raise DataFileError(f"{path}: not a CIFAR-10 python batch (it needs more memory than this machine has)") from None
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
