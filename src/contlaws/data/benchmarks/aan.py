"""Retrieval / AAN (LRA): do two papers of the ACL Anthology Network cite each other? Byte level.

File format (LRA ``tsv_data/new_aan_pairs.{train,eval,test}.tsv``): no header, one pair per line,
five tab-separated fields ``label  id1  id2  text1  text2``. The label is written as a number
(``1`` or ``1.0``); LRA reads the file with quoting off (``use_quote_delim=False``), so a ``"`` in a
text is an ordinary character, and so it is here. The texts are tokenized as raw bytes
(:func:`~contlaws.data.benchmarks.common.byte_tokens`: byte b -> b + 1, 0 padding, vocabulary 257).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from contlaws.data.benchmarks.common import byte_tokens
from contlaws.errors import DataFileError

SPLIT_FILES = {"train": "new_aan_pairs.train.tsv", "val": "new_aan_pairs.eval.tsv", "test": "new_aan_pairs.test.tsv"}


def read_tsv(
    path: str | Path, max_length: int | None = None
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Read an AAN pairs file.

    Returns:
        first, second: lists of (L_i,) int64 byte tokens of text1 and text2 (truncated to
        ``max_length``), in file order; labels: (N,) int64 in {0, 1}.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: AAN pairs file not found")
    first, second, labels = [], [], []
    with open(path, "rb") as f:
        for line_no, line in enumerate(f, start=1):
            line = line.rstrip(b"\r\n")
            if not line:
                continue
            fields = line.split(b"\t")
            if len(fields) != 5:
                raise DataFileError(f"{path}:{line_no}: expected 5 tab-separated fields, got {len(fields)}")
            try:
                label = int(float(fields[0]))
            except ValueError:
                raise DataFileError(f"{path}:{line_no}: label {fields[0][:20]!r} is not a number") from None
            if label not in (0, 1):
                raise DataFileError(f"{path}:{line_no}: label {label} is not 0 or 1")
            labels.append(label)
            first.append(byte_tokens(fields[3], max_length))
            second.append(byte_tokens(fields[4], max_length))
    return first, second, np.array(labels, dtype=np.int64)
