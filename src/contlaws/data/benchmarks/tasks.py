"""Benchmark tasks as prepared classification splits (spec E5): one ``.npz`` per task and split.

Every task reads its raw files with the format loaders of this package and returns

* ``x``: (N, L) int64 tokens (0 = padding) for text/ListOps, or (N, L, C) float32 in [0, 1] for images
  (pixels in row-major order);
* ``y``: (N,) int64 class labels;
* ``lengths``: (N,) int64 true sequence lengths before padding (token tasks only; AAN: (N, 2)),

and a meta record ``{"kind": "classification", "task": "classification", "input_kind",
"n_classes", "vocab_size" (tokens), "benchmark", "split", "continuity", "sequence_length", ...,
"provenance"}`` (read by ``contlaws.data.sets.load_split``).

| task | raw files | L | split rule |
|---|---|---|---|
| ``listops_synth`` | generated TSV | ``listops_max_length`` | the generated train/val/test files |
| ``pathfinder_synth`` | generated PNGs + metadata | ``image_size``² | in order: n_train, n_val, n_test |
| ``digits`` | scikit-learn ``load_digits`` | 64 (native 8x8) | seeded: n_train, n_val, n_test |
| ``stdlib_text`` | files of the Python standard library | 128 bytes | seeded: n_train, n_val, n_test |
| ``listops`` | LRA ``listops-1000`` | 2000 | the release's train/val/test |
| ``aan`` | LRA ``tsv_data`` | 2 x 4000 | the release's train/eval/test |
| ``pathfinder32`` | LRA ``pathfinder32`` | 1024 | seeded 80/10/10 (as LRA/S4) |
| ``pathx`` | LRA ``pathfinder128`` | 16384 | seeded 80/10/10 |
| ``imdb`` | ``aclImdb`` | 4096 | val = seeded 10% of train; test = test |
| ``cifar10`` | CIFAR-10 python | 1024 (gray) | val = last 10% of train (as LRA); test = test |
| ``gunpoint`` ... ``covid3month`` | UCR ``.ts`` from the aeon wheel | 24-1460 | train = TRAIN; val, test = seeded halves of TEST |

AAN pairs are stored as one row per pair: document 1 padded to 4000 tokens, then document 2
(``meta["pair_length"]``), so a dual encoder splits ``x`` in halves. Real tasks use the full splits;
``limit`` takes a seeded subset for smaller runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from contlaws.data.benchmarks import aan, cifar, digits, imdb, listops, pathfinder, stdlib_text, ucr
from contlaws.data.benchmarks.common import BYTE_VOCAB_SIZE, pad_sequences, split_by_counts, split_by_fractions
from contlaws.data.benchmarks.registry import (  # noqa: F401  (re-exported: the task table lives there)
    BUILTIN_TASKS,
    GENERATED_TASKS,
    NO_RAW_TASKS,
    REAL_ROOT,
    REAL_TASKS,
    SPLITS,
    TASKS,
    UCR_TASKS,
    Task,
    get_task,
    missing_raw_message,
    real_raw_dir,
)
from contlaws.data.fetch import atomic_directory, layout_owner, pinned_md5_prefix
from contlaws.errors import ConfigError, DataFileError, UserError
from contlaws.io import provenance

# LRA sequence lengths (listops and text follow the S4 setup: 2000 and 4096 tokens; AAN 4000 per document).
LISTOPS_LENGTH = 2000
IMDB_LENGTH = 4096
AAN_LENGTH = 4000


def standin_raw_dir(cfg: Mapping[str, Any], task: str) -> Path:
    """Where a run's generated stand-in raw files live: ``data/<run>/benchmarks/raw/<task>``."""
    return Path("data") / cfg["run_name"] / "benchmarks" / "raw" / task


def split_counts(cfg: Mapping[str, Any]) -> dict[str, int]:
    sub = cfg["subsampling"]
    return {split: int(sub[f"n_{split}"]) for split in SPLITS}


# ------------------------------------------------------------------------------------------------
# Per-task readers: (raw_dir, cfg, split, limit) -> (arrays, extra meta); most ignore ``limit``
# (prepare() applies it afterwards), pathfinder applies it before decoding images.
# ------------------------------------------------------------------------------------------------
def limit_indices(n: int, limit: int | None, seed: int, split: str) -> np.ndarray:
    """Sorted positions of a seeded subset of at most ``limit`` of ``n`` examples (all if no limit)."""
    if limit is None or n <= limit:
        return np.arange(n)
    return split_by_counts(n, [limit], seed=seed + SPLITS.index(split))[0]


