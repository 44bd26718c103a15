"""Bad inputs and faults around the data commands: UCR sets, output folders that hold user files,
outputs over inputs, archives that are not ours, crafted CIFAR pickles, tiny values in task
continuity and mismatched refined sets in model continuity. Each test reproduces a failure that
used to give a traceback, a silent wrong result or lost data."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from contlaws import commands
from contlaws.config import load_config
from contlaws.data.benchmarks import cifar, tasks, ucr
from contlaws.errors import DataFileError

REPO = Path(__file__).resolve().parents[1]


def run_bench(capsys, *argv) -> tuple[int, str]:
    """`contlaws bench ...` in process; (exit status, stderr)."""
    saved = commands.COMMAND_MODULES
    commands.COMMAND_MODULES = ("contlaws.commands.benchmarks",)
    try:
        status = commands.main([str(a) for a in argv])
    finally:
        commands.COMMAND_MODULES = saved
    return status, capsys.readouterr().err


def one_error_line(err: str) -> str:
    """The single `error: ...` line of a refusal (no traceback)."""
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert "Traceback" not in err and len(lines) == 1, err
    return lines[0]


@pytest.fixture()
def small_config(tmp_path):
    cfg = load_config(REPO / "config" / "quick.yaml", overrides={
        "run_name": "t", "subsampling": {"n_train": 24, "n_val": 8, "n_test": 8, "image_size": 16,
                                         "listops_max_length": 64}})  # fmt: skip
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    return cfg, path


# ------------------------------------------------------------------------------------------------
# UCR .ts sets
# ------------------------------------------------------------------------------------------------
def ts_file(name: str, labels: list[str], rows: list[list[float]], classes: list[str], length: int | None = None) -> str:
    """An equal-length univariate .ts classification file."""
    head = [f"@problemName {name}", "@timeStamps false", "@missing false", "@univariate true", "@equalLength true"]
    head += [f"@seriesLength {length if length is not None else len(rows[0])}", f"@classLabel true {' '.join(classes)}", "@data"]
    body = [",".join(repr(float(v)) for v in row) + f":{label}" for row, label in zip(rows, labels)]
    return "\n".join(head + body) + "\n"


def write_set(folder: Path, name: str, n_train=6, n_test=4, length=12, classes=("a", "b"), scale=1.0, header_name=None):
    """``folder/<name>_{TRAIN,TEST}.ts`` of smooth series (class k: k+1 cycles)."""
    folder.mkdir(parents=True, exist_ok=True)
    t = np.linspace(0, 1, length)

    def rows(n):
        labels = [classes[i % len(classes)] for i in range(n)]
        values = [scale * np.sin(2 * np.pi * (1 + classes.index(lab)) * t + 0.1 * i) for i, lab in enumerate(labels)]
        return ts_file(header_name or name, labels, values, list(classes))

    (folder / f"{name}_TRAIN.ts").write_text(rows(n_train))
    (folder / f"{name}_TEST.ts").write_text(rows(n_test))
    return folder


@pytest.fixture()
def gunpoint_sizes(monkeypatch):
    """The reader's size check of GunPoint set to the fixtures' sizes (1 channel, 12 steps, 2 classes, 6/4 series)."""
    monkeypatch.setitem(ucr.SETS, "GunPoint", ucr.UCRSet("GunPoint", 1, 12, 2, 6, 4))
    monkeypatch.setitem(ucr.SETS, "ArrowHead", ucr.UCRSet("ArrowHead", 1, 12, 3, 6, 4))


def test_ucr_absurd_series_length_is_refused_before_allocating(tmp_path):
    """@seriesLength 100000000000 used to allocate 800 GB for the first series (a MemoryError traceback)."""
    path = tmp_path / "GunPoint_TRAIN.ts"
    path.write_text(ts_file("GunPoint", ["a"], [[1.0, 2.0, 3.0]], ["a", "b"], length=100_000_000_000))
    with pytest.raises(DataFileError) as err:
        ucr.read_ts(path)
    assert f"{path}:8: the header declares 1 channel(s) x 100000000000 values per series" in str(err.value)
    assert "more than the file's" in str(err.value)


def test_ucr_series_longer_than_declared_is_refused_before_its_values_are_read(tmp_path):
    path = tmp_path / "x.ts"
    path.write_text(ts_file("X", ["a"], [[1.0] * 20], ["a", "b"], length=4))
    with pytest.raises(DataFileError, match=r"x\.ts:9: channel 0 has 20 values, @seriesLength is 4"):
        ucr.read_ts(path)


def test_ucr_training_values_too_large_to_standardize_are_refused(tmp_path, small_config, gunpoint_sizes):
    """Series of ±1e300 gave std = inf and a prepared x of zeros, with exit status 0."""
    cfg, _ = small_config
    raw = write_set(tmp_path / "GunPoint", "GunPoint", scale=1e300)
    with pytest.raises(DataFileError) as err:
        tasks.prepare("gunpoint", cfg, "train", raw_dir=raw)
    message = str(err.value)
    assert message.startswith(f"{raw / 'GunPoint_TRAIN.ts'}: values too large to standardize (largest magnitude 1e+300")
    assert "rescale" in message
    arrays, _ = tasks.prepare("gunpoint", cfg, "train", raw_dir=write_set(tmp_path / "ok" / "GunPoint", "GunPoint", scale=1e150))
    assert np.isfinite(arrays["x"]).all() and float(arrays["x"].std()) == pytest.approx(1.0, rel=1e-4)


def test_ucr_folder_of_set_folders_names_the_set_folder_to_give(tmp_path, small_config, gunpoint_sizes, capsys):
    """--raw data/benchmarks/raw/ucr (what fetch-ucr --out writes) named a file 'ucr/ucr_TRAIN.ts'."""
    _, cfg_path = small_config
    root = tmp_path / "ucr"
    write_set(root / "GunPoint", "GunPoint")
    write_set(root / "ArrowHead", "ArrowHead", classes=("a", "b", "c"))
    status, err = run_bench(capsys, "bench", "prepare", "gunpoint", "--config", cfg_path, "--split", "train",
                            "--raw", root, "--out", tmp_path / "g.npz")  # fmt: skip
    line = one_error_line(err)
    assert status == 2 and "ucr_TRAIN" not in line
    assert line == f"error: {root}: holds set folders, not the .ts files of GunPoint; give the set's own folder {root / 'GunPoint'}"
    assert not (tmp_path / "g.npz").exists()


def test_ucr_set_comes_from_the_task_not_the_folder(tmp_path, small_config, gunpoint_sizes, capsys):
    """--raw .../ArrowHead for task gunpoint wrote ArrowHead's series as 'UCR GunPoint' with n_classes 2."""
    cfg, cfg_path = small_config
    arrow = write_set(tmp_path / "ucr" / "ArrowHead", "ArrowHead", classes=("a", "b", "c"))
    status, err = run_bench(capsys, "bench", "prepare", "gunpoint", "--config", cfg_path, "--split", "train",
                            "--raw", arrow, "--out", tmp_path / "g.npz")  # fmt: skip
    assert status == 2 and not (tmp_path / "g.npz").exists()
    assert one_error_line(err) == f"error: {arrow}: holds the UCR set ArrowHead, not GunPoint (GunPoint_TRAIN.ts is missing)"
    # ArrowHead's files renamed to GunPoint's: the header still names the set
    renamed = write_set(tmp_path / "renamed", "GunPoint", header_name="ArrowHead")
    with pytest.raises(DataFileError, match=r"GunPoint_TRAIN\.ts: @problemName is ArrowHead, but the task reads the set GunPoint"):
        tasks.prepare("gunpoint", cfg, "train", raw_dir=renamed)
    # no header name and a set without an entry in the size table: the class count still decides
    del ucr.SETS["GunPoint"]
    three = write_set(tmp_path / "three", "GunPoint", classes=("a", "b", "c"), header_name="GunPoint")
    with pytest.raises(DataFileError, match=r"three: GunPoint lists 3 classes, task 'gunpoint' has 2"):
        tasks.prepare("gunpoint", cfg, "train", raw_dir=three)
    # the right folder, whatever it is called, works
    arrays, meta = tasks.prepare("gunpoint", cfg, "train", raw_dir=write_set(tmp_path / "any_name", "GunPoint"))
    assert meta["ucr_name"] == "GunPoint" and arrays["x"].shape == (6, 12, 1) and meta["n_classes"] == 2


