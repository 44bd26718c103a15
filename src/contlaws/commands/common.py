"""Argument helpers shared by the command modules (the library never sees argparse)."""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

from contlaws.config import load_config
from contlaws.errors import UserError


def add_config_argument(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--config", type=Path, required=required, help="pipeline config (YAML/JSON), validated against the schema")


def add_classifier_run_arguments(parser: argparse.ArgumentParser, several: bool = False) -> None:
    """The options every classifier training command shares (E5, C4(b)): seed, the three splits, the
    run folder and what to do with a run folder of other settings. ``several``: --seed takes several
    seeds and --out a pattern naming {model} and {seed} (:func:`run_folders`)."""
    if several:
        parser.add_argument("--seed", type=int, nargs="+", default=[0], help="training seed(s) (default 0)")
    else:
        parser.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    parser.add_argument("--train", type=Path, required=True, help="training split (.npz)")
    parser.add_argument("--val", type=Path, required=True, help="validation split (.npz)")
    parser.add_argument("--test", type=Path, required=True, help="test split (.npz)")
    if several:
        parser.add_argument("--out", required=True,
                            help="output folder of the run; with several runs a pattern naming {model} and {seed}")
    else:
        parser.add_argument("--out", type=Path, required=True, help="output folder of the run")
    parser.add_argument("--restart-on-mismatch", action="store_true",
                        help="if --out/last.pt comes from other settings, start over instead of refusing (pipeline rules)")


def run_folders(out: str, models: list[str], seeds: list[int]) -> list[tuple[str, int, Path]]:
    """(model, seed, folder) of every run of one ``contlaws train`` call, models outer, seeds inner.

    One run: ``out`` is its folder (``{model}``/``{seed}`` in it are filled in). Several: ``out`` must
    name both, so that every run gets its own folder. Raises UserError otherwise.
    """
    runs = [(m, s) for m in models for s in seeds]
    if len(set(runs)) != len(runs):
        raise UserError(f"--model/--seed repeat a run: models {models}, seeds {seeds}")
    if len(runs) > 1 and not all(f"{{{key}}}" in out for key in ("model", "seed")):
        raise UserError(f"--out {out!r}: with several models or seeds it must contain {{model}} and {{seed}} "
                        "(one folder per run, e.g. results/x/{model}_seed{seed})")  # fmt: skip
    try:
        return [(m, s, Path(out.format(model=m, seed=s))) for m, s in runs]
    except (KeyError, IndexError, ValueError) as err:
        raise UserError(f"--out {out!r}: only {{model}} and {{seed}} may appear in braces ({err})") from None


def train_runs_in_turn(runs, train_one, diverged_error: type[Exception]) -> int:
    """Call ``train_one(model, seed, folder)`` for every run of :func:`run_folders`, in order, in this
    process; exit status 0, or 1 when a run raised ``diverged_error`` (the others still train).

    Several runs in one process pay the interpreter start and the imports (about 4 CPU s) once; each
    run seeds torch and numpy itself, so its bytes are those of a run alone (tests/test_train_many_runs.py).
    """
    diverged = []
    for i, (model, seed, out) in enumerate(runs):
        if len(runs) > 1:
            print(f"== run {i + 1}/{len(runs)}: {model} seed {seed} -> {out}", file=sys.stderr, flush=True)
        try:
            train_one(model, seed, out)
        except diverged_error as err:  # the other runs still train; the command fails at the end
            print(f"error: {out}: {err}" if len(runs) > 1 else f"error: {err}", file=sys.stderr)
            diverged.append(str(out))
    if diverged and len(runs) > 1:
        print(f"error: {len(diverged)} of {len(runs)} runs diverged: {', '.join(diverged)}", file=sys.stderr)
    return 1 if diverged else 0


def config_from_args(args: argparse.Namespace) -> dict:
    return load_config(args.config)


def set_threads(cfg_or_n) -> None:
    """Limit torch/BLAS intra-op threads (config key ``threads``) so parallel jobs do not oversubscribe."""
    n = cfg_or_n.get("threads", 1) if isinstance(cfg_or_n, dict) else int(cfg_or_n)
    os.environ.setdefault("OMP_NUM_THREADS", str(n))
    torch = sys.modules.get("torch")
    if torch is None:
        import torch
    torch.set_num_threads(n)


def positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_tau_path(text: str) -> tuple[float, Path]:
    """``"0.5=path.npz"`` or ``"1/8=path.npz"`` -> (τ, path); argparse type of the TAU=PATH options."""
    tau_text, sep, path = text.partition("=")
    try:
        if not sep or not path:
            raise ValueError
        tau = float(Fraction(tau_text.strip().removeprefix("tau")))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"expected TAU=PATH (e.g. 0.5=test.npz or 1/8=test.npz), got {text!r}") from None
    if tau <= 0:
        raise argparse.ArgumentTypeError(f"tau must be positive, got {tau_text!r} in {text!r}")
    return tau, Path(path)


def tau_path_map(pairs: list[tuple[float, Path]], option: str) -> dict[float, Path]:
    """{τ: path} of a TAU=PATH option; refuses a τ given twice and fewer than two τ."""
    out: dict[float, Path] = {}
    for tau, path in pairs:
        if tau in out:
            raise UserError(f"{option}: tau = {tau} given twice ({out[tau]} and {path})")
        out[tau] = path
    if len(out) < 2:
        raise UserError(f"{option}: model continuity needs test sets at two or more tau, got {len(out)}")
    return out


# ------------------------------------------------------------------------------------------------
# Trainers end with the process that started them
# ------------------------------------------------------------------------------------------------
PR_SET_PDEATHSIG = 1  # linux/prctl.h
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh"})
PARENT_POLL_SECONDS = 1.0


def _parent_of(pid: int) -> int | None:
    """The parent PID of process ``pid`` from /proc (None when it is gone or unreadable)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # fields after "(comm)": state, ppid, ...


def _is_shell(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() in SHELLS
    except OSError:
        return False


def exit_with_parent() -> None:
    """Linux: end this process (SIGTERM) when the process that started it ends; elsewhere nothing.

    A training killed with its launcher (Snakemake killed with SIGKILL, a terminal closed) would
    otherwise keep running as an orphan and keep writing its run folder while a rerun starts a
    second trainer there. ``prctl(PR_SET_PDEATHSIG)`` covers the direct parent. Snakemake runs a
    job as ``bash -c "..."``, and that shell outlives a killed Snakemake, so when the parent is a
    shell a daemon thread also watches the shell's own parent and ends this process once the shell
    is orphaned. A process started already orphaned (its launcher gone before this call) is left alone.
    The kernel sends the signal when the *thread* that started this process ends: a launcher should
    start trainers from a thread that lives as long as they do (Snakemake's shells do).
    """
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover (no prctl in this libc)
        return
    if os.getppid() != parent:  # the parent ended before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)
    if parent > 1 and _is_shell(parent):
        launcher = _parent_of(parent)
        if launcher is not None and launcher > 1:
            threading.Thread(target=_watch_shell, args=(parent, launcher), name="exit-with-parent", daemon=True).start()


def _watch_shell(shell: int, launcher: int) -> None:
    """End this process once ``shell`` is no longer the child of ``launcher`` (the launcher ended)."""
    while True:
        time.sleep(PARENT_POLL_SECONDS)
        if os.getppid() != shell or _parent_of(shell) != launcher:
            os.kill(os.getpid(), signal.SIGTERM)
            return
