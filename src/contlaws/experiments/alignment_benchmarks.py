"""C4(b): alignment of task continuity with the continuous model's advantage across real benchmarks.

C4(a) tests the alignment claim on the synthetic η family (E3). Here the same question is asked
across real classification tasks that need no benchmark download, from token streams to smooth
signals: the UCR/UEA sets of the pinned aeon wheel, scikit-learn's digits at their native 8x8
resolution, the generated ListOps and the byte-level ``stdlib_text`` task
(:mod:`contlaws.data.benchmarks`), each scored for task continuity TC by the E4 rule.

One run = task x model x seed: the classifier of :func:`build_classifier` (the model registry's
wrapper, mean pool over time and an MLP decoder) trained with the engine under ONE budget for every
model (``alignment_benchmarks``: epochs, batch size, learning rate, weight decay, warmup; a task may
set its batch size, the same for every model), then tested with the best-validation weights. Each run
is checked against its learning gate, as in E5: test accuracy above the majority class of the
training split by ``gates.e5_se`` binomial standard errors.

The attention baselines are order-aware: the Transformer with sinusoidal positions, causal linear
attention. The advantage of S4D on a task, paired by seed s, is

    A_s = ln(err_ref,s / err_S4D,s),   err = max(1 − accuracy, 0.5 / n_test)

where ref is the attention baseline with the lowest seed-mean test error on that task and the floor
0.5 / n_test (half an error) keeps a perfect score finite. A > 0: S4D makes fewer errors. The task's
A is the mean over seeds with its standard error. S6's advantage over the same reference is
reported for contrast. A task counts for the verdict only when every run of every model passed its
gate (:func:`alignment_table`, column ``all_learned``).

Code names -> symbols: ``tc`` TC, ``advantage_s4d`` A, ``error`` err.
"""

from __future__ import annotations

import logging
import math
import resource
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contlaws.errors import ConfigError, DataFileError, UserError

if TYPE_CHECKING:  # pandas and torch are imported where used: Snakemake imports this module
    import pandas as pd

log = logging.getLogger(__name__)

CONTINUOUS_MODEL = "s4d"
CONTRAST_MODEL = "s6"
REFERENCE_MODELS = ("transformer", "linear_attention")  # order-aware attention baselines
MODELS = (CONTINUOUS_MODEL, CONTRAST_MODEL, *REFERENCE_MODELS)
ERROR_FLOOR_FRACTION = 0.5  # err >= 0.5 / n_test: half an error, so ln(err) stays finite at 100 % accuracy
RUN_COLUMNS = ["task", "model", "seed", "accuracy", "error", "n_test", "majority_accuracy", "gate_accuracy",
               "learned", "best_epoch", "train_seconds"]  # fmt: skip
SEED_COLUMNS = ["task", "model", "seed", "reference_model", "error_reference", "error_model", "advantage"]
ALIGNMENT_COLUMNS = ["task", "tc", "tc_stderr", "reference_model", "advantage_s4d", "advantage_s4d_se", "n_seeds_s4d",
                     "advantage_s6", "advantage_s6_se", "error_s4d", "error_reference", "all_learned", "note"]  # fmt: skip


def check_section(section: Mapping[str, Any]) -> None:
    """The models must include S4D and at least one attention baseline; tasks must be known."""
    from contlaws.data.benchmarks.registry import get_task

    for task in section["tasks"]:
        get_task(task)  # ConfigError naming the known tasks
    models = list(section["models"])
    if CONTINUOUS_MODEL not in models or not set(models) & set(REFERENCE_MODELS):
        raise ConfigError(f"key 'alignment_benchmarks.models' = {models}: needs {CONTINUOUS_MODEL} and at least one "
                          f"attention baseline of {list(REFERENCE_MODELS)}")  # fmt: skip
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ConfigError(f"key 'alignment_benchmarks.models': {unknown} not among {list(MODELS)}")


