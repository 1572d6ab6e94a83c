"""Tiled upscaling: tile layout, blending weights, seams, and the out-of-memory fallback."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mri_sr.resample import imresize_torch
from mri_sr.errors import MriSrError
from mri_sr.io import load_volume
from mri_sr.nets import build_network
from mri_sr.tiling import RunPlan, apply_tiled, ramp_weights, run_adaptive, tile_starts


def nearest_x2(lr: torch.Tensor) -> torch.Tensor:
    """A local 'upscaler' (each output pixel depends on one input pixel): tiling must not change it."""
    return F.interpolate(lr, scale_factor=2, mode="nearest")


@pytest.fixture(scope="module")
def mni_slices() -> torch.Tensor:
    """Three real axial slices of the MNI template, cropped to the brain: (3, 1, 120, 150) in [0, 1]."""
    data = load_volume("builtin:mni152").data
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(data[40:160, 40:190, 80:83], 2, 0)))[:, None]


@pytest.mark.parametrize(("length", "tile", "overlap"),
                         [(197, 64, 8), (233, 50, 10), (40, 64, 8), (64, 64, 0), (65, 32, 31)])
def test_tiles_cover_the_axis_with_at_least_the_overlap(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    size = min(tile, length)
    assert starts[0] == 0 and starts[-1] + size == length
    covered = np.zeros(length, dtype=int)
    for start in starts:
        covered[start:start + size] += 1
    assert covered.min() >= 1
    for a, b in zip(starts, starts[1:]):
        assert 0 < b - a <= tile - overlap  # neighbours overlap by >= overlap pixels


def test_bad_tile_settings_are_rejected():
    with pytest.raises(ValueError):
        tile_starts(100, 8, 8)
    with pytest.raises(ValueError):
        tile_starts(100, 0, 0)


def test_blend_weights_of_neighbours_sum_to_one_over_an_exact_overlap():
    ramp = 16
    left = ramp_weights(64, ramp, rise=False, fall=True)
    right = ramp_weights(64, ramp, rise=True, fall=False)
    torch.testing.assert_close(left[-ramp:] + right[:ramp], torch.ones(ramp))
    assert left[0] == 1 and right[-1] == 1
    assert torch.all(right[:4] == 0) and right[4] > 0  # the outer quarter of the ramp is dropped


def test_tiling_a_local_upscaler_is_exact(mni_slices):
    whole = nearest_x2(mni_slices)
    for tile, overlap in [(48, 8), (100, 20), (37, 0), (300, 8)]:
        tiled = apply_tiled(nearest_x2, mni_slices, 2, tile, overlap)
        assert tiled.shape == whole.shape
        torch.testing.assert_close(tiled, whole, rtol=0, atol=1e-6)


def test_tiling_a_network_is_exact_beyond_its_receptive_field(mni_slices):
    torch.manual_seed(0)
    net = build_network({"type": "srresnet", "num_feat": 8, "num_block": 1, "scale": 2, "in_channels": 1}).eval()
    # Receptive-field radius of this net in LR pixels: 4 (9x9 head) + 2 (one block, two 3x3) + 1
    # (3x3 body conv) + 1 (3x3 upsampling conv) + 2 (9x9 tail at HR = 4 HR pixels) = 10.
    with torch.inference_mode():
        whole = net(mni_slices)
        exact = apply_tiled(net, mni_slices, 2, 100, 40)  # overlap / 4 = 10: edge pixels get weight 0
        blended = apply_tiled(net, mni_slices, 2, 64, 12)
        abutting = apply_tiled(net, mni_slices, 2, 64, 0)
    torch.testing.assert_close(exact, whole, rtol=0, atol=1e-6)
    # Below the radius the blend only shrinks the seams that plain abutting tiles show.
    seam = (abutting - whole).abs().max()
    assert (blended - whole).abs().max() < seam / 5


def test_monai_sliding_window_lets_tile_edges_into_the_blend(mni_slices):
    """Why tiling is not MONAI's ``sliding_window_inference``: it weights every window with one
    importance map (constant or Gaussian), also next to a window edge shared with a neighbour, so
    the pixels that zero padding spoiled enter the blend; with the same tiles our ramps drop them
    and the tiled output is the whole-slice output."""
    from monai.inferers import sliding_window_inference

    torch.manual_seed(0)
    net = build_network({"type": "srresnet", "num_feat": 8, "num_block": 1, "scale": 2, "in_channels": 1}).eval()
    tile, overlap = 100, 40  # overlap / 4 = 10 LR pixels, this net's receptive-field radius
    with torch.inference_mode():
        whole = net(mni_slices)
        ours = apply_tiled(net, mni_slices, 2, tile, overlap)
        monai = {mode: sliding_window_inference(mni_slices, (tile, tile), 4, net, overlap=overlap / tile, mode=mode)
                 for mode in ("constant", "gaussian")}
    torch.testing.assert_close(ours, whole, rtol=0, atol=1e-6)
    for mode, out in monai.items():
        assert out.shape == whole.shape
        # a seam of more than one grey level of an 8-bit display
        assert (out - whole).abs().max() > 1 / 255, mode


def test_out_of_memory_halves_the_batch_then_tiles(mni_slices):
    calls = []

    def limited(lr: torch.Tensor) -> torch.Tensor:
        """Bicubic upscaler that 'runs out of memory' above 4000 input pixels per call."""
        calls.append(tuple(lr.shape))
        if lr.numel() > 4000:
            raise torch.OutOfMemoryError("simulated: not enough device memory")
        return imresize_torch(lr, scale=2)

    plan = RunPlan(scale=2, batch_size=8, tile=None, overlap=4, name="scan.nii")
    out = run_adaptive(limited, mni_slices, plan)
    assert plan.batch_size == 1 and plan.tile is not None and plan.tile * plan.tile <= 4000
    # Tiled bicubic equals whole-slice bicubic away from the tile edges' mirror padding (the cubic
    # kernel reaches 2 LR pixels, within the overlap's ramps); compare the blended result overall.
    whole = imresize_torch(mni_slices, scale=2)
    assert (out - whole).abs().max() < 0.05 and (out - whole).abs().mean() < 1e-3
    assert max(np.prod(c) for c in calls[-5:]) <= 4000

    plan = RunPlan(scale=2, batch_size=1, tile=None, overlap=4, name="scan.nii")
    with pytest.raises(MriSrError, match="scan.nii: out of memory"):
        run_adaptive(lambda lr: (_ for _ in ()).throw(torch.OutOfMemoryError("simulated")), mni_slices[:1], plan)
