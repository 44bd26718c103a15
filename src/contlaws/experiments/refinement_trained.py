"""E2: trained S4D / S6 regressors evaluated under temporal refinement (paper Figure 4).

A model trained at τ = 1 (``contlaws train --experiment refinement_trained``, labels standardized
per component with the training split's mean and std, recorded in the checkpoint) is called with
every τ of ``regression.taus`` on the test set regenerated at that τ (same trajectories, step dt·τ,
length L/τ). Per run this writes

* the test errors (``errors.csv``): one row per τ and label component, plus one with label
  ``pooled``: rmse, mae in standardized label units; ``train_mean_rmse``, the RMSE of the trivial
  predictor "the training split's mean label" on the same test split (= RMS of the standardized
  test labels); ``rmse_ratio`` = rmse / train_mean_rmse; ``learned`` (the same on every row of a
  run) = pooled rmse at τ = 1 ≤ ``gates.e2_rmse_ratio`` × pooled train_mean_rmse;
* the model continuity (``model_continuity.csv``): one row per τ with d(τ), δ(τ), the order p and
  why it is missing (``order_note``), τ_ref, the spread s (:mod:`contlaws.model_continuity`), and
  ``learned``;
* the amplitude sweep (``amplitude_sweep.csv``): the same with the inputs scaled by every a of
  ``refinement_trained.amplitudes`` (evaluation only, no retraining): the trained-model analogue of
  E1's amplitude axis. A model with a fixed step (S4D) is linear up to its nonlinearities, its
  discretization error scales with the input like its spread, so d(τ) should not grow with a; S6's
  step Δ = softplus(·)·τ grows with the input, so its d(τ) should.

``readout`` is the S6 readout (``c``: y = C_t·h_t + D·x, ``sum``: the authors' Σ_n h_t); S4D always
reads out through C and is labelled ``c``. Every τ is evaluated with the same partition into
batches (sized for the longest sequence), because the authors' S4D channel-norm averages over a
batch and its output would otherwise change with the batch size rather than with τ.

``contlaws refinement-trained-gather`` concatenates the per-run files into the experiment's
``errors.csv``, ``model_continuity.csv`` and ``amplitude_sweep.csv``.

Snakemake imports this module (rule helpers, :func:`evaluation_mem_mb`) every time it builds the
DAG, so torch and pandas are imported inside the functions that need them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contlaws.config import schema_default
from contlaws.errors import DataFileError, UserError
from contlaws.io import meta_path, provenance, read_json, write_table

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from contlaws.data.regression import LabelStandardization
    from contlaws.model_continuity import ModelContinuity

log = logging.getLogger(__name__)

KEYS = ["system", "model", "discretization", "seed"]
# errors.csv: one row per (run, τ, label) with label one of the system's label names or "pooled".
ERROR_COLUMNS = KEYS + ["tau", "label", "rmse", "mae", "train_mean_rmse", "rmse_ratio", "n", "readout", "learned"]
CONTINUITY_COLUMNS = KEYS + ["tau", "d", "delta", "order", "order_note", "tau_ref", "spread", "learned"]
SWEEP_COLUMNS = KEYS + ["amplitude"] + CONTINUITY_COLUMNS[len(KEYS):]
POOLED = "pooled"
MODELS = ("s4d", "s6")
DISCRETIZATIONS = ("zoh", "bilinear")
# For `contlaws evaluate-refinement` without --config; the values live in the schema.
DEFAULT_GATE_RATIO = schema_default("gates.e2_rmse_ratio")
DEFAULT_AMPLITUDES = schema_default("refinement_trained.amplitudes")

# Evaluation memory model (MB) for the rule's mem_mb: interpreter + torch, working memory per
# element of a batch (batch·L·d_model; measured 35 B for S4D, 54 B for S6 at d_model 128, 4 layers),
# and the test sets held in memory at once (float32, twice for the checksum pass on load).
MEM_BASE_MB = 600
MEM_BYTES_PER_EVAL_ELEMENT = 64
MEM_DATA_COPIES = 2


def run_labels(checkpoint: Mapping[str, Any], system: str) -> dict[str, Any]:
    """system, model, discretization, seed and readout of a trained run, from its checkpoint."""
    kwargs = checkpoint["build_kwargs"]
    name = kwargs["name"]
    layer_cfg = kwargs["model_cfg"].get(name, {})
    readout = (kwargs.get("readout") or layer_cfg.get("readout", "c")) if name == "s6" else "c"
    return {
        "system": system,
        "model": name,
        "discretization": kwargs.get("discretization") or layer_cfg.get("discretization", "zoh"),
        "seed": int(checkpoint["settings"]["seed"]),
        "readout": readout,
    }


def label_errors(outputs: np.ndarray, labels: np.ndarray, names: Sequence[str]) -> list[dict[str, float]]:
    """RMSE and MAE per label component and pooled, and the train-mean predictor's RMSE beside them.

    Args:
        outputs, labels: (N, k) predictions and labels, both standardized with the training
            statistics, so the train-mean predictor is 0 and its RMSE is RMS(labels).
        names: the k label names.
    Returns:
        k + 1 records (label, rmse, mae, train_mean_rmse, rmse_ratio), the pooled one last.
    """
    import numpy as np

    outputs = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)  # (N k)
    labels = np.asarray(labels, dtype=np.float64).reshape(outputs.shape)
    err = outputs - labels
    rows = []
    for name, e, z in [*zip(names, err.T, labels.T), (POOLED, err.ravel(), labels.ravel())]:
        rmse, mean_rmse = float(np.sqrt(np.mean(e**2))), float(np.sqrt(np.mean(z**2)))
        rows.append({"label": name, "rmse": rmse, "mae": float(np.mean(np.abs(e))), "train_mean_rmse": mean_rmse,
                     "rmse_ratio": rmse / mean_rmse if mean_rmse > 0 else math.nan})  # fmt: skip
    return rows


def learned_gate(errors: pd.DataFrame, gate_ratio: float) -> bool:
    """learned = pooled RMSE at τ = 1 ≤ gate_ratio × the train-mean predictor's pooled RMSE (same split)."""
    import numpy as np

    at_1 = errors[(errors["label"] == POOLED) & np.isclose(errors["tau"], 1.0)]
    if at_1.empty:
        raise ValueError("the learning gate needs the errors at tau = 1 (add 1 to regression.taus)")
    row = at_1.iloc[0]
    return bool(row["rmse"] <= gate_ratio * row["train_mean_rmse"])


