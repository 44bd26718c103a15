"""``contlaws config``: resolve a config file and list the keys that differ from the paper config."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from contlaws.config import PAPER_CONFIG, config_diff, load_config
from contlaws.errors import ConfigError
from contlaws.io import write_json


def cmd_config(args: argparse.Namespace) -> int:
    """``contlaws config``: the resolved config and the keys that differ from the paper config."""
    for out in (args.out_resolved, args.out_diff):
        if out is not None and out.resolve() == args.config.resolve():
            raise ConfigError(f"output {out} is the input config file; choose another path")
    cfg = load_config(args.config)
    diff = config_diff(cfg)
    if args.out_resolved:
        write_json(args.out_resolved, cfg)
    if args.out_diff:
        write_json(args.out_diff, {"paper_config": PAPER_CONFIG.name, "differs": diff})
    print(f"{args.config}: {len(diff)} key(s) differ from the paper config ({PAPER_CONFIG.name})")
    for key, change in diff.items():
        print(f"  {key}: {json.dumps(change['value'])}   (paper: {json.dumps(change['paper'])})")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "config",
        help="resolve a config (the paper config with the file merged over it) and list the keys that differ",
        description="Every config file is an overlay of the paper config (contlaws/paper.yaml): mappings "
        "merge key by key, other values replace. Prints each key whose resolved value differs from the paper's.",
    )
    p.add_argument("--config", type=Path, required=True, help="config file (YAML/JSON), an overlay of the paper config")
    p.add_argument("--out-resolved", type=Path, help="write the resolved config (defaults filled, JSON) here")
    p.add_argument("--out-diff", type=Path, help="write the keys that differ from the paper config (JSON) here")
    p.set_defaults(func=cmd_config)
