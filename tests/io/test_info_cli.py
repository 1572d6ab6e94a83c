"""`mri-sr info` on the shared Philips EPI series reports dcm2niix's shape and geometry."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np

from mri_sr.io import Volume
from mri_sr.io.volume import reorient


def test_info_matches_dcm2niix_reference(cli, shared_data):
    folder = shared_data / "mri" / "dicom" / "philips_epi_4d_oblique"
    code, out, err = cli("info", "--json", folder)
    assert code == 0, err
    info = json.loads(out)
    assert info["shape"] == [64, 64, 9, 3]
    reference = nib.load(folder.with_suffix(".nii.gz"))
    ours = reorient(Volume(np.zeros(info["shape"][:3]), np.array(info["affine"]), "info"))
    theirs = reorient(Volume(np.zeros(reference.shape[:3]), reference.affine, "dcm2niix"))
    np.testing.assert_allclose(ours.affine, theirs.affine, atol=1e-3)
    assert info["orientation"] == "".join(nib.aff2axcodes(np.array(info["affine"])))
    for field in ("PatientName", "PatientID"):
        import pydicom

        value = str(getattr(pydicom.dcmread(next(folder.iterdir()), stop_before_pixels=True), field, ""))
        assert not value or value not in out


def test_info_text_output(cli, shared_data):
    code, out, _ = cli("info", shared_data / "mri" / "nifti" / "chris_t1.nii.gz")
    assert code == 0
    assert "shape:       188x256x190" in out and "orientation: RAS" in out


def test_info_counts_voxels_that_are_not_finite(cli, tmp_path):
    data = np.random.default_rng(0).uniform(10, 20, (10, 10, 4)).astype(np.float32)
    data[0, 0, 0], data[1, 0, 0], data[2, 0, 0] = np.nan, np.inf, -np.inf
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "bad.nii.gz")  # save_nifti writes finite voxels only
    code, out, err = cli("info", "--json", tmp_path / "bad.nii.gz")
    assert code == 0, err
    info = json.loads(out)
    assert info["non_finite_voxels"] == 3
    finite = data[np.isfinite(data)]
    assert info["intensity_range"] == [float(finite.min()), float(finite.max())]
    code, out, _ = cli("info", tmp_path / "bad.nii.gz")
    assert code == 0 and "3 of 400 voxels are NaN or infinite" in out
