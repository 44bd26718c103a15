"""Pathfinder / Path-X (LRA): are the two dots of an image connected by a path? Pixels as a sequence.

Layout (LRA ``pathfinder32/``, ``pathfinder128/`` = Path-X, one folder per difficulty)::

    <root>/<difficulty>/imgs/<k>/sample_<i>.png      grayscale PNGs
    <root>/<difficulty>/metadata/<k>.npy             TEXT despite the suffix, one line per image:
                                                     "<dir> <file> <index> <label> [more fields]"

The project uses difficulty ``curv_contour_length_14`` (the hardest, as LRA and S4). Examples are
read in metadata order (files by their numeric stem, lines in order). One image in the release is
empty, ``pathfinder32/curv_baseline/imgs/0/sample_172.png``; like LRA (which drops every empty PNG)
empty files are skipped, the known one silently, any other with a warning.

Sequences: step t = r*W + c is pixel (row r, column c); values are intensities / 255 in [0, 1]
(one channel). LRA has no official split: like LRA and S4 the task code splits 80/10/10 at random.

Stand-in (:func:`generate_files`): the same layout at any image size, difficulty ``synthetic``.
Each image holds two marked paths A and B plus ``n_distractors`` unmarked ones; the two dots sit at
both ends of A (label 1) or at one end of A and one of B (label 0), so both classes show the same
number of dots and paths. Paths are smooth random walks (heading turns by N(0, 0.35²) per step,
reflected at the border) drawn 4x supersampled and box-filtered down. A sample is redrawn until the
label agrees with what the image shows: dots in one 8-connected component of inked pixels iff 1.
"""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from contlaws.data.benchmarks.common import images_to_sequences
from contlaws.errors import DataFileError
from contlaws.io import write_text

log = logging.getLogger(__name__)

DIFFICULTY = "curv_contour_length_14"
SYNTHETIC_DIFFICULTY = "synthetic"
EMPTY_IMAGES = frozenset({"pathfinder32/curv_baseline/imgs/0/sample_172.png"})
SUPERSAMPLE = 4
TURN_STD = 0.35  # radians per step of the random heading
IMAGES_PER_FOLDER = 1000


