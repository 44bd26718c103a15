"""Verdicts on the paper's claims (C1–C5, and C4b: C4 across real benchmarks), computed from this run's result tables.

Every claim is one function ``evaluate_cN(inputs, cfg) -> dict`` registered with :func:`claim`
under its id, the statement it tests and the named input files it reads. It returns

    verdict      "supported" | "not supported" | "inconclusive"
    numbers      the headline numbers the verdict used (scalars; shown in the claims table)
    details      optional: the per-system / per-amplitude numbers behind them
    thresholds   the ``claims.*`` config values it compared them with
    explanation  one paragraph: the test, and why this verdict

and :func:`evaluate_claim` adds the claim id, its statement, the input files (path and sha256) and
provenance. Thresholds come only from the config section ``claims`` (defaults and descriptions in
src/contlaws/config.schema.yaml); docs/claims.md states each test in words.

    contlaws claims evaluate C1 --config results/quick/config.resolved.json \\
        --inputs model_continuity=results/quick/refinement_trained/model_continuity.csv \\
                 amplitude_sweep=results/quick/refinement_trained/amplitude_sweep.csv \\
                 numerical_orders=results/quick/refinement_numerical/orders.csv \\
        --out results/quick/claims/C1.json
    contlaws claims list                     # ids, statements, expected inputs

Adding a claim: write ``evaluate_cN`` in a new module ``cN.py``, import it in this package, and decorate it with
``@claim("CN", statement, inputs=(...))``; nothing else changes.

Modules: :mod:`.registry` (the decorator, combinators, input checks, :func:`evaluate_claim`), ``c4b`` (C4 across real benchmarks),
:mod:`.measures` (measurements shared by C1 and C2) and one module per claim, ``c1`` … ``c5``;
importing this package registers every claim.
"""

from __future__ import annotations

from contlaws.claims import c1, c2, c3, c4, c4b, c5  # noqa: F401 (importing registers the claims)
from contlaws.claims.c1 import evaluate_c1
from contlaws.claims.c2 import evaluate_c2
from contlaws.claims.c3 import eta_family_tc, evaluate_c3
from contlaws.claims.c4 import C4_MIN_N, evaluate_c4
from contlaws.claims.c4b import evaluate_c4b
from contlaws.claims.c5 import c5_task_verdict, evaluate_c5, timing_margin
from contlaws.claims.measures import (
    amplitude_growth,
    combine_across,
    continuity_summary,
    learned_rows,
    nominal_s4_order,
    paired_difference,
    relative_rmse_increase_by_seed,
)
from contlaws.claims.registry import (
    CLAIMS,
    VERDICTS,
    Claim,
    claim,
    combine,
    evaluate_claim,
    file_sha256,
    inconclusive_for_non_finite,
    non_finite,
    read_csv_input,
)

__all__ = [
    "C4_MIN_N",
    "CLAIMS",
    "VERDICTS",
    "Claim",
    "amplitude_growth",
    "c5_task_verdict",
    "claim",
    "combine",
    "combine_across",
    "continuity_summary",
    "eta_family_tc",
    "evaluate_c1",
    "evaluate_c2",
    "evaluate_c3",
    "evaluate_c4",
    "evaluate_c4b",
    "evaluate_c5",
    "evaluate_claim",
    "file_sha256",
    "inconclusive_for_non_finite",
    "learned_rows",
    "nominal_s4_order",
    "non_finite",
    "paired_difference",
    "read_csv_input",
    "relative_rmse_increase_by_seed",
    "timing_margin",
]
