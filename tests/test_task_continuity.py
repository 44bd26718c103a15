"""E4 task continuity: kernels against np.interp / loop references, closed forms against explicit
matrices and Monte Carlo, the required properties (affine invariance, monotone in η, convergence
under refinement, ≈ 0 for noise, ≈ 1 for smooth signals), streaming, inputs, files, CLI, errors."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from contlaws import task_continuity as tcm
from contlaws.io import save_npz
from contlaws.task_continuity import (
    METRICS,
    FirstDifference,
    TaskContinuityAccumulator,
    refinement_noise_level,
    score_dataset,
    task_continuity,
)


# ---------------------------------------------------------------------------------------------
# Independent references: one sequence at a time, with loops and np.interp
# ---------------------------------------------------------------------------------------------
def kept_samples(length: int, stride: int) -> np.ndarray:
    return np.unique(np.r_[np.arange(0, length, stride), length - 1])


def reference_residual(x: np.ndarray, stride: int) -> float:
    """r_s of one (L,) or (L, d) sequence via np.interp of the kept samples, channel by channel."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    t = np.arange(len(x))
    kept = kept_samples(len(x), stride)
    interp = np.stack([np.interp(t, kept, x[kept, c]) for c in range(x.shape[1])], axis=1)
    return float(((x - interp) ** 2).sum() / ((x - x.mean(0)) ** 2).sum())


def reference_first_difference(x: np.ndarray, lag: int) -> float:
    """E‖x_{t+s} − x_t‖² / (2 Var x) of one sequence, by a loop over t."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    sq = [float(((x[t + lag] - x[t]) ** 2).sum()) for t in range(len(x) - lag)]
    var = ((x - x.mean(0)) ** 2).sum() / (len(x) - 1)
    return float(np.mean(sq) / (2 * var))


def interpolation_matrix(length: int, stride: int) -> np.ndarray:
    """P_s with I_s(x) = P_s x, built column by column from np.interp of unit vectors."""
    t = np.arange(length)
    kept = kept_samples(length, stride)
    return np.stack([np.interp(t, kept, np.eye(length)[kept, j]) for j in range(length)], axis=1)


def smooth_signals(n: int, length: int, channels: int, cycles: int, seed: int = 0) -> np.ndarray:
    """Random sums of sinusoids of 1..cycles cycles per window: (n, length, channels)."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / length
    amp = rng.standard_normal((n, 1, channels, cycles))
    phase = rng.uniform(0, 2 * np.pi, (n, 1, channels, cycles))
    freq = np.arange(1, cycles + 1)
    return (amp * np.sin(2 * np.pi * freq * t[None, :, None, None] + phase)).sum(-1)