def model_config(section: Mapping[str, Any]) -> dict:
    """The registry's ``model`` section of every C4(b) classifier (one width and depth for all models)."""
    from contlaws.models.registry import resolve_model_cfg

    d = int(section["d_model"])
    return resolve_model_cfg({
        "d_model": d,
        "n_layers": int(section["n_layers"]),
        "dropout": float(section["dropout"]),
        "prenorm": True,
        # the E5 classifier's S4D (channel norm off: it mixes samples of a batch); SSM lrs = the common lr
        "s4d": {"d_state": int(section["d_state"]), "discretization": "zoh", "a_imag_init": "lin",
                "channel_norm": False, "lr_ssm": float(section["lr"]), "lr_a_imag": float(section["lr"])},
        "s6": {"d_state": int(section["d_state"])},
        "transformer": {"n_heads": int(section["n_heads"]), "d_ff": 2 * d, "positional_encoding": True,
                        "attention_dropout": 0.0},
        "linear_attention": {"n_heads": int(section["n_heads"])},
    })  # fmt: skip


def build_classifier(section: Mapping[str, Any], model_name: str, dataset):
    """The C4(b) classifier ``model_name`` for ``dataset`` (a classification SequenceDataset)."""
    from contlaws.models import build_model

    return build_model(model_name, d_input=dataset.d_input, d_output=dataset.d_output,
                       model_cfg=model_config(section), input_kind=dataset.input_kind,
                       vocab_size=dataset.d_input if dataset.input_kind == "tokens" else None)  # fmt: skip


def task_batch_size(section: Mapping[str, Any], task: str) -> int:
    """``batch_size_per_task[task]`` if set, else ``batch_size`` (the same for every model)."""
    return int((section.get("batch_size_per_task") or {}).get(task, section["batch_size"]))


def train_settings(cfg: Mapping[str, Any], task: str, seed: int):
    """The one training budget of every model on ``task`` (per-epoch cosine with linear warmup)."""
    from contlaws.train_settings import TrainSettings, engine_fields

    section = cfg["alignment_benchmarks"]
    return TrainSettings(epochs=int(section["epochs"]), batch_size=task_batch_size(section, task),
                         lr=float(section["lr"]), weight_decay=float(section["weight_decay"]),
                         warmup_epochs=float(section["warmup_epochs"]), seed=int(seed), task="classification",
                         **engine_fields(cfg["train"]))  # fmt: skip


def error_rate(accuracy: float, n_test: int) -> float:
    """Test error 1 − accuracy, floored at :data:`ERROR_FLOOR_FRACTION` / n_test."""
    return max(1.0 - float(accuracy), ERROR_FLOOR_FRACTION / max(int(n_test), 1))


def advantage(error_reference: float, error_model: float) -> float:
    """A = ln(err_ref / err_model): positive when the model makes fewer errors than the reference."""
    return math.log(error_reference / error_model)


def run(cfg: Mapping[str, Any], task: str, model_name: str, seed: int, train: Path, val: Path, test: Path,
        out: Path, restart_on_mismatch: bool = False) -> dict:  # fmt: skip
    """Train one C4(b) run (resuming from ``out/last.pt``), test the best-validation weights, check the
    gate, write ``out/summary.json``; returns the summary."""
    import torch

    from contlaws.data.sets import load_split
    from contlaws.experiments.subsampling import learned_gate, majority_test_accuracy
    from contlaws.io import write_json
    from contlaws.train import evaluate, fit, load_model, seed_everything

    section = cfg["alignment_benchmarks"]
    check_section(section)
    if task not in section["tasks"] or model_name not in section["models"]:
        raise UserError(f"task '{task}' / model '{model_name}' not in alignment_benchmarks.tasks / .models")
    data = {name: load_split(path) for name, path in (("train", train), ("val", val), ("test", test))}
    for ds in data.values():
        if ds.task != "classification" or ds.meta.get("benchmark") not in (None, task):
            raise UserError(f"{ds.path}: not a classification split of task '{task}'")
    settings = train_settings(cfg, task, seed)
    seed_everything(settings.seed)
    model = build_classifier(section, model_name, data["train"])
    meta = {"config": cfg, "experiment": "alignment_benchmarks", "task": task, "model": model_name}
    summary = fit(model, data["train"], data["val"], out, settings, meta=meta, restart_on_mismatch=restart_on_mismatch)
    device = next(model.parameters()).device
    best_model, _ = load_model(Path(out) / "best.pt", device=device)
    result = evaluate(best_model, data["test"], stride=1, device=device, eval_max_elements=settings.eval_max_elements)
    majority = majority_test_accuracy(data["train"], data["test"])
    n_test = len(data["test"])
    gate_se = float(cfg["gates"]["e5_se"])
    summary.update(
        experiment="alignment_benchmarks", benchmark=task, model=model_name, seed=int(seed),
        test={"weights": f"best validation (epoch {summary['best_epoch']})", **result},
        error=error_rate(result["accuracy"], n_test), n_test=n_test, majority_accuracy=majority,
        gate_accuracy=majority + gate_se * math.sqrt(majority * (1 - majority) / n_test),
        learned=learned_gate(result["accuracy"], majority, n_test, gate_se),
        n_parameters=sum(p.numel() for p in model.parameters()), device=str(device),
        torch_threads=torch.get_num_threads(), peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )  # fmt: skip
    write_json(Path(out) / "summary.json", summary)
    log.info("%s %s seed %d: test accuracy %.4f (majority %.4f, learned %s) in %.1f s", task, model_name, seed,
             result["accuracy"], majority, summary["learned"], summary["total_seconds"])  # fmt: skip
    return summary


