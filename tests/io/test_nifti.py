from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest

from mri_sr.errors import MriSrError
from mri_sr.io import Volume, load_volume, save_nifti
from mri_sr.io.volume import reorient


def oblique_affine() -> np.ndarray:
    angle = np.deg2rad(17.0)
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rot @ np.diag([0.9, 1.1, 2.5])
    affine[:3, 3] = [-80.5, 12.25, 33.0]
    return affine


def test_save_and_reload_keep_array_and_affine(tmp_path):
    rng = np.random.default_rng(0)
    volume = Volume(rng.normal(size=(7, 9, 5)).astype(np.float32), oblique_affine(), "test")
    save_nifti(volume, tmp_path / "v.nii.gz")
    back = load_volume(tmp_path / "v.nii.gz")
    np.testing.assert_array_equal(back.data, volume.data)
    np.testing.assert_allclose(back.affine, volume.affine, atol=1e-5)
    assert back.spacing == pytest.approx((0.9, 1.1, 2.5), abs=1e-5)
    assert list(tmp_path.iterdir()) == [tmp_path / "v.nii.gz"]


def test_scaling_and_qform_only_file_are_honoured(tmp_path):
    stored = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    img = nib.Nifti1Image(stored, None)
    img.set_qform(oblique_affine(), code=1)
    img.set_sform(np.eye(4), code=0)
    img.header.set_slope_inter(0.5, -3.0)
    nib.save(img, tmp_path / "q.nii")
    volume = load_volume(tmp_path / "q.nii")
    np.testing.assert_allclose(volume.data, stored * 0.5 - 3.0)
    np.testing.assert_allclose(volume.affine, oblique_affine(), atol=1e-4)


def test_sform_wins_over_qform(tmp_path):
    img = nib.Nifti1Image(np.ones((2, 2, 2), np.float32), None)
    img.set_qform(np.diag([2.0, 2.0, 2.0, 1.0]), code=1)
    img.set_sform(oblique_affine(), code=2)
    nib.save(img, tmp_path / "s.nii.gz")
    np.testing.assert_allclose(load_volume(tmp_path / "s.nii.gz").affine, oblique_affine(), atol=1e-5)


def test_4d_volume_needs_an_index(tmp_path):
    data = np.stack([np.full((3, 3, 3), t, np.float32) for t in range(3)], axis=-1)
    save_nifti(Volume(data, np.eye(4), "t"), tmp_path / "t.nii.gz")
    volume = load_volume(tmp_path / "t.nii.gz")
    assert volume.data.shape == (3, 3, 3, 3) and volume.n_volumes == 3
    assert volume.select(2).data.max() == 2
    with pytest.raises(MriSrError, match=r"t\.nii\.gz: scan is 4D with 3 volumes"):
        volume.select(None, name="t.nii.gz")
    with pytest.raises(MriSrError, match="out of range"):
        volume.select(3)


def test_reorient_keeps_world_positions():
    rng = np.random.default_rng(1)
    affine = np.array([[0, 0, -2.0, 10], [-1.0, 0, 0, 5], [0, 1.5, 0, -7], [0, 0, 0, 1]])
    volume = Volume(rng.normal(size=(4, 5, 6)).astype(np.float32), affine, "t")
    ras = reorient(volume)
    assert ras.orientation == "RAS" and volume.orientation != "RAS"
    for ijk in [(0, 0, 0), (3, 4, 5), (1, 2, 3)]:
        world = affine @ [*ijk, 1]
        new_ijk = np.round(np.linalg.solve(ras.affine, world)[:3]).astype(int)
        assert ras.data[tuple(new_ijk)] == volume.data[ijk]


def test_truncated_gzip_is_a_clear_error(tmp_path):
    save_nifti(Volume(np.random.default_rng(0).normal(size=(20, 20, 20)).astype(np.float32), np.eye(4), "t"),
               tmp_path / "full.nii.gz")
    raw = (tmp_path / "full.nii.gz").read_bytes()
    (tmp_path / "cut.nii.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(MriSrError, match=r"cut\.nii\.gz: .*(truncated|corrupt)"):
        load_volume(tmp_path / "cut.nii.gz")


def test_non_image_file_is_a_clear_error(tmp_path):
    (tmp_path / "notes.nii.gz").write_bytes(gzip.compress(b"just some text, not an image\n" * 20))
    with pytest.raises(MriSrError, match=r"notes\.nii\.gz: "):
        load_volume(tmp_path / "notes.nii.gz")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(MriSrError, match=r"notes\.txt: unsupported file type"):
        load_volume(tmp_path / "notes.txt")


def gantry_tilted_affine(tilt_degrees: float = 20.0) -> np.ndarray:
    """Slices stepping 3 mm along z and shifted along y by the tilt: a sheared affine."""
    affine = oblique_affine()
    affine[:3, 2] = [0.0, 3.0 * np.tan(np.deg2rad(tilt_degrees)), 3.0]
    return affine


def test_sheared_affine_is_written_in_the_sform_only(tmp_path, caplog):
    volume = Volume(np.zeros((8, 8, 6), dtype=np.float32), gantry_tilted_affine(), "tilted")
    with caplog.at_level("WARNING", logger="mri_sr"):
        save_nifti(volume, tmp_path / "tilted.nii.gz")
    img = nib.load(tmp_path / "tilted.nii.gz")
    assert int(img.header["sform_code"]) == 1 and int(img.header["qform_code"]) == 0
    np.testing.assert_allclose(img.header.get_sform(), volume.affine, atol=1e-5)
    np.testing.assert_allclose(load_volume(tmp_path / "tilted.nii.gz").affine, volume.affine, atol=1e-5)
    assert "sheared" in caplog.text and "tilted.nii.gz" in caplog.text


@pytest.mark.parametrize("flip", [1.0, -1.0])
def test_unsheared_affine_keeps_a_qform_equal_to_the_sform(tmp_path, caplog, flip):
    affine = oblique_affine() @ np.diag([flip, 1.0, 1.0, 1.0])
    with caplog.at_level("WARNING", logger="mri_sr"):
        save_nifti(Volume(np.zeros((8, 8, 6), dtype=np.float32), affine, "oblique"), tmp_path / "o.nii")
    img = nib.load(tmp_path / "o.nii")
    assert int(img.header["qform_code"]) == 1 and int(img.header["sform_code"]) == 1
    np.testing.assert_allclose(img.header.get_qform(), img.header.get_sform(), atol=1e-4)
    np.testing.assert_allclose(img.header.get_qform(), affine, atol=1e-4)
    assert "sheared" not in caplog.text
