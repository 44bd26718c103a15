"""Atomic, reproducible file output and provenance.

Every file the project writes goes through this module so that

* a killed job never leaves a half-written file that looks finished (write to a temporary file in
  the same directory, then ``os.replace``);
* the same inputs give the same bytes (fixed zip timestamps in ``.npz``, sorted JSON keys, no
  wall-clock times in provenance);
* every result records how it was made (:func:`provenance`: resolved config, seed, git commit,
  package versions);
* a corrupt or truncated data file is reported as such, naming the file (:class:`DataFileError`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from contlaws.errors import DataFileError, OutputFileError

if TYPE_CHECKING:
    import pandas as pd

    from contlaws.table_checks import ValueRange

META_KEY = "__meta__"
# Packages whose versions go into every provenance record.
TRACKED_PACKAGES = ("contlaws", "numpy", "scipy", "torch", "pandas", "matplotlib", "seaborn", "snakemake")
# Fixed zip member timestamp (the zip epoch) so .npz bytes do not depend on when they were written.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def refuse_output_over_input(output: str | os.PathLike | None, inputs, option: str = "output") -> None:
    """Raise :class:`OutputFileError` if writing ``output`` would replace one of ``inputs``.

    Paths are compared after resolving symbolic links and ``..``; when both exist, also by device and
    inode (:func:`os.path.samefile`), which catches hard links. ``inputs`` may hold lists of paths
    (an option taking several) and ``None`` (an option not given), so options can be passed as they
    are. ``option`` names the output on the command line.
    """
    if output is None:
        return
    out = Path(output)
    flat = []
    for given in inputs:
        flat.extend(given if isinstance(given, (list, tuple)) else [given])
    for given in flat:
        if given is None:
            continue
        inp = Path(given)
        same = out.resolve() == inp.resolve()
        if not same and out.exists() and inp.exists():
            with contextlib.suppress(OSError):
                same = os.path.samefile(out, inp)
        if same:
            raise OutputFileError(f"{out}: {option} is the input {inp}; writing it would destroy the input "
                                  "(choose another output path)")


# ---------------------------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary file keeps the final suffix (some writers, e.g. matplotlib, pick the format from
    it). On any exception the temporary file is removed and ``path`` is left untouched. An
    operating-system error while creating, writing or renaming the file (read-only folder, no
    permission, disk full, a parent that is a file, ...) is raised as :class:`OutputFileError` naming
    ``path``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
        os.close(fd)
    except OSError as err:
        raise output_file_error(path, err) from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; give the final file the usual permissions (0666 minus umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    except BaseException as err:
        # Never leave the temporary file behind (a failed unlink must not hide the original error).
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        if isinstance(err, OSError) and err.errno is not None:
            raise output_file_error(path, err) from None
        raise


def output_file_error(path: Path, err: OSError) -> OutputFileError:
    """``err`` (raised while writing the file or folder ``path``) as a one-line :class:`OutputFileError` naming ``path``."""
    reason = err.strerror or errno.errorcode.get(err.errno or 0, "") or str(err)
    where = f" ({err.filename})" if err.filename and Path(err.filename).parent != path.parent else ""
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if err.errno in (errno.EEXIST, errno.ENOTDIR) and blocking is not None:  # mkdir of a parent ran into a file
        reason, where = "a parent of it is a file, not a folder", f" ({blocking})"
    hint = {errno.ENOSPC: "; free some space", errno.EDQUOT: "; free some space"}.get(err.errno, "")
    return OutputFileError(f"{path}: cannot write the output file: {reason}{where}{hint}")


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays and paths to plain JSON types (recursively)."""
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not np.isfinite(obj):
        return None if np.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def dumps_json(obj: Any) -> str:
    return json.dumps(to_jsonable(obj), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, dumps_json(obj))


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFileError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataFileError(f"{path}: not valid JSON (corrupt or truncated?): {err}") from None


