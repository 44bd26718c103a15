"""Generate the dynamical-system datasets (spec E2, E3) and inspect any split file (`contlaws data`).

    contlaws data generate regression  --config C --system vdp --tau 0.5 --split test --out F.npz
    contlaws data generate forecasting-latent --config C --system dho --split train --out L.npz
    contlaws data generate forecasting --latent L.npz --eta 0.25 --out F.npz   (η file: η and L's name)
    contlaws data generate forecasting --config C --system dho --eta 0.25 --split train --out F.npz
                                       (one self-contained file: the latent arrays and η)
    contlaws data info F.npz
"""

from __future__ import annotations

import argparse
import logging
import math

import numpy as np

from contlaws.commands.common import add_config_argument, config_from_args
from contlaws.data.dynamics import SYSTEMS
from contlaws.data.regression import SPLITS
from contlaws.errors import UserError

log = logging.getLogger(__name__)


def cmd_generate_regression(args: argparse.Namespace) -> int:
    from contlaws.data.regression import make_regression_split
    from contlaws.io import refuse_output_over_input, save_npz

    if not (math.isfinite(args.tau) and args.tau > 0):
        raise UserError(f"--tau must be a positive number, got {args.tau}")
    refuse_output_over_input(args.out, [args.config], "--out")
    cfg = config_from_args(args)
    arrays, meta = make_regression_split(cfg, args.system, args.tau, args.split)
    checksum = save_npz(args.out, arrays, meta)
    log.info("wrote %s: x %s, y %s (checksum %s)", args.out, arrays["x"].shape, arrays["y"].shape, checksum[:12])
    return 0


def cmd_generate_forecasting(args: argparse.Namespace) -> int:
    from contlaws.data.forecasting import eta_file_record, make_forecasting_split
    from contlaws.io import refuse_output_over_input, save_npz

    if not 0.0 <= args.eta <= 1.0:
        raise UserError(f"--eta must lie in [0, 1], got {args.eta}")
    given = [name for name in ("config", "system", "split") if getattr(args, name) is not None]
    if args.latent is not None:
        if given:
            raise UserError(f"--latent takes the system, split and settings from the latent file; "
                            f"drop --{', --'.join(given)}")  # fmt: skip
        refuse_output_over_input(args.out, [args.latent], "--out")
        arrays, meta = eta_file_record(args.latent, args.out, args.eta)
        checksum = save_npz(args.out, arrays, meta)
        log.info("wrote %s: eta %g of latent file %s (checksum %s)", args.out, args.eta, args.latent, checksum[:12])
        return 0
    if len(given) < 3:
        missing = [f"--{name}" for name in ("config", "system", "split") if getattr(args, name) is None]
        raise UserError(f"give --latent FILE, or --config, --system and --split (missing {', '.join(missing)})")
    refuse_output_over_input(args.out, [args.config], "--out")
    cfg = config_from_args(args)
    arrays, meta = make_forecasting_split(cfg, args.system, args.eta, args.split)
    checksum = save_npz(args.out, arrays, meta)
    log.info("wrote %s: state %s, symbols %s (checksum %s)", args.out, arrays["state"].shape,
             arrays["symbols"].shape, checksum[:12])
    return 0


def cmd_generate_forecasting_latent(args: argparse.Namespace) -> int:
    from contlaws.data.forecasting import make_forecasting_latent
    from contlaws.io import refuse_output_over_input, save_npz

    refuse_output_over_input(args.out, [args.config], "--out")
    cfg = config_from_args(args)
    arrays, meta = make_forecasting_latent(cfg, args.system, args.split)
    checksum = save_npz(args.out, arrays, meta)
    log.info("wrote %s: state %s, symbols %s (checksum %s)", args.out, arrays["state"].shape,
             arrays["symbols"].shape, checksum[:12])
    return 0


