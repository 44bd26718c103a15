# Run-level outputs for `snakemake --report`: provenance of the run and the claims table (C1-C5).


rule provenance:
    """Resolved config, git commit, package versions and device of this run (shown in the report)."""
    output:
        report(
            f"{RESULTS}/provenance.yaml",
            caption="../report/provenance.rst",
            category="Run",
        ),
    log:
        f"{LOGS}/provenance.log",
    params:
        config=RESOLVED,
        settings=settings(*CFG.keys()),
    conda:
        CONDA_ENV
    shell:
        "contlaws provenance --config {params.config} --out {output} > {log} 2>&1"


rule claims:
    """Target: the verdicts of claims C1-C5 in one table (claim, verdict, the numbers behind it)."""
    input:
        verdicts=CLAIM_FILES,
    output:
        csv=report(f"{RESULTS}/claims/claims.csv", caption="../report/claims.rst", category="Claims"),
        md=f"{RESULTS}/claims/claims.md",
    log:
        f"{LOGS}/claims.log",
    conda:
        CONDA_ENV
    shell:
        "contlaws claims-table {input.verdicts} --out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


ALL_TARGETS.append(f"{RESULTS}/provenance.yaml")
if CLAIM_FILES:
    ALL_TARGETS.append(f"{RESULTS}/claims/claims.csv")
