# The shipped models (configs/general.yaml): each trained model's final generator at each scale,
# with a model card over the cross-scan test sets, added to the package's models folder.
SHIP_SCANS = [name for name in SCAN_CONFIGS if not name.startswith("synth")]


rule model_card:
    input:
        checkpoint="results/runs/x{scale}/{model}/final.pt",
        metrics=lambda w: expand("results/metrics/x{scale}/scan-{scan}/{method}.json", scale=w.scale,
                                 scan=SHIP_SCANS, method=[w.model, "bicubic"]),
    output:
        "results/cards/x{scale}/{model}.md",
    params:
        run=subpath(input.checkpoint, parent=True),
        scans=" ".join(SHIP_SCANS),
    log:
        "logs/model_card/x{scale}/{model}.log",
    conda:
        "../envs/mri-sr.yaml"
    shell:
        "mri-sr model-card --run {params.run} --metrics results/metrics/x{wildcards.scale} --scans {params.scans} "
        "--name {wildcards.model}_x{wildcards.scale} --out {output} > {log} 2>&1"


# One job adds every model: each addition rewrites the models index.
rule ship_models:
    input:
        checkpoints=expand("results/runs/x{scale}/{model}/final.pt", scale=config["scales"], model=list(MODELS)),
        cards=expand("results/cards/x{scale}/{model}.md", scale=config["scales"], model=list(MODELS)),
    output:
        touch("results/cards/shipped"),
    log:
        "logs/ship_models.log",
    params:
        pairs=" ".join(f"{model}:{scale}" for scale in config["scales"] for model in MODELS),
    conda:
        "../envs/mri-sr.yaml"
    shell:
        "(for pair in {params.pairs}; do model=${{pair%:*}}; scale=${{pair#*:}}; "
        "mri-sr models --folder mri_sr/models --add results/runs/x$scale/$model/final.pt "
        "--card results/cards/x$scale/$model.md --name ${{model}}_x$scale "
        "--description \"x$scale in-plane MRI super-resolution, trained on synthetic anatomy\" || exit 1; done) > {log} 2>&1"
