"""The foreground of normalised intensities: what counts as tissue rather than background."""

from __future__ import annotations

#: Normalised intensity (in [0, 1], after :mod:`mri_sr.data.normalize`) above which a voxel is
#: foreground: used by ``prepare``'s slice selection, the contrast inversion of augmentation and
#: the evaluation mask.
FOREGROUND_LEVEL = 0.05