# ------------------------------------------------------------------------------------------------
# Reading the LRA layout
# ------------------------------------------------------------------------------------------------
def read_metadata(root: str | Path, difficulty: str = DIFFICULTY) -> list[tuple[Path, int]]:
    """(image path, label) for every listed, non-empty image of ``root/difficulty``, in metadata order."""
    root = Path(root)
    meta_dir = root / difficulty / "metadata"
    try:
        meta_files = sorted(meta_dir.glob("*.npy"), key=lambda p: int(p.stem))
    except ValueError as err:
        raise DataFileError(f"{meta_dir}: metadata file name is not <integer>.npy ({err})") from None
    if not meta_files:
        raise DataFileError(f"{meta_dir}: no metadata/*.npy files (is {root} a pathfinder folder?)")
    samples, skipped = [], []
    for meta in meta_files:
        try:
            lines = meta.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            raise DataFileError(f"{meta}: not a text metadata file") from None
        for line_no, line in enumerate(lines, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 4 or fields[3] not in ("0", "1"):
                raise DataFileError(f"{meta}:{line_no}: expected '<dir> <file> <index> <label 0|1> ...', got {line!r}")
            image = root / difficulty / fields[0] / fields[1]
            key = PurePosixPath(root.name, difficulty, fields[0], fields[1]).as_posix()
            if key in EMPTY_IMAGES:
                continue
            if image.exists() and image.stat().st_size == 0:
                skipped.append(image)
                continue
            samples.append((image, int(fields[3])))
    if skipped:
        log.warning("skipped %d empty images: %s", len(skipped), ", ".join(map(str, skipped[:5])))
    return samples


def read_images(paths: list[Path], progress: bool = True) -> np.ndarray:
    """Grayscale PNGs of one size -> (N, H*W, 1) float32 in [0, 1], row-major pixel order."""
    if not paths:
        return np.zeros((0, 0, 1), dtype=np.float32)
    first = _read_png(paths[0])
    out = np.empty((len(paths), first.size, 1), dtype=np.float32)  # (N L 1)
    for i, path in enumerate(tqdm(paths, desc="images", unit=" img", disable=not progress)):
        image = first if i == 0 else _read_png(path)
        if image.shape != first.shape:
            raise DataFileError(f"{path}: image is {image.shape}, expected {first.shape} like {paths[0]}")
        out[i] = images_to_sequences(image[None].astype(np.float32) / 255.0)[0]
    return out


def _read_png(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("L"))
    except FileNotFoundError:
        raise DataFileError(f"{path}: image listed in the metadata is missing") from None
    except OSError as err:
        raise DataFileError(f"{path}: unreadable image ({err})") from None


def read_folder(
    root: str | Path, difficulty: str = DIFFICULTY, progress: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """All images of one difficulty: x (N, H*W, 1) float32, labels (N,) int64, in metadata order."""
    samples = read_metadata(root, difficulty)
    return read_images([p for p, _ in samples], progress), np.array([lab for _, lab in samples], dtype=np.int64)


# ------------------------------------------------------------------------------------------------
# Stand-in generator
# ------------------------------------------------------------------------------------------------
def random_path(rng: np.random.Generator, size: int, n_steps: int) -> np.ndarray:
    """A smooth random walk of ``n_steps`` unit steps inside the image; (n_steps + 1, 2) (x, y) pixels."""
    lo, hi = 1.0, size - 2.0
    point = rng.uniform(lo, hi, size=2)
    heading = rng.uniform(0, 2 * np.pi)
    points = [point]
    for turn in rng.normal(0.0, TURN_STD, size=n_steps):
        heading += turn
        step = np.array([np.cos(heading), np.sin(heading)])
        nxt = point + step
        if not lo <= nxt[0] <= hi:  # reflect off the left/right border
            heading = np.pi - heading
        if not lo <= nxt[1] <= hi:  # reflect off the top/bottom border
            heading = -heading
        point = np.clip(point + np.array([np.cos(heading), np.sin(heading)]), lo, hi)
        points.append(point)
    return np.array(points)


def render(paths: list[np.ndarray], dots: list[np.ndarray], size: int) -> np.ndarray:
    """Draw paths (1 px wide) and dots (radius 1.25 px) supersampled, box-filter to (size, size) uint8."""
    k = SUPERSAMPLE
    canvas = Image.new("L", (size * k, size * k), 0)
    draw = ImageDraw.Draw(canvas)
    for path in paths:
        draw.line([tuple((p + 0.5) * k) for p in path], fill=255, width=k, joint="curve")
    radius = 1.25 * k
    for dot in dots:
        cx, cy = (dot + 0.5) * k
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=255)
    return np.asarray(canvas.resize((size, size), Image.Resampling.BOX))


def dots_connected(image: np.ndarray, dots: list[np.ndarray]) -> bool:
    """Do both dots lie in one 8-connected component of inked (> 0) pixels?"""
    from scipy import ndimage  # here, not at import: every `bench` job imports this module via the task table

    components, _ = ndimage.label(image > 0, structure=np.ones((3, 3)))
    (x0, y0), (x1, y1) = (np.clip(np.round(d).astype(int), 0, image.shape[0] - 1) for d in dots)
    return components[y0, x0] != 0 and components[y0, x0] == components[y1, x1]


def generate_image(
    rng: np.random.Generator, size: int, label: int, max_tries: int = 200
) -> tuple[np.ndarray, list[np.ndarray]]:
    """One stand-in image (size, size) uint8 whose dots are connected iff ``label`` == 1; and the dots."""
    n_steps = max(4, int(0.75 * size))
    n_distractors = max(1, size // 16)
    for _ in range(max_tries):
        path_a, path_b, *distractors = (random_path(rng, size, n_steps) for _ in range(2 + n_distractors))
        dots = [path_a[0], path_a[-1]] if label == 1 else [path_a[0], path_b[-1]]
        image = render([path_a, path_b, *distractors], dots, size)
        if dots_connected(image, dots) == bool(label):
            return image, dots
    raise RuntimeError(f"could not draw a pathfinder image of size {size} with label {label} in {max_tries} tries")


def generate_files(out_dir: str | Path, n_images: int, seed: int, size: int, progress: bool = True) -> None:
    """Write ``n_images`` stand-in images and their metadata in the LRA layout under ``out_dir``.

    Labels are balanced exactly (a seeded permutation of 0, 1, 0, 1, ...); the bytes depend only on
    the arguments.
    """
    root = Path(out_dir) / SYNTHETIC_DIFFICULTY
    rng = np.random.default_rng(seed)
    labels = rng.permutation(n_images) % 2
    lines: dict[int, list[str]] = {}
    for i in tqdm(range(n_images), desc="pathfinder images", disable=not progress):
        folder = i // IMAGES_PER_FOLDER
        image, _ = generate_image(rng, size, int(labels[i]))
        path = root / "imgs" / str(folder) / f"sample_{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path, format="PNG", optimize=False)
        lines.setdefault(folder, []).append(f"imgs/{folder} sample_{i}.png {i} {int(labels[i])}\n")
    for folder, folder_lines in lines.items():
        write_text(root / "metadata" / f"{folder}.npy", "".join(folder_lines))
