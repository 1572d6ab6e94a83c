"""Model training configs: YAML, overrides merged in, validated against model.schema.yaml."""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from mri_sr.config import make_validator, raise_first_error, read_yaml

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
