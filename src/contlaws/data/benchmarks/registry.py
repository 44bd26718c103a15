"""The benchmark task table: names, kinds, raw locations. Light (no numpy), so Snakemake imports it.

Real tasks are unpacked by the DVC stages of ``dvc.yaml`` under :data:`REAL_ROOT`; stand-ins are
generated per run (``contlaws bench generate``) or, for ``digits``, read from scikit-learn.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from contlaws.errors import ConfigError

SPLITS = ("train", "val", "test")
REAL_ROOT = Path("data/benchmarks/raw")  # where the DVC stages of dvc.yaml unpack the real benchmarks


@dataclass(frozen=True)
class Task:
    name: str
    source: str  # builtin | lra | imdb | cifar10 (the DVC stage that fetches it: fetch_<source>)
    input_kind: str  # tokens | continuous
    continuity: str  # continuous (images) | discrete (text, ListOps)
    n_classes: int
    raw: str | None  # real tasks: folder under REAL_ROOT; builtin: None (generated per run)
    settings: tuple[str, ...]  # subsampling.* keys the prepared bytes depend on (besides seed)
    description: str


_SIZES = ("n_train", "n_val", "n_test")
TASKS: dict[str, Task] = {
    t.name: t
    for t in [
        Task("listops_synth", "builtin", "tokens", "discrete", 10, None, (*_SIZES, "listops_max_length"),
             "generated ListOps (LRA grammar and TSV format)"),
        Task("pathfinder_synth", "builtin", "continuous", "continuous", 2, None, (*_SIZES, "image_size"),
             "generated pathfinder-style images (LRA folder layout)"),
        Task("digits", "builtin", "continuous", "continuous", 10, None, _SIZES,
             "scikit-learn 8x8 digits at their native resolution (64 steps)"),
        Task("listops", "lra", "tokens", "discrete", 10, "lra/listops-1000", (), "LRA ListOps"),
        Task("aan", "lra", "tokens", "discrete", 2, "lra/tsv_data", (), "LRA Retrieval (AAN), byte level"),
        Task("pathfinder32", "lra", "continuous", "continuous", 2, "lra/pathfinder32", (), "LRA Pathfinder 32x32"),
        Task("pathx", "lra", "continuous", "continuous", 2, "lra/pathfinder128", (), "LRA Path-X 128x128"),
        Task("imdb", "imdb", "tokens", "discrete", 2, "imdb", (), "IMDB reviews (LRA Text), byte level"),
        Task("cifar10", "cifar10", "continuous", "continuous", 10, "cifar10", (), "CIFAR-10 grayscale (LRA Image)"),
        # UCR/UEA sets from the pinned aeon wheel (ucr.py); nominal continuity "continuous" (sensor
        # series), the E5 label comes from the measured TC.
        Task("gunpoint", "ucr", "continuous", "continuous", 2, "ucr/GunPoint", (), "UCR GunPoint (1 x 150)"),
        Task("arrowhead", "ucr", "continuous", "continuous", 3, "ucr/ArrowHead", (), "UCR ArrowHead (1 x 251)"),
        Task("osuleaf", "ucr", "continuous", "continuous", 6, "ucr/OSULeaf", (), "UCR OSULeaf (1 x 427)"),
        Task("acsf1", "ucr", "continuous", "continuous", 10, "ucr/ACSF1", (), "UCR ACSF1 (1 x 1460)"),
        Task("basicmotions", "ucr", "continuous", "continuous", 4, "ucr/BasicMotions", (), "UEA BasicMotions (6 x 100)"),
        Task("italypowerdemand", "ucr", "continuous", "continuous", 2, "ucr/ItalyPowerDemand", (),
             "UCR ItalyPowerDemand (1 x 24)"),
        Task("japanesevowels", "ucr", "continuous", "continuous", 9, "ucr/JapaneseVowels_eq", (),
             "UEA JapaneseVowels, the wheel's equal-length version (12 x 25)"),
        Task("pickupgesture", "ucr", "continuous", "continuous", 10, "ucr/PickupGestureWiimoteZ_eq", (),
             "UCR PickupGestureWiimoteZ, the wheel's equal-length version (1 x 361)"),
        Task("covid3month", "ucr", "continuous", "continuous", 3, "ucr/Covid3Month_disc", (),
             "Covid3Month with its target discretized into 3 classes (1 x 84)"),
        # bytes of files shipped with CPython (stdlib_text.py): Python code, English prose, codec tables
        Task("stdlib_text", "builtin", "tokens", "discrete", 3, None, _SIZES, "byte chunks of CPython library files"),
    ]
}
BUILTIN_TASKS = tuple(name for name, t in TASKS.items() if t.source == "builtin")
# Real benchmarks fetched by DVC stages (fetch_<source> in dvc.yaml).
REAL_TASKS = tuple(name for name, t in TASKS.items() if t.source not in ("builtin", "ucr"))
# Real UCR/UEA sets, extracted from the pinned aeon wheel by the Snakemake rule bench_fetch_ucr.
UCR_TASKS = tuple(name for name, t in TASKS.items() if t.source == "ucr")
UCR_RAW = REAL_ROOT / "ucr"
GENERATED_TASKS = ("listops_synth", "pathfinder_synth")  # stand-ins with raw files (`contlaws bench generate`)
# Built-in tasks read straight from an installed package or the Python distribution (no raw folder).
NO_RAW_TASKS = ("digits", "stdlib_text")


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown benchmark task {name!r} (known: {', '.join(TASKS)})") from None


def real_raw_dir(task: str, root: str | Path = REAL_ROOT) -> Path:
    return Path(root) / get_task(task).raw


def missing_raw_message(task: str, raw: Path) -> str:
    t = get_task(task)
    if t.source == "ucr":
        return (f"{raw}: UCR files of '{task}' not found; extract them with `contlaws bench fetch-ucr --out {UCR_RAW}` "
                "(or `snakemake --cores 1 {UCR_RAW}`)")
    if t.source == "builtin":
        return f"{raw}: stand-in files for '{task}' not found; create them with `contlaws bench generate {task}`"
    return (
        f"{raw}: raw files of benchmark '{task}' not found. Fetch them with DVC from the repository root: "
        f"`DVC_NO_ANALYTICS=1 dvc pull fetch_{t.source}` (from the team remote) or "
        f"`DVC_NO_ANALYTICS=1 dvc repro fetch_{t.source}` (downloads; see docs/benchmarks.md)"
    )




# ------------------------------------------------------------------------------------------------
# Helpers for workflow/rules/benchmarks.smk (kept here: Snakemake's linter wants no functions there)
# ------------------------------------------------------------------------------------------------
def benchmark_paths(bench_dir: str, task: str) -> list[str]:
    """The prepared train/val/test ``.npz`` paths of ``task`` under ``bench_dir``."""
    get_task(task)
    return [f"{bench_dir}/{task}_{split}.npz" for split in SPLITS]


def data_settings(cfg: dict, task: str) -> str:
    """The settings a task's data depends on (seed and its own subsampling sizes), as stable JSON.

    Narrower than all of ``subsampling``: changing epochs or the learning rate must not redo an hour
    of Path-X image decoding.
    """
    sub = cfg["subsampling"]
    used = {k: sub[k] for k in get_task(task).settings}
    return json.dumps({"seed": cfg["seed"], "subsampling": used}, sort_keys=True)


def real_sources() -> list[str]:
    """The DVC fetch sources of the real tasks: ``fetch_<source>`` stages in dvc.yaml."""
    return sorted({TASKS[t].source for t in REAL_TASKS})


def fetch_message(source: str) -> str:
    """What to run when the DVC output ``data/benchmarks/raw/<source>`` is missing."""
    task = next(t for t in REAL_TASKS if TASKS[t].source == source)
    return missing_raw_message(task, REAL_ROOT / source)
