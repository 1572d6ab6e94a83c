"""Synthetic MRI contrasts of the MNI152 template (SynthSR-style), offline from nilearn's wheel.

Tissues: nilearn's grey- and white-matter probability maps of the MNI152 2009 template, CSF as
the rest of the brain mask, and a scalp shell a few mm outside the brain. The template is an
average of 152 brains: its folds are blurred and wide, while a real scan has crisp tissue
boundaries and sulci one or two voxels wide, exactly the detail super-resolution must restore.
So each variant first re-draws the anatomy at that scale (:func:`fold`): a crisp, convoluted
grey/white boundary and thin CSF-filled sulci from band-limited random fields; then it draws one
intensity per tissue, mixes them by the probabilities (partial volume), adds soft texture,
multiplies a smooth bias field and adds Rician noise.

:class:`SyntheticAnatomy` draws such anatomy without end, one 2D slice per training sample
(model schema ``train.synthetic_anatomy``): a random slice direction and position, a random
in-plane rotation, scaling and smooth deformation of the tissue maps, then a fresh fold and
contrast (or the real template's T1 intensities), all from the sample's generator.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter, map_coordinates
from scipy.special import expit

from mri_sr.data.normalize import fit_percentiles
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


def _smooth_field(shape: tuple[int, ...], rng: np.random.Generator, terms: int = 3) -> np.ndarray:
    """A smooth random field in [-1, 1] of any dimension: a sum of separable products of
    low-frequency cosines."""
    field = np.zeros(shape, np.float32)
    axes = "ijkl"[:len(shape)]
    for _ in range(terms):
        parts = [np.cos(np.pi * rng.uniform(0.3, 1.5) * np.linspace(0, 1, n) + rng.uniform(0, 2 * np.pi))
                 for n in shape]
        field += np.einsum(f"{','.join(axes)}->{axes}", *[p.astype(np.float32) for p in parts])
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
        maps: (N, ...) probabilities, GM, WM and CSF first (then tissues outside the brain,
            kept as they are), e.g. those of :func:`tissue_maps` or a 2D plane of them.
        rng: generator of this variant.
    """
    gm, wm, csf = maps[:3]
    logit = 6.0 * (wm - gm) + rng.uniform(0.8, 2.0) * _band_noise(wm.shape, rng.uniform(1.0, 2.5), rng)
    white = expit(rng.uniform(4.0, 12.0) * logit)
    tissue = gm + wm
    wm, gm = tissue * white, tissue * (1.0 - white)
    sulci = np.exp(-(_band_noise(wm.shape, rng.uniform(1.5, 3.0), rng) / rng.uniform(0.08, 0.25)) ** 2) * gm
    return np.stack([gm - sulci, wm, csf + sulci, *maps[3:]]).astype(np.float32)


