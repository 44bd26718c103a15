# E1: numerical refinement of continuous S4 vs S6 against an RK4 reference (spec E1). CPU only, no data.


rule refine_numerical_compute:
    """Errors of discretized S4/S6 (ZOH, bilinear) against RK4, per system, amplitude and tau."""
    output:
        csv=f"{RESULTS}/refinement_numerical/errors.csv",
        meta=f"{RESULTS}/refinement_numerical/errors.csv.meta.json",
    benchmark:
        f"{BENCHMARKS}/refine_numerical_compute/compute.tsv",
    log:
        f"{LOGS}/refinement_numerical/compute.log",
    params:
        config=RESOLVED,
        settings=settings("refinement_numerical"),
    resources:
        runtime=job_runtime("refine_numerical_compute"),
        mem_mb=job_mem_mb("refine_numerical_compute"),
    conda:
        CONDA_ENV
    shell:
        "contlaws refinement-numerical-run --config {params.config} --out {output.csv} > {log} 2>&1"


rule refine_numerical_plot:
    """Figure (error vs tau per model and discretization) and empirical convergence orders."""
    input:
        csv=rules.refine_numerical_compute.output.csv,
    output:
        pdf=f"{FIGS}/refinement_numerical.pdf",
        png=report(
            f"{FIGS}/refinement_numerical.png",
            caption="../report/refinement_numerical.rst",
            category="E1: numerical refinement",
        ),
        orders_csv=report(
            f"{RESULTS}/refinement_numerical/orders.csv",
            caption="../report/refinement_numerical_orders.rst",
            category="E1: numerical refinement",
        ),
        orders_tex=f"{RESULTS}/refinement_numerical/orders.tex",
        ratios_csv=f"{RESULTS}/refinement_numerical/amplitude_ratios.csv",
    benchmark:
        f"{BENCHMARKS}/refine_numerical_plot/plot.tsv",
    log:
        f"{LOGS}/refinement_numerical/plot.log",
    params:
        stem=lambda wildcards, output: output.pdf.removesuffix(".pdf"),
    resources:
        runtime=job_runtime("refine_numerical_plot"),
        mem_mb=job_mem_mb("refine_numerical_plot"),
    conda:
        CONDA_ENV
    shell:
        "contlaws refinement-numerical-plot --results {input.csv} --out-figure {params.stem}"
        " --out-orders-csv {output.orders_csv} --out-orders-tex {output.orders_tex} --out-ratios-csv {output.ratios_csv} > {log} 2>&1"


REFINEMENT_NUMERICAL_TARGETS = list(rules.refine_numerical_plot.output)


rule refinement_numerical:
    """Target: the E1 figure and orders table."""
    input:
        REFINEMENT_NUMERICAL_TARGETS,


ALL_TARGETS.extend(REFINEMENT_NUMERICAL_TARGETS)
