"""The real benchmark downloads: where they come from, their checksums, what is unpacked.

| source | archive | md5 |
|---|---|---|
| ``lra`` | ``lra_release.gz`` (about 8 GB) | none published: pinned by DVC in ``dvc.lock`` |
| ``imdb`` | ``aclImdb_v1.tar.gz`` | 7c2ac02c03563afcf9b574c7e56c153a |
| ``cifar10`` | ``cifar-10-python.tar.gz`` | c58f30108f718f92721af3b95e74349a |

Unpacked into ``data/benchmarks/raw/<source>/``: for LRA ``listops-1000/basic_*.tsv``,
``tsv_data/new_aan_pairs.*.tsv`` and ``pathfinder{32,128}/curv_contour_length_14/``; for IMDB
``{train,test}/{neg,pos}/*.txt``; for CIFAR-10 ``data_batch_1..5``, ``test_batch``, ``batches.meta``.

Only what the tasks read is unpacked (for LRA: not the other pathfinder difficulties or the
64/256 resolutions; for IMDB: not the 50 000 unlabelled reviews).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from contlaws.data.fetch import download, marker_owner, pinned_md5, require_replaceable, strip_to_anchor, unpack_tar
from contlaws.io import dumps_json

log = logging.getLogger(__name__)

FETCH_RECORD = "FETCHED.json"  # written into every unpacked folder: what was fetched (and the mark of a fetch)
MIRROR_ENV = "CONTLAWS_BENCH_MIRROR"  # a folder or URL holding the archives under their own names
DOWNLOADS = Path("data/benchmarks/downloads")  # archives (DVC outputs, not cached; kept to resume)
LRA_SPLIT_FILES = frozenset(
    [f"listops-1000/basic_{s}.tsv" for s in ("train", "val", "test")]
    + [f"tsv_data/new_aan_pairs.{s}.tsv" for s in ("train", "eval", "test")]
)
LRA_PATHFINDER_DIRS = (("pathfinder32", "curv_contour_length_14"), ("pathfinder128", "curv_contour_length_14"))


def _select_lra(rel: PurePosixPath) -> PurePosixPath | None:
    rel = strip_to_anchor(rel, ("listops-1000", "tsv_data", "pathfinder32", "pathfinder128"))
    if rel is None or rel.name.startswith("._"):
        return None
    if rel.as_posix() in LRA_SPLIT_FILES or tuple(rel.parts[:2]) in LRA_PATHFINDER_DIRS:
        return rel
    return None


def _select_imdb(rel: PurePosixPath) -> PurePosixPath | None:
    parts = rel.parts
    if len(parts) >= 4 and parts[-3] in ("train", "test") and parts[-2] in ("neg", "pos") and rel.suffix == ".txt":
        return PurePosixPath(*parts[-3:])
    return None


def _select_cifar10(rel: PurePosixPath) -> PurePosixPath | None:
    names = {f"data_batch_{i}" for i in range(1, 6)} | {"test_batch", "batches.meta"}
    return PurePosixPath(rel.name) if rel.name in names else None


@dataclass(frozen=True)
class Source:
    name: str
    url: str
    md5: str | None
    select: Callable[[PurePosixPath], PurePosixPath | None]

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def archive(self) -> Path:
        return DOWNLOADS / self.filename

    def location(self) -> str:
        """The official URL, or the same file name under ``$CONTLAWS_BENCH_MIRROR`` when that is set."""
        mirror = os.environ.get(MIRROR_ENV)
        return f"{mirror.rstrip('/')}/{self.filename}" if mirror else self.url


SOURCES = {
    s.name: s
    for s in [
        Source("lra", "https://storage.googleapis.com/long-range-arena/lra_release.gz", None, _select_lra),
        Source("imdb", "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
               "7c2ac02c03563afcf9b574c7e56c153a", _select_imdb),
        Source("cifar10", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
               "c58f30108f718f92721af3b95e74349a", _select_cifar10),
    ]
}


def fetch(
    name: str,
    out_dir: str | Path,
    archive: str | Path | None = None,
    url: str | None = None,
    md5: str | None = None,
    dvc_lock: str | Path = "dvc.lock",
    progress: bool = True,
    force: bool = False,
) -> str:
    """Download (resuming), verify and unpack source ``name`` into ``out_dir``; return the archive md5.

    An existing ``out_dir`` is replaced only when it is empty or an earlier fetch (it holds
    ``FETCHED.json``), or when ``force`` is set: a folder of other files is refused before the download.

    ``url`` defaults to :meth:`Source.location` (official URL or mirror). The expected md5 is
    ``md5`` if given, else the published one, else (LRA) the one ``dvc_lock`` pins for ``archive``;
    with none of them the download is accepted and its md5 logged (DVC then pins it in
    ``dvc.lock``: commit that file).
    """
    source = SOURCES[name]
    owner = marker_owner(FETCH_RECORD)
    require_replaceable(out_dir, owner, force)  # before a download of several GB, not after it
    archive = Path(archive) if archive is not None else source.archive
    expected = md5 or source.md5 or pinned_md5(dvc_lock, archive)
    if expected is None:
        log.warning("%s: no published checksum and none pinned in %s yet; DVC pins it after this run "
                    "(commit dvc.lock so every later fetch is verified)", name, dvc_lock)
    url = url or source.location()
    got = download(url, archive, md5=expected, progress=progress)
    # No URL or path in the record: the unpacked bytes (and their DVC hash) must not depend on the mirror.
    record = {"source": name, "archive": archive.name, "md5": got}
    n_files = unpack_tar(archive, out_dir, source.select, progress=progress,
                         extra_files={FETCH_RECORD: dumps_json(record)}, owner=owner, force=force)
    log.info("%s: %d files unpacked into %s (archive md5 %s)", name, n_files, out_dir, got)
    return got
