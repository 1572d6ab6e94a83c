"""Perceptual (VGG19 feature) loss of SRGAN, ESRGAN and SRResCycGAN."""

from __future__ import annotations

import os

import torch
from torch import Tensor, nn

from mri_sr.losses.pixel import PixelLoss
from mri_sr.losses.vgg import VGG19Features, find_vgg19_weights, load_vgg19_weights

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PerceptualLoss(nn.Module):
    """Weighted distance between VGG19 features of SR and HR.

    ``loss = sum_l layer_weights[l] * criterion(phi_l(sr), phi_l(hr))``, each criterion a mean over
    all elements of the (B, C_l, H_l, W_l) feature map.

    Before or after the activation is chosen by the layer *name* (there is no separate flag):
    ``"conv5_4"`` is the convolution output before its ReLU (ESRGAN), ``"relu5_4"`` the same
    feature after the ReLU (SRGAN's VGG54). See :mod:`mri_sr.losses.vgg` for all names.

    The VGG19 is frozen (``requires_grad=False``) and stays in eval mode whatever ``train()`` is
    called with; gradients flow to ``sr`` only (``hr`` features are computed without grad). The
    network is built only up to the deepest requested layer.

    Args:
        layer_weights: ``{layer name: weight}``; default ``{"conv5_4": 1.0}`` (ESRGAN).
        criterion: ``"l1"`` (mean absolute error) or ``"l2"`` (mean squared error).
        use_input_norm: subtract the ImageNet mean and divide by the ImageNet std (per RGB
            channel) after replicating a 1-channel input to 3 channels; inputs are in [0, 1].
        weights_path: VGG19 file in torchvision's layout; if None, ``$MRI_SR_VGG19_WEIGHTS``, then
            ``$TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth`` (see
            :func:`mri_sr.losses.vgg.find_vgg19_weights`).
        pretrained: load the ImageNet weights (required for a meaningful loss); False gives a
            random initialisation, for tests only.

    Raises:
        mri_sr.errors.MriSrError: unknown layer name or criterion, or ``pretrained`` and no
            weights file.
    """

    def __init__(
        self,
        layer_weights: dict[str, float] | None = None,
        criterion: str = "l1",
        use_input_norm: bool = True,
        weights_path: str | os.PathLike[str] | None = None,
        pretrained: bool = True,
    ) -> None:
        super().__init__()
        self.layer_weights = dict(layer_weights) if layer_weights is not None else {"conv5_4": 1.0}
        self.criterion = PixelLoss(criterion=criterion)
        self.use_input_norm = use_input_norm
        path = find_vgg19_weights(weights_path) if pretrained else None
        self.vgg = VGG19Features(layers=self.layer_weights)
        if path is not None:
            load_vgg19_weights(self.vgg, path)
        self.vgg.requires_grad_(False)
        self.vgg.eval()
        # Not persistent: the module's state dict holds only torchvision's VGG19 keys.
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> PerceptualLoss:
        """Set the mode of this module; the VGG19 always stays in eval mode."""
        super().train(mode)
        self.vgg.eval()
        return self

    def _prepare(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"perceptual loss expects (B, 1 or 3, H, W), got {tuple(x.shape)}")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.use_input_norm:
            x = (x - self.mean) / self.std
        return x

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        """Perceptual loss.

        Args:
            sr: (B, C, H, W) float in [0, 1], C = 1 or 3; the network output.
            hr: same shape as ``sr``; the target.

        Returns:
            Scalar tensor (float32 for float32 inputs).
        """
        if sr.shape != hr.shape:
            raise ValueError(f"sr {tuple(sr.shape)} and hr {tuple(hr.shape)} differ in shape")
        sr_feats = self.vgg(self._prepare(sr))
        with torch.no_grad():
            hr_feats = self.vgg(self._prepare(hr.detach()))
        total = sr.new_zeros(())
        for name, weight in self.layer_weights.items():
            total = total + weight * self.criterion(sr_feats[name], hr_feats[name])
        return total