@dataclass
class RefinementEvaluation:
    """What :func:`evaluate_refinement` measures for one trained model.

    Attributes:
        errors: rows tau, label, rmse, mae, train_mean_rmse, rmse_ratio, n (labels then "pooled" per τ).
        continuity: {amplitude a: :class:`ModelContinuity` with inputs scaled by a}; a = 1 is the
            model continuity proper.
    """

    errors: pd.DataFrame
    continuity: dict[float, ModelContinuity]


def evaluate_refinement(
    model,
    tests: Mapping[float, Any],
    standardization: LabelStandardization,
    *,
    amplitudes: Sequence[float] = DEFAULT_AMPLITUDES,
    device: str = "cpu",
    eval_max_elements: int,
    progress: bool = True,
) -> RefinementEvaluation:
    """Test errors of ``model`` at every τ, and its model continuity at every input amplitude a.

    Args:
        model: a trained registry model (``model(x, tau=τ) -> (B, d_out)``) whose outputs are
            standardized labels.
        tests: {τ: SequenceDataset}, refined test sets of the same trajectories (raw labels).
        standardization: the training split's label statistics (from the checkpoint).
        amplitudes: the factors a the inputs are scaled by for the amplitude sweep (evaluation only;
            1 is always included and gives the test errors).
        eval_max_elements: batches of B rows with B·L_max·d_model ≤ this, L_max the longest set;
            the same partition at every τ (the authors' S4D channel norm mixes a batch).
    """
    import pandas as pd
    from tqdm import tqdm

    from contlaws.model_continuity import check_refined_sets, continuity_from_outputs, predict
    from contlaws.train import eval_batch_size, model_width

    check_refined_sets(tests)
    width = model_width(model)
    batch = eval_batch_size(max(ds.length for ds in tests.values()), width, eval_max_elements)
    sweep = sorted({1.0, *(float(a) for a in amplitudes)})
    names = next(iter(tests.values())).meta.get("label_names") or [f"y{j}" for j in range(tests[min(tests)].d_output)]
    rows, continuity = [], {}
    for amplitude in sweep:
        outputs = {}
        for tau in tqdm(sorted(tests), desc=f"a={amplitude:g} tau", disable=not progress):
            ds = tests[tau]
            outputs[tau] = predict(model, ds, tau, batch_size=batch, device=device, amplitude=amplitude)  # (N k)
            if amplitude == 1.0:
                labels = standardization.apply(ds.y)  # (N k) in training-standardized units
                for rec in label_errors(outputs[tau], labels, names):
                    rows.append({"tau": tau, **rec, "n": len(ds)})
                pooled = rows[-1]
                log.info("tau %g: rmse %.4g (train mean %.4g) (n %d, batch %d)", tau, pooled["rmse"],
                         pooled["train_mean_rmse"], len(ds), batch)  # fmt: skip
        continuity[amplitude] = continuity_from_outputs(outputs)
        log.info("a = %g: d(tau) %s, order %.4g", amplitude,
                 {t: round(v, 4) for t, v in continuity[amplitude].d.items()}, continuity[amplitude].order)  # fmt: skip
    return RefinementEvaluation(pd.DataFrame(rows), continuity)