def _tokens(sequences, labels, length: int) -> dict[str, np.ndarray]:
    x, lengths = pad_sequences(sequences, length)
    return {"x": x, "y": labels, "lengths": lengths}


def _listops(raw: Path, cfg, split: str, length: int):
    sequences, labels = listops.read_tsv(raw / f"basic_{split}.tsv")
    return _tokens(sequences, labels, length), {"vocab_size": listops.vocab_size(), "sequence_length": length}


def _read_listops_synth(raw, cfg, split, limit=None):
    return _listops(raw, cfg, split, int(cfg["subsampling"]["listops_max_length"]))


def _read_listops(raw, cfg, split, limit=None):
    return _listops(raw, cfg, split, LISTOPS_LENGTH)


def _read_aan(raw, cfg, split, limit=None):
    first, second, labels = aan.read_tsv(raw / aan.SPLIT_FILES[split], max_length=AAN_LENGTH)
    x1, len1 = pad_sequences(first, AAN_LENGTH)
    x2, len2 = pad_sequences(second, AAN_LENGTH)
    arrays = {"x": np.concatenate([x1, x2], axis=1), "y": labels, "lengths": np.stack([len1, len2], axis=1)}
    return arrays, {"vocab_size": BYTE_VOCAB_SIZE, "sequence_length": 2 * AAN_LENGTH, "pair_length": AAN_LENGTH}


def _read_imdb(raw, cfg, split, limit=None):
    sequences, labels = imdb.read_split(raw, "test" if split == "test" else "train", max_length=IMDB_LENGTH)
    if split != "test":
        train, val = split_by_fractions(len(labels), (0.9, 0.1), seed=int(cfg["seed"]))
        keep = train if split == "train" else val
        sequences, labels = [sequences[i] for i in keep], labels[keep]
    return _tokens(sequences, labels, IMDB_LENGTH), {"vocab_size": BYTE_VOCAB_SIZE, "sequence_length": IMDB_LENGTH}


def _read_cifar10(raw, cfg, split, limit=None):
    x, y = cifar.read_split(raw, "test" if split == "test" else "train", grayscale=True)
    if split != "test":
        n_val = len(y) // 10  # LRA: train[:90%] / train[90%:]
        part = slice(0, len(y) - n_val) if split == "train" else slice(len(y) - n_val, len(y))
        x, y = x[part], y[part]
    return {"x": x, "y": y}, {"sequence_length": x.shape[1], "n_channels": 1, "channels": "grayscale (ITU-R 601 luma)"}


def _pathfinder(root: Path, difficulty: str, split_indices: Callable[[int], list[np.ndarray]], cfg, split, limit):
    samples = pathfinder.read_metadata(root, difficulty)
    try:
        keep = split_indices(len(samples))[SPLITS.index(split)]
    except ValueError as err:
        raise DataFileError(f"{root}: {err}; regenerate it for this config") from None
    keep = keep[limit_indices(len(keep), limit, int(cfg["seed"]), split)]  # before decoding: Path-X is large
    x = pathfinder.read_images([samples[i][0] for i in keep])
    y = np.array([samples[i][1] for i in keep], dtype=np.int64)
    return {"x": x, "y": y}, {"sequence_length": x.shape[1], "n_channels": 1, "difficulty": difficulty}


def _read_pathfinder_real(raw, cfg, split, limit=None):
    seed = int(cfg["seed"])
    fractions = (0.8, 0.1, 0.1)
    return _pathfinder(raw, pathfinder.DIFFICULTY, lambda n: split_by_fractions(n, fractions, seed), cfg, split, limit)


def _read_pathfinder_synth(raw, cfg, split, limit=None):
    counts = list(split_counts(cfg).values())

    def in_order(n):  # the images are generated i.i.d.: contiguous blocks are fair splits
        return split_by_counts(n, counts, seed=None)

    return _pathfinder(raw, pathfinder.SYNTHETIC_DIFFICULTY, in_order, cfg, split, limit)


def _read_digits(raw, cfg, split, limit=None):
    size = digits.NATIVE_SIDE  # native 8x8: upsampling would make the task look smoother than it is
    x, y = digits.load(size)
    keep = counted_split(cfg, "digits", len(y), split, unit="images")
    return {"x": x[keep], "y": y[keep]}, {"sequence_length": size * size, "n_channels": 1, "image_size": size}


