"""HR -> LR degradations of 2D slices: one class per kind, one interface, one registry.

A degradation is an invertible operation (MONAI's ``InvertibleTransform`` in spirit):

- forward on a NumPy (H, W) slice (:meth:`Degradation.__call__`): optional Gaussian blur of HR
  (``blur_sigma`` in HR pixels), downscaling by ``scale`` with the kind's resampling, optional
  Rician noise of standard deviation ``noise_sigma`` on the LR magnitude (:meth:`~Degradation.noise`),
  clipping to [0, 1]; what ``prepare`` and the training pairs make;
- the same forward on a torch (B, C, H, W) batch (:meth:`~Degradation.forward_batch`): blur, the
  kind's resampling and the noise model (:meth:`~Degradation.noise_batch`), with parameters per
  image and a torch generator on the batch's device; what the training pairs made on the device
  use (:class:`BatchDraw`);
- the kind's resampling alone on a torch batch (:meth:`~Degradation.downsample`): no blur, no
  noise, differentiable; what the LR-consistency loss uses;
- the inverse resampling to HR size (:meth:`~Degradation.upsample`): what the identity loss feeds
  the degradation generator;
- its data-consistency projection (:meth:`~Degradation.consistency`), where one exists, as
  ``evaluate`` and ``upscale`` apply it;
- its record in a manifest row (:meth:`~Degradation.to_row`, :func:`from_row`) and in a
  checkpoint's ``degradation`` (:meth:`~Degradation.to_dict`, :func:`from_dict`).

:data:`DEGRADATIONS` is the one ``name -> class`` table; kind names are compared nowhere else.
:class:`DegradationSampler` draws the randomised degradations of training around a prepared one.
All intensities are in normalised [0, 1] units.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from mri_sr.errors import MriSrError
from mri_sr.resample import imresize, imresize_torch, kspace_truncate, kspace_zero_fill, mirror_index


@dataclass(frozen=True)
class Degradation(ABC):
    """How an LR slice is made from its HR slice; subclasses add the kind's resampling.

    Attributes:
        scale: integer downscaling factor.
        blur_sigma: Gaussian blur sigma in HR pixels (0 = none).
        noise_sigma: Rician noise level in normalised units (0 = none).
    """

    name: ClassVar[str]
    in_plane: ClassVar[bool] = True  # both axes shrink by scale; False: rows only (SliceProfile)
    scale: int = 4
    blur_sigma: float = 0.0
    noise_sigma: float = 0.0

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
        img = self.noise(self._resample(img), rng)
        return np.clip(img, 0.0, 1.0).astype(np.float32)

    def forward_batch(self, hr: torch.Tensor, generator: torch.Generator | None = None,
                      **per_image: Any) -> torch.Tensor:
        """:meth:`__call__` on a torch batch, each image with its own parameters.

        Args:
            hr: (B, C, H, W) float in [0, 1] on any device, H and W multiples of ``scale``.
            generator: source of the noise, on ``hr``'s device (seed it per batch for
                determinism); None: torch's global generator.
            per_image: (B,) values (sequence, array or tensor) of this kind's fields other than
                ``scale``: ``blur_sigma``, ``noise_sigma`` and the kind's own (e.g.
                ``kspace_factor``); a field not given keeps this degradation's value.

        Returns:
            (B, C, H // scale, W // scale) in ``hr``'s dtype, in [0, 1]: with the same parameters,
            :meth:`__call__` of each image up to float rounding and the noise's draw.
        """
        names = [f.name for f in dataclasses.fields(self) if f.name != "scale"]
        if set(per_image) - set(names):
            raise ValueError(f"{type(self).__name__} has no parameters {sorted(set(per_image) - set(names))}")
        params = {name: torch.as_tensor(per_image.get(name, getattr(self, name)), dtype=torch.float64).cpu()
                  .expand(hr.shape[0]) for name in names}
        img = self._resample_batch(gaussian_blur(hr, params["blur_sigma"]), params)
        return self.noise_batch(img, params["noise_sigma"], generator).clamp(0.0, 1.0)

    @abstractmethod
    def _resample(self, img: np.ndarray) -> np.ndarray:
        """(H, W) float64 -> (H // scale, W // scale) float64, the kind's downscaling."""

    def _resample_batch(self, img: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """The kind's downscaling of a (B, C, H, W) batch, image ``b`` with the parameters
        ``params[name][b]`` ((B,) float64 CPU tensors), as :meth:`_resample` (no clamping).

        This default resamples image by image with :meth:`downsample`; a kind whose resampling
        takes its parameters as tensors overrides it.
        """
        return torch.cat([self.replace(**{name: float(value[b]) for name, value in params.items()})
                          .downsample(img[b:b + 1]) for b in range(img.shape[0])])

    @abstractmethod
    def downsample(self, hr: torch.Tensor) -> torch.Tensor:
        """The kind's resampling of a batch, no blur, no noise; differentiable.

        Args:
            hr: (B, C, H, W) float, H and W multiples of ``scale``.

        Returns:
            (B, C, H // scale, W // scale) in ``hr``'s dtype.
        """

    @abstractmethod
    def upsample(self, lr: torch.Tensor) -> torch.Tensor:
        """The inverse resampling: LR at HR size, no detail added, the LR noise kept.

        Args:
            lr: (B, C, h, w) float in [0, 1].

        Returns:
            (B, C, h * scale, w * scale) in ``lr``'s dtype, clamped to [0, 1].
        """

    def noise(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The noise model: Rician noise of std ``noise_sigma`` on a magnitude image (float64)."""
        return add_rician_noise(img, self.noise_sigma, rng) if self.noise_sigma > 0 else img

    def noise_batch(self, img: torch.Tensor, sigma: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """The noise model on a torch batch: Rician noise of std ``sigma[b]`` on image ``b``.

        Args:
            img: (B, C, h, w) float magnitude images.
            sigma: (B,) noise levels in normalised units (0: that image unchanged).
            generator: source of the noise, on ``img``'s device; None: torch's global generator.

        Returns:
            (B, C, h, w) in ``img``'s dtype.
        """
        level = sigma.to(device=img.device, dtype=img.dtype).view(-1, *[1] * (img.dim() - 1))
        real = img + level * torch.randn(img.shape, generator=generator, device=img.device, dtype=img.dtype)
        imag = level * torch.randn(img.shape, generator=generator, device=img.device, dtype=img.dtype)
        return torch.where(level > 0, torch.sqrt(real * real + imag * imag), img)

    def consistency(self) -> KSpaceConsistency | None:
        """The data-consistency projection of SR outputs onto this degradation's LR, or None
        where the LR is not a restriction of the HR's measurements (the default)."""
        return None

    def replace(self, **changes: Any) -> Degradation:
        """A copy with some parameters changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint's and ``prepare.json``'s ``degradation`` record: ``kind`` and the parameters."""
        return {"kind": self.name, **dataclasses.asdict(self)}

    def to_row(self) -> dict[str, Any]:
        """The manifest columns of this degradation: ``degradation`` (the kind), ``scale``,
        ``blur_sigma``, ``noise_sigma``."""
        return {"degradation": self.name, "scale": self.scale, "blur_sigma": self.blur_sigma,
                "noise_sigma": self.noise_sigma}

    @classmethod
    def from_params(cls, **params: Any) -> Degradation:
        """An instance from the parameters this kind has (others, e.g. another kind's, are ignored)."""
        return cls(**{f.name: params[f.name] for f in dataclasses.fields(cls) if f.name in params})


@dataclass(frozen=True)
class KSpace(Degradation):
    """Central k-space truncation (:func:`mri_sr.resample.kspace_truncate`): how MRI low
    resolution arises, Gibbs ringing included; the magnitude image is kept.

    Attributes:
        kspace_factor: keep the central 1 / kspace_factor of the LR grid's frequencies
            (1 = all of them; > 1 = a coarser acquisition, as randomised training uses).
    """

    name: ClassVar[str] = "kspace"
    kspace_factor: float = 1.0

    def _resample(self, img: np.ndarray) -> np.ndarray:
        return kspace_truncate(torch.from_numpy(img), self.scale, self.kspace_factor).numpy()

    def _resample_batch(self, img: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        factor = params["kspace_factor"].view(-1, *[1] * (img.dim() - 3))
        return kspace_truncate(img, self.scale, factor, precision=torch.promote_types(img.dtype, torch.float32))

    def downsample(self, hr: torch.Tensor) -> torch.Tensor:
        """Magnitude of the central k-space (>= 0, not clipped); see :meth:`Degradation.downsample`."""
        return kspace_truncate(hr, self.scale, self.kspace_factor)

    def upsample(self, lr: torch.Tensor) -> torch.Tensor:
        """k-space zero filling (:func:`mri_sr.resample.kspace_zero_fill`), clamped to [0, 1]."""
        return kspace_zero_fill(lr, self.scale).clamp(0.0, 1.0)

    def consistency(self) -> KSpaceConsistency | None:
        """Projection at this degradation's noise level; None for blurred LR (blur first makes
        the LR no truncation of the HR's k-space)."""
        if float(self.blur_sigma) != 0.0:
            return None
        return KSpaceConsistency(self.scale, float(self.noise_sigma))


@dataclass(frozen=True)
class Bicubic(Degradation):
    """MATLAB-compatible antialiased bicubic downscaling (:func:`mri_sr.resample.imresize`), as
    SR benchmarks use. No data-consistency projection."""

    name: ClassVar[str] = "bicubic"

    def _resample(self, img: np.ndarray) -> np.ndarray:
        return imresize(img, 1.0 / self.scale)

    def _resample_batch(self, img: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        return imresize_torch(img, output_shape=(img.shape[-2] // self.scale, img.shape[-1] // self.scale))

    def downsample(self, hr: torch.Tensor) -> torch.Tensor:
        """MATLAB bicubic to (H // scale, W // scale), clamped to [0, 1]."""
        size = (hr.shape[-2] // self.scale, hr.shape[-1] // self.scale)
        return imresize_torch(hr, output_shape=size).clamp(0.0, 1.0)

    def upsample(self, lr: torch.Tensor) -> torch.Tensor:
        """MATLAB bicubic upscaling, clamped to [0, 1]."""
        size = (lr.shape[-2] * self.scale, lr.shape[-1] * self.scale)
        return imresize_torch(lr, output_shape=size).clamp(0.0, 1.0)


#: The degradation kinds by name (manifest ``degradation``, record ``kind``, config ``kind``);
#: :class:`SliceProfile` joins it below its class, at the end of this module.
DEGRADATIONS: dict[str, type[Degradation]] = {cls.name: cls for cls in (Bicubic, KSpace)}


def degradation_class(name: str) -> type[Degradation]:
    """The class registered as ``name``.

    Raises:
        MriSrError: an unknown name (the message lists the known ones).
    """
    if name not in DEGRADATIONS:
        raise MriSrError(f"unknown degradation {name!r}; known: {', '.join(DEGRADATIONS)}")
    return DEGRADATIONS[name]


def other_kind(cls: type[Degradation]) -> type[Degradation]:
    """The next in-plane kind (``in_plane``) of :data:`DEGRADATIONS`, cyclically: with two, the other one.

    Raises:
        ValueError: ``cls`` is not an in-plane kind (:class:`SliceProfile`).
    """
    kinds = [kind for kind in DEGRADATIONS.values() if kind.in_plane]
    return kinds[(kinds.index(cls) + 1) % len(kinds)]


def from_dict(record: dict[str, Any]) -> Degradation:
    """The degradation of a checkpoint's or ``prepare.json``'s record (``kind`` and parameters;
    parameters the kind does not have, such as a bicubic record's ``kspace_factor``, are ignored)."""
    return degradation_class(record["kind"]).from_params(**{k: v for k, v in record.items() if k != "kind"})


def from_row(row: dict[str, Any]) -> Degradation:
    """The degradation of a manifest row (CSV strings or numbers), as :meth:`Degradation.to_row` wrote it."""
    return degradation_class(row["degradation"])(scale=int(row["scale"]), blur_sigma=float(row["blur_sigma"]),
                                                 noise_sigma=float(row["noise_sigma"]))


def add_rician_noise(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Rician noise: magnitude of the image plus complex Gaussian noise of std ``sigma``."""
    real = img + rng.normal(0.0, sigma, img.shape)
    imag = rng.normal(0.0, sigma, img.shape)
    return np.sqrt(real * real + imag * imag)


def gaussian_blur(img: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Gaussian blur of each image of a batch with its own sigma, as
    ``scipy.ndimage.gaussian_filter(image, sigma, mode="reflect")`` blurs one image: a sampled
    Gaussian of radius ``int(4 sigma + 0.5)`` normalised to sum 1, symmetric padding
    (:func:`mri_sr.resample.mirror_index`), separable along H and W (sums of shifted copies).

    Args:
        img: (B, C, H, W) float.
        sigma: (B,) float64 CPU tensor, in pixels (0: that image unchanged).

    Returns:
        (B, C, H, W) in ``img``'s dtype.
    """
    radii = (4.0 * sigma + 0.5).floor()
    radius = int(radii.max()) if len(radii) else 0
    if radius == 0:
        return img
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    taps = torch.exp(-0.5 * offsets**2 / sigma.clamp_min(1e-12)[:, None] ** 2) * (offsets.abs() <= radii[:, None])
    taps = (taps / taps.sum(dim=1, keepdim=True)).to(img).view(len(sigma), 1, 1, 1, -1).unbind(-1)
    h, w = img.shape[-2:]
    rows = torch.from_numpy(mirror_index(np.arange(-radius, h + radius), h)).to(img.device)
    cols = torch.from_numpy(mirror_index(np.arange(-radius, w + radius), w)).to(img.device)
    padded = img.index_select(2, rows).index_select(3, cols)
    along_h = sum(tap * padded[:, :, k:k + h] for k, tap in enumerate(taps))
    return sum(tap * along_h[..., k:k + w] for k, tap in enumerate(taps))


@dataclass(frozen=True)
class KSpaceConsistency:
    """Project SR images onto the set of images that agree with their LR images up to the noise.

    An LR image of the k-space degradation is ``T(hr) + n``: ``T`` keeps the central k-space
    (:func:`~mri_sr.resample.kspace_truncate`) and ``n`` is noise of standard deviation
    ``noise_sigma``. So the true HR image lies (about) in ``{x : ||Z(lr - T(x))|| <= noise_sigma *
    sqrt(N)}``, with ``Z`` the zero filling back to HR size (:func:`~mri_sr.resample.kspace_zero_fill`,
    which keeps the per-pixel noise level) and ``N`` the HR pixels. Each image outside that ball
    moves in a straight line to its surface: only its low frequencies change, by the part of its
    disagreement with the LR that the noise cannot explain. The set is convex, so the projection
    brings the output no farther from any image in it, the HR image included (MRI
    reconstruction's data-consistency step, with the noise-level ball of constrained
    reconstruction instead of an exact fit to noisy data).

    Attributes:
        scale: integer factor.
        noise_sigma: standard deviation of the LR noise, in the images' units (0: exact fit).
    """

    scale: int
    noise_sigma: float

    def __call__(self, sr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        """Args: sr (B, C, H, W) float SR images; lr (B, C, H // scale, W // scale) their inputs.
        Returns: (B, C, H, W) in ``sr``'s dtype."""
        sr64 = sr.to(torch.float64)
        residual = kspace_zero_fill(lr.to(torch.float64) - kspace_truncate(sr64, self.scale), self.scale)
        distance = residual.flatten(1).norm(dim=1)
        radius = self.noise_sigma * math.sqrt(residual[0].numel())
        step = (1.0 - radius / distance.clamp_min(1e-12)).clamp_min(0.0)
        return (sr64 + step.view(-1, *[1] * (sr.dim() - 1)) * residual).to(sr.dtype)

    def to_dict(self) -> dict[str, float]:
        """The metrics JSON's ``data_consistency`` record."""
        return {"noise_sigma": self.noise_sigma}


#: Default ranges of the randomised training degradation (model schema ``train.random_degradation``;
#: the one source: the schema does not repeat them).
SAMPLER_DEFAULTS: dict[str, Any] = {
    "kspace_factor": [1.0, 1.25], "blur_sigma": [0.0, 0.6], "noise_sigma": [0.0, 0.03], "other_kind": 0.1,
}


@dataclass(frozen=True)
class Draw:
    """One sample's degradation: the parameters and the seed of its noise."""

    degradation: Degradation
    noise_seed: int

    def __call__(self, hr: np.ndarray) -> np.ndarray:
        """(H, W) HR in [0, 1] -> (H / s, W / s) float32 LR in [0, 1]; the same output every call."""
        return self.degradation(hr, np.random.default_rng(self.noise_seed))


@dataclass(frozen=True)
class BatchDraw:
    """A batch's degradations: each image's draw (kind and parameters) and the seed of the batch's noise.

    Attributes:
        draws: one :class:`Draw` per image (their noise seeds are not used here).
        noise_seed: seed of the torch generator of the batch's noise.
    """

    draws: tuple[Draw, ...]
    noise_seed: int

    def __call__(self, hr: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) HR in [0, 1] on any device -> (B, C, H / s, W / s) LR in [0, 1], ``hr``'s dtype.

        Image ``b`` is degraded as ``draws[b].degradation`` (:meth:`Degradation.forward_batch`, one
        call per kind, in the order the kinds first occur); the noise comes from a generator on
        ``hr``'s device seeded with ``noise_seed``: the same output every call on one device.
        """
        generator = torch.Generator(device=hr.device).manual_seed(self.noise_seed)
        degradations = [draw.degradation for draw in self.draws]
        out = None
        for kind in dict.fromkeys(type(d) for d in degradations):
            images = [b for b, d in enumerate(degradations) if type(d) is kind]
            group = [degradations[b] for b in images]
            per_image = {f.name: [getattr(d, f.name) for d in group] for f in dataclasses.fields(kind)
                         if f.name != "scale"}
            rows = torch.tensor(images, device=hr.device)
            lr = group[0].forward_batch(hr.index_select(0, rows), generator, **per_image)
            out = lr.new_empty((len(degradations), *lr.shape[1:])) if out is None else out
            out[rows] = lr
        return out


class DegradationSampler:
    """Draws one sample's degradation around the prepared one.

    Args:
        base: the prepared data's degradation (kind and scale; its blur and noise when
            ``ranges`` is None).
        ranges: keys of :data:`SAMPLER_DEFAULTS` (others are ignored): ``kspace_factor`` [low,
            high] (>= 1, see :class:`KSpace`), ``blur_sigma`` [low, high] HR pixels,
            ``noise_sigma`` [low, high] normalised units, ``other_kind`` probability of
            :func:`other_kind` instead of the base's kind. None: ``base`` itself.
    """

    def __init__(self, base: Degradation, ranges: dict[str, Any] | None) -> None:
        self.base = base
        self.ranges = None if ranges is None else {**SAMPLER_DEFAULTS, **ranges}

    def draw(self, rng: np.random.Generator) -> Draw:
        """One draw from the batch's generator ``rng`` (kind, parameters, then the noise seed)."""
        if self.ranges is None:
            return Draw(self.base, int(rng.integers(2**31 - 1)))
        o = self.ranges
        cls = other_kind(type(self.base)) if rng.random() < o["other_kind"] else type(self.base)
        params = {**dataclasses.asdict(self.base), "kspace_factor": float(rng.uniform(*o["kspace_factor"])),
                  "blur_sigma": float(rng.uniform(*o["blur_sigma"])),
                  "noise_sigma": float(rng.uniform(*o["noise_sigma"]))}
        return Draw(cls.from_params(**params), int(rng.integers(2**31 - 1)))


@dataclass(frozen=True)
class SliceProfile(Degradation):
    """The slice profile of a 2D multi-slice acquisition: thick slices along the rows of a slice.

    The one-axis kind of through-plane super-resolution (SMORE, Zhao et al., IEEE TMI 2021): the
    rows of an (H, W) slice are the slice axis on a fine grid of ``scale`` voxels per thick slice;
    each thick slice integrates the tissue over a box of the slice thickness, ``width`` fine voxels
    wide (``width = scale``: contiguous slices; less: a gap between slices; more: overlapping
    slices), and thick slice ``k`` is centred at fine row ``scale * k + (scale - 1) / 2`` (the
    voxel-centre convention of :func:`mri_sr.geometry.upscaled_affine`). So (H, W) -> (H // scale, W):
    the columns keep their size. Every forward is the linear map :meth:`matrix` along the rows, and
    with contiguous slices thick slice ``k`` is exactly the mean of fine rows ``scale * k`` ..
    ``scale * k + scale - 1``. Blur (in HR pixels, both axes) and Rician noise are those of
    :class:`Degradation`.

    Manifest rows (``prepare``) hold in-plane kinds only (the config schema's ``data.degradation.kind``);
    :meth:`~Degradation.to_row` records kind, scale, blur and noise, which read back
    (:func:`from_row`) as the contiguous profile: the width is in :meth:`~Degradation.to_dict`.

    Attributes:
        scale: integer factor ``S`` between the slice spacing and the fine grid.
        width: box width in fine voxels (None: ``scale``, contiguous slices).
    """

    name: ClassVar[str] = "slice_profile"
    in_plane: ClassVar[bool] = False
    width: float | None = None

    def __post_init__(self) -> None:
        if self.width is None:
            object.__setattr__(self, "width", float(self.scale))

    def kernel(self) -> tuple[np.ndarray, int]:
        """Weights of the fine voxels one thick slice averages.

        Returns:
            ``(weights, first)``: (K,) float64 summing to 1, and the offset of the first weight
            from ``S * k``: thick slice ``k = sum_i weights[i] * fine[S * k + first + i]``. Each
            weight is the overlap of fine voxel ``[i - 0.5, i + 0.5]`` with the box.
        """
        centre = (self.scale - 1) / 2.0
        low, high = centre - self.width / 2.0, centre + self.width / 2.0
        first, last = math.floor(low + 0.5), math.ceil(high - 0.5)
        index = np.arange(first, last + 1, dtype=np.float64)
        weights = np.clip(np.minimum(index + 0.5, high) - np.maximum(index - 0.5, low), 0.0, None)
        keep = weights > 1e-9
        return weights[keep] / weights[keep].sum(), int(index[keep][0])

    def matrix(self, length: int, phase: int = 0) -> np.ndarray:
        """(n, length) float64 map from ``length`` fine voxels to ``n = (length - phase) // S`` thick slices.

        Thick slice ``k`` is centred at fine index ``phase + S * k + (S - 1) / 2``; weights that
        fall beyond the ends are given to the nearest end voxel (edge replication).
        """
        weights, first = self.kernel()
        count = (length - phase) // self.scale
        matrix = np.zeros((count, length), dtype=np.float64)
        for k in range(count):
            index = np.clip(phase + self.scale * k + first + np.arange(len(weights)), 0, length - 1)
            np.add.at(matrix[k], index, weights)
        return matrix

    def degrade_axis(self, data: np.ndarray, axis: int, phase: int = 0) -> np.ndarray:
        """Thick slices along ``axis`` of a fine array, as the scanner would have acquired them
        (the box alone: no blur, no noise).

        Args:
            data: float array, any number of dimensions, fine spacing along ``axis``.
            axis: the slice axis.
            phase: first fine voxel of thick slice 0.

        Returns:
            float32 array (computed in float32), ``(shape[axis] - phase) // S`` long along
            ``axis``, other axes unchanged.
        """
        matrix = self.matrix(data.shape[axis], phase).astype(np.float32)
        moved = np.moveaxis(np.asarray(data, dtype=np.float32), axis, 0)
        return np.moveaxis(np.tensordot(matrix, moved, axes=(1, 0)), 0, axis)

    def _resample(self, img: np.ndarray) -> np.ndarray:
        """(H, W) -> (H // S, W): :meth:`degrade_axis` along the rows (float32 arithmetic, as the
        through-plane training pairs), returned as float64."""
        return self.degrade_axis(img, 0).astype(np.float64)

    def downsample(self, hr: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H // S, W): :meth:`matrix` along the rows, in ``hr``'s dtype
        (not clipped); see :meth:`Degradation.downsample`."""
        return torch.from_numpy(self.matrix(hr.shape[-2])).to(hr) @ hr

    def upsample(self, lr: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) -> (B, C, h * S, w): the least-squares HR of the LR (the pseudo-inverse
        of :meth:`matrix`; contiguous slices: each thick slice repeated over its S fine rows),
        clamped to [0, 1]."""
        return (_pseudo_inverse(self, lr.shape[-2] * self.scale).to(lr) @ lr).clamp(0.0, 1.0)

    def consistency(self) -> SliceProfileConsistency | None:
        """Projection at this degradation's noise level; None for blurred LR (as :class:`KSpace`:
        the LR is then not the box average of the HR)."""
        if float(self.blur_sigma) != 0.0:
            return None
        return SliceProfileConsistency(self)


def _pseudo_inverse(profile: SliceProfile, length: int) -> torch.Tensor:
    """(length, length // S) float64 Moore-Penrose pseudo-inverse of ``profile.matrix(length)``."""
    return torch.linalg.pinv(torch.from_numpy(profile.matrix(length)))


@dataclass(frozen=True)
class SliceProfileConsistency:
    """Project SR images onto the set of images whose thick slices agree with their LR images up to the noise.

    An LR image of the slice profile is ``A hr + n`` (``A``: :meth:`SliceProfile.matrix` along the
    rows; ``n``: noise of standard deviation ``noise_sigma``). The set is ``{x : ||A+ (lr - A x)||
    <= noise_sigma * ||A+||_F * sqrt(C W)}`` (``A+`` the pseudo-inverse; the radius is the expected
    norm of ``A+ n`` over an image's C channels and W columns). Each image outside it moves in a
    straight line to its surface, changing only its component in the row space of ``A``: with
    ``noise_sigma = 0`` that is the orthogonal projection onto ``{x : A x = lr}``, exact, so the
    output's thick slices are the LR's. The set is convex, as :class:`KSpaceConsistency`'s.

    Attributes:
        profile: the degradation (scale, width, noise_sigma).
    """

    profile: SliceProfile

    def __call__(self, sr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        """Args: sr (B, C, H, W) float SR images; lr (B, C, H // S, W) their inputs.
        Returns: (B, C, H, W) in ``sr``'s dtype."""
        sr64, inverse = sr.to(torch.float64), _pseudo_inverse(self.profile, sr.shape[-2]).to(sr.device)
        residual = inverse @ (lr.to(torch.float64) - self.profile.downsample(sr64))
        radius = self.profile.noise_sigma * float(inverse.norm()) * math.sqrt(sr.shape[1] * sr.shape[-1])
        step = (1.0 - radius / residual.flatten(1).norm(dim=1).clamp_min(1e-12)).clamp_min(0.0)
        return (sr64 + step.view(-1, *[1] * (sr.dim() - 1)) * residual).to(sr.dtype)

    def to_dict(self) -> dict[str, float]:
        """The metrics JSON's ``data_consistency`` record."""
        return {"noise_sigma": self.profile.noise_sigma}


DEGRADATIONS[SliceProfile.name] = SliceProfile