def evaluation_mem_mb(cfg: Mapping[str, Any]) -> int:
    """Memory (MB) to evaluate one trained model on every refined test set of ``cfg``.

    Grows with 1/τ_min through the test sets (n_test · length/τ floats per set); the working memory
    is bounded by ``train.eval_max_elements`` whatever τ is.
    """
    reg, width = cfg["regression"], cfg["model"]["d_model"]
    longest = round(reg["length"] / min(reg["taus"]))
    values = sum(reg["n_test"] * round(reg["length"] / tau) for tau in reg["taus"])
    # The batch of contlaws.train.eval_batch_size (not imported: it would load torch into the DAG build).
    batch = min(reg["n_test"], max(1, cfg["train"]["eval_max_elements"] // (longest * width)))
    data_mb = MEM_DATA_COPIES * 4 * values / 2**20
    work_mb = MEM_BYTES_PER_EVAL_ELEMENT * batch * longest * width / 2**20
    return math.ceil(MEM_BASE_MB + data_mb + work_mb)


# ---------------------------------------------------------------------------------------------
# Helpers of workflow/rules/refinement_trained.smk (kept here so the rules file holds rules only)
# ---------------------------------------------------------------------------------------------
def run_files(cfg: Mapping[str, Any], results_dir: str, filename: str) -> list[str]:
    """``filename`` in every run folder <results_dir>/<system>/<model>_<disc>_seed<seed>/ the config asks for."""
    rt = cfg["refinement_trained"]
    return [
        f"{results_dir}/{system}/{model}_{disc}_seed{seed}/{filename}"
        for system in rt["systems"] for model in rt["models"] for disc in rt["discretizations"] for seed in rt["seeds"]
    ]  # fmt: skip


def refined_test_inputs(taus: Sequence[float], split_files, wildcards) -> dict[str, str]:
    """Named rule inputs test0, test1, ...: the run's system's test split at each τ of ``taus``.

    ``split_files(system, tau, splits)`` is common.smk's ``regression_files``.
    """
    return {f"test{i}": split_files(wildcards.system, tau, ("test",))[0] for i, tau in enumerate(taus)}


def refined_test_arguments(taus: Sequence[float], inputs) -> str:
    """``TAU=PATH`` pairs for ``contlaws refinement-trained-evaluate --data`` from the inputs named above."""
    from contlaws.config import fmt_num

    return " ".join(f"{fmt_num(tau)}={getattr(inputs, f'test{i}')}" for i, tau in enumerate(taus))


def aggregate(paths: Sequence[Path], columns: Sequence[str]) -> pd.DataFrame:
    """Concatenate per-run CSVs, check their columns, sort by system, model, discretization, seed, τ."""
    import pandas as pd

    frames = []
    for path in paths:
        try:
            df = pd.read_csv(path)
        except (FileNotFoundError, pd.errors.EmptyDataError, pd.errors.ParserError) as err:
            raise DataFileError(f"{path}: cannot read result table ({type(err).__name__}: {err})") from None
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise DataFileError(f"{path}: missing column(s) {', '.join(missing)}")
        frames.append(df[list(columns)])
    if not frames:
        return pd.DataFrame(columns=list(columns))
    return sort_runs(pd.concat(frames, ignore_index=True))


def sort_runs(df: pd.DataFrame, systems: Sequence[str] | None = None) -> pd.DataFrame:
    """Rows in a fixed order: systems as given (else alphabetical), s4d before s6, zoh before bilinear, seed, τ."""
    order = {
        "system": {s: i for i, s in enumerate(systems or sorted(df["system"].unique()))},
        "model": {m: i for i, m in enumerate(MODELS)},
        "discretization": {d: i for i, d in enumerate(DISCRETIZATIONS)},
    }
    keys = [c for c in ("system", "model", "discretization", "seed", "tau") if c in df.columns]
    return df.sort_values(keys, key=lambda col: col.map(order[col.name]) if col.name in order else col,
                          kind="stable").reset_index(drop=True)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# One run's evaluation and the experiment's tables (what the commands call)
# ---------------------------------------------------------------------------------------------
@dataclass
class CheckpointEvaluation:
    """The tables of one run (``errors``, ``continuity`` at amplitude 1, the amplitude ``sweep``),
    whether it ``learned`` and the provenance ``record`` written beside each table."""

    errors: pd.DataFrame
    continuity: pd.DataFrame
    sweep: pd.DataFrame
    learned: bool
    gate_ratio: float
    record: dict


def evaluate_checkpoint(
    checkpoint_path: Path,
    test_paths: Mapping[float, Path],
    cfg: Mapping[str, Any] | None = None,
    *,
    device: str | None = None,
    amplitudes: Sequence[float] | None = None,
    gate_ratio: float | None = None,
) -> CheckpointEvaluation:
    """Errors and model continuity of a trained S4D/S6 checkpoint on refined test sets {τ: path}.

    Settings not given come from ``cfg`` (``train.device``, ``train.eval_max_elements``,
    ``refinement_trained.amplitudes``, ``gates.e2_rmse_ratio``), else from the checkpoint and the
    defaults above. ``--data`` in messages names the option the paths came from.
    """
    # Longer than ~60 lines on purpose: the checks that make a checkpoint's numbers trustworthy sit beside the evaluation they guard.
    import numpy as np
    import pandas as pd

    from contlaws.data.regression import checkpoint_standardization
    from contlaws.data.sets import load_split
    from contlaws.model_continuity import NonFiniteOutputs, check_model_fits_data, require_npz
    from contlaws.train import load_model, resolve_device

    paths = test_paths
    device = resolve_device(device or (cfg["train"]["device"] if cfg else "cpu"))
    model, checkpoint = load_model(checkpoint_path, device=device)
    if checkpoint["model_name"] not in MODELS:
        raise UserError(f"{checkpoint_path}: model {checkpoint['model_name']!r} does not take a step factor tau "
                        f"(refinement needs one of {', '.join(MODELS)})")  # fmt: skip
    standardization = checkpoint_standardization(checkpoint)
    if standardization is None:
        raise DataFileError(f"{checkpoint_path}: no label standardization recorded (trained before E2 labels were "
                            "standardized); delete its run folder and train again")  # fmt: skip
    for path in paths.values():
        require_npz(path, "--data")
    tests = {tau: load_split(path) for tau, path in sorted(paths.items())}
    check_model_fits_data(checkpoint, tests, checkpoint_path)
    systems = {str(ds.meta.get("system")) for ds in tests.values()}
    max_elements = cfg["train"]["eval_max_elements"] if cfg else checkpoint["settings"]["eval_max_elements"]
    amplitudes = amplitudes or (cfg["refinement_trained"]["amplitudes"] if cfg else DEFAULT_AMPLITUDES)
    gate_ratio = gate_ratio or (cfg["gates"]["e2_rmse_ratio"] if cfg else DEFAULT_GATE_RATIO)
    try:
        result = evaluate_refinement(model, tests, standardization, amplitudes=amplitudes, device=device,
                                     eval_max_elements=max_elements)  # fmt: skip
    except NonFiniteOutputs as err:
        raise UserError(f"{checkpoint_path}: {err}; nothing written (diverged model or extreme input values?)") from None
    metrics = result.errors[["rmse", "mae", "train_mean_rmse"]]
    bad = result.errors[~np.isfinite(metrics.to_numpy(dtype=float)).all(axis=1)]
    if len(bad):  # finite outputs, so the labels of a test set are NaN or inf
        where = ", ".join(f"tau = {t:g} ({paths[t]})" for t in sorted(set(bad["tau"])))
        raise UserError(f"{checkpoint_path}: test errors are NaN or inf at {where}; check the labels of those "
                        "test sets; nothing written")  # fmt: skip

    labels = run_labels(checkpoint, systems.pop())
    learned = learned_gate(result.errors, gate_ratio)
    errors = result.errors.assign(**labels, learned=learned)[ERROR_COLUMNS]
    sweep = pd.concat([pd.DataFrame(c.rows()).assign(amplitude=a) for a, c in result.continuity.items()])
    sweep = sweep.assign(**{k: labels[k] for k in KEYS}, learned=learned)[SWEEP_COLUMNS]
    cont = sweep[sweep["amplitude"] == 1.0][CONTINUITY_COLUMNS]
    record = provenance(
        checkpoint["provenance"].get("config"), labels["seed"], checkpoint=str(checkpoint_path),
        tests={str(t): str(p) for t, p in sorted(paths.items())}, batch_partition="same at every tau",
        label_standardization=standardization.to_dict(), gate_ratio=gate_ratio, amplitudes=list(map(float, amplitudes)),
    )  # fmt: skip
    return CheckpointEvaluation(errors, cont, sweep, learned, gate_ratio, record)


def write_aggregates(cfg: Mapping[str, Any], tables: Sequence[tuple[Sequence[Path], Sequence[str], Path]]) -> None:
    """Each (per-run CSVs, columns, output) of ``tables`` concatenated, checked, sorted and written with provenance."""
    systems = cfg["refinement_trained"]["systems"]
    section = {k: cfg[k] for k in ("seed", "refinement_trained", "regression", "model", "train", "gates")}
    for paths, columns, out in tables:
        df = sort_runs(aggregate(paths, columns), systems)
        inputs = sorted(str(p) for p in paths)
        commits = sorted({str(read_json(meta_path(p)).get("git_commit")) for p in paths if meta_path(p).exists()})
        write_table(out, df, meta=provenance(section, cfg["seed"], inputs=inputs, input_commits=commits))
        log.info("wrote %s (%d rows from %d runs)", out, len(df), len(paths))
