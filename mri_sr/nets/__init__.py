"""Network architectures and the one ``name -> class`` table that configs refer to.

A config block ``{type: rrdbnet, num_block: 23, scale: 4}`` maps 1:1 onto ``RRDBNet(num_block=23,
scale=4)`` through :func:`build_network`.
"""

from __future__ import annotations

import inspect

from torch import nn

from mri_sr.errors import MriSrError
from mri_sr.nets.discriminators import PatchGANDiscriminator, SRGANDiscriminator, VGGStyleDiscriminator
from mri_sr.nets.interpolate import interpolate_checkpoints, interpolate_state_dicts
from mri_sr.nets.rrdbnet import RRDBNet, convert_legacy_esrgan_keys
from mri_sr.nets.srrescycgan import DegradationNet, SRResDNet
from mri_sr.nets.srresnet import SRResNet

NETWORKS: dict[str, type[nn.Module]] = {
    "srresnet": SRResNet,  # SRGAN generator
    "rrdbnet": RRDBNet,  # ESRGAN generator
    "srresdnet": SRResDNet,  # SRResCycGAN LR -> HR generator
    "degradation": DegradationNet,  # SRResCycGAN HR -> LR generator
    "srgan_d": SRGANDiscriminator,
    "vgg_d": VGGStyleDiscriminator,  # ESRGAN and SRResCycGAN HR discriminator
    "patchgan_d": PatchGANDiscriminator,  # SRResCycGAN LR discriminator
}


def build_network(spec: dict) -> nn.Module:
    """Construct a network from a config block.

    Args:
        spec: ``{"type": name, **kwargs}``; ``name`` is a key of :data:`NETWORKS`, the other entries
            are keyword arguments of its constructor. The dict is not modified.

    Returns:
        The network, freshly initialised, on the CPU, in training mode.

    Raises:
        MriSrError: no or unknown ``type`` (the message lists the known names), an unknown keyword
            (named), or a value the architecture does not support (e.g. ``scale: 5``).
    """
    kwargs = dict(spec)
    name = kwargs.pop("type", None)
    if name not in NETWORKS:
        known = ", ".join(sorted(NETWORKS))
        raise MriSrError(f"network type {name!r} is unknown (known: {known})")
    cls = NETWORKS[name]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for key in kwargs:
        if key not in accepted:
            raise MriSrError(f"network {name}: unknown option {key!r} (accepted: {', '.join(accepted)})")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise MriSrError(f"network {name}: {exc}") from None


__all__ = [
    "NETWORKS",
    "DegradationNet",
    "PatchGANDiscriminator",
    "RRDBNet",
    "SRGANDiscriminator",
    "SRResDNet",
    "SRResNet",
    "VGGStyleDiscriminator",
    "build_network",
    "convert_legacy_esrgan_keys",
    "interpolate_checkpoints",
    "interpolate_state_dicts",
]
