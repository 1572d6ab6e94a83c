"""Pixel (content) loss: L1 or L2 between SR and HR."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from mri_sr.errors import MriSrError


class PixelLoss(nn.Module):
    """Mean absolute (``"l1"``) or mean squared (``"l2"``) error over all elements.

    Args:
        criterion: ``"l1"``: ``mean(|sr - hr|)``; ``"l2"``: ``mean((sr - hr) ** 2)``.

    Raises:
        MriSrError: unknown criterion.
    """

    def __init__(self, criterion: str = "l1") -> None:
        super().__init__()
        if criterion not in ("l1", "l2"):
            raise MriSrError(f"loss criterion: {criterion!r} is not 'l1' or 'l2'")
        self.criterion = criterion

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        """Pixel loss.

        Args:
            sr: (B, C, H, W) float, nominally in [0, 1].
            hr: same shape as ``sr``.

        Returns:
            Scalar tensor, in squared intensity units for ``"l2"``.
        """
        if sr.shape != hr.shape:
            raise ValueError(f"shapes differ: {tuple(sr.shape)} vs {tuple(hr.shape)}")
        if self.criterion == "l1":
            return F.l1_loss(sr, hr)
        return F.mse_loss(sr, hr)
