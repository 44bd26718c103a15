"""Bad config files and damaged settings snapshots: each refused with one line naming the file or key.

Cases from a robustness run: NaN in a YAML overlay passed the schema (NaN passes every `minimum`), a
config file that is a folder or not UTF-8 gave a traceback, a YAML alias bomb hung the loader's error
message, and an edited settings snapshot was used by the next job and then silently "repaired".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from conftest import REPO

from contlaws.commands import main
from contlaws.config import load_config, read_config_file
from contlaws.errors import ConfigError
from contlaws.snapshot import is_snapshot, write_snapshot

QUICK = REPO / "config" / "quick.yaml"


def run_cli(*args: str) -> tuple[int, str]:
    """(exit status, stderr) of `contlaws ARGS` in a fresh interpreter (the installed entry point's path)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", "contlaws", *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)  # fmt: skip
    return proc.returncode, proc.stderr


# ---------------------------------------------------------------------------------------------
# NaN and infinity in a YAML overlay
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("overlay, key", [
    ("gates: {e2_rmse_ratio: .nan}", "gates.e2_rmse_ratio"),
    ("gates: {e3_se: .nan}", "gates.e3_se"),
    ("train: {lr: .nan}", "train.lr"),
    ("train: {lr: .inf}", "train.lr"),
    ("regression: {taus: [1, .nan]}", "regression.taus[1]"),
    ("forecasting: {etas: [0, -.inf]}", "forecasting.etas[1]"),
    ("model: {dropout: .nan}", "model.dropout"),
])  # fmt: skip
def test_nan_or_inf_in_a_yaml_overlay_is_refused_naming_the_key(tmp_path, overlay, key):
    """NaN passed `minimum`/`exclusiveMinimum` (a gate of NaN marked every model "not learned" silently,
    lr NaN crashed in torch); every number-typed key now needs a finite value."""
    path = tmp_path / "overlay.yaml"
    path.write_text(overlay + "\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"key '{key}' = " in str(err.value) and "must be a finite number" in str(err.value)
    assert str(path) in str(err.value)


def test_finite_values_of_the_same_keys_are_accepted(tmp_path):
    path = tmp_path / "overlay.yaml"
    path.write_text("gates: {e2_rmse_ratio: 0.4, e3_se: 0}\ntrain: {lr: 3e-3}\n")
    cfg = load_config(path)
    assert cfg["gates"]["e2_rmse_ratio"] == 0.4 and cfg["gates"]["e3_se"] == 0 and cfg["train"]["lr"] == 0.003


def test_nan_in_the_quick_config_route_of_the_cli_exits_2_naming_the_key(tmp_path):
    path = tmp_path / "overlay.yaml"
    path.write_text(QUICK.read_text() + "gates: {e3_se: .nan}\n")
    rc, err = run_cli("config", "--config", str(path))
    assert rc == 2 and "key 'gates.e3_se' = NaN: must be a finite number" in err and "Traceback" not in err


# ---------------------------------------------------------------------------------------------
# A config file that is a folder or not text
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["folder", "not utf-8"])
@pytest.mark.parametrize("command", [
    ["config", "--config", "{path}"],
    ["task-continuity", "{path}", "--config", "{path}"],
    ["data", "generate", "regression", "--config", "{path}", "--system", "vdp", "--tau", "1", "--split", "test",
     "--out", "{out}"],
])  # fmt: skip
def test_a_config_file_that_is_a_folder_or_not_utf8_is_one_line(tmp_path, kind, command):
    path = tmp_path / "cfg.yaml"
    if kind == "folder":
        path.mkdir()
        want = f"error: config file {path} is a folder, not a file"
    else:
        path.write_bytes(b"seed: 1\nrun_name: \xff\xfe\x00bad\n")
        want = f"error: config file {path} is not UTF-8 text"
    args = [a.format(path=path, out=tmp_path / "out.npz") for a in command]
    rc, err = run_cli(*args)
    assert rc == 2, err
    assert err.strip().startswith(want) and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out.npz").exists()


# ---------------------------------------------------------------------------------------------
# A YAML alias bomb
# ---------------------------------------------------------------------------------------------
def alias_bomb(levels: int) -> str:
    """A "billion laughs" document: each level lists the previous one 9 times (9^levels strings) under
    keys the schema does not know; a few hundred bytes."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [7, 8])
def test_a_yaml_alias_bomb_is_refused_quickly_with_a_short_message(tmp_path, levels):
    """At 7 levels the unknown-key message held every expanded value (36 s, 580 MB); at 8 it never ended."""
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(levels))
    assert path.stat().st_size < 600
    start = time.monotonic()
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert time.monotonic() - start < 2.0
    message = str(err.value)
    assert len(message) < 400 and str(path) in message and "expands to more than" in message


def test_the_bomb_through_the_cli_is_one_line(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(8))
    start = time.monotonic()
    rc, err = run_cli("config", "--config", str(path))
    assert rc == 2 and len(err) < 400 and "expands to more than" in err, err
    assert time.monotonic() - start < 30  # an interpreter start and the import included


def test_a_large_unknown_value_is_echoed_shortened(tmp_path):
    """Below the expansion limit an unknown key's value is still echoed, cut at 200 characters."""
    path = tmp_path / "typo.yaml"
    path.write_text("trian: " + json.dumps({f"k{i}": list(range(50)) for i in range(100)}) + "\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "unknown key 'trian' = {\"k0\": [0, 1" in message and "…" in message and len(message) < 1500


# ---------------------------------------------------------------------------------------------
# Cross-key message
# ---------------------------------------------------------------------------------------------
def test_systems_not_listed_at_the_top_show_both_lists(tmp_path):
    path = tmp_path / "overlay.yaml"
    path.write_text("systems: [vdp, dho]\nrefinement_trained: {systems: [vdp, ou]}\neta_performance: {systems: [dho]}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert ("key 'refinement_trained.systems' = [\"vdp\", \"ou\"]: \"ou\" not listed in top-level "
            "'systems' = [\"vdp\", \"dho\"]") in str(err.value)  # fmt: skip
    assert "eta_performance" not in str(err.value)


# ---------------------------------------------------------------------------------------------
# Settings snapshots: content must match the name
# ---------------------------------------------------------------------------------------------
@pytest.fixture()
def snapshot(tmp_path):
    cfg = load_config(QUICK)
    path = write_snapshot(cfg, tmp_path / "results")
    assert is_snapshot(path) and path.parent == tmp_path / "results" / "configs"
    return cfg, path


def job_command(path, tmp_path) -> list[str]:
    """A pipeline job's command reading the snapshot (as the rules run them)."""
    return ["config", "--config", str(path), "--out-resolved", str(tmp_path / "resolved.json")]


def test_an_unchanged_snapshot_is_accepted_and_not_rewritten(tmp_path, snapshot):
    cfg, path = snapshot
    before = path.stat().st_mtime_ns
    assert load_config(path) == cfg
    assert write_snapshot(cfg, tmp_path / "results") == path and path.stat().st_mtime_ns == before
    assert main(job_command(path, tmp_path)) == 0
    assert json.loads((tmp_path / "resolved.json").read_text()) == json.loads(path.read_text())


def test_an_edited_snapshot_is_refused_by_a_job_naming_the_file(tmp_path, snapshot):
    """The queued training used to run with an epochs value edited into the snapshot, exit 0."""
    _, path = snapshot
    edited = json.loads(path.read_text())
    edited["refinement_trained"]["epochs"] = 3
    path.write_text(json.dumps(edited, indent=2, sort_keys=True) + "\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"config snapshot {path} does not match its name" in str(err.value) and "delete the file" in str(err.value)
    rc, stderr = run_cli(*job_command(path, tmp_path))
    assert rc == 2 and f"config snapshot {path} does not match its name" in stderr
    assert len(stderr.strip().splitlines()) == 1 and not (tmp_path / "resolved.json").exists()


def test_a_truncated_snapshot_is_refused(tmp_path, snapshot):
    _, path = snapshot
    path.write_bytes(path.read_bytes()[:200])
    assert main(job_command(path, tmp_path)) == 2
    assert not (tmp_path / "resolved.json").exists()
    with pytest.raises(ConfigError, match="does not match its name"):
        read_config_file(path)


def test_write_snapshot_refuses_a_damaged_file_and_leaves_it_untouched(tmp_path, snapshot):
    """write_snapshot used to put the original content back silently at the next DAG build, hiding
    that jobs had run with the edited settings. It now stops with the same message."""
    cfg, path = snapshot
    for damaged in (path.read_bytes().replace(b'"epochs": 16', b'"epochs": 3'), path.read_bytes()[:100], b""):
        assert damaged != path.read_bytes() or damaged == b""
        path.write_bytes(damaged)
        with pytest.raises(ConfigError, match=f"config snapshot {path} does not match its name"):
            write_snapshot(cfg, tmp_path / "results")
        assert path.read_bytes() == damaged
    path.unlink()  # what the message tells the user to do
    assert write_snapshot(cfg, tmp_path / "results") == path and load_config(path) == cfg


def test_a_file_not_named_like_a_snapshot_is_an_ordinary_config(tmp_path, snapshot):
    """A copy under another name (or outside a configs/ folder) is a user's config, read as written."""
    _, path = snapshot
    for copy in (tmp_path / "mine.json", tmp_path / path.name):
        copy.write_text(path.read_text().replace('"epochs": 16', '"epochs": 3', 1))
        assert not is_snapshot(copy)
        assert load_config(copy)["refinement_trained"]["epochs"] == 3


def test_the_dag_build_refuses_an_edited_snapshot(tmp_path):
    """`snakemake -n` used to restore the edited file and report "Nothing to be done"."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "tiny.yaml").write_text("run_name: tiny\nsystems: [vdp]\nrefinement_trained: {systems: [vdp]}\n"
                                    "eta_performance: {systems: [vdp]}\n")  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
           "--configfile", "tiny.yaml", "--cores", "1", "-n", "data/tiny/regression/vdp_tau1_test.npz"]  # fmt: skip
    first = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert first.returncode == 0, first.stderr
    (path,) = (work / "results" / "tiny" / "configs").glob("*.json")
    edited = path.read_text().replace('"seed": ', '"seed": 1', 1)
    path.write_text(edited)
    second = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert second.returncode != 0
    assert f"config snapshot results/tiny/configs/{path.name} does not match its name" in second.stderr + second.stdout
    assert path.read_text() == edited


# ---------------------------------------------------------------------------------------------
# Two mistakes Snakemake's argument parser turns into tracebacks, before the workflow is read
# ---------------------------------------------------------------------------------------------
def test_snakemake_parser_tracebacks_are_documented_and_the_right_forms_work(tmp_path):
    """`--config train.lr=1e6` and `--resources gpu=2 fig4` fail inside Snakemake's argument parser:
    the Snakefile never runs (its "contlaws run" line is absent), so no project code can catch them.
    The README warns about both; the forms it gives instead dry-run."""
    readme = " ".join((REPO / "README.md").read_text().split())
    assert "Two mistakes end in a Python traceback from Snakemake's own argument parser" in readme
    assert "(`--resources gpu=2 fig4`: \"dictionary update sequence element #1 has length 1\")" in readme
    assert "(`--config train.lr=1e-3`: \"Invalid config definition\")" in readme
    assert "(`fig4 --resources gpu=2`) and a nested key as a mapping (`--config 'train={lr: 1e-3}'`)" in readme

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
    base = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
            "-n", "--cores", "1"]  # fmt: skip

    def snakemake(*args):
        proc = subprocess.run([*base, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
        return proc.returncode, proc.stdout + proc.stderr

    for wrong, message in ((["--config", "train.lr=1e6"], "Invalid config definition"),
                           (["--resources", "gpu=2", "fig4"], "dictionary update sequence element #1 has length 1")):  # fmt: skip
        rc, out = snakemake(*wrong)
        assert rc != 0 and message in out and "contlaws run" not in out, out[-2000:]
    rc, out = snakemake("fig4", "--resources", "gpu=2", "--configfile", str(QUICK), "--config", "train={lr: 1e-3}")
    assert rc == 0 and "contlaws run 'quick'" in out, out[-2000:]
    (snapshot,) = (tmp_path / "results" / "quick" / "configs").glob("*.json")
    assert json.loads(snapshot.read_text())["train"]["lr"] == 0.001  # the override reached the jobs' settings
