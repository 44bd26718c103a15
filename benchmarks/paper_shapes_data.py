"""Offline benchmark data for the paper-shapes run (config/paper_shapes.yaml, `make paper-shapes`).

Writes small archives in the exact formats of the real downloads (the LRA release with ListOps TSVs
and Pathfinder 32x32 / Path-X 128x128 PNG folders, aclImdb, the CIFAR-10 python batches) and unpacks
them with `contlaws bench fetch` (the DVC stages' command: md5 check, member selection, atomic
unpack) into <workdir>/data/benchmarks/raw/, where the pipeline reads the real benchmarks. Only the
number of examples is small: sequence lengths, image sizes, vocabularies and class counts are the
real ones, so every E5 job runs at paper shapes.

The run uses its own working directory (default build/paper_shapes, passed to snakemake as
--directory), so these stand-in archives never sit where a real `dvc pull` puts the real data.

    python benchmarks/paper_shapes_data.py [--workdir build/paper_shapes]

UCR/UEA sets: copied from data/benchmarks/raw/ucr when this checkout has them (a quick or evidence
run extracted them); otherwise the pipeline's bench_fetch_ucr job downloads the pinned aeon wheel.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import pickle
import random
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from contlaws.data.benchmarks import cifar, listops, pathfinder, sources, tasks

REPO = Path(__file__).resolve().parents[1]
# examples per split: two E5 training batches (batch 16) and a few for validation and test
LISTOPS_COUNTS = {"train": 32, "val": 8, "test": 8}
PATHFINDER_IMAGES = 40  # split 80/10/10 by the loader: 32 / 4 / 4
IMDB_PER_CLASS = {"train": 20, "test": 4}  # val: the loader's seeded 10% of train
CIFAR_PER_BATCH = 8  # 5 training batches (last 10% is val) and the test batch


def _tar_gz(members: dict[str, bytes]) -> bytes:
    """A deterministic .tar.gz of ``members`` (name -> bytes), in name order."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(members[name]), 0, 0o644
            tar.addfile(info, io.BytesIO(members[name]))
    return buffer.getvalue()


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def lra_members(seed: int) -> dict[str, bytes]:
    """ListOps (LRA length window 500..2000) and the Pathfinder difficulty the tasks read, at 32 and 128 px."""
    members = {}
    stream = listops.generate_examples(sum(LISTOPS_COUNTS.values()), seed, max_length=tasks.LISTOPS_LENGTH)
    for split, n in LISTOPS_COUNTS.items():
        rows = [next(stream) for _ in range(n)]
        text = "Source\tTarget\r\n" + "".join(f"{s}\t{t}\r\n" for s, t in rows)
        members[f"lra_release/listops-1000/basic_{split}.tsv"] = text.encode()
    rng = np.random.default_rng(seed)
    for folder, size in (("pathfinder32", 32), ("pathfinder128", 128)):
        root = f"lra_release/{folder}/{pathfinder.DIFFICULTY}"
        lines = []
        for i in range(PATHFINDER_IMAGES):
            label = i % 2
            image, _ = pathfinder.generate_image(rng, size, label)
            members[f"{root}/imgs/0/sample_{i}.png"] = _png(image)
            lines.append(f"imgs/0 sample_{i}.png {i} {label} 14 2 1.5\n")  # LRA metadata: extra fields
        members[f"{root}/metadata/0.npy"] = "".join(lines).encode()
    return members


def imdb_members(seed: int) -> dict[str, bytes]:
    """Byte-level reviews, some longer than the 4096-byte cut."""
    rng = random.Random(seed)
    words = ["film", "plot", "actor", "scene", "boring", "great", "awful", "music", "story", "ending", "é"]
    members = {}
    for split, n in IMDB_PER_CLASS.items():
        for label, folder in enumerate(("neg", "pos")):
            for i in range(n):
                text = " ".join(rng.choice(words) for _ in range(rng.randint(100, 1200)))
                members[f"aclImdb/{split}/{folder}/{i}_{7 * label + 2}.txt"] = text.encode()
    return members


def cifar_members(seed: int) -> dict[str, bytes]:
    """The python-release batches (pickle protocol 2, uint8 rows of 3 x 32 x 32, labels 0..9)."""
    rng = np.random.default_rng(seed)
    members = {}
    for name in [*cifar.TRAIN_FILES, "test_batch"]:
        batch = {b"batch_label": name.encode(), b"labels": rng.integers(0, 10, CIFAR_PER_BATCH).tolist(),
                 b"data": rng.integers(0, 256, (CIFAR_PER_BATCH, 3 * 32 * 32), dtype=np.uint8)}  # fmt: skip
        members[f"cifar-10-batches-py/{name}"] = pickle.dumps(batch, protocol=2)
    members["cifar-10-batches-py/batches.meta"] = pickle.dumps(
        {b"label_names": [f"class{i}".encode() for i in range(10)]}, protocol=2)
    return members


ARCHIVES = {"lra": lra_members, "imdb": imdb_members, "cifar10": cifar_members}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=REPO / "build" / "paper_shapes",
                        help="the run's working directory (snakemake --directory)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    work = args.workdir.resolve()
    raw_root = work / "data" / "benchmarks" / "raw"
    mirror = work / "mirror"
    mirror.mkdir(parents=True, exist_ok=True)
    for name, members in ARCHIVES.items():
        out = raw_root / name
        if out.is_dir():
            print(f"{out}: present")
            continue
        source = sources.SOURCES[name]
        data = _tar_gz(members(args.seed))
        (mirror / source.filename).write_bytes(data)
        cmd = ["contlaws", "bench", "fetch", name, "--url", str(mirror / source.filename),
               "--md5", hashlib.md5(data).hexdigest(), "--archive", str(work / sources.DOWNLOADS / source.filename),
               "--out", str(out), "--no-progress"]  # fmt: skip
        if subprocess.run(cmd, cwd=work, check=False).returncode != 0:
            print(f"error: {' '.join(cmd)} failed", file=sys.stderr)
            return 1
        print(f"{out}: unpacked from a {len(data) / 1e6:.1f} MB stand-in {source.filename}")
    ucr_here, ucr_there = REPO / "data" / "benchmarks" / "raw" / "ucr", raw_root / "ucr"
    if ucr_here.is_dir() and not ucr_there.exists():
        shutil.copytree(ucr_here, ucr_there)
        print(f"{ucr_there}: copied from {ucr_here}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
