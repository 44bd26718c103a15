"""Model continuity d(τ): formula vs numpy, S4D/S6 layer adapters, convergence orders, dataset checks, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from contlaws.data.sets import ArrayDataset
from contlaws.errors import DataFileError
from contlaws.model_continuity import (
    PooledLayer,
    continuity_from_outputs,
    fit_order,
    model_continuity,
    parse_tau_path,
)
from contlaws.models.s4d import S4D
from contlaws.models.s6 import S6

WINDOW = 10.24  # physical time covered at every τ
BASE_STEP = 0.04  # sampling step at τ = 1 (L = 256)


def smooth_signal(t: np.ndarray, channels: int, start_at_zero: bool = False) -> np.ndarray:
    """(channels, len(t)) smooth test inputs; with ``start_at_zero`` every channel is 0 at t = 0."""
    k = np.arange(1, channels + 1)[:, None]
    if start_at_zero:
        return np.sin(0.7 * k * t) + 0.5 * np.sin(1.9 * k * t) ** 2
    return np.sin(0.7 * t + k) + 0.5 * np.cos(1.9 * k * t)


def refined_inputs(taus, batch: int, channels: int, channels_first: bool, start_at_zero: bool = False):
    """{τ: (B, H, L) or (B, L, H) float64 tensor}, the same trajectories sampled every BASE_STEP·τ."""
    out = {}
    for tau in taus:
        t = np.arange(round(WINDOW / (BASE_STEP * tau))) * BASE_STEP * tau
        shifts = [0.0 if start_at_zero else 0.5 * b for b in range(batch)]
        x = np.stack([(1 + 0.3 * b) * smooth_signal(t + shifts[b], channels, start_at_zero) for b in range(batch)])
        out[tau] = torch.from_numpy(x if channels_first else x.transpose(0, 2, 1).copy())
    return out


def numpy_d_and_order(outputs: dict[float, np.ndarray]) -> tuple[dict[float, float], float]:
    """The definitions written out directly: d against the finest grid in units of the reference's
    spread over samples; the order from the successive differences over τ ≤ 1."""
    taus = sorted(outputs)
    ref = outputs[taus[0]]
    spread = np.sqrt(np.mean((ref - ref.mean(axis=0, keepdims=True)) ** 2))
    d = {t: np.sqrt(np.mean((outputs[t] - ref) ** 2)) / spread for t in taus}
    coarse = [t for t in taus[1:] if t <= 1]
    delta = [np.sqrt(np.mean((outputs[t] - outputs[taus[taus.index(t) - 1]]) ** 2)) / spread for t in coarse]
    slope = np.polyfit(np.log(coarse), np.log(delta), 1)[0] if len(coarse) >= 3 else np.nan
    return d, slope


def test_agrees_with_numpy_formula_on_a_callable():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(6, 3))
    taus = [2.0, 1.0, 0.5, 0.25, 0.125]
    inputs = {t: np.repeat(base[:, None, :], round(8 / t), axis=1) for t in taus}  # (N, L, 3)

    def f(x, tau):  # pooled output with a τ-dependent bias, order 1.5 in τ
        return x.mean(dim=1) + 0.1 * tau**1.5 * torch.arange(3.0, dtype=x.dtype)

    result = model_continuity(f, inputs)
    outputs = {t: inputs[t].mean(axis=1) + 0.1 * t**1.5 * np.arange(3.0) for t in taus}
    d, order = numpy_d_and_order(outputs)
    assert result.tau_ref == 0.125 and result.n == 6
    assert list(result.d) == sorted(taus)
    for t in taus:
        assert result.d[t] == pytest.approx(d[t], rel=1e-6, abs=1e-12)
    assert result.order == pytest.approx(order, rel=1e-6)
    assert result.order == pytest.approx(1.5, rel=1e-6)  # successive differences of c·τ^1.5 on a geometric grid
    assert result.d[0.125] == 0.0 and result.order_note == ""
    assert result.spread == pytest.approx(np.sqrt(np.mean((outputs[0.125] - outputs[0.125].mean(0)) ** 2)))


def test_normalized_by_the_spread_not_the_mean():
    """Adding a constant to every prediction changes neither d nor the order (the old ‖f‖ normalizer did)."""
    rng = np.random.default_rng(1)
    base = rng.normal(size=(20, 2))
    outputs = {t: base + 0.05 * t * rng.normal(size=(20, 2)) for t in (1.0, 0.5, 0.25, 0.125)}
    shifted = {t: v + 1000.0 for t, v in outputs.items()}
    a, b = continuity_from_outputs(outputs), continuity_from_outputs(shifted)
    for t in outputs:
        assert a.d[t] == pytest.approx(b.d[t], rel=1e-9, abs=1e-12)


def test_near_constant_predictor_does_not_look_continuous():
    """A predictor that ignores its input (output ≈ label mean + tiny input-dependent part) moves by
    the same absolute amount as a good one: small against its mean, large against its spread."""
    rng = np.random.default_rng(2)
    label_mean = np.array([5.0, -3.0])
    informative = rng.normal(size=(50, 2))
    drift = {t: 0.02 * t * np.ones((50, 2)) for t in (1.0, 0.5, 0.25, 0.125)}  # the same τ-drift for both
    good = continuity_from_outputs({t: label_mean + informative + drift[t] for t in drift})
    flat = continuity_from_outputs({t: label_mean + 1e-3 * informative + drift[t] for t in drift})
    assert good.d[1.0] < 0.05
    assert flat.d[1.0] > 5.0  # 1000× the good model's: not continuous in any useful sense
    # the old normalizer (Frobenius norm including the mean) called both nearly equal
    old = np.linalg.norm(drift[1.0] - drift[0.125]) / np.linalg.norm(label_mean + 1e-3 * informative + drift[0.125])
    assert old < 0.01
    constant = continuity_from_outputs({t: np.tile(label_mean + drift[t][0], (50, 1)) for t in drift})
    assert constant.spread == 0 and math.isinf(constant.d[1.0])


@pytest.mark.parametrize("p", [0.5, 1.0, 2.0])
def test_order_fit_recovers_an_analytic_power_law(p):
    """f_τ = f* + c·τ^p on τ = 1 … 1/16 (four differences): the fitted order is p exactly."""
    rng = np.random.default_rng(3)
    limit, c = rng.normal(size=(8, 3)), rng.normal(size=(8, 3))
    result = continuity_from_outputs({2.0**-k: limit + c * 2.0 ** (-k * p) for k in range(5)})
    assert result.order == pytest.approx(p, rel=1e-9)
    assert fit_order({1.0: 3.0, 0.5: 3.0 * 2**-p, 0.25: 3.0 * 4**-p})[0] == pytest.approx(p)


def test_order_needs_three_levels_and_says_why():
    order, note = fit_order({1.0: 0.3, 0.5: 0.1})
    assert math.isnan(order) and "needs 3 refinement levels" in note and "got 2" in note
    order, note = fit_order({1.0: 0.3, 0.5: 0.0, 0.25: 0.01})  # a zero difference carries no slope
    assert math.isnan(order) and "got 2" in note
    result = continuity_from_outputs({t: np.full((3, 1), t) + np.arange(3.0)[:, None] for t in (1.0, 0.5, 0.25)})
    assert math.isnan(result.order) and result.order_note
    assert set(result.delta) == {0.5, 1.0}  # differences above τ = 1 are not part of the fit


def test_model_without_tau_has_no_positive_order():
    """An S4D called with τ = 1 on refined inputs sees a slowed-down signal: its outputs do not
    converge and the fitted order is near 0 (a two-point slope against τ_min gave it ≈ 1.6)."""
    torch.manual_seed(0)
    layer = PooledLayer(S4D(4, d_state=4, a_imag_init="lin", dt_min=0.01, dt_max=0.1).double())
    inputs = refined_inputs([2.0**-k for k in range(5)], batch=3, channels=4, channels_first=True)
    with_tau = model_continuity(layer, inputs)
    without = model_continuity(lambda x, tau: layer(x, 1.0), inputs)
    assert 0.8 < with_tau.order < 1.3 and with_tau.d[1.0] < 0.1
    assert abs(without.order) < 0.3 and without.d[1.0] > 1.0


@pytest.mark.parametrize("method", ["zoh", "bilinear"])
def test_s4d_layer_converges_at_first_order(method):
    """Pooled S4D (channel norm, D skip, GLU) on point samples: d(τ) falls to 0 at order ≈ 1 for both methods."""
    torch.manual_seed(0)
    layer = S4D(4, d_state=4, discretization=method, a_imag_init="lin", dt_min=0.01, dt_max=0.1).double()
    taus = [2.0**-k for k in range(8)]
    result = model_continuity(PooledLayer(layer), refined_inputs(taus, batch=3, channels=4, channels_first=True))
    values = [result.d[t] for t in sorted(taus)]
    assert values[0] == 0 and all(np.diff(values) > 0), values  # monotone toward the finest grid
    assert result.d[1.0] < 0.1  # in units of the outputs' spread over the batch
    # First order (successive differences: no bias from measuring against τ_min).
    assert 0.9 < result.order < 1.15, result.order


@pytest.mark.parametrize("method", ["zoh", "bilinear"])
def test_pooled_s4d_convolution_is_second_order_for_inputs_starting_at_zero(method):
    """The SSM convolution alone, time-averaged: the held input acts at the step midpoints, so the
    time average is a midpoint rule (order 2) once the input starts at 0 (no start-up error)."""
    torch.manual_seed(1)
    layer = S4D(3, d_state=4, discretization=method, a_imag_init="lin", dt_min=0.01, dt_max=0.1).double()
    taus = [2.0**-k for k in range(7)]
    inputs = refined_inputs(taus, batch=2, channels=3, channels_first=True, start_at_zero=True)
    result = model_continuity(lambda x, tau: layer.convolve(x, tau).mean(-1), inputs)
    assert 1.8 < result.order < 2.4, result.order


def test_s6_adapter_pools_over_time_axis_one():
    torch.manual_seed(2)
    layer = S6(5, d_state=4, dt_rank=2, backend="torch").double().eval()
    taus = [1.0, 0.5, 0.25, 0.125]
    inputs = refined_inputs(taus, batch=2, channels=5, channels_first=False)  # (B L D)
    result = model_continuity(PooledLayer(layer), inputs)
    with torch.no_grad():
        outputs = {t: layer(inputs[t], t).mean(dim=1).numpy() for t in taus}
    d, order = numpy_d_and_order(outputs)
    for t in taus:
        assert result.d[t] == pytest.approx(d[t], rel=1e-6, abs=1e-12)
    assert result.order == pytest.approx(order, rel=1e-6)


def _dataset(n, length, **meta):
    x = np.zeros((n, length, 1), np.float32)
    return ArrayDataset(x, np.zeros((n, 1), np.float32), task="regression", input_kind="continuous", d_input=1,
                        d_output=1, meta=meta)  # fmt: skip


def test_refuses_sets_of_different_trajectories():
    good = {1.0: _dataset(4, 8, seed=39, system="vdp", tau=1.0), 0.5: _dataset(4, 16, seed=39, system="vdp", tau=0.5)}
    with pytest.raises(DataFileError, match="seed"):
        model_continuity(lambda x, t: x.mean(1), {**good, 0.5: _dataset(4, 16, seed=40, system="vdp", tau=0.5)})
    with pytest.raises(DataFileError, match="size"):
        model_continuity(lambda x, t: x.mean(1), {**good, 0.5: _dataset(5, 16, seed=39, system="vdp", tau=0.5)})
    with pytest.raises(DataFileError, match="made at tau = 0.25"):
        model_continuity(lambda x, t: x.mean(1), {**good, 0.5: _dataset(4, 16, seed=39, system="vdp", tau=0.25)})


def test_tau_path_argument():
    assert parse_tau_path("1/8=a.npz") == (0.125, parse_tau_path("0.125=a.npz")[1])
    with pytest.raises(Exception, match="TAU=PATH"):
        parse_tau_path("a.npz")


def test_cli_on_engine_checkpoint(tmp_path, tiny_refinement_run):
    """`contlaws model-continuity` on a checkpoint written by `contlaws train`, against a direct computation."""
    from contlaws.commands import main
    from contlaws.data.sets import load_split
    from contlaws.train import load_model

    run = tiny_refinement_run
    out = tmp_path / "mc.json"
    args = [f"{t}={p}" for t, p in run["tests"].items()]
    assert main(["model-continuity", "--checkpoint", str(run["checkpoint"]), "--data", *args, "--json", str(out)]) == 0
    record = json.loads(out.read_text())
    model, _ = load_model(run["checkpoint"])
    with torch.no_grad():
        outputs = {t: model(load_split(p).get_batch(np.arange(run["n_test"]))[0], tau=t).numpy()
                   for t, p in run["tests"].items()}  # fmt: skip
    d, order = numpy_d_and_order(outputs)
    got = {row["tau"]: row["d"] for row in record["d"]}
    assert set(got) == set(d)
    for t in d:
        assert got[t] == pytest.approx(d[t], rel=1e-4, abs=1e-7)
    assert np.isfinite(order) and record["order"] == pytest.approx(order, rel=1e-3)
    assert record["label_standardization"]["mean"] and record["spread"] > 0
    assert record["tau_ref"] == min(d) and record["n"] == run["n_test"]
    assert "git_commit" in record["provenance"]
    # A missing data file is a clear error, exit status 2.
    assert main(["model-continuity", "--checkpoint", str(run["checkpoint"]), "--data", args[0], "0.1=nope.npz"]) == 2


def test_cli_refuses_json_over_its_checkpoint_or_data(tmp_path, tiny_refinement_run, capsys):
    """`--json` naming the checkpoint or a test set used to overwrite it with the JSON record."""
    import os

    from contlaws.commands import main

    run = tiny_refinement_run
    args = [f"{t}={p}" for t, p in run["tests"].items()]
    first_data = next(iter(run["tests"].values()))
    link = tmp_path / "same_checkpoint.pt"
    os.link(run["checkpoint"], link)
    before = {p: p.read_bytes() for p in (run["checkpoint"], first_data)}
    for output, named in ((run["checkpoint"], run["checkpoint"]), (first_data, first_data), (link, run["checkpoint"])):
        assert main(["model-continuity", "--checkpoint", str(run["checkpoint"]), "--data", *args, "--json", str(output)]) == 2
        err = capsys.readouterr().err
        assert f"error: {output}: --json is the input {named}; writing it would destroy the input" in err
    assert all(p.read_bytes() == data for p, data in before.items())


def make_tiny_refinement_run(root, model="s4d", system="vdp"):
    """A 1-epoch model trained by `contlaws train --experiment refinement_trained` (standardized labels)
    at τ = 1 and test sets at τ = 1, ½, ¼, ⅛ (tiny sizes)."""
    from contlaws.commands import main
    from contlaws.config import load_config
    from contlaws.data.regression import make_regression_split
    from contlaws.io import save_npz, write_json

    overrides = {
        "regression": {"n_train": 24, "n_val": 8, "n_test": 6, "length": 32, "dt": 0.32, "taus": [1, 0.5, 0.25, 0.125]},
        "model": {"d_model": 8, "n_layers": 1},
        "train": {"epochs": 1, "batch_size": 8, "batch_size_per_model": {"s6": 8}},
    }
    from contlaws.config import REPO_ROOT

    cfg = load_config(REPO_ROOT / "config" / "quick.yaml", overrides=overrides)
    config = root / "config.json"
    write_json(config, cfg)
    paths = {}
    for tau, split in [(1, "train"), (1, "val"), (1, "test"), (0.5, "test"), (0.25, "test"), (0.125, "test")]:
        arrays, meta = make_regression_split(cfg, system, tau, split)
        paths[(tau, split)] = root / f"{system}_tau{tau}_{split}.npz"
        save_npz(paths[(tau, split)], arrays, meta)
    out = root / f"{model}_run"
    status = main(["train", "--config", str(config), "--model", model, "--train", str(paths[(1, "train")]),
                   "--val", str(paths[(1, "val")]), "--out", str(out), "--seed", "3",
                   "--experiment", "refinement_trained"])  # fmt: skip
    assert status == 0
    tests = {float(t): p for (t, s), p in paths.items() if s == "test"}
    return {"config": config, "checkpoint": out / "best.pt", "tests": tests, "n_test": 6, "cfg": cfg}


@pytest.fixture(scope="module")
def tiny_refinement_run(tmp_path_factory):
    return make_tiny_refinement_run(tmp_path_factory.mktemp("tiny_run"))


# ---------------------------------------------------------------------------------------------
# Bad checkpoints, data and flags: one `error:` line naming the file or option, exit 2, no --json
# ---------------------------------------------------------------------------------------------
def _resaved(run, tmp_path, name, change):
    """A copy of the tiny run's checkpoint with ``change(checkpoint)`` applied, saved as ``name``."""
    checkpoint = torch.load(run["checkpoint"], weights_only=True)
    change(checkpoint)
    path = tmp_path / name
    torch.save(checkpoint, path)
    return path


