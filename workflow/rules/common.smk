from mri_sr.config import scan_section, validate_config, write_section
from mri_sr.train.config import ablation_models, check_vgg19_weights, needs_mri_features, resolve_models


validate_config(config, name="workflow config")

# Each rule reads only the config it depends on, so editing one section does not
# make unrelated outputs out of date.
DATA_CONFIG = write_section(config, ["seed", "data"], "results/config/data.yaml")
MODELS = resolve_models(config)
# SRResCycGAN without TV / identity / both: trained only for the `ablation` target.
ABLATION = ablation_models(MODELS)
# Fail early: a missing or damaged VGG19 file stops the workflow here, before any job.
check_vgg19_weights(MODELS)
MODEL_CONFIGS = {
    name: write_section(model, None, f"results/config/models/{name}.yaml")
    for name, model in {**MODELS, **ABLATION}.items()
}
INTERPOLATED = [m for m in config["training"]["interpolate"] if m in config["models"]]


wildcard_constraints:
    scale=r"\d+",
    model="|".join(sorted({**MODELS, **ABLATION})),
    dataset=r"[A-Za-z0-9_-]+",
    method=r"[a-z0-9_]+",
    scan=r"[A-Za-z0-9_-]+",


def model_config(wildcards):
    return MODEL_CONFIGS[wildcards.model]


def init_checkpoint(wildcards):
    """The pre-training stage's final generator, for models that start from one."""
    source = {**MODELS, **ABLATION}[wildcards.model]["init_from"]
    return [f"results/runs/x{wildcards.scale}/{source}/final.pt"] if source else []


def init_option(wildcards, input):
    return f"--init {input.init}" if input.init else ""


def interpolation_inputs(wildcards):
    source = MODELS[wildcards.model]["init_from"]
    return {
        "psnr": f"results/runs/x{wildcards.scale}/{source}/final.pt",
        "gan": f"results/runs/x{wildcards.scale}/{wildcards.model}/final.pt",
    }


def interpolation_alpha(wildcards):
    return config["training"]["interpolate"][wildcards.model]


def trained_models(wildcards=None):
    """Final generators of every trained model and interpolation, for every scale."""
    runs = list(MODELS) + [f"{m}_interp" for m in INTERPOLATED]
    return expand("results/runs/x{scale}/{run}/final.pt", scale=config["scales"], run=runs)


WORKFLOW_CONFIG = write_section(config, None, "results/config/workflow.yaml")
RUNS = list(MODELS) + [f"{m}_interp" for m in INTERPOLATED]
METHODS = RUNS + config["evaluation"]["baselines"]
NATURAL_SETS = {s["name"]: s["path"] for s in config["evaluation"]["natural_sets"]}
# Cross-scan test sets: other scans prepared like the training data, every slice in the test split.
SCAN_CONFIGS = {
    s["name"]: write_section(scan_section(config, s), None, f"results/config/scans/{s['name']}.yaml")
    for s in config["evaluation"]["scans"]
}
SCAN_PREFIX = "scan-"
DATASETS = ["mri"] + list(NATURAL_SETS) + [SCAN_PREFIX + name for name in SCAN_CONFIGS]


def method_input(wildcards):
    """A trained run's final generator; nothing for a classical baseline."""
    if wildcards.method in RUNS or wildcards.method in ABLATION:
        return f"results/runs/x{wildcards.scale}/{wildcards.method}/final.pt"
    return []


def method_arg(wildcards, input):
    return input.checkpoint if input.checkpoint else wildcards.method


def dataset_input(wildcards):
    """The prepared folder for MRI and other scans, or the benchmark folder (nothing for builtin sets)."""
    if wildcards.dataset == "mri":
        return f"results/data/x{wildcards.scale}"
    if wildcards.dataset.startswith(SCAN_PREFIX):
        return f"results/scans/x{wildcards.scale}/{wildcards.dataset.removeprefix(SCAN_PREFIX)}"
    path = NATURAL_SETS[wildcards.dataset]
    return [] if path.startswith("builtin:") else path


def dataset_arg(wildcards, input):
    return NATURAL_SETS[wildcards.dataset] if wildcards.dataset in NATURAL_SETS else input.dataset


def scan_config(wildcards):
    return SCAN_CONFIGS[wildcards.scan]


def all_metrics(wildcards=None):
    return expand("results/metrics/x{scale}/{dataset}/{method}.json",
                  scale=config["scales"], dataset=DATASETS, method=METHODS)


def run_folders(wildcards=None):
    return expand("results/runs/x{scale}/{run}", scale=config["scales"], run=RUNS)


def ablation_metrics(wildcards=None):
    """Metrics of every run and baseline plus the SRResCycGAN ablation runs."""
    return all_metrics() + expand("results/metrics/x{scale}/{dataset}/{method}.json",
                                  scale=config["scales"], dataset=DATASETS, method=list(ABLATION))


def ablation_runs(wildcards=None):
    return run_folders() + expand("results/runs/x{scale}/{run}", scale=config["scales"], run=list(ABLATION))


def ablation_models_trained(wildcards=None):
    return trained_models() + expand("results/runs/x{scale}/{run}/final.pt", scale=config["scales"],
                                     run=list(ABLATION))


def feature_checkpoint(wildcards):
    """The MRI feature network, for models whose perceptual term uses it."""
    if needs_mri_features({**MODELS, **ABLATION}[wildcards.model]):
        return [f"results/features/x{wildcards.scale}/features.pt"]
    return []


def features_option(wildcards, input):
    return f"--features {input.features}" if input.features else ""
