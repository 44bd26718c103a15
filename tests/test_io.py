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
