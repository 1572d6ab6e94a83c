# The MRI feature network of the perceptual terms (network: mri), trained self-supervised on
# the prepared HR slices before the GAN stages that use it.
rule features:
    input:
        data="results/data/x{scale}",
    output:
        "results/features/x{scale}/features.pt",
    params:
        iterations=config["training"]["features"]["iterations"],
        batch_size=config["training"]["features"]["batch_size"],
        seed=config["seed"],
        device=config["training"]["device"],
        precision=config["training"]["precision"],
    log:
        "logs/features/x{scale}.log",
    benchmark:
        "benchmarks/features/x{scale}.tsv"
    threads: config["training"]["threads"]
    resources:
        gpu=config["training"]["gpus"],
    conda:
        "../envs/mri-sr.yaml"
    shell:
        "mri-sr features --data {input.data} --out {output} --iterations {params.iterations} "
        "--batch-size {params.batch_size} --seed {params.seed} --device {params.device} "
        "--precision {params.precision} > {log} 2>&1"