def _short(value, width: int = 100) -> str:
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def cmd_info(args: argparse.Namespace) -> int:
    from contlaws.io import load_npz

    arrays, meta = load_npz(args.path)  # verifies the checksum; DataFileError names the file
    print(f"{args.path}")
    print(f"  checksum  {meta['checksum']} (verified)")
    for key in sorted(meta):
        if key in ("checksum", "provenance"):
            continue
        print(f"  {key:<20} {_short(meta[key])}")
    prov = meta.get("provenance", {})
    if prov:
        print(f"  provenance           git {prov.get('git_commit')}, seed {prov.get('seed')}, device {prov.get('device')}")
    print("  arrays:")
    for name in sorted(arrays):
        arr = arrays[name]
        value = f" = {arr.item()}" if arr.size == 1 else ""
        print(f"    {name:<10} {arr.dtype!s:<8} {arr.shape!s:<18} {arr.nbytes / 2**20:9.2f} MiB{value}")
    if meta.get("latent_file"):
        print(f"  latent file          {meta['latent_file']} (checksum {meta.get('latent_checksum')})")
    if meta.get("kind") == "forecasting":
        from contlaws.data.forecasting import forecast_observations, resolve_latent

        arrays = resolve_latent(arrays, meta, args.path)
        inputs, targets = forecast_observations(arrays, np.arange(min(1, len(arrays["state"]))))
        print(f"  samples: input (n, {inputs.shape[1]}, {inputs.shape[2]}), target (n, {targets.shape[1]}, "
              f"{targets.shape[2]}) float32, built per batch")
    return 0


def register(subparsers) -> None:
    data = subparsers.add_parser("data", help="dynamical-system datasets (E2, E3): generate, inspect",
                                 description=__doc__.splitlines()[0])
    actions = data.add_subparsers(dest="data_action", required=True, metavar="ACTION")

    generate = actions.add_parser("generate", help="generate one split file")
    kinds = generate.add_subparsers(dest="kind", required=True, metavar="KIND")

    reg = kinds.add_parser("regression", help="E2 parameter regression from x(t) at refinement factor tau",
                           description="Write one E2 regression split (x: (n, L, 1) float32, y: labels).")
    add_config_argument(reg)
    reg.add_argument("--system", required=True, choices=SYSTEMS)
    reg.add_argument("--tau", required=True, type=float, help="refinement factor: step dt*tau, length round(length/tau)")
    reg.add_argument("--split", required=True, choices=SPLITS)
    reg.add_argument("--out", required=True, help="output .npz")
    reg.set_defaults(func=cmd_generate_regression)

    latent = kinds.add_parser("forecasting-latent", help="E3 latent trajectories of one system and split (every eta)",
                              description="Write the eta-independent part of one E3 forecasting split: latent "
                                          "state, symbols, W, Q (the eta files refer to it).")  # fmt: skip
    add_config_argument(latent)
    latent.add_argument("--system", required=True, choices=SYSTEMS)
    latent.add_argument("--split", required=True, choices=SPLITS)
    latent.add_argument("--out", required=True, help="output .npz")
    latent.set_defaults(func=cmd_generate_forecasting_latent)

    fc = kinds.add_parser("forecasting", help="E3 eta-mixed 16-dimensional forecasting split",
                          description="Write one E3 forecasting split: with --latent an eta file (eta and the "
                                      "latent file's name and checksum), else one self-contained file (latent "
                                      "state, symbols, W, Q, eta).")  # fmt: skip
    fc.add_argument("--latent", help="latent file (`data generate forecasting-latent`); replaces --config/--system/--split")
    add_config_argument(fc, required=False)
    fc.add_argument("--system", choices=SYSTEMS)
    fc.add_argument("--eta", required=True, type=float, help="continuity level in [0, 1] (0 continuous, 1 symbolic)")
    fc.add_argument("--split", choices=SPLITS)
    fc.add_argument("--out", required=True, help="output .npz")
    fc.set_defaults(func=cmd_generate_forecasting)

    info = actions.add_parser("info", help="print a split file's metadata and array shapes; verify its checksum")
    info.add_argument("path", help="a .npz written by contlaws")
    info.set_defaults(func=cmd_info)
