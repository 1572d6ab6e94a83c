"""HR -> LR degradations of 2D slices: bicubic, k-space truncation, blur, Rician noise."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from mri_sr.data.resize import imresize

KINDS = ("bicubic", "kspace")


@dataclass(frozen=True)
class Degradation:
    """How an LR slice is made from its HR slice (all values in normalised [0, 1] units).

    Order: optional Gaussian blur of HR (``blur_sigma`` in HR pixels), then downscaling by
    ``scale`` with ``kind``, then optional Rician noise of standard deviation ``noise_sigma``
    on the LR magnitude, then clipping to [0, 1].

    Attributes:
        kind: ``"bicubic"`` (MATLAB-compatible antialiased bicubic, as SR benchmarks use) or
            ``"kspace"`` (keep the central 1/scale of k-space along each in-plane axis and
            reconstruct the magnitude: how MRI low resolution arises, Gibbs ringing included).
        scale: integer downscaling factor.
        blur_sigma: Gaussian blur sigma in HR pixels (0 = none).
        noise_sigma: Rician noise level (0 = none).
        kspace_factor: ``kspace`` only: keep the central 1 / kspace_factor of the LR grid's
            frequencies (1 = all of them; > 1 = a coarser acquisition, as randomised training uses).
    """

    kind: str = "bicubic"
    scale: int = 4
    blur_sigma: float = 0.0
    noise_sigma: float = 0.0
    kspace_factor: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown degradation {self.kind!r}; known: {', '.join(KINDS)}")

    def __call__(self, hr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Degrade one slice.

        Args:
            hr: (H, W) float32 in [0, 1], H and W multiples of ``scale``.
            rng: source of the noise; pass a generator seeded per slice for determinism.

        Returns:
            (H // scale, W // scale) float32 in [0, 1].
        """
        img = np.asarray(hr, dtype=np.float64)
        if self.blur_sigma > 0:
            img = gaussian_filter(img, self.blur_sigma, mode="reflect")
        img = kspace_truncate(img, self.scale, self.kspace_factor) if self.kind == "kspace" else imresize(img, 1.0 / self.scale)
        if self.noise_sigma > 0:
            img = add_rician_noise(img, self.noise_sigma, rng)
        return np.clip(img, 0.0, 1.0).astype(np.float32)

    def to_dict(self) -> dict:
        return asdict(self)


def kspace_truncate(img: np.ndarray, scale: int, factor: float = 1.0) -> np.ndarray:
    """Low-resolution magnitude image from the central k-space of ``img``.

    An LR voxel covers ``scale`` HR voxels and is centred on them, as in the bicubic
    convention and the scanner's geometry: LR voxel ``i`` sits at HR index ``i*scale +
    (scale-1)/2``. A linear phase shifts the image by that half-block before the centre of
    k-space is kept, so the band-limited reconstruction is sampled at those centres.

    Args:
        img: (H, W) real image, H and W multiples of ``scale``.
        scale: integer factor; the output has (H // scale, W // scale) pixels covering the
            same field of view, with intensities on the same scale as the input.
        factor: >= 1: keep only the central 1 / factor of the LR grid's frequencies (an
            acquisition coarser than the LR grid, e.g. 1.2 for a x4.8 truncation on a x4 grid).

    Returns:
        (H // scale, W // scale) float64 magnitude image.
    """
    h, w = img.shape
    lh, lw = h // scale, w // scale
    shift = (scale - 1) / 2
    # Keep the lowest lh x lw frequencies (the same index sets numpy's LR-sized FFT uses); the
    # half-block shift is a linear phase, applied to the kept frequencies only.
    rows = np.fft.fftfreq(lh, d=1.0 / lh).astype(int) % h
    cols = np.fft.fftfreq(lw, d=1.0 / lw).astype(int) % w
    phase_y = np.exp(2j * np.pi * shift * np.fft.fftfreq(h)[rows])
    phase_x = np.exp(2j * np.pi * shift * np.fft.fftfreq(w)[cols])
    k = np.fft.fft2(img)[np.ix_(rows, cols)] * phase_y[:, None] * phase_x[None, :]
    if factor > 1.0:
        keep_rows = np.abs(np.fft.fftfreq(lh)) <= 0.5 / factor
        keep_cols = np.abs(np.fft.fftfreq(lw)) <= 0.5 / factor
        k = k * (keep_rows[:, None] & keep_cols[None, :])
    return np.abs(np.fft.ifft2(k)) / (scale * scale)


def add_rician_noise(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Rician noise: magnitude of the image plus complex Gaussian noise of std ``sigma``."""
    real = img + rng.normal(0.0, sigma, img.shape)
    imag = rng.normal(0.0, sigma, img.shape)
    return np.sqrt(real * real + imag * imag)
