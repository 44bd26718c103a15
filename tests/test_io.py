"""Atomic writes, reproducible .npz bytes, corrupt-file detection, provenance."""

from __future__ import annotations

import numpy as np
import pytest

from contlaws import io


def test_npz_roundtrip_and_identical_bytes(tmp_path):
    arrays = {"x": np.arange(12, dtype=np.float32).reshape(3, 4), "y": np.array([1, 2, 3], dtype=np.int64)}
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    io.save_npz(a, arrays, {"kind": "test", "seed": 1})
    io.save_npz(b, arrays, {"kind": "test", "seed": 1})
    assert a.read_bytes() == b.read_bytes()
    got, meta = io.load_npz(a)
    np.testing.assert_array_equal(got["x"], arrays["x"])
    assert meta["kind"] == "test" and meta["checksum"] == io.arrays_checksum(arrays)
    # np.load reads it like any npz
    with np.load(a) as z:
        assert set(z.files) == {"x", "y", io.META_KEY}


def test_truncated_and_corrupted_files_name_the_file(tmp_path):
    path = tmp_path / "d.npz"
    io.save_npz(path, {"x": np.random.default_rng(0).normal(size=(50, 20))}, {})
    data = path.read_bytes()
    trunc = tmp_path / "trunc.npz"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(io.DataFileError, match="trunc.npz"):
        io.load_npz(trunc)
    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0xFF  # inside the array payload
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(io.DataFileError, match="bad.npz"):
        io.load_npz(bad)
    with pytest.raises(io.DataFileError, match="missing.npz"):
        io.load_npz(tmp_path / "missing.npz")


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_provenance_has_no_timestamps_and_records_versions():
    rec = io.provenance({"a": 1}, seed=3)
    assert rec["seed"] == 3 and rec["config"] == {"a": 1}
    assert rec["packages"]["numpy"] == np.__version__
    assert "git_commit" in rec
    assert rec == io.provenance({"a": 1}, seed=3)


def test_as_flags_reads_bools_and_csv_text():
    import pandas as pd

    from contlaws.io import as_flags

    assert as_flags(pd.Series([True, False])).tolist() == [True, False]
    assert as_flags(pd.Series(["True", "False", " true ", "nan"])).tolist() == [True, False, True, False]
    assert as_flags(pd.Series([], dtype=object)).dtype == bool


# ---------------------------------------------------------------------------------------------
# Outputs that cannot be written, and outputs that would replace an input
# ---------------------------------------------------------------------------------------------
def leftovers(folder) -> list[str]:
    """Temporary files an interrupted atomic write would leave (``.<name>.<random>.tmp<suffix>``)."""
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def chmod_blocks_writes(folder) -> bool:
    """Whether a mode-0555 folder refuses new files here (it does not for root)."""
    probe = folder / "probe"
    try:
        probe.write_text("x")
    except PermissionError:
        return True
    probe.unlink()
    return False


def test_read_only_output_folder_is_a_one_line_error_naming_the_output(tmp_path, monkeypatch):
    import errno
    import os
    import tempfile

    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if not chmod_blocks_writes(folder):  # root: the mode does not stop writes, so the OS refusal is simulated
            def refuse(*args, **kwargs):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(folder))

            monkeypatch.setattr(tempfile, "mkstemp", refuse)
        with pytest.raises(io.OutputFileError, match=r"ro/out\.json: cannot write the output file: Permission denied"):
            io.write_json(folder / "out.json", {"a": 1})
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_output_under_a_regular_file_names_the_file_in_the_way(tmp_path):
    (tmp_path / "results").write_text("a file where a folder should be")
    with pytest.raises(io.OutputFileError, match=r"run/out\.json: .*parent of it is a file, not a folder \(.*results\)"):
        io.write_json(tmp_path / "results" / "run" / "out.json", {"a": 1})
    assert (tmp_path / "results").read_text() == "a file where a folder should be"


def test_full_disk_removes_the_partial_file_and_keeps_the_old_output(tmp_path, monkeypatch):
    import errno
    import os
    import pathlib

    import pandas as pd

    target = tmp_path / "out.json"
    target.write_text("old")
    real_write = pathlib.Path.write_bytes

    def full_disk(self, data):  # half the bytes reach the disk, then it is full
        real_write(self, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pathlib.Path, "write_bytes", full_disk)
    with pytest.raises(io.OutputFileError, match=r"out\.json: cannot write the output file: No space left on device; free some space"):
        io.write_json(target, {"a": 1})
    assert target.read_text() == "old" and leftovers(tmp_path) == []
    # a table and its provenance: neither is replaced when either cannot be written
    with pytest.raises(io.OutputFileError, match=r"table\.csv"):
        io.write_table(tmp_path / "table.csv", pd.DataFrame({"a": [1.0]}), meta={"seed": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_refuse_output_over_input_catches_same_path_links_and_relative_spellings(tmp_path, monkeypatch):
    import os

    monkeypatch.chdir(tmp_path)
    data = tmp_path / "x.npy"
    data.write_bytes(b"input")
    os.link(data, tmp_path / "hard.npy")
    (tmp_path / "soft.json").symlink_to(data)
    (tmp_path / "sub").mkdir()
    for output in (data, "x.npy", "sub/../x.npy", tmp_path / "hard.npy", tmp_path / "soft.json"):
        with pytest.raises(io.OutputFileError, match=r"--out-json is the input .*x\.npy; writing it would destroy the input"):
            io.refuse_output_over_input(output, [None, data], "--out-json")
    io.refuse_output_over_input(tmp_path / "new.json", [data], "--out-json")  # a different file is fine
    io.refuse_output_over_input(None, [data], "--out-json")  # no output given
    assert data.read_bytes() == b"input"
