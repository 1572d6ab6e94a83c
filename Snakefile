# mri-sr workflow: prepare MRI slices, train SRResCycGAN / SRGAN / ESRGAN, evaluate, report.
# Rules live in workflow/rules/; the logic lives in the mri_sr package they call.

# The default config, unless one is given with --configfile: Snakemake would otherwise merge the
# given file into this one, and the laptop budgets (training.overrides) would leak into, say,
# configs/gpu.yaml.
if not workflow.overwrite_configfiles:

    configfile: "configs/default.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/throughplane.smk"
include: "workflow/rules/upscale.smk"
include: "workflow/rules/ship.smk"


rule all:
    input:
        "results/report/index.html",
    default_target: True


# The whole pipeline: prepare, train every model with its pre-training, evaluate, report.
rule train_all:
    input:
        "results/report/index.html",


rule evaluate_all:
    input:
        all_metrics,


# SRResCycGAN as configured, without TV, without identity, without both (same budget and seed),
# evaluated like the other models: the report in results/report/ablation/ adds the ablation table.
rule ablation:
    input:
        "results/report/ablation/index.html",
