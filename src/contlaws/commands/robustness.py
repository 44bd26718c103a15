"""``contlaws robustness-plan|robustness-gather|robustness-plot``: the pre-registered specification variants of the claims
table (logic in :mod:`contlaws.robustness`; ``make robustness`` runs them)."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_VARIANTS = Path("config/robustness.yaml")


def cli_plan(args: argparse.Namespace) -> None:
    """Check every variant and write its overlay; print one line per variant: name and overlay path."""
    from contlaws.robustness import write_overlays

    for variant, path in write_overlays(args.variants, args.out_dir):
        print(f"{variant.name}\t{path}")


def cli_gather(args: argparse.Namespace) -> None:
    """The stability table, its summary and the specification-curve CSV from every run's verdict files."""
    from contlaws.robustness import gather_runs, write_stability

    runs, reasons = gather_runs(args.variants, args.results)
    summary = write_stability(runs, reasons, args.out_dir)
    for label, text in summary.items():
        print(f"{label}: {text}")
    print(f"wrote {args.out_dir}/stability.{{csv,md}}, summary.json, spec_curve.csv")


def cli_complete(args: argparse.Namespace) -> None:
    """Record that a variant's run has finished (its verdict files are its own from now on)."""
    from contlaws.robustness import mark_complete

    print(f"wrote {mark_complete(args.variants, args.name, args.results)}")


def cli_seed(args: argparse.Namespace) -> None:
    """Link a finished run's files and Snakemake records into a variant's run folders (contlaws.run_seed)."""
    from contlaws.run_seed import seed_run

    print(seed_run(args.workdir, args.source, args.target).describe(args.source, args.target))


def cli_plot(args: argparse.Namespace) -> None:
    from contlaws.plots.robustness import plot_spec_curve

    for path in plot_spec_curve(args.csv, args.out):
        print(f"wrote {path}")


def register(subparsers) -> None:
    plan = subparsers.add_parser("robustness-plan", help="check every robustness variant, write its Snakemake overlay")
    plan.add_argument("--variants", type=Path, default=DEFAULT_VARIANTS, help="variants file (config/robustness.yaml)")
    plan.add_argument("--out-dir", type=Path, default=Path("results/robustness/overlays"), help="overlay folder")
    plan.set_defaults(func=cli_plan)
    gather = subparsers.add_parser("robustness-gather",
                                   help="stability table, summary and spec-curve CSV from results/<run>/claims/")  # fmt: skip
    gather.add_argument("--variants", type=Path, default=DEFAULT_VARIANTS, help="variants file (config/robustness.yaml)")
    gather.add_argument("--results", type=Path, default=Path("results"), help="folder holding results/<run>/")
    gather.add_argument("--out-dir", type=Path, default=Path("results/robustness"), help="output folder")
    gather.set_defaults(func=cli_gather)
    complete = subparsers.add_parser(
        "robustness-complete",
        help="record that a variant's run has finished (robustness-gather reads only finished variants)",
        description="After a variant's `snakemake claims` has succeeded: write results/robustness_NAME/"
                    "robustness_complete.json with its overlay's digest and its verdict files' digests. Until then "
                    "its seeded verdict files are the baseline's, and robustness-gather shows it as not run.",
    )  # fmt: skip
    complete.add_argument("--variants", type=Path, default=DEFAULT_VARIANTS, help="variants file (config/robustness.yaml)")
    complete.add_argument("--name", required=True, help="the variant's name")
    complete.add_argument("--results", type=Path, default=Path("results"), help="folder holding results/<run>/")
    complete.set_defaults(func=cli_complete)
    seed = subparsers.add_parser(
        "robustness-seed",
        help="start a variant's run from a finished run: Snakemake then reruns only what the variant changes",
        description="Hard-link data/FROM and results/FROM into data/TO and results/TO, copy logs/FROM, and copy "
                    "Snakemake's records of those files under the new paths (contlaws.run_seed). A job reruns in "
                    "TO exactly when the variant's config changes a setting it reads. Files TO already has are kept.",
    )  # fmt: skip
    seed.add_argument("--from", dest="source", required=True, metavar="FROM", help="run_name of the finished run")
    seed.add_argument("--to", dest="target", required=True, metavar="TO", help="run_name of the variant")
    seed.add_argument("--workdir", type=Path, default=Path("."), help="the workflow's working folder (default .)")
    seed.set_defaults(func=cli_seed)
    plot = subparsers.add_parser("robustness-plot", help="specification-curve figure of C4 and C5 from spec_curve.csv")
    plot.add_argument("--csv", type=Path, default=Path("results/robustness/spec_curve.csv"))
    plot.add_argument("--out", type=Path, default=Path("figures/robustness/spec_curve"), help="output stem (.pdf, .png)")
    plot.set_defaults(func=cli_plot)
