"""UCR/UEA time-series classification sets, read from the ``.ts`` files that the ``aeon`` wheel ships.

Real continuous-valued tasks that need no benchmark download: the wheel of the ``aeon`` toolkit on
PyPI carries a few UCR/UEA archive sets as ``.ts`` text files under ``aeon/datasets/data/``. The
wheel is fetched with pip by pinned version and checked against a pinned sha256
(:func:`fetch_wheel`); aeon is never installed or imported (it constrains pandas). The ``.ts`` files
are extracted from the zip (:func:`extract_sets`) and parsed by :func:`read_ts`, a small strict
reader of the equal-length ``.ts`` format (it never executes anything from the file).

The ``.ts`` format (sktime/aeon): ``#`` comment lines, then ``@key value`` header lines, then
``@data`` and one series per line: the channels separated by ``:``, the values of a channel by
``,``, the class label last. This reader accepts equal-length series without time stamps or
missing values, and checks every line against the header (channels, length, labels).
"""

from __future__ import annotations

import hashlib
import math
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contlaws.errors import DataFileError

# The pinned wheel: aeon 1.6.0, pure-Python wheel of 6,421,000 bytes (PyPI).
AEON_VERSION = "1.6.0"
AEON_WHEEL = f"aeon-{AEON_VERSION}-py3-none-any.whl"
AEON_SHA256 = "d05227086706f80111ac5fee8de4d5d3115bb3bcfd1c786c8629393055816409"
MEMBER_ROOT = "aeon/datasets/data"  # where the wheel keeps the sets: <root>/<Name>/<Name>_{TRAIN,TEST}.ts


@dataclass(frozen=True)
class UCRSet:
    """One UCR/UEA set: its archive name and the sizes the reader must find (a check on the file)."""

    name: str  # archive name, e.g. GunPoint (file stem <name>_TRAIN.ts)
    n_channels: int
    length: int
    n_classes: int
    n_train: int
    n_test: int
    folder: str | None = None  # the wheel's folder when it is not ``name`` (the ``_eq`` variants)

    @property
    def member_folder(self) -> str:
        return self.folder or self.name


# The equal-length classification sets of the pinned wheel long enough for three stages of strides
# 4, 2, 1. Left out: CardanoSentiment and Covid3Month (regression targets, ``@targetLabel``),
# UnitTest (a 20-series fixture of the toolkit's own tests) and the variable-length JapaneseVowels
# and PickupGestureWiimoteZ files (their equal-length ``_eq`` versions are here).
SETS: dict[str, UCRSet] = {
    s.name: s
    for s in [
        UCRSet("GunPoint", 1, 150, 2, 50, 150),
        UCRSet("ArrowHead", 1, 251, 3, 36, 175),
        UCRSet("OSULeaf", 1, 427, 6, 200, 242),
        UCRSet("ACSF1", 1, 1460, 10, 100, 100),
        UCRSet("BasicMotions", 6, 100, 4, 40, 40),
        UCRSet("ItalyPowerDemand", 1, 24, 2, 67, 1029),
        UCRSet("JapaneseVowels_eq", 12, 25, 9, 270, 370, folder="JapaneseVowels"),
        UCRSet("PickupGestureWiimoteZ_eq", 1, 361, 10, 50, 50, folder="PickupGestureWiimoteZ"),
        UCRSet("Covid3Month_disc", 1, 84, 3, 140, 61),
    ]
}


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_wheel(path: str | Path, sha256: str = AEON_SHA256) -> None:
    """DataFileError unless the file's sha256 is the pinned one (or when it cannot be read)."""
    try:
        got = sha256_of(path)
    except OSError as err:  # missing, a folder, unreadable
        raise DataFileError(f"{path}: cannot read the wheel ({err.strerror or err})") from None
    if got != sha256:
        raise DataFileError(f"{path}: sha256 {got} does not match the pinned {sha256} ({AEON_WHEEL}); "
                            "delete it and fetch again")


