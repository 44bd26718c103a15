"""E3: test error against the continuity level η of the forecasting data (paper Figure 5, left).

Every model of ``eta_performance.models`` is trained by the engine (``contlaws train --experiment
eta_performance``) on each system's η-mixed forecasting set, selected on its validation split, and
tested here on the test split of the same (system, η):

    obs_t = (1 − η)·cont_t + η·disc_t     input obs[0:L], target obs[L : L + horizon]
    test_rmse = sqrt(mean (ŷ − y)²)       pooled over the N test samples × horizon·D outputs
    test_mae  = mean |ŷ − y|              the same pool

Readout (``eta_performance.readout``, see :func:`readout_setup`):

* ``causal`` (default): every layer causal, the decoder at every position; the output at position t
  forecasts obs[t+1 : t+1+horizon]; training and validation losses are the MSE over every position
  (targets obs[1 : L+horizon]); the test forecast ŷ is the output at the last position L−1, i.e. the
  forecast of obs[L : L+horizon] from the whole input window, the same forecast the trivial ones make.
* ``mean_pool`` (the authors'): mean over time, then the decoder; the Transformer has no mask and
  no positions (order-blind). Trained and tested on obs[L : L+horizon] only.

Learning gate: ``gate_rmse`` is the last-value RMSE on the same test split. Per test sample i, with
e_i the model's and b_i the last value's squared error (mean over the horizon·D outputs),
d_i = e_i − b_i, and ``gate_z`` = mean(d) / (std(d)/√N) is the paired z of the difference. A model
``learned`` when test_rmse ≤ gate_rmse·(1 + ``gates.e3_margin``) **and** gate_z ≤ −``gates.e3_se``
(default 2): its error is below the last value's by more than two paired standard errors, so a tie
that noise tipped one way is not counted (where the symbol stream rarely changes, the last value is
wrong on a few percent of test samples and the RMSE comparison alone is a coin flip). A model
identical to the last value (d ≡ 0) has gate_z NaN and did not learn. A row that did not learn
carries no evidence about η.

Best trivial forecast: per test split, ``best_trivial`` names whichever of the three reference
forecasts below has the lowest test RMSE (ties: the first in :data:`BASELINES` order), with its
``best_trivial_rmse``, the paired ``best_trivial_z`` against it and ``beats_best_trivial`` (the same
rule: test_rmse ≤ its RMSE·(1 + margin) and z ≤ −e3_se). ``gates.e3_reference`` chooses the gate's
reference: ``last_value`` (default) or ``best_trivial`` (a robustness variant: ``learned`` is then
``beats_best_trivial``); ``gate_reference``, ``gate_rmse`` and ``gate_z`` describe the one used.

Training budget: ``epochs_used`` and ``stop_reason`` (``early_stop`` or ``epoch_cap``) come from the
run's ``summary.json`` (:mod:`contlaws.early_stopping`).

Code names -> symbols: ``eta`` η (0 continuous, 1 a piecewise-constant symbol stream), ``n`` N.

A model that cannot run on this machine (CUDA-only baselines on a CPU) has a ``summary.json`` with
``status: "not run"`` and a ``reason`` written by the engine; it becomes a row with that status and
reason and empty metrics, never a silent gap. A CUDA-only model whose package the workflow found
absent is not trained at all (``--not-run``, :func:`untrained_rows`): its rows say "not run" with
the reason :func:`contlaws.models.registry.availability` gives. Rows (one per system, η, model, seed):

    system, eta, model, seed, status, reason, test_rmse, test_mae, n, gate_rmse, gate_z, learned,
    gate_reference, best_trivial, best_trivial_rmse, best_trivial_z, beats_best_trivial, epochs_used,
    stop_reason

Three reference forecasts that need no training put the numbers in scale (``baselines.csv``,
columns :data:`BASELINE_COLUMNS`): ``last_value`` predicts ŷ_{L+k} = obs_{L−1} (persistence),
``linear_extrapolation`` ŷ_{L+k} = obs_{L−1} + (k+1)·(obs_{L−1} − obs_{L−2}) (for horizon 1:
2·obs_{L−1} − obs_{L−2}), and ``window_mean`` the mean of the input window, the forecast of a
mean-pooled model that has learned nothing about the order of its inputs.

``contlaws eta-performance-evaluate`` tests every run trained on one (system, η) split and writes its rows (and
the reference forecasts); ``contlaws eta-performance-gather`` concatenates them into
``results/<run>/eta_performance/results.csv`` (and ``baselines.csv``). In the workflow the evaluation and
the gate are two steps: ``eta_evaluate`` writes ``scores.npz`` (the rows before the gate and every per-sample
squared error, float64; :func:`write_scores`), ``eta_gate`` (``contlaws eta-performance-gate``,
:func:`gate_split`) applies ``gates.e3_*`` to it and writes ``test.csv``, the same bytes as a full
evaluation under that config. A change of the gate then costs about a second per split, not a model run.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from contlaws.early_stopping import STOP_CAP
from contlaws.errors import DataFileError, UserError
from contlaws.experiments.eta_gates import (  # noqa: F401  (re-exported: the gates are part of E3's interface)
    BASELINES,
    GATE_BASELINE,
    GATE_REFERENCES,
    best_trivial,
    gate_columns,
    last_value_errors,
    learned_gate,
    trivial_errors,
    trivial_forecasts,
)
from contlaws.io import as_flags, load_npz, provenance, read_json, read_npz_meta, save_npz, write_table
from contlaws.stats import paired_z  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)

COLUMNS = ["system", "eta", "model", "seed", "status", "reason", "test_rmse", "test_mae", "n", "gate_rmse", "gate_z",
           "learned", "gate_reference", "best_trivial", "best_trivial_rmse", "best_trivial_z", "beats_best_trivial",
           "epochs_used", "stop_reason"]  # fmt: skip
BASELINE_COLUMNS = ["system", "eta", "baseline", "test_rmse", "test_mae", "n"]
READOUTS = ("causal", "mean_pool")
STATUS_OK = "ok"
STATUS_NOT_RUN = "not run"


def experiment_config(cfg: Mapping[str, Any]) -> dict:
    """The config an E3 training runs with: ``eta_performance.model`` and ``eta_performance.train``
    (optional) merged over the shared ``model`` and ``train`` sections, so E3 can be tuned without
    changing E2 or E5."""
    out = copy.deepcopy(dict(cfg))
    exp = cfg["eta_performance"]
    for section in ("model", "train"):
        out[section] = {**out[section], **copy.deepcopy(exp.get(section, {}))}
    return out


def readout_setup(cfg: Mapping[str, Any], train_ds, val_ds) -> tuple[dict, Any, Any, dict]:
    """Config, datasets and ``build_model`` options of an E3 training (``contlaws train --experiment
    eta_performance``).

    Returns ``(cfg, train_ds, val_ds, options)``: the config with :func:`experiment_config`'s
    overrides; for ``eta_performance.readout`` "causal" both splits switch to per-position targets
    (``with_targets("every_position")``, so the engine's MSE and validation RMSE run over every
    position) and the model is built with ``causal=True`` (and ``increment`` when
    ``eta_performance.increment``); "mean_pool" keeps the datasets (target obs[L:L+horizon]).
    """
    cfg = experiment_config(cfg)
    readout = cfg["eta_performance"]["readout"]
    if readout not in READOUTS:
        raise ValueError(f"key 'eta_performance.readout' = {readout!r}: must be one of {READOUTS}")
    if readout == "mean_pool":
        return cfg, train_ds, val_ds, {}
    for ds in (train_ds, val_ds):
        if not hasattr(ds, "with_targets"):
            raise DataFileError(
                f"{ds.path}: eta_performance.readout 'causal' needs a forecasting split, got {type(ds).__name__}"
            )
    options = {"causal": True}
    if cfg["eta_performance"]["increment"]:
        options["increment"] = True
    return cfg, train_ds.with_targets("every_position"), val_ds.with_targets("every_position"), options


def last_position_forecast(model):
    """A causal forecaster seen as a last-window forecaster: output (B, L, d_output) -> (B, d_output)
    at position L−1 (the forecast of obs[L : L+horizon] from the whole input window)."""
    import torch

    class LastPositionForecast(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module):
            super().__init__()
            self.model = inner
            self.build_kwargs = getattr(inner, "build_kwargs", {})  # evaluation batch sizing reads d_model here

        def forward(self, x: torch.Tensor, tau: float = 1.0, stride: int = 1) -> torch.Tensor:
            return self.model(x, tau=tau, stride=stride)[:, -1]  # (B d_output)

    return LastPositionForecast(model)


def run_labels(summary: Mapping[str, Any], path: Path) -> tuple[str, int]:
    """(model, seed) of a training run, from the engine's ``summary.json``."""
    try:
        return str(summary["model_name"]), int(summary["provenance"]["seed"])
    except (KeyError, TypeError, ValueError):
        raise DataFileError(f"{path}: not a training summary of `contlaws train` (no model_name / provenance.seed)") from None


