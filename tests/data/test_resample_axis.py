"""One-axis interpolation against direct computations: only that axis grows, samples at (j + 0.5) / S - 0.5."""

from __future__ import annotations

import numpy as np
import pytest

from mri_sr.resample import bspline_axis, interpolate_axis


def _keys_cubic(x: np.ndarray, a: float = -0.75) -> np.ndarray:
    """Cubic convolution kernel (torch's bicubic uses a = -0.75)."""
    x = np.abs(x)
    return np.where(x <= 1, (a + 2) * x**3 - (a + 3) * x**2 + 1,
                    np.where(x < 2, a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a, 0.0))


@pytest.mark.parametrize(("axis", "scale"), [(0, 2), (2, 4), (1, 3)])
def test_bspline_reproduces_a_parabola_at_the_voxel_centres(axis, scale):
    # cubic B-spline interpolation reproduces polynomials up to degree 3 (away from the ends)
    _check_ramp(bspline_axis, axis, scale, lambda positions, ramp: positions**2 * 0.5 + 10.0)


@pytest.mark.parametrize(("axis", "scale"), [(0, 2), (2, 4), (1, 3)])
def test_interpolate_axis_is_cubic_convolution_at_the_voxel_centres(axis, scale):
    def direct(positions, ramp):
        taps = np.floor(positions)[:, None] + np.arange(-1, 3)[None]
        return (_keys_cubic(positions[:, None] - taps) * ramp[taps.astype(int)]).sum(axis=1)

    _check_ramp(interpolate_axis, axis, scale, direct)


def _check_ramp(interpolate, axis, scale, expected):
    shape = [3, 4, 2]
    shape[axis] = 24
    ramp = np.arange(shape[axis], dtype=np.float32) ** 2 * 0.5 + 10.0
    data = np.broadcast_to(np.expand_dims(ramp, [a for a in range(3) if a != axis]), shape).copy()
    out = interpolate(data, axis, scale)
    expected_shape = list(shape)
    expected_shape[axis] *= scale
    assert list(out.shape) == expected_shape and out.dtype == np.float32
    positions = (np.arange(shape[axis] * scale) + 0.5) / scale - 0.5
    inner = (positions >= 8) & (positions <= shape[axis] - 9)  # away from the boundary handling
    line = np.moveaxis(out, axis, 0)[:, 0, 0]
    np.testing.assert_allclose(line[inner], expected(positions[inner], ramp), rtol=1e-5)
