"""Config validation: defaults filled, invalid values rejected with a message naming key and value."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
from conftest import REPO

from contlaws.config import PAPER_CONFIG, deep_merge, fmt_num, load_config, read_config_file, validate_config
from contlaws.errors import ConfigError


def raw(name="quick.yaml"):
    """The config a scale runs with before defaults: its overlay merged over the paper config."""
    return deep_merge(read_config_file(PAPER_CONFIG), read_config_file(REPO / "config" / name))


def test_both_configs_validate_and_fill_defaults():
    quick = load_config(REPO / "config" / "quick.yaml")
    paper = load_config(REPO / "config" / "config.yaml")
    assert quick["model"]["s4d"]["d_state"] == 2  # default from the schema
    assert paper["regression"]["dt"] == 0.01
    assert quick["train"]["device"] == "auto"


def test_quick_and_paper_configs_have_the_same_keys():
    """quick.yaml and config.yaml differ only in sizes and grids, never in which code paths run."""

    def keys(d, prefix=""):
        out = set()
        for k, v in d.items():
            out.add(prefix + k)
            # per-model and per-task maps and E3's override sections hold whichever keys a scale tunes
            overrides = ("eta_performance.train", "eta_performance.model")
            if isinstance(v, dict) and k not in ("batch_size_per_model", "epochs_per_model", "batch_size_per_task") and prefix + k not in overrides:
                out |= keys(v, prefix + k + ".")
        return out

    quick, paper = load_config(REPO / "config" / "quick.yaml"), load_config(REPO / "config" / "config.yaml")
    # optional keys without a schema default that a CPU scale sets: a batch bound, not a code path
    cpu_only = {"eta_performance.eval_max_elements"}
    assert keys(quick) - cpu_only == keys(paper)
    # same models and layer choices: quick must exercise the same code paths
    assert quick["eta_performance"]["models"] == paper["eta_performance"]["models"]
    assert quick["refinement_trained"]["models"] == paper["refinement_trained"]["models"]


def _set(cfg, dotted, value):
    cfg = copy.deepcopy(cfg)
    *parents, last = dotted.split(".")
    node = cfg
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return cfg


_DELETE = object()

INVALID = [
    # (dotted key, bad value, text the message must contain)
    ("regression.n_train", 0, "regression.n_train"),
    ("regression.n_test", -5, "regression.n_test"),
    ("regression.taus", [1, -0.5], "regression.taus[1]"),
    ("regression.taus", [1, 0], "regression.taus[1]"),
    ("regression.taus", [0.5, 0.25], "regression.taus"),  # must contain 1
    ("forecasting.etas", [0, 1.5], "forecasting.etas[1]"),
    ("forecasting.etas", [-0.1, 0.5], "forecasting.etas[0]"),
    ("systems", ["vdp", "lorenz"], "systems[1]"),
    ("eta_performance.models", ["s4d", "gpt5"], "eta_performance.models[1]"),
    ("refinement_trained.models", ["transformer"], "refinement_trained.models[0]"),
    ("model.d_model", "wide", "model.d_model"),
    ("model.dropout", 1.0, "model.dropout"),
    ("train.epochs", 2.5, "train.epochs"),
    ("seed", _DELETE, "seed"),
    ("regression", _DELETE, "regression"),
    ("model.s4d", {"discretization": "euler"}, "model.s4d.discretization"),
    ("model.s6", {"readout": "mean"}, "model.s6.readout"),
    ("subsampling.tasks", ["mnist"], "subsampling.tasks[0]"),
    ("train.lr", 0, "train.lr"),
    ("run_name", "my run/1", "run_name"),
    ("train.typo_key", 3, "typo_key"),
    ("model.s4d", {"d_state": 3}, "model.s4d.d_state"),
    ("model.s6", {"dt_min": 0.2, "dt_max": 0.1}, "model.s6.dt_min"),
    ("eta_performance.systems", ["ou"], "eta_performance.systems"),
]


@pytest.mark.parametrize("key,value,needle", INVALID, ids=[f"{k}={v if v is not _DELETE else 'missing'}" for k, v, _ in INVALID])
def test_invalid_values_are_rejected_naming_the_key(key, value, needle):
    cfg = _set(raw(), key, value)
    with pytest.raises(ConfigError) as exc:
        validate_config(cfg, source="test.yaml")
    msg = str(exc.value)
    assert needle in msg
    assert "test.yaml" in msg
    if value is not _DELETE and not isinstance(value, dict):
        bad = value if not isinstance(value, list) else None
        if bad is not None:
            assert str(bad).strip("'") in msg or repr(bad) in msg or f'"{bad}"' in msg


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_config(bad)


def test_validation_does_not_mutate_input():
    cfg = raw()
    before = copy.deepcopy(cfg)
    validate_config(cfg)
    assert cfg == before


@pytest.mark.parametrize("x,text", [(1, "1"), (1.0, "1"), (0.5, "0.5"), (0.125, "0.125"), (2, "2"), (0.25, "0.25"), (2**-10, "0.0009765625")])
def test_fmt_num_roundtrips(x, text):
    assert fmt_num(x) == text
    assert float(fmt_num(x)) == x


def test_snakemake_stops_on_invalid_config_before_any_job(tmp_path):
    """An invalid value given on the command line stops the DAG build with the key in the message."""
    snakemake = [sys.executable, "-m", "snakemake"]
    proc = subprocess.run(
        snakemake + ["-n", "--cores", "1", "--configfile", "config/quick.yaml", "--config", "seed=-3"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "seed" in out and "-3" in out
    assert "Job stats" not in out  # no job was scheduled


def test_resolved_json_config_roundtrips(tmp_path):
    """The resolved config written for jobs (JSON) loads back to the same values (1e-06 stays a float)."""
    from contlaws.io import dumps_json

    cfg = load_config(REPO / "config" / "quick.yaml")
    path = tmp_path / "resolved.json"
    path.write_text(dumps_json(cfg))
    assert load_config(path) == cfg


def test_a_key_given_twice_is_refused(tmp_path, repo_root):
    """YAML keeps the last of two equal keys silently; a config (or the schema) with one is refused."""
    from contlaws.config import load_config, read_yaml
    from contlaws.errors import ConfigError

    text = (repo_root / "config" / "quick.yaml").read_text() + "\nrun_name: again\n"
    path = tmp_path / "twice.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="key 'run_name' appears twice"):
        load_config(path)
    assert read_yaml((repo_root / "src" / "contlaws" / "config.schema.yaml").read_text())["type"] == "object"