def fetch_wheel(dest: str | Path, version: str = AEON_VERSION, sha256: str = AEON_SHA256) -> Path:
    """Download the pinned aeon wheel with pip (``pip download aeon==VERSION --no-deps``) into ``dest``.

    Nothing is installed. The hash is verified here, after the download. Returns the wheel's path.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    wheel = dest / f"aeon-{version}-py3-none-any.whl"
    if not wheel.exists():
        cmd = [sys.executable, "-m", "pip", "download", f"aeon=={version}", "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", "-d", str(dest)]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not wheel.exists():
            raise DataFileError(f"could not download {wheel.name} with `{' '.join(cmd)}`:\n{done.stderr.strip()}")
    verify_wheel(wheel, sha256)
    return wheel


def is_extracted_file(rel) -> bool:
    """Whether ``rel`` (a relative path) is a file :func:`extract_sets` writes: ``<Name>/<Name>_{TRAIN,TEST}.ts``."""
    parts = tuple(rel.parts)
    return len(parts) == 2 and parts[1] in (f"{parts[0]}_TRAIN.ts", f"{parts[0]}_TEST.ts")


def extract_sets(wheel: str | Path, out: str | Path, names=tuple(SETS), sha256: str | None = AEON_SHA256) -> list[Path]:
    """Copy ``<Name>/<Name>_{TRAIN,TEST}.ts`` of every set in ``names`` from the wheel into ``out``.

    Only those members are read (no path from the archive is used as a destination), so a crafted
    archive cannot write elsewhere. ``sha256`` None skips the hash check (tests' fixture wheels).
    Returns the written paths.
    """
    if sha256 is not None:
        verify_wheel(wheel, sha256)
    out = Path(out)
    written = []
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as err:
        raise DataFileError(f"{wheel}: not a readable wheel/zip ({err})") from None
    with archive:
        members = set(archive.namelist())
        for name in names:
            for split in ("TRAIN", "TEST"):
                folder = SETS[name].member_folder if name in SETS else name
                member = f"{MEMBER_ROOT}/{folder}/{name}_{split}.ts"
                if member not in members:
                    raise DataFileError(f"{wheel}: has no member {member}")
                target = out / name / f"{name}_{split}.ts"
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_suffix(".ts.tmp")
                with archive.open(member) as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                tmp.replace(target)
                written.append(target)
    return written


# ------------------------------------------------------------------------------------------------
# The .ts reader
# ------------------------------------------------------------------------------------------------
@dataclass
class TSFile:
    """A parsed equal-length ``.ts`` file: x (N, L, C) float64, y (N,) int64 indices into ``classes``."""

    x: np.ndarray
    y: np.ndarray
    classes: list[str]
    header: dict[str, str]


_BOOL = {"true": True, "false": False}


def _header_bool(path, header, key, lineno) -> bool:
    value = header.get(key)
    if value is None:
        raise DataFileError(f"{path}: header key @{key} is missing (needed before @data, line {lineno})")
    word = value.split()[0].lower() if value.split() else ""
    if word not in _BOOL:
        raise DataFileError(f"{path}: @{key} must be true or false, got {value!r}")
    return _BOOL[word]


def read_ts(path: str | Path) -> TSFile:
    """Parse an equal-length, time-stamp-free, complete ``.ts`` classification file.

    Raises:
        DataFileError naming the file and line for anything this reader does not accept: a missing or
        malformed header key, a series of the wrong length or number of channels, a value that is not
        a finite number (missing values ``?`` included), an unknown class label, no data.
    """
    # Longer than ~60 lines on purpose: one parser of one file format (header keys, then data lines), each branch a format rule with its error.
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataFileError(f"{path}: cannot read ({err})") from None
    header: dict[str, str] = {}
    rows: list[np.ndarray] = []
    labels: list[int] = []
    in_data = False
    n_channels = length = None
    declared = "@seriesLength is"
    classes: list[str] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise DataFileError(f"{path}:{lineno}: expected a header line '@key value' before @data, got {line[:40]!r}")
            key, _, value = line[1:].partition(" ")
            key = key.lower()
            if key == "data":
                n_channels, length, classes = _check_header(path, header, lineno)
                _check_declared_size(path, lineno, n_channels, length, len(text))
                in_data = True
                continue
            if key in header:
                raise DataFileError(f"{path}:{lineno}: header key @{key} given twice")
            header[key] = value.strip()
            continue
        *channels, label = line.split(":")
        if n_channels is None:  # not declared: the first series sets it
            n_channels = len(channels)
        if len(channels) != n_channels:
            raise DataFileError(f"{path}:{lineno}: {len(channels)} channel(s), the header says {n_channels}")
        if label.strip() not in classes:
            raise DataFileError(f"{path}:{lineno}: class label {label.strip()!r} is not one of @classLabel {classes}")
        if length is None:  # not declared: the first series sets it
            length = len(channels[0].split(","))
            declared = "the first series has"
        else:
            declared = declared if rows else "@seriesLength is"
        fields = [field.split(",") for field in channels]
        for c, parts in enumerate(fields):  # every length checked before the series is allocated
            if len(parts) != length:
                raise DataFileError(f"{path}:{lineno}: channel {c} has {len(parts)} values, {declared} {length}")
        series = np.empty((length, n_channels))
        for c, parts in enumerate(fields):
            try:
                values = [float(v) for v in parts]
            except ValueError:
                bad = next(v for v in parts if not _is_float(v))
                raise DataFileError(f"{path}:{lineno}: channel {c}: {bad.strip()!r} is not a number") from None
            if not all(math.isfinite(v) for v in values):
                raise DataFileError(f"{path}:{lineno}: channel {c} holds a NaN or infinite value")
            series[:, c] = values
        rows.append(series)
        labels.append(classes.index(label.strip()))
    if not in_data:
        raise DataFileError(f"{path}: no @data line")
    if not rows:
        raise DataFileError(f"{path}: no series after @data")
    x = np.stack(rows)  # (N L C)
    return TSFile(x=x, y=np.asarray(labels, dtype=np.int64), classes=classes, header=header)


def _check_declared_size(path: Path, lineno: int, n_channels: int | None, length: int | None, n_chars: int) -> None:
    """DataFileError when @dimensions x @seriesLength cannot fit in the file: every value takes at
    least two characters (a digit and a separator), so a larger declared size is a damaged or
    crafted header, refused before a series of that size is allocated."""
    values = (n_channels or 1) * (length or 1)  # undeclared: at least one
    if 2 * values > n_chars:
        raise DataFileError(f"{path}:{lineno}: the header declares {n_channels} channel(s) x {length} values per "
                            f"series, more than the file's {n_chars} characters can hold (damaged header?)")


def _is_float(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def _check_header(path: Path, header: dict[str, str], lineno: int) -> tuple[int | None, int | None, list[str]]:
    """(channels or None, length or None if not declared, class labels) from the header; DataFileError for what the reader does not support."""
    where = f"{path}:{lineno}"
    if _header_bool(path, header, "timestamps", lineno):
        raise DataFileError(f"{where}: @timeStamps true is not supported")
    if header.get("missing", "false").lower() != "false":
        raise DataFileError(f"{where}: @missing {header['missing']} is not supported")
    # @equalLength and @seriesLength may be absent (ArrowHead): then every series must still have the
    # length of the first one.
    if "equallength" in header and not _header_bool(path, header, "equallength", lineno):
        raise DataFileError(f"{where}: @equalLength false is not supported (series must have one length)")
    univariate = _header_bool(path, header, "univariate", lineno)
    if univariate:
        n_channels = 1
    else:
        if "dimensions" not in header:
            n_channels = None  # not declared (the wheel's _eq files): the first series sets it
        else:
            try:
                n_channels = int(header["dimensions"])
            except ValueError:
                raise DataFileError(f"{where}: @dimensions must be an integer, got {header['dimensions']!r}") from None
    length = None
    if "serieslength" in header:
        try:
            length = int(header["serieslength"])
        except ValueError:
            raise DataFileError(f"{where}: @seriesLength must be an integer, got {header['serieslength']!r}") from None
    label = header.get("classlabel", "").split()
    if not label or label[0].lower() != "true" or len(label) < 3:
        raise DataFileError(f"{where}: @classLabel true <label> <label> ... is required (a classification file)")
    if (n_channels is not None and n_channels < 1) or (length is not None and length < 1):
        raise DataFileError(f"{where}: @dimensions and @seriesLength must be positive")
    return n_channels, length, label[1:]


def set_files(folder: str | Path, name: str) -> tuple[Path, Path]:
    """``folder/<name>_{TRAIN,TEST}.ts``; DataFileError with the folder to give instead when
    ``folder`` is the parent of the set folders (what ``fetch-ucr --out`` writes) or holds another set."""
    folder = Path(folder)
    files = (folder / f"{name}_TRAIN.ts", folder / f"{name}_TEST.ts")
    if all(f.is_file() for f in files):
        return files
    if (folder / name / f"{name}_TRAIN.ts").is_file():
        raise DataFileError(f"{folder}: holds set folders, not the .ts files of {name}; give the set's own folder "
                            f"{folder / name}")  # fmt: skip
    others = sorted(p.name[: -len("_TRAIN.ts")] for p in folder.glob("*_TRAIN.ts"))
    if others:
        raise DataFileError(f"{folder}: holds the UCR set {', '.join(others)}, not {name} ({name}_TRAIN.ts is missing)")
    missing = next(f for f in files if not f.is_file())
    raise DataFileError(f"{missing}: not found (a UCR set folder holds {name}_TRAIN.ts and {name}_TEST.ts)")


def _problem_key(text: str) -> str:
    """A set name as the archive's @problemName headers vary it: lower case, letters and digits only,
    without a ``.ts`` suffix or a TRAIN/TEST part (``JapaneseVowels_TRAIN_eq.ts`` -> ``japanesevowelseq``)."""
    text = re.sub(r"\.ts$", "", text.lower())
    text = re.sub(r"(^|_)(train|test)(?=_|$)", "", text)
    return re.sub(r"[^a-z0-9]", "", text)


def _check_problem_name(ts: TSFile, path: Path, name: str) -> None:
    """DataFileError when the file's @problemName (if it has one) names another set than ``name``.

    The pinned wheel's own headers vary the name (``Covid3MonthDiscrete_TRAIN.ts``,
    ``JapaneseVowels_TRAIN_eq.ts``, ``PickupGestureWiimoteZEq``): a header matches when it contains the
    set's archive folder name (``Covid3Month``, ``JapaneseVowels``), compared by :func:`_problem_key`."""
    declared = ts.header.get("problemname", "").split()
    if not declared:
        return
    spec = SETS.get(name)
    wanted = {_problem_key(name), _problem_key(spec.member_folder if spec else name)}
    if not any(key and key in _problem_key(declared[0]) for key in wanted):
        raise DataFileError(f"{path}: @problemName is {declared[0]}, but the task reads the set {name}")