def test_ucr_size_mismatch_names_the_set_and_both_sizes(tmp_path, small_config, gunpoint_sizes):
    cfg, _ = small_config
    longer = write_set(tmp_path / "GunPoint", "GunPoint", length=20)
    with pytest.raises(DataFileError, match=r"= \(1, 20, 2, 6, 4\), but GunPoint has \(1, 12, 2, 6, 4\)"):
        tasks.prepare("gunpoint", cfg, "train", raw_dir=longer)


def test_fetch_ucr_missing_wheel_is_one_line(tmp_path, capsys, monkeypatch):
    """`fetch-ucr --wheel missing.whl` was a FileNotFoundError traceback."""
    monkeypatch.chdir(tmp_path)
    status, err = run_bench(capsys, "bench", "fetch-ucr", "--wheel", "missing.whl", "--out", "ucr")
    assert status == 2 and one_error_line(err).startswith("error: missing.whl: cannot read the wheel (No such file")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------------
# Output folders that hold the user's files
# ------------------------------------------------------------------------------------------------
def user_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "notes.txt").write_text("mine")
    (path / "sub").mkdir()
    (path / "sub" / "more.txt").write_text("also mine")
    return path


def user_files_intact(path: Path) -> bool:
    return (path / "notes.txt").read_text() == "mine" and (path / "sub" / "more.txt").read_text() == "also mine"


