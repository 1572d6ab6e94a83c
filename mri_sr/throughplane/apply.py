"""Apply a one-axis generator to the two orthogonal stacks that contain the slice axis, and fuse.

For slice axis ``a`` and in-plane axes ``b``, ``c``: stack 1 holds the planes (a, c) for every
index along ``b``, stack 2 the planes (a, b) for every index along ``c``. Each plane has the
slice axis as rows, which the network lengthens by ``S``; the two results are averaged.
"""

from __future__ import annotations

import numpy as np
import torch

from mri_sr.inference import Inference
from mri_sr.logsetup import progress as progress_bar


def apply_fused(sr: Inference, data: np.ndarray, axis: int, *, batch_size: int = 8,
                progress: bool = True) -> np.ndarray:
    """Super-resolve the slice axis of a normalised volume, fusing two orthogonal stacks.

    Args:
        sr: the one-axis generator's inference path, (B, 1, h, w) -> (B, 1, h * S, w) clamped
            to [0, 1], ``sr.scale = S`` (no tiling: tiles assume both axes grow).
        data: (X, Y, Z) float32 in [0, 1] (normalised, clipped).
        axis: slice axis.
        batch_size: planes per forward pass.
        progress: tqdm bar on stderr.

    Returns:
        float32 array, ``S`` times longer along ``axis``, clamped to [0, 1]: mean of the two stacks.
    """
    scale = sr.scale
    others = [a for a in range(3) if a != axis]
    fused = None
    total = sum(data.shape[b] for b in others)
    with progress_bar(total=total, unit="plane", desc="apply", disable=not progress) as bar:
        for stack_axis in others:
            planes = np.moveaxis(data, (stack_axis, axis), (0, 1))  # (n, slices, w)
            out = np.empty((planes.shape[0], planes.shape[1] * scale, planes.shape[2]), dtype=np.float32)
            for start in range(0, len(planes), batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(planes[start:start + batch_size]))[:, None]
                out[start:start + len(batch)] = sr(batch)[:, 0].cpu().numpy()
                bar.update(len(batch))
            result = np.moveaxis(out, (0, 1), (stack_axis, axis))
            fused = result if fused is None else fused + result
    return fused * np.float32(0.5)