def write_table(path: str | os.PathLike, df, meta: Mapping[str, Any] | None = None, float_format: str = "%.6g") -> None:
    """Write a pandas DataFrame as CSV atomically, plus ``<path>.meta.json`` with provenance.

    ``float_format`` keeps CSV bytes stable and readable (6 significant digits).
    """
    path = Path(path)
    text = df.to_csv(index=False, float_format=float_format, lineterminator="\n")
    if meta is None:
        write_text(path, text)
        return
    # Both files are written before either is renamed into place, so a write that fails (disk full)
    # leaves neither a new table without its provenance nor a partial file.
    with atomic_path(path) as tmp_table, atomic_path(meta_path(path)) as tmp_meta:
        tmp_table.write_bytes(text.encode("utf-8"))
        tmp_meta.write_bytes(dumps_json(meta).encode("utf-8"))


def meta_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".meta.json")


# ---------------------------------------------------------------------------------------------
# .npz with metadata and a content checksum
# ---------------------------------------------------------------------------------------------
def arrays_checksum(arrays: Mapping[str, np.ndarray]) -> str:
    """sha256 over names, dtypes, shapes and raw bytes of the arrays, in sorted name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(arr.dtype.str).encode())
        h.update(str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def save_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> str:
    """Write ``arrays`` and a JSON ``meta`` record to an uncompressed ``.npz``, atomically.

    The meta record gains ``checksum`` (see :func:`arrays_checksum`). Bytes depend only on the
    contents (fixed member order and timestamps). Returns the checksum.
    """
    if META_KEY in arrays:
        raise ValueError(f"array name {META_KEY!r} is reserved")
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    checksum = arrays_checksum(arrays)
    meta = dict(meta)
    meta["checksum"] = checksum
    meta_arr = np.frombuffer(dumps_json(meta).encode("utf-8"), dtype=np.uint8)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name in sorted(arrays) + [META_KEY]:
            arr = meta_arr if name == META_KEY else arrays[name]
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=_ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())
    return checksum


def load_npz(path: str | os.PathLike, verify: bool = True) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load a file written by :func:`save_npz`; returns ``(arrays, meta)``.

    Raises :class:`DataFileError` naming the file if it is missing, truncated, not a valid archive,
    lacks its metadata, or (with ``verify``) its contents do not match the recorded checksum.
    """
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"{path}: dataset file not found (generate it with `contlaws data generate` or snakemake)")
    if path.is_dir():
        raise DataFileError(f"{path}: is a folder, not a dataset file")
    try:
        with np.load(path, allow_pickle=False) as z:
            names = list(z.files)
            if META_KEY not in names:
                raise DataFileError(f"{path}: no {META_KEY} record; not a contlaws dataset file")
            meta = json.loads(bytes(z[META_KEY]).decode("utf-8"))
            arrays = {k: z[k] for k in names if k != META_KEY}
    except DataFileError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, json.JSONDecodeError, KeyError) as err:
        raise DataFileError(f"{path}: corrupt or truncated dataset file ({type(err).__name__}: {err})") from None
    if verify:
        want = meta.get("checksum")
        got = arrays_checksum(arrays)
        if want != got:
            raise DataFileError(f"{path}: checksum mismatch (recorded {want}, contents {got}); the file is corrupt")
    return arrays, meta


def read_npz_meta(path: str | os.PathLike) -> dict[str, Any]:
    """Only the metadata record of a :func:`save_npz` file (no checksum verification)."""
    return load_npz(path, verify=False)[1]


# ---------------------------------------------------------------------------------------------
# Provenance
# ---------------------------------------------------------------------------------------------
@cache
def git_commit() -> str:
    """The repository's HEAD commit (with ``-dirty`` if tracked files changed), or ``unknown``.

    ``CONTLAWS_GIT_COMMIT`` overrides it (for installs outside a checkout, e.g. cluster copies).
    An installed (non-editable) package is not a checkout: ``unknown``, not the commit of whatever
    repository its site-packages happens to sit in.
    """
    env = os.environ.get("CONTLAWS_GIT_COMMIT")
    if env:
        return env
    package = Path(__file__).resolve().parent
    root = package.parents[1]
    if package != root / "src" / "contlaws" or not (root / "pyproject.toml").is_file():
        return "unknown"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@cache