def _wider_sets(run, tmp_path):
    """The tiny run's test sets with every input channel doubled (d_input 2 instead of 1)."""
    from contlaws.io import load_npz, save_npz

    args = []
    for tau, path in run["tests"].items():
        arrays, meta = load_npz(path)
        arrays = {**arrays, "x": np.concatenate([arrays["x"], arrays["x"]], axis=-1)}
        meta = {k: v for k, v in meta.items() if k != "checksum"} | {"d_input": 2}
        save_npz(tmp_path / f"wide_{tau}.npz", arrays, meta)
        args.append(f"{tau}={tmp_path / f'wide_{tau}.npz'}")
    return args


def _two_input_model(checkpoint):
    from contlaws.models.registry import build_model

    checkpoint["build_kwargs"]["d_input"] = 2
    checkpoint["model_state"] = build_model(**checkpoint["build_kwargs"]).state_dict()


def _s6_weights(checkpoint):
    from contlaws.models.registry import build_model

    checkpoint["model_state"] = build_model(**{**checkpoint["build_kwargs"], "name": "s6"}).state_dict()


def _nan_weights(checkpoint):
    for value in checkpoint["model_state"].values():
        if value.is_floating_point():
            value.fill_(float("nan"))


def _bare_arrays(run, tmp_path):
    from contlaws.data.sets import load_split

    args = []
    for tau, path in list(run["tests"].items())[:2]:
        np.save(tmp_path / f"x_{tau}.npy", load_split(path).x)
        args.append(f"{tau}={tmp_path / f'x_{tau}.npy'}")
    return args


