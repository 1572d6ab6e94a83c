"""Endless synthetic anatomy: a fresh slice per sample, a pure function of (seed, iteration, rank)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mri_sr.data.augment import DEFAULTS as AUGMENTATIONS
from mri_sr.data.dataset import BatchStream
from mri_sr.data.synth import SyntheticAnatomy, head_layers
from mri_sr.errors import MriSrError
from mri_sr.train.config import validate_model_config

RANGES = {"zoom": [1.0, 2.0]}


@pytest.fixture(scope="module")
def anatomy():
    return SyntheticAnatomy()


def test_a_slice_is_a_pure_function_of_its_generator(anatomy):
    a = anatomy.draw(np.random.default_rng(11))
    assert a.ndim == 3 and a.shape[0] == 1 and a.shape[1] == a.shape[2] and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0
    # Another instance (as in a DataLoader worker, which loads the maps itself) draws the same slice.
    np.testing.assert_array_equal(a, SyntheticAnatomy().draw(np.random.default_rng(11)))
    b = anatomy.draw(np.random.default_rng(12))
    assert a.shape != b.shape or not np.allclose(a, b)


def test_slices_vary_in_direction_contrast_and_geometry(anatomy):
    slices = [anatomy.draw(np.random.default_rng(k))[0] for k in range(24)]
    # All three slice directions occur: the plane's longer side is 233 (sagittal: 233 x 189;
    # coronal: 197 x 189; axial: 197 x 233), so the square side is 233 or 197.
    sides = {s.shape[0] for s in slices}
    assert sides == {197, 233}
    # Contrasts: the brightest tissue is not always the same: mean intensity inside the head
    # relative to its 95th percentile spreads widely, and some slices are dark-brain (inverted).
    heads = [s[s > 0.05] for s in slices]
    relative = np.array([h.mean() / np.percentile(h, 95) for h in heads])
    assert relative.max() - relative.min() > 0.25
    # Every slice shows tissue, and background stays near zero.
    for s in slices:
        assert (s > 0.05).mean() > 0.1 and np.median(s[:8, :8]) < 0.05


def test_the_template_share_draws_the_template_not_a_fresh_contrast():
    real = SyntheticAnatomy({"template": 1.0, "deform": 0.0, "stretch": [1.0, 1.0]})
    drawn = SyntheticAnatomy({"template": 0.0, "deform": 0.0, "stretch": [1.0, 1.0]})
    a, b = real.draw(np.random.default_rng(5))[0], drawn.draw(np.random.default_rng(5))[0]
    # Same plane and geometry. The template's T1 has no added noise: its background (outside the
    # rotated plane and the head) is exactly 0, where a drawn contrast carries Rician noise.
    assert float(np.abs(a[:8, :8]).max()) == 0.0
    assert float(b[:8, :8].max()) > 0.0
    head = a > 0.05
    assert abs(np.corrcoef(a[head], b[head])[0, 1]) < 0.95


def test_head_layers_split_the_scalp_and_add_the_layer_under_it(anatomy):
    planes = anatomy._volume()[[0, 1, 2, 3, 5, 6], :, :, 80]
    layered = head_layers(planes, np.random.default_rng(4))
    assert layered.shape == (6, *planes.shape[1:])
    np.testing.assert_allclose(layered[:3], planes[:3])
    np.testing.assert_allclose(layered[3] + layered[4], planes[3], atol=1e-6)
    depth = planes[4]
    # The inner scalp layer lies deeper (nearer the brain) than the outer one, both are present,
    # and the layer between brain and scalp is tissue where the plain maps leave a dark gap.
    assert (depth * layered[3]).sum() / layered[3].sum() > (depth * layered[4]).sum() / layered[4].sum()
    assert layered[3].sum() > 0.1 * planes[3].sum() and layered[4].sum() > 0.1 * planes[3].sum()
    gap = (planes[:4].sum(0) < 0.1) & (depth > 0.3)
    assert gap.sum() > 100 and float(np.median(layered[5][gap])) > 0.5
    # The layer between fills only what brain and scalp leave of a voxel.
    plain = planes[:4].sum(0)
    assert (layered[5] <= np.clip(1.0 - plain, 0.0, None) + 1e-5).all()
    # Synthetic slices with layers: a pure function of the generator too, and not the plain ones.
    with_layers = SyntheticAnatomy({"layers": True, "template": 0.0})
    a = with_layers.draw(np.random.default_rng(2))
    np.testing.assert_array_equal(a, SyntheticAnatomy({"layers": True, "template": 0.0}).draw(np.random.default_rng(2)))
    assert not np.array_equal(a, SyntheticAnatomy({"template": 0.0}).draw(np.random.default_rng(2)))


def _stream(prepared, start, stop, **options):
    return BatchStream(prepared, 4, 16, 4, 7, start, stop, augmentation={}, degradation=RANGES,
                       synthetic_anatomy={"share": 1.0}, **options)


def test_batches_are_deterministic_and_resume_exactly(prepared):
    whole = _stream(prepared, 1, 5)
    resumed = _stream(prepared, 3, 5)
    for i in (2, 3):
        a, b = whole[i], resumed[i - 2]
        torch.testing.assert_close(a["hr"], b["hr"], rtol=0, atol=0)
        torch.testing.assert_close(a["lr"], b["lr"], rtol=0, atol=0)
    assert not torch.equal(whole[0]["hr"], whole[1]["hr"])
    assert whole[0]["hr"].shape == (4, 1, 64, 64) and whole[0]["lr"].shape == (4, 1, 16, 16)
    # Another rank draws other slices for the same iteration.
    other = BatchStream(prepared, 4, 16, 4, 7, 1, 5, 1, augmentation={}, degradation=RANGES,
                        synthetic_anatomy={"share": 1.0})
    assert not torch.equal(other[0]["hr"], whole[0]["hr"])


def test_the_synthetic_batches_are_not_the_prepared_slices(prepared):
    plain = BatchStream(prepared, 4, 16, 4, 7, 1, 3, augmentation={}, degradation=RANGES)
    assert not torch.equal(plain[0]["hr"], _stream(prepared, 1, 3)[0]["hr"])


def test_device_path_draws_the_same_synthetic_slices_and_crops(prepared):
    def stream(**options):
        return BatchStream(prepared, 4, 16, 4, 7, 1, 2, augmentation=dict.fromkeys(AUGMENTATIONS, 0.0),
                           degradation={"zoom": [1.0, 1.0]},
                           synthetic_anatomy={"share": 1.0}, **options)

    workers, device = stream()[0], stream(pairs_on_device=True)[0]
    # No augmentation and no zoom: the device path's crops, margin cut off, are the workers' HR patches.
    c, s, p = device.context, device.scale, device.lr_patch
    torch.testing.assert_close(device.hr[..., c * s:(c + p) * s, c * s:(c + p) * s], workers["hr"], rtol=0, atol=0)


def test_synthetic_anatomy_needs_pairs_made_on_the_fly(prepared):
    with pytest.raises(MriSrError, match="synthetic_anatomy needs pairs made on the fly"):
        BatchStream(prepared, 4, 16, 4, 7, 1, 3, augmentation=None, degradation=None,
                    synthetic_anatomy={})


def test_the_model_schema_takes_its_options_and_refuses_unknown_ones():
    base = {"model": "m", "method": "psnr", "networks": {"net_g": {"type": "srresnet"}},
            "train": {"iterations": 1}, "losses": {"weights": {"pixel": 1.0}}}
    assert validate_model_config(base, name="m.yaml")["train"]["synthetic_anatomy"] is None
    config = validate_model_config({**base, "train": {"iterations": 1, "synthetic_anatomy": {"share": 0.5}}}, name="m.yaml")
    assert config["train"]["synthetic_anatomy"] == {"share": 0.5}
    with pytest.raises(MriSrError, match="synthetic_anatomy"):
        validate_model_config({**base, "train": {"iterations": 1, "synthetic_anatomy": {"shares": 0.5}}}, name="m.yaml")