# ---------------------------------------------------------------------------------------------
# Kernels and closed forms
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("length", [3, 4, 5, 16, 17, 33, 64])
@pytest.mark.parametrize("stride", [2, 3, 4, 7, 16, 40])
def test_refinement_residual_matches_np_interp(length, stride):
    x = np.random.default_rng(length * 100 + stride).standard_normal((4, length, 3))
    res = task_continuity(x, strides=(stride,), normalize=False, standardize="none")
    want = np.mean([1 - reference_residual(xi, stride) for xi in x])
    np.testing.assert_allclose(res.curve[stride], want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.residual[stride], 1 - want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("lag", [2, 3, 16])
def test_first_difference_matches_loop(lag):
    x = np.random.default_rng(lag).standard_normal((5, 37, 2)).cumsum(1)
    res = task_continuity(x, metric="first_difference", strides=(lag,), standardize="none")
    np.testing.assert_allclose(res.curve[lag], np.mean([1 - reference_first_difference(xi, lag) for xi in x]), rtol=1e-10)
    np.testing.assert_allclose(res.score, np.mean([1 - reference_first_difference(xi, 1) for xi in x]), rtol=1e-10)


@pytest.mark.parametrize("length", [3, 10, 33, 64])
@pytest.mark.parametrize("stride", [2, 3, 8])
def test_noise_level_equals_trace_of_explicit_interpolation_matrix(length, stride):
    residual_map = np.eye(length) - interpolation_matrix(length, stride)
    want = np.sum(residual_map**2) / (length - 1)
    np.testing.assert_allclose(refinement_noise_level(np.array([length]), stride)[0], want, rtol=1e-12)


def test_iid_gaussian_noise_matches_exact_expectation_and_scores_zero():
    # Stride 2, L = 64: 31 interior points × 1.5 σ² over (L − 1) σ², so E[r_2] = 46.5/63 ≈ 0.738,
    # not 0.75: the last sample is kept, and the denominator has L − 1 degrees of freedom.
    rng = np.random.default_rng(0)
    for length in (64, 61):
        x = rng.standard_normal((4000, length, 2))
        raw = task_continuity(x, strides=(2, 8), normalize=False)
        expected = refinement_noise_level(np.array([length]), 2)[0]
        assert abs((1 - raw.score) - expected) < 4 * raw.stderr
        res = task_continuity(x, strides=(2, 8))
        assert abs(res.score) < 4 * res.stderr and abs(res.score) < 0.02
        assert abs(res.curve[8]) < 0.02
        fd = task_continuity(x, metric="first_difference", strides=(4,))
        assert abs(fd.score) < 4 * fd.stderr and abs(fd.curve[4]) < 0.02
    np.testing.assert_allclose(refinement_noise_level(np.array([64]), 2), 46.5 / 63)


def test_iid_non_gaussian_noise_and_iid_tokens_score_near_zero():
    rng = np.random.default_rng(1)
    assert abs(task_continuity(rng.uniform(size=(2000, 256))).score) < 0.02
    assert abs(task_continuity(rng.integers(0, 7, (2000, 256)), input_kind="tokens").score) < 0.02


def test_band_limited_signals_score_near_one():
    x = smooth_signals(50, 1024, 3, cycles=32)
    assert task_continuity(x).score > 0.99
    assert task_continuity(x, metric="first_difference").score > 0.99


def test_piecewise_constant_symbol_streams_lie_in_between_and_order_by_run_length():
    rng = np.random.default_rng(2)
    scores = []
    for run in (2, 8, 32):
        symbols = np.repeat(rng.integers(0, 16, (500, 1024 // run)), run, axis=1)
        scores.append(task_continuity(symbols, input_kind="tokens").score)
    assert 0.05 < scores[0] < scores[1] < scores[2] < 0.999


# ---------------------------------------------------------------------------------------------
# Required properties
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("metric", sorted(METRICS))
def test_invariant_to_affine_rescaling_and_channel_rotation(metric):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 50, 4)).cumsum(1)
    base = task_continuity(x, metric=metric, standardize="none")
    scale, offset = -3.7, rng.normal(size=4) * 1e3  # scalar scale, per-channel offset
    rotation = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    for y in (scale * x + offset, x @ rotation):  # rotations mix channels: only without standardization
        other = task_continuity(y, metric=metric, standardize="none")
        np.testing.assert_allclose(other.score, base.score, rtol=1e-9)
        np.testing.assert_allclose(list(other.curve.values()), list(base.curve.values()), rtol=1e-9)
    tokens = rng.integers(0, 9, (30, 60))
    relabeled = rng.permutation(9)[tokens]  # renaming symbols changes nothing
    np.testing.assert_allclose(
        task_continuity(relabeled, input_kind="tokens", metric=metric).score,
        task_continuity(tokens, input_kind="tokens", metric=metric).score,
        rtol=1e-12,
    )


def test_strictly_decreasing_in_eta_on_the_forecasting_family():
    from contlaws.config import load_config
    from contlaws.data.forecasting import forecast_observations, make_forecasting_split

    cfg = load_config("config/quick.yaml", overrides={"forecasting": {"n_train": 16}})
    for system in ("vdp", "dho", "duffing", "ou"):
        scores = {name: [] for name in METRICS}
        for eta in (0.0, 0.25, 0.5, 0.75, 1.0):
            arrays, _ = make_forecasting_split(cfg, system, eta, "train")
            inputs, _ = forecast_observations(arrays)  # (n L 16)
            for name in METRICS:
                scores[name].append(task_continuity(inputs, metric=name).score)
        for name, values in scores.items():
            assert np.all(np.diff(values) < 0), (system, name, values)


def test_converges_when_the_same_continuous_data_is_refined():
    # One window sampled with 16, 32, …, 256 steps. For a smooth signal r_2 ∝ h⁴, so 1 − TC_2 drops
    # about 16× per halving (TC_2 → 1, the true value of a smooth signal at vanishing step); TC at a
    # fixed physical span (stride 2^(k+1) on the k-th grid) converges to a value inside (0, 1).
    x_of = {n: smooth_signals(200, n, 1, cycles=4, seed=4) for n in (16, 32, 64, 128, 256)}
    lengths = sorted(x_of)
    results = [task_continuity(x_of[n], strides=(2, 4, 8, 16, 32)) for n in lengths]
    gaps = np.array([1 - r.score for r in results])
    assert np.all(gaps > 0)
    ratios = gaps[:-1] / gaps[1:]
    assert np.all(ratios > 10) and abs(ratios[-1] - 16) < 1  # fourth order: 2⁴ per halving
    span = np.array([r.curve[2 ** (k + 1)] for k, r in enumerate(results)])
    steps = np.abs(np.diff(span))
    assert np.all(steps[1:] < steps[:-1])  # successive differences shrink
    assert 0.3 < span[-1] < 0.95 and steps[-1] < 0.005
    # White noise is not a continuous-time signal: fresh samples at every resolution keep TC ≈ 0.
    rng = np.random.default_rng(5)
    assert all(abs(task_continuity(rng.standard_normal((500, n))).score) < 0.03 for n in lengths)


def test_streaming_equals_one_shot():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((103, 70, 2)).cumsum(1)
    lengths = rng.integers(0, 71, size=103)
    one = task_continuity(x, lengths=lengths, strides=(2, 3, 16))
    acc = TaskContinuityAccumulator(strides=(2, 3, 16))
    cuts = [0, 1, 17, 18, 60, 103]
    for lo, hi in itertools.pairwise(cuts):
        acc.update(x[lo:hi], lengths[lo:hi])
    acc.update(x[:0])  # empty batches are no-ops
    streamed = acc.result()
    np.testing.assert_allclose(streamed.score, one.score, rtol=1e-12)
    np.testing.assert_allclose(streamed.stderr, one.stderr, rtol=1e-9)
    assert streamed.curve == pytest.approx(one.curve, rel=1e-12)
    assert (streamed.n_sequences, streamed.n_excluded) == (one.n_sequences, one.n_excluded)


# ---------------------------------------------------------------------------------------------
# Channel standardization
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("metric", sorted(METRICS))
def test_rescaling_one_channel_does_not_change_tc(metric):
    rng = np.random.default_rng(31)
    smooth = smooth_signals(30, 64, 1, cycles=2, seed=31)  # (30 64 1) nearly 1
    noise = rng.standard_normal((30, 64, 1))  # (30 64 1) about 0
    x = np.concatenate([smooth, noise], axis=2)  # (30 64 2)
    base = task_continuity(x, metric=metric)
    for scale in ((1000.0, 1.0), (1.0, 1000.0), (1e-3, 7.0)):
        other = task_continuity(x * np.array(scale), metric=metric)
        np.testing.assert_allclose(other.score, base.score, rtol=1e-9)
        np.testing.assert_allclose(list(other.curve.values()), list(base.curve.values()), rtol=1e-9)
    # Without standardization the loud channel dominates: the failure the default prevents.
    loud_smooth = task_continuity(x * np.array((1000.0, 1.0)), metric=metric, standardize="none").score
    loud_noise = task_continuity(x * np.array((1.0, 1000.0)), metric=metric, standardize="none").score
    assert loud_smooth > 0.9 and abs(loud_noise) < 0.1
    assert loud_noise + 0.2 < base.score < loud_smooth - 0.2  # both channels count


def test_standardization_equals_scoring_channels_divided_by_their_pooled_std():
    rng = np.random.default_rng(32)
    x = rng.standard_normal((25, 40, 3)).cumsum(1) * np.array([1.0, 50.0, 0.01])  # (25 40 3)
    centered = x - x.mean(1, keepdims=True)
    sigma = np.sqrt((centered**2).sum((0, 1)) / (25 * 39))  # pooled within-sequence std per channel
    want = task_continuity(x / sigma, standardize="none")
    got = task_continuity(x)
    np.testing.assert_allclose(got.score, want.score, rtol=1e-10)
    streamed = TaskContinuityAccumulator("refinement", (2, 4, 8, 16))
    for lo in range(0, 25, 4):  # the weights use the whole dataset, not each batch
        streamed.update(x[lo : lo + 4])
    np.testing.assert_allclose(streamed.result().score, want.score, rtol=1e-10)


def test_single_channel_and_tokens_are_unchanged_by_standardization():
    rng = np.random.default_rng(33)
    x = rng.standard_normal((10, 30)).cumsum(1)
    assert task_continuity(x).score == pytest.approx(task_continuity(x, standardize="none").score, rel=1e-12)
    tokens = rng.integers(0, 4, (10, 30))
    a = task_continuity(tokens, input_kind="tokens")
    assert a.score == pytest.approx(task_continuity(tokens, input_kind="tokens", standardize="none").score, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Inputs: variable lengths, tokens, images, constants
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("metric", sorted(METRICS))
def test_variable_lengths_list_padded_and_per_sequence_agree(metric):
    rng = np.random.default_rng(7)
    seqs = [rng.standard_normal((n, 3)).cumsum(0) for n in (40, 3, 17, 33, 21, 9)]
    as_list = task_continuity(seqs, metric=metric, strides=(2, 4, 5), standardize="none")
    padded = np.full((6, 40, 3), 1e6)  # garbage padding must not matter
    for i, s in enumerate(seqs):
        padded[i, : len(s)] = s
    lengths = np.array([len(s) for s in seqs])
    as_padded = task_continuity(padded, lengths=lengths, metric=metric, strides=(2, 4, 5), standardize="none")
    one_by_one = [task_continuity(s[None], metric=metric, strides=(2, 4, 5), standardize="none") for s in seqs]
    for res in (as_list, as_padded):
        np.testing.assert_allclose(res.score, np.mean([r.score for r in one_by_one]), rtol=1e-10)
        for s in (2, 4, 5):
            defined = [r.curve[s] for r in one_by_one if r.curve_counts[s]]
            np.testing.assert_allclose(res.curve[s], np.mean(defined), rtol=1e-10)
            assert res.curve_counts[s] == len(defined)


@pytest.mark.parametrize("metric", sorted(METRICS))
def test_onehot_tokens_closed_form_equals_explicit_onehot_and_orthogonal_embedding(metric):
    rng = np.random.default_rng(8)
    vocab = 6
    tokens = rng.integers(0, vocab, (60, 41))
    tokens[:10] = np.repeat(rng.integers(0, vocab, (10, 6)), 7, axis=1)[:, :41]  # long runs
    lengths = rng.integers(2, 42, size=60)
    strides = (2, 3, 8)
    closed = task_continuity(tokens, lengths=lengths, input_kind="tokens", vocab_size=vocab, metric=metric, strides=strides)
    explicit = task_continuity(np.eye(vocab)[tokens], lengths=lengths, metric=metric, strides=strides, standardize="none")
    rotation = np.linalg.qr(rng.standard_normal((vocab, vocab)))[0]
    embedded = task_continuity(tokens, lengths=lengths, input_kind="tokens", embedding=rotation, metric=metric, strides=strides)
    for other in (explicit, embedded):
        np.testing.assert_allclose(closed.score, other.score, rtol=1e-10)
        assert closed.curve == pytest.approx(other.curve, rel=1e-10)
        assert closed.n_constant == other.n_constant


def test_general_embedding_equals_continuous_on_embedded_values():
    rng = np.random.default_rng(9)
    tokens = rng.integers(0, 5, (20, 30))
    matrix = rng.standard_normal((5, 3))
    got = task_continuity(tokens, input_kind="tokens", embedding=matrix)
    np.testing.assert_allclose(got.score, task_continuity(matrix[tokens], standardize="none").score, rtol=1e-12)


def test_images_are_scanned_row_by_row():
    rng = np.random.default_rng(10)
    gray, color = rng.uniform(size=(8, 6, 5)), rng.uniform(size=(8, 6, 5, 3))
    np.testing.assert_allclose(
        task_continuity(gray, input_kind="image").score, task_continuity(gray.reshape(8, 30)).score, rtol=1e-12
    )
    np.testing.assert_allclose(
        task_continuity(color, input_kind="image").score, task_continuity(color.reshape(8, 30, 3)).score, rtol=1e-12
    )


def test_constant_sequences_are_excluded_and_counted():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((10, 32)).cumsum(1)
    with_constants = np.concatenate([x, np.full((3, 32), 7.5), np.full((1, 32), 1e9)])
    res = task_continuity(with_constants)
    assert res.n_constant == 4 and res.n_excluded == 4 and res.n_sequences == 10
    np.testing.assert_allclose(res.score, task_continuity(x).score, rtol=1e-12)
    tokens = np.concatenate([rng.integers(0, 3, (5, 20)), np.full((2, 20), 4)])
    tok = task_continuity(tokens, input_kind="tokens")
    assert (tok.n_constant, tok.n_sequences) == (2, 5)
    # A large offset with a small signal is not mistaken for a constant (the first sample is subtracted in float64).
    tiny = task_continuity(1e8 + 1e-3 * x)
    assert tiny.n_constant == 0
    np.testing.assert_allclose(tiny.score, task_continuity(x).score, rtol=1e-6)
    all_constant = task_continuity(np.ones((3, 10)))
    assert np.isnan(all_constant.score) and all_constant.n_sequences == 0 and all_constant.n_excluded == 3


def test_short_sequences_count_as_excluded():
    res = task_continuity([np.arange(2.0), np.arange(5.0) ** 2])  # L = 2 has no interior point
    assert (res.n_sequences, res.n_excluded, res.n_constant) == (1, 1, 0)
    fd = task_continuity([np.arange(2.0), np.arange(5.0) ** 2], metric="first_difference")
    assert fd.n_sequences == 2


def test_a_third_metric_plugs_in_through_the_registry(monkeypatch):
    class LagTwo(FirstDifference):
        name = "lag_two"
        score_stride = 2

    monkeypatch.setitem(METRICS, "lag_two", LagTwo())
    x = np.random.default_rng(12).standard_normal((10, 40)).cumsum(1)
    got = task_continuity(x, metric="lag_two", strides=(3,))
    assert got.metric == "lag_two"
    np.testing.assert_allclose(got.score, task_continuity(x, metric="first_difference", strides=(2,)).curve[2], rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, data, message",
    [
        ({"metric": "entropy"}, np.zeros((2, 5)), "unknown task-continuity metric 'entropy'"),
        ({"strides": (1,)}, np.zeros((2, 5)), "strides must be integers >= 2"),
        ({"strides": (2.5,)}, np.zeros((2, 5)), "strides must be integers >= 2"),
        ({"strides": ()}, np.zeros((2, 5)), "must not be empty"),
        ({"input_kind": "audio"}, np.zeros((2, 5)), "input_kind must be one of"),
        ({"input_kind": "tokens"}, np.zeros((2, 5)), "integer ids"),
        ({"input_kind": "tokens"}, -np.ones((2, 5), dtype=int), "token ids must be >= 0"),
        ({"input_kind": "tokens", "vocab_size": 3}, np.full((2, 5), 3), "out of range for vocab_size=3"),
        ({"lengths": np.array([5, 6])}, np.zeros((2, 5)), "lengths must lie in [0, 5]"),
        ({"lengths": np.array([5])}, np.zeros((2, 5)), "lengths must be (2,)"),
        ({}, np.zeros((2, 5, 3, 2)), "continuous input must be (N, L) or (N, L, d)"),
        ({"embedding": np.eye(3)}, np.zeros((2, 5)), "only applies to input_kind='tokens'"),
        ({}, np.array([[0.0, 1.0, np.nan, 2.0]] * 3), "sequence 0 contains NaN"),
    ],
)
def test_clear_errors(kwargs, data, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        task_continuity(data, **kwargs)


# ---------------------------------------------------------------------------------------------
# Files, datasets and the CLI
# ---------------------------------------------------------------------------------------------
def test_npy_and_npz_files_stream_and_match_in_memory(tmp_path):
    rng = np.random.default_rng(13)
    x = rng.standard_normal((300, 64, 2)).astype(np.float32).cumsum(1)
    want = task_continuity(x)
    np.save(tmp_path / "a.npy", x)
    np.savez(tmp_path / "b.npz", inputs=x)
    np.savez_compressed(tmp_path / "c.npz", inputs=x)
    assert isinstance(tcm.open_array(tmp_path / "a.npy"), np.memmap)
    assert isinstance(tcm.open_array(tmp_path / "b.npz", "inputs"), np.memmap)  # stored members are memory-mapped
    for name, key in (("a.npy", "x"), ("b.npz", "inputs"), ("c.npz", "inputs")):
        got = score_dataset(tmp_path / name, key=key, batch_size=37)
        np.testing.assert_allclose(got.score, want.score, rtol=1e-12)
    head = score_dataset(tmp_path / "a.npy", max_sequences=50)
    np.testing.assert_allclose(head.score, task_continuity(x[:50]).score, rtol=1e-12)


def test_contlaws_dataset_files(tmp_path):
    from contlaws.config import load_config
    from contlaws.data.forecasting import forecast_observations, make_forecasting_split

    cfg = load_config("config/quick.yaml", overrides={"forecasting": {"n_train": 12}})
    arrays, meta = make_forecasting_split(cfg, "dho", 0.5, "train")
    save_npz(tmp_path / "fc.npz", arrays, meta)
    got = score_dataset(tmp_path / "fc.npz", batch_size=5)
    np.testing.assert_allclose(got.score, task_continuity(forecast_observations(arrays)[0]).score, rtol=1e-10)

    # A token benchmark file with padding and side-by-side document pairs (lengths (N, 2)).
    rng = np.random.default_rng(14)
    tokens = np.zeros((8, 40), dtype=np.int64)
    pair_lengths = rng.integers(3, 21, size=(8, 2))
    for i, (a, b) in enumerate(pair_lengths):
        tokens[i, :a] = np.repeat(rng.integers(1, 9, 20), 2)[:a]
        tokens[i, 20 : 20 + b] = rng.integers(1, 9, b)
    meta = {"kind": "classification", "n_classes": 2, "vocab_size": 9, "input_kind": "tokens"}
    save_npz(tmp_path / "tok.npz", {"x": tokens, "y": np.zeros(8, dtype=np.int64), "lengths": pair_lengths}, meta)
    got = score_dataset(tmp_path / "tok.npz")
    halves = [tokens[i, 20 * j : 20 * j + pair_lengths[i, j]] for i in range(8) for j in range(2)]
    want = task_continuity(halves, input_kind="tokens")
    np.testing.assert_allclose(got.score, want.score, rtol=1e-12)
    assert got.n_sequences + got.n_excluded == 16


def test_cli_summary_and_json(tmp_path, capsys):
    from contlaws.commands import main

    x = smooth_signals(20, 128, 2, cycles=3)
    np.save(tmp_path / "mine.npy", x)
    out = tmp_path / "tc.json"
    assert main(["task-continuity", str(tmp_path / "mine.npy"), "--strides", "2", "8", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "mine.npy" in printed and "TC (stride 2)" in printed
    record = json.loads(out.read_text())
    np.testing.assert_allclose(record["result"]["score"], task_continuity(x, strides=(2, 8)).score, rtol=1e-12)
    assert set(record["result"]["curve"]) == {"2", "8"} and "git_commit" in record["provenance"]
    assert main(["task-continuity", str(tmp_path / "mine.npy"), "--metric", "first_difference"]) == 0
    assert "lag 1" in capsys.readouterr().out
    # --config supplies the defaults (quick.yaml: max_sequences 500, strides 2 4 8 16); flags override.
    np.save(tmp_path / "many.npy", smooth_signals(520, 32, 1, cycles=2))
    assert main(["task-continuity", str(tmp_path / "many.npy"), "--config", "config/quick.yaml", "--json", str(out)]) == 0
    result = json.loads(out.read_text())["result"]
    assert result["n_sequences"] == 500 and set(result["curve"]) == {"2", "4", "8", "16"}
    assert main(["task-continuity", str(tmp_path / "many.npy"), "--config", "config/quick.yaml", "--max-sequences", "0", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["result"]["n_sequences"] == 520


def test_cli_errors_name_the_file_and_key(tmp_path, capsys):
    from contlaws.commands import main

    assert main(["task-continuity", str(tmp_path / "missing.npy")]) == 2
    assert "missing.npy: file not found" in capsys.readouterr().err
    np.savez(tmp_path / "arrs.npz", a=np.zeros((2, 8)), b=np.zeros(3))
    assert main(["task-continuity", str(tmp_path / "arrs.npz"), "--key", "x"]) == 2
    err = capsys.readouterr().err
    assert "arrs.npz: no array named 'x'" in err and "a, b" in err
    assert main(["task-continuity", str(tmp_path / "arrs.npz"), "--key", "b"]) == 2
    assert "'b' has shape (3,)" in capsys.readouterr().err
    np.save(tmp_path / "floats.npy", np.ones((2, 8)))
    assert main(["task-continuity", str(tmp_path / "floats.npy"), "--input-kind", "tokens"]) == 2
    assert "floats.npy" in capsys.readouterr().err
    (tmp_path / "bad.npy").write_bytes(b"not an array")
    assert main(["task-continuity", str(tmp_path / "bad.npy")]) == 2
    assert "bad.npy: not a valid .npy file" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Bad inputs to the CLI: one line naming the file, exit status 2, no output written
# ---------------------------------------------------------------------------------------------
def run_refused(tmp_path, capsys, path, *options) -> str:
    """Run `contlaws task-continuity PATH --json OUT [options]`, assert it refused without writing
    OUT and without a traceback; return the error line."""
    from contlaws.commands import main

    out = tmp_path / "out" / "tc.json"
    assert main(["task-continuity", str(path), "--json", str(out), *options]) == 2
    printed = capsys.readouterr().err
    assert "Traceback" not in printed and "Warning" not in printed
    err = printed.strip().splitlines()[-1]  # (the progress bar, if any, ends in a carriage return)
    assert err.startswith("error: ") and not out.exists() and not out.parent.exists()
    return err


def contlaws_regression_file(path, **replace):
    """A small contlaws regression split (valid checksum) with arrays replaced by ``replace``."""
    rng = np.random.default_rng(20)
    arrays = {"x": rng.standard_normal((6, 16, 1)).astype(np.float32).cumsum(1), "y": rng.standard_normal((6, 2)).astype(np.float32)}
    arrays.update(replace)
    save_npz(path, arrays, {"kind": "regression", "system": "vdp", "tau": 1.0})
    return path


@pytest.mark.parametrize("damage", ["truncated", "empty", "folder"])
def test_cli_unreadable_npz_in_the_pipeline_rule_is_one_line(tmp_path, capsys, damage):
    """The task_continuity rule runs `task-continuity DATA --config … --json OUT` on a dataset file."""
    good = contlaws_regression_file(tmp_path / "good.npz")
    bad = tmp_path / "vdp_tau1_train.npz"
    if damage == "truncated":
        bad.write_bytes(good.read_bytes()[:300])
    elif damage == "empty":
        bad.write_bytes(b"")
    else:
        bad.mkdir()
    err = run_refused(tmp_path, capsys, bad, "--config", "config/quick.yaml")
    want = "is a folder, not a data file" if damage == "folder" else "not a readable .npz archive (empty, truncated or corrupt?"
    assert f"vdp_tau1_train.npz: {want}" in err


def test_cli_truncated_user_npz_is_one_line(tmp_path, capsys):
    np.savez(tmp_path / "mine.npz", x=np.random.default_rng(21).standard_normal((20, 32)))
    data = (tmp_path / "mine.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    assert "cut.npz: not a readable .npz archive" in run_refused(tmp_path, capsys, tmp_path / "cut.npz")


def test_cli_text_file_named_npy_is_not_a_npy_and_pickle_is_never_suggested(tmp_path, capsys):
    (tmp_path / "table.npy").write_text("1,2,3\n4,5,6\n")
    err = run_refused(tmp_path, capsys, tmp_path / "table.npy")
    assert "table.npy: not a valid .npy file (no readable NumPy header" in err
    assert "pickle" not in err and "unsafely" not in err
    np.save(tmp_path / "objects.npy", np.array([[{"a": 1}, 2]], dtype=object), allow_pickle=True)
    err = run_refused(tmp_path, capsys, tmp_path / "objects.npy")
    assert "objects.npy: the array holds Python objects" in err and "pickle" not in err


def test_cli_empty_array_is_refused_not_nan(tmp_path, capsys):
    np.save(tmp_path / "none.npy", np.zeros((0, 50)))
    assert "none.npy (array 'x'): no sequences to score (array of shape (0, 50))" in run_refused(tmp_path, capsys, tmp_path / "none.npy")
    np.save(tmp_path / "blank.npy", np.zeros((4, 0)))
    assert "blank.npy (array 'x'): every sequence is empty (length 0)" in run_refused(tmp_path, capsys, tmp_path / "blank.npy")


@pytest.mark.parametrize("metric, unit", [("refinement", "stride"), ("first_difference", "lag")])
def test_cli_strides_not_below_the_sequence_length_are_refused(tmp_path, capsys, metric, unit):
    np.save(tmp_path / "short.npy", smooth_signals(5, 20, 1, cycles=2))
    err = run_refused(tmp_path, capsys, tmp_path / "short.npy", "--metric", metric, "--strides", "2", "20", "500")
    assert f"short.npy (array 'x'): {unit}s 20, 500 are not below the sequence length L = 20" in err
    from contlaws.commands import main

    assert main(["task-continuity", str(tmp_path / "short.npy"), "--metric", metric, "--strides", "2", "19"]) == 0


def test_cli_huge_values_are_not_reported_as_nan(tmp_path, capsys):
    huge = smooth_signals(3, 32, 1, cycles=2) * 1e300
    np.save(tmp_path / "huge.npy", huge)
    err = run_refused(tmp_path, capsys, tmp_path / "huge.npy")
    assert "huge.npy (array 'x'): sequence 0 has values too large to score (largest magnitude" in err
    assert "NaN" not in err
    huge[1, 5] = np.nan  # a real NaN is still called one (sequence 0 is fine at a smaller scale)
    huge[0] /= 1e300
    np.save(tmp_path / "nan.npy", huge)
    assert "nan.npy (array 'x'): sequence 1 contains NaN or infinite values" in run_refused(tmp_path, capsys, tmp_path / "nan.npy")


def test_cli_contlaws_dataset_with_nan_is_refused_at_load_naming_file_and_array(tmp_path, capsys):
    x = np.random.default_rng(22).standard_normal((6, 16, 1)).astype(np.float32)
    x[4, 3, 0] = np.nan
    path = contlaws_regression_file(tmp_path / "vdp_tau1_train.npz", x=x)
    err = run_refused(tmp_path, capsys, path, "--config", "config/quick.yaml")
    assert "vdp_tau1_train.npz: regression array 'x' holds NaN or infinite values (1 of 6 rows, the first at row 4)" in err


def test_cli_refuses_json_over_its_input(tmp_path, capsys, monkeypatch):
    import os

    from contlaws.commands import main
    from contlaws.config import REPO_ROOT, load_config

    monkeypatch.chdir(tmp_path)
    np.save("x.npy", smooth_signals(4, 32, 1, cycles=2))
    before = (tmp_path / "x.npy").read_bytes()
    os.link("x.npy", "hard.npy")
    for output in ("x.npy", "./sub/../x.npy", "hard.npy"):
        assert main(["task-continuity", "x.npy", "--json", output]) == 2
        assert "--json is the input x.npy; writing it would destroy the input" in capsys.readouterr().err
    config = tmp_path / "c.json"
    config.write_text(json.dumps(load_config(REPO_ROOT / "config" / "quick.yaml")))
    config_bytes = config.read_bytes()
    assert main(["task-continuity", "x.npy", "--config", str(config), "--json", str(config)]) == 2
    assert "--json is the input" in capsys.readouterr().err
    assert (tmp_path / "x.npy").read_bytes() == before and config.read_bytes() == config_bytes


def test_cli_read_only_output_folder_is_one_line(tmp_path, capsys, monkeypatch):
    import errno
    import os
    import tempfile

    from contlaws.commands import main

    np.save(tmp_path / "x.npy", smooth_signals(4, 32, 1, cycles=2))
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        probe = folder / "probe"
        try:
            probe.write_text("")
            probe.unlink()  # root: modes do not stop writes, so the OS refusal is simulated
            monkeypatch.setattr(tempfile, "mkstemp", lambda *a, **k: (_ for _ in ()).throw(
                OSError(errno.EROFS, os.strerror(errno.EROFS), str(folder))))
            reason = os.strerror(errno.EROFS)
        except PermissionError:
            reason = os.strerror(errno.EACCES)
        assert main(["task-continuity", str(tmp_path / "x.npy"), "--json", str(folder / "tc.json")]) == 2
        assert f"ro/tc.json: cannot write the output file: {reason}" in capsys.readouterr().err
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)