# case -> (checkpoint change or None, data args maker or None, extra flags, text the message must hold)
BAD_MODEL_CONTINUITY_INPUTS = {
    "data has more input channels": (None, _wider_sets, [], "has 2 input channels but the model in {ckpt} was trained on 1"),
    "model has more input channels": (_two_input_model, None, [], "has 1 input channels but the model in {ckpt} was trained on 2"),
    "S6 weights under an S4D name": (_s6_weights, None, [], "{ckpt}: weights do not fit the 's4d' model"),
    "NaN weights": (_nan_weights, None, [], "{ckpt}: weights contain NaN or inf"),
    "bare .npy data": (None, _bare_arrays, [], "x_1.0.npy: not a .npz split file"),
    "batch size 0": (None, None, ["--batch-size", "0"], "argument --batch-size: must be at least 1"),
    "negative batch size": (None, None, ["--batch-size", "-1"], "argument --batch-size: must be at least 1"),
    "max samples 0": (None, None, ["--max-samples", "0"], "argument --max-samples: must be at least 1"),
    "threads 0": (None, None, ["--threads", "0"], "argument --threads: must be at least 1"),
    "unknown device": (None, None, ["--device", "gpu0"], "argument --device: invalid choice"),
}


@pytest.mark.parametrize("case", list(BAD_MODEL_CONTINUITY_INPUTS))
def test_cli_refuses_bad_inputs_with_one_line(tmp_path, tiny_refinement_run, capfd, case):
    """Each of these gave a traceback (or, for NaN weights, d = nan with exit 0) before."""
    from contlaws.commands import main

    change, make_data, flags, expected = BAD_MODEL_CONTINUITY_INPUTS[case]
    run = tiny_refinement_run
    checkpoint = _resaved(run, tmp_path, "model.pt", change) if change else run["checkpoint"]
    data = make_data(run, tmp_path) if make_data else [f"{t}={p}" for t, p in run["tests"].items()]
    out = tmp_path / "mc.json"
    argv = ["model-continuity", "--checkpoint", str(checkpoint), "--data", *data, "--json", str(out), *flags]
    try:
        status = main(argv)
    except SystemExit as stop:  # argparse refuses a flag with exit status 2
        status = stop.code
    err = capfd.readouterr().err
    assert status == 2
    assert expected.format(ckpt=checkpoint) in err
    assert "Traceback" not in err and len([line for line in err.splitlines() if "error:" in line]) == 1
    assert not out.exists()


def test_non_finite_outputs_are_refused():
    """A model whose outputs are NaN has no deviation to report: predict raises, naming τ and the rows."""
    from contlaws.model_continuity import NonFiniteOutputs, predict

    inputs = {t: torch.ones(3, round(4 / t), 1) for t in (1.0, 0.5)}

    def nan_on_row_1(x, tau):
        out = x.mean(dim=1)
        out[1] = float("nan")
        return out

    with pytest.raises(NonFiniteOutputs, match=r"tau = 0.5 are NaN or inf for 1 of 3 rows \(first: row 1\)"):
        model_continuity(nan_on_row_1, inputs)
    assert predict(lambda x, tau: x.mean(dim=1), inputs[1.0], 1.0, batch_size=2).shape == (3, 1)
