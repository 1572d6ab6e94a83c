"""SRResCycGAN's total-variation term: matching the image gradients of SR and HR."""

from __future__ import annotations

from torch import Tensor, nn


def image_gradients(x: Tensor) -> tuple[Tensor, Tensor]:
    """Forward finite differences, without padding.

    Args:
        x: (B, C, H, W) float.

    Returns:
        ``(dx, dy)``: ``dx = x[..., :, 1:] - x[..., :, :-1]`` of shape (B, C, H, W - 1)
        (horizontal, along W) and ``dy = x[..., 1:, :] - x[..., :-1, :]`` of shape
        (B, C, H - 1, W) (vertical, along H).
    """
    if x.ndim != 4:
        raise ValueError(f"expected (B, C, H, W), got {tuple(x.shape)}")
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


class TVGradientLoss(nn.Module):
    """SRResCycGAN's total-variation loss: L1 between the image gradients of SR and HR.

    ``loss = mean(|dx(sr) - dx(hr)|) + mean(|dy(sr) - dy(hr)|)``, with ``dx``, ``dy`` from
    :func:`image_gradients`; the first mean is over the B*C*H*(W-1) horizontal differences, the
    second over the B*C*(H-1)*W vertical ones. Zero whenever ``sr - hr`` is constant per image and
    channel; in intensity units (nominal range [0, 1]) per pixel step.
    """

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        """Args: sr, hr: (B, C, H, W) float of equal shape, H, W >= 2. Returns: scalar tensor."""
        if sr.shape != hr.shape:
            raise ValueError(f"shapes differ: {tuple(sr.shape)} vs {tuple(hr.shape)}")
        sr_dx, sr_dy = image_gradients(sr)
        hr_dx, hr_dy = image_gradients(hr)
        return (sr_dx - hr_dx).abs().mean() + (sr_dy - hr_dy).abs().mean()
