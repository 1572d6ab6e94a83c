"""Loss terms and their weighted sum.

Every term is an ``nn.Module`` without a weight; weights come from the config and are applied only
by :func:`weighted_sum`. :data:`LOSSES` is the one ``name -> class`` table; the names are the keys
of the config's loss weights.

Conventions for the training step: the ``gan`` weight multiplies ``GANLoss.generator_loss`` (the
discriminator loss is not weighted); ``cycle`` holds forward + backward cycle and ``identity`` holds
``identity_hr + identity_lr`` (the two values :class:`IdentityLoss` returns); ``lr_pixel`` is a
:class:`PixelLoss` between SRResCycGAN's degradation generator output G_LR(hr) and the paired LR.
``identity`` and ``lr_consistency`` resample as the prepared data's degradation does: the trainer
passes that degradation (:mod:`mri_sr.data.degradation`, read from ``prepare.json``); they use its
kind's resampling at its scale, without blur or noise.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from mri_sr.data.degradation import Degradation
from mri_sr.errors import MriSrError
from mri_sr.losses.adversarial import GANLoss
from mri_sr.losses.cycle import CycleLoss, IdentityLoss, LRConsistencyLoss
from mri_sr.losses.perceptual import PerceptualLoss
from mri_sr.losses.pixel import PixelLoss
from mri_sr.losses.tv import TVGradientLoss

logger = logging.getLogger(__name__)

LOSSES: dict[str, type[nn.Module]] = {
    "pixel": PixelLoss,
    "lr_pixel": PixelLoss,
    "perceptual": PerceptualLoss,
    "gan": GANLoss,
    "tv": TVGradientLoss,
    "cycle": CycleLoss,
    "identity": IdentityLoss,
    "lr_consistency": LRConsistencyLoss,
}
_RESAMPLING = (IdentityLoss, LRConsistencyLoss)  # terms built on the data's degradation

__all__ = [
    "LOSSES",
    "CycleLoss",
    "GANLoss",
    "IdentityLoss",
    "LRConsistencyLoss",
    "PerceptualLoss",
    "PixelLoss",
    "TVGradientLoss",
    "build_loss_terms",
    "weighted_sum",
]


def build_loss_terms(
    weights: Mapping[str, float], degradation: Degradation | None = None, **options: Mapping[str, Any]
) -> nn.ModuleDict:
    """Build the loss modules whose weight is non-zero.

    A term with weight 0 is not built: in particular no feature network is built (and no VGG19
    file or MRI feature checkpoint is needed) when the perceptual weight is 0, which is logged as
    a warning. A perceptual weight > 0 without its file raises :class:`MriSrError` from
    :class:`PerceptualLoss`.

    Args:
        weights: ``{term name: weight >= 0}``, names from :data:`LOSSES`.
        degradation: the prepared data's degradation; needed by ``identity`` and ``lr_consistency``.
        **options: per-term constructor keywords, e.g.
            ``perceptual={"network": "mri", "mri": {"checkpoint": "features.pt"}}, gan={"gan_type": "ragan"}``.

    Returns:
        ``nn.ModuleDict`` name -> module (call ``.to(device)`` once on it).

    Raises:
        MriSrError: unknown term name, negative weight, or options for a term with no weight.
    """
    for name in [*weights, *options]:
        if name not in LOSSES:
            known = ", ".join(LOSSES)
            raise MriSrError(f"loss weights: unknown loss term {name!r} (known: {known})")
    for name in options:
        if name not in weights:
            raise MriSrError(f"loss options: {name!r} has options but no weight")
    terms = nn.ModuleDict()
    for name, weight in weights.items():
        if weight < 0:
            raise MriSrError(f"loss weights: {name} = {weight} is negative")
        if weight == 0:
            if name == "perceptual":
                logger.warning("perceptual loss weight is 0: perceptual loss is off (no feature network)")
            continue
        terms[name] = _build(name, dict(options.get(name, {})), degradation)
    return terms


def _build(name: str, kwargs: dict[str, Any], degradation: Degradation | None) -> nn.Module:
    """One loss module; a resampling term gets the data's degradation kind at its scale (no blur, no noise)."""
    cls = LOSSES[name]
    if cls in _RESAMPLING:
        if degradation is None:
            raise ValueError(f"loss term {name!r} needs the prepared data's degradation")
        kwargs["degradation"] = type(degradation)(scale=degradation.scale)
    return cls(**kwargs)


def weighted_sum(
    terms: Mapping[str, Tensor], weights: Mapping[str, float]
) -> tuple[Tensor, dict[str, float]]:
    """Sum loss terms with their config weights.

    Args:
        terms: ``{name: scalar tensor}`` computed in a training step (unweighted).
        weights: ``{name: weight}``; may hold more names than ``terms`` (those are ignored).

    Returns:
        ``(total, parts)``: ``total = sum(weights[n] * terms[n])`` as a scalar tensor with graph,
        and ``parts = {n: weights[n] * terms[n]}`` as python floats for logging (one device
        synchronisation for all of them).

    Raises:
        MriSrError: a term has no weight.
    """
    if not terms:
        raise ValueError("weighted_sum needs at least one term")
    weighted: dict[str, Tensor] = {}
    for name, value in terms.items():
        if name not in weights:
            raise MriSrError(f"loss weights: no weight for loss term {name!r}")
        weighted[name] = float(weights[name]) * value
    values = list(weighted.values())
    total = values[0]
    for value in values[1:]:
        total = total + value
    floats = torch.stack([value.detach().float().reshape(()) for value in values]).tolist()
    parts = dict(zip(weighted, floats, strict=True))
    return total, parts