@pytest.mark.parametrize("task", ["listops_synth", "pathfinder_synth"])
def test_generate_refuses_a_folder_of_user_files_unless_forced(tmp_path, small_config, capsys, task):
    """`bench generate --out mydata` replaced mydata and deleted the user's files."""
    _, cfg_path = small_config
    mine = user_folder(tmp_path / "mydata")
    status, err = run_bench(capsys, "bench", "generate", task, "--config", cfg_path, "--out", mine)
    assert status == 2 and user_files_intact(mine)
    assert one_error_line(err) == (f"error: {mine}: holds files this command did not write (e.g. notes.txt); refusing "
                                   "to replace the folder and delete them. Give a new folder, or pass --force to replace it")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "mydata"]  # no temporary folder left
    # its own earlier output, and an empty folder, are replaced as before
    own = tmp_path / "own"
    assert run_bench(capsys, "bench", "generate", task, "--config", cfg_path, "--out", own)[0] == 0
    first = {p.relative_to(own): p.read_bytes() for p in own.rglob("*") if p.is_file()}
    assert run_bench(capsys, "bench", "generate", task, "--config", cfg_path, "--out", own)[0] == 0
    assert {p.relative_to(own): p.read_bytes() for p in own.rglob("*") if p.is_file()} == first
    (tmp_path / "empty").mkdir()
    assert run_bench(capsys, "bench", "generate", task, "--config", cfg_path, "--out", tmp_path / "empty")[0] == 0
    # one stray file in an earlier output is the user's too
    (own / "stray.txt").write_text("x")
    assert run_bench(capsys, "bench", "generate", task, "--config", cfg_path, "--out", own)[0] == 2
    # --force: the user asked
    assert run_bench(capsys, "bench", "generate", task, "--config", cfg_path, "--out", mine, "--force")[0] == 0
    assert not (mine / "notes.txt").exists()


def test_generate_out_dot_is_one_line(tmp_path, small_config, capsys, monkeypatch):
    """`bench generate ... --out .` was `ValueError: PosixPath('.') has an empty name`."""
    _, cfg_path = small_config
    work = user_folder(tmp_path / "work")
    monkeypatch.chdir(work)
    for out in (".", "..", "sub/.."):
        status, err = run_bench(capsys, "bench", "generate", "listops_synth", "--config", cfg_path, "--out", out, "--force")
        assert status == 2
        assert one_error_line(err) == f"error: {out}: is the current folder or one above it; give a new folder to write into"
    assert user_files_intact(work) and sorted(p.name for p in work.iterdir()) == ["notes.txt", "sub"]


