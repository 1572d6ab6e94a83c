"""Discriminators: SRGAN's, ESRGAN's VGG-style one (BasicSR keys) and the pix2pix PatchGAN.

All return logits (no sigmoid); losses use BCE-with-logits or relativistic forms on them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _check_size(network: str, x: torch.Tensor, input_size: int) -> None:
    if tuple(x.shape[-2:]) != (input_size, input_size):
        raise ValueError(f"{network}: input is {tuple(x.shape[-2:])} but this network takes {input_size}x{input_size}")


class SRGANDiscriminator(nn.Module):
    """SRGAN discriminator (Ledig et al. 2017).

    Eight 3x3 convolutions F, F, 2F, 2F, 4F, 4F, 8F, 8F channels with strides 1, 2, 1, 2, 1, 2, 1, 2,
    batch norm on all but the first, LeakyReLU 0.2 (``features``); then (``classifier``) either
    the paper's dense 1024 -> LeakyReLU -> dense 1 on the flattened (input_size/16)^2 map, or, with
    ``fully_conv=True``, global average pooling -> 1x1 conv 1024 -> LeakyReLU -> 1x1 conv 1, which
    takes any patch whose sides are at least 16.

    Args:
        in_channels: image channels (1 for MRI, 3 for RGB).
        num_feat: channels of the first convolution F.
        input_size: patch side in pixels, a multiple of 16 (dense head only; ignored when fully conv).
        fully_conv: use the pooling + 1x1-conv head instead of the dense layers.
    """

    def __init__(
        self, in_channels: int = 3, num_feat: int = 64, input_size: int = 96, fully_conv: bool = False
    ) -> None:
        super().__init__()
        if not fully_conv and (input_size < 16 or input_size % 16):
            raise ValueError(f"SRGANDiscriminator: input_size {input_size} must be a positive multiple of 16")
        self.in_channels = in_channels
        self.input_size = input_size
        self.fully_conv = fully_conv
        layers: list[nn.Module] = [nn.Conv2d(in_channels, num_feat, 3, 1, 1), nn.LeakyReLU(0.2)]
        channels = num_feat
        for out_ch, stride in zip((1, 2, 2, 4, 4, 8, 8), (2, 1, 2, 1, 2, 1, 2)):
            out_ch *= num_feat
            layers += [nn.Conv2d(channels, out_ch, 3, stride, 1, bias=False), nn.BatchNorm2d(out_ch), nn.LeakyReLU(0.2)]
            channels = out_ch
        self.features = nn.Sequential(*layers)
        if fully_conv:
            self.classifier = nn.Sequential(
                nn.AdaptiveAvgPool2d(1),
                nn.Conv2d(channels, 1024, 1),
                nn.LeakyReLU(0.2),
                nn.Conv2d(1024, 1, 1),
                nn.Flatten(),
            )
        else:
            side = input_size // 16
            self.classifier = nn.Sequential(
                nn.Flatten(), nn.Linear(channels * side * side, 1024), nn.LeakyReLU(0.2), nn.Linear(1024, 1)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Score images.

        Args:
            x: (B, C, input_size, input_size) float in [0, 1]; any (B, C, H, W), H, W >= 16, when fully conv.

        Returns:
            (B, 1) logits.
        """
        if not self.fully_conv:
            _check_size("SRGANDiscriminator", x, self.input_size)
        return self.classifier(self.features(x))