def not_run_row(system: str, eta: float, model: str, seed: int, reason: str) -> dict[str, Any]:
    """A results row for a model that was not trained or cannot be tested here (metrics empty)."""
    return {"system": system, "eta": eta, "model": model, "seed": seed, "status": STATUS_NOT_RUN,
            "reason": reason, "test_rmse": math.nan, "test_mae": math.nan, "n": 0, "gate_rmse": math.nan,
            "gate_z": math.nan, "learned": False, "gate_reference": "", "best_trivial": "",
            "best_trivial_rmse": math.nan, "best_trivial_z": math.nan, "beats_best_trivial": False,
            "epochs_used": math.nan, "stop_reason": ""}  # fmt: skip


def budget_columns(summary: Mapping[str, Any]) -> dict[str, Any]:
    """epochs_used and stop_reason of a finished run (summaries written before early stopping existed
    trained every epoch: their last metrics row)."""
    final_epoch = (summary.get("final") or {}).get("epoch", math.nan)
    return {"epochs_used": summary.get("epochs_used", final_epoch), "stop_reason": summary.get("stop_reason", STOP_CAP)}


def untrained_rows(system: str, eta: float, models: Sequence[str], seeds: Sequence[int]) -> list[dict[str, Any]]:
    """"not run" rows for models the workflow did not train because a package they need was absent
    (``contlaws.gpu_packages``), with the reason the engine would have written (or, if they can run
    here after all, that they were not trained)."""
    from contlaws.models.registry import availability

    rows = []
    for model in models:
        available, reason = availability(model)
        if available:
            reason = "not trained: its packages were not installed where snakemake built the workflow"
        rows.extend(not_run_row(system, eta, model, int(seed), reason) for seed in seeds)
        log.info("%s: not run (%s)", model, reason)
    return rows


