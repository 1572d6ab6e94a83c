"""SRResCycGAN generators (Umer & Micheloni 2020): SRResDNet (LR -> HR) and DegradationNet (HR -> LR).

The discriminators of SRResCycGAN are :class:`~mri_sr.nets.discriminators.VGGStyleDiscriminator`
(HR domain) and :class:`~mri_sr.nets.discriminators.PatchGANDiscriminator` (LR domain).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mri_sr.nets.blocks import ResidualBlock, check_scale
from mri_sr.nets.upsample import MODES, upsample

# Daubechies-7 high-pass decomposition filter (14 taps), as in the official noise estimator.
_DB7_HIGH = (
    -0.07785205408506236, 0.39653931948230575, -0.7291320908465551, 0.4697822874053586,
    0.14390600392910627, -0.22403618499416572, -0.07130921926705004, 0.0806126091510659,
    0.03802993693503463, -0.01657454163101562, -0.012550998556013784, 0.00042957797300470274,
    0.0018016407039998328, 0.0003537138000010399,
)  # fmt: skip


def _pad(x: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    """Reflect-pad (left, right, top, bottom); replicate where a side is too short to reflect."""
    short = max(pad[0], pad[1]) >= x.shape[-1] or max(pad[2], pad[3]) >= x.shape[-2]
    return F.pad(x, pad, mode="replicate" if short else "reflect")


@torch.no_grad()
def estimate_noise_std(x: torch.Tensor) -> torch.Tensor:
    """Noise standard deviation by the wavelet MAD rule: median(|HH|) / 0.6745, averaged over channels.

    HH is the diagonal detail band of one level of a separable db7 decomposition (stride 2 along
    rows, then columns, reflect padding). Not differentiated (the official code detaches it too).

    Args:
        x: (B, C, H, W) float images; the estimate is in the same units as ``x``.

    Returns:
        (B,) float: the estimated standard deviation of additive white Gaussian noise per image.
    """
    channels = x.shape[1]
    taps = len(_DB7_HIGH)
    kernel = torch.tensor(_DB7_HIGH, dtype=x.dtype, device=x.device).view(1, 1, taps, 1).repeat(channels, 1, 1, 1)
    rows = F.conv2d(_pad(x, (0, 0, taps // 2, taps // 2)), kernel, stride=(2, 1), groups=channels)
    rows = _pad(rows, (taps // 2, taps // 2, 0, 0)).transpose(2, 3)
    diagonal = F.conv2d(rows, kernel, stride=(2, 1), groups=channels)
    mad = diagonal.flatten(2).abs().median(dim=2).values  # (B, C)
    return (mad / 0.6745).mean(dim=1)


def project_l2_ball(residual: torch.Tensor, noise_std: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Project each image of ``residual`` onto the L2 ball of radius exp(alpha) * noise_std * sqrt(N - 1).

    The proximal map of the indicator of {r : ||r||_2 <= eps} (the official ``L2Proj``): r is
    scaled by eps / max(||r||, eps), N = C*H*W.

    Args:
        residual: (B, C, H, W) float estimated noise/artefact residual.
        noise_std: (B,) float noise level in the units of ``residual``.
        alpha: (1,) float learned log-factor on the radius.

    Returns:
        (B, C, H, W) float, each image with L2 norm at most eps.
    """
    numel = residual[0].numel()
    eps = torch.exp(alpha) * noise_std * math.sqrt(max(numel - 1, 1))
    norm = residual.flatten(1).norm(dim=1)
    factor = eps / torch.maximum(norm, eps).clamp_min(torch.finfo(residual.dtype).tiny)
    return residual * factor.view(-1, 1, 1, 1)


class ZeroMeanConv2d(nn.Conv2d):
    """``Conv2d`` whose weight is used minus its mean (over the whole tensor), as ResDNet's ``zeromean``.

    The constraint is a reparametrisation inside ``forward`` (differentiable), not an in-place edit.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve (B, C_in, H, W) -> (B, C_out, H', W') with the zero-mean weight."""
        return self._conv_forward(x, self.weight - self.weight.mean(), self.bias)