class VGGStyleDiscriminator(nn.Module):
    """ESRGAN's VGG-style discriminator with BasicSR's layer names (``conv0_0``, ``conv0_1``, ``bn0_1``,
    ``conv1_0``, ``bn1_0``, ... ``conv4_1``, ``bn4_1``, [``conv5_*``, ``bn5_*``], ``linear1``, ``linear2``).

    Stage 0: 3x3 conv (bias) + LeakyReLU, 4x4 stride-2 conv + BN + LeakyReLU; stages 1-4 (and 5 when
    ``input_size >= 256``): 3x3 conv + BN + LeakyReLU, 4x4 stride-2 conv + BN + LeakyReLU, channels
    F, 2F, 4F, 8F, 8F, 8F; dense 100 + LeakyReLU; dense 1. For 128 and 256 this is BasicSR's network
    exactly (final map 4x4); other sizes (a multiple of 32, of 64 from 256 up) are this package's
    extension, e.g. 96 or 192 for x3 patches, with a (size/32)^2 or (size/64)^2 final map.

    Args:
        in_channels: image channels (1 for MRI, 3 for RGB).
        num_feat: channels of the first convolution F.
        input_size: patch side in pixels.
        high_pass: if > 0, the sigma (pixels) of a Gaussian whose blur is subtracted from the input
            first, so the discriminator judges only the high frequencies (as SRResCycGAN's official
            training filters D_HR's input); 0 (default): the image itself. No parameters.
    """

    def __init__(self, in_channels: int = 3, num_feat: int = 64, input_size: int = 128, high_pass: float = 0.0) -> None:
        super().__init__()
        self.high_pass = high_pass
        num_stages = 6 if input_size >= 256 else 5
        if input_size < 2**num_stages or input_size % 2**num_stages:
            raise ValueError(
                f"VGGStyleDiscriminator: input_size {input_size} must be a multiple of 32 (of 64 from 256 up)"
            )
        self.in_channels = in_channels
        self.input_size = input_size
        self.num_stages = num_stages
        self.conv0_0 = nn.Conv2d(in_channels, num_feat, 3, 1, 1, bias=True)
        self.conv0_1 = nn.Conv2d(num_feat, num_feat, 4, 2, 1, bias=False)
        self.bn0_1 = nn.BatchNorm2d(num_feat)
        channels = num_feat
        for stage, mult in zip(range(1, num_stages), (2, 4, 8, 8, 8)):
            out_ch = num_feat * mult
            self.add_module(f"conv{stage}_0", nn.Conv2d(channels, out_ch, 3, 1, 1, bias=False))
            self.add_module(f"bn{stage}_0", nn.BatchNorm2d(out_ch))
            self.add_module(f"conv{stage}_1", nn.Conv2d(out_ch, out_ch, 4, 2, 1, bias=False))
            self.add_module(f"bn{stage}_1", nn.BatchNorm2d(out_ch))
            channels = out_ch
        side = input_size // 2**num_stages
        self.linear1 = nn.Linear(channels * side * side, 100)
        self.linear2 = nn.Linear(100, 1)
        self.lrelu = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Score images.

        Args:
            x: (B, C, input_size, input_size) float in [0, 1].

        Returns:
            (B, 1) logits.
        """
        _check_size("VGGStyleDiscriminator", x, self.input_size)
        if self.high_pass > 0:
            x = x - gaussian_blur(x, self.high_pass)
        feat = self.lrelu(self.conv0_0(x))
        feat = self.lrelu(self.bn0_1(self.conv0_1(feat)))
        for stage in range(1, self.num_stages):
            for half in (0, 1):
                conv = getattr(self, f"conv{stage}_{half}")
                norm = getattr(self, f"bn{stage}_{half}")
                feat = self.lrelu(norm(conv(feat)))
        feat = self.lrelu(self.linear1(feat.flatten(1)))
        return self.linear2(feat)


class PatchGANDiscriminator(nn.Module):
    """pix2pix N-layer PatchGAN (Isola et al. 2017), used as SRResCycGAN's LR-domain discriminator.

    4x4 convolutions: stride 2 to F channels + LeakyReLU 0.2; ``num_layers - 1`` stride-2 convs to
    min(2^n, 8)F channels + BN + LeakyReLU; one stride-1 conv to min(2^num_layers, 8)F + BN +
    LeakyReLU; a stride-1 conv to 1 channel. Keys ``model.N``. Each output logit sees a 70x70
    receptive field for ``num_layers=3``.

    Args:
        in_channels: image channels (1 for MRI, 3 for RGB).
        num_feat: channels of the first convolution F.
        num_layers: number of stride-2 convolutions.
    """

    def __init__(self, in_channels: int = 3, num_feat: int = 64, num_layers: int = 3) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.num_layers = num_layers
        layers: list[nn.Module] = [nn.Conv2d(in_channels, num_feat, 4, 2, 1), nn.LeakyReLU(0.2)]
        channels = num_feat
        for n in range(1, num_layers + 1):
            out_ch = num_feat * min(2**n, 8)
            stride = 2 if n < num_layers else 1
            layers += [nn.Conv2d(channels, out_ch, 4, stride, 1, bias=False), nn.BatchNorm2d(out_ch), nn.LeakyReLU(0.2)]
            channels = out_ch
        layers.append(nn.Conv2d(channels, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Score every patch of a batch.

        Args:
            x: (B, C, H, W) float in [0, 1]; sides at least 2^num_layers * 3 (24 for 3 layers).

        Returns:
            (B, 1, H', W') logits, H' = H // 2^num_layers - 2 (30x30 for 256x256 and 3 layers).
        """
        return self.model(x)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, C, H, W), radius ceil(3 sigma), reflect padding; same shape out."""
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = (kernel / kernel.sum()).view(1, 1, 1, -1).repeat(x.shape[1], 1, 1, 1)
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, kernel, groups=x.shape[1])
    return F.conv2d(x, kernel.transpose(2, 3), groups=x.shape[1])