def test_split_labels(path: Path) -> tuple[str, float]:
    """(system, η) of a forecasting test split, from its metadata; DataFileError if it is something else."""
    meta = read_npz_meta(path)
    if meta.get("kind") != "forecasting" or meta.get("split") != "test":
        raise DataFileError(f"{path}: expected a forecasting test split, found kind={meta.get('kind')!r} "
                            f"split={meta.get('split')!r}")  # fmt: skip
    return str(meta["system"]), float(meta["eta"])


@dataclass
class SplitScores:
    """What evaluating the runs of one (system, η) test split measured, before any learning gate:
    the rows (:data:`COLUMNS`, gate columns at their not-run defaults) and the per-sample squared
    errors the gates pair (:func:`gate_scores`). Written to ``scores.npz`` by ``eta_evaluate`` so that
    a change of ``gates.*`` re-gates in seconds (``eta_gate``) instead of re-running every model.

    Attributes:
        system, eta: the split's labels.
        rows: one dict per run (ok, or "not run" with its reason).
        model_sq_err: {run key (:func:`run_key`): (N,) float64} for every ok row: the model's
            squared error per test sample (mean over the horizon·D outputs).
        trivial_sq_err: {baseline: (N,) float64} of the reference forecasts; empty when no run was
            tested (the split was never read).
    """

    system: str
    eta: float
    rows: list[dict[str, Any]]
    model_sq_err: dict[str, np.ndarray] = field(default_factory=dict)
    trivial_sq_err: dict[str, np.ndarray] = field(default_factory=dict)


def run_key(model: str, seed: int) -> str:
    """The name of a run's per-sample errors in :class:`SplitScores` and ``scores.npz``."""
    return f"run_{model}_seed{int(seed)}"


