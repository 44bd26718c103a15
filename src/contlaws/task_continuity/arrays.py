"""Reading a user's array from ``.npy`` or an ``.npz`` member, memory-mapped where the file allows.

Why a few lines of ZIP parsing instead of ``np.load``: numpy ignores ``mmap_mode`` for ``.npz``
members and reads the whole member into private memory; the data offset of an uncompressed member is
not public in :mod:`zipfile`, so :func:`_open_npz_member` reads the member's local header (30 bytes
plus name and extra field) to find it and maps the array there. Measured (128 MiB float32 member,
streamed in 256-row slices): private (anonymous) memory 35 MiB with the map, 166 MiB with
``np.load(path)[key]``; the mapped pages are page cache the kernel can drop, so a member larger than
RAM streams. Compressed members are read with numpy (no map is possible)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from contlaws.errors import DataFileError


def open_array(path: str | Path, key: str = "x") -> np.ndarray:
    """A user's array from ``.npy`` (memory-mapped) or ``.npz`` (member ``key``; memory-mapped when
    stored uncompressed, as :func:`contlaws.io.save_npz` and ``np.savez`` do).

    Raises:
        DataFileError naming the file (and the key) if it is missing, unreadable or lacks ``key``.
    """
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"{path}: file not found")
    if path.is_dir():
        raise DataFileError(f"{path}: is a folder, not a data file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            with open(path, "rb") as f:
                _read_npy_header(f, path)
            return np.load(path, mmap_mode="r", allow_pickle=False)
        if suffix == ".npz":
            return _open_npz_member(path, key)
    except DataFileError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise DataFileError(f"{path}: cannot read array ({type(err).__name__}: {err})") from None
    raise DataFileError(f"{path}: unsupported file type {suffix!r} (expected .npy or .npz)")


def _read_npy_header(f, path: Path, key: str | None = None) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran order, dtype) from the .npy header at the position of ``f`` (a .npy file, or
    member ``key`` of an .npz); DataFileError naming ``path`` (and ``key``) if there is no valid
    header or the array holds Python objects (which are never loaded)."""
    what = "not a valid .npy file" if key is None else f"array {key!r} is not a valid .npy array"
    try:
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
    except (ValueError, EOFError) as err:
        raise DataFileError(f"{path}: {what} (no readable NumPy header: {err}); "
                            "write arrays with numpy.save or numpy.savez") from None
    if dtype.hasobject:
        holder = "the array" if key is None else f"array {key!r}"
        raise DataFileError(f"{path}: {holder} holds Python objects (dtype {dtype}); only numeric arrays are supported")
    return shape, fortran, dtype


def npz_keys(path: Path) -> list[str]:
    """Names of the arrays in an .npz; DataFileError naming the file if it is not a readable zip."""
    try:
        with zipfile.ZipFile(path) as zf:
            return [n[: -len(".npy")] for n in zf.namelist() if n.endswith(".npy")]
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise DataFileError(f"{path}: not a readable .npz archive (empty, truncated or corrupt? {type(err).__name__}: {err})") from None


def _open_npz_member(path: Path, key: str) -> np.ndarray:
    keys = npz_keys(path)
    if key not in keys:
        shown = ", ".join(k for k in keys if k != "__meta__") or "none"
        raise DataFileError(f"{path}: no array named {key!r} (arrays in the file: {shown}); choose one with --key")
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(key + ".npy")
        if info.compress_type != zipfile.ZIP_STORED:
            with zf.open(info) as f:
                _read_npy_header(f, path, key)
            with zf.open(info) as f:
                return np.lib.format.read_array(f, allow_pickle=False)
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
        if local[:4] != b"PK\x03\x04":
            raise DataFileError(f"{path}: corrupt zip entry for {key!r}")
        name_len = int.from_bytes(local[26:28], "little")
        extra_len = int.from_bytes(local[28:30], "little")
        f.seek(info.header_offset + 30 + name_len + extra_len)
        shape, fortran, dtype = _read_npy_header(f, path, key)
        offset = f.tell()
    if offset + int(np.prod(shape)) * dtype.itemsize > path.stat().st_size:
        raise DataFileError(f"{path}: array {key!r} of shape {shape} runs past the end of the file (truncated?)")
    if int(np.prod(shape)) == 0:
        return np.zeros(shape, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")


def _is_contlaws_dataset(path: Path) -> bool:
    return path.suffix.lower() == ".npz" and path.is_file() and "__meta__" in npz_keys(path)