def counted_split(cfg, task: str, n_total: int, split: str, unit: str = "examples") -> np.ndarray:
    """Positions of ``split`` among a fixed pool of ``n_total`` examples (digits, stdlib_text).

    The subsampling counts n_train, n_val, n_test (seeded) when they fit the pool; when they do not
    (the paper's E5 counts exceed these pools), all examples in the same proportions, unless the
    task is an E5 task, whose counts are the user's to change (ConfigError).
    """
    counts = split_counts(cfg)
    total = sum(counts.values())
    if total <= n_total:
        parts = split_by_counts(n_total, list(counts.values()), seed=int(cfg["seed"]))
    elif task in cfg["subsampling"]["tasks"]:
        raise ConfigError(
            f"{task} has {n_total} {unit}, but subsampling.n_train + n_val + n_test = {total} "
            f"({counts}); lower them for the {task} task"
        )
    else:
        parts = split_by_fractions(n_total, [n / total for n in counts.values()], seed=int(cfg["seed"]))
    return parts[SPLITS.index(split)]


def ucr_set_name(task: str) -> str:
    """The UCR/UEA archive name a task reads (``gunpoint`` -> ``GunPoint``): the last part of its raw path."""
    return Path(get_task(task).raw).name


def _standardization(x: np.ndarray, where: Path) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of (N, L, C) values over series and time (a constant
    channel gets std 1); DataFileError naming ``where`` when they overflow float64."""
    with np.errstate(over="ignore", invalid="ignore"):
        mean = x.mean(axis=(0, 1))  # (C,)
        std = x.std(axis=(0, 1))
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std))):
        raise DataFileError(f"{where}: values too large to standardize (largest magnitude {np.abs(x).max():.3g}; "
                            "their mean or variance overflows float64): rescale the series")  # fmt: skip
    std[std == 0] = 1.0
    return mean, std


def _read_ucr(raw, cfg, split, limit=None, task=None):
    """A UCR/UEA set: train = the archive's TRAIN; val and test = a seeded half each of its TEST.

    The archive's training sets are small (GunPoint: 50 series); carving a validation split out of
    them would leave fewer to learn from and a validation set of about ten series, too few for E5's
    time-to-target. Values are standardized per channel with the mean and standard deviation of
    TRAIN (over all its series and time steps), so every channel reaches the model at unit scale.
    """
    name = ucr_set_name(task)
    train, test = ucr.read_set(raw, name)
    if len(train.classes) != get_task(task).n_classes:  # a set without an entry in ucr.SETS
        raise DataFileError(f"{raw}: {name} lists {len(train.classes)} classes, task '{task}' has {get_task(task).n_classes}")
    half_val, half_test = split_by_fractions(len(test.y), (0.5, 0.5), seed=int(cfg["seed"]))
    mean, std = _standardization(train.x, raw / f"{name}_TRAIN.ts")
    source = {"train": (train, np.arange(len(train.y))), "val": (test, half_val), "test": (test, half_test)}
    ts, keep = source[split]
    x = ((ts.x[keep] - mean) / std).astype(np.float32)  # (N L C)
    extra = {"sequence_length": x.shape[1], "n_channels": x.shape[2], "ucr_name": name, "classes": ts.classes,
             "ucr_wheel": ucr.AEON_WHEEL, "ucr_wheel_sha256": ucr.AEON_SHA256}  # fmt: skip
    return {"x": x, "y": ts.y[keep]}, extra


def _read_stdlib_text(raw, cfg, split, limit=None):
    """Byte chunks of CPython library files (:mod:`stdlib_text`), split as digits (:func:`counted_split`)."""
    x, y, record = stdlib_text.load()
    keep = counted_split(cfg, "stdlib_text", len(y), split, unit="chunks")
    lengths = np.full(len(keep), x.shape[1], dtype=np.int64)
    extra = {"vocab_size": BYTE_VOCAB_SIZE, "sequence_length": int(x.shape[1]), "classes": list(stdlib_text.CLASSES),
             "source_files": record}  # fmt: skip
    return {"x": x[keep], "y": y[keep], "lengths": lengths}, extra


READERS = {
    "listops_synth": _read_listops_synth,
    "pathfinder_synth": _read_pathfinder_synth,
    "digits": _read_digits,
    "stdlib_text": _read_stdlib_text,
    "listops": _read_listops,
    "aan": _read_aan,
    "pathfinder32": _read_pathfinder_real,
    "pathx": _read_pathfinder_real,
    "imdb": _read_imdb,
    "cifar10": _read_cifar10,
    **{name: functools.partial(_read_ucr, task=name) for name in UCR_TASKS},
}


def raw_folder(task: str, cfg: Mapping[str, Any], raw_dir: str | Path | None = None) -> Path | None:
    """The folder ``task`` reads: ``raw_dir`` if given, else the run's stand-in folder or the real
    task's ``data/benchmarks/raw/...``; None for the tasks that read no raw files (digits from
    scikit-learn, stdlib_text from the Python distribution)."""
    t = get_task(task)
    if raw_dir is None and t.name not in NO_RAW_TASKS:
        raw_dir = standin_raw_dir(cfg, task) if t.source == "builtin" else real_raw_dir(task)
    return Path(raw_dir) if raw_dir is not None else None


def prepare(
    task: str,
    cfg: Mapping[str, Any],
    split: str,
    raw_dir: str | Path | None = None,
    limit: int | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays and meta of one split of one task (see the module docstring).

    Args:
        raw_dir: the raw files (default: the run's stand-in folder, or ``data/benchmarks/raw/...``).
        limit: keep a seeded subset of at most ``limit`` examples (None: all).
    """
    t = get_task(task)
    if split not in SPLITS:
        raise ConfigError(f"split {split!r} is not one of {SPLITS}")
    raw = raw_folder(task, cfg, raw_dir)
    if raw is not None and not raw.is_dir():
        raise DataFileError(missing_raw_message(task, raw))
    arrays, extra = READERS[task](raw, cfg, split, limit)
    if limit is not None and len(arrays["y"]) > limit:
        keep = limit_indices(len(arrays["y"]), limit, int(cfg["seed"]), split)
        arrays = {k: v[keep] for k, v in arrays.items()}
    sub = cfg["subsampling"]
    settings = {"seed": cfg["seed"], "subsampling": {k: sub[k] for k in t.settings}}
    meta = {
        "kind": "classification",
        "task": "classification",
        "benchmark": task,
        "split": split,
        "source": t.source,
        "description": t.description,
        "input_kind": t.input_kind,
        "continuity": t.continuity,
        "n_classes": t.n_classes,
        "n_examples": len(arrays["y"]),
        **extra,
        "provenance": provenance(
            settings, seed=int(cfg["seed"]), raw_dir=None if raw is None else raw.as_posix(), limit=limit,
            raw_dvc_md5=None if raw is None or t.source in ("builtin", "ucr") else pinned_md5_prefix("dvc.lock", raw),
        ),
    }
    return arrays, meta


