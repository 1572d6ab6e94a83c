"""Prepared slices as training/validation data: paired random crops and seeded batches."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from monai.data import set_track_meta
from monai.transforms import Compose, MapTransform, Randomizable, RandFlipd, RandRotate90d
from torch.utils.data import Dataset

from mri_sr.data.augment import augmentation as augmentation_pipeline
from mri_sr.data.degradation import DegradationSampler, from_row
from mri_sr.data.pairs import DEFAULTS as PAIR_DEFAULTS
from mri_sr.data.pairs import PairDraws, draw_pairs, make_pair, make_pairs
from mri_sr.data.synth import SyntheticAnatomy
from mri_sr.errors import MriSrError


class PairedRandomCropd(Randomizable, MapTransform):
    """Crop an LR patch of ``lr_size`` and the HR patch covering the same area, from one draw.

    Args:
        lr_size: LR patch side in pixels; the HR patch side is ``lr_size * scale``.
        scale: HR / LR size ratio.
    """

    def __init__(self, lr_size: int, scale: int) -> None:
        MapTransform.__init__(self, keys=("lr", "hr"))
        self.lr_size, self.scale = lr_size, scale
        self._top = self._left = 0

    def randomize(self, shape: tuple[int, int]) -> None:
        self._top = int(self.R.randint(0, shape[0] - self.lr_size + 1))
        self._left = int(self.R.randint(0, shape[1] - self.lr_size + 1))

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        lr, hr = data["lr"], data["hr"]
        if min(lr.shape[-2:]) < self.lr_size:
            raise MriSrError(f"slice of {lr.shape[-2]}x{lr.shape[-1]} LR pixels is smaller than the "
                             f"{self.lr_size}-pixel LR training patch")
        self.randomize(lr.shape[-2:])
        t, l, p, s = self._top, self._left, self.lr_size, self.scale
        return {**data, "lr": lr[..., t:t + p, l:l + p], "hr": hr[..., t * s:(t + p) * s, l * s:(l + p) * s]}


def train_transform(lr_patch_size: int, scale: int) -> Compose:
    """Paired crop, then flips and a rot90 that use one random draw for LR and HR alike."""
    return Compose([
        PairedRandomCropd(lr_patch_size, scale),
        RandFlipd(keys=("lr", "hr"), prob=0.5, spatial_axis=0),
        RandFlipd(keys=("lr", "hr"), prob=0.5, spatial_axis=1),
        RandRotate90d(keys=("lr", "hr"), prob=0.5, max_k=3, spatial_axes=(0, 1)),
    ])


class BatchStream(Dataset):
    """Item ``i`` is the whole training batch of iteration ``start + i``.

    The batch is a pure function of (seed, iteration, rank): slice choice, crop position,
    augmentation and degradation come from generators seeded by those numbers, whatever the
    DataLoader workers or where training resumed. So a resumed run sees exactly the batches of
    an uninterrupted one.

    With ``augmentation`` or ``degradation`` set, each HR crop is augmented and then degraded
    anew (:func:`mri_sr.data.pairs.make_pair`), so LR = degrade(augmented HR); the prepared LR
    slices are not used. With both None, the prepared (LR, HR) pairs are cropped, flipped and
    rotated together. With ``synthetic_anatomy`` set, each sample's HR slice is, with probability
    ``share``, a fresh synthetic one (:class:`mri_sr.data.synth.SyntheticAnatomy`, drawn from
    the sample's generator) instead of a prepared slice. Items are ``{"lr", "hr"}`` batches, or with ``pairs_on_device`` (and pairs
    made on the fly) the crops and draws of :func:`mri_sr.data.pairs.draw_pairs`, whose pairs
    :func:`batch_to_device` makes on the training device.

    Args:
        items: output of :func:`mri_sr.data.manifest.load_split` (``train``).
        batch_size: slices per batch (per process under DDP).
        lr_patch_size: LR patch side; HR patches are ``lr_patch_size * scale``.
        scale: super-resolution factor.
        seed: run seed.
        start, stop: iterations covered (``stop`` exclusive; iterations count from 1).
        rank: process rank under DDP (0 otherwise).
        augmentation: probabilities of the HR augmentations (model schema ``train.augmentation``).
        degradation: randomised degradation ranges (model schema ``train.random_degradation``).
        pairs_on_device: yield crops and draws instead of pairs (model schema ``train.pairs_on``).
        synthetic_anatomy: options of :class:`~mri_sr.data.synth.SyntheticAnatomy` (model schema
            ``train.synthetic_anatomy``); None: prepared slices only.

    Raises:
        MriSrError: ``synthetic_anatomy`` without pairs made on the fly (both ``augmentation``
            and ``degradation`` None: a synthetic slice has no prepared LR).
    """

    def __init__(self, items: list[dict[str, Any]], batch_size: int, lr_patch_size: int, scale: int,
                 seed: int, start: int, stop: int, rank: int = 0, *,
                 augmentation: dict[str, Any] | None = None, degradation: dict[str, Any] | None = None,
                 pairs_on_device: bool = False, synthetic_anatomy: dict[str, Any] | None = None) -> None:
        self.items = [{"lr": it["lr"], "hr": it["hr"]} for it in items]
        self.batch_size, self.seed, self.start, self.stop, self.rank = batch_size, seed, start, stop, rank
        self.online = augmentation is not None or degradation is not None
        self.pairs_on_device = pairs_on_device and self.online
        self.lr_patch_size, self.degradation = lr_patch_size, degradation
        if self.online:
            options = {**PAIR_DEFAULTS, **degradation} if degradation is not None else None
            self.sampler = DegradationSampler(from_row({**items[0]["meta"], "scale": scale}), degradation)
            self.context = int((options or PAIR_DEFAULTS)["context"])
            self.zoom = tuple(options["zoom"]) if options is not None else (1.0, 1.0)
            self.transform = augmentation_pipeline(augmentation)
        else:
            self.transform = train_transform(lr_patch_size, scale)
        if synthetic_anatomy is not None and not self.online:
            raise MriSrError("train.synthetic_anatomy needs pairs made on the fly: set train.augmentation or "
                             "train.random_degradation (a synthetic slice has no prepared LR)")
        self.anatomy = SyntheticAnatomy(synthetic_anatomy) if synthetic_anatomy is not None else None

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor] | PairDraws:
        set_track_meta(False)  # plain tensors: MONAI's metadata tracking triples the cost here
        iteration = self.start + i
        rng = np.random.default_rng([self.seed, iteration, self.rank])
        picks = rng.integers(len(self.items), size=self.batch_size)
        self.transform.set_random_state(seed=int(rng.integers(2**31 - 1)))
        if self.online:
            slices = [self.hr_slice(j, rng) for j in picks]
        if self.pairs_on_device:
            return draw_pairs(slices, self.lr_patch_size, self.context, self.transform, self.sampler, self.zoom, rng)
        if self.online:
            samples = [dict(zip(("lr", "hr"), self.pair(hr, rng))) for hr in slices]
        else:
            samples = [self.transform(self.items[j]) for j in picks]
        return {key: torch.stack([torch.as_tensor(np.ascontiguousarray(s[key])) for s in samples])
                for key in ("lr", "hr")}

    def hr_slice(self, index: int, rng: np.random.Generator) -> np.ndarray:
        """A sample's (1, H, W) HR slice: prepared slice ``index``, or with ``synthetic_anatomy``'s
        ``share`` a synthetic one from a generator seeded by ``rng``."""
        if self.anatomy is not None and rng.random() < float(self.anatomy.options["share"]):
            return self.anatomy.draw(np.random.default_rng(int(rng.integers(2**63 - 1))))
        return self.items[index]["hr"]

    def pair(self, hr_slice: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, Any]:
        """One augmented, freshly degraded pair from a (1, H, W) HR slice (see :func:`make_pair`)."""
        return make_pair(hr_slice, self.lr_patch_size, self.context, self.transform, self.sampler, self.zoom, rng)


def batch_to_device(batch: dict[str, torch.Tensor] | PairDraws, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``(lr, hr)`` of a :class:`BatchStream` item on ``device``: moved there, or, for crops
    and draws, made there (:func:`mri_sr.data.pairs.make_pairs`)."""
    if isinstance(batch, PairDraws):
        return make_pairs(batch, device)
    return batch["lr"].to(device, non_blocking=True), batch["hr"].to(device, non_blocking=True)