def test_fetch_refuses_a_folder_of_user_files_before_downloading(tmp_path, capsys, monkeypatch):
    """`bench fetch --out mydata` replaced mydata after the download; now refused before it."""
    from conftest import make_tar_gz

    from contlaws.data import fetch
    from contlaws.data.benchmarks import sources

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "cifar-10-python.tar.gz").write_bytes(make_tar_gz({"cifar-10-batches-py/test_batch": b"x"}))
    digest = fetch.md5_file(mirror / "cifar-10-python.tar.gz")
    monkeypatch.setenv(sources.MIRROR_ENV, str(mirror))
    monkeypatch.chdir(tmp_path)
    mine = user_folder(tmp_path / "mydata")
    argv = ["bench", "fetch", "cifar10", "--archive", "dl/c.tar.gz", "--md5", digest, "--no-progress", "--out", "mydata"]
    status, err = run_bench(capsys, *argv)
    assert status == 2 and user_files_intact(mine) and not Path("dl").exists()  # nothing downloaded
    assert one_error_line(err).startswith("error: mydata: holds files this command did not write (e.g. notes.txt)")
    assert run_bench(capsys, *argv, "--force")[0] == 0
    assert sorted(p.name for p in mine.iterdir()) == ["FETCHED.json", "test_batch"]


def test_fetch_ucr_refuses_a_folder_of_user_files(tmp_path, capsys):
    wheel = tmp_path / "aeon-0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for name, spec in ucr.SETS.items():  # an _eq set's files sit in its parent set's folder in the wheel
            for split in ("TRAIN", "TEST"):
                z.writestr(f"{ucr.MEMBER_ROOT}/{spec.member_folder}/{name}_{split}.ts",
                           ts_file(name, ["a"], [[1.0, 2.0]], ["a", "b"]))  # fmt: skip
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    mine = user_folder(tmp_path / "ucr")
    argv = ["bench", "fetch-ucr", "--wheel", wheel, "--sha256", sha, "--out", mine]
    status, err = run_bench(capsys, *argv)
    assert status == 2 and user_files_intact(mine) and "pass --force" in one_error_line(err)
    fresh = tmp_path / "fresh"
    assert run_bench(capsys, *argv[:-1], fresh)[0] == 0 and run_bench(capsys, *argv[:-1], fresh)[0] == 0  # its own output
    assert sorted(p.relative_to(fresh).as_posix() for p in fresh.rglob("*.ts"))[:2] == ["ACSF1/ACSF1_TEST.ts", "ACSF1/ACSF1_TRAIN.ts"]
    assert run_bench(capsys, *argv, "--force")[0] == 0 and not (mine / "notes.txt").exists()


# ------------------------------------------------------------------------------------------------
# Outputs over inputs; archives the command did not write
# ------------------------------------------------------------------------------------------------
def test_prepare_refuses_an_output_inside_its_raw_folder(tmp_path, small_config, gunpoint_sizes, capsys):
    """`bench prepare --out c/GunPoint/GunPoint_TRAIN.ts` replaced the raw .ts with an .npz."""
    _, cfg_path = small_config
    raw = write_set(tmp_path / "c" / "GunPoint", "GunPoint")
    link = tmp_path / "link"
    link.symlink_to(raw)
    before = {p: p.read_bytes() for p in raw.iterdir()}
    for out in (raw / "GunPoint_TRAIN.ts", link / "GunPoint_TEST.ts", raw / "new.npz"):
        status, err = run_bench(capsys, "bench", "prepare", "gunpoint", "--config", cfg_path, "--split", "train",
                                "--raw", raw, "--out", out)  # fmt: skip
        assert status == 2
        assert one_error_line(err).startswith(f"error: {out}: --out is inside the raw folder {raw} it is prepared from")
    assert {p: p.read_bytes() for p in raw.iterdir()} == before
    # through a link to the raw folder given as --raw, too
    status, err = run_bench(capsys, "bench", "prepare", "gunpoint", "--config", cfg_path, "--split", "train",
                            "--raw", link, "--out", raw / "GunPoint_TRAIN.ts")  # fmt: skip
    assert status == 2 and {p: p.read_bytes() for p in raw.iterdir()} == before
    assert run_bench(capsys, "bench", "prepare", "gunpoint", "--config", cfg_path, "--split", "train",
                     "--raw", raw, "--out", tmp_path / "c" / "gunpoint_train.npz")[0] == 0  # fmt: skip


