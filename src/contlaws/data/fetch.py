"""Download an archive with resume and checksum, then unpack a selection of it atomically.

Used by ``contlaws bench fetch`` (the DVC stages in ``dvc.yaml``) for the real benchmarks. The
guarantees, in order:

* a download is written to ``<dest>.part`` and resumed with an HTTP ``Range`` request when that file
  already holds a prefix (an 8 GB archive survives a dropped connection);
* the finished file is checked against an md5; on a mismatch the partial data is deleted and a
  :class:`~contlaws.io.DataFileError` names the URL and both checksums; only a verified file is renamed
  onto ``dest``;
* unpacking writes into a temporary sibling directory and renames it onto the output directory, so
  a killed job never leaves a half-unpacked directory that looks finished; an output path that is
  an existing file (not a folder) is refused before anything is downloaded or moved;
* unpacked folders and files get the modes the user's umask gives new ones (0o777 / 0o666 minus
  the umask), never the archive's: a shared cluster file system needs them readable by the group.

A source can also be a plain local path (a team mirror on a shared file system); it is copied with
the same checks. ``file://`` URLs are not accepted (see docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import secrets
import shutil
import tarfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import yaml
from tqdm import tqdm

from contlaws.errors import DataFileError
from contlaws.io import output_file_error

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20


def md5_file(path: str | os.PathLike, chunk_bytes: int = CHUNK_BYTES) -> str:
    """Hex md5 of a file, read in chunks (archives are several GB)."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk_bytes):
            h.update(block)
    return h.hexdigest()


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def _remove(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _verify_or_discard(source: str, got_md5: str, md5: str | None, *discard: Path) -> None:
    if md5 is not None and got_md5 != md5.lower():
        _remove(*discard)
        raise DataFileError(
            f"{source}: checksum mismatch (expected md5 {md5.lower()}, downloaded file has {got_md5}); "
            "the partial download was deleted. Check the URL, a proxy or the mirror, then rerun."
        )


def _http_append(url: str, part: Path, timeout: float, progress: bool) -> None:
    """Fetch ``url`` into ``part``, continuing after the bytes ``part`` already holds."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "contlaws-fetch"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:
            # Range not satisfiable: the .part file already holds the whole file (the checksum decides).
            log.info("%s: %s already complete (%d bytes)", url, part, have)
            return
        raise DataFileError(f"{url}: download failed (HTTP {err.code} {err.reason})") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        raise DataFileError(f"{url}: download failed ({err!r}); rerun to resume from {part}") from None
    with response:
        mode = "ab"
        if have and response.status != 206:
            log.info("%s: server ignored the Range request; downloading from the start", url)
            have, mode = 0, "wb"
        elif have:
            start = response.headers.get("Content-Range", "").split(" ")[-1].split("-")[0]
            if start != str(have):
                raise DataFileError(f"{url}: server answered Range bytes={have}- with Content-Range {start!r}")
            log.info("%s: resuming after %d bytes", url, have)
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        bar = tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=part.name, disable=not progress)
        try:
            with open(part, mode) as f:
                while block := response.read(CHUNK_BYTES):
                    f.write(block)
                    bar.update(len(block))
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
            raise DataFileError(f"{url}: download interrupted ({err!r}); rerun to resume from {part}") from None
        finally:
            bar.close()
    if total is not None and part.stat().st_size != total:
        raise DataFileError(
            f"{url}: download ended at {part.stat().st_size} of {total} bytes; rerun to resume from {part}"
        )


def download(
    source: str,
    dest: str | os.PathLike,
    md5: str | None = None,
    timeout: float = 60.0,
    progress: bool = True,
) -> str:
    """Download ``source`` (an http(s) URL or a local path) to ``dest``; return the file's md5.

    An existing ``dest`` with the right checksum is kept (no network). An existing ``dest`` with the
    wrong one is fetched again into ``<dest>.part`` and replaced only once that download is verified
    (a missing source or a failed download leaves it untouched). ``md5=None`` skips verification (the caller pins the
    returned checksum, e.g. DVC in ``dvc.lock``).

    Raises:
        DataFileError: network failure (the ``.part`` file is kept, so a rerun resumes), checksum
            mismatch (the ``.part`` file is deleted), or a missing local source.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    if source.startswith("file:"):
        raise DataFileError(f"{source}: give a plain path instead of a file:// URL")
    if dest.exists():
        got = md5_file(dest)
        if md5 is None or got == md5.lower():
            log.info("%s: already present, md5 %s", dest, got)
            return got
        # Kept until a verified download replaces it: a missing source or a bad download leaves it as it was.
        log.warning("%s: md5 %s does not match %s; fetching it again (the file is replaced only by a verified "
                    "download)", dest, got, md5)  # fmt: skip
    dest.parent.mkdir(parents=True, exist_ok=True)
    if is_url(source):
        _http_append(source, part, timeout, progress)
    else:
        if not Path(source).is_file():
            raise DataFileError(f"{source}: local source file not found")
        shutil.copyfile(source, part)
    got = md5_file(part)
    _verify_or_discard(source, got, md5, part)
    os.replace(part, dest)
    return got


def _lock_outs(lock_path: str | os.PathLike) -> list[dict]:
    lock_path = Path(lock_path)
    if not lock_path.exists():
        return []
    try:
        lock = yaml.safe_load(lock_path.read_text()) or {}
    except yaml.YAMLError as err:
        raise DataFileError(f"{lock_path}: not valid YAML: {err}") from None
    return [out for stage in (lock.get("stages") or {}).values() for out in stage.get("outs") or []]


def pinned_md5(lock_path: str | os.PathLike, out_path: str | os.PathLike) -> str | None:
    """The md5 that ``dvc.lock`` records for output ``out_path`` of any stage, or None.

    After the first ``dvc repro`` DVC writes the hash of every stage output into ``dvc.lock``; when
    that file is committed, later fetches of a source without a published checksum (the LRA
    release) are verified against the bytes the first fetch saw.
    """
    want = PurePosixPath(Path(out_path).as_posix())
    for out in _lock_outs(lock_path):
        if PurePosixPath(out.get("path", "")) == want and out.get("md5"):
            return str(out["md5"])
    return None


def pinned_md5_prefix(lock_path: str | os.PathLike, path: str | os.PathLike) -> str | None:
    """The ``dvc.lock`` hash of the DVC output that contains ``path`` (itself or a parent), or None."""
    want = PurePosixPath(Path(path).as_posix())
    for out in _lock_outs(lock_path):
        out_path = PurePosixPath(out.get("path", ""))
        if out.get("md5") and (want == out_path or out_path in want.parents):
            return str(out["md5"])
    return None


def _safe_relative(name: str) -> PurePosixPath | None:
    rel = PurePosixPath(name)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        return None
    return rel


def require_folder_or_absent(out_dir: str | os.PathLike) -> None:
    """Raise :class:`DataFileError` when ``out_dir`` exists and is not a folder: an output folder
    replaces a previous output folder, never a file the user has there."""
    out_dir = Path(out_dir)
    if (out_dir.exists() or out_dir.is_symlink()) and not out_dir.is_dir():
        raise DataFileError(f"{out_dir}: exists and is not a folder; refusing to replace it with unpacked files "
                            "(move it away or give another output folder)")  # fmt: skip


def _sibling_directory(out_dir: Path) -> Path:
    """A new empty directory next to ``out_dir`` with the mode a plain mkdir gives (0o777 minus the
    umask; tempfile.mkdtemp would make it 0o700, which then becomes the output folder's mode)."""
    while True:
        tmp = out_dir.with_name(f".{out_dir.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        try:
            tmp.mkdir()
            return tmp
        except FileExistsError:  # pragma: no cover (a name collision)
            continue


# owner(folder) -> the first file in an existing output folder that the command would not have
# written (a relative path), or None when the folder looks like one of its earlier outputs.
Owner = Callable[[Path], "PurePosixPath | None"]


def files_under(folder: Path):
    """Relative paths of everything below ``folder`` except folders (files, links), in walk order."""
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            yield PurePosixPath(Path(root, name).relative_to(folder).as_posix())


def layout_owner(is_own: Callable[[PurePosixPath], bool]) -> Owner:
    """An :data:`Owner` that accepts a folder whose every file matches ``is_own`` (the layout the command writes)."""
    return lambda folder: next((rel for rel in files_under(folder) if not is_own(rel)), None)


def marker_owner(marker: str) -> Owner:
    """An :data:`Owner` that accepts a folder holding ``marker`` at its top (a record the command writes)."""
    return lambda folder: None if (folder / marker).is_file() else next(files_under(folder), None)


def output_folder(out_dir: str | os.PathLike) -> Path:
    """``out_dir`` made absolute (``..`` and ``.`` removed); DataFileError for the current folder,
    one above it or the root, which no command replaces (``--out .`` would move the working folder)."""
    given = Path(out_dir)
    folder = Path(os.path.abspath(given))
    cwd = Path(os.path.abspath(Path.cwd()))
    if not folder.name or folder == cwd or folder in cwd.parents:
        raise DataFileError(f"{given}: is the current folder or one above it; give a new folder to write into")
    return folder


def require_replaceable(out_dir: str | os.PathLike, owner: Owner | None = None, force: bool = False,
                        flag: str = "--force") -> None:  # fmt: skip
    """Raise :class:`DataFileError` unless ``out_dir`` may be replaced by a new output folder.

    Allowed: no such path, an empty folder, a folder ``owner`` recognizes as an earlier output of the
    same command, any folder when ``force`` is set (the user asked, by ``flag``) or when ``owner`` is
    None (a library caller that owns the folder). Refused, before anything is downloaded or written:
    an existing file (never replaced), and a folder holding files the command did not write
    (replacing it would delete them). Every command passes an ``owner``.
    """
    folder = output_folder(out_dir)
    require_folder_or_absent(folder)
    if force or owner is None or not folder.is_dir():
        return
    stranger = owner(folder)
    if stranger is not None:
        raise DataFileError(f"{out_dir}: holds files this command did not write (e.g. {stranger}); refusing to "
                            f"replace the folder and delete them. Give a new folder, or pass {flag} to replace it")


@contextlib.contextmanager
def atomic_directory(out_dir: str | os.PathLike, owner: Owner | None = None, force: bool = False,
                     flag: str = "--force"):  # fmt: skip
    """Yield a temporary directory next to ``out_dir``; on success it replaces ``out_dir``.

    Raises :class:`DataFileError` (before anything is written) when ``out_dir`` may not be replaced
    (:func:`require_replaceable`: an existing file, or a folder of files ``owner`` does not recognize,
    unless ``force``).
    """
    require_replaceable(out_dir, owner, force, flag)
    out_dir = output_folder(out_dir)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = _sibling_directory(out_dir)
    except OSError as err:  # read-only folder, full disk, a parent that is a file: one line naming out_dir
        raise output_file_error(out_dir, err) from None
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        old = None
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise output_file_error(out_dir, err) from None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)  # the new folder is in place; a leftover is only clutter


def unpack_tar(
    archive: str | os.PathLike,
    out_dir: str | os.PathLike,
    select: Callable[[PurePosixPath], PurePosixPath | None],
    progress: bool = True,
    extra_files: dict[str, str] | None = None,
    owner: Owner | None = None,
    force: bool = False,
) -> int:
    """Unpack the regular files of a (gzipped) tar that ``select`` maps to a relative destination.

    The archive is read once as a stream (no seeking: an 8 GB ``.gz`` is never decompressed twice).
    ``select(member_path)`` returns the path under ``out_dir`` or None to skip the member. Members
    with absolute paths or ``..`` are skipped. ``extra_files`` (name -> text) are written beside them
    before the directory is renamed into place. ``owner`` and ``force`` decide whether an existing
    ``out_dir`` may be replaced (:func:`require_replaceable`). Returns the number of archive files written.

    Raises:
        DataFileError: the archive is not a readable tar, or nothing in it was selected.
    """
    archive = Path(archive)
    count = 0
    try:
        with atomic_directory(out_dir, owner, force) as tmp, tarfile.open(archive, "r|*") as tar:
            bar = tqdm(unit=" files", desc=f"unpack {archive.name}", disable=not progress)
            for member in tar:
                rel = _safe_relative(member.name)
                if rel is None or not member.isfile():
                    continue
                target = select(rel)
                if target is None or _safe_relative(str(target)) is None:
                    continue
                path = tmp / Path(*target.parts)
                # New folders and files take the umask's modes; the member's mode (setuid, exec
                # bits, owner-only) is never applied.
                path.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(path, "wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK_BYTES)
                count += 1
                bar.update()
            bar.close()
            if count == 0:
                raise DataFileError(f"{archive}: no expected files found in the archive (wrong archive?)")
            for name, text in (extra_files or {}).items():
                (tmp / name).write_text(text, encoding="utf-8")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise DataFileError(f"{archive}: cannot unpack ({type(err).__name__}: {err}); corrupt or truncated?") from None
    return count


def strip_to_anchor(rel: PurePosixPath, anchors: tuple[str, ...]) -> PurePosixPath | None:
    """Drop the leading components of ``rel`` before the first component named in ``anchors``.

    ``lra_release/listops-1000/basic_train.tsv`` -> ``listops-1000/basic_train.tsv``; None if no
    component is an anchor. Archives differ in their top-level folder; anchoring is robust to that.
    """
    for i, part in enumerate(rel.parts):
        if part in anchors:
            return PurePosixPath(*rel.parts[i:])
    return None