def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def device_description() -> str:
    """``cpu`` or the CUDA device name, without importing torch if it is not loaded already."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return f"cuda:{torch.cuda.get_device_name(0)}"
    return "cpu"


def provenance(config: Mapping[str, Any] | None = None, seed: int | None = None, **extra: Any) -> dict[str, Any]:
    """How a result was made: resolved config, seed, git commit, package versions, device.

    Deliberately contains no timestamps or host names, so deterministic results stay byte-identical.
    """
    record: dict[str, Any] = {
        "git_commit": git_commit(),
        "packages": package_versions(),
        "device": device_description(),
    }
    if seed is not None:
        record["seed"] = int(seed)
    if config is not None:
        record["config"] = to_jsonable(config)
    record.update(to_jsonable(extra))
    return record


def as_flags(values: pd.Series) -> pd.Series:
    """A boolean column as bools, whether it holds bools or the text "True"/"False" of a CSV
    (e.g. the ``learned`` column of every trained result table)."""
    return values.map(lambda v: v if isinstance(v, (bool, np.bool_)) else str(v).strip().lower() == "true").astype(bool)


def read_result_csv(
    path: str | os.PathLike,
    columns=(),
    what: str = "results file",
    hint: str = "",
    allow_empty: bool = False,
    allowed: Mapping[str, Any] | None = None,
    ranges: Mapping[str, ValueRange] | None = None,
    flags: Sequence[str] = (),
    key: Sequence[str] = (),
):
    """A result CSV as a DataFrame, its ``columns`` checked; :class:`DataFileError` naming the file.

    Args:
        path: the CSV.
        columns: columns that must be present.
        what: what the file is, for messages ("results file", "input 'errors'").
        hint: appended to the not-found message (e.g. which command makes the file).
        allow_empty: accept a table with a header but no rows.
        allowed: column -> the values it may hold (e.g. ``{"model": ("s4d", "s6")}``); the first row
            with another value is named in the error.
        ranges: numeric column -> :class:`contlaws.table_checks.ValueRange`; a finite value outside it (an RMSE below 0,
            a score above its maximum, a value whose square overflows) is refused, naming line and
            column. NaN, inf and text are left to the caller (a claim reports them as inconclusive).
            A column named here that the table lacks (an optional one) is not checked.
        flags: boolean columns; read as bools, any text but True/False/true/false/1/0 refused.
        key: columns that identify a row; identical repeated rows are dropped, rows that share the
            key but differ elsewhere are refused (naming the key and lines). Also names rows in messages.
    Empty strings stay empty strings (not NaN), so text columns such as a "not run" reason read back
    as written. Row labels stay the CSV row numbers (line = label + 2) after dropping duplicates.
    """
    import pandas as pd

    path = Path(path)
    try:
        df = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except FileNotFoundError:
        raise DataFileError(f"{path}: {what} not found{f' ({hint})' if hint else ''}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataFileError(f"{path}: {what} is not a readable CSV ({err})") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataFileError(f"{path}: {what} lacks column(s) {', '.join(missing)}")
    if df.empty and not allow_empty:
        raise DataFileError(f"{path}: {what} has no rows")
    for column, values in (allowed or {}).items():
        bad = df.index[~df[column].isin(list(values))]
        if len(bad):  # + 2: the header is line 1 and the index starts at 0
            raise DataFileError(f"{path}: {what} has unknown {column} {df.at[bad[0], column]!r} in row {bad[0] + 2}")
    from contlaws.table_checks import check_flags, check_ranges, drop_exact_duplicates

    key = [k for k in key if k in df.columns]  # e.g. `label`, present only in some tables
    # A range of a column the table lacks is skipped: the columns it must have are in `columns`.
    ranges = {column: allowed_range for column, allowed_range in (ranges or {}).items() if column in df.columns}
    df = check_flags(df, path, what, flags, key)
    if key:
        df = drop_exact_duplicates(df, path, what, key)
    check_ranges(df, path, what, ranges, key)
    return df
