# Dynamical-system datasets (spec E2, E3): generated, deterministic from (config, seed).


rule regression_dataset:
    """Parameter-regression split of one system at refinement factor tau (spec E2)."""
    output:
        npz=f"{DATA}/regression/{{system}}_tau{{tau}}_{{split}}.npz",
    benchmark:
        f"{BENCHMARKS}/regression_dataset/regression_{{system}}_tau{{tau}}_{{split}}.tsv",
    log:
        f"{LOGS}/data/regression_{{system}}_tau{{tau}}_{{split}}.log",
    params:
        config=RESOLVED,
        settings=settings("regression"),
    resources:
        runtime=job_runtime("regression_dataset"),
        mem_mb=job_mem_mb("regression_dataset"),
    conda:
        CONDA_ENV
    shell:
        "contlaws data generate regression --config {params.config} --system {wildcards.system}"
        " --tau {wildcards.tau} --split {wildcards.split} --out {output.npz} > {log} 2>&1"


rule forecasting_dataset:
    """eta-mixed 16-dimensional forecasting split of one system (spec E3)."""
    output:
        npz=f"{DATA}/forecasting/{{system}}_eta{{eta}}_{{split}}.npz",
    benchmark:
        f"{BENCHMARKS}/forecasting_dataset/forecasting_{{system}}_eta{{eta}}_{{split}}.tsv",
    log:
        f"{LOGS}/data/forecasting_{{system}}_eta{{eta}}_{{split}}.log",
    params:
        config=RESOLVED,
        settings=settings("forecasting"),
    resources:
        runtime=job_runtime("forecasting_dataset"),
        mem_mb=job_mem_mb("forecasting_dataset"),
    conda:
        CONDA_ENV
    shell:
        "contlaws data generate forecasting --config {params.config} --system {wildcards.system}"
        " --eta {wildcards.eta} --split {wildcards.split} --out {output.npz} > {log} 2>&1"


rule datasets:
    """Target: every dataset the config asks for."""
    input:
        dataset_targets(),


ALL_TARGETS.extend(dataset_targets())
