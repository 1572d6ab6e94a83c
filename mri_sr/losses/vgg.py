"""VGG19 feature extractor for the perceptual loss, built without torchvision.

The ``features`` module reproduces torchvision's ``vgg19().features`` index for index, so its
state-dict keys (``features.0.weight``, ``features.0.bias``, ..., ``features.34.weight``) match the
official ImageNet file ``vgg19-dcbb9e9d.pth`` (the ``classifier.*`` keys in that file are ignored).

Layer names follow the paper's convention, one name per module of ``features``:

========  ===========================================  ==================
block     names (in order)                             ``features`` index
========  ===========================================  ==================
1         conv1_1 relu1_1 conv1_2 relu1_2 pool1        0-4
2         conv2_1 relu2_1 conv2_2 relu2_2 pool2        5-9
3         conv3_1 relu3_1 ... conv3_4 relu3_4 pool3    10-18
4         conv4_1 relu4_1 ... conv4_4 relu4_4 pool4    19-27
5         conv5_1 relu5_1 ... conv5_4 relu5_4 pool5    28-36
========  ===========================================  ==================

``convX_Y`` is the convolution output *before* its ReLU (ESRGAN's choice, ``conv5_4`` = index 34),
``reluX_Y`` the same feature *after* the ReLU (SRGAN's "VGG54" = ``relu5_4`` = index 35).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from mri_sr.checkpoint import load_weights
from mri_sr.errors import MriSrError

VGG19_FILENAME = "vgg19-dcbb9e9d.pth"
VGG19_URL = f"https://download.pytorch.org/models/{VGG19_FILENAME}"
WEIGHTS_ENV = "MRI_SR_VGG19_WEIGHTS"

# Output channels of the 16 convolutions, "M" = 2x2 max pooling (torchvision's configuration "E").
_VGG19_CFG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
    512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)  # fmt: skip


def _layer_names() -> tuple[str, ...]:
    names: list[str] = []
    block, conv = 1, 1
    for item in _VGG19_CFG:
        if item == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return tuple(names)


VGG19_LAYER_NAMES: tuple[str, ...] = _layer_names()
"""The 37 layer names, position = index in torchvision's ``vgg19().features``."""


def named_layer_index(names: Sequence[str], name: str, unknown: str) -> int:
    """Position of ``name`` in a trunk's layer names (VGG19's or the MRI feature network's).

    Args:
        names: layer names, position = index in the trunk's ``nn.Sequential``.
        name: the requested layer.
        unknown: the one-line error for a name not in ``names``.

    Raises:
        MriSrError: ``unknown``.
    """
    try:
        return list(names).index(name)
    except ValueError:
        raise MriSrError(unknown) from None


def named_layer_outputs(trunk: Iterable[nn.Module], x: Tensor, wanted: Mapping[int, str]) -> dict[str, Tensor]:
    """Run ``x`` through ``trunk`` and keep the outputs of the wanted layers.

    Args:
        trunk: the layers in order (an ``nn.Sequential``); x: its input.
        wanted: trunk index -> layer name.

    Returns:
        ``{name: output of layer index}`` for each wanted index the trunk reaches.
    """
    out: dict[str, Tensor] = {}
    for index, module in enumerate(trunk):
        x = module(x)
        if index in wanted:
            out[wanted[index]] = x
    return out


def layer_index(name: str) -> int:
    """Index of a named layer in ``features``.

    Raises:
        MriSrError: the name is not one of :data:`VGG19_LAYER_NAMES`.
    """
    return named_layer_index(
        VGG19_LAYER_NAMES, name,
        f"perceptual layer_weights: unknown VGG19 layer {name!r} "
        "(use convX_Y before activation, reluX_Y after it, or poolX; e.g. conv5_4, relu5_4)")


