"""Config overlays, command-line overrides and contradictions (robustness findings, issue 11 §1-3).

Every config is an overlay of the paper config, for Snakemake (`--configfile`, `--config`) and the
`contlaws` CLI (`--config FILE`) alike; numbers written as 3e-3 are numbers on both routes; a typo
fails naming the key; contradictions (heads not dividing d_model, datasets too large for memory)
stop the DAG build with a message naming the key.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO

from contlaws.config import (
    PAPER_CONFIG,
    config_diff,
    deep_merge,
    load_config,
    read_config_file,
    read_yaml,
    validate_config,
)
from contlaws.errors import ConfigError

SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
TINY = "run_name: tiny\nsystems: [vdp]\nrefinement_trained: {systems: [vdp]}\neta_performance: {systems: [vdp]}\n"
TARGET = "data/tiny/regression/vdp_tau1_test.npz"


def _snakemake_dry_run(work, *args):
    """`snakemake <TARGET> -n` in ``work``; returns (process, the resolved config its jobs would read)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(
        [*SNAKEMAKE, "--directory", str(work), TARGET, *args, "--cores", "1", "-n"],
        cwd=work, env=env, capture_output=True, text=True, timeout=180, check=False,
    )
    snapshots = sorted((work / "results").glob("*/configs/*.json"), key=lambda p: p.stat().st_mtime)
    return proc, (json.loads(snapshots[-1].read_text()) if snapshots else None)


def _contlaws(*args):
    return subprocess.run([sys.executable, "-m", "contlaws", *args], capture_output=True, text=True, timeout=120, check=False)


# ---------------------------------------------------------------------------------------------
# Numbers: `lr: 3e-3` in a file, `--config 'train={lr: 1e-3}'` on the command line
# ---------------------------------------------------------------------------------------------
def test_yaml_reads_exponent_numbers_as_floats():
    """YAML 1.1 reads 3e-3 / 1e6 as strings ("'1e6' is not of type 'number'"); ours reads floats."""
    loaded = read_yaml("a: 3e-3\nb: 1e6\nc: 1.0e-3\nd: -2E+3\ne: 10\nf: 1e\ng: '1e-3'\n")
    assert loaded == {"a": 0.003, "b": 1e6, "c": 0.001, "d": -2000.0, "e": 10, "f": "1e", "g": "1e-3"}
    assert isinstance(loaded["a"], float) and isinstance(loaded["e"], int)


def test_overlay_file_with_exponent_lr_loads(tmp_path):
    path = tmp_path / "lr.yaml"
    path.write_text("train: {lr: 3e-3}\n")
    assert load_config(path)["train"]["lr"] == 0.003


def test_number_like_strings_are_numbers_only_where_the_schema_expects_one():
    """Snakemake hands `--config` values over as strings (YAML BaseLoader)."""
    cfg = deep_merge(read_config_file(PAPER_CONFIG), {
        "train": {"lr": "1e-3", "epochs": "3", "device": "cpu"},
        "regression": {"taus": ["2", "1", "0.5"], "length": 1e3},
        "model": {"prenorm": "true"},
        "run_name": "123",
    })
    out = validate_config(cfg)
    assert out["train"]["lr"] == 0.001 and out["train"]["epochs"] == 3 and out["train"]["device"] == "cpu"
    assert out["regression"]["taus"] == [2, 1, 0.5] and out["regression"]["length"] == 1000
    assert isinstance(out["regression"]["length"], int)
    assert out["model"]["prenorm"] is True
    assert out["run_name"] == "123"  # a string where the schema wants one
    assert validate_config({**cfg, "run_name": 2024})["run_name"] == "2024"  # Snakemake: `--config run_name=2024`
    with pytest.raises(ConfigError, match=r"model\.d_model"):
        validate_config(deep_merge(cfg, {"model": {"d_model": "wide"}}))
    with pytest.raises(ConfigError, match=r"train\.epochs"):
        validate_config(deep_merge(cfg, {"train": {"epochs": "2.5"}}))


def test_snakemake_nested_config_override_is_numeric_and_deep_merged(tmp_path):
    """`--config 'train={lr: 1e6}'` was refused ("'1e6' is not of type 'number'"). Snakemake merges
    the nested mapping key by key into the config files (deep), so train.epochs keeps its value."""
    (tmp_path / "tiny.yaml").write_text(TINY + "train: {epochs: 3, lr: 3e-3}\n")
    proc, cfg = _snakemake_dry_run(tmp_path, "--configfile", "tiny.yaml", "--config", "train={lr: 1e6}")
    assert proc.returncode == 0, proc.stderr
    assert cfg["train"]["lr"] == 1e6 and isinstance(cfg["train"]["lr"], float)
    assert cfg["train"]["epochs"] == 3  # from tiny.yaml: the override merged into train, not replaced it
    assert cfg["train"]["batch_size"] == 128  # from the paper config
    # the CLI reads the same file the same way
    assert load_config(tmp_path / "tiny.yaml", overrides={"train": {"lr": 1e6}}) == cfg