def _is_standin_file(task: str, rel: PurePosixPath) -> bool:
    """Whether ``rel`` (relative to the output folder) is a file :func:`generate_standin_files` writes for ``task``."""
    if task == "listops_synth":
        return rel.as_posix() in {f"basic_{split}.tsv" for split in SPLITS}
    parts = rel.parts  # pathfinder_synth: <difficulty>/imgs/<k>/sample_<i>.png, <difficulty>/metadata/<k>.npy
    return len(parts) >= 3 and parts[0] == pathfinder.SYNTHETIC_DIFFICULTY and (
        (parts[1] == "imgs" and rel.suffix == ".png") or (parts[1] == "metadata" and rel.suffix == ".npy"))


def generate_standin_files(task: str, cfg: Mapping[str, Any], out_dir: Path, force: bool = False) -> None:
    """Write the raw files of a generated stand-in task (LRA formats); ``out_dir`` is replaced atomically.

    An existing ``out_dir`` is replaced only when it is empty or holds nothing but stand-in files of
    ``task`` (an earlier run), or when ``force`` is set.
    """
    if task not in GENERATED_TASKS:
        raise UserError(f"'{task}' has no generated raw files (generated: listops_synth, pathfinder_synth)")
    counts = split_counts(cfg)
    seed = int(cfg["seed"])
    sub = cfg["subsampling"]
    owner = layout_owner(functools.partial(_is_standin_file, task))
    with atomic_directory(out_dir, owner, force) as tmp:
        if task == "listops_synth":
            listops.generate_files(tmp, counts, seed, max_length=int(sub["listops_max_length"]))
        else:
            pathfinder.generate_files(tmp, sum(counts.values()), seed, size=int(sub["image_size"]))