def score_runs(run_dirs: Sequence[Path], test_path: Path, *, device: str = "cpu", eval_max_elements: int) -> SplitScores:
    """Test RMSE, MAE and per-sample squared errors of every run folder on one forecasting test split.

    A causal forecaster (checkpoint built with ``causal=True``) is tested on its output at the last
    position (:func:`last_position_forecast`), a mean-pool model on its only output; both against
    obs[L : L+horizon].

    Args:
        run_dirs: output folders of ``contlaws train`` (``summary.json``, and ``best.pt`` when the
            status is ok), all trained on the (system, η) of ``test_path``.
        test_path: the forecasting test split (.npz).
        device: where to evaluate ("cpu", "cuda").
        eval_max_elements: evaluation batch bound (``train.eval_max_elements``).
    Returns:
        :class:`SplitScores` (no gate applied: :func:`gate_scores`).
    """
    from contlaws.data.sets import load_split
    from contlaws.models.registry import ModelUnavailable
    from contlaws.train import evaluate, load_model

    system, eta = test_split_labels(test_path)
    scores = SplitScores(system, eta, [])
    test = targets = None  # loaded on first use: a split whose runs were all "not run" is never read
    for run_dir in run_dirs:
        summary_path = Path(run_dir) / "summary.json"
        summary = read_json(summary_path)
        model_name, seed = run_labels(summary, summary_path)
        status = summary.get("status")
        if status != STATUS_OK:
            reason = str(summary.get("reason") or f"training status {status!r}")
            scores.rows.append(not_run_row(system, eta, model_name, seed, reason))
            log.info("%s seed %d: not run (%s)", model_name, seed, reason)
            continue
        try:
            model, _ = load_model(Path(run_dir) / "best.pt", device=device)
        except ModelUnavailable as err:  # trained elsewhere (a GPU machine), cannot be rebuilt here
            scores.rows.append(not_run_row(system, eta, model_name, seed, f"trained, but cannot be tested here: {err.reason}"))
            continue
        if test is None:
            test = load_split(test_path)
            targets, scores.trivial_sq_err, _ = trivial_errors(test)
        if getattr(model, "readout", "mean_pool") == "causal":
            model = last_position_forecast(model)
        metrics = evaluate(model, test, tau=1.0, device=device, eval_max_elements=eval_max_elements, return_outputs=True)
        scores.model_sq_err[run_key(model_name, seed)] = np.square(
            metrics["outputs"].reshape(len(targets), -1).astype(np.float64) - targets).mean(axis=1)  # (N,)
        scores.rows.append({**not_run_row(system, eta, model_name, seed, ""), "status": STATUS_OK,
                            "test_rmse": metrics["rmse"], "test_mae": metrics["mae"], "n": metrics["n"],
                            **budget_columns(summary)})  # fmt: skip
        log.info("%s seed %d: test rmse %.4g mae %.4g (n %d)", model_name, seed, metrics["rmse"], metrics["mae"],
                 metrics["n"])  # fmt: skip
    return scores


def gate_scores(scores: SplitScores, *, gate_rmse: float | None = None, margin: float = 0.0, gate_se: float = 0.0,
                reference: str = GATE_BASELINE) -> pd.DataFrame:  # fmt: skip
    """The rows of one split with their learning-gate columns (:func:`gate_columns`; module docstring).

    Args:
        scores: :func:`score_runs` (or :func:`read_scores`).
        gate_rmse: the last-value RMSE; None: computed from ``scores.trivial_sq_err`` (the same number
            ``baselines.csv`` holds).
        margin, gate_se, reference: ``gates.e3_margin``, ``gates.e3_se``, ``gates.e3_reference``.
    Returns:
        One row per run with :data:`COLUMNS`; rows that are not ok keep their empty gate columns.
    """
    if gate_rmse is None and scores.trivial_sq_err:
        gate_rmse = float(np.sqrt(np.mean(scores.trivial_sq_err[GATE_BASELINE])))
    rows = []
    for row in scores.rows:
        if row["status"] != STATUS_OK:
            rows.append(row)
            continue
        key = run_key(row["model"], row["seed"])
        if key not in scores.model_sq_err or not scores.trivial_sq_err:
            raise DataFileError(f"{scores.system} eta {scores.eta:g}: no per-sample errors for {key}")
        gates = gate_columns(scores.model_sq_err[key], row["test_rmse"], scores.trivial_sq_err,
                             gate_rmse=math.nan if gate_rmse is None else gate_rmse, margin=margin, se=gate_se,
                             reference=reference)  # fmt: skip
        rows.append({**row, **gates})
        log.info("%s seed %d: %s %.4g, paired z %.2f: %s; best trivial %s %.4g, paired z %.2f: %s", row["model"],
                 row["seed"], gates["gate_reference"], gates["gate_rmse"], gates["gate_z"],
                 "learned" if gates["learned"] else "DID NOT LEARN", gates["best_trivial"], gates["best_trivial_rmse"],
                 gates["best_trivial_z"], "beaten" if gates["beats_best_trivial"] else "not beaten")  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def evaluate_runs(
    run_dirs: Sequence[Path],
    test_path: Path,
    *,
    device: str = "cpu",
    eval_max_elements: int,
    gate_rmse: float = math.nan,
    margin: float = 0.0,
    gate_se: float = 0.0,
    reference: str = GATE_BASELINE,
) -> pd.DataFrame:
    """:func:`score_runs` then :func:`gate_scores`: one row per run with :data:`COLUMNS`.

    ``gate_rmse`` is the last-value RMSE on ``test_path`` (recorded, and the learning gate; NaN: no
    model passes a last-value gate); ``margin``, ``gate_se``, ``reference``: ``gates.e3_margin``,
    ``gates.e3_se`` (paired standard errors by which the model must beat the reference, see
    :func:`paired_z`), ``gates.e3_reference`` (:func:`gate_columns`).
    """
    scores = score_runs(run_dirs, test_path, device=device, eval_max_elements=eval_max_elements)
    return gate_scores(scores, gate_rmse=gate_rmse, margin=margin, gate_se=gate_se, reference=reference)


