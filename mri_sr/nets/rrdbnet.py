"""RRDBNet, the ESRGAN generator (Wang et al., ECCVW 2018), with BasicSR's state-dict layout."""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from mri_sr.nets.blocks import check_scale, optional_image_skip, scaled_kaiming_init_


class ResidualDenseBlock(nn.Module):
    """Five 3x3 convolutions with dense connections; ``x + 0.2 * conv5(...)``.

    Args:
        num_feat: channels in and out F.
        num_grow_ch: channels added by each of conv1..conv4 (growth G).
    """

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_grow_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat + num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat + 2 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv4 = nn.Conv2d(num_feat + 3 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2)
        scaled_kaiming_init_([self], 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (B, F, H, W) features to (B, F, H, W) features."""
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x + 0.2 * x5


class RRDB(nn.Module):
    """Residual in residual dense block: three dense blocks, ``x + 0.2 * rdb3(rdb2(rdb1(x)))``."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (B, F, H, W) features to (B, F, H, W) features."""
        return x + 0.2 * self.rdb3(self.rdb2(self.rdb1(x)))


class RRDBNet(nn.Module):
    """ESRGAN generator: ``num_block`` RRDBs, no batch norm, nearest-neighbour upsampling + conv.

    State-dict keys are BasicSR's (``conv_first``, ``body.N.rdb{1,2,3}.conv{1..5}``, ``conv_body``,
    ``conv_up1``, ``conv_up2``, ``conv_hr``, ``conv_last``), so BasicSR's published ESRGAN /
    RRDB_PSNR x4 weights (the ``"params"`` / ``"params_ema"`` entry of their files) load with
    ``strict=True``; weights saved by the original xinntao/ESRGAN code (``RRDB_ESRGAN_x4.pth``,
    ``RRDB_PSNR_x4.pth``) load after :func:`convert_legacy_esrgan_keys`. RGB x4 with the defaults has 16,697,987 parameters.

    Scales:
        * x4: the published architecture, two (nearest x2, conv, LeakyReLU) stages.
        * x2: as BasicSR, the input is pixel-unshuffled by 2 (``conv_first`` sees 4C channels), then
          the x4 path; same keys. Odd input sides are padded by edge replication and the output cropped.
        * x3 (this package's choice, no published reference): one nearest x3 + ``conv_up1`` stage;
          there is no ``conv_up2``.

    Args:
        in_channels: image channels C (1 for MRI, 3 for RGB); the output has the same count.
        num_feat: feature channels F.
        num_block: number of RRDBs (23 in ESRGAN).
        num_grow_ch: dense-block growth channels (32 in ESRGAN).
        scale: upscaling factor, 2, 3 or 4.
        image_skip: add the interpolated input to the output (residual learning over
            interpolation; not in the paper, off by default; see :class:`ImageSkip`).
        upsample_mode: the interpolation under the residual with ``image_skip``: ``bicubic`` or
            ``sinc`` (:mod:`mri_sr.nets.upsample`; closer to k-space zero filling for MRI).
    """

    def __init__(
        self, in_channels: int = 3, num_feat: int = 64, num_block: int = 23, num_grow_ch: int = 32, scale: int = 4,
        image_skip: bool = False, upsample_mode: str = "bicubic",
    ) -> None:
        super().__init__()
        check_scale("RRDBNet", scale)
        self.in_channels = in_channels
        self.scale = scale
        first_in = in_channels * 4 if scale == 2 else in_channels
        self.conv_first = nn.Conv2d(first_in, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        if scale != 3:
            self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, in_channels, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2)
        self.image_skip = optional_image_skip(image_skip, self.conv_last, scale, mode=upsample_mode)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """Upscale a batch of images.

        Args:
            lr: (B, C, h, w) float in [0, 1].

        Returns:
            (B, C, h*scale, w*scale) float, same dtype; not clipped.
        """
        height, width = lr.shape[-2:]
        if self.scale == 2:
            feat = F.pad(lr, (0, width % 2, 0, height % 2), mode="replicate") if height % 2 or width % 2 else lr
            feat = F.pixel_unshuffle(feat, 2)
        else:
            feat = lr
        feat = self.conv_first(feat)
        feat = feat + self.conv_body(self.body(feat))
        if self.scale == 3:
            feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=3, mode="nearest")))
        else:
            feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
            feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        out = self.conv_last(self.lrelu(self.conv_hr(feat)))[..., : height * self.scale, : width * self.scale]
        return self.image_skip(out, lr) if self.image_skip is not None else out


_LEGACY_NAMES = (
    (re.compile(r"^RRDB_trunk\.(\d+)\.RDB(\d)\."), r"body.\1.rdb\2."),
    (re.compile(r"^trunk_conv\."), "conv_body."),
    (re.compile(r"^upconv1\."), "conv_up1."),
    (re.compile(r"^upconv2\."), "conv_up2."),
    (re.compile(r"^HRconv\."), "conv_hr."),
)


def convert_legacy_esrgan_keys(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a state dict saved by the original xinntao/ESRGAN ``RRDBNet_arch.py`` to BasicSR's keys.

    ``RRDB_trunk.N.RDBk.convj`` -> ``body.N.rdbk.convj``, ``trunk_conv`` -> ``conv_body``,
    ``upconv1/2`` -> ``conv_up1/2``, ``HRconv`` -> ``conv_hr``; other keys are kept. Tensors are not
    copied.

    Args:
        state_dict: key -> tensor, e.g. ``torch.load("RRDB_ESRGAN_x4.pth", weights_only=True)``.

    Returns:
        A new dict, in the same order, loadable into ``RRDBNet(scale=4)`` with ``strict=True``.
    """
    renamed = {}
    for key, value in state_dict.items():
        for pattern, replacement in _LEGACY_NAMES:
            key = pattern.sub(replacement, key)
        renamed[key] = value
    return renamed
