from __future__ import annotations

import h5py
import numpy as np
import pytest

from mri_sr.errors import MriSrError
from mri_sr.io import load_volume

HEADER = """<?xml version="1.0"?>
<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD"><encoding>
<encodedSpace><matrixSize><x>640</x><y>368</y><z>1</z></matrixSize>
<fieldOfView_mm><x>280</x><y>160</y><z>4.5</z></fieldOfView_mm></encodedSpace>
<reconSpace><matrixSize><x>320</x><y>320</y><z>1</z></matrixSize>
<fieldOfView_mm><x>140</x><y>160</y><z>3.0</z></fieldOfView_mm></reconSpace>
</encoding></ismrmrdHeader>"""


def test_builtin_mni152_template():
    volume = load_volume("builtin:mni152")
    assert volume.data.shape == (197, 233, 189)
    assert volume.spacing == pytest.approx((1.0, 1.0, 1.0))
    assert volume.orientation == "RAS"
    assert volume.data.dtype == np.float32 and volume.data.max() > 0


def test_fastmri_h5_layout_and_spacing(tmp_path):
    rss = np.random.default_rng(0).random((5, 32, 24)).astype(np.float32)
    with h5py.File(tmp_path / "file1000.h5", "w") as f:
        f["reconstruction_rss"] = rss
        f["ismrmrd_header"] = HEADER.encode()
    volume = load_volume(tmp_path / "file1000.h5")
    assert volume.data.shape == (24, 32, 5)
    np.testing.assert_array_equal(volume.data[:, :, 2], rss[2].T)
    assert volume.spacing == pytest.approx((140 / 320, 0.5, 3.0))
    assert "reconstruction_rss" in volume.source


def test_fastmri_h5_without_reconstruction(tmp_path):
    with h5py.File(tmp_path / "kspace_only.h5", "w") as f:
        f["kspace"] = np.zeros((2, 4, 4), np.complex64)
    with pytest.raises(MriSrError, match=r"kspace_only\.h5: .*reconstruction_rss"):
        load_volume(tmp_path / "kspace_only.h5")


def test_missing_path_and_unknown_builtin(tmp_path):
    with pytest.raises(MriSrError, match=r"nope\.nii\.gz: no such file or folder"):
        load_volume(tmp_path / "nope.nii.gz")
    with pytest.raises(MriSrError, match="unknown built-in"):
        load_volume("builtin:colin27")