SCORES_KIND = "eta_scores"
_TRIVIAL_PREFIX = "trivial_"


def write_scores(path: Path, scores: SplitScores, meta: Mapping[str, Any]) -> None:
    """``scores.npz``: the per-sample squared errors (float64, bit-exact) and, in its metadata, the rows
    and ``meta`` (provenance). Written atomically (:func:`contlaws.io.save_npz`)."""
    arrays = {**{f"{_TRIVIAL_PREFIX}{b}": v for b, v in scores.trivial_sq_err.items()}, **scores.model_sq_err}
    save_npz(path, arrays, {**meta, "kind": SCORES_KIND, "system": scores.system, "eta": scores.eta,
                            "rows": scores.rows})  # fmt: skip


def read_scores(path: Path) -> tuple[SplitScores, dict[str, Any]]:
    """:class:`SplitScores` and the metadata of a :func:`write_scores` file (checksum verified;
    DataFileError naming the file if it is something else)."""
    arrays, meta = load_npz(path)
    if meta.get("kind") != SCORES_KIND or not isinstance(meta.get("rows"), list):
        raise DataFileError(f"{path}: not an E3 scores file (kind={meta.get('kind')!r}); write it with "
                            "`contlaws eta-performance-evaluate --out-scores`")  # fmt: skip
    numeric = ("eta", "test_rmse", "test_mae", "gate_rmse", "gate_z", "best_trivial_rmse", "best_trivial_z", "epochs_used")
    rows = []
    for row in meta["rows"]:
        if set(row) != set(COLUMNS):
            raise DataFileError(f"{path}: a row has columns {sorted(row)}, expected {COLUMNS}")
        # contlaws.io.to_jsonable writes NaN as null and ±inf as "inf"/"-inf": read them back as floats
        rows.append({k: (math.nan if v is None else float(v)) if k in numeric and (v is None or isinstance(v, str))
                     else v for k, v in row.items()})  # fmt: skip
    trivial = {k.removeprefix(_TRIVIAL_PREFIX): v for k, v in arrays.items() if k.startswith(_TRIVIAL_PREFIX)}
    models = {k: v for k, v in arrays.items() if not k.startswith(_TRIVIAL_PREFIX)}
    return SplitScores(str(meta["system"]), float(meta["eta"]), rows, models, trivial), meta


