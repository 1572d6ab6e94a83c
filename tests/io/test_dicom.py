"""load_dicom against dcm2niix on real series and on synthetic series written with pydicom."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from mri_sr.errors import MriSrError
from mri_sr.io.dicom import load_dicom, series_key
from mri_sr.io.volume import Volume

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mri" / "dicom"
DCM2NIIX = shutil.which("dcm2niix") or str(Path(sys.executable).with_name("dcm2niix"))
PATIENT_FIELDS = ("PatientName", "PatientID", "PatientBirthDate", "InstitutionName", "AccessionNumber")


def _shared(name: str) -> tuple[Path, Path]:
    folder = SHARED / name
    if not folder.is_dir():
        pytest.skip(f"shared DICOM data absent: {folder}")
    return folder, SHARED / f"{name}.nii.gz"


def _canonical(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both array and affine flipped/permuted to the closest RAS layout (nibabel)."""
    image = nib.as_closest_canonical(nib.Nifti1Image(np.asarray(data, dtype=np.float32), affine))
    return np.asarray(image.dataobj), image.affine


def _assert_same_scan(volume: Volume, data: np.ndarray, affine: np.ndarray) -> None:
    """Same voxels at the same RAS+ positions, once both are in canonical orientation."""
    ours, our_affine = _canonical(volume.data, volume.affine)
    theirs, their_affine = _canonical(data, affine)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(our_affine, their_affine, atol=1e-3)
    value_range = float(theirs.max() - theirs.min())
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4 * value_range)


def _assert_no_patient_fields(volume: Volume, dicom_file: Path) -> None:
    header = pydicom.dcmread(dicom_file, stop_before_pixels=True)
    for keyword in PATIENT_FIELDS:
        value = str(header.get(keyword, "")).strip()
        if value:
            assert value not in volume.source, keyword


def _dcm2niix(folder: Path, out_dir: Path) -> nib.Nifti1Image:
    if not Path(DCM2NIIX).exists():
        pytest.skip("dcm2niix binary not installed (pip install dcm2niix)")
    out_dir.mkdir()
    subprocess.run([DCM2NIIX, "-z", "n", "-b", "n", "-f", "out", "-o", str(out_dir), str(folder)], check=True,
                   capture_output=True)
    outputs = sorted(out_dir.glob("out*.nii"))
    assert len(outputs) == 1, outputs
    return nib.load(outputs[0])


@pytest.fixture(scope="module")
def mprage() -> Volume:
    folder, _ = _shared("philips_t1_mprage_sag")
    return load_dicom(folder)


# ---- real series: dcm2niix references ---------------------------------------------------------


def test_philips_mprage_matches_dcm2niix(mprage: Volume) -> None:
    folder, reference = _shared("philips_t1_mprage_sag")
    ref = nib.load(reference)
    assert mprage.data.dtype == np.float32 and mprage.data.ndim == 3
    # precise-float Philips scaling: the reference stores raw values with scl_slope = 1 / SS
    assert ref.dataobj.slope == pytest.approx(133.88, abs=0.01)
    _assert_same_scan(mprage, ref.get_fdata(dtype=np.float32), ref.affine)
    _assert_no_patient_fields(mprage, next(folder.iterdir()))
    assert "170 files" in mprage.source


def test_philips_epi_4d_matches_dcm2niix() -> None:
    folder, reference = _shared("philips_epi_4d_oblique")
    ref = nib.load(reference)
    volume = load_dicom(folder)
    assert volume.data.shape == (64, 64, 9, 3) == ref.shape
    assert ref.dataobj.slope == pytest.approx(233.42, abs=0.01)
    _assert_same_scan(volume, ref.get_fdata(dtype=np.float32), ref.affine)
    _assert_no_patient_fields(volume, next(folder.iterdir()))
    assert volume.source == "DICOM series 201, Philips MR, 27 files, 9 slices x 3 volumes"


def test_philips_epi_shuffled_file_names_give_same_volume(tmp_path: Path) -> None:
    folder, reference = _shared("philips_epi_4d_oblique")
    files = sorted(folder.iterdir())
    names = [f"img{i:03d}.dcm" for i in range(len(files))]
    random.Random(7).shuffle(names)
    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    for source, name in zip(files, names):
        shutil.copy(source, shuffled / name)
    ref = nib.load(reference)
    volume = load_dicom(shuffled)
    assert volume.data.shape == (64, 64, 9, 3)
    _assert_same_scan(volume, ref.get_fdata(dtype=np.float32), ref.affine)