def test_fetch_never_deletes_an_archive_it_did_not_write(tmp_path, capsys, monkeypatch):
    """`bench fetch --archive notes.txt` with a missing source deleted notes.txt, then said the source was missing."""
    monkeypatch.chdir(tmp_path)
    Path("notes.txt").write_text("notes")
    status, err = run_bench(capsys, "bench", "fetch", "cifar10", "--archive", "notes.txt", "--url", "missing.tar.gz",
                            "--out", "o", "--no-progress")  # fmt: skip
    assert status == 2 and "missing.tar.gz: local source file not found" in one_error_line(err)
    assert Path("notes.txt").read_text() == "notes" and not Path("o").exists()
    # a source whose bytes fail the checksum leaves it as well
    Path("bad.tar.gz").write_bytes(b"not the archive")
    status, err = run_bench(capsys, "bench", "fetch", "cifar10", "--archive", "notes.txt", "--url", "bad.tar.gz",
                            "--out", "o", "--no-progress")  # fmt: skip
    assert status == 2 and "checksum mismatch" in one_error_line(err) and Path("notes.txt").read_text() == "notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tar.gz", "notes.txt"]


# ------------------------------------------------------------------------------------------------
# Crafted CIFAR pickles
# ------------------------------------------------------------------------------------------------
class _Construct:
    """Pickles as a call of ``numpy.ndarray(shape, dtype)`` (what a crafted batch can ask for)."""

    def __init__(self, shape, dtype):
        self.args = (shape, dtype)

    def __reduce__(self):
        return (np.ndarray, self.args)


def crafted_batch(path: Path, data) -> Path:
    with open(path, "wb") as f:
        pickle.dump({b"data": data, b"labels": [0]}, f, protocol=2)
    return path


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_Construct((10 * 2**40,), "u8"), r"refusing an array of shape \(10995116277760,\) \(8\.8e\+13 bytes\)"),
        (_Construct((2**62, 2**62), "u1"), r"refusing an array of shape"),
        (_Construct((3,), "O"), r"refusing dtype\('O'\): not a plain numeric dtype"),
        (_Construct("abc", "u1"), r"refusing array shape 'abc'"),
    ],
)
def test_cifar_crafted_array_constructions_are_one_line(tmp_path, data, message):
    """A batch building a 90 TiB array was an _ArrayMemoryError traceback; object arrays were admitted."""
    path = crafted_batch(tmp_path / "data_batch_1", data)
    with pytest.raises(DataFileError, match=rf"data_batch_1: not a CIFAR-10 python batch \(UnpicklingError: {message}"):
        cifar.read_batch(path)


def test_cifar_memory_error_is_one_line(tmp_path, monkeypatch):
    path = crafted_batch(tmp_path / "test_batch", np.zeros((1, 3072), dtype=np.uint8))
    assert cifar.read_batch(path)[0].shape == (1, 32, 32, 3)  # a plain batch still reads

    def no_memory(self):
        raise MemoryError

    monkeypatch.setattr(cifar.BatchUnpickler, "load", no_memory)
    with pytest.raises(DataFileError, match=r"test_batch: not a CIFAR-10 python batch \(it needs more memory"):
        cifar.read_batch(path)


def test_cifar_real_layout_pickles_still_read_at_protocols_2_to_4():
    data = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    for protocol in (2, 3, 4):
        raw = pickle.dumps({b"data": data, b"labels": [1, 2]}, protocol=protocol)
        batch = cifar.BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()
        np.testing.assert_array_equal(batch[b"data"], data)


