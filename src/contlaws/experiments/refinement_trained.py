"""E2: trained S4D / S6 regressors evaluated under temporal refinement (paper Figure 4).

A model trained at τ = 1 (``contlaws train --experiment refinement_trained``) is called with every τ
of ``regression.taus`` on the test set regenerated at that τ (same trajectories, step dt·τ, length
L/τ). Per run this writes

* the test errors: one row per τ with columns system, model, discretization, seed, tau, rmse, mae,
  n, readout (RMSE and MAE pooled over all outputs, as the engine's :func:`contlaws.train.evaluate`);
* the model continuity: one row per τ with columns system, model, discretization, seed, tau, d,
  order, tau_ref (:mod:`contlaws.model_continuity`, from the same outputs).

``readout`` is the S6 readout (``c``: y = C_t·h_t + D·x, ``sum``: the authors' Σ_n h_t); S4D always
reads out through C and is labelled ``c``. Every τ is evaluated with the same partition into
batches (sized for the longest sequence), because the authors' S4D channel-norm averages over a
batch and its output would otherwise change with the batch size rather than with τ.

``contlaws refinement-trained-aggregate`` concatenates the per-run files into the experiment's
``errors.csv`` and ``model_continuity.csv``.

Snakemake imports this module (rule helpers, :func:`evaluation_mem_mb`) every time it builds the
DAG, so torch and pandas are imported inside the functions that need them.
"""

from __future__ import annotations

import argparse
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contlaws.io import DataFileError, meta_path, provenance, read_json, write_table

if TYPE_CHECKING:
    import pandas as pd

    from contlaws.model_continuity import ModelContinuity

log = logging.getLogger(__name__)

KEYS = ["system", "model", "discretization", "seed"]
ERROR_COLUMNS = KEYS + ["tau", "rmse", "mae", "n", "readout"]
CONTINUITY_COLUMNS = KEYS + ["tau", "d", "order", "tau_ref"]
MODELS = ("s4d", "s6")
DISCRETIZATIONS = ("zoh", "bilinear")

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


def evaluate_refinement(
    model, tests: Mapping[float, Any], *, device: str = "cpu", eval_max_elements: int = 2**24, progress: bool = True
) -> tuple[pd.DataFrame, ModelContinuity]:
    """Test errors of ``model`` at every τ and its model continuity, from one pass over the sets.

    Args:
        model: a trained registry model (``model(x, tau=τ) -> (B, d_out)``).
        tests: {τ: SequenceDataset}, refined test sets of the same trajectories.
        eval_max_elements: batches of B rows with B·L_max·d_model ≤ this, L_max the longest set.
    Returns:
        (errors with columns tau, rmse, mae, n in increasing τ, :class:`ModelContinuity`).
    """
    import pandas as pd
    from tqdm import tqdm

    from contlaws.model_continuity import check_refined_sets, continuity_from_outputs
    from contlaws.train import eval_batch_size, evaluate, model_width

    check_refined_sets(tests)
    width = model_width(model)
    batch = eval_batch_size(max(ds.length for ds in tests.values()), width, eval_max_elements)
    rows, outputs = [], {}
    for tau in tqdm(sorted(tests), desc="tau", disable=not progress):
        ds = tests[tau]
        # The engine sizes batches as max_elements // (L·width); this bound gives `batch` at every τ.
        metrics = evaluate(model, ds, tau=tau, device=device, eval_max_elements=batch * ds.length * width,
                           return_outputs=True)  # fmt: skip
        outputs[tau] = metrics.pop("outputs")
        rows.append({"tau": tau, "rmse": metrics["rmse"], "mae": metrics["mae"], "n": metrics["n"]})
        log.info("tau %g: rmse %.4g mae %.4g (n %d, batch %d)", tau, metrics["rmse"], metrics["mae"], metrics["n"], batch)
    return pd.DataFrame(rows), continuity_from_outputs(outputs)