def synth_variant(maps: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One synthetic contrast.

    Args:
        maps: (N, ...) tissue probabilities, GM, WM and CSF first (:func:`fold`), e.g.
            those of :func:`tissue_maps` (a volume or a 2D plane); one intensity is drawn per tissue.
        rng: generator of this variant.

    Returns:
        (...) float32 intensities, about [0, 1.2] (arbitrary units; ``prepare`` normalises).
    """
    maps = fold(maps, rng)
    intensities = rng.uniform(0.05, 1.0, size=len(maps))
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


def head_layers(planes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The head outside the brain as three tissues: the tissue maps with the scalp split in two.

    Args:
        planes: (6, ...) GM, WM, CSF and scalp probabilities, the depth map (the brain mask blurred
            by 6 mm) and the probability of the layer between brain and scalp
            (:meth:`SyntheticAnatomy._volume`'s planes 0-3, 5, 6).
        rng: the slice's generator: the split's depth (depth map level in [0.05, 0.2]) and width.

    Returns:
        (6, ...) GM, WM, CSF, inner scalp, outer scalp (the two sum to the scalp), between.
    """
    inner = expit((planes[4] - rng.uniform(0.05, 0.2)) / rng.uniform(0.005, 0.03))
    scalp = planes[3]
    return np.stack([*planes[:3], scalp * inner, scalp * (1.0 - inner), planes[5]]).astype(np.float32)


#: Defaults of the model schema's ``train.synthetic_anatomy`` (the one source: the schema does not
#: repeat them).
ANATOMY_DEFAULTS: dict[str, Any] = {"share": 1.0, "template": 0.2, "deform": 3.0, "stretch": [0.85, 1.15],
                                    "layers": False, "percentiles": [0.5, 99.5]}


class SyntheticAnatomy:
    """HR training slices drawn fresh for every sample from the template's tissue maps.

    One slice (:meth:`draw`): a slice direction (sagittal, coronal or axial, equally likely) and a
    position in the middle 80% of the brain along it; the plane's tissue maps rotated by an angle
    in [0, 360) degrees, stretched by a factor per in-plane axis, and displaced by a smooth random
    field (per direction, a sum of separable low-frequency cosines, up to ``deform`` pixels); then with
    probability ``template`` the real template's T1 intensities of that plane, otherwise a fresh
    fold and contrast (:func:`synth_variant`: tissue intensities in [0.05, 1], so inverted
    contrasts too, texture, bias field, Rician noise). With ``layers``, the head outside the
    brain is three tissues of their own intensities instead of a dark gap and one scalp: the
    layer between brain and scalp (skull, marrow, meninges) and the scalp split in two at a
    random depth (e.g. fat and skin): real heads are not dark between brain and scalp in every
    contrast, and a prior that assumes so puts wrong edges into a real scan's scalp. The slice is
    normalised to [0, 1] at ``percentiles`` like a prepared volume. Voxel size and the LR side
    (degradation, noise) are drawn later with the pair (:mod:`mri_sr.data.pairs`).

    The maps are loaded on first use (in the DataLoader worker that draws).

    Args:
        options: keys of :data:`ANATOMY_DEFAULTS` (absent ones take their default): ``share``
            (probability a sample's slice is synthetic rather than a prepared one), ``template``,
            ``deform`` (largest displacement, pixels), ``stretch`` [low, high], ``layers``,
            ``percentiles``.
    """

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = {**ANATOMY_DEFAULTS, **(options or {})}
        self._planes: np.ndarray | None = None
        self._bounds: list[tuple[int, int]] = []

    def __getstate__(self) -> dict[str, Any]:  # workers load the maps themselves
        return {"options": self.options, "_planes": None, "_bounds": []}

    def _volume(self) -> np.ndarray:
        """(7, X, Y, Z) float32: GM, WM, CSF and scalp probabilities, the T1 template in [0, 1],
        the brain mask blurred by 6 mm (depth outside the brain: 1 at it, falling outwards) and the
        probability of the layer between brain and scalp."""
        if self._planes is None:
            maps, _ = tissue_maps()
            template = np.asarray(load_volume("builtin:mni152").data, np.float32)
            template = template / max(float(template.max()), 1e-8)
            inside = maps[:3].sum(0)
            near = gaussian_filter(inside, 6.0)
            head = gaussian_filter((near > 0.02).astype(np.float32), 1.0)
            between = np.clip(head - inside - maps[3], 0.0, 1.0)
            self._planes = np.concatenate([maps, template[None], near[None], between[None]])
            brain = maps[:2].sum(0) > 0.5
            self._bounds = []
            for axis in range(3):
                present = np.flatnonzero(brain.any(axis=tuple(a for a in range(3) if a != axis)))
                lo, hi = int(present[0]), int(present[-1])
                self._bounds.append((lo + (hi - lo) // 10, hi - (hi - lo) // 10))
        return self._planes

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """One HR slice: (1, S, S) float32 in [0, 1], ``S`` the longer side of the plane; a pure
        function of ``rng``'s state."""
        volume, opts = self._volume(), self.options
        axis = int(rng.integers(3))
        lo, hi = self._bounds[axis]
        plane = np.take(volume, int(rng.integers(lo, hi + 1)), axis=axis + 1)
        rows, cols = plane.shape[1:]
        side = max(rows, cols)
        grid = np.arange(side, dtype=np.float32) - (side - 1) / 2
        y, x = np.meshgrid(grid, grid, indexing="ij")
        angle = rng.uniform(0.0, 2 * np.pi)
        stretch = rng.uniform(*opts["stretch"], size=2)
        cos, sin = np.cos(angle), np.sin(angle)
        shift = rng.uniform(0.0, float(opts["deform"])) * np.stack([_smooth_field((side, side), rng) for _ in range(2)])
        coords = np.stack([(-sin * x + cos * y) / stretch[0] + (rows - 1) / 2 + shift[0],
                           (cos * x + sin * y) / stretch[1] + (cols - 1) / 2 + shift[1]])
        if rng.random() < float(opts["template"]):
            image = map_coordinates(plane[4], coords, order=1, mode="constant", cval=0.0)
        else:
            used = [0, 1, 2, 3, 5, 6] if opts["layers"] else [0, 1, 2, 3]
            warped = np.clip(np.stack([map_coordinates(p, coords, order=1, mode="constant", cval=0.0)
                                       for p in plane[used]]), 0.0, 1.0)
            image = synth_variant(head_layers(warped, rng) if opts["layers"] else warped, rng)
        low, high = opts["percentiles"]
        return fit_percentiles(image, low, high, name="synthetic slice").apply(image)[None]


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
