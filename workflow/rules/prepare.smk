rule prepare:
    input:
        config=DATA_CONFIG,
    output:
        directory("results/data/x{scale}"),
    log:
        "logs/prepare/x{scale}.log",
    benchmark:
        "benchmarks/prepare/x{scale}.tsv"
    conda:
        "../envs/mri-sr.yaml"
    shell:
        "mri-sr prepare --config {input.config} --scale {wildcards.scale} --out {output} > {log} 2>&1"


rule prepare_scan:
    input:
        config=scan_config,
    output:
        directory("results/scans/x{scale}/{scan}"),
    log:
        "logs/prepare/x{scale}/scan-{scan}.log",
    benchmark:
        "benchmarks/prepare/x{scale}/scan-{scan}.tsv"
    conda:
        "../envs/mri-sr.yaml"
    shell:
        "mri-sr prepare --config {input.config} --scale {wildcards.scale} --out {output} > {log} 2>&1"
