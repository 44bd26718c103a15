"""UCR .ts reader and wheel extraction (local fixtures only, never the network); C3 negative controls."""

from __future__ import annotations

import copy
import hashlib
import zipfile

import numpy as np
import pandas as pd
import pytest

from contlaws.claims import evaluate_claim
from contlaws.data.benchmarks import tasks, ucr
from contlaws.errors import DataFileError
from contlaws.task_continuity import task_continuity

HEADER = "# comment line\n@problemName Toy\n@timeStamps false\n@missing false\n@univariate {uni}\n{dims}@equalLength true\n@seriesLength {length}\n@classLabel true a b\n@data\n"


def ts_text(rows, length=4, channels=1):
    dims = "" if channels == 1 else f"@dimensions {channels}\n"
    head = HEADER.format(uni="true" if channels == 1 else "false", dims=dims, length=length)
    return head + "".join(r + "\n" for r in rows)


def test_reads_univariate_and_multivariate(tmp_path):
    p = tmp_path / "u.ts"
    p.write_text(ts_text(["1,2,3,4:a", "0.5,-1e-3,2,7:b"]))
    got = ucr.read_ts(p)
    assert got.x.shape == (2, 4, 1) and got.y.tolist() == [0, 1] and got.classes == ["a", "b"]
    np.testing.assert_array_equal(got.x[1, :, 0], [0.5, -1e-3, 2, 7])
    p.write_text(ts_text(["1,2,3:4,5,6:b"], length=3, channels=2))
    got = ucr.read_ts(p)
    assert got.x.shape == (1, 3, 2) and got.x[0, :, 1].tolist() == [4, 5, 6]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["1,2,3:a"], ":10: channel 0 has 3 values, @seriesLength is 4"),
        (["1,2,3,4:c"], ":10: class label 'c' is not one of"),
        (["1,2,?,4:a"], ":10: channel 0: '?' is not a number"),
        (["1,2,nan,4:a"], ":10: channel 0 holds a NaN"),
        (["1,2,3,4:5,6,7,8:a"], ":10: 2 channel(s), the header says 1"),
        ([], "no series after @data"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, rows, message):
    p = tmp_path / "bad.ts"
    p.write_text(ts_text(rows))
    with pytest.raises(DataFileError) as err:
        ucr.read_ts(p)
    assert str(p) in str(err.value) and message in str(err.value)


def test_bad_headers(tmp_path):
    p = tmp_path / "h.ts"
    p.write_text("@problemName X\n@timeStamps true\n@univariate true\n@classLabel true a b\n@data\n1,2:a\n")
    with pytest.raises(DataFileError, match="timeStamps true is not supported"):
        ucr.read_ts(p)
    p.write_text("@problemName X\n@timeStamps false\n@univariate true\n@classLabel false\n@data\n1,2:a\n")
    with pytest.raises(DataFileError, match="@classLabel true"):
        ucr.read_ts(p)
    p.write_text("1,2,3:a\n")
    with pytest.raises(DataFileError, match=r"h\.ts:1: expected a header line"):
        ucr.read_ts(p)
    # no declared length (as ArrowHead): the first series sets it and the others must match
    p.write_text("@timeStamps false\n@univariate true\n@classLabel true a b\n@data\n1,2,3:a\n1,2:b\n")
    with pytest.raises(DataFileError, match=r"h\.ts:6: channel 0 has 2 values, the first series has 3"):
        ucr.read_ts(p)


def fixture_wheel(tmp_path, name="GunPoint", n_train=10, n_test=6, length=16):
    """A zip laid out like the aeon wheel, with one small set (random smooth series, 2 classes)."""
    rng = np.random.default_rng(0)

    def series(n):
        t = np.linspace(0, 1, length)
        rows = []
        for i in range(n):
            label = "a" if i % 2 == 0 else "b"
            values = np.sin(2 * np.pi * (1 + (label == "b")) * t + rng.uniform())
            rows.append(",".join(f"{v:.6f}" for v in values) + f":{label}")
        return ts_text(rows, length=length).replace("@problemName Toy", f"@problemName {name}")  # the set's own name

    wheel = tmp_path / "aeon-0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(f"{ucr.MEMBER_ROOT}/{name}/{name}_TRAIN.ts", series(n_train))
        z.writestr(f"{ucr.MEMBER_ROOT}/{name}/{name}_TEST.ts", series(n_test))
        z.writestr("aeon/__init__.py", "raise SystemExit('never imported')\n")
    return wheel, hashlib.sha256(wheel.read_bytes()).hexdigest()


def test_extract_checks_hash_and_members(tmp_path):
    wheel, sha = fixture_wheel(tmp_path)
    with pytest.raises(DataFileError, match="does not match the pinned"):
        ucr.extract_sets(wheel, tmp_path / "out", ["GunPoint"])  # the real pin is not the fixture's hash
    written = ucr.extract_sets(wheel, tmp_path / "out", ["GunPoint"], sha256=sha)
    assert sorted(p.name for p in written) == ["GunPoint_TEST.ts", "GunPoint_TRAIN.ts"]
    with pytest.raises(DataFileError, match="has no member"):
        ucr.extract_sets(wheel, tmp_path / "out", ["OSULeaf"], sha256=sha)


