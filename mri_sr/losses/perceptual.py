"""Perceptual (feature) loss of SRGAN, ESRGAN and SRResCycGAN, on VGG19 or MRI features."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from mri_sr.errors import MriSrError
from mri_sr.losses.mri_features import MRIFeatures
from mri_sr.losses.pixel import PixelLoss
from mri_sr.losses.vgg import VGG19Perceptual

NETWORKS = ("vgg19", "mri")
DEFAULT_LAYERS = {"vgg19": {"conv5_4": 1.0}, "mri": {"conv3_2": 1.0}}


def _vgg19(layer_weights: Mapping[str, float], feature_scale: float = 1.0, use_input_norm: bool = True,
           weights_path: str | os.PathLike[str] | None = None, *, pretrained: bool) -> VGG19Perceptual:
    return VGG19Perceptual(layer_weights, feature_scale, use_input_norm, weights_path, pretrained)


def _mri(layer_weights: Mapping[str, float], checkpoint: str | os.PathLike[str] | None = None) -> MRIFeatures:
    if not checkpoint:
        raise MriSrError("perceptual network mri: no feature network checkpoint; make one with "
                         "`mri-sr features` and pass it with `mri-sr train --features FILE`")
    return MRIFeatures(checkpoint, layer_weights)


class PerceptualLoss(nn.Module):
    """Weighted distance between features of SR and HR from a frozen network.

    ``loss = sum_l layer_weights[l] * criterion(s * phi_l(sr), s * phi_l(hr))``, each criterion a
    mean over all elements of the (B, C_l, H_l, W_l) feature map, ``s`` the network's feature scale.

    Networks (``network``), each configured by its own block of keywords:

    - ``vgg19``: ImageNet VGG19 from a local file (:class:`mri_sr.losses.vgg.VGG19Perceptual`):
      ``layer_weights`` (default ``{"conv5_4": 1.0}``, ESRGAN; ``relu5_4`` is SRGAN's VGG54),
      ``feature_scale`` (SRGAN: 1/12.75), ``use_input_norm``, ``weights_path``.
    - ``mri``: the MRI feature network trained by ``mri-sr features``
      (:class:`mri_sr.losses.mri_features.MRIFeatures`): ``layer_weights`` (default
      ``{"conv3_2": 1.0}``), ``checkpoint``; its scale is calibrated in the checkpoint.

    Before or after the activation is chosen by the layer name: ``convX_Y`` before the ReLU,
    ``reluX_Y`` after it. The feature network is frozen and stays in eval mode; gradients flow to
    ``sr`` only (``hr`` features are computed without grad).

    Args:
        network: ``"vgg19"`` or ``"mri"``.
        criterion: ``"l1"`` (mean absolute error) or ``"l2"`` (mean squared error).
        vgg19: keywords of the vgg19 network (used when ``network == "vgg19"``).
        mri: keywords of the mri network (used when ``network == "mri"``).
        pretrained: vgg19 only: False gives a random initialisation, for tests.

    Raises:
        mri_sr.errors.MriSrError: unknown network, layer or criterion; no VGG19 weights file or
            MRI feature checkpoint, or an unreadable one.
    """

    def __init__(self, network: str = "vgg19", criterion: str = "l1", vgg19: Mapping[str, Any] | None = None,
                 mri: Mapping[str, Any] | None = None, pretrained: bool = True) -> None:
        super().__init__()
        if network not in NETWORKS:
            raise MriSrError(f"perceptual network {network!r}: unknown (choose {' or '.join(NETWORKS)})")
        block = dict((vgg19 if network == "vgg19" else mri) or {})
        self.network = network
        self.layer_weights = dict(block.pop("layer_weights", None) or DEFAULT_LAYERS[network])
        self.criterion = PixelLoss(criterion=criterion)
        try:
            self.features = (_vgg19(self.layer_weights, **block, pretrained=pretrained) if network == "vgg19"
                             else _mri(self.layer_weights, **block))
        except TypeError as exc:
            raise MriSrError(f"perceptual {network} options: {exc}") from None

    def train(self, mode: bool = True) -> PerceptualLoss:
        """Set the mode of this module; the feature network always stays in eval mode."""
        super().train(mode)
        self.features.eval()
        return self

    def describe(self) -> dict[str, Any]:
        """The feature network as ``summary.json`` names it (``network`` and its file or hash)."""
        return {**self.features.describe(), "criterion": self.criterion.criterion}

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        """Perceptual loss.

        Args:
            sr: (B, C, H, W) float in [0, 1], C = 1 or 3; the network output.
            hr: same shape as ``sr``; the target.

        Returns:
            Scalar tensor (float32 for float32 inputs).
        """
        if sr.ndim != 4 or sr.shape[1] not in (1, 3):
            raise ValueError(f"perceptual loss expects (B, 1 or 3, H, W), got {tuple(sr.shape)}")
        if sr.shape != hr.shape:
            raise ValueError(f"sr {tuple(sr.shape)} and hr {tuple(hr.shape)} differ in shape")
        sr_feats = self.features(sr)
        hr_feats = {name: value.detach() for name, value in self.features(hr.detach()).items()}
        total = sr.new_zeros(())
        for name, weight in self.layer_weights.items():
            total = total + weight * self.criterion(sr_feats[name], hr_feats[name])
        return total
