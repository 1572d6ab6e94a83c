"""Scan input/output: every format becomes a :class:`Volume`."""

from mri_sr.io.load import load_volume
from mri_sr.io.nifti import save_nifti
from mri_sr.io.volume import Volume

__all__ = ["Volume", "load_volume", "save_nifti"]
