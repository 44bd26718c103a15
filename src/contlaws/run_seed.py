"""Start a run from another run's finished work: a robustness variant reruns only what its change touches.

A variant of the evidence run (config/robustness.yaml) is the evidence config with one choice changed
and its own ``run_name``, so by default Snakemake rebuilds everything in the variant's folders: about
two hours on 2 cores even for a variant that only changes how a claim is computed. But Snakemake
already knows which jobs a config change touches: every rule carries the config sections it reads
as its ``settings`` param, and a job reruns when those change (the params rerun trigger). So the
variant starts from a copy of the baseline run, and Snakemake decides:

1. every file of ``data/<from>``, ``results/<from>`` and ``figures/<from>`` is hard-linked to the same path under ``<to>``
   (no bytes copied; every output is written to a temporary file and renamed into place, so a job
   that reruns in the variant replaces its link and never writes into the baseline's file). The logs
   and Snakemake's benchmark files of ``logs/<from>`` are copied instead: Snakemake and the shell
   write those in place. Folders get the modification times of the baseline's (Snakemake compares
   them for folder outputs);
2. Snakemake's record of each of those files (``.snakemake/metadata``: the rule, its input files, its
   params, its code) is copied under the new path, with the run folder renamed inside it, so the
   inputs and params Snakemake compares are the ones the variant's own DAG gives.

A job then reruns in the variant exactly when it would rerun in the baseline's folder after the same
config change. Seeding never overwrites a file the variant already has (a rerun of ``make robustness``
resumes); a file it links gets the baseline's record, replacing a stale one (a variant folder that was
deleted and seeded again after the baseline changed). The record format is Snakemake's (``record_format_version`` 6, Snakemake 8 and 9); a record
of another version, or one that does not parse, is refused with the file named.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from contlaws.errors import UserError

RUN_ROOTS = ("data", "results", "figures", "logs")  # the per-run folders <root>/<run_name>/
COPIED_ROOTS = ("logs",)  # written in place (shell redirection, Snakemake's benchmark files): copied, not linked
RECORD_FORMATS = (6,)  # Snakemake's metadata record_format_version this reads
METADATA = Path(".snakemake") / "metadata"


@dataclass
class SeedReport:
    files: int = 0  # files linked (data, results) or copied (logs)
    kept: int = 0  # files the variant already had (left alone)
    records: int = 0  # Snakemake records copied

    def describe(self, source: str, target: str) -> str:
        return (f"seeded run '{target}' from '{source}': {self.files} files linked or copied, {self.kept} already there, "
                f"{self.records} Snakemake records copied")  # fmt: skip


def record_path(metadata_dir: Path, path: str) -> Path:
    """Where Snakemake keeps the record of ``path``: its urlsafe base64, cut into folder names of at most
    NAME_MAX − 1 characters, every part but the last prefixed with "@" (Snakemake's persistence layout)."""
    encoded = base64.urlsafe_b64encode(path.encode()).decode()
    max_len = os.pathconf(metadata_dir, "PC_NAME_MAX") - 1
    parts = [encoded[i : i + max_len] for i in range(0, len(encoded), max_len)]
    return metadata_dir.joinpath(*["@" + p for p in parts[:-1]], parts[-1])


def recorded_paths(metadata_dir: Path) -> Iterator[tuple[str, Path]]:
    """(file path, record file) of every record in ``metadata_dir``."""
    for record in metadata_dir.rglob("*"):
        if record.is_dir():
            continue
        parts = record.relative_to(metadata_dir).parts
        encoded = "".join(p.removeprefix("@") for p in parts)
        try:
            yield base64.urlsafe_b64decode(encoded).decode(), record
        except (ValueError, UnicodeDecodeError):
            continue  # not a record of a path (Snakemake keeps nothing else here; tolerate strays)


def rename_run(text: str, source: str, target: str) -> str:
    """``text`` with every run folder ``<root>/<source>/`` renamed to ``<root>/<target>/``."""
    for root in RUN_ROOTS:
        text = text.replace(f"{root}/{source}/", f"{root}/{target}/")
    return text


def renamed_record(text: str, record: Path, source: str, target: str) -> str:
    """The record (JSON text of ``record``) with its run folders renamed (:func:`rename_run`)."""
    try:
        content = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"{record}: not a Snakemake metadata record ({err})") from None
    version = content.get("record_format_version") if isinstance(content, dict) else None
    if version not in RECORD_FORMATS:
        raise UserError(f"{record}: Snakemake record format {version!r}, this reads {list(RECORD_FORMATS)} "
                        "(seed the variant by running it in full instead)")  # fmt: skip
    return rename_run(text, source, target)


def seed_run(workdir: str | Path, source: str, target: str) -> SeedReport:
    """Link run ``source``'s files and Snakemake records into run ``target`` (see the module docstring).

    Raises:
        UserError: the same run, a run name with a path separator, no ``results/<source>``, or a record
            that cannot be read.
    """
    workdir = Path(workdir)
    for name in (source, target):
        if not name or "/" in name or name in (".", ".."):
            raise UserError(f"run name {name!r}: a folder name under data/, results/ and logs/ is needed")
    if source == target:
        raise UserError(f"run '{source}' cannot be seeded from itself")
    if not (workdir / "results" / source).is_dir():
        raise UserError(f"{workdir / 'results' / source}: no such run to seed from (run it first)")
    report = SeedReport()
    linked: set[str] = set()  # paths (relative to workdir) this call gave the variant
    for root in RUN_ROOTS:
        src_root = workdir / root / source
        folders = []
        for src in sorted(src_root.rglob("*")) if src_root.is_dir() else []:
            if src.is_dir() and not src.is_symlink():
                folders.append(src)
                continue
            if src.is_symlink() or src.name.startswith(".") or src.suffix == ".tmp":
                continue  # locks and temporary files of jobs belong to the run that made them
            dst = workdir / root / target / src.relative_to(src_root)
            if dst.exists():
                report.kept += 1
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            if root in COPIED_ROOTS:
                shutil.copy2(src, dst)  # keeps the modification time, which Snakemake compares
            else:
                os.link(src, dst)
            report.files += 1
            linked.add(dst.relative_to(workdir).as_posix())
        for src in reversed(folders):  # deepest first: setting a folder's time after its contents
            dst = workdir / root / target / src.relative_to(src_root)
            if dst.is_dir():
                stat = src.stat()
                os.utime(dst, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    metadata = workdir / METADATA
    if metadata.is_dir():
        prefixes = tuple(f"{root}/{source}/" for root in RUN_ROOTS)
        for path, record in list(recorded_paths(metadata)):
            if not path.startswith(prefixes):
                continue
            new_path = rename_run(path, source, target)
            new_record = record_path(metadata, new_path)
            if new_record.exists() and new_path not in linked:
                continue  # the variant's own file, or one seeded earlier: its record stays
            text = renamed_record(record.read_text(), record, source, target)
            new_record.parent.mkdir(parents=True, exist_ok=True)
            tmp = new_record.with_name(new_record.name + ".tmp")
            tmp.write_text(text)
            tmp.replace(new_record)
            report.records += 1
    return report
