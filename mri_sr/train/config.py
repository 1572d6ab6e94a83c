"""Model training configs and the workflow's training plan.

A model config is YAML (``configs/models/*.yaml``) with overrides merged in, validated against
``model.schema.yaml``; the plan of a workflow config says which model configs to train, in which
order, and which ablation variants exist.
"""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from mri_sr.config import make_validator, raise_first_error, read_yaml
from mri_sr.errors import MriSrError

_VALIDATOR = make_validator(yaml.safe_load(resources.files("mri_sr.train").joinpath("model.schema.yaml").read_text()))


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` merged in (nested dicts merged, other values replaced)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) \
            else copy.deepcopy(value)
    return out


def validate_model_config(config: dict[str, Any], *, name: str) -> dict[str, Any]:
    """Validate in place, fill defaults, return ``config``.

    Raises:
        MriSrError: unknown key or bad value, named with the file.
    """
    raise_first_error(_VALIDATOR, config, name)
    return config


def load_model_config(path: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read ``path``, merge ``overrides`` (e.g. the workflow's laptop budgets) and validate."""
    config = read_yaml(path)
    if overrides:
        config = deep_merge(config, overrides)
    return validate_model_config(config, name=str(path))


def perceptual_network(config: dict[str, Any]) -> str | None:
    """``"vgg19"`` or ``"mri"``: the feature network a model's perceptual term uses; None without one."""
    if not config["losses"]["weights"].get("perceptual", 0) > 0:
        return None
    return config["losses"].get("options", {}).get("perceptual", {}).get("network", "vgg19")


def set_feature_checkpoint(config: dict[str, Any], features: str | Path | None) -> dict[str, Any]:
    """Point the perceptual loss of a model that uses MRI features at ``features``.

    ``mri-sr train --features FILE``: a model whose perceptual term is off or uses VGG19 is
    returned unchanged (the workflow passes the file only to models that need it).
    """
    if features is not None and perceptual_network(config) == "mri":
        perceptual = config["losses"]["options"]["perceptual"]
        perceptual["mri"] = {**perceptual.get("mri", {}), "checkpoint": str(features)}
    return config


def resolve_models(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Model configs for ``config["models"]`` and every pre-training stage they start from.

    Each is ``<model_configs>/<model>.yaml`` with ``training.overrides.all`` and
    ``training.overrides.<model>`` merged in, validated against the model schema.

    Returns:
        model name -> resolved model config, pre-training stages included.

    Raises:
        MriSrError: a missing model config, an override for a model not trained, or a cycle
            of ``init_from``.
    """
    overrides = config["training"]["overrides"]
    resolved: dict[str, dict[str, Any]] = {}
    pending = list(config["models"])
    while pending:
        name = pending.pop()
        if name in resolved:
            continue
        path = Path(config["model_configs"]) / f"{name}.yaml"
        if not path.is_file():
            raise MriSrError(f"{path}: no model config for model '{name}'")
        merged = deep_merge(overrides.get("all", {}), overrides.get(name, {}))
        resolved[name] = load_model_config(path, merged)
        if resolved[name]["init_from"]:
            pending.append(resolved[name]["init_from"])
        if len(resolved) > 50:
            raise MriSrError(f"{config['model_configs']}: init_from forms a cycle")
    unknown = sorted(set(overrides) - set(resolved) - {"all"})
    if unknown:
        raise MriSrError(f"training.overrides: '{unknown[0]}' is not a trained model ({', '.join(sorted(resolved))})")
    for name in config["training"]["interpolate"]:
        if name in config["models"] and not resolved[name]["init_from"]:
            raise MriSrError(f"training.interpolate: '{name}' has no PSNR pre-training (init_from) to interpolate with")
    return resolved


# Comparison runs of the `ablation` target: model -> run-name suffix -> loss terms switched off
# (weight 0). SRResCycGAN without TV / identity / both; SRGAN without its perceptual term, to show
# what the (MRI) features add.
ABLATIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "srrescycgan": {"no_tv": ("tv",), "no_identity": ("identity",), "no_tv_identity": ("tv", "identity")},
    "srgan": {"no_perceptual": ("perceptual",)},
}
CONTENT_TERMS = ("pixel", "perceptual")


def ablation_models(models: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each model of :data:`ABLATIONS` that is trained, minus some loss terms: same budget, seed and init.

    Args:
        models: resolved model configs (:func:`resolve_models`).

    Returns:
        ``<model>_<suffix>`` -> its model config (``model`` renamed, the ablated weights 0); a
        variant whose terms are already off is left out (it would repeat the model). A variant
        left without a content term gets the pixel loss at weight 1 (SRGAN without VGG54 is the
        SRGAN paper's SRGAN-MSE), or it would learn from the adversarial term alone.
    """
    variants = {}
    for base_name, suffixes in ABLATIONS.items():
        base = models.get(base_name)
        for suffix, terms in suffixes.items() if base is not None else ():
            if not any(base["losses"]["weights"].get(t, 0) > 0 for t in terms):
                continue
            name = f"{base_name}_{suffix}"
            weights = {t: 0.0 for t in terms}
            if not any(w > 0 for t, w in {**base["losses"]["weights"], **weights}.items() if t in CONTENT_TERMS):
                weights["pixel"] = 1.0
            variants[name] = deep_merge(base, {"model": name, "losses": {"weights": weights}})
    return variants


def needs_mri_features(model: dict[str, Any]) -> bool:
    """Whether a resolved model config's perceptual term uses the MRI feature network."""
    return perceptual_network(model) == "mri"


def check_vgg19_weights(models: dict[str, dict[str, Any]]) -> list[str]:
    """Fail early: check the VGG19 file of every model whose perceptual term uses VGG19.

    Called when the workflow starts, so a missing or damaged file stops it before the first job
    instead of after hours of pre-training. Each distinct file is read once (a few seconds).

    Returns:
        The names of the models that use VGG19 (empty: nothing was checked).

    Raises:
        MriSrError: a file is missing (naming where to put it), unreadable or lacks the layers.
    """
    from mri_sr.losses.vgg import check_vgg19_file

    users = [name for name, model in models.items() if perceptual_network(model) == "vgg19"]
    checked: set[tuple[str | None, tuple[str, ...]]] = set()
    for name in users:
        block = models[name]["losses"]["options"]["perceptual"].get("vgg19", {})
        key = (block.get("weights_path"), tuple(block.get("layer_weights") or ("conv5_4",)))
        if key in checked:
            continue
        try:
            check_vgg19_file(*key)
        except MriSrError as exc:
            raise MriSrError(f"{exc} (model {name} uses VGG19 features; or set its "
                             "losses.options.perceptual.network to mri)") from None
        checked.add(key)
    return users