def test_siemens_enhanced_matches_dcm2niix() -> None:
    folder, reference = _shared("siemens_xa30_t1_enhanced")
    ref = nib.load(reference)
    volume = load_dicom(folder)
    _assert_same_scan(volume, ref.get_fdata(dtype=np.float32), ref.affine)
    single = load_dicom(folder / "0001.dcm")  # the file itself, not its folder
    np.testing.assert_array_equal(single.data, volume.data)
    np.testing.assert_array_equal(single.affine, volume.affine)
    _assert_no_patient_fields(volume, folder / "0001.dcm")
    assert "96 frames" in volume.source


# ---- synthetic series from the MNI template -----------------------------------------------------


def _rotation(axis: list[float], degrees: float) -> np.ndarray:
    """(4, 4) rotation about ``axis`` through the world origin (Rodrigues)."""
    u = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    k = np.array([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]])
    angle = np.deg2rad(degrees)
    rotation = np.eye(4)
    rotation[:3, :3] = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k
    return rotation


def _oriented(stored: np.ndarray, affine: np.ndarray, codes: str) -> tuple[np.ndarray, np.ndarray]:
    """Lay the RAS template out along ``codes`` (DICOM axial LPS, coronal LIP, sagittal PIR)."""
    transform = nib.orientations.ornt_transform(
        nib.orientations.axcodes2ornt(("R", "A", "S")), nib.orientations.axcodes2ornt(tuple(codes))
    )
    data = nib.orientations.apply_orientation(stored, transform)
    return data, affine @ nib.orientations.inv_ornt_aff(transform, stored.shape)


@pytest.mark.parametrize("orientation", ["axial", "coronal", "sagittal", "oblique"])
def test_synthetic_series_matches_dcm2niix_and_truth(orientation, dicom_writer, mni_crop, tmp_path) -> None:
    stored, affine = mni_crop
    codes = {"axial": "LPS", "coronal": "LIP", "sagittal": "PIR", "oblique": "LPS"}[orientation]
    stored, affine = _oriented(stored, affine, codes)
    if orientation == "oblique":  # 20 degrees about a tilted axis: doubly oblique slices
        affine = _rotation([1.0, 0.3, 0.0], 20.0) @ affine
    folder = tmp_path / "dicom"
    dicom_writer.write_series(folder, stored, affine, slope=0.5, intercept=-10.0, seed=3)

    volume = load_dicom(folder)
    truth = stored.astype(np.float64) * 0.5 - 10.0
    _assert_same_scan(volume, truth, affine)
    reference = _dcm2niix(folder, tmp_path / "nifti")
    _assert_same_scan(volume, reference.get_fdata(dtype=np.float32), reference.affine)
    _assert_no_patient_fields(volume, next(folder.iterdir()))


