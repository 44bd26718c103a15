# Run-level outputs for `snakemake --report`: provenance of the run, the claims table (C1-C5, C4b) and the
# pages that show the claims, the key result tables and the provenance inline (the report shows an
# HTML result in its main view, a CSV or YAML result only as a download link).
import shlex


rule provenance:
    """Resolved config, git commit, package versions and device of this run (shown in the report)."""
    output:
        report(
            f"{RESULTS}/provenance.yaml",
            caption="../report/provenance.rst",
            category="Run",
        ),
    benchmark:
        f"{BENCHMARKS}/provenance/provenance.tsv",
    log:
        f"{LOGS}/provenance.log",
    params:
        config=RESOLVED,
        settings=settings(*CFG.keys()),
    resources:
        runtime=job_runtime("provenance"),
        mem_mb=job_mem_mb("provenance"),
    conda:
        CONDA_ENV
    shell:
        "contlaws report-provenance --config {params.config} --out {output} > {log} 2>&1"


rule claims:
    """Target: the verdicts of claims C1-C5 and C4b in one table (claim, verdict, the numbers behind it)."""
    input:
        verdicts=CLAIM_FILES,
    output:
        csv=report(f"{RESULTS}/claims/claims.csv", caption="../report/claims.rst", category="Claims"),
        md=f"{RESULTS}/claims/claims.md",
        html=report(f"{RESULTS}/claims/claims.html", caption="../report/claims.rst", category="Claims"),
        # claim, verdict, statement: the table on the report's landing page (workflow/report/workflow.rst)
        verdicts=f"{RESULTS}/claims/verdicts.csv",
    benchmark:
        f"{BENCHMARKS}/claims/claims.tsv",
    log:
        f"{LOGS}/claims.log",
    resources:
        runtime=job_runtime("claims"),
        mem_mb=job_mem_mb("claims"),
    conda:
        CONDA_ENV
    shell:
        "contlaws claims-gather --inputs {input.verdicts} --out-csv {output.csv} --out-md {output.md}"
        " --out-html {output.html} --out-verdicts {output.verdicts} > {log} 2>&1"


# The key result tables, rendered on one report page (title -> CSV); only those this config builds.
REPORT_TABLES = {
    "E1: convergence orders under numerical refinement": rules.refine_numerical_plot.output.orders_csv,
    "Figure 4: test error of trained models under refinement": rules.refinement_trained_tables.output.rmse_csv,
    "Figure 4: model continuity of trained models": rules.model_continuity_table.output.table_csv,
    "Figure 5: test error against eta": rules.figure5_plot.output.table_csv,
    "Figure 6: subsampled against full-resolution training": rules.subsampling_tables.output.table_csv,
    "E4: task continuity of each dataset": rules.task_continuity_table.output.csv,
    "C4(b): task continuity and S4D's advantage across real benchmarks": rules.alignment_benchmarks_tables.output.alignment,
}
REPORT_TABLES = {title: path for title, path in REPORT_TABLES.items() if path in ALL_TARGETS}


rule report_pages:
    """The key result tables and the provenance as HTML pages, shown inline in the report."""
    input:
        tables=list(REPORT_TABLES.values()),
        provenance=rules.provenance.output[0],
    output:
        tables=report(f"{RESULTS}/report/tables.html", caption="../report/tables_page.rst", category="Result tables"),
        provenance=report(f"{RESULTS}/report/provenance.html", caption="../report/provenance.rst", category="Run"),
    benchmark:
        f"{BENCHMARKS}/report_pages/report_pages.tsv",
    log:
        f"{LOGS}/report_pages.log",
    params:
        tables=" ".join(f"--table {shlex.quote(f'{title}={path}')}" for title, path in REPORT_TABLES.items()),
    resources:
        runtime=job_runtime("report_pages"),
        mem_mb=job_mem_mb("report_pages"),
    conda:
        CONDA_ENV
    shell:
        "(contlaws report-page --title 'Key result tables' {params.tables} --out {output.tables}"
        " && contlaws report-page --title 'Provenance of this run' --text 'provenance.yaml={input.provenance}'"
        " --out {output.provenance}) > {log} 2>&1"


ALL_TARGETS.extend(rules.report_pages.output)
ALL_TARGETS.append(f"{RESULTS}/provenance.yaml")
if CLAIM_FILES:
    ALL_TARGETS.extend(rules.claims.output)
