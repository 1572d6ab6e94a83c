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
