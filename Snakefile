# mri-sr workflow: prepare MRI slices, train SRResCycGAN / SRGAN / ESRGAN, evaluate, report.
# Rules live in workflow/rules/; the logic lives in the mri_sr package they call.

configfile: "configs/default.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/train.smk"


rule train_all:
    input:
        trained_models,
    default_target: True
