"""On-the-fly training pairs: augmentation keeps LR = degrade(HR); batches are f(seed, iteration)."""

from __future__ import annotations

import numpy as np
import pytest

from mri_sr.data.augment import DEFAULTS as AUGMENTATIONS
from mri_sr.data.augment import augmentation
from mri_sr.data.dataset import BatchStream
from mri_sr.data.degradation import Bicubic, DegradationSampler, KSpace
from mri_sr.data.pairs import make_pair
from mri_sr.metrics import psnr

SCALE = 4
RANGES = {"kspace_factor": [1.0, 1.3], "blur_sigma": [0.0, 0.8], "noise_sigma": [0.0, 0.03], "other_kind": 0.3,
          "zoom": [1.0, 2.0]}


def _seeded(options, seed=3):
    pipeline = augmentation(options)
    pipeline.set_random_state(seed=seed)
    return pipeline


def _pair(items, options, context, seed=3, ranges=RANGES):
    """(lr, hr, draw) of one sample with the augmentation ``options`` and a fixed generator state."""
    base = KSpace(SCALE, 0.0, 0.01)
    return make_pair(items[40]["hr"], 24, context, _seeded(options, seed), DegradationSampler(base, ranges),
                     ranges["zoom"], np.random.default_rng(seed))


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_each_augmentation_keeps_lr_the_degradation_of_the_augmented_hr(prepared, name):
    only = {**dict.fromkeys(AUGMENTATIONS, 0.0), name: 1.0}
    lr, hr, draw = _pair(prepared, only, context=0)
    plain_lr, plain_hr, plain_draw = _pair(prepared, dict.fromkeys(AUGMENTATIONS, 0.0), context=0)
    assert draw == plain_draw  # same crop and degradation draw: only the augmentation differs
    assert not np.allclose(hr, plain_hr, atol=1e-3), f"{name} left the HR patch unchanged"
    assert lr.shape == (1, 24, 24) and hr.shape == (1, 96, 96)
    assert lr.dtype == hr.dtype == np.float32 and 0 <= hr.min() and hr.max() <= 1
    np.testing.assert_allclose(lr[0], draw(hr[0]), atol=1e-5)
    assert not np.allclose(lr, plain_lr, atol=1e-3)


def test_context_margin_keeps_lr_close_to_the_degraded_patch(prepared):
    lr, hr, draw = _pair(prepared, {}, context=6, ranges={**RANGES, "zoom": [1.0, 1.0]})
    clean = draw.degradation.replace(noise_sigma=0.0)
    lr_clean, _, _ = make_pair(prepared[40]["hr"], 24, 6, _seeded({}), DegradationSampler(clean, None), (1.0, 1.0),
                               np.random.default_rng(3))
    assert lr.shape == (1, 24, 24) and hr.shape == (1, 96, 96)
    # Degrading the patch alone differs from degrading it inside its context only near the borders.
    alone = clean(hr[0], np.random.default_rng(0))
    assert psnr(alone[4:-4, 4:-4], lr_clean[0][4:-4, 4:-4], data_range=1.0) > 30


def test_degradation_draws_stay_in_their_ranges():
    rng = np.random.default_rng(0)
    sampler = DegradationSampler(KSpace(SCALE), RANGES)
    draws = [sampler.draw(rng) for _ in range(200)]
    d = [x.degradation for x in draws]
    assert all(getattr(x, "kspace_factor", 1.0) <= 1.3 and 0 <= x.blur_sigma <= 0.8 and 0 <= x.noise_sigma <= 0.03
               for x in d)
    assert all(1.0 <= x.kspace_factor for x in d if isinstance(x, KSpace))
    kinds = [type(x) for x in d]
    assert 0.15 < kinds.count(Bicubic) / len(kinds) < 0.45 and KSpace in kinds
    assert all(x.scale == SCALE for x in d)
    assert len({x.noise_seed for x in draws}) == len(draws)
    base = Bicubic(SCALE, 0.5, 0.02)
    assert DegradationSampler(base, None).draw(rng).degradation == base


def test_same_seed_and_iteration_give_the_same_batch(prepared):
    options = {"augmentation": {}, "degradation": RANGES}
    first = BatchStream(prepared, 4, 24, SCALE, seed=7, start=1, stop=20, **options)
    resumed = BatchStream(prepared, 4, 24, SCALE, seed=7, start=6, stop=20, **options)
    other_seed = BatchStream(prepared, 4, 24, SCALE, seed=8, start=1, stop=20, **options)
    a, b, c = first[5], resumed[0], other_seed[5]  # iteration 6 in each
    assert a["lr"].shape == (4, 1, 24, 24) and a["hr"].shape == (4, 1, 96, 96)
    assert all(np.array_equal(a[k], b[k]) for k in ("lr", "hr"))
    assert not np.array_equal(a["hr"], c["hr"])
    assert not np.array_equal(a["hr"], first[6]["hr"])


def test_zoomed_pairs_stay_consistent_and_show_coarser_anatomy(prepared):
    zoomed = {**RANGES, "zoom": [2.0, 2.0]}
    base = KSpace(SCALE, 0.0, 0.01)
    lr, hr, draw = make_pair(prepared[40]["hr"], 24, 0, _seeded({}), DegradationSampler(base, zoomed), zoomed["zoom"],
                             np.random.default_rng(3))
    plain_lr, plain_hr, _ = make_pair(prepared[40]["hr"], 24, 0, _seeded({}), DegradationSampler(base, RANGES),
                                      (1.0, 1.0), np.random.default_rng(3))
    assert lr.shape == plain_lr.shape == (1, 24, 24) and hr.shape == plain_hr.shape == (1, 96, 96)
    np.testing.assert_allclose(lr[0], draw(hr[0]), atol=1e-5)
    # Area averaging over twice the field of view: more edges per patch, the same intensity range.
    edges = [np.abs(np.diff(x[0], axis=0)).mean() for x in (hr, plain_hr)]
    assert edges[0] > edges[1] and 0 <= hr.min() and hr.max() <= 1
