"""Argument helpers shared by the command modules (the library never sees argparse)."""

from __future__ import annotations

import argparse
import os
import sys
from fractions import Fraction
from pathlib import Path

from contlaws.config import load_config
from contlaws.errors import UserError


def add_config_argument(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--config", type=Path, required=required, help="pipeline config (YAML/JSON), validated against the schema")


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
