"""E3: test error against the continuity level η of the forecasting data (paper Figure 5, left).

Every model of ``eta_performance.models`` is trained by the engine (``contlaws train --experiment
eta_performance``) on each system's η-mixed forecasting set, selected on its validation split, and
tested here on the test split of the same (system, η):

    obs_t = (1 − η)·cont_t + η·disc_t     input obs[0:L], target obs[L : L + horizon]
    test_rmse = sqrt(mean (ŷ − y)²)       pooled over the N test samples × horizon·D outputs
    test_mae  = mean |ŷ − y|              the same pool

Code names -> symbols: ``eta`` η (0 continuous, 1 a piecewise-constant symbol stream), ``n`` N.

A model that cannot run on this machine (CUDA-only baselines on a CPU) has a ``summary.json`` with
``status: "not run"`` and a ``reason`` written by the engine; it becomes a row with that status and
reason and empty metrics, never a silent gap. Rows (one per system, η, model, seed):

    system, eta, model, seed, status, reason, test_rmse, test_mae, n

``contlaws eta-evaluate`` tests every run trained on one (system, η) split and writes its rows;
``contlaws eta-gather`` concatenates them into ``results/<run>/eta_performance/results.csv``.
"""

from __future__ import annotations

import argparse
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from contlaws.io import DataFileError, provenance, read_json, read_npz_meta, write_table

log = logging.getLogger(__name__)

COLUMNS = ["system", "eta", "model", "seed", "status", "reason", "test_rmse", "test_mae", "n"]
STATUS_OK = "ok"
STATUS_NOT_RUN = "not run"


def run_labels(summary: Mapping[str, Any], path: Path) -> tuple[str, int]:
    """(model, seed) of a training run, from the engine's ``summary.json``."""
    try:
        return str(summary["model_name"]), int(summary["provenance"]["seed"])
    except (KeyError, TypeError, ValueError):
        raise DataFileError(f"{path}: not a training summary of `contlaws train` (no model_name / provenance.seed)") from None


def not_run_row(system: str, eta: float, model: str, seed: int, reason: str) -> dict[str, Any]:
    """A results row for a model that was not trained or cannot be tested here (metrics empty)."""
    return {"system": system, "eta": eta, "model": model, "seed": seed, "status": STATUS_NOT_RUN,
            "reason": reason, "test_rmse": math.nan, "test_mae": math.nan, "n": 0}  # fmt: skip


def test_split_labels(path: Path) -> tuple[str, float]:
    """(system, η) of a forecasting test split, from its metadata; DataFileError if it is something else."""
    meta = read_npz_meta(path)
    if meta.get("kind") != "forecasting" or meta.get("split") != "test":
        raise DataFileError(f"{path}: expected a forecasting test split, found kind={meta.get('kind')!r} "
                            f"split={meta.get('split')!r}")  # fmt: skip
    return str(meta["system"]), float(meta["eta"])


def evaluate_runs(
    run_dirs: Sequence[Path],
    test_path: Path,
    *,
    device: str = "cpu",
    eval_max_elements: int = 2**24,
) -> pd.DataFrame:
    """Test RMSE and MAE of every run folder on one forecasting test split.

    Args:
        run_dirs: output folders of ``contlaws train`` (``summary.json``, and ``best.pt`` when the
            status is ok), all trained on the (system, η) of ``test_path``.
        test_path: the forecasting test split (.npz).
        device: where to evaluate ("cpu", "cuda").
        eval_max_elements: evaluation batch bound (``train.eval_max_elements``).
    Returns:
        One row per run with :data:`COLUMNS`.
    """
    from contlaws.data.sets import load_split
    from contlaws.models.registry import ModelUnavailable
    from contlaws.train import evaluate, load_model

    system, eta = test_split_labels(test_path)
    test = None  # loaded on first use: a split whose runs were all "not run" is never read
    rows = []
    for run_dir in run_dirs:
        summary_path = Path(run_dir) / "summary.json"
        summary = read_json(summary_path)
        model_name, seed = run_labels(summary, summary_path)
        status = summary.get("status")
        if status != STATUS_OK:
            reason = str(summary.get("reason") or f"training status {status!r}")
            rows.append(not_run_row(system, eta, model_name, seed, reason))
            log.info("%s seed %d: not run (%s)", model_name, seed, reason)
            continue
        try:
            model, _ = load_model(Path(run_dir) / "best.pt", device=device)
        except ModelUnavailable as err:  # trained elsewhere (a GPU machine), cannot be rebuilt here
            rows.append(not_run_row(system, eta, model_name, seed, f"trained, but cannot be tested here: {err.reason}"))
            continue
        test = test if test is not None else load_split(test_path)
        metrics = evaluate(model, test, tau=1.0, device=device, eval_max_elements=eval_max_elements)
        rows.append({"system": system, "eta": eta, "model": model_name, "seed": seed, "status": STATUS_OK,
                     "reason": "", "test_rmse": metrics["rmse"], "test_mae": metrics["mae"], "n": metrics["n"]})  # fmt: skip
        log.info("%s seed %d: test rmse %.4g mae %.4g (n %d)", model_name, seed, metrics["rmse"], metrics["mae"], metrics["n"])
    return pd.DataFrame(rows, columns=COLUMNS)


