"""Training-time augmentation of HR patches with MONAI transforms (before the degradation).

Two ways to apply one pipeline (:func:`augmentation`), with the same draws:

- :func:`augment`: the MONAI ``Compose`` on one patch (the DataLoader workers' path);
- :func:`draw_augmentation` then :func:`augment_batch`: each transform's MONAI ``randomize``
  draws one sample's parameters exactly as a call of the pipeline would (same generator states,
  same order), and :func:`augment_batch` applies every transform to the samples it was drawn for,
  as one tensor operation on the batch's device (MONAI's ``Flip``, ``Rotate90`` and Fourier
  helpers; the intensity transforms' formulas with per-sample parameters).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from monai.data import set_track_meta
from monai.transforms import (
    Compose,
    Flip,
    RandAdjustContrast,
    RandBiasField,
    RandFlip,
    RandGibbsNoise,
    RandHistogramShift,
    RandomizableTransform,
    RandRotate90,
    RandScaleIntensity,
    Rotate90,
)
from monai.transforms.utils import Fourier

from mri_sr.data.normalize import FOREGROUND_LEVEL
from mri_sr.resample import mirror_index

#: Defaults of the model schema's ``train.augmentation`` (probabilities per sample); the one source:
#: the schema does not repeat them.
DEFAULTS: dict[str, Any] = {
    "flip": 0.5, "rot90": 0.5, "bias_field": 0.3, "gamma": 0.3, "histogram_shift": 0.2,
    "scale_intensity": 0.3, "invert": 0.2, "gibbs": 0.1,
}


def invert_contrast(img: torch.Tensor) -> torch.Tensor:
    """T2/FLAIR-like contrast: ``1 - x`` inside the head, background kept dark.

    Args:
        img: (1, H, W) float in [0, 1].

    Returns:
        (1, H, W) float in [0, 1]: ``min(x / FOREGROUND_LEVEL, 1) * (1 - x)``
        (:data:`mri_sr.data.normalize.FOREGROUND_LEVEL`).
    """
    return (img / FOREGROUND_LEVEL).clamp(0.0, 1.0) * (1.0 - img)


class RandInvertContrast(RandomizableTransform):
    """:func:`invert_contrast` with probability ``prob``."""

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        self.randomize(None)
        return invert_contrast(torch.as_tensor(img)) if self._do_transform else img


def augmentation(options: dict[str, Any] | None) -> Compose:
    """The HR augmentation pipeline: geometry first, then intensity transforms.

    Args:
        options: probabilities by name (keys of :data:`DEFAULTS`; 0 turns a transform off).
            ``None`` gives flips and rot90 only (the plain paired crop's geometry).

    Returns:
        A MONAI ``Compose`` over (1, H, W) float tensors in [0, 1]; seed it with
        ``set_random_state`` for reproducible draws. Outputs are clipped to [0, 1].
    """
    p = {**DEFAULTS, **(options or {})} if options is not None else {**dict.fromkeys(DEFAULTS, 0.0),
                                                                       "flip": 0.5, "rot90": 0.5}
    transforms = [
        RandFlip(prob=p["flip"], spatial_axis=0),
        RandFlip(prob=p["flip"], spatial_axis=1),
        RandRotate90(prob=p["rot90"], max_k=3, spatial_axes=(0, 1)),
        RandBiasField(degree=3, coeff_range=(0.0, 0.2), prob=p["bias_field"]),
        RandAdjustContrast(prob=p["gamma"], gamma=(0.5, 2.0)),
        RandHistogramShift(num_control_points=(5, 12), prob=p["histogram_shift"]),
        RandScaleIntensity(factors=(-0.2, 0.2), prob=p["scale_intensity"]),
        RandInvertContrast(prob=p["invert"]),
        RandGibbsNoise(prob=p["gibbs"], alpha=(0.0, 0.5)),
    ]
    return Compose([t for t in transforms if getattr(t, "prob", 1.0) > 0])


def augment(pipeline: Compose, hr: np.ndarray) -> np.ndarray:
    """Apply ``pipeline`` to one HR patch.

    Args:
        pipeline: output of :func:`augmentation` (already seeded).
        hr: (1, H, W) float32 in [0, 1].

    Returns:
        (1, H', W') float64 in [0, 1] (H' and W' swap under an odd rot90).
    """
    out = pipeline(torch.as_tensor(np.ascontiguousarray(hr), dtype=torch.float32))
    return np.clip(np.asarray(torch.as_tensor(out), dtype=np.float64), 0.0, 1.0)


@dataclass(frozen=True)
class AugmentationDraws:
    """One batch's draws of an augmentation pipeline (:func:`draw_augmentation`, stacked).

    Attributes:
        steps: the pipeline's transforms in order, each as its class and the fixed settings its
            batched form reads (axes, degree...): light to send from a DataLoader worker.
        applied: (T, B) bool: whether transform ``t`` applies to sample ``b``.
        params: T arrays (B, P_t) float64: the drawn parameters (NaN where not drawn).
        margins: (B,) int: HR pixels of mirrored margin on each side of each sample's crop
            (the crop itself is the centre; its own coordinates place the bias field).
    """

    steps: tuple[tuple[type, dict[str, Any]], ...]
    applied: np.ndarray
    params: tuple[np.ndarray, ...]
    margins: np.ndarray

    @classmethod
    def stack(cls, pipeline: Compose, samples: list[list[tuple[bool, list[float]]]],
              margins: list[int]) -> AugmentationDraws:
        """The draws of a batch from each sample's :func:`draw_augmentation`."""
        applied = np.array([[applies for applies, _ in sample] for sample in samples], dtype=bool).T
        params = []
        for t in range(len(pipeline.transforms)):
            width = max([len(sample[t][1]) for sample in samples], default=0)
            params.append(np.array([sample[t][1] + [math.nan] * (width - len(sample[t][1])) for sample in samples],
                                   dtype=np.float64).reshape(len(samples), width))
        steps = tuple((type(t), _SETTINGS.get(type(t), lambda t: {})(t)) for t in pipeline.transforms)
        return cls(steps, applied.reshape(len(pipeline.transforms), len(samples)),
                   tuple(params), np.asarray(margins, dtype=np.int64))


def draw_augmentation(pipeline: Compose, shape: tuple[int, int]) -> list[tuple[bool, list[float]]]:
    """One sample's draws of ``pipeline``, consumed from its transforms' generators exactly as
    ``pipeline`` on a (1, *shape) patch consumes them.

    Returns:
        per transform: whether it applies and its drawn parameters (empty when it does not).
    """
    draws = []
    for transform in pipeline.transforms:
        transform.randomize(shape)
        applies = bool(transform._do_transform)
        draws.append((applies, [float(v) for v in _DRAWN[type(transform)](transform)] if applies else []))
    return draws


def augment_batch(draws: AugmentationDraws, hr: torch.Tensor) -> torch.Tensor:
    """:func:`augment` of a batch with drawn parameters, on ``hr``'s device.

    Args:
        draws: the batch's draws (:meth:`AugmentationDraws.stack`).
        hr: (B, 1, S, S) float32 in [0, 1]: square crops (rot90 keeps the shape), margins mirrored.

    Returns:
        (B, 1, S, S) float32 in [0, 1].
    """
    set_track_meta(False)  # plain tensors out of MONAI's transforms
    out = hr
    for (kind, settings), applied, params in zip(draws.steps, draws.applied, draws.params):
        rows = np.flatnonzero(applied)
        if rows.size == 0:
            continue
        index = torch.from_numpy(rows).to(hr.device)
        values = torch.from_numpy(params[rows]).to(hr.device)
        changed = _BATCHED[kind](settings, out.index_select(0, index), values, draws.margins[rows])
        out = out.index_copy(0, index, changed.to(out.dtype))
    return out.clamp(0.0, 1.0)


def _per_sample(values: torch.Tensor) -> torch.Tensor:
    """(B,) -> (B, 1, 1, 1), to broadcast over (B, 1, H, W)."""
    return values.view(-1, 1, 1, 1)


def _extremes(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample minimum and maximum of (B, 1, H, W), each (B, 1, 1, 1)."""
    flat = img.flatten(1)
    return _per_sample(flat.amin(dim=1)), _per_sample(flat.amax(dim=1))


def _rotate(settings: dict[str, Any], img: torch.Tensor, p: torch.Tensor, margins: np.ndarray) -> torch.Tensor:
    """MONAI ``Rotate90`` by each sample's number of quarter turns."""
    turned = torch.stack([Rotate90(k, settings["spatial_axes"])(img[:, 0]) for k in range(1, settings["max_k"] + 1)],
                         dim=1)
    return turned[torch.arange(len(img), device=img.device), p[:, 0].long() - 1][:, None]


def _bias_field(settings: dict[str, Any], img: torch.Tensor, p: torch.Tensor, margins: np.ndarray) -> torch.Tensor:
    """``img * exp(field)``, the field as MONAI's: a Legendre series of degree ``degree`` with
    the drawn coefficients in the lower triangle, over [-1, 1] across each sample's own crop
    (mirrored into its margin)."""
    degree = settings["degree"]
    n, size = degree + 1, img.shape[-1]
    coeff = p.new_zeros(len(img), n, n)
    rows, cols = np.tril_indices(n)
    coeff[:, rows, cols] = p[:, :len(rows)]
    crop = size - 2 * margins[:, None]
    position = mirror_index(np.arange(size)[None, :] - margins[:, None], crop)
    u = torch.from_numpy(-1.0 + 2.0 * position / (crop - 1)).to(img.device)
    basis = [torch.ones_like(u), u]  # Legendre polynomials, Bonnet's recursion
    for k in range(1, degree):
        basis.append(((2 * k + 1) * u * basis[k] - k * basis[k - 1]) / (k + 1))
    legendre = torch.stack(basis[:n], dim=-1)  # (B, S, n)
    field = torch.einsum("bhi,bij,bwj->bhw", legendre, coeff, legendre)
    return img * torch.exp(field)[:, None]


def _gamma(settings: dict[str, Any], img: torch.Tensor, p: torch.Tensor, margins: np.ndarray) -> torch.Tensor:
    """MONAI ``AdjustContrast`` with each sample's gamma: ``((x - min) / range) ** gamma * range + min``."""
    low, high = _extremes(img)
    spread = high - low
    return ((img - low) / (spread + 1e-7)) ** _per_sample(p[:, 0]).to(img.dtype) * spread + low


def _histogram_shift(settings: dict[str, Any], img: torch.Tensor, p: torch.Tensor, margins: np.ndarray) -> torch.Tensor:
    """MONAI ``RandHistogramShift``'s map: the sample's range through its control points, the
    reference points evenly spaced (``p``: the floating ones, NaN past each sample's count)."""
    low, high = _extremes(img)
    count = _per_sample((~p.isnan()).sum(dim=1)).to(img.dtype)
    position = ((img - low) / (high - low).clamp_min(1e-12)) * (count - 1)
    segment = position.floor().clamp(min=torch.zeros_like(count), max=count - 2).long()
    points = p.nan_to_num(1.0).to(img.dtype)
    start = points.gather(1, segment.flatten(1)).view_as(img)
    end = points.gather(1, (segment + 1).flatten(1)).view_as(img)
    shifted = (start + (position - segment) * (end - start)) * (high - low) + low
    return torch.where(high > low, shifted, img)


def _gibbs(settings: dict[str, Any], img: torch.Tensor, p: torch.Tensor, margins: np.ndarray) -> torch.Tensor:
    """MONAI ``GibbsNoise`` with each sample's alpha: k-space kept within
    ``(1 - alpha) * max(H, W) * sqrt(2) / 2`` of the centre (MONAI's ``Fourier`` helpers)."""
    h, w = img.shape[-2:]
    rows = (torch.arange(h, device=img.device, dtype=torch.float64) - (h - 1) / 2) ** 2
    cols = (torch.arange(w, device=img.device, dtype=torch.float64) - (w - 1) / 2) ** 2
    radius = _per_sample((1 - p[:, 0]) * max(h, w) * math.sqrt(2) / 2.0)
    mask = (rows[:, None] + cols[None, :]).sqrt() <= radius
    return Fourier.inv_shift_fourier(Fourier.shift_fourier(img, 2) * mask, 2)


#: What :func:`draw_augmentation` reads from each transform after its ``randomize``.
_DRAWN: dict[type, Callable[[Any], list[float]]] = {
    RandFlip: lambda t: [],
    RandRotate90: lambda t: [t._rand_k],
    RandBiasField: lambda t: list(t._coeff),
    RandAdjustContrast: lambda t: [t.gamma_value],
    RandHistogramShift: lambda t: list(t.floating_control_points),
    RandScaleIntensity: lambda t: [t.factor],
    RandInvertContrast: lambda t: [],
    RandGibbsNoise: lambda t: [t.sampled_alpha],
}

#: The fixed settings of a transform that its batched form reads (none where absent).
_SETTINGS: dict[type, Callable[[Any], dict[str, Any]]] = {
    RandFlip: lambda t: {"spatial_axis": t.flipper.spatial_axis},
    RandRotate90: lambda t: {"spatial_axes": t.spatial_axes, "max_k": t.max_k},
    RandBiasField: lambda t: {"degree": t.degree},
}

#: Each transform on the (B, 1, H, W) samples it applies to, with its settings and their (B, P) parameters.
_BATCHED: dict[type, Callable[[dict[str, Any], torch.Tensor, torch.Tensor, np.ndarray], torch.Tensor]] = {
    RandFlip: lambda settings, img, p, margins: Flip(settings["spatial_axis"])(img[:, 0])[:, None],
    RandRotate90: _rotate,
    RandBiasField: _bias_field,
    RandAdjustContrast: _gamma,
    RandHistogramShift: _histogram_shift,
    RandScaleIntensity: lambda settings, img, p, margins: img * (1.0 + _per_sample(p[:, 0])).to(img.dtype),
    RandInvertContrast: lambda settings, img, p, margins: invert_contrast(img),
    RandGibbsNoise: _gibbs,
}
