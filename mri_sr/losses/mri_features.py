"""An MRI feature network for the perceptual loss, trained by the workflow itself (no download).

:class:`MRIFeatureNet` is a small convolutional autoencoder. Its encoder is VGG-like (three blocks
of two 3x3 convolutions, max pooling between blocks) and names its layers as VGG19 does:

========  ==========================================  ==========
block     names (in order)                            resolution
========  ==========================================  ==========
1         conv1_1 relu1_1 conv1_2 relu1_2 pool1       1, then 1/2
2         conv2_1 relu2_1 conv2_2 relu2_2 pool2       1/2, then 1/4
3         conv3_1 relu3_1 conv3_2 relu3_2             1/4
========  ==========================================  ==========

``convX_Y`` is a convolution output before its ReLU, ``reluX_Y`` after it. The decoder (nearest
upsampling and convolutions) exists only to train the encoder: :mod:`mri_sr.train.features` trains
the whole network to restore HR slices from a masked and noisy copy (masked-denoising autoencoder).

:class:`MRIFeatures` is the frozen encoder as the perceptual loss uses it, with the calibration the
checkpoint stores: each layer's maps are multiplied by a factor chosen so that the mean squared
feature difference of bicubic-upscaled LR against HR, over training slices, equals their mean
squared pixel difference. That is the SRGAN paper's own reason for rescaling VGG54 by 1/12.75
("VGG losses of a scale that is comparable to the MSE loss"), so the papers' loss weights carry over.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from mri_sr.checkpoint import load_weights
from mri_sr.errors import MriSrError
from mri_sr.fsutil import file_sha256
from mri_sr.losses.vgg import named_layer_index, named_layer_outputs

FORMAT = "mri-sr-features/1"
MRI_LAYER_NAMES: tuple[str, ...] = (
    "conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1",
    "conv2_1", "relu2_1", "conv2_2", "relu2_2", "pool2",
    "conv3_1", "relu3_1", "conv3_2", "relu3_2",
)  # fmt: skip
"""Encoder layer names, position = index in ``MRIFeatureNet.encoder``."""


def _encoder(num_feat: int) -> nn.Sequential:
    modules: list[nn.Module] = []
    in_channels = 1
    for block, channels in enumerate((num_feat, num_feat * 2, num_feat * 4), start=1):
        for _ in range(2):
            modules += [nn.Conv2d(in_channels, channels, 3, padding=1), nn.ReLU(inplace=False)]
            in_channels = channels
        if block < 3:
            modules.append(nn.MaxPool2d(2))
    return nn.Sequential(*modules)


class MRIFeatureNet(nn.Module):
    """Masked-denoising convolutional autoencoder on 1-channel slices.

    Args:
        num_feat: channels of the first block (doubled in each of the next two).

    Shapes: input (B, 1, H, W) float in [0, 1] with H, W divisible by 4; output the same shape.
    """

    def __init__(self, num_feat: int = 16) -> None:
        super().__init__()
        self.num_feat = num_feat
        self.encoder = _encoder(num_feat)
        self.decoder = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(num_feat * 4, num_feat * 2, 3, padding=1),
            nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(num_feat * 2, 1, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        """Restored slice, (B, 1, H, W)."""
        return self.decoder(self.encoder(x))


def layer_index(name: str) -> int:
    """Index of a named encoder layer.

    Raises:
        MriSrError: the name is not one of :data:`MRI_LAYER_NAMES`.
    """
    return named_layer_index(MRI_LAYER_NAMES, name, f"perceptual mri layer_weights: unknown MRI feature layer "
                                                    f"{name!r} (one of {', '.join(MRI_LAYER_NAMES)})")


def read_feature_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A checkpoint written by :func:`mri_sr.train.features.train_features`.

    Raises:
        MriSrError: missing, unreadable, or not an MRI feature checkpoint.
    """
    payload = load_weights(path, "MRI feature network checkpoint")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise MriSrError(f"{path}: not an MRI feature network checkpoint (no '{FORMAT}' format field); "
                         "make one with `mri-sr features`")
    return payload


class MRIFeatures(nn.Module):
    """The trained encoder of an :class:`MRIFeatureNet`, frozen, truncated after the deepest layer.

    Args:
        checkpoint: file written by ``mri-sr features``.
        layers: names from :data:`MRI_LAYER_NAMES` whose (calibrated) outputs ``forward`` returns.

    Attributes:
        scales: layer name -> calibration factor from the checkpoint.
        sha256: the checkpoint file's SHA-256.

    Raises:
        MriSrError: an unreadable checkpoint or an unknown layer name.
    """

    def __init__(self, checkpoint: str | os.PathLike[str], layers: Iterable[str] = ("relu3_2",)) -> None:
        super().__init__()
        self.path = Path(checkpoint)
        self.layers = tuple(dict.fromkeys(layers))
        if not self.layers:
            raise MriSrError("perceptual mri layer_weights: no MRI feature layer requested")
        indices = {name: layer_index(name) for name in self.layers}
        payload = read_feature_checkpoint(self.path)
        net = MRIFeatureNet(int(payload["num_feat"]))
        try:
            net.load_state_dict(payload["state_dict"])
        except (KeyError, RuntimeError) as exc:
            raise MriSrError(f"{self.path}: weights do not fit the MRI feature network ({exc})") from None
        self.features = net.encoder[: max(indices.values()) + 1]
        self._wanted = {index: name for name, index in indices.items()}
        self.scales = {name: float(payload["feature_scales"][name]) for name in self.layers}
        self.sha256 = file_sha256(self.path)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Calibrated features.

        Args:
            x: (B, 1, H, W) float in [0, 1] (a 3-channel input is averaged to one channel).

        Returns:
            ``{name: (B, C_l, H / 2**p, W / 2**p) * scales[name]}``, ``p`` the poolings before it.
        """
        if x.shape[1] == 3:
            x = x.mean(dim=1, keepdim=True)
        feats = named_layer_outputs(self.features, x, self._wanted)
        return {name: feat * self.scales[name] for name, feat in feats.items()}

    def describe(self) -> dict[str, Any]:
        """What ``summary.json`` records: ``{"network": "mri", "checkpoint_sha256": ..., ...}``."""
        return {"network": "mri", "checkpoint": str(self.path), "checkpoint_sha256": self.sha256,
                "layers": list(self.layers)}


def encoder_features(encoder: nn.Sequential, x: Tensor) -> dict[str, Tensor]:
    """Every named layer's output of an (uncalibrated) encoder, for calibration.

    Args:
        encoder: ``MRIFeatureNet.encoder``; x: (B, 1, H, W) float in [0, 1].
    """
    return named_layer_outputs(encoder, x, dict(enumerate(MRI_LAYER_NAMES)))


__all__ = [
    "FORMAT",
    "MRI_LAYER_NAMES",
    "MRIFeatureNet",
    "MRIFeatures",
    "encoder_features",
    "read_feature_checkpoint",
]