def sort_results(df: pd.DataFrame, systems: Sequence[str], models: Sequence[str]) -> pd.DataFrame:
    """Rows ordered by system (config order), η, model (config order), seed."""
    order = {"system": {s: i for i, s in enumerate(systems)}, "model": {m: i for i, m in enumerate(models)}}
    return df.sort_values(["system", "eta", "model", "seed"], kind="stable",
                          key=lambda col: col.map(order[col.name]) if col.name in order else col).reset_index(drop=True)  # fmt: skip


def gather(paths: Sequence[Path], systems: Sequence[str], models: Sequence[str]) -> pd.DataFrame:
    """Concatenate per-split result CSVs into one table (checked columns, fixed order, no duplicates)."""
    frames = []
    for path in paths:
        try:
            df = pd.read_csv(path, keep_default_na=False, na_values=[""])
        except (FileNotFoundError, pd.errors.EmptyDataError, pd.errors.ParserError) as err:
            raise DataFileError(f"{path}: cannot read per-split results ({type(err).__name__}: {err})") from None
        missing = [c for c in COLUMNS if c not in df.columns]
        if missing:
            raise DataFileError(f"{path}: missing column(s) {', '.join(missing)}")
        frames.append(df[COLUMNS])
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    out = pd.concat(frames, ignore_index=True)
    out["reason"] = out["reason"].fillna("")
    duplicated = out.duplicated(["system", "eta", "model", "seed"])
    if duplicated.any():
        row = out[duplicated].iloc[0]
        raise DataFileError(f"run {row['model']} seed {row['seed']} on {row['system']} eta {row['eta']} appears twice "
                            f"among {', '.join(map(str, paths))}")  # fmt: skip
    return sort_results(out, systems, models)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------
def cli_evaluate(args: argparse.Namespace) -> None:
    from contlaws.cli import config_from_args, set_threads
    from contlaws.train import resolve_device

    cfg = config_from_args(args)
    set_threads(cfg)
    device = str(resolve_device(args.device or cfg["train"]["device"]))
    rows = evaluate_runs(args.runs, args.test, device=device, eval_max_elements=cfg["train"]["eval_max_elements"])
    section = {k: cfg[k] for k in ("seed", "eta_performance", "forecasting", "model", "train")}
    write_table(args.out, rows, meta=provenance(section, cfg["seed"], test=str(args.test), runs=[str(r) for r in args.runs]))
    print(rows.to_string(index=False))


def cli_gather(args: argparse.Namespace) -> None:
    from contlaws.cli import config_from_args

    cfg = config_from_args(args)
    exp = cfg["eta_performance"]
    df = gather(args.inputs, exp["systems"], exp["models"])
    section = {k: cfg[k] for k in ("seed", "eta_performance", "forecasting", "model", "train")}
    write_table(args.out, df, meta=provenance(section, cfg["seed"], inputs=sorted(str(p) for p in args.inputs)))
    counts = df["status"].value_counts().to_dict()
    log.info("wrote %s: %d rows (%s)", args.out, len(df), ", ".join(f"{v} {k}" for k, v in counts.items()))


def register(subparsers) -> None:
    from contlaws.cli import add_config_argument

    p = subparsers.add_parser(
        "eta-evaluate",
        help="E3: test RMSE/MAE of the runs trained on one (system, eta) forecasting split",
        description=("Evaluate every run folder (`contlaws train` output) on the forecasting test split; runs "
                     "whose summary says 'not run' become rows with that status and reason."),
    )  # fmt: skip
    add_config_argument(p)
    p.add_argument("--test", type=Path, required=True, help="forecasting test split (.npz)")
    p.add_argument("--runs", type=Path, nargs="+", required=True, metavar="DIR", help="training output folders")
    p.add_argument("--out", type=Path, required=True, help="per-split results CSV")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="override train.device")
    p.set_defaults(func=cli_evaluate)

    p = subparsers.add_parser("eta-gather", help="E3: concatenate per-split results into results.csv")
    add_config_argument(p)
    p.add_argument("--inputs", type=Path, nargs="+", required=True, metavar="CSV", help="per-split results CSVs")
    p.add_argument("--out", type=Path, required=True, help="results/<run>/eta_performance/results.csv")
    p.set_defaults(func=cli_gather)
