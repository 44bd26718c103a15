"""A real byte-level text task that needs no download: chunks of files shipped with CPython.

Why this task: the alignment claim needs real token streams beside the smooth signals, and the
text benchmarks of the paper (LRA Text, Retrieval) are downloads. The Python distribution itself
ships real text of different kinds; a fixed-length chunk of bytes is classified by the kind of file
it comes from, as LRA Text classifies byte-level IMDB reviews. Three classes:

* ``python_code``: Python modules (logic, docstrings, comments);
* ``english_prose``: change logs, read-me and credit files, a reStructuredText design note;
* ``codec_tables``: generated character-map modules (hex tables with Unicode names).

The files (:data:`SOURCES`) were chosen among those byte-identical in CPython 3.10.13, 3.11.7,
3.12.1 and 3.13.0, so the task is the same on every supported Python. Each is pinned by sha256 and
read as bytes (nothing is imported or executed); a missing or changed file is refused with its name.

Chunks: every file is cut into non-overlapping chunks of :data:`CHUNK_BYTES` bytes (the tail
shorter than a chunk is dropped); each class keeps the same number of chunks, the size of its
smallest class, taken at evenly spaced positions over its files' chunks in :data:`SOURCES` order
(deterministic, no seed). Tokens are bytes + 1 (0 is padding; vocabulary 257, as the other
byte-level tasks, :mod:`contlaws.data.benchmarks.common`).
"""

from __future__ import annotations

import hashlib
import sysconfig
from pathlib import Path

import numpy as np

from contlaws.data.benchmarks.common import byte_tokens
from contlaws.errors import DataFileError

CHUNK_BYTES = 128
CLASSES = ("python_code", "english_prose", "codec_tables")
# (path under the standard library folder, class, sha256)
SOURCES: tuple[tuple[str, str, str], ...] = (
    ("difflib.py", "python_code", "0c6afc23568d55b3e9ac914f9c5361e3033e778aa5b58d3cc82835fc5c638679"),
    ("optparse.py", "python_code", "07d224301cba312fa0697bff9cd5a4bb4f778a90629632091b3f4ae874d89af5"),
    ("tracemalloc.py", "python_code", "c2cc84a05b824df79840c98729a0e94ef8909b11c528a1b2c5a00aa436b97b25"),
    ("idlelib/pyparse.py", "python_code", "21c6bf43370998d5a5a6670f7b13409335e9a2c1a350ed586bbe63be5f226648"),
    ("idlelib/format.py", "python_code", "dc2b00fb239f38543bf973d94daef2c52457b905d4d89c640993823127b7923c"),
    ("xml/sax/handler.py", "python_code", "64c7aae49f1dd382a7b9012610307bfa1d43a14a5dc09a5c8da30903f6805c3d"),
    ("_markupbase.py", "python_code", "cb14dd6f2e2439eb70b806cd49d19911363d424c2b6b9f4b73c9c08022d47030"),
    ("json/__init__.py", "python_code", "d5d41e2c29049515d295d81a6d40b4890fbec8d8482cfb401630f8ef2f77e4d5"),
    ("idlelib/NEWS2x.txt", "english_prose", "c89a3b513501ebace8e428aea68dce39d0af9f29196e08fc9ea49c99605e79e7"),
    ("idlelib/README.txt", "english_prose", "4f2dc8ffdbfc7837b60edc32ac2f593a220f4abf0ea00cc477382ad8ecf8eb3d"),
    ("idlelib/CREDITS.txt", "english_prose", "33e6a36056667d40e26f195c14371567470f53324c3fec43aec29e09d7d2a60b"),
    ("idlelib/ChangeLog", "english_prose", "b7f42699e5e5a7c82ebdf2a2962946b7228c933ece0ea7c0d7789f21a7dd7e64"),
    ("email/architecture.rst", "english_prose", "f2b2ba7497fd02d13abcfc2a98099283a94b09e8b4f2c1c822ecacde3bec3eae"),
    ("encodings/cp437.py", "codec_tables", "5c2a5015cd36cf7f561269f33dec4c323093d3d88b0673969accdabdcb9ce2cb"),
    ("encodings/cp850.py", "codec_tables", "257e29f235e2a8790dd68cee45668776648bab809ce8584f893cdd8fd007993c"),
    ("encodings/mac_arabic.py", "codec_tables", "5eafd9a3136abfbd8ed52df9c90203c7a283e7429ed60502a87a02511e0fb777"),
)


def stdlib_root() -> Path:
    """The standard library folder of the running Python (``sysconfig``'s ``stdlib`` path)."""
    return Path(sysconfig.get_paths()["stdlib"])


def read_source(root: Path, rel: str, sha256: str) -> bytes:
    """The bytes of ``root/rel``; DataFileError when it is missing or its sha256 is not the pinned one."""
    path = root / rel
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataFileError(f"{path}: source file of the stdlib_text task cannot be read ({err})") from None
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise DataFileError(f"{path}: sha256 {got} does not match the pinned {sha256} of the stdlib_text task "
                            "(a different or modified Python standard library)")  # fmt: skip
    return data


def chunks(data: bytes, size: int = CHUNK_BYTES) -> list[np.ndarray]:
    """Non-overlapping byte-token chunks (size,) of ``data``; the short tail is dropped."""
    return [byte_tokens(data[i : i + size]) for i in range(0, len(data) - size + 1, size)]


def load(root: str | Path | None = None, sources=SOURCES, size: int = CHUNK_BYTES) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Every kept chunk as x (N, size) int64 tokens and y (N,) int64 class indices (class by class),
    with the record of the source files [{file, class, sha256, bytes}]."""
    root = stdlib_root() if root is None else Path(root)
    per_class: dict[str, list[np.ndarray]] = {c: [] for c in CLASSES}
    record = []
    for rel, kind, sha256 in sources:
        data = read_source(root, rel, sha256)
        per_class[kind].extend(chunks(data, size))
        record.append({"file": rel, "class": kind, "sha256": sha256, "bytes": len(data)})
    n_keep = min(len(v) for v in per_class.values())
    if n_keep == 0:
        raise DataFileError(f"{root}: a class of the stdlib_text task has no chunk of {size} bytes")
    xs, ys = [], []
    for label, kind in enumerate(CLASSES):
        pick = np.linspace(0, len(per_class[kind]) - 1, n_keep).round().astype(int)  # evenly spaced positions
        xs.extend(per_class[kind][i] for i in pick)
        ys.extend([label] * n_keep)
    return np.stack(xs), np.asarray(ys, dtype=np.int64), record
