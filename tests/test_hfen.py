"""HFEN: zero for identical images, growing with blur, batch equal to single, on a real MRI slice."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import torch
from nilearn.datasets import load_mni152_template
from scipy.ndimage import gaussian_filter, gaussian_laplace

from mri_sr.metrics import benchmark_hfen, hfen, hfen_batch, log_kernel


def _mni_slice() -> np.ndarray:
    data = np.asarray(load_mni152_template(resolution=1).get_fdata(), dtype=np.float64)
    axial = data[:, :, 90]
    return axial / axial.max()


def test_identical_images_have_zero_hfen() -> None:
    hr = _mni_slice()
    assert hfen(hr, hr) == 0.0
    assert hfen(hr + 0.1, hr) < 1e-12  # a constant offset has no high frequencies (zero-sum LoG)


def test_hfen_grows_with_blur() -> None:
    hr = _mni_slice()
    values = [hfen(gaussian_filter(hr, sigma), hr) for sigma in (0.5, 1.0, 2.0, 4.0)]
    assert values[0] > 0
    assert all(a < b for a, b in pairwise(values)), values


def test_hfen_is_the_relative_log_error() -> None:
    hr = _mni_slice()
    sr = gaussian_filter(hr, 1.0)
    # scipy's LoG (sigma 1.5) on the valid region gives nearly the same ratio as the 15x15 kernel
    inner = (slice(7, -7), slice(7, -7))
    ratio = np.linalg.norm(gaussian_laplace(sr - hr, 1.5)[inner]) / np.linalg.norm(gaussian_laplace(hr, 1.5)[inner])
    assert abs(hfen(sr, hr) - ratio) < 0.02 * ratio
    assert abs(float(log_kernel().sum())) < 1e-12


def test_batch_equals_single_and_benchmark_crop() -> None:
    hr = _mni_slice()
    sr = gaussian_filter(hr, 1.5)
    pair = [torch.from_numpy(np.stack([a, a[::-1]]))[:, None] for a in (sr, hr)]
    batch = hfen_batch(*pair).numpy()
    np.testing.assert_allclose(batch, [hfen(sr, hr), hfen(sr[::-1].copy(), hr[::-1].copy())], rtol=1e-12)
    hr8, sr8 = (np.round(255 * a).astype(np.uint8) for a in (hr, sr))
    assert benchmark_hfen(sr8, hr8, 4) == hfen(sr8[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4].astype(float),
                                               hr8[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4].astype(float),
                                               crop_border=4)


def test_separable_filtering_equals_the_15x15_kernel() -> None:
    hr = _mni_slice()
    sr = gaussian_filter(hr, 1.0)
    kernel = log_kernel()[None, None]
    as_batch = [torch.from_numpy(a)[None, None] for a in (sr, hr)]
    direct = (torch.nn.functional.conv2d(as_batch[0] - as_batch[1], kernel).norm()
              / torch.nn.functional.conv2d(as_batch[1], kernel).norm())
    np.testing.assert_allclose(hfen_batch(*as_batch).numpy(), [direct.item()], rtol=1e-10)



def test_scipy_laplacian_of_gaussian_is_not_the_published_kernel() -> None:
    """Why HFEN keeps MATLAB's zero-sum ``fspecial('log')``: SciPy's ``gaussian_laplace`` does not
    sum to zero (by default it is truncated at 4 sigma, 13 taps; with 15 taps still not), so a
    brightness offset, which has no high frequencies, counts as error."""
    hr = _mni_slice()
    inner = (slice(7, -7), slice(7, -7))

    def scipy_hfen(sr: np.ndarray, truncate: float = 4.0) -> float:
        log = [gaussian_laplace(a, 1.5, truncate=truncate)[inner] for a in (sr - hr, hr)]
        return float(np.linalg.norm(log[0]) / np.linalg.norm(log[1]))

    assert hfen(hr + 0.1, hr) < 1e-12
    assert scipy_hfen(hr + 0.1) > 1e-4
    assert scipy_hfen(hr + 0.1, truncate=14 / 3) > 1e-6  # 15 taps, as fspecial('log', 15, 1.5)
    # Away from that offset term both kernels agree on blur.
    sr = gaussian_filter(hr, 1.0)
    assert abs(scipy_hfen(sr) - hfen(sr, hr)) < 0.02 * hfen(sr, hr)
