"""E2/E3 dataset files: refinement consistency, η construction, determinism, errors, the dataset protocol."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from contlaws.commands import main
from contlaws.data.dynamics import FORECASTING_SETTINGS, REGRESSION_SETTINGS, SYSTEMS
from contlaws.data.forecasting import forecast_observations, make_forecasting_split
from contlaws.data.regression import make_regression_split, simulate_observations
from contlaws.data.sets import SequenceDataset, load_split
from contlaws.errors import ConfigError, DataFileError
from contlaws.io import save_npz


@pytest.fixture()
def tiny_cfg(quick_config):
    cfg = quick_config
    cfg["regression"].update(n_train=6, n_val=3, n_test=5, length=64, dt=0.01, taus=[2, 1, 0.5])
    cfg["forecasting"].update(n_train=6, n_val=3, n_test=7, length=48, dt=0.04, horizon=2, etas=[0, 0.5, 1])
    return cfg


@pytest.fixture()
def cfg_file(tiny_cfg, tmp_path) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(tiny_cfg))
    return path


# ---------------------------------------------------------------------------------------------
# Regression sets (E2)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("system", SYSTEMS)
def test_refined_set_is_the_same_trajectory_sampled_more_finely(tiny_cfg, system):
    coarse, labels_c, _ = simulate_observations(tiny_cfg, system, 2, "test")
    base, labels_b, _ = simulate_observations(tiny_cfg, system, 1, "test")
    fine, labels_f, _ = simulate_observations(tiny_cfg, system, 0.5, "test")
    assert base.shape == (5, 64) and fine.shape == (5, 128) and coarse.shape == (5, 32)
    np.testing.assert_array_equal(labels_b, labels_f)
    np.testing.assert_array_equal(labels_b, labels_c)
    # State stored after each step: τ = 1/2 samples 1, 3, 5, ... fall on the τ = 1 grid.
    err_fine = np.abs(fine[:, 1::2] - base).max()
    err_coarse = np.abs(base[:, 1::2] - coarse).max()
    if system == "ou":  # one Brownian path on the finest grid: exact subsamples
        assert err_fine == 0 and err_coarse == 0
    else:  # integration error only, shrinking like δ^4 (noise values coincide exactly)
        assert err_fine < 1e-6
        assert err_fine < err_coarse / 8
    assert np.abs(fine[:, 0::2] - base).max() > 100 * max(err_fine, 1e-9)  # the check can fail


def test_burn_in_is_physical_time(tiny_cfg):
    _, _, grid_1 = simulate_observations(tiny_cfg, "vdp", 1, "test")
    _, _, grid_half = simulate_observations(tiny_cfg, "vdp", 0.5, "test")
    assert grid_1.burn_in_steps * grid_1.step == pytest.approx(REGRESSION_SETTINGS["vdp"].burn_in)
    assert grid_half.burn_in_steps == 2 * grid_1.burn_in_steps


def test_regression_file_arrays_normalization_and_labels(tiny_cfg):
    tiny_cfg["regression"]["n_test"] = 200
    for system in SYSTEMS:
        settings = REGRESSION_SETTINGS[system]
        arrays, meta = make_regression_split(tiny_cfg, system, 1, "test")
        x, y = arrays["x"], arrays["y"]
        assert x.dtype == np.float32 and x.shape == (200, 64, 1)
        assert y.dtype == np.float32 and y.shape == (200, len(settings.label_names))
        assert meta["kind"] == "regression" and meta["tau"] == 1 and meta["seed"] == tiny_cfg["seed"] + 2
        for j, name in enumerate(settings.label_names):
            lo, hi = getattr(settings, name)
            assert lo <= y[:, j].min() < y[:, j].max() <= hi
            assert y[:, j].max() - y[:, j].min() > 0.8 * (hi - lo)  # spread over the range
        raw, _, _ = simulate_observations(tiny_cfg, system, 1, "test")
        recovered = x[:, :, 0] * arrays["x_scale"][:, None] + arrays["x_shift"][:, None]
        np.testing.assert_allclose(recovered, raw, rtol=1e-5, atol=1e-6 * np.abs(raw).max())
        assert meta["normalization"] == ("per-sample z" if system in ("duffing", "dho") else "none")
        if system in ("duffing", "dho"):  # the schema default: the authors' choice
            np.testing.assert_allclose(x.mean(axis=1), 0, atol=1e-5)
            np.testing.assert_allclose(x.std(axis=1), 1, atol=1e-3)
        else:
            np.testing.assert_array_equal(arrays["x_scale"], 1)


def test_z_normalize_key_normalizes_the_listed_systems_at_every_tau(tiny_cfg):
    # OU opted in (evidence scale, docs/decisions.md); DHO, left out of the list, stays raw.
    tiny_cfg["regression"]["z_normalize"] = ["ou", "duffing"]
    for tau in (1, 0.5):
        raw, _, _ = simulate_observations(tiny_cfg, "ou", tau, "test")
        arrays, meta = make_regression_split(tiny_cfg, "ou", tau, "test")
        # independent computation, one trajectory at a time in float64
        for i, row in enumerate(raw):
            mean = sum(row) / len(row)
            std = (sum((v - mean) ** 2 for v in row) / len(row)) ** 0.5
            np.testing.assert_allclose(arrays["x"][i, :, 0], (row - mean) / (std + 1e-6), rtol=1e-5, atol=1e-5)
            assert arrays["x_shift"][i] == pytest.approx(mean) and arrays["x_scale"][i] == pytest.approx(std + 1e-6)
        assert meta["normalization"] == "per-sample z"
    dho, meta = make_regression_split(tiny_cfg, "dho", 1, "test")
    assert meta["normalization"] == "none"
    np.testing.assert_array_equal(dho["x_scale"], 1)
    np.testing.assert_array_equal(dho["x"][:, :, 0], simulate_observations(tiny_cfg, "dho", 1, "test")[0].astype(np.float32))


def test_z_normalized_ou_sets_stay_pathwise_refinements(tiny_cfg):
    """Normalizing at each τ keeps the sets one path: the stored shift and scale give back the raw
    observations, which agree exactly at the shared time points."""
    tiny_cfg["regression"]["z_normalize"] = ["ou"]
    base, _ = make_regression_split(tiny_cfg, "ou", 1, "test")
    fine, _ = make_regression_split(tiny_cfg, "ou", 0.5, "test")

    def recovered(a):
        return a["x"][:, :, 0].astype(np.float64) * a["x_scale"][:, None] + a["x_shift"][:, None]

    np.testing.assert_allclose(recovered(fine)[:, 1::2], recovered(base), rtol=1e-6, atol=1e-8)
    assert np.abs(recovered(fine)[:, 0::2] - recovered(base)).max() > 1e-4  # the check can fail
    # the window statistics converge under refinement: scales at τ = 1 and 1/2 agree to a few percent
    np.testing.assert_allclose(fine["x_scale"], base["x_scale"], rtol=0.1)


def test_z_normalize_key_rejects_unknown_system(tmp_path):
    from contlaws.config import load_config

    path = tmp_path / "bad.yaml"
    path.write_text("regression: {z_normalize: [lorenz]}\n")
    with pytest.raises(ConfigError, match="z_normalize"):
        load_config(path)


def test_noise_grid_needs_whole_tau_ratios(tiny_cfg):
    tiny_cfg["regression"]["taus"] = [1, 0.3]
    with pytest.raises(ConfigError, match="regression.taus"):
        make_regression_split(tiny_cfg, "ou", 1, "test")
    make_regression_split(tiny_cfg, "vdp", 1, "test")  # noiseless ODEs have no fine grid


# ---------------------------------------------------------------------------------------------
# Forecasting sets (E3)
# ---------------------------------------------------------------------------------------------
def reference_symbols(state: np.ndarray, bins: int, length: int) -> np.ndarray:
    """Per-trajectory binning written as a plain loop (the authors' formulation)."""
    n, t, d = state.shape
    out = np.zeros((n, t), dtype=np.int64)
    for i in range(n):
        code = np.zeros(t, dtype=np.int64)
        for c in range(d):
            s = state[i, :, c].astype(np.float64)
            lo, hi = s[:length].min(), s[:length].max()  # bin edges from the input window only
            b = np.clip(np.floor(bins * (s - lo) / (hi - lo)), 0, bins - 1).astype(np.int64)
            code = code * bins + b
        out[i] = code
    return out


@pytest.mark.parametrize("system", SYSTEMS)
def test_eta_zero_is_the_continuous_projection_and_eta_one_only_codebook_vectors(tiny_cfg, system):
    zero, meta = make_forecasting_split(tiny_cfg, system, 0.0, "test")
    one, _ = make_forecasting_split(tiny_cfg, system, 1.0, "test")
    half, _ = make_forecasting_split(tiny_cfg, system, 0.5, "test")
    n, d = 7, FORECASTING_SETTINGS[system].state_dim
    assert zero["state"].shape == (n, 50, d) and zero["symbols"].dtype == np.uint8
    np.testing.assert_array_equal(zero["state"], one["state"])  # η does not change the latent
    W, Q = zero["W"].astype(np.float64), zero["Q"].astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(W, axis=0), 1, rtol=1e-6)
    np.testing.assert_allclose(Q.T @ Q, np.eye(16), atol=1e-6)
    expected_symbols = reference_symbols(zero["state"], meta["bins_per_component"], meta["length"])
    np.testing.assert_array_equal(zero["symbols"], expected_symbols)

    inputs, targets = forecast_observations(zero)
    obs0 = np.concatenate([inputs, targets], axis=1)  # (n 50 16)
    assert inputs.shape == (n, 48, 16) and targets.shape == (n, 2, 16)
    np.testing.assert_allclose(obs0, zero["state"].astype(np.float64) @ W, rtol=1e-5, atol=1e-6)

    obs1 = np.concatenate(forecast_observations(one), axis=1)
    distance = np.linalg.norm(obs1[:, :, :, None] - Q[None, None], axis=2)  # (n 50 16) to each column
    assert distance.min(axis=2).max() == 0  # every observation is exactly a column of Q ...
    np.testing.assert_array_equal(distance.argmin(axis=2), one["symbols"])  # ... the one its symbol names

    obs_half = np.concatenate(forecast_observations(half), axis=1)
    np.testing.assert_allclose(obs_half, 0.5 * obs0 + 0.5 * obs1, atol=1e-6)


