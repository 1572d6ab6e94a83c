"""Every NIfTI mri-sr writes keeps the input's qform and sform, each with its own code, and its
spatial unit, upscaled by the voxel-centre convention (:func:`mri_sr.geometry.upscaled_affine`)."""

from __future__ import annotations

import itertools

import nibabel as nib
import numpy as np
import pytest

from mri_sr.geometry import upscaled_affine
from mri_sr.io import load_volume

CODES = (0, 1, 2, 4)
SHAPE = (10, 8, 5)  # spacing 1.2 x 1.2 x 3 mm: the slice axis is 2, upscaled (2, 2, 1)
FACTORS = (2, 2, 1)


def rotation(degrees: float, axis: int) -> np.ndarray:
    a = np.deg2rad(degrees)
    plane = [i for i in range(3) if i != axis]
    matrix = np.eye(3)
    matrix[np.ix_(plane, plane)] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
    return matrix


def scanner_affine() -> np.ndarray:
    affine = np.eye(4)
    affine[:3, :3] = rotation(12.0, 2) @ np.diag([-1.2, 1.2, 3.0])
    affine[:3, 3] = [40.0, -25.5, 12.0]
    return affine


def shifted_rotated(affine: np.ndarray) -> np.ndarray:
    """The same grid 10 mm off and 5 degrees turned (a registration to a template)."""
    world = np.eye(4)
    world[:3, :3] = rotation(5.0, 0)
    world[:3, 3] = [10.0, 0.0, 0.0]
    return world @ affine


def write_input(path, qform_code: int, sform_code: int, units: str = "mm", unit_mm: float = 1.0) -> nib.Nifti1Image:
    rng = np.random.default_rng(qform_code * 10 + sform_code)
    img = nib.Nifti1Image((100 + 50 * rng.random(SHAPE)).astype(np.float32), None)
    to_unit = np.diag([1 / unit_mm] * 3 + [1.0])
    img.header.set_zooms(np.array([1.2, 1.2, 3.0]) / unit_mm)
    img.header.set_qform(to_unit @ scanner_affine() if qform_code else None, code=qform_code)
    img.header.set_sform(to_unit @ shifted_rotated(scanner_affine()) if sform_code else None, code=sform_code)
    img.header.set_xyzt_units(units, "sec")
    nib.save(img, path)
    return nib.load(path)


@pytest.mark.parametrize("qform_code,sform_code", list(itertools.product(CODES, CODES)))
def test_upscale_keeps_both_transforms_with_their_codes(cli, tmp_path, qform_code, sform_code):
    source = write_input(tmp_path / "in.nii.gz", qform_code, sform_code)
    code, _, err = cli("upscale", tmp_path / "in.nii.gz", tmp_path / "out.nii.gz", "--method", "bicubic", "--scale", "2")
    assert code == 0, err
    out = nib.load(tmp_path / "out.nii.gz")
    assert out.shape == (20, 16, 5)
    for kind in ("qform", "sform"):
        before, before_code = getattr(source.header, f"get_{kind}")(coded=True)
        after, after_code = getattr(out.header, f"get_{kind}")(coded=True)
        assert after_code == before_code, kind
        if before_code:
            np.testing.assert_allclose(after, upscaled_affine(before, FACTORS), atol=1e-4, err_msg=kind)
    # nibabel's best affine (sform, else qform, else the pixdim grid) follows the same rule.
    np.testing.assert_allclose(out.affine, upscaled_affine(source.affine, FACTORS), atol=1e-4)
    assert out.header.get_xyzt_units()[0] == "mm"
    np.testing.assert_allclose(out.header.get_zooms(), (0.6, 0.6, 3.0), atol=1e-5)


@pytest.mark.parametrize("units,unit_mm", [("micron", 1e-3), ("meter", 1e3), ("mm", 1.0)])
def test_spatial_units_are_read_and_written_back(cli, tmp_path, units, unit_mm):
    source = write_input(tmp_path / "in.nii", 1, 4, units, unit_mm)
    volume = load_volume(tmp_path / "in.nii")
    assert volume.spacing == pytest.approx((1.2, 1.2, 3.0), rel=1e-5)  # always mm inside
    np.testing.assert_allclose(volume.affine, shifted_rotated(scanner_affine()), atol=1e-4)
    code, out_text, err = cli("info", tmp_path / "in.nii")
    assert code == 0 and "1.2 x 1.2 x 3 mm" in out_text, out_text + err
    code, _, err = cli("upscale", tmp_path / "in.nii", tmp_path / "out.nii", "--method", "bicubic")
    assert code == 0, err
    out = nib.load(tmp_path / "out.nii")
    assert out.header.get_xyzt_units()[0] == units
    np.testing.assert_allclose(out.header.get_zooms(), np.array([0.6, 0.6, 3.0]) / unit_mm, rtol=1e-5)
    for kind in ("qform", "sform"):
        before, before_code = getattr(source.header, f"get_{kind}")(coded=True)
        after, after_code = getattr(out.header, f"get_{kind}")(coded=True)
        assert after_code == before_code
        np.testing.assert_allclose(after, upscaled_affine(before, FACTORS), rtol=1e-5, atol=1e-4 / unit_mm)