class PreActBlock(nn.Module):
    """ResDNet block: PReLU -> reflect pad -> 3x3 conv -> PReLU -> reflect pad -> 3x3 conv (+ x).

    PReLUs have one slope per channel, initialised to 0.1. Keys ``relu1``, ``conv1``, ``relu2``,
    ``conv2`` (the official names).
    """

    def __init__(self, num_feat: int = 64, shortcut: bool = True) -> None:
        super().__init__()
        self.shortcut = shortcut
        self.relu1 = nn.PReLU(num_feat, init=0.1)
        self.conv1 = ZeroMeanConv2d(num_feat, num_feat, 3)
        self.relu2 = nn.PReLU(num_feat, init=0.1)
        self.conv2 = ZeroMeanConv2d(num_feat, num_feat, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (B, F, H, W) features to (B, F, H, W) features."""
        out = self.conv1(_pad(self.relu1(x), (1, 1, 1, 1)))
        out = self.conv2(_pad(self.relu2(out), (1, 1, 1, 1)))
        return x + out if self.shortcut else out


class ResDNet(nn.Module):
    """Residual denoiser of SRResDNet: 5x5 zero-mean conv encoder, pre-activation blocks (the first
    without shortcut), 5x5 transposed-conv decoder back to C channels. Keys ``conv1``,
    ``layer1.N.*``, ``conv_out`` (the official names).

    Args:
        in_channels: image channels C.
        num_feat: feature channels F (64 in the paper).
        num_block: pre-activation residual blocks (5 in the paper).
    """

    def __init__(self, in_channels: int = 3, num_feat: int = 64, num_block: int = 5) -> None:
        super().__init__()
        self.conv1 = ZeroMeanConv2d(in_channels, num_feat, 5)
        self.layer1 = nn.Sequential(*(PreActBlock(num_feat, shortcut=i > 0) for i in range(num_block)))
        self.conv_out = nn.ConvTranspose2d(num_feat, in_channels, 5, padding=2)
        with torch.no_grad():
            for layer in self.modules():
                if isinstance(layer, ZeroMeanConv2d):
                    layer.weight.normal_(0.0, math.sqrt(2.0 / (9.0 * num_feat)))
                    layer.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Estimate the residual (noise and artefacts) of (B, C, H, W) images; same shape out."""
        return self.conv_out(self.layer1(self.conv1(_pad(x, (2, 2, 2, 2)))))


class SRResDNet(nn.Module):
    """SRResCycGAN's super-resolution generator G_HR.

    ``up = interpolate(lr)`` (fixed bilinear or bicubic interpolation, no parameters, as the
    official release's ``F.interpolate(..., mode="bilinear", align_corners=False)``, not the
    learned transposed convolution the paper draws, whose zero padding darkens the outer
    pixels); ``out = clip(up - P(ResDNet(up)), 0, 1)``: the ResDNet learns the residual. P is the
    L2 proximal projection of the residual onto a ball whose radius is exp(alpha) * sigma *
    sqrt(N - 1), sigma = max(wavelet-MAD noise estimate of ``up``, ``noise_floor``) and alpha a
    learned scalar (initialised to log 2), as in the official code apart from the floor.

    The floor is this project's: on noise-free data (the gpu.yaml bicubic LR) or on MRI whose
    background is exactly zero the estimate is ~0, the ball shrinks to a point and the
    refinement is clamped to zero (G_HR would be a plain interpolator). With the floor the
    residual may always carry at least ``exp(alpha) * noise_floor`` RMS per pixel; alpha still
    learns how much more.

    Kept from the paper: zero-mean encoder/block filters, per-channel PReLUs (init 0.1), reflect
    padding, first block without shortcut, the projection and noise estimator. Simplified: no
    weight normalisation on the convolutions (keys are plain ``weight``/``bias``, not
    ``weight_g``/``weight_v``). With ``projection=False`` the residual is used unprojected.

    Keys: ``model.conv1``, ``model.layer1.N.{relu1,conv1,relu2,conv2}``, ``model.conv_out``,
    ``alpha`` (only with the projection); the interpolation has no parameters.

    Args:
        in_channels: image channels C (1 for MRI, 3 for RGB).
        num_feat: ResDNet feature channels (64 in the paper).
        num_block: ResDNet pre-activation blocks (5 in the paper).
        scale: upscaling factor, 2, 3 or 4.
        projection: apply the noise-adaptive L2 projection to the residual.
        noise_floor: lower bound of the noise estimate, in intensity units of [0, 1] images.
        upsample_mode: ``"bilinear"`` (official), ``"bicubic"`` (align_corners False) or ``"sinc"``
            (wide Lanczos, :mod:`mri_sr.nets.upsample`: closer to the truth for k-space-truncated MRI).
    """

    def __init__(
        self, in_channels: int = 3, num_feat: int = 64, num_block: int = 5, scale: int = 4, projection: bool = True,
        noise_floor: float = 0.01, upsample_mode: str = "bilinear",
    ) -> None:
        super().__init__()
        check_scale("SRResDNet", scale)
        if upsample_mode not in MODES:
            raise ValueError(f"SRResDNet: upsample_mode {upsample_mode!r} is not one of {', '.join(MODES)}")
        self.in_channels = in_channels
        self.scale = scale
        self.projection = projection
        self.noise_floor = noise_floor
        self.upsample_mode = upsample_mode
        self.model = ResDNet(in_channels, num_feat, num_block)
        if projection:
            self.alpha = nn.Parameter(torch.full((1,), math.log(2.0)))

    def upsample(self, lr: torch.Tensor) -> torch.Tensor:
        """Fixed interpolation (B, C, h, w) -> (B, C, h*scale, w*scale), edges clamped, not clipped."""
        return upsample(lr, self.scale, self.upsample_mode)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """Upscale a batch of images.

        Args:
            lr: (B, C, h, w) float in [0, 1].

        Returns:
            (B, C, h*scale, w*scale) float; clipped to [0, 1] in eval mode. In training mode the
            output is not clipped: a clip there would zero the gradient of every saturated
            pixel, so a network that saturated could not learn its way back.
        """
        up = self.upsample(lr)
        residual = self.model(up)
        if self.projection:
            sigma = estimate_noise_std(up).clamp_min(self.noise_floor)
            residual = project_l2_ball(residual, sigma, self.alpha)
        out = up - residual
        return out if self.training else torch.clamp(out, 0.0, 1.0)


class DegradationNet(nn.Module):
    """SRResCycGAN's LR generator G_LR: a learned degradation HR -> LR.

    The DSGAN/SRResCycGAN ``De_resnet`` layout: 3x3 conv + PReLU (``block_input``); ``num_block``
    residual blocks conv-PReLU-conv (``res_blocks``); strided-conv downsampling (``down_sample``),
    then 3x3 conv to C channels (``block_output``) and a sigmoid. Downsampling stages are conv +
    PReLU with kernel stride+2, padding 1 (centred windows): one stride-2 stage for x2, two for x4,
    one stride-3 stage for x3 (the reference uses 3x3 stride-2 kernels and has no x3).

    Args:
        in_channels: image channels C (1 for MRI, 3 for RGB).
        num_feat: feature channels (64 in the reference).
        num_block: residual blocks (8 in the reference).
        scale: downscaling factor, 2, 3 or 4.
    """

    def __init__(self, in_channels: int = 3, num_feat: int = 64, num_block: int = 8, scale: int = 4) -> None:
        super().__init__()
        check_scale("DegradationNet", scale)
        self.in_channels = in_channels
        self.scale = scale
        self.block_input = nn.Sequential(nn.Conv2d(in_channels, num_feat, 3, 1, 1), nn.PReLU())
        self.res_blocks = nn.Sequential(*(ResidualBlock(num_feat) for _ in range(num_block)))
        strides = [3] if scale == 3 else [2] * (scale // 2)
        layers: list[nn.Module] = []
        for stride in strides:
            layers += [nn.Conv2d(num_feat, num_feat, stride + 2, stride, 1), nn.PReLU()]
        self.down_sample = nn.Sequential(*layers)
        self.block_output = nn.Conv2d(num_feat, in_channels, 3, 1, 1)

    def forward(self, hr: torch.Tensor) -> torch.Tensor:
        """Degrade a batch of images.

        Args:
            hr: (B, C, H, W) float in [0, 1], H and W multiples of ``scale``.

        Returns:
            (B, C, H/scale, W/scale) float in (0, 1).
        """
        feat = self.res_blocks(self.block_input(hr))
        return torch.sigmoid(self.block_output(self.down_sample(feat)))