def read_set(folder: str | Path, name: str) -> tuple[TSFile, TSFile]:
    """(train, test) of set ``name`` from ``folder/<name>_{TRAIN,TEST}.ts``, checked against :data:`SETS`.

    ``name`` comes from the task, never from the folder: a folder holding another set is refused
    (its file names, its @problemName header, its sizes and class count are all compared).
    """
    folder = Path(folder)
    train_path, test_path = set_files(folder, name)
    train, test = read_ts(train_path), read_ts(test_path)
    _check_problem_name(train, train_path, name)
    _check_problem_name(test, test_path, name)
    if train.classes != test.classes:
        raise DataFileError(f"{folder}: TRAIN and TEST list different classes ({train.classes} vs {test.classes})")
    if train.x.shape[1:] != test.x.shape[1:]:
        raise DataFileError(f"{folder}: TRAIN and TEST series differ in shape {train.x.shape[1:]} vs {test.x.shape[1:]}")
    expected = SETS.get(name)
    if expected is not None:
        got = (train.x.shape[2], train.x.shape[1], len(train.classes), len(train.y), len(test.y))
        want = (expected.n_channels, expected.length, expected.n_classes, expected.n_train, expected.n_test)
        if got != want:
            raise DataFileError(f"{folder}: (channels, length, classes, n_train, n_test) = {got}, but {name} has {want}")
    return train, test


def main_fetch(out: str | Path, cache: str | Path | None = None, wheel: str | Path | None = None,
               sha256: str = AEON_SHA256, names=tuple(SETS)) -> list[Path]:  # fmt: skip
    """Fetch (or take ``wheel``), verify and extract the sets into ``out``; returns the written files."""
    if wheel is None:
        with tempfile.TemporaryDirectory() as tmp:
            path = fetch_wheel(cache or tmp, sha256=sha256)
            return extract_sets(path, out, names, sha256=sha256)
    return extract_sets(wheel, out, names, sha256=sha256)
