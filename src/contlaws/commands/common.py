"""Argument helpers shared by the command modules (the library never sees argparse)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from contlaws.config import load_config


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
