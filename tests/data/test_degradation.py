from __future__ import annotations

import numpy as np
import pytest
import torch

from mri_sr.data.degradation import Bicubic, add_rician_noise, degradation_class
from mri_sr.data.normalize import fit_percentiles
from mri_sr.data.split import split_slabs, split_subjects
from mri_sr.errors import MriSrError
from mri_sr.resample import imresize
from mri_sr.resample import kspace_truncate as kspace_truncate_torch


def kspace_truncate(img: np.ndarray, scale: int, factor: float = 1.0) -> np.ndarray:
    """k-space truncation of a float64 (H, W) array."""
    return kspace_truncate_torch(torch.from_numpy(np.asarray(img, np.float64)), scale, factor).numpy()


def test_kspace_truncation_keeps_constant_and_band_limited_images():
    assert np.allclose(kspace_truncate(np.full((32, 48), 0.7), 4), 0.7)
    h, w, scale = 64, 48, 4
    y, x = np.mgrid[0:h, 0:w]
    # Frequencies well inside the kept band survive exactly, sampled on the LR grid.
    img = 0.5 + 0.2 * np.cos(2 * np.pi * 2 * y / h) + 0.1 * np.sin(2 * np.pi * 3 * x / w)
    lr = kspace_truncate(img, scale)
    ly, lx = np.mgrid[0:h // scale, 0:w // scale] * scale + (scale - 1) / 2  # LR voxel centres
    expected = 0.5 + 0.2 * np.cos(2 * np.pi * 2 * ly / h) + 0.1 * np.sin(2 * np.pi * 3 * lx / w)
    np.testing.assert_allclose(lr, expected, atol=1e-12)


def test_kspace_truncation_is_aligned_with_bicubic():
    y, x = np.mgrid[0:64, 0:64]
    img = 0.5 + 0.3 * np.sin(2 * np.pi * (2 * y + x) / 64)

    # interior: borders differ by design (periodic k-space vs symmetric bicubic padding)
    np.testing.assert_allclose(kspace_truncate(img, 4)[2:-2, 2:-2], imresize(img, 0.25)[2:-2, 2:-2], atol=0.003)


def test_kspace_truncation_removes_high_frequencies():
    y = np.arange(64)[:, None] * np.ones((1, 64))
    img = 0.5 + 0.3 * np.cos(2 * np.pi * 20 * y / 64)  # above the x4 band limit (8 cycles)
    np.testing.assert_allclose(kspace_truncate(img, 4), 0.5, atol=1e-12)


def test_rician_noise_on_zero_signal_is_rayleigh():
    sigma = 0.05
    noisy = add_rician_noise(np.zeros((200, 200)), sigma, np.random.default_rng(0))
    assert noisy.min() >= 0
    assert noisy.mean() == pytest.approx(sigma * np.sqrt(np.pi / 2), rel=0.02)


def test_degradation_is_deterministic_for_a_seed_and_shapes_follow_scale():
    hr = np.random.default_rng(3).random((48, 36)).astype(np.float32)
    deg = Bicubic(3, blur_sigma=1.0, noise_sigma=0.02)
    a = deg(hr, np.random.default_rng([0, 1, 2]))
    b = deg(hr, np.random.default_rng([0, 1, 2]))
    c = deg(hr, np.random.default_rng([0, 1, 3]))
    assert a.shape == (16, 12) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert 0 <= a.min() and a.max() <= 1
    with pytest.raises(MriSrError, match="unknown degradation 'nearest'"):
        degradation_class("nearest")


def test_percentile_normalisation_inverts_and_rejects_bad_volumes():
    data = np.random.default_rng(0).normal(100, 20, size=(10, 10, 10)).astype(np.float32)
    norm = fit_percentiles(data, 1, 99, name="v.nii")
    assert norm.low == pytest.approx(np.percentile(data, 1))
    normed = norm.apply(data)
    assert normed.min() == 0 and normed.max() == 1
    inside = (data > norm.low) & (data < norm.high)
    np.testing.assert_allclose(norm.invert(normed)[inside], data[inside], rtol=1e-5)
    with pytest.raises(MriSrError, match=r"zero\.nii: volume has constant intensity 0"):
        fit_percentiles(np.zeros((4, 4, 4)), 1, 99, name="zero.nii")
    data[1, 2, 3] = np.nan
    with pytest.raises(MriSrError, match=r"nan\.nii: volume contains NaN"):
        fit_percentiles(data, 1, 99, name="nan.nii")


def test_subject_split_puts_each_subject_in_one_split():
    subjects = [f"s{i:02d}" for i in range(10)]
    splits = split_subjects(subjects, val=0.1, test=0.2, seed=5)
    assert sorted(splits) == subjects
    assert sorted(splits.values()).count("test") == 2 and list(splits.values()).count("val") == 1
    assert split_subjects(list(reversed(subjects)), 0.1, 0.2, 5) == splits
    three = split_subjects(["a", "b", "c"], 0.1, 0.2, 0)
    assert sorted(three.values()) == ["test", "train", "val"]


@pytest.mark.parametrize("n,gap", [(100, 4), (30, 2), (12, 1)])
def test_slabs_are_separated_by_gaps(n, gap):
    labels = split_slabs(n, val=0.1, test=0.2, gap=gap)
    assert {"train", "val", "test"} <= set(labels)
    for split in ("val", "test"):
        idx = [i for i, label in enumerate(labels) if label == split]
        assert idx == list(range(idx[0], idx[-1] + 1)), "a slab is contiguous"
    for i, a in enumerate(labels):
        for j in range(i + 1, min(n, i + gap + 1)):
            b = labels[j]
            assert a is None or b is None or a == b, f"slices {i} ({a}) and {j} ({b}) are closer than the gap"


def test_kspace_factor_keeps_only_the_central_part_of_the_lr_spectrum():
    img = np.random.default_rng(1).random((96, 128))
    full, coarse = kspace_truncate(img, 4), kspace_truncate(img, 4, factor=2.0)
    assert full.shape == coarse.shape == (24, 32)
    # Real input, so the magnitude is the reconstruction itself only up to sign; compare spectra of
    # a positive image (offset) where the magnitude is the identity.
    positive = img + 5.0
    spectrum = np.abs(np.fft.fft2(kspace_truncate(positive, 4, factor=2.0)))
    fy, fx = np.abs(np.fft.fftfreq(24))[:, None], np.abs(np.fft.fftfreq(32))[None, :]
    assert spectrum[(fy > 0.25) | (fx > 0.25)].max() < 1e-9 * spectrum.max()
    assert spectrum[(fy <= 0.25) & (fx <= 0.25)].min() > 0
    np.testing.assert_array_equal(kspace_truncate(img, 4, factor=1.0), full)