def evaluation_mem_mb(cfg: Mapping[str, Any]) -> int:
    """Memory (MB) to evaluate one trained model on every refined test set of ``cfg``.

    Grows with 1/τ_min through the test sets (n_test · length/τ floats per set); the working memory
    is bounded by ``train.eval_max_elements`` whatever τ is.
    """
    reg, width = cfg["regression"], cfg["model"].get("d_model", 128)
    longest = round(reg["length"] / min(reg["taus"]))
    values = sum(reg["n_test"] * round(reg["length"] / tau) for tau in reg["taus"])
    # The batch of contlaws.train.eval_batch_size (not imported: it would load torch into the DAG build).
    batch = min(reg["n_test"], max(1, cfg["train"].get("eval_max_elements", 2**24) // (longest * width)))
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
    """``TAU=PATH`` pairs for ``contlaws evaluate-refinement --test`` from the inputs named above."""
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
# Command line
# ---------------------------------------------------------------------------------------------
def cli_evaluate(args: argparse.Namespace) -> None:
    import pandas as pd

    from contlaws.cli import UserError, config_from_args, set_threads
    from contlaws.data.sets import load_split
    from contlaws.model_continuity import tau_path_map
    from contlaws.train import load_model, resolve_device

    cfg = config_from_args(args) if args.config else None
    set_threads(cfg if cfg else args.threads)
    paths = tau_path_map(args.test, "--test")
    device = resolve_device(args.device or (cfg["train"]["device"] if cfg else "cpu"))
    model, checkpoint = load_model(args.checkpoint, device=device)
    if checkpoint["model_name"] not in MODELS:
        raise UserError(f"{args.checkpoint}: model {checkpoint['model_name']!r} does not take a step factor tau "
                        f"(refinement needs one of {', '.join(MODELS)})")  # fmt: skip
    tests = {tau: load_split(path) for tau, path in sorted(paths.items())}
    systems = {str(ds.meta.get("system")) for ds in tests.values()}
    max_elements = cfg["train"]["eval_max_elements"] if cfg else checkpoint["settings"]["eval_max_elements"]
    errors, continuity = evaluate_refinement(model, tests, device=device, eval_max_elements=max_elements)

    labels = run_labels(checkpoint, systems.pop())
    errors = errors.assign(**labels)[ERROR_COLUMNS]
    cont = pd.DataFrame(continuity.rows()).assign(**{k: labels[k] for k in KEYS})[CONTINUITY_COLUMNS]
    record = provenance(
        checkpoint["provenance"].get("config"), labels["seed"], checkpoint=str(args.checkpoint),
        tests={str(t): str(p) for t, p in sorted(paths.items())}, batch_partition="same at every tau",
    )  # fmt: skip
    write_table(args.out, errors, meta=record)
    if args.continuity_out:
        write_table(args.continuity_out, cont, meta=record)
    print(errors.to_string(index=False))
    print(f"model continuity order p = {continuity.order:.4g} (tau_ref {continuity.tau_ref:g})")


def cli_aggregate(args: argparse.Namespace) -> None:
    from contlaws.cli import config_from_args

    cfg = config_from_args(args)
    systems = cfg["refinement_trained"]["systems"]
    section = {k: cfg[k] for k in ("seed", "refinement_trained", "regression", "model", "train")}
    for paths, columns, out in ((args.errors, ERROR_COLUMNS, args.errors_out),
                                (args.continuity, CONTINUITY_COLUMNS, args.continuity_out)):  # fmt: skip
        df = sort_runs(aggregate(paths, columns), systems)
        inputs = sorted(str(p) for p in paths)
        commits = sorted({str(read_json(meta_path(p)).get("git_commit")) for p in paths if meta_path(p).exists()})
        write_table(out, df, meta=provenance(section, cfg["seed"], inputs=inputs, input_commits=commits))
        log.info("wrote %s (%d rows from %d runs)", out, len(df), len(paths))


def register(subparsers) -> None:
    from contlaws.cli import add_config_argument
    from contlaws.model_continuity import parse_tau_path

    p = subparsers.add_parser(
        "evaluate-refinement",
        help="E2: test errors and model continuity of a trained S4D/S6 at every refinement factor tau",
        description=(
            "Call the checkpoint's model with each tau on the test set regenerated at that tau; write one "
            "row per tau (system, model, discretization, seed, tau, rmse, mae, n, readout) to --out and, "
            "with --continuity-out, d(tau) and its order (system, model, discretization, seed, tau, d, order, tau_ref)."
        ),
    )
    add_config_argument(p, required=False)
    p.add_argument("--checkpoint", type=Path, required=True, help="best.pt written by `contlaws train`")
    p.add_argument("--test", type=parse_tau_path, nargs="+", required=True, metavar="TAU=PATH",
                   help="refined test sets of the same trajectories, e.g. 1=vdp_tau1_test.npz 0.5=vdp_tau0.5_test.npz")
    p.add_argument("--out", type=Path, required=True, help="per-tau errors CSV")
    p.add_argument("--continuity-out", type=Path, help="per-tau model continuity CSV")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default: train.device of --config, else cpu")
    p.add_argument("--threads", type=int, default=1, help="torch threads without --config (default 1)")
    p.set_defaults(func=cli_evaluate)

    p = subparsers.add_parser(
        "refinement-trained-aggregate",
        help="E2: gather per-run refinement errors and model continuity into the experiment's tables",
    )
    add_config_argument(p)
    p.add_argument("--errors", type=Path, nargs="+", required=True, help="per-run errors CSVs")
    p.add_argument("--continuity", type=Path, nargs="+", required=True, help="per-run model continuity CSVs")
    p.add_argument("--errors-out", type=Path, required=True)
    p.add_argument("--continuity-out", type=Path, required=True)
    p.set_defaults(func=cli_aggregate)