# ------------------------------------------------------------------------------------------------
# Gathering: the runs table, the advantages per seed and the alignment table
# ------------------------------------------------------------------------------------------------
def run_row(summary_path: Path) -> dict:
    """One row of the runs table from a run's ``summary.json``."""
    from contlaws.io import read_json

    s = read_json(summary_path)
    try:
        return {"task": s["benchmark"], "model": s["model"], "seed": int(s["seed"]),
                "accuracy": float(s["test"]["accuracy"]), "error": float(s["error"]), "n_test": int(s["n_test"]),
                "majority_accuracy": float(s["majority_accuracy"]), "gate_accuracy": float(s["gate_accuracy"]),
                "learned": bool(s["learned"]), "best_epoch": int(s["best_epoch"]),
                "train_seconds": float(s["total_seconds"])}  # fmt: skip
    except (KeyError, TypeError, ValueError) as err:
        raise DataFileError(f"{summary_path}: not a C4(b) run summary ({type(err).__name__}: {err})") from None


def tc_of_record(path: Path) -> tuple[float, float]:
    """(TC, its standard error) from a ``contlaws task-continuity --out-json`` record."""
    from contlaws.experiments.alignment import tc_row

    row = tc_row(Path(path))
    return row["tc"], row["tc_stderr"]


def seed_advantages(runs: pd.DataFrame, task: str, reference: str) -> pd.DataFrame:
    """A per seed of S4D and S6 against ``reference`` on ``task``, paired by seed (SEED_COLUMNS)."""
    import pandas as pd

    here = runs[runs["task"] == task]
    ref = here[here["model"] == reference].set_index("seed")["error"]
    rows = []
    for model in (CONTINUOUS_MODEL, CONTRAST_MODEL):
        own = here[here["model"] == model].set_index("seed")["error"]
        for seed in sorted(set(own.index) & set(ref.index)):
            rows.append({"task": task, "model": model, "seed": int(seed), "reference_model": reference,
                         "error_reference": float(ref[seed]), "error_model": float(own[seed]),
                         "advantage": advantage(float(ref[seed]), float(own[seed]))})  # fmt: skip
    return pd.DataFrame(rows, columns=SEED_COLUMNS)


