"""Building blocks shared by several networks: the plain residual block, scaled init, scale checks."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from mri_sr.nets.upsample import upsample


def check_scale(network: str, scale: int, allowed: Iterable[int] = (2, 3, 4)) -> None:
    """Raise ``ValueError`` naming the network when ``scale`` is not one it supports.

    Args:
        network: class name shown in the message, e.g. ``"SRResNet"``.
        scale: requested integer scale factor.
        allowed: the scale factors the architecture supports.
    """
    allowed = tuple(allowed)
    if isinstance(scale, bool) or not isinstance(scale, int) or scale not in allowed:
        choices = ", ".join(str(s) for s in allowed)
        raise ValueError(f"{network}: scale {scale!r} is not supported (choose one of {choices})")


@torch.no_grad()
def scaled_kaiming_init_(modules: Iterable[nn.Module], scale: float = 0.1) -> None:
    """Kaiming-normal init scaled by ``scale`` and zero biases, in place (BasicSR's ``default_init_weights``).

    Small initial weights on the last layers of residual branches keep very deep residual networks
    close to the identity at the start of training.

    Args:
        modules: modules whose ``Conv2d`` / ``Linear`` sub-layers are re-initialised.
        scale: factor applied to the Kaiming-normal weights (fan-in mode).
    """
    for module in modules:
        for layer in module.modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(layer.weight)
                layer.weight.mul_(scale)
                if layer.bias is not None:
                    layer.bias.zero_()


class ResidualBlock(nn.Module):
    """``x + conv(act(conv(x)))``, 3x3 convolutions, PReLU, optional batch norm after each conv.

    With ``batch_norm=True`` this is the SRGAN/SRResNet block (conv-BN-PReLU-conv-BN); without, the
    block of the DSGAN/SRResCycGAN degradation generator (conv-PReLU-conv). Keys: ``conv1``,
    ``[bn1]``, ``prelu``, ``conv2``, ``[bn2]``.

    Args:
        num_feat: channels in and out.
        batch_norm: add ``BatchNorm2d`` after each convolution. The convolutions keep their biases
            either way (as in the common SRGAN ports), so parameter counts follow the layer list.
    """

    def __init__(self, num_feat: int = 64, batch_norm: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.bn1 = nn.BatchNorm2d(num_feat) if batch_norm else nn.Identity()
        self.prelu = nn.PReLU()
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(num_feat) if batch_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (B, F, H, W) features to (B, F, H, W) features."""
        return x + self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(x)))))


class ImageSkip(nn.Module):
    """Global residual learning: ``out = net_out + upsample(lr)``, a fixed interpolation.

    ``mode``: ``bicubic`` or ``sinc`` (:mod:`mri_sr.nets.upsample`). Not part of SRGAN's or
    ESRGAN's published generators (off by default); with it a network starts from the
    interpolation and learns only the missing detail, so short training runs start from
    interpolation quality. :func:`zero_init_` on the last conv makes the untrained
    network return exactly the interpolated image. No parameters: state-dict keys are unchanged.

    With ``rows_only`` the input is interpolated along H only (the output keeps W).
    """

    def __init__(self, scale: int, rows_only: bool = False, mode: str = "bicubic") -> None:
        super().__init__()
        self.scale = scale
        self.rows_only = rows_only
        self.mode = mode

    def forward(self, out: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        up = upsample(lr, self.scale, self.mode, self.rows_only)
        return out + up[..., : out.shape[-2], : out.shape[-1]]


class PixelShuffleRows(nn.Module):
    """Sub-pixel shuffle along H only: (B, F * s, h, w) -> (B, F, h * s, w); no parameters.

    Output row ``s * k + r`` holds channel group ``r`` of input row ``k`` (as ``nn.PixelShuffle``
    does per axis), so the output rows of input row ``k`` are centred at ``k`` in input units.
    """

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        x = x.reshape(batch, channels // self.scale, self.scale, height, width)
        return x.permute(0, 1, 3, 2, 4).reshape(batch, channels // self.scale, height * self.scale, width)


def zero_init_(conv: nn.Conv2d) -> None:
    """Zero a conv's weights and bias (the last layer of a residual-over-bicubic generator)."""
    nn.init.zeros_(conv.weight)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


def optional_image_skip(enabled: bool, conv_last: nn.Conv2d, scale: int, rows_only: bool = False,
                        mode: str = "bicubic") -> ImageSkip | None:
    """A generator's :class:`ImageSkip`, or None when ``enabled`` is false.

    When enabled, ``conv_last`` (the generator's last convolution) is zeroed in place, so that the
    untrained generator returns exactly the interpolated image. Adds no state-dict keys.

    Args:
        enabled: the generator's ``image_skip`` option.
        conv_last: its last convolution; scale, rows_only, mode: as :class:`ImageSkip`.
    """
    if not enabled:
        return None
    zero_init_(conv_last)
    return ImageSkip(scale, rows_only=rows_only, mode=mode)