def test_synthetic_4d_orders_time_points_not_instance_numbers(dicom_writer, mni_crop, tmp_path) -> None:
    stored, affine = mni_crop
    series = np.stack([stored, stored[::-1], stored // 2], axis=-1)
    affine = _rotation([0.0, 1.0, 0.0], 15.0) @ affine
    folder = tmp_path / "dicom"
    dicom_writer.write_series(folder, series, affine, seed=5)
    volume = load_dicom(folder)
    assert volume.data.shape == (40, 48, 30, 3)
    _assert_same_scan(volume, series * 0.5 - 10.0, affine)
    reference = _dcm2niix(folder, tmp_path / "nifti")
    _assert_same_scan(volume, reference.get_fdata(dtype=np.float32), reference.affine)


def test_synthetic_enhanced_4d_with_shuffled_frames(dicom_writer, mni_crop, tmp_path) -> None:
    stored, affine = mni_crop
    series = np.stack([stored, stored[:, ::-1], stored // 3], axis=-1)
    affine = _rotation([1.0, 0.0, 0.0], -17.0) @ affine
    path = dicom_writer.write_enhanced(tmp_path / "enhanced.dcm", series, affine, slope=0.5, intercept=-10.0)
    volume = load_dicom(path)
    assert volume.data.shape == (40, 48, 30, 3)
    # dcm2niix does not re-sort shuffled frames of a 4D enhanced file, so compare with the truth
    _assert_same_scan(volume, series * 0.5 - 10.0, affine)
    assert volume.source == "enhanced multi-frame DICOM 1, MriSrTest MR, 1 file, 90 frames, 30 slices x 3 volumes"


# ---- errors: one line naming the folder and the problem ---------------------------------------


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(MriSrError, match=rf"^{re.escape(str(tmp_path))}: folder is empty$"):
        load_dicom(tmp_path)


def test_folder_without_dicom(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a scan\n")
    with pytest.raises(MriSrError, match=rf"^{re.escape(str(tmp_path))}: no DICOM files found$"):
        load_dicom(tmp_path)
    with pytest.raises(MriSrError, match=r"notes\.txt: not a DICOM file$"):
        load_dicom(tmp_path / "notes.txt")


def test_two_series_need_a_choice(dicom_writer, mni_crop, tmp_path) -> None:
    stored, affine = mni_crop
    small = stored[:, :, :6]
    dicom_writer.write_series(tmp_path / "a", small, affine, series_number=3, description="first", seed=1,
                              series_uid="1.2.826.0.1.3680043.99.1")
    dicom_writer.write_series(tmp_path / "b", small[::2, ::2], affine, series_number=7, description="second", seed=2,
                              series_uid="1.2.826.0.1.3680043.99.2")
    (tmp_path / "README").write_text("two series\n")  # skipped silently
    with pytest.raises(MriSrError) as caught:
        load_dicom(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path}: holds 2 series, pick one with --series:")
    assert f"number 3 'first' (6 files, key {series_key('1.2.826.0.1.3680043.99.1')})" in message
    assert f"number 7 'second' (6 files, key {series_key('1.2.826.0.1.3680043.99.2')})" in message

    assert load_dicom(tmp_path, series="3").data.shape == (40, 48, 6)
    assert load_dicom(tmp_path, series=series_key("1.2.826.0.1.3680043.99.2")).data.shape == (20, 24, 6)
    assert load_dicom(tmp_path, series="1.2.826.0.1.3680043.99.2").data.shape == (20, 24, 6)
    with pytest.raises(MriSrError, match=r"matches 2 series"):
        load_dicom(tmp_path, series="1.2.826.0.1.3680043.99")
    with pytest.raises(MriSrError, match=rf"^{re.escape(str(tmp_path))}: no series matches --series 9;"):
        load_dicom(tmp_path, series="9")


def test_slices_of_different_sizes(dicom_writer, mni_crop, tmp_path) -> None:
    stored, affine = mni_crop
    uid = "1.2.826.0.1.3680043.99.5"
    dicom_writer.write_series(tmp_path, stored[:32, :32, :4], affine, series_uid=uid, seed=1)
    (tmp_path / "extra").mkdir()
    dicom_writer.write_series(tmp_path / "extra", stored[:16, :16, 5:6], affine, series_uid=uid, seed=3)
    expected = f"{tmp_path}: slices have different sizes (32x32 and 16x16)"
    with pytest.raises(MriSrError, match=f"^{re.escape(expected)}$"):
        load_dicom(tmp_path)


def test_missing_slice_is_an_error(dicom_writer, mni_crop, tmp_path) -> None:
    stored, affine = mni_crop
    paths = dicom_writer.write_series(tmp_path, stored[:, :, :8], affine, seed=4)
    middle = [p for p in paths if abs(float(pydicom.dcmread(p).ImagePositionPatient[2]) - (affine[2, 3] + 8)) < 1e-3]
    middle[0].unlink()
    with pytest.raises(MriSrError, match=rf"^{re.escape(str(tmp_path))}: slice positions are unevenly spaced"):
        load_dicom(tmp_path)


def test_compressed_transfer_syntaxes_give_identical_voxels(tmp_path: Path) -> None:
    """pydicom's MR_small in four transfer syntaxes (explicit little endian, RLE, JPEG-LS lossless
    and JPEG 2000 lossless: common in PACS exports) loads through the series reader identically."""
    from pydicom.data import get_testdata_file

    from mri_sr.io import load_volume

    volumes = {}
    for name in ("MR_small.dcm", "MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm"):
        folder = tmp_path / name.removesuffix(".dcm")
        folder.mkdir()
        shutil.copy(get_testdata_file(name), folder / "slice.dcm")
        volumes[name] = load_volume(folder)
    reference = volumes.pop("MR_small.dcm")
    stored = pydicom.dcmread(get_testdata_file("MR_small.dcm")).pixel_array
    assert reference.data.shape == (*stored.T.shape, 1) and np.ptp(reference.data) > 0
    for name, volume in volumes.items():
        np.testing.assert_array_equal(volume.data, reference.data, err_msg=name)
        np.testing.assert_array_equal(volume.affine, reference.affine, err_msg=name)


# ------------------------------------------------------------------ issue 25 again: damaged series

def test_a_malformed_rescale_in_one_file_is_named(cli, error_line, dicom_writer, mni_crop, tmp_path) -> None:
    """One file whose RescaleSlope is not a number would otherwise be read unscaled among scaled slices."""
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    stored, affine = mni_crop
    files = dicom_writer.write_series(tmp_path / "series", stored[:, :, :6], affine)
    ds = pydicom.dcmread(files[2])
    ds[0x00281053] = RawDataElement(Tag(0x00281053), "DS", 4, b"abc ", 0, False, True)  # RescaleSlope
    ds.save_as(files[2])
    error_line(cli("info", tmp_path / "series"), files[2].name, "RescaleSlope 'abc' is not a finite number")


def test_an_empty_file_among_dicom_files_is_refused(cli, error_line, dicom_writer, mni_crop, tmp_path) -> None:
    """A 0-byte file may be a slice whose copy failed (an edge slice would go unnoticed); hidden
    empty files and other non-DICOM files are skipped."""
    stored, affine = mni_crop
    dicom_writer.write_series(tmp_path / "series", stored[:, :, :6], affine)
    (tmp_path / "series" / ".keep").touch()
    (tmp_path / "series" / "notes.txt").write_text("scanned on the new coil\n")
    code, out, err = cli("info", tmp_path / "series")
    assert code == 0 and "40x48x6" in out, err
    (tmp_path / "series" / "IM0007").touch()
    error_line(cli("info", tmp_path / "series"), "IM0007", "empty file (0 bytes)")


def test_enhanced_file_missing_a_frames_functional_group(cli, error_line, dicom_writer, mni_crop, tmp_path) -> None:
    """With one per-frame group gone, the groups after it would describe the pixels of the frame before."""
    stored, affine = mni_crop
    path = dicom_writer.write_enhanced(tmp_path / "enhanced.dcm", stored[:, :, :8], affine)
    ds = pydicom.dcmread(path)
    groups = ds.PerFrameFunctionalGroupsSequence
    heights = [float(g.PlanePositionSequence[0].ImagePositionPatient[2]) for g in groups]
    edge = next(i for i in (int(np.argmax(heights)), int(np.argmin(heights))) if i < len(groups) - 1)
    del groups[edge]  # an edge slice (no gap left) in the middle of the sequence: the later groups shift
    ds.save_as(path)
    error_line(cli("info", path), "enhanced.dcm", "NumberOfFrames is 8", "7 frames")


def test_a_duplicated_slice_names_its_files(error_line, cli, dicom_writer, mni_crop, tmp_path) -> None:
    stored, affine = mni_crop
    files = dicom_writer.write_series(tmp_path / "series", stored[:, :, :6], affine)
    shutil.copy(files[4], tmp_path / "series" / "copy of slice")
    error_line(cli("info", tmp_path / "series"), files[4].name, "copy of slice", "holds 2 images", "duplicated")


def test_series_listing_shows_no_uid(cli, error_line, dicom_writer, mni_crop, tmp_path) -> None:
    """Scanner UIDs embed the scanner's serial number and the acquisition date and time (here a
    Siemens-style UID: serial 67093, 2022-07-11 12:08:08); the listing names series by number,
    description and key, and the key selects one."""
    stored, affine = mni_crop
    uid = "1.3.12.2.1107.5.2.43.67093.2022071112080803357602701.0.0.0"
    dicom_writer.write_series(tmp_path / "study", stored[:, :, :4], affine, series_number=5, series_uid=uid)
    dicom_writer.write_series(tmp_path / "study", stored[:, :, :6], affine, series_number=5, seed=1)
    line = error_line(cli("info", tmp_path / "study"), "holds 2 series", series_key(uid))
    assert "67093" not in line and "20220711" not in line and "1.3.12" not in line, line
    code, out, err = cli("info", tmp_path / "study", "--series", series_key(uid))
    assert code == 0 and "40x48x4" in out, err


def test_a_negative_pixel_spacing_is_refused(cli, error_line, dicom_writer, mni_crop, tmp_path) -> None:
    """It would mirror the image in space (an RPS volume read from an RAS series)."""
    stored, affine = mni_crop
    for path in dicom_writer.write_series(tmp_path / "series", stored[:, :, :4], affine):
        ds = pydicom.dcmread(path)
        ds.PixelSpacing = ["-2", "2"]
        ds.save_as(path)
    error_line(cli("info", tmp_path / "series"), "PixelSpacing is -2 x 2 mm", "positive")
