"""MATLAB-compatible bicubic resize: against MATLAB-made Set5 LR images, torch vs NumPy, shapes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from mri_sr.resample import imresize, imresize_torch

SET5 = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "natural" / "Set5"
needs_set5 = pytest.mark.skipif(not (SET5 / "HR").is_dir(), reason=f"shared Set5 data not found at {SET5}")


def _set5_pairs(scale: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, HR cropped to a multiple of scale, MATLAB LR) as uint8 RGB arrays."""
    from PIL import Image

    pairs = []
    for path in sorted((SET5 / "HR").glob("*.png")):
        hr = np.asarray(Image.open(path).convert("RGB"))
        hr = hr[: hr.shape[0] // scale * scale, : hr.shape[1] // scale * scale]
        lr = np.asarray(Image.open(SET5 / "LR_bicubic" / f"X{scale}" / f"{path.stem}x{scale}.png").convert("RGB"))
        pairs.append((path.stem, hr, lr))
    assert len(pairs) == 5
    return pairs


@needs_set5
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_uint8_matches_matlab_lr_bicubic(scale: int) -> None:
    for name, hr, lr in _set5_pairs(scale):
        out = imresize(hr, 1 / scale)
        assert out.dtype == np.uint8 and out.shape == lr.shape, name
        diff = np.abs(out.astype(np.int16) - lr)
        assert diff.max() <= 1, name
        assert (diff == 0).mean() > 0.99, name


@needs_set5
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_float_kernel_close_to_matlab(scale: int) -> None:
    # Float input has no intermediate uint8 rounding, so rounding once at the end is close to
    # MATLAB's uint8 result but not identical.
    for name, hr, lr in _set5_pairs(scale):
        out = imresize(hr.astype(np.float64), 1 / scale)
        assert out.dtype == np.float64
        out8 = np.clip(np.floor(out + 0.5), 0, 255)
        diff = np.abs(out8 - lr)
        assert diff.max() <= 2, name
        assert (diff == 0).mean() > 0.8, name
        assert np.abs(out - lr).mean() < 0.3, name


def test_linear_ramp_upscale_interior_is_exact() -> None:
    # Cubic convolution reproduces linear functions. Output pixel j (1-based) sits at input
    # coordinate j / 2 + 0.25 (1-based), so away from the mirrored border the value is that minus 1.
    ramp = np.tile(np.arange(12, dtype=np.float64), (5, 1))
    out = imresize(ramp, 2)
    expected = np.arange(1, 25) / 2 + 0.25 - 1
    np.testing.assert_allclose(out[:, 4:-4], np.broadcast_to(expected[4:-4], (10, 16)), atol=1e-12)


@pytest.mark.parametrize("scale", [0.25, 1 / 3, 0.5, 0.7, 1.5, 2.0, 3.0])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_torch_equals_numpy(scale: float, dtype: torch.dtype) -> None:
    rng = np.random.default_rng(0)
    image = rng.random((2, 3, 17, 23))
    x = torch.tensor(image, dtype=dtype)
    out = imresize_torch(x, scale)
    assert out.dtype == dtype
    for b in range(2):
        ref = imresize(image[b].transpose(1, 2, 0), scale).transpose(2, 0, 1)
        np.testing.assert_allclose(out[b].double().numpy(), ref, atol=1e-5)


def test_torch_output_shape_and_gradient() -> None:
    image = np.random.default_rng(1).random((31, 9))
    x = torch.tensor(image[None, None], requires_grad=True)
    out = imresize_torch(x, output_shape=(12, 20))
    np.testing.assert_allclose(out[0, 0].detach().numpy(), imresize(image, output_shape=(12, 20)), atol=1e-12)
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("scale", [0.25, 0.5, 2.0, 3.0, 4.0])
def test_constant_image_stays_constant(scale: float) -> None:
    image = np.full((13, 10, 2), 0.37)
    np.testing.assert_allclose(imresize(image, scale), 0.37, atol=1e-12)
    constant = torch.full((1, 1, 13, 10), 0.37, dtype=torch.float64)
    np.testing.assert_allclose(imresize_torch(constant, scale), 0.37, atol=1e-12)
    assert (imresize(np.full((13, 10), 200, np.uint8), scale) == 200).all()


@pytest.mark.parametrize(
    ("shape", "scale"),
    [((17, 23), 0.5), ((17, 23), 1 / 3), ((17, 23), 0.25), ((7, 5), 2.5), ((30, 10), 0.1), ((9, 4), 3)],
)
def test_output_shape_is_ceil(shape: tuple[int, int], scale: float) -> None:
    expected = (math.ceil(round(shape[0] * scale, 9)), math.ceil(round(shape[1] * scale, 9)))
    assert imresize(np.zeros(shape, np.float32), scale).shape == expected
    assert imresize(np.zeros((*shape, 3)), scale).shape == (*expected, 3)
    assert imresize_torch(torch.zeros(1, 2, *shape), scale).shape == (1, 2, *expected)


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        imresize(np.zeros((8, 8)), 0.5, output_shape=(4, 4))
    with pytest.raises(ValueError):
        imresize(np.zeros((8, 8)))
    with pytest.raises(ValueError):
        imresize(np.zeros((8, 8), np.int32), 0.5)
    with pytest.raises(ValueError):
        imresize_torch(torch.zeros(8, 8), 0.5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_torch_on_cuda_equals_cpu() -> None:
    x = torch.rand(2, 1, 40, 33, dtype=torch.float64)
    for scale in (0.25, 0.5, 2.0):
        out = imresize_torch(x.cuda(), scale)
        assert out.is_cuda
        torch.testing.assert_close(out.cpu(), imresize_torch(x, scale))
