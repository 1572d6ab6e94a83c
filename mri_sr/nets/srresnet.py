"""SRResNet, the SRGAN generator (Ledig et al., CVPR 2017), with batch norm as in the paper."""

from __future__ import annotations

import torch
from torch import nn

from mri_sr.nets.blocks import (PixelShuffleRows, ResidualBlock, check_scale, optional_image_skip,
                                scaled_kaiming_init_)


class SRResNet(nn.Module):
    """SRResNet / SRGAN generator.

    Layers: 9x9 conv + PReLU (``conv_first``, ``act_first``); ``num_block`` residual blocks
    conv-BN-PReLU-conv-BN (``body``); 3x3 conv + BN (``conv_body``, ``bn_body``) and a global skip
    from the head; upsampling (``upsample``): per x2 step a 3x3 conv to 4F channels,
    PixelShuffle(2), PReLU (x4 = two steps; x3 = one conv to 9F channels, PixelShuffle(3), PReLU);
    9x9 conv to ``in_channels`` (``conv_last``). PReLUs have one shared slope each.
    With ``upscale_axes="h"`` only the rows (H) grow: one 3x3 conv to ``scale * F`` channels,
    :class:`PixelShuffleRows`, PReLU, for every scale (same keys, other shapes); the columns keep
    their size (through-plane super-resolution of one axis).

    RGB x4 with the defaults has 1,549,462 parameters (BasicSR's MSRResNet, without BN and with
    3x3 head/tail, has 1,517,571).

    Args:
        in_channels: image channels, 1 for MRI magnitude, 3 for RGB; the output has the same count.
        num_feat: feature channels F.
        num_block: residual blocks (16 in the paper).
        scale: upscaling factor, 2, 3 or 4.
        image_skip: add the interpolated input to the output (residual learning over
            interpolation; not in the paper, off by default; see :class:`ImageSkip`).
        upsample_mode: the interpolation under the residual with ``image_skip``: ``bicubic`` or
            ``sinc`` (:mod:`mri_sr.nets.upsample`; closer to k-space zero filling for MRI).
        upscale_axes: ``"hw"`` (both axes, the paper) or ``"h"`` (rows only: (h, w) -> (h*scale, w)).
    """

    def __init__(self, in_channels: int = 3, num_feat: int = 64, num_block: int = 16, scale: int = 4,
                 image_skip: bool = False, upscale_axes: str = "hw",
                 upsample_mode: str = "bicubic") -> None:
        super().__init__()
        check_scale("SRResNet", scale)
        if upscale_axes not in ("hw", "h"):
            raise ValueError(f"SRResNet: upscale_axes {upscale_axes!r} is not supported (choose hw or h)")
        self.in_channels = in_channels
        self.scale = scale
        self.conv_first = nn.Conv2d(in_channels, num_feat, 9, 1, 4)
        self.act_first = nn.PReLU()
        self.body = nn.Sequential(*(ResidualBlock(num_feat, batch_norm=True) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.bn_body = nn.BatchNorm2d(num_feat)
        steps = [3] if scale == 3 else [2] * (scale // 2)
        layers: list[nn.Module] = []
        for factor in steps:
            layers += [nn.Conv2d(num_feat, num_feat * factor**2, 3, 1, 1), nn.PixelShuffle(factor), nn.PReLU()]
        if upscale_axes == "h":
            layers = [nn.Conv2d(num_feat, num_feat * scale, 3, 1, 1), PixelShuffleRows(scale), nn.PReLU()]
        self.upsample = nn.Sequential(*layers)
        self.conv_last = nn.Conv2d(num_feat, in_channels, 9, 1, 4)
        scaled_kaiming_init_(self.body, 0.1)
        self.image_skip = optional_image_skip(image_skip, self.conv_last, scale, rows_only=upscale_axes == "h",
                                              mode=upsample_mode)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """Upscale a batch of images.

        Args:
            lr: (B, C, h, w) float in [0, 1].

        Returns:
            (B, C, h*scale, w*scale) (``upscale_axes="h"``: (B, C, h*scale, w)) float, same dtype; not clipped (training losses see raw values).
        """
        feat = self.act_first(self.conv_first(lr))
        feat = feat + self.bn_body(self.conv_body(self.body(feat)))
        out = self.conv_last(self.upsample(feat))
        return self.image_skip(out, lr) if self.image_skip is not None else out