def test_forecasting_obs_dim_must_give_whole_bins(tiny_cfg):
    tiny_cfg["forecasting"]["obs_dim"] = 12
    with pytest.raises(ConfigError, match="forecasting.obs_dim"):
        make_forecasting_split(tiny_cfg, "dho", 0.5, "test")


def test_forecasting_labels_in_their_ranges(tiny_cfg):
    tiny_cfg["forecasting"]["n_test"] = 300
    tiny_cfg["forecasting"]["length"] = 4
    for system in SYSTEMS:
        settings = FORECASTING_SETTINGS[system]
        arrays, _ = make_forecasting_split(tiny_cfg, system, 0.25, "test")
        for j, name in enumerate(settings.label_names):
            lo, hi = getattr(settings, name)
            assert lo <= arrays["labels"][:, j].min() < arrays["labels"][:, j].max() <= hi


# ---------------------------------------------------------------------------------------------
# Files, CLI, determinism, errors
# ---------------------------------------------------------------------------------------------
def generate(cfg_file: Path, out: Path, kind: str = "regression", system: str = "ou", value: str = "0.5",
             split: str = "test") -> int:
    flag = "--tau" if kind == "regression" else "--eta"
    return main(["data", "generate", kind, "--config", str(cfg_file), "--system", system, flag, value,
                 "--split", split, "--out", str(out)])