def test_prepared_ucr_splits(tmp_path, quick_config, monkeypatch):
    wheel, sha = fixture_wheel(tmp_path)
    raw = tmp_path / "ucr"
    ucr.extract_sets(wheel, raw, ["GunPoint"], sha256=sha)
    monkeypatch.setitem(ucr.SETS, "GunPoint", ucr.UCRSet("GunPoint", 1, 16, 2, 10, 6))
    parts = {split: tasks.prepare("gunpoint", quick_config, split, raw_dir=raw / "GunPoint") for split in tasks.SPLITS}
    sizes = {split: len(a["y"]) for split, (a, _) in parts.items()}
    assert sizes == {"train": 10, "val": 3, "test": 3}  # train = TRAIN, val/test = halves of TEST
    x_train = parts["train"][0]["x"]
    assert x_train.shape == (10, 16, 1) and x_train.dtype == np.float32
    assert abs(float(x_train.mean())) < 1e-5 and float(x_train.std()) == pytest.approx(1.0, rel=1e-4)
    assert parts["test"][1]["ucr_wheel_sha256"] == ucr.AEON_SHA256 and parts["test"][1]["benchmark"] == "gunpoint"


# ---------------------------------------------------------------------------------------------
# C3: negative controls built from measured TC
# ---------------------------------------------------------------------------------------------
def eta_family_table(make_obs, etas=(0.0, 0.25, 0.5, 0.75, 1.0)):
    """TC table rows of the E3-like family obs(eta) for two 'systems', scored with task_continuity."""
    rows = []
    for system, cycles in (("vdp", 2), ("dho", 3)):
        for eta in etas:
            res = task_continuity(make_obs(eta, cycles))
            rows.append({"family": "forecasting", "dataset": f"{system}_eta{eta:g}", "system": system, "eta": eta,
                         "tc": res.score, "tc_stderr": res.stderr})  # fmt: skip
    return pd.DataFrame(rows)


def smooth(cycles, n=40, length=48, seed=0):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, length)
    return np.sin(2 * np.pi * cycles * t[None, :] + rng.uniform(0, 6.3, (n, 1)))  # (n L)


def symbols(cont, levels=4):
    """Piecewise-constant quantization of cont (the E3 'disc' part)."""
    return np.round((cont + 1) / 2 * (levels - 1)) / (levels - 1) * 2 - 1


def c3(tmp_path, table, cfg):
    path = tmp_path / "tc.csv"
    table.to_csv(path, index=False)
    return evaluate_claim("C3", {"task_continuity": path}, cfg)


def test_c3_positive_and_negative_controls(tmp_path, quick_config):
    def mixed(eta, cycles):  # eta adds a symbol stream: the real E3 construction
        cont = smooth(cycles)
        return (1 - eta) * cont + eta * symbols(cont)

    rec = c3(tmp_path, eta_family_table(mixed), quick_config)
    assert rec["verdict"] == "supported", rec["explanation"]

    def no_discontinuity(eta, cycles):  # "disc" is a rescaled copy of cont: eta changes nothing but scale
        cont = smooth(cycles)
        return (1 - eta) * cont + eta * (2.0 * cont + 0.3)

    rec = c3(tmp_path, eta_family_table(no_discontinuity), quick_config)
    assert rec["verdict"] == "not supported" and rec["numbers"]["part_a_ordering"] == "not supported"

    shuffled = eta_family_table(mixed)
    rng = np.random.default_rng(1)
    for system in ("vdp", "dho"):
        idx = shuffled.index[shuffled["system"] == system]
        shuffled.loc[idx, "tc"] = rng.permutation(shuffled.loc[idx, "tc"].to_numpy())
        while np.all(np.diff(shuffled.loc[idx, "tc"].to_numpy()) < 0):  # a permutation that is still ordered
            shuffled.loc[idx, "tc"] = rng.permutation(shuffled.loc[idx, "tc"].to_numpy())
    assert c3(tmp_path, shuffled, quick_config)["numbers"]["part_a_ordering"] == "not supported"


@pytest.mark.parametrize("stderr, c3_se", [(0.0, 2.0), (0.001, 0.0)])
def test_c3_a_tie_between_neighbouring_etas_is_not_a_decrease(tmp_path, quick_config, stderr, c3_se):
    # TC equal at eta = 0 and 0.5: the ordering must come out "not supported" (strict decrease), while
    # the separation TC(0) - TC(1) stays large so part (b) alone would support the claim.
    cfg = copy.deepcopy(quick_config)
    cfg["claims"]["c3_se"] = c3_se

    def table(tc_by_eta):
        return pd.DataFrame([{"family": "forecasting", "dataset": f"{system}_eta{eta:g}", "system": system,
                              "eta": eta, "tc": tc, "tc_stderr": stderr}
                             for system in ("vdp", "dho") for eta, tc in tc_by_eta.items()])  # fmt: skip

    decreasing = c3(tmp_path, table({0.0: 0.99, 0.5: 0.9, 1.0: 0.5}), cfg)
    assert decreasing["verdict"] == "supported", decreasing["explanation"]
    tie = c3(tmp_path, table({0.0: 0.99, 0.5: 0.99, 1.0: 0.5}), cfg)
    assert tie["numbers"]["part_b_separation"] == "supported"
    assert tie["numbers"]["part_a_ordering"] == "not supported" and tie["verdict"] == "not supported"
    assert tie["numbers"]["all_strictly_decreasing"] is False and tie["numbers"]["smallest_drop"] == 0