def reference_forecasts(test_path: Path, batch_size: int = 256) -> pd.DataFrame:
    """Test RMSE and MAE of the :data:`BASELINES` on one forecasting test split (no model).

    ŷ_{L+k} = obs_{L−1} (last_value), obs_{L−1} + (k+1)·(obs_{L−1} − obs_{L−2})
    (linear_extrapolation), mean_t obs_t over t < L (window_mean), for k = 0..horizon−1. Metrics
    are pooled over all N·horizon·D outputs.

    Returns:
        One row per baseline with :data:`BASELINE_COLUMNS`.
    """
    from contlaws.data.sets import load_split

    system, eta = test_split_labels(test_path)
    test = load_split(test_path)
    # every sample has horizon·D outputs, so the mean of per-sample means is the pooled mean
    _, sq, ab = trivial_errors(test, batch_size)
    return pd.DataFrame([{"system": system, "eta": eta, "baseline": name, "test_rmse": float(np.sqrt(np.mean(sq[name]))),
                          "test_mae": float(np.mean(ab[name])), "n": len(test)} for name in BASELINES],
                        columns=BASELINE_COLUMNS)  # fmt: skip


def sort_results(df: pd.DataFrame, systems: Sequence[str], models: Sequence[str]) -> pd.DataFrame:
    """Rows ordered by system (config order), η, model (config order), seed."""
    order = {"system": {s: i for i, s in enumerate(systems)}, "model": {m: i for i, m in enumerate(models)}}
    return df.sort_values(["system", "eta", "model", "seed"], kind="stable",
                          key=lambda col: col.map(order[col.name]) if col.name in order else col).reset_index(drop=True)  # fmt: skip


def read_parts(paths: Sequence[Path], columns: Sequence[str], key: Sequence[str]) -> pd.DataFrame:
    """Concatenate per-split CSVs with ``columns``; DataFileError on a bad file or a repeated ``key``."""
    frames = []
    for path in paths:
        try:
            df = pd.read_csv(path, keep_default_na=False, na_values=[""])
        except (FileNotFoundError, pd.errors.EmptyDataError, pd.errors.ParserError) as err:
            raise DataFileError(f"{path}: cannot read per-split results ({type(err).__name__}: {err})") from None
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise DataFileError(f"{path}: missing column(s) {', '.join(missing)}")
        frames.append(df[list(columns)])
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(columns))
    duplicated = out.duplicated(list(key))
    if duplicated.any():
        row = out[duplicated].iloc[0]
        raise DataFileError(f"{', '.join(f'{k} {row[k]}' for k in key)} appears twice among {', '.join(map(str, paths))}")
    return out


def gather(paths: Sequence[Path], systems: Sequence[str], models: Sequence[str]) -> pd.DataFrame:
    """Concatenate per-split result CSVs into one table (checked columns, fixed order, no duplicates)."""
    out = read_parts(paths, COLUMNS, ["system", "eta", "model", "seed"])
    for text in ("reason", "gate_reference", "best_trivial", "stop_reason"):
        out[text] = out[text].fillna("")
    for flag in ("learned", "beats_best_trivial"):
        out[flag] = as_flags(out[flag])
    return sort_results(out, systems, models)


def gather_baselines(paths: Sequence[Path], systems: Sequence[str]) -> pd.DataFrame:
    """Concatenate per-split reference-forecast CSVs (systems in config order, then η, then baseline)."""
    out = read_parts(paths, BASELINE_COLUMNS, ["system", "eta", "baseline"])
    order = {"system": {s: i for i, s in enumerate(systems)}, "baseline": {b: i for i, b in enumerate(BASELINES)}}
    return out.sort_values(["system", "eta", "baseline"], kind="stable",
                           key=lambda col: col.map(order[col.name]) if col.name in order else col).reset_index(drop=True)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# One split's evaluation and the experiment's tables (what the commands call)
# ---------------------------------------------------------------------------------------------
def _section(cfg: Mapping[str, Any]) -> dict:
    """The config keys the E3 tables depend on (their provenance)."""
    section = {k: cfg[k] for k in ("seed", "eta_performance", "forecasting", "model", "train")}
    section["gates.e3_margin"] = cfg["gates"]["e3_margin"]
    section["gates.e3_se"] = cfg["gates"]["e3_se"]
    section["gates.e3_reference"] = cfg["gates"]["e3_reference"]
    return section