# ------------------------------------------------------------------------------------------------
# Task continuity of tiny values
# ------------------------------------------------------------------------------------------------
def two_channel_set(n=20, length=100, seed=0) -> np.ndarray:
    """(n, L, 2): a smooth channel and a rougher one, neither constant."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, length)
    smooth = [np.sin(2 * np.pi * (k % 5 + 1) * t + rng.uniform(0, 6)) for k in range(n)]
    rough = [np.cos(7 * (k % 3 + 1) * t) + 0.3 * rng.standard_normal(length) for k in range(n)]
    return np.stack([np.stack(smooth), np.stack(rough)], axis=-1)


def scored(x, **kwargs):
    from contlaws.task_continuity.accumulator import TaskContinuityAccumulator

    acc = TaskContinuityAccumulator(**kwargs)
    acc.update(x)
    return acc.result()


@pytest.mark.parametrize("metric", ["refinement", "first_difference"])
@pytest.mark.parametrize("standardize", ["channels", "none"])
def test_tc_of_tiny_values_equals_tc_of_the_unscaled_values(metric, standardize):
    """x·1e-200 scored 'excluded (constant)' with TC nan: the squares underflowed."""
    x = two_channel_set()
    base = scored(x, metric=metric, standardize=standardize)
    assert np.isfinite(base.score) and base.n_excluded == 0
    for factor in (1e-160, 1e-200, 1e-300):  # (values that are themselves subnormal have lost digits already)
        tiny = scored(x * factor, metric=metric, standardize=standardize)
        assert tiny.n_excluded == 0 and tiny.n_constant == 0
        assert tiny.score == pytest.approx(base.score, abs=1e-9)
        assert all(tiny.curve[s] == pytest.approx(base.curve[s], abs=1e-9) for s in base.curve)
    one = scored(x[..., 0], metric=metric)
    assert scored(x[..., 0] * 1e-200, metric=metric).score == pytest.approx(one.score, abs=1e-9)


@pytest.mark.parametrize("factor", [1e-160, 1e-200, 1e-300])
def test_tc_of_one_tiny_channel_under_channel_standardization_is_unchanged(factor):
    """One channel ×1e-160: every sequence excluded; ×1e-200: the channel silently dropped (0.9723 -> 0.9590)."""
    x = two_channel_set()
    base = scored(x)
    y = x.copy()
    y[..., 1] *= factor
    got = scored(y)
    assert got.n_excluded == 0 and got.score == pytest.approx(base.score, abs=1e-9)
    dropped = scored(x[..., :1])  # what losing channel 1 would give: measurably different
    assert abs(dropped.score - base.score) > 1e-3


def test_tc_constant_data_stay_constant_at_any_scale():
    x = two_channel_set()
    constant = x.copy()
    constant[3] = 2e-200  # one sequence of equal values
    got = scored(constant)
    assert got.n_constant == 1 and got.n_excluded == 1 and got.n_sequences == 19
    flat = x.copy()
    flat[..., 1] = 3.0  # a channel constant everywhere: weight 0, the other channel alone decides
    for factor in (1.0, 1e-200):
        result = scored(flat * factor)
        assert result.n_constant == 0 and result.score == pytest.approx(scored(x[..., :1]).score, abs=1e-9)


def test_tc_tiny_sequences_among_ordinary_ones_weigh_as_unscaled():
    """Per-channel scales are brought to one scale before the channel weights pool sequences."""
    x = two_channel_set()
    mixed = x.copy()
    mixed[:10] *= 1e-200  # half the sequences tiny: negligible in the pooled channel variance, as unscaled
    reference = x.copy()
    reference[:10] *= 1e-20  # the same situation at a scale where nothing underflows
    got = scored(mixed)
    assert got.n_excluded == 0 and got.score == pytest.approx(scored(reference).score, abs=1e-9)
    assert abs(got.score - scored(x[10:]).score) > 1e-3  # the tiny sequences count with their own TC


# ------------------------------------------------------------------------------------------------
# Model continuity: refined sets that are not the same trajectories; the batch size
# ------------------------------------------------------------------------------------------------
class _Split:
    """A stand-in dataset: what check_refined_sets reads (length, meta, path)."""

    def __init__(self, meta, path):
        self.meta, self.path = meta, path

    def __len__(self):
        return int(self.meta["n"])


def test_e3_sets_of_two_etas_are_not_refined_sets():
    """Two E3 η sets given as τ = 1 and τ = 0.5 gave d = 1.489 with exit status 0."""
    from contlaws.data.forecasting import make_forecasting_split
    from contlaws.model_continuity import check_refined_sets

    cfg = load_config(REPO / "config" / "quick.yaml", overrides={"forecasting": {"n_test": 4, "length": 16}})
    sets = {eta: _Split(make_forecasting_split(cfg, "vdp", eta, "test")[1], f"vdp_eta{eta}_test.npz") for eta in (1.0, 0.5)}
    with pytest.raises(DataFileError) as err:
        check_refined_sets({1.0: sets[1.0], 0.5: sets[0.5]})
    assert "refined sets differ in eta (tau=1.0: vdp_eta1.0_test.npz -> 1.0, tau=0.5: vdp_eta0.5_test.npz -> 0.5)" in str(err.value)
    assert check_refined_sets({1.0: sets[1.0], 0.5: _Split(dict(sets[1.0].meta), "copy.npz")}) == 4
    other = dict(sets[1.0].meta, system_settings={"changed": True})
    with pytest.raises(DataFileError, match="refined sets differ in system_settings"):
        check_refined_sets({1.0: sets[1.0], 0.5: _Split(other, "other.npz")})
    lacking = {k: v for k, v in sets[1.0].meta.items() if k != "eta"}
    with pytest.raises(DataFileError, match=r"differ in eta .*-> \(absent\)"):
        check_refined_sets({1.0: sets[1.0], 0.5: _Split(lacking, "lacking.npz")})


def test_model_continuity_batch_size_help_and_record(tmp_path, capsys, caplog):
    """--batch-size changed S4D's d and order while the help said only "rows per call"."""
    from test_model_continuity import make_tiny_refinement_run

    from contlaws.commands import main
    from contlaws.io import read_json

    with pytest.raises(SystemExit):
        main(["model-continuity", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "S4D models with the authors' channel norm (E2) average that norm over the rows and time steps of a batch" in help_text
    assert "keep the default to reproduce the pipeline's numbers" in help_text
    runs = {name: make_tiny_refinement_run(tmp_path / name, model=name) for name in ("s4d", "s6")}
    records = {}
    for name, run in runs.items():
        data = [f"{t}={p}" for t, p in run["tests"].items()]
        for batch in (None, 1):
            out = tmp_path / f"{name}_{batch}.json"
            argv = ["model-continuity", "--checkpoint", str(run["checkpoint"]), "--data", *data, "--out-json", str(out)]
            assert main(argv + ([] if batch is None else ["--batch-size", str(batch)])) == 0
            records[name, batch] = read_json(out)
    assert records["s4d", None]["batch_dependent"] and not records["s6", None]["batch_dependent"]
    assert records["s4d", None]["batch_size"] >= 6 and records["s4d", 1]["batch_size"] == 1  # default: all 6 rows in one call
    d = {key: np.array([row["d"] for row in rec["d"]]) for key, rec in records.items()}
    np.testing.assert_allclose(d["s6", 1], d["s6", None], rtol=1e-4, atol=1e-9)  # S6: rounding only
    assert np.max(np.abs(d["s4d", 1] - d["s4d", None])) > 1e-3  # S4D depends on the batch: what the help says
    warned = [r.getMessage() for r in caplog.records if "depend on the batch" in r.getMessage()]
    assert len(warned) == 1 and "s4d_run/best.pt" in warned[0] and "--batch-size 1" in warned[0]


@pytest.mark.parametrize("name,declared", [
    ("Covid3Month_disc", "Covid3MonthDiscrete_TRAIN.ts"),  # the pinned wheel's own headers
    ("JapaneseVowels_eq", "JapaneseVowels_TRAIN_eq.ts"),
    ("PickupGestureWiimoteZ_eq", "PickupGestureWiimoteZEq"),
    ("GunPoint", "GunPoint"),
])
def test_ucr_problem_name_variants_of_the_archive_are_the_same_set(name, declared):
    ts = ucr.TSFile(x=np.zeros((1, 2, 1)), y=np.zeros(1, dtype=np.int64), classes=["a"], header={"problemname": declared})
    ucr._check_problem_name(ts, Path(f"{name}_TRAIN.ts"), name)  # accepted
    other = ucr.TSFile(x=ts.x, y=ts.y, classes=ts.classes, header={"problemname": "ArrowHead"})
    with pytest.raises(DataFileError, match=f"@problemName is ArrowHead, but the task reads the set {name}"):
        ucr._check_problem_name(other, Path(f"{name}_TRAIN.ts"), name)