def test_two_generations_give_identical_bytes(cfg_file, tmp_path):
    for kind, system in (("regression", "ou"), ("regression", "dho"), ("forecasting", "duffing")):
        a, b = tmp_path / f"{kind}_{system}_a.npz", tmp_path / f"{kind}_{system}_b.npz"
        assert generate(cfg_file, a, kind, system) == 0
        assert generate(cfg_file, b, kind, system) == 0
        assert a.read_bytes() == b.read_bytes()


def test_truncated_and_corrupted_files_raise_data_file_error_naming_the_file(cfg_file, tmp_path):
    good = tmp_path / "good.npz"
    assert generate(cfg_file, good, "regression", "dho") == 0
    data = good.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    flipped = bytearray(data)
    x_bytes = load_split(good).x.tobytes()
    flipped[data.index(x_bytes) + len(x_bytes) // 2] ^= 0x01  # one bit inside the x array
    corrupted = tmp_path / "corrupted.npz"
    corrupted.write_bytes(bytes(flipped))
    for path in (truncated, corrupted, tmp_path / "missing.npz"):
        with pytest.raises(DataFileError, match=path.name):
            load_split(path)
    assert load_split(good).n == 5


def test_cli_rejects_bad_arguments_and_configs(cfg_file, tmp_path, capsys):
    out = tmp_path / "x.npz"
    with pytest.raises(SystemExit) as exc:
        generate(cfg_file, out, "regression", "lorenz")
    assert exc.value.code == 2 and "invalid choice: 'lorenz'" in capsys.readouterr().err

    bad = json.loads(cfg_file.read_text())
    bad["regression"]["dt"] = -0.01
    bad_file = tmp_path / "bad.json"
    bad_file.write_text(json.dumps(bad))
    assert generate(bad_file, out) == 2
    assert "regression.dt" in capsys.readouterr().err

    assert generate(tmp_path / "nowhere.yaml", out) == 2
    assert "config file not found" in capsys.readouterr().err
    assert generate(cfg_file, out, "regression", "vdp", "0") == 2
    assert "--tau must be a positive number" in capsys.readouterr().err
    assert generate(cfg_file, out, "forecasting", "vdp", "1.5") == 2
    assert "--eta must lie in [0, 1]" in capsys.readouterr().err
    assert not out.exists()  # no partial output


def test_data_info_prints_metadata_and_shapes(cfg_file, tmp_path, capsys):
    path = tmp_path / "f.npz"
    assert generate(cfg_file, path, "forecasting", "dho", "0.25") == 0
    capsys.readouterr()
    assert main(["data", "info", str(path)]) == 0
    text = capsys.readouterr().out
    assert "(verified)" in text and "(7, 50, 2)" in text and "eta " in text and "input (n, 48, 16)" in text
    path.write_bytes(path.read_bytes()[:-100])
    assert main(["data", "info", str(path)]) == 2
    assert "f.npz" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# The dataset protocol
# ---------------------------------------------------------------------------------------------
def check_protocol(ds: SequenceDataset, x_dtype: torch.dtype, y_shape: tuple[int, ...]) -> None:
    idx = np.array([2, 0, 1])
    xb, yb = ds.get_batch(idx)
    assert xb.dtype == x_dtype and yb.shape == (3, *y_shape)
    assert xb.shape[:2] == (3, ds.length)
    for row, i in enumerate(idx):
        x, y = ds[int(i)]
        assert torch.equal(x, xb[row]) and torch.equal(y, yb[row])


def test_regression_and_forecasting_files_load_as_sequence_datasets(cfg_file, tmp_path):
    reg_path, fc_path = tmp_path / "r.npz", tmp_path / "f.npz"
    assert generate(cfg_file, reg_path, "regression", "dho", "1") == 0
    assert generate(cfg_file, fc_path, "forecasting", "vdp", "0.5") == 0

    reg = load_split(reg_path)
    assert (reg.task, reg.input_kind, reg.d_input, reg.d_output, reg.length, len(reg)) == (
        "regression", "continuous", 1, 2, 64, 5)
    assert reg.path == reg_path and reg.meta["system"] == "dho"
    x, y = reg[0]
    assert x.shape == (64, 1) and x.dtype == torch.float32 and y.shape == (2,) and y.dtype == torch.float32
    check_protocol(reg, torch.float32, (2,))

    fc = load_split(fc_path)
    assert (fc.task, fc.input_kind, fc.d_input, fc.d_output, fc.length, len(fc)) == (
        "regression", "continuous", 16, 32, 48, 7)
    check_protocol(fc, torch.float32, (32,))
    inputs, targets = forecast_observations(fc.arrays, np.array([4]))
    x, y = fc[4]
    assert torch.equal(x, torch.from_numpy(inputs[0]))
    assert torch.equal(y, torch.from_numpy(targets[0].reshape(-1)))  # obs[L:L+horizon] flattened


def test_classification_files_load_as_tokens_or_continuous(tmp_path):
    rng = np.random.default_rng(0)
    tokens = tmp_path / "tokens.npz"
    save_npz(tokens, {"x": rng.integers(0, 10, (6, 12)), "y": rng.integers(0, 3, 6)},
             {"kind": "classification", "task": "classification", "input_kind": "tokens", "n_classes": 3,
              "vocab_size": 10})
    ds = load_split(tokens)
    assert (ds.task, ds.input_kind, ds.d_input, ds.d_output, ds.length) == ("classification", "tokens", 10, 3, 12)
    x, y = ds[1]
    assert x.shape == (12,) and x.dtype == torch.int64 and y.shape == () and y.dtype == torch.int64
    check_protocol(ds, torch.int64, ())

    images = tmp_path / "images.npz"
    save_npz(images, {"x": rng.random((4, 9, 3), dtype=np.float32), "y": rng.integers(0, 2, 4)},
             {"kind": "classification", "task": "classification", "input_kind": "continuous", "n_classes": 2})
    ds = load_split(images)
    assert (ds.input_kind, ds.d_input, ds.d_output) == ("continuous", 3, 2)
    check_protocol(ds, torch.float32, ())

    unknown = tmp_path / "unknown.npz"
    save_npz(unknown, {"x": np.zeros((1, 2))}, {"kind": "mystery"})
    with pytest.raises(DataFileError, match="unknown.npz: unknown dataset kind 'mystery'"):
        load_split(unknown)


def test_symbol_bins_come_from_the_input_window_only():
    """No look-ahead: the forecast target does not move the bin edges of the inputs; a target outside
    the input window's range falls in an end bin."""
    from contlaws.data.forecasting import quantize

    rng = np.random.default_rng(5)
    state = rng.uniform(-1, 1, size=(3, 21, 2)).astype(np.float32)  # L = 20 inputs + 1 target
    base = quantize(state, 4, length=20)
    future = state.copy()
    future[:, 20] = [[50.0, -50.0], [-50.0, 50.0], [0.0, 0.0]]  # far outside the input range
    moved = quantize(future, 4, length=20)
    np.testing.assert_array_equal(moved[:, :20], base[:, :20])
    assert moved[:, 20].tolist() == [4 * 3 + 0, 4 * 0 + 3, moved[2, 20]]  # clipped to the end bins
    # The old whole-window edges would have been moved by the target: the leak this guards against.
    assert (quantize(future, 4)[:, :20] != base[:, :20]).any()


# ---------------------------------------------------------------------------------------------
# Arrays checked at load: a bad split is refused naming the file, the array, expected vs found
# ---------------------------------------------------------------------------------------------
def regression_arrays(n=5, length=12):
    rng = np.random.default_rng(3)
    return {"x": rng.standard_normal((n, length, 1)).astype(np.float32), "y": rng.standard_normal((n, 2)).astype(np.float32)}


def with_nan(a):
    a = a.copy()
    a[2] = np.nan
    return a


def with_inf(a):
    a = a.copy()
    a[-1, 0] = np.inf
    return a


REG = regression_arrays()
TOKENS = {"x": np.random.default_rng(4).integers(0, 10, (6, 12)), "y": np.array([0, 1, 2, 0, 1, 2])}
TOKEN_META = {"kind": "classification", "input_kind": "tokens", "n_classes": 3, "vocab_size": 10}
FC_META = {"kind": "forecasting"}


@pytest.mark.parametrize(
    "arrays, meta, message",
    [
        ({**REG, "x": REG["x"][:, :, 0]}, {"kind": "regression"},
         "regression array 'x' must be (N, L, d) inputs; found shape (5, 12), dtype float32"),
        ({**REG, "y": REG["y"][:-1]}, {"kind": "regression"},
         "regression array 'y' has 4 samples but 'x' has 5 (found shape (4, 2), dtype float32)"),
        ({"x": REG["x"][:0], "y": REG["y"][:0]}, {"kind": "regression"},
         "regression array 'x' has no samples (found shape (0, 12, 1), dtype float32)"),
        ({**REG, "x": np.full(REG["x"].shape, "a")}, {"kind": "regression"},
         "regression array 'x' must hold numbers ((N, L, d) inputs); found shape (5, 12, 1), dtype <U1"),
        ({**REG, "x": with_nan(REG["x"])}, {"kind": "regression"},
         "regression array 'x' holds NaN or infinite values (1 of 5 rows, the first at row 2)"),
        ({**REG, "y": with_inf(REG["y"])}, {"kind": "regression"},
         "regression array 'y' holds NaN or infinite values (1 of 5 rows, the first at row 4)"),
        ({**TOKENS, "x": TOKENS["x"] + 0.5}, TOKEN_META,
         "classification array 'x' must hold integers ((N, L) integer token ids); found shape (6, 12), dtype float64"),
        ({**TOKENS, "y": TOKENS["y"] + 1}, TOKEN_META,
         "classification array 'y' holds class ids 1..3, outside 0..2 (meta n_classes = 3)"),
        ({**TOKENS, "y": TOKENS["y"][:, None]}, TOKEN_META,
         "classification array 'y' must be (N,) class ids; found shape (6, 1)"),
    ],
    ids=["x-2d", "x-y-mismatch", "zero-rows", "string-x", "nan-x", "inf-y", "float-tokens", "label-range", "y-2d"],
)
def test_bad_arrays_are_refused_at_load_naming_file_and_array(tmp_path, arrays, meta, message):
    path = tmp_path / "split.npz"
    save_npz(path, arrays, meta)  # a valid file with a valid checksum: only its contents are wrong
    with pytest.raises(DataFileError) as err:
        load_split(path)
    assert str(err.value).startswith(f"{path}: {message}")


def test_forecasting_split_with_nan_state_is_refused(tiny_cfg, tmp_path):
    arrays, meta = make_forecasting_split(tiny_cfg, "vdp", 0.5, "test")
    arrays["state"] = arrays["state"].copy()
    arrays["state"][1, 4, 0] = np.nan
    save_npz(tmp_path / "fc.npz", arrays, meta)
    with pytest.raises(DataFileError, match=r"fc\.npz: forecasting array 'state' holds NaN or infinite values \(1 of 7 rows, the first at row 1\)"):
        load_split(tmp_path / "fc.npz")


@pytest.mark.parametrize("case", ["x-2d", "string-x", "zero-rows"])
def test_task_continuity_reports_bad_split_arrays_without_traceback(tmp_path, capsys, case):
    arrays = {"x-2d": {**REG, "x": REG["x"][:, :, 0]}, "string-x": {**REG, "x": np.full(REG["x"].shape, "a")},
              "zero-rows": {"x": REG["x"][:0], "y": REG["y"][:0]}}[case]
    save_npz(tmp_path / "bad.npz", arrays, {"kind": "regression"})
    assert main(["task-continuity", str(tmp_path / "bad.npz"), "--json", str(tmp_path / "tc.json")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "bad.npz: regression array 'x'" in err
    assert not (tmp_path / "tc.json").exists()
