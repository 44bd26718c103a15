"""``contlaws bench``: fetch real benchmarks, generate stand-ins, prepare task splits.

    contlaws bench fetch {lra,imdb,cifar10} --out data/benchmarks/raw/<source>     (DVC stages)
    contlaws bench generate {listops_synth,pathfinder_synth} --config C --out DIR  (stand-in raw files)
    contlaws bench prepare TASK --config C --split train|val|test --out PATH.npz
    contlaws bench fetch-ucr --out data/benchmarks/raw/ucr [--wheel W.whl]         (UCR sets, pinned aeon wheel)
    contlaws bench tasks                                                            (list the tasks)
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from contlaws.commands.common import add_config_argument, config_from_args
from contlaws.data.benchmarks import sources, tasks
from contlaws.data.fetch import atomic_directory, layout_owner
from contlaws.errors import OutputFileError
from contlaws.io import refuse_output_over_input, save_npz

log = logging.getLogger(__name__)


def cmd_fetch(args: argparse.Namespace) -> None:
    sources.fetch(args.source, args.out, archive=args.archive, url=args.url, md5=args.md5,
                  dvc_lock=args.dvc_lock, progress=not args.no_progress, force=args.force)


def cmd_fetch_ucr(args: argparse.Namespace) -> None:
    from contlaws.data.benchmarks import ucr

    with atomic_directory(args.out, layout_owner(ucr.is_extracted_file), args.force) as tmp:
        written = ucr.main_fetch(tmp, cache=args.cache, wheel=args.wheel, sha256=args.sha256)
    log.info("extracted %d .ts files of %s into %s", len(written), ", ".join(ucr.SETS), args.out)


def cmd_generate(args: argparse.Namespace) -> None:
    tasks.generate_standin_files(args.task, config_from_args(args), args.out, force=args.force)
    log.info("wrote %s stand-in files to %s", args.task, args.out)


def refuse_output_in_folder(output: Path, folder: Path | None, option: str) -> None:
    """Raise OutputFileError when ``output`` lies in ``folder`` (symbolic links resolved): an output
    written there would replace or sit among the raw files it is made from."""
    if folder is None:
        return
    out, raw = output.resolve(), folder.resolve()
    if out == raw or raw in out.parents:
        raise OutputFileError(f"{output}: {option} is inside the raw folder {folder} it is prepared from; "
                              "writing it there could destroy the input (choose a path outside it)")  # fmt: skip


def cmd_prepare(args: argparse.Namespace) -> None:
    refuse_output_over_input(args.out, [args.config], "--out")
    cfg = config_from_args(args)
    refuse_output_in_folder(args.out, tasks.raw_folder(args.task, cfg, args.raw), "--out")
    arrays, meta = tasks.prepare(args.task, cfg, args.split, raw_dir=args.raw, limit=args.limit)
    save_npz(args.out, arrays, meta)
    log.info("wrote %s: x %s, %d classes", args.out, tuple(arrays["x"].shape), meta["n_classes"])


def cmd_tasks(args: argparse.Namespace) -> None:
    for name, t in tasks.TASKS.items():
        if t.raw is not None:
            where = str(tasks.REAL_ROOT / t.raw)
        else:
            where = "generated per run" if name in tasks.GENERATED_TASKS else "shipped with scikit-learn"
        print(f"{name:17s} {t.input_kind:10s} {t.continuity:10s} {t.n_classes:3d} classes  {where}", file=sys.stdout)


def register(subparsers) -> None:
    bench = subparsers.add_parser("bench", help="benchmark data: fetch (DVC stages), stand-ins, prepared splits")
    sub = bench.add_subparsers(dest="bench_command", required=True, metavar="ACTION")

    p = sub.add_parser("fetch", help="download (resuming), verify and unpack a real benchmark archive")
    p.add_argument("source", choices=sorted(sources.SOURCES))
    p.add_argument("--out", type=Path, required=True, help="directory to unpack into (replaced atomically)")
    p.add_argument("--archive", type=Path, help="where the archive is kept (default data/benchmarks/downloads/<name>)")
    p.add_argument("--url", help="another URL or a plain local path (a mirror); default: the official URL")
    p.add_argument("--md5", help="expected md5 (default: the published one, or the one pinned in --dvc-lock)")
    p.add_argument("--dvc-lock", type=Path, default=Path("dvc.lock"), help="dvc.lock to read a pinned md5 from")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--force", action="store_true",
                   help="replace --out even when it holds files this command did not write (they are deleted)")
    p.set_defaults(func=cmd_fetch)

    from contlaws.data.benchmarks import ucr

    p = sub.add_parser("fetch-ucr", help="fetch the pinned aeon wheel (pip download, no install), verify, extract UCR .ts files")
    p.add_argument("--out", type=Path, required=True, help="directory (replaced atomically): <out>/<Name>/<Name>_{TRAIN,TEST}.ts")
    p.add_argument("--wheel", type=Path, help="use this wheel file instead of downloading (its sha256 is still checked)")
    p.add_argument("--cache", type=Path, help=f"keep the downloaded {ucr.AEON_WHEEL} here (default: a temporary folder)")
    p.add_argument("--sha256", default=ucr.AEON_SHA256, help="expected sha256 of the wheel (default: the pinned one)")
    p.add_argument("--force", action="store_true",
                   help="replace --out even when it holds files this command did not write (they are deleted)")
    p.set_defaults(func=cmd_fetch_ucr)

    p = sub.add_parser("generate", help="write the raw files of a built-in stand-in (LRA formats)")
    p.add_argument("task", choices=["listops_synth", "pathfinder_synth"])
    add_config_argument(p)
    p.add_argument("--out", type=Path, required=True, help="directory (replaced atomically)")
    p.add_argument("--force", action="store_true",
                   help="replace --out even when it holds files this command did not write (they are deleted)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("prepare", help="one split of a task as a classification .npz")
    p.add_argument("task", choices=list(tasks.TASKS))
    add_config_argument(p)
    p.add_argument("--split", choices=list(tasks.SPLITS), required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--raw", type=Path,
                   help="raw files (default: data/<run>/benchmarks/raw/<task>; real tasks: data/benchmarks/raw/...)")
    p.add_argument("--limit", type=int, help="keep a seeded subset of at most this many examples")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("tasks", help="list the benchmark tasks")
    p.set_defaults(func=cmd_tasks)