def task_row(runs: pd.DataFrame, task: str, tc: tuple[float, float]) -> tuple[dict, pd.DataFrame]:
    """The alignment row of one task and its advantages per seed."""
    from contlaws.stats import mean_and_stderr

    here = runs[runs["task"] == task]
    mean_error = here.groupby("model")["error"].mean()
    references = [m for m in REFERENCE_MODELS if m in mean_error.index]
    not_learned = here[~here["learned"].astype(bool)]
    note = "; ".join(f"{r.model} seed {r.seed} not past its gate (accuracy {r.accuracy:.3f} <= {r.gate_accuracy:.3f})"
                     for r in not_learned.itertuples())  # fmt: skip
    row = {"task": task, "tc": tc[0], "tc_stderr": tc[1], "reference_model": "", "advantage_s4d": math.nan,
           "advantage_s4d_se": math.nan, "n_seeds_s4d": 0, "advantage_s6": math.nan, "advantage_s6_se": math.nan,
           "error_s4d": float(mean_error.get(CONTINUOUS_MODEL, math.nan)), "error_reference": math.nan,
           "all_learned": not_learned.empty and bool(references) and CONTINUOUS_MODEL in mean_error.index,
           "note": note}  # fmt: skip
    if not references or CONTINUOUS_MODEL not in mean_error.index:
        row["note"] = "; ".join(filter(None, [note, "no S4D run or no attention baseline"]))
        return row, seed_advantages(runs.iloc[0:0], task, "")
    reference = min(references, key=lambda m: (mean_error[m], references.index(m)))  # ties: config order
    per_seed = seed_advantages(runs, task, reference)
    s4d = per_seed[per_seed["model"] == CONTINUOUS_MODEL]["advantage"]
    s6 = per_seed[per_seed["model"] == CONTRAST_MODEL]["advantage"]
    row["reference_model"], row["error_reference"] = reference, float(mean_error[reference])
    row["advantage_s4d"], row["advantage_s4d_se"] = mean_and_stderr(s4d)
    row["advantage_s6"], row["advantage_s6_se"] = mean_and_stderr(s6)
    row["n_seeds_s4d"] = len(s4d)
    return row, per_seed


def alignment_table(runs: pd.DataFrame, tc: Mapping[str, tuple[float, float]], tasks: Sequence[str]
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """(alignment table, advantages per seed) over ``tasks`` in the order given."""
    import pandas as pd

    missing = [t for t in tasks if t not in tc]
    if missing:
        raise DataFileError(f"no task-continuity record for task(s) {missing}")
    rows, seeds = [], []
    for task in tasks:
        row, per_seed = task_row(runs, task, tc[task])
        rows.append(row)
        seeds.append(per_seed)
    table = pd.DataFrame(rows, columns=ALIGNMENT_COLUMNS)
    per_seed = pd.concat(seeds, ignore_index=True) if seeds else pd.DataFrame(columns=SEED_COLUMNS)
    return table, per_seed


def write_tables(cfg: Mapping[str, Any], summaries: Sequence[Path], tc_records: Sequence[Path], out_runs: Path,
                 out_alignment: Path, out_seeds: Path) -> pd.DataFrame:  # fmt: skip
    """Gather the runs' summaries and the tasks' TC records into the three C4(b) tables."""
    import pandas as pd

    from contlaws.io import provenance, write_table

    runs = pd.DataFrame([run_row(Path(p)) for p in summaries], columns=RUN_COLUMNS)
    tc = {Path(p).stem: tc_of_record(Path(p)) for p in tc_records}
    tasks = list(dict.fromkeys(runs["task"]))
    table, per_seed = alignment_table(runs, tc, tasks)
    section = {k: cfg[k] for k in ("seed", "alignment_benchmarks", "task_continuity", "gates")}
    record = provenance(section, cfg["seed"], runs=sorted(str(p) for p in summaries),
                        task_continuity=sorted(str(p) for p in tc_records),
                        advantage="ln(err_ref / err_S4D), err = max(1 - accuracy, 0.5 / n_test), ref = the attention "
                                  "baseline with the lowest seed-mean error")  # fmt: skip
    write_table(out_runs, runs.sort_values(["task", "model", "seed"], key=_config_order(tasks)), meta=record)
    write_table(out_alignment, table, meta=record)
    write_table(out_seeds, per_seed, meta=record)
    return table


def _config_order(tasks: Sequence[str]):
    """Sort key for pandas: tasks in config order, models in :data:`MODELS` order, seeds numerically."""
    order = {**{t: i for i, t in enumerate(tasks)}, **{m: i for i, m in enumerate(MODELS)}}

    def key(col):
        return col.map(order) if col.name in ("task", "model") else col

    return key
