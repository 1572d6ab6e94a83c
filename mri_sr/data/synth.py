"""Synthetic MRI contrasts of the MNI152 template (SynthSR-style), offline from nilearn's wheel.

Tissues: nilearn's grey- and white-matter probability maps of the MNI152 2009 template, CSF as
the rest of the brain mask, and a scalp shell a few mm outside the brain. The template is an
average of 152 brains: its folds are blurred and wide, while a real scan has crisp tissue
boundaries and sulci one or two voxels wide, exactly the detail super-resolution must restore.
So each variant first re-draws the anatomy at that scale (:func:`fold`): a crisp, convoluted
grey/white boundary and thin CSF-filled sulci from band-limited random fields; then it draws one
intensity per tissue, mixes them by the probabilities (partial volume), adds soft texture,
multiplies a smooth bias field and adds Rician noise.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.special import expit

from mri_sr.errors import MriSrError
from mri_sr.io import load_volume
from mri_sr.io.volume import Volume

DEFAULT_VARIANTS = 4
SYNTH_PREFIX = "builtin:mni152-synth"


def tissue_maps() -> tuple[np.ndarray, np.ndarray]:
    """(4, X, Y, Z) float32 probabilities (GM, WM, CSF, scalp) and the template's 4x4 affine."""
    from nilearn.datasets import (
        load_mni152_brain_mask,
        load_mni152_gm_template,
        load_mni152_wm_template,
    )

    gm_img = load_mni152_gm_template(resolution=1)
    gm = np.asarray(gm_img.get_fdata(), np.float32)
    wm = np.asarray(load_mni152_wm_template(resolution=1).get_fdata(), np.float32)
    mask = np.asarray(load_mni152_brain_mask(resolution=1).get_fdata(), np.float32)
    csf = np.clip(mask - gm - wm, 0.0, 1.0)
    # A shell a few mm outside the brain (a dark skull gap, then scalp): where the mask blurred by
    # 6 mm is still above 2% but the brain is absent.
    near = gaussian_filter(mask, 6.0)
    scalp = gaussian_filter(((near > 0.02) & (near < 0.25) & (mask < 0.5)).astype(np.float32), 1.0)
    return np.stack([gm, wm, csf, scalp]), gm_img.affine.astype(np.float64)


def _smooth_field(shape: tuple[int, int, int], rng: np.random.Generator, terms: int = 3) -> np.ndarray:
    """A smooth random field in [-1, 1]: a sum of separable products of low-frequency cosines."""
    field = np.zeros(shape, np.float32)
    for _ in range(terms):
        parts = [np.cos(np.pi * rng.uniform(0.3, 1.5) * np.linspace(0, 1, n) + rng.uniform(0, 2 * np.pi))
                 for n in shape]
        field += np.einsum("i,j,k->ijk", *[p.astype(np.float32) for p in parts])
    return field / terms


def _band_noise(shape: tuple[int, ...], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian-smoothed white noise with unit standard deviation (features about 2 sigma voxels wide)."""
    noise = gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma)
    return noise / max(float(noise.std()), 1e-8)


def fold(maps: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Tissue maps with real-scan-sized detail: a crisp, folded GM/WM boundary and thin sulci.

    White matter becomes a steep sigmoid of the template's WM-minus-GM evidence plus a
    band-limited random field (1-2.5 voxel features), so the boundary is one or two voxels wide
    and convoluted where the template is uncertain; sulci are CSF along the zero crossings of a
    second field, inside grey matter. Brain, CSF and scalp totals are kept.

    Args:
        maps: (4, X, Y, Z) probabilities (GM, WM, CSF, scalp) from :func:`tissue_maps`.
        rng: generator of this variant.
    """
    gm, wm, csf, scalp = maps
    logit = 6.0 * (wm - gm) + rng.uniform(0.8, 2.0) * _band_noise(wm.shape, rng.uniform(1.0, 2.5), rng)
    white = expit(rng.uniform(4.0, 12.0) * logit)
    tissue = gm + wm
    wm, gm = tissue * white, tissue * (1.0 - white)
    sulci = np.exp(-(_band_noise(wm.shape, rng.uniform(1.5, 3.0), rng) / rng.uniform(0.08, 0.25)) ** 2) * gm
    return np.stack([gm - sulci, wm, csf + sulci, scalp]).astype(np.float32)


def synth_variant(maps: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One synthetic contrast.

    Args:
        maps: (4, X, Y, Z) tissue probabilities from :func:`tissue_maps`.
        rng: generator of this variant.

    Returns:
        (X, Y, Z) float32 intensities, about [0, 1.2] (arbitrary units; ``prepare`` normalises).
    """
    maps = fold(maps, rng)
    intensities = rng.uniform(0.05, 1.0, size=4)
    texture = 1.0 + 0.05 * rng.standard_normal(maps.shape[1:]).astype(np.float32)
    image = np.tensordot(intensities.astype(np.float32), maps, axes=1) * gaussian_filter(texture, 1.0)
    bias = np.exp(rng.uniform(0.05, 0.3) * _smooth_field(maps.shape[1:], rng))
    image = image * bias
    sigma = rng.uniform(0.0, 0.02)
    real = image + sigma * rng.standard_normal(image.shape, dtype=np.float32)
    imag = sigma * rng.standard_normal(image.shape, dtype=np.float32)
    return np.sqrt(real * real + imag * imag).astype(np.float32)


def synth_volume(variants: int = DEFAULT_VARIANTS, seed: int = 0) -> Volume:
    """``variants`` synthetic contrasts on the template grid, deterministic for ``seed``.

    Returns:
        A 4D :class:`Volume` (X, Y, Z, variants) with the MNI152 1 mm template's affine;
        variant ``k`` depends only on (seed, k).
    """
    maps, affine = tissue_maps()
    data = np.stack([synth_variant(maps, np.random.default_rng([seed, k])) for k in range(variants)], axis=-1)
    return Volume(data, affine, f"MNI152 synthetic contrasts ({variants}, seed {seed})")


def load_source(path: str, *, series: str | None = None) -> Volume:
    """A training source: ``builtin:mni152-synth[:N[:SEED]]`` (N synthetic contrasts, default 4,
    seed 0 by default, as one 4D volume: :func:`synth_volume`), anything else
    :func:`mri_sr.io.load_volume`.

    Raises:
        MriSrError: a malformed synthetic name, or as :func:`~mri_sr.io.load_volume`.
    """
    text = str(path)
    if text != SYNTH_PREFIX and not text.startswith(SYNTH_PREFIX + ":"):
        return load_volume(path, series=series)
    parts = text[len(SYNTH_PREFIX):].split(":")[1:]
    if len(parts) > 2 or not all(p.isdigit() for p in parts) or (parts and int(parts[0]) < 1):
        raise MriSrError(f"{text}: expected {SYNTH_PREFIX}[:N[:SEED]] with N >= 1 variants and an integer seed")
    numbers = [int(p) for p in parts] + [DEFAULT_VARIANTS, 0][len(parts):]
    return synth_volume(numbers[0], numbers[1])