class VGG19Features(nn.Module):
    """VGG19 convolutional trunk, truncated after the deepest requested layer.

    Args:
        layers: names from :data:`VGG19_LAYER_NAMES` whose outputs ``forward`` returns.

    Attributes:
        features: ``nn.Sequential`` with torchvision's indices (only up to the deepest layer).
    """

    def __init__(self, layers: Iterable[str] = ("conv5_4",)) -> None:
        super().__init__()
        self.layers = tuple(dict.fromkeys(layers))
        if not self.layers:
            raise MriSrError("perceptual layer_weights: no VGG19 layer requested")
        self._indices = {name: layer_index(name) for name in self.layers}
        last = max(self._indices.values())
        modules: list[nn.Module] = []
        in_channels = 3
        for item in _VGG19_CFG:
            if item == "M":
                modules.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                modules.append(nn.Conv2d(in_channels, int(item), kernel_size=3, padding=1))
                # Not in-place: a conv output taken "before activation" must stay unmodified.
                modules.append(nn.ReLU(inplace=False))
                in_channels = int(item)
        self.features = nn.Sequential(*modules[: last + 1])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Random initialisation as torchvision's VGG (Kaiming normal, fan-out; zero bias)."""
        for module in self.features:
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Run the trunk and collect the requested layers.

        Args:
            x: (B, 3, H, W) float, already normalised as the weights expect (ImageNet mean/std).

        Returns:
            ``{name: (B, C_l, H / 2**p, W / 2**p)}`` for each requested layer, where ``p`` is the
            number of pooling layers before it.
        """
        return named_layer_outputs(self.features, x, {index: name for name, index in self._indices.items()})


def default_weights_path() -> Path:
    """``$TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth``; TORCH_HOME defaults to ~/.cache/torch."""
    torch_home = os.environ.get("TORCH_HOME") or os.path.join("~", ".cache", "torch")
    return Path(torch_home).expanduser() / "hub" / "checkpoints" / VGG19_FILENAME


def find_vgg19_weights(weights_path: str | os.PathLike[str] | None = None) -> Path:
    """Locate the VGG19 ImageNet weights.

    The first source that is set decides, with no fall-through (a wrong explicit path is an error,
    not a silent switch to another file): ``weights_path``, else the environment variable
    ``MRI_SR_VGG19_WEIGHTS``, else :func:`default_weights_path`.

    Args:
        weights_path: explicit path to ``vgg19-dcbb9e9d.pth`` (or a file with the same keys).

    Returns:
        The existing file.

    Raises:
        MriSrError: the chosen file does not exist; the message names the path searched.
    """
    if weights_path is not None:
        path, origin = Path(weights_path).expanduser(), "weights_path"
    elif os.environ.get(WEIGHTS_ENV):
        path, origin = Path(os.environ[WEIGHTS_ENV]).expanduser(), f"${WEIGHTS_ENV}"
    else:
        path, origin = default_weights_path(), "$TORCH_HOME/hub/checkpoints"
    if not path.is_file():
        raise MriSrError(
            f"{path}: VGG19 weights for the perceptual loss not found (searched {origin}); "
            f"download {VGG19_URL} to {default_weights_path()} or set {WEIGHTS_ENV}, "
            "or set the perceptual loss weight to 0"
        )
    return path


def load_vgg19_weights(module: VGG19Features, path: str | os.PathLike[str]) -> None:
    """Copy torchvision-layout VGG19 weights into ``module.features``.

    Only the ``features.N.*`` keys the truncated module holds are used; ``classifier.*`` and deeper
    layers are ignored. Read by :func:`mri_sr.checkpoint.load_weights` (``weights_only``).

    Raises:
        MriSrError: the file cannot be read, or lacks a needed key or has a wrong shape.
    """
    state = load_weights(path, f"VGG19 weights file (torchvision's {VGG19_FILENAME})")
    if not isinstance(state, dict):
        raise MriSrError(f"{path}: not a state dict (got {type(state).__name__})")
    own = module.state_dict()
    selected: dict[str, Tensor] = {}
    for key, expected in own.items():
        if key not in state:
            raise MriSrError(f"{path}: VGG19 weights lack key {key!r}")
        if tuple(state[key].shape) != tuple(expected.shape):
            raise MriSrError(
                f"{path}: {key} has shape {tuple(state[key].shape)}, "
                f"expected {tuple(expected.shape)}"
            )
        selected[key] = state[key]
    module.load_state_dict(selected, strict=True)


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG19Perceptual(nn.Module):
    """Frozen ImageNet VGG19 as the perceptual loss uses it: [0, 1] images in, scaled features out.

    Args:
        layers: names from :data:`VGG19_LAYER_NAMES`.
        feature_scale: factor on every feature map; SRGAN's VGG54 uses 1/12.75 (about 0.006 on
            the MSE), ESRGAN 1.
        use_input_norm: subtract the ImageNet mean and divide by the ImageNet std (per RGB
            channel) after replicating a 1-channel input to 3 channels.
        weights_path: VGG19 file, see :func:`find_vgg19_weights`.
        pretrained: load the ImageNet weights; False gives a random initialisation (tests only).

    Raises:
        MriSrError: unknown layer, or ``pretrained`` and no readable weights file.
    """

    def __init__(self, layers: Iterable[str], feature_scale: float = 1.0, use_input_norm: bool = True,
                 weights_path: str | os.PathLike[str] | None = None, pretrained: bool = True) -> None:
        super().__init__()
        self.path = find_vgg19_weights(weights_path) if pretrained else None
        self.vgg = VGG19Features(layers=layers)
        if self.path is not None:
            load_vgg19_weights(self.vgg, self.path)
        self.feature_scale, self.use_input_norm = float(feature_scale), use_input_norm
        self.requires_grad_(False)
        self.eval()
        # Not persistent: the state dict holds only torchvision's VGG19 keys.
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def prepare(self, x: Tensor) -> Tensor:
        """(B, 1 or 3, H, W) in [0, 1] -> (B, 3, H, W) as the VGG19 weights expect."""
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return (x - self.mean) / self.std if self.use_input_norm else x

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """``{layer: feature_scale * phi_layer(x)}`` for (B, 1 or 3, H, W) inputs in [0, 1]."""
        feats = self.vgg(self.prepare(x))
        if self.feature_scale == 1.0:
            return feats
        return {name: value * self.feature_scale for name, value in feats.items()}

    def describe(self) -> dict[str, Any]:
        """What ``summary.json`` records: ``{"network": "vgg19", "file": ..., "feature_scale": ...}``."""
        return {"network": "vgg19", "file": str(self.path) if self.path else None,
                "layers": list(self.vgg.layers), "feature_scale": self.feature_scale}


def check_vgg19_file(weights_path: str | os.PathLike[str] | None = None,
                     layers: Iterable[str] = ("conv5_4",)) -> Path:
    """Check that the VGG19 weights are present and readable, before any training starts.

    Returns:
        The file.

    Raises:
        MriSrError: missing (naming where to put it), unreadable or damaged, or lacking the layers.
    """
    path = find_vgg19_weights(weights_path)
    load_vgg19_weights(VGG19Features(layers=layers), path)
    return path
