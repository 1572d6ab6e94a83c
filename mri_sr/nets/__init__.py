"""Network architectures and the one ``name -> class`` table that configs refer to.

A config block ``{type: rrdbnet, num_block: 23, scale: 4}`` maps 1:1 onto ``RRDBNet(num_block=23,
scale=4)`` through :func:`build_network`.
"""

from __future__ import annotations

import inspect

from torch import nn

from mri_sr.errors import MriSrError, one_line
from mri_sr.nets.discriminators import PatchGANDiscriminator, SRGANDiscriminator, VGGStyleDiscriminator
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


# Constructor annotations (strings: ``from __future__ import annotations``) whose values are checked.
_TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,)}


def _check_types(name: str, params: dict[str, inspect.Parameter], kwargs: dict) -> None:
    """Refuse e.g. ``num_feat: "eight"`` (or ``true``) before the constructor sees it."""
    for key, value in kwargs.items():
        annotation = str(params[key].annotation)
        expected = _TYPES.get(annotation)
        if expected and (not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected)):
            raise MriSrError(f"network {name}: option {key!r} must be {annotation}, got {value!r}")


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
    if not isinstance(spec, dict):
        raise MriSrError(f"network spec must be a mapping with a 'type', got {spec!r}")
    kwargs = dict(spec)
    name = kwargs.pop("type", None)
    if not isinstance(name, str) or name not in NETWORKS:
        known = ", ".join(sorted(NETWORKS))
        raise MriSrError(f"network type {name!r} is unknown (known: {known})")
    cls = NETWORKS[name]
    params = {k: p for k, p in inspect.signature(cls.__init__).parameters.items() if k != "self"}
    for key in kwargs:
        if key not in params:
            raise MriSrError(f"network {name}: unknown option {key!r} (accepted: {', '.join(params)})")
    _check_types(name, params, kwargs)
    try:
        return cls(**kwargs)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise MriSrError(f"network {name}: {one_line(exc)}") from None


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
]