def evaluate_split(cfg: Mapping[str, Any], test: Path, runs: Sequence[Path], out: Path | None = None,
                   baselines_out: Path | None = None, device: str | None = None, not_run: Sequence[str] = (),
                   scores_out: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """Evaluate the run folders of one (system, η) split on its test split, with 'not run' rows for the
    models in ``not_run`` (not trained: a package they need is absent). Writes the gated rows to
    ``out``, the reference forecasts to ``baselines_out`` and the ungated scores with their per-sample
    errors to ``scores_out`` (each where given; :func:`gate_split` turns a scores file into ``out``'s
    bytes). Returns (gated rows, reference forecasts)."""
    if not runs and not not_run:
        raise UserError("nothing to evaluate: give --runs and/or --not-run")
    if out is None and scores_out is None:
        raise UserError("nothing to write: give --out (gated rows) and/or --out-scores (scores to gate later)")
    from contlaws.train import resolve_device

    device = str(resolve_device(device or cfg["train"]["device"]))
    baselines = reference_forecasts(test)
    # eta_performance.eval_max_elements (optional; no schema default) overrides the shared bound for E3 only
    eval_max_elements = cfg["eta_performance"].get("eval_max_elements", cfg["train"]["eval_max_elements"])
    scores = score_runs(runs, test, device=device, eval_max_elements=eval_max_elements)
    if not_run:
        untrained = pd.DataFrame(untrained_rows(scores.system, scores.eta, not_run, cfg["eta_performance"]["seeds"]),
                                 columns=COLUMNS)  # fmt: skip
        rows = pd.concat([pd.DataFrame(scores.rows, columns=COLUMNS), untrained], ignore_index=True)
        scores.rows = sort_results(rows, [scores.system], cfg["eta_performance"]["models"]).to_dict("records")
    record = provenance(_section(cfg), cfg["seed"], test=str(test), runs=[str(r) for r in runs])
    if scores_out is not None:
        write_scores(scores_out, scores, {"provenance": record})
    gate = float(baselines.set_index("baseline").loc[GATE_BASELINE, "test_rmse"])
    rows = gate_scores(scores, gate_rmse=gate, **gate_settings(cfg))
    if out is not None:
        write_table(out, rows, meta=record)
    if baselines_out is not None:
        write_table(baselines_out, baselines, meta=record)
    return rows, baselines


def gate_settings(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The :func:`gate_scores` keywords of a resolved config (``gates.e3_*``)."""
    gates = cfg["gates"]
    return {"margin": float(gates["e3_margin"]), "gate_se": float(gates["e3_se"]), "reference": gates["e3_reference"]}


def gate_split(cfg: Mapping[str, Any], scores_path: Path, out: Path) -> pd.DataFrame:
    """Apply the config's learning gate (``gates.e3_*``) to a scores file of ``eta_evaluate`` and write
    the split's rows (:data:`COLUMNS`) to ``out``: the bytes :func:`evaluate_split` writes with the
    same config, without running a model. Returns the rows."""
    scores, meta = read_scores(scores_path)
    rows = gate_scores(scores, **gate_settings(cfg))
    evaluated = meta.get("provenance", {})
    record = provenance(_section(cfg), cfg["seed"], test=evaluated.get("test"), runs=evaluated.get("runs"),
                        scores=str(scores_path))  # fmt: skip
    write_table(out, rows, meta=record)
    return rows


def write_results(cfg: Mapping[str, Any], inputs: Sequence[Path], out: Path, baselines: Sequence[Path] | None = None,
                  baselines_out: Path | None = None) -> pd.DataFrame:
    """Concatenate the per-split results (and reference forecasts) into the experiment's tables."""
    exp = cfg["eta_performance"]
    df = gather(inputs, exp["systems"], exp["models"])
    reference = gather_baselines(baselines, exp["systems"]) if baselines else None
    section = _section(cfg)
    write_table(out, df, meta=provenance(section, cfg["seed"], inputs=sorted(str(p) for p in inputs)))
    if reference is not None:
        write_table(baselines_out, reference, meta=provenance(section, cfg["seed"], inputs=sorted(map(str, baselines))))
    counts = df["status"].value_counts().to_dict()
    log.info("wrote %s: %d rows (%s)", out, len(df), ", ".join(f"{v} {k}" for k, v in counts.items()))
    failed = df[(df["status"] == STATUS_OK) & ~df["learned"]]
    for row in failed.itertuples():
        log.warning("did not learn: %s eta %g %s seed %d: test rmse %.4g, %s %.4g, paired z %.2f", row.system,
                    row.eta, row.model, row.seed, row.test_rmse, row.gate_reference, row.gate_rmse, row.gate_z)  # fmt: skip
    return df
