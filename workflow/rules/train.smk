rule train:
    input:
        data="results/data/x{scale}",
        config=model_config,
        init=init_checkpoint,
        features=feature_checkpoint,
    output:
        "results/runs/x{scale}/{model}/final.pt",
    params:
        out=subpath(output[0], parent=True),
        init=init_option,
        features=features_option,
        device=config["training"]["device"],
        precision=config["training"]["precision"],
    log:
        "logs/train/x{scale}/{model}.log",
    benchmark:
        "benchmarks/train/x{scale}/{model}.tsv"
    threads: config["training"]["threads"]
    resources:
        gpu=config["training"]["gpus"],
    conda:
        "../envs/mri-sr.yaml"
    shell:
        "mri-sr train --config {input.config} --data {input.data} --out {params.out} "
        "--device {params.device} --precision {params.precision} {params.init} {params.features} > {log} 2>&1"


rule interpolate:
    input:
        unpack(interpolation_inputs),
    output:
        "results/runs/x{scale}/{model}_interp/final.pt",
    params:
        alpha=interpolation_alpha,
    log:
        "logs/interpolate/x{scale}/{model}.log",
    benchmark:
        "benchmarks/interpolate/x{scale}/{model}.tsv"
    conda:
        "../envs/mri-sr.yaml"
    shell:
        "mri-sr interpolate --alpha {params.alpha} {input.psnr} {input.gan} {output} > {log} 2>&1"
