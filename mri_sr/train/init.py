"""Initialising a fresh run's generators from a pre-training stage's checkpoint."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from torch import nn

from mri_sr.checkpoint import GENERATOR_SPEC_KEYS, load_checkpoint
from mri_sr.errors import MriSrError

log = logging.getLogger(__name__)

def init_generators(nets: dict[str, nn.Module], specs: dict[str, dict[str, Any]], init: str | Path) -> list[str]:
    """Load ``net_g`` (required) and ``net_g_lr`` (when both the run and ``init`` have it) from ``init``.

    Args:
        nets: the run's unwrapped networks, freshly built.
        specs: their resolved network specs.
        init: checkpoint of the pre-training stage (its ``final.pt``).

    Returns:
        The names of the networks loaded.

    Raises:
        MriSrError: a generator whose spec differs from the checkpoint's, or no ``net_g`` in it.
    """
    source = load_checkpoint(init)
    loaded = []
    for name, spec_key in GENERATOR_SPEC_KEYS.items():
        if name not in nets or name not in source.get("nets", {}):
            if name == "net_g":
                raise MriSrError(f"{init}: no generator net_g to initialise from")
            continue
        if source.get(spec_key) != specs[name]:
            raise MriSrError(f"{init}: its {name} {source.get(spec_key)} differs from {specs[name]}")
        nets[name].load_state_dict(source["nets"][name])
        loaded.append(name)
    if "net_g_lr" in nets and "net_g_lr" not in loaded:
        log.warning("%s has no net_g_lr: the degradation generator starts untrained", init)
    log.info("initialised %s from %s", ", ".join(loaded), init)
    return loaded