def test_unknown_unit_code_is_one_line(cli, tmp_path):
    write_input(tmp_path / "in.nii", 1, 1)
    raw = bytearray((tmp_path / "in.nii").read_bytes())
    raw[123] = 5  # xyzt_units: spatial code 5 is none of meter, mm, micron
    (tmp_path / "in.nii").write_bytes(bytes(raw))
    code, _, err = cli("upscale", tmp_path / "in.nii", tmp_path / "out.nii", "--method", "bicubic")
    assert code == 1 and "spatial unit" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.nii").exists()


def test_through_plane_output_keeps_both_transforms(cli, tmp_path):
    source = write_input(tmp_path / "thick.nii.gz", 1, 4)
    code, _, err = cli("throughplane", tmp_path / "thick.nii.gz", tmp_path / "out.nii.gz",
                       "--model", "srresnet", "--iterations", "1", "--scale", "2", "--device", "cpu")
    assert code == 0, err
    out = nib.load(tmp_path / "out.nii.gz")
    factors = (1, 1, 2)
    assert out.shape == (10, 8, 10)
    for kind in ("qform", "sform"):
        before, before_code = getattr(source.header, f"get_{kind}")(coded=True)
        after, after_code = getattr(out.header, f"get_{kind}")(coded=True)
        assert after_code == before_code
        np.testing.assert_allclose(after, upscaled_affine(before, factors), atol=1e-4)


def test_qform_only_with_negative_qfac_keeps_its_flip(cli, tmp_path):
    img = nib.Nifti1Image(np.random.default_rng(0).random(SHAPE).astype(np.float32) + 1, None)
    img.header.set_qform(scanner_affine(), code=1)  # a determinant < 0: pixdim[0] = -1
    img.header.set_sform(None, code=0)
    assert img.header["pixdim"][0] == -1
    nib.save(img, tmp_path / "in.nii")
    code, _, err = cli("upscale", tmp_path / "in.nii", tmp_path / "out.nii", "--method", "bicubic")
    assert code == 0, err
    out = nib.load(tmp_path / "out.nii")
    qform, qform_code = out.header.get_qform(coded=True)
    assert qform_code == 1 and out.header.get_sform(coded=True)[1] == 0 and out.header["pixdim"][0] == -1
    np.testing.assert_allclose(qform, upscaled_affine(scanner_affine(), FACTORS), atol=1e-4)


def test_nan_scale_slope_means_unscaled(tmp_path):
    stored = np.arange(SHAPE[0] * SHAPE[1] * SHAPE[2], dtype=np.int16).reshape(SHAPE)
    img = nib.Nifti1Image(stored, scanner_affine())
    img.header["scl_slope"], img.header["scl_inter"] = np.nan, np.nan  # NIfTI: NaN or 0 slope = no scaling
    nib.save(img, tmp_path / "in.nii")
    np.testing.assert_array_equal(load_volume(tmp_path / "in.nii").data, stored.astype(np.float32))


def _sform_and_broken_qform(path, damage: str) -> nib.Nifti1Image:
    """A scan placed by its sform (code 2) whose qform (code 1) places no voxel."""
    img = nib.Nifti1Image(np.random.default_rng(0).random(SHAPE).astype(np.float32) + 1, None)
    img.header.set_qform(scanner_affine(), code=1)
    img.header.set_sform(shifted_rotated(scanner_affine()), code=2)
    if damage == "pixdim 0":
        img.header["pixdim"][1] = 0.0  # nibabel would read it as 1: a qform of 1 mm voxels
    elif damage == "NaN quaternion":
        img.header["quatern_b"] = np.nan
    else:  # b, c, d of no unit quaternion
        img.header["quatern_b"], img.header["quatern_c"] = 0.9, 0.9
    nib.save(img, path)
    return img


@pytest.mark.parametrize("damage", ["pixdim 0", "NaN quaternion", "invalid quaternion"])
def test_a_degenerate_qform_beside_a_usable_sform_is_left_unset(cli, tmp_path, damage):
    _sform_and_broken_qform(tmp_path / "in.nii", damage)
    code, _, err = cli("upscale", tmp_path / "in.nii", tmp_path / "out.nii", "--method", "bicubic")
    assert code == 0 and "Traceback" not in err, err
    out = nib.load(tmp_path / "out.nii")
    assert out.header.get_qform(coded=True)[1] == 0 and out.header.get_sform(coded=True)[1] == 2
    np.testing.assert_allclose(out.header.get_sform(), upscaled_affine(shifted_rotated(scanner_affine()), FACTORS),
                               atol=1e-4)
    np.testing.assert_allclose(out.header["pixdim"][1:4], (0.6, 0.6, 3.0), atol=1e-5)  # the sform's voxels


@pytest.mark.parametrize("units", [("mm", "msec"), ("unknown", "unknown"), ("micron", "usec"), ("mm", "hz")])
def test_xyzt_units_are_written_back_as_read(cli, tmp_path, units):
    img = nib.Nifti1Image(np.random.default_rng(0).random(SHAPE).astype(np.float32) + 1, scanner_affine())
    img.header.set_xyzt_units(*units)
    nib.save(img, tmp_path / "in.nii")
    code, _, err = cli("upscale", tmp_path / "in.nii", tmp_path / "out.nii", "--method", "bicubic")
    assert code == 0, err
    out = nib.load(tmp_path / "out.nii")
    assert out.header["xyzt_units"] == img.header["xyzt_units"] and out.header.get_xyzt_units() == units