# ---------------------------------------------------------------------------------------------
# Overlays: a key left out takes the paper value on both routes, and the run says what differs
# ---------------------------------------------------------------------------------------------
def test_deleted_key_takes_the_paper_value_on_both_routes_and_the_diff_is_shown(tmp_path):
    """Finding "Required key deleted": Snakemake used the paper value silently while the CLI refused
    the same file. Now both read it as an overlay and every run prints/records what differs."""
    (tmp_path / "tiny.yaml").write_text(TINY + "regression: {n_val: 4, n_test: 4, length: 16}\n")  # no n_train
    proc, cfg = _snakemake_dry_run(tmp_path, "--configfile", "tiny.yaml")
    assert proc.returncode == 0, proc.stderr
    cli = load_config(tmp_path / "tiny.yaml")
    assert cfg == cli
    assert cli["regression"]["n_train"] == 20000  # the paper value
    assert "contlaws run 'tiny': 7 key(s) differ from the paper config: eta_performance.systems" in proc.stderr

    out = _contlaws("config", "--config", str(tmp_path / "tiny.yaml"), "--diff", str(tmp_path / "diff.json"))
    assert out.returncode == 0, out.stderr
    assert "regression.n_test: 4   (paper: 2000)" in out.stdout and "n_train" not in out.stdout
    differs = json.loads((tmp_path / "diff.json").read_text())["differs"]
    assert differs["regression.length"] == {"value": 16, "paper": 1024} and "regression.n_train" not in differs


def test_scales_are_overlays_that_state_only_what_differs():
    """quick.yaml and evidence.yaml hold no key whose value equals the paper config's."""
    paper = read_config_file(PAPER_CONFIG)
    for name in ("quick.yaml", "evidence.yaml"):
        overlay = read_config_file(REPO / "config" / name)
        assert config_diff(deep_merge(paper, overlay), paper)  # they do differ

        def repeated(node, base, prefix=""):
            for key, value in node.items():
                where = f"{prefix}{key}"
                if isinstance(value, dict) and isinstance(base.get(key), dict):
                    yield from repeated(value, base[key], where + ".")
                elif key in base and base[key] == value:
                    yield where

        assert list(repeated(overlay, paper)) == [], f"{name} repeats paper values"


@pytest.mark.parametrize("route", ["cli", "snakemake"])
def test_unknown_key_fails_naming_it(tmp_path, route):
    (tmp_path / "typo.yaml").write_text(TINY + "train: {lrr: 1e-3}\n")
    if route == "cli":
        proc = _contlaws("config", "--config", str(tmp_path / "typo.yaml"))
        assert proc.returncode == 2
        assert proc.stderr.startswith("error: invalid configuration") and "Traceback" not in proc.stderr
    else:
        proc, _ = _snakemake_dry_run(tmp_path, "--configfile", "typo.yaml")
        assert proc.returncode != 0
    assert "unknown key 'train.lrr'" in proc.stdout + proc.stderr
    assert not (tmp_path / "results" / "tiny" / "configs").exists()  # nothing written for an invalid config


def test_contlaws_config_refuses_to_overwrite_its_input(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("run_name: c\n")
    proc = _contlaws("config", "--config", str(path), "--resolved", str(path))
    assert proc.returncode == 2 and "is the input config file" in proc.stderr
    assert path.read_text() == "run_name: c\n"


# ---------------------------------------------------------------------------------------------
# Contradictions: caught when the config is read, naming the key
# ---------------------------------------------------------------------------------------------
CONTRADICTIONS = [
    # (overlay, text the message must contain)
    ({"model": {"d_model": 32, "transformer": {"n_heads": 3}}}, "key 'model.transformer.n_heads' = 3: must divide model.d_model = 32"),
    ({"model": {"d_model": 32, "linear_attention": {"n_heads": 5}}}, "key 'model.linear_attention.n_heads' = 5: must divide model.d_model = 32"),
    ({"eta_performance": {"model": {"d_model": 100}}}, "key 'model.transformer.n_heads' = 8: must divide eta_performance.model.d_model = 100"),
    ({"model": {"d_model": 48, "mamba2": {"headdim": 32}}}, "key 'model.mamba2.headdim' = 32: must divide expand x model.d_model = 48"),
    ({"regression": {"length": 10**9}}, "key 'regression.length' = 1000000000: the largest regression split at tau = 1: 20000 trajectories x 1000000000 samples"),
    ({"regression": {"taus": [1, 1e-9]}}, "key 'regression.taus[1]' = 1e-09: the regression test split at tau = 1e-09: 2000 trajectories x 1.024e+12 samples (length / tau)"),
    ({"forecasting": {"length": 10**7}}, "key 'forecasting.length' = 10000000"),
    ({"refinement_numerical": {"reference_log2_step": -40, "tau_log2": [-3, -2]}}, "key 'refinement_numerical.reference_log2_step' = -40: the E1 reference input"),
]


@pytest.mark.parametrize("overlay,needle", CONTRADICTIONS, ids=[n.split(":")[0] for _, n in CONTRADICTIONS])
def test_contradictions_are_refused_naming_the_key(tmp_path, overlay, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(overlay))
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert needle in str(exc.value)
    if "split" in needle or "E1" in needle:
        assert "GiB in memory" in str(exc.value) or "TiB in memory" in str(exc.value)


def test_paper_scale_sizes_pass_the_memory_check():
    for name in ("config.yaml", "quick.yaml", "evidence.yaml"):
        load_config(REPO / "config" / name)


def test_snakemake_stops_on_a_contradiction_before_any_job(tmp_path):
    """length 1e9 ended in a MemoryError inside a job, n_heads 3 in a job's AssertionError."""
    (tmp_path / "bad.yaml").write_text(TINY + "regression: {length: 1e9}\nmodel: {d_model: 32, transformer: {n_heads: 3}}\n")
    proc, _ = _snakemake_dry_run(tmp_path, "--configfile", "bad.yaml")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "key 'regression.length' = 1000000000" in out and "key 'model.transformer.n_heads' = 3" in out
    assert "Job stats" not in out and "MemoryError" not in out
