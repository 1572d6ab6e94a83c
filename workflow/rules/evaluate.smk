rule evaluate:
    input:
        checkpoint=method_input,
        dataset=dataset_input,
    output:
        metrics="results/metrics/x{scale}/{dataset}/{method}.json",
        images=directory("results/metrics/x{scale}/{dataset}/{method}_images"),
    params:
        method=method_arg,
        dataset=dataset_arg,
        mask="--mask" if config["evaluation"]["mask"] else "",
        ensemble="--self-ensemble" if config["evaluation"]["self_ensemble"] else "",
        device=config["evaluation"]["device"],
        precision=config["evaluation"]["precision"],
    log:
        "logs/evaluate/x{scale}/{dataset}/{method}.log",
    benchmark:
        "benchmarks/evaluate/x{scale}/{dataset}/{method}.tsv"
    threads: config["evaluation"]["threads"]
    resources:
        gpu=config["evaluation"]["gpus"],
    conda:
        "../envs/mri-sr.yaml"
    shell:
        "mri-sr evaluate --method {params.method} --dataset {params.dataset} --scale {wildcards.scale} "
        "--name {wildcards.method} --out {output.metrics} --images {output.images} {params.mask} {params.ensemble} "
        "--device {params.device} --precision {params.precision} > {log} 2>&1"


rule report:
    input:
        metrics=all_metrics,
        runs=trained_models,
        config=WORKFLOW_CONFIG,
    output:
        html=report("results/report/index.html", category="Report"),
        csv=report("results/report/index.csv", category="Report"),
    params:
        runs=run_folders,
    log:
        "logs/report.log",
    benchmark:
        "benchmarks/report/report.tsv"
    conda:
        "../envs/mri-sr.yaml"
    shell:
        "mri-sr report --metrics {input.metrics} --runs {params.runs} --config {input.config} "
        "--out {output.html} > {log} 2>&1"


rule report_ablation:
    input:
        metrics=ablation_metrics,
        runs=ablation_models_trained,
        config=WORKFLOW_CONFIG,
    output:
        html=report("results/report/ablation/index.html", category="Report"),
        csv=report("results/report/ablation/index.csv", category="Report"),
    params:
        runs=ablation_runs,
    log:
        "logs/report_ablation.log",
    benchmark:
        "benchmarks/report/report_ablation.tsv"
    conda:
        "../envs/mri-sr.yaml"
    shell:
        "mri-sr report --metrics {input.metrics} --runs {params.runs} --config {input.config} "
        "--out {output.html} > {log} 2>&1"
