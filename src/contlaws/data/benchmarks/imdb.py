"""IMDB sentiment (LRA "Text"): movie reviews, label 1 = positive, byte level.

Layout (``aclImdb_v1.tar.gz`` unpacked): ``{train,test}/{neg,pos}/<id>_<rating>.txt``, one review
per file, 12 500 per folder. Examples are ordered negatives first, then positives, each by the
numeric ``<id>``; a review is tokenized as its raw bytes (byte b -> b + 1, 0 padding; the HTML
``<br />`` tags are kept, as in LRA's byte-level setup).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from contlaws.data.benchmarks.common import byte_tokens
from contlaws.errors import DataFileError

LABELS = {"neg": 0, "pos": 1}


def review_files(root: str | Path, split: str) -> list[tuple[Path, int]]:
    """(file, label) pairs of ``root/<split>/{neg,pos}``, in the documented order."""
    root = Path(root)
    if (root / "aclImdb").is_dir():
        root = root / "aclImdb"
    out = []
    for folder, label in LABELS.items():
        directory = root / split / folder
        if not directory.is_dir():
            raise DataFileError(f"{directory}: IMDB folder not found (expected {{train,test}}/{{neg,pos}} in {root})")
        try:
            files = sorted(directory.glob("*.txt"), key=lambda p: (int(p.stem.split("_")[0]), p.name))
        except ValueError as err:
            raise DataFileError(f"{directory}: review file name not of the form <id>_<rating>.txt ({err})") from None
        out += [(p, label) for p in files]
    return out


def read_split(root: str | Path, split: str, max_length: int | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    """Read ``split`` ('train' or 'test').

    Returns:
        sequences: list of (L_i,) int64 byte tokens (truncated to ``max_length``); labels: (N,) int64.
    """
    files = review_files(root, split)
    sequences = [byte_tokens(path.read_bytes(), max_length) for path, _ in files]
    return sequences, np.array([label for _, label in files], dtype=np.int64)
