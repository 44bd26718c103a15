# The settings of the run as files: results/<run>/config.resolved.json and config.diff.json.


rule resolved_config:
    """The settings of this run (defaults filled) and every key that differs from the paper config.

    Written by a job, so a dry run never touches them; rerun whenever any setting changes.
    """
    output:
        resolved=f"{RESULTS}/config.resolved.json",
        diff=f"{RESULTS}/config.diff.json",
    benchmark:
        f"{BENCHMARKS}/resolved_config/config.tsv",
    log:
        f"{LOGS}/config.log",
    params:
        config=RESOLVED,
        settings=json.dumps(CFG, sort_keys=True),
    resources:
        runtime=job_runtime("resolved_config"),
        mem_mb=job_mem_mb("resolved_config"),
    conda:
        CONDA_ENV
    shell:
        "contlaws config --config {params.config} --out-resolved {output.resolved} --out-diff {output.diff} > {log} 2>&1"


ALL_TARGETS.append(f"{RESULTS}/config.resolved.json")
