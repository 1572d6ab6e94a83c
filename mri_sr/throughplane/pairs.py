"""Training pairs for through-plane super-resolution from the scan's own in-plane slices.

The in-plane slices (the planes that do not contain the slice axis) are fine along both of
their axes. Degrading one of those axes with the slice profile gives an image that looks, along
that axis, like a plane through the thick slices; the network learns to undo it. Both in-plane
axes are degraded in turn (two orientations) and every phase of the thick-slice grid is used,
so each fine row appears in some pair at each position within a thick slice.
"""

from __future__ import annotations

import numpy as np
import torch

from mri_sr.throughplane.profile import SliceProfile, degrade_axis

FOREGROUND = 0.05
"""Normalised intensity above which a voxel counts as foreground."""
MIN_FOREGROUND = 0.2
"""Patches with less foreground than this fraction are used only when too few others are drawn."""


class PairSampler:
    """Random aligned LR/HR patches from in-plane slices.

    Args:
        slices: (n, A, B) float32 in [0, 1]: the in-plane slices, normalised.
        profile: slice profile and factor ``S``.
        lr_size: (rows, columns) of an LR patch; rows are thick slices, columns fine voxels
            (shrunk to fit small slices).
    """

    def __init__(self, slices: np.ndarray, profile: SliceProfile, lr_size: tuple[int, int] = (16, 48)) -> None:
        self.profile = profile
        scale = profile.factor
        self.hr = [np.ascontiguousarray(slices), np.ascontiguousarray(slices.transpose(0, 2, 1))]
        self.lr = [[degrade_axis(hr, 1, profile, phase) for phase in range(scale)] for hr in self.hr]
        shortest = min(lr.shape[1] for per_phase in self.lr for lr in per_phase)
        narrowest = min(hr.shape[2] for hr in self.hr)
        if shortest < 1:
            raise ValueError(f"in-plane slices {slices.shape[1:]} are shorter than one thick slice")
        self.lr_size = (min(lr_size[0], shortest), min(lr_size[1], narrowest))

    def sample(self, batch_size: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw a batch.

        Args:
            batch_size: number of pairs.
            rng: the random generator (all draws come from it: deterministic for a seed).

        Returns:
            ``(lr, hr)``: (B, 1, P, Q) and (B, 1, S * P, Q) float32 in [0, 1]; HR row ``S k + r``
            is fine row ``r`` of thick slice ``k``. Random flips of both axes.
        """
        scale, (rows, cols) = self.profile.factor, self.lr_size
        candidates = []
        for _ in range(4 * batch_size):
            orient, phase = int(rng.integers(2)), int(rng.integers(scale))
            lr_stack, hr_stack = self.lr[orient][phase], self.hr[orient]
            index = int(rng.integers(hr_stack.shape[0]))
            top = int(rng.integers(lr_stack.shape[1] - rows + 1))
            left = int(rng.integers(hr_stack.shape[2] - cols + 1))
            flips = rng.integers(2, size=2)
            lr = lr_stack[index, top:top + rows, left:left + cols]
            hr = hr_stack[index, phase + scale * top:phase + scale * (top + rows), left:left + cols]
            if flips[0]:
                lr, hr = lr[::-1], hr[::-1]
            if flips[1]:
                lr, hr = lr[:, ::-1], hr[:, ::-1]
            candidates.append((float(np.mean(hr > FOREGROUND)) >= MIN_FOREGROUND, lr, hr))
        chosen = [c for c in candidates if c[0]][:batch_size]
        chosen += [c for c in candidates if not c[0]][:batch_size - len(chosen)]
        lr = torch.from_numpy(np.stack([np.ascontiguousarray(c[1]) for c in chosen]))[:, None]
        hr = torch.from_numpy(np.stack([np.ascontiguousarray(c[2]) for c in chosen]))[:, None]
        return lr, hr
