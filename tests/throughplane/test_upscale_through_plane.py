"""``mri-sr throughplane`` end to end on synthetic thick-slice volumes: geometry, units, determinism, bad input."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch

from mri_sr.geometry import upscaled_affine
from mri_sr.io import Volume
from mri_sr.checkpoint import load_checkpoint, load_generator
from mri_sr.data.degradation import SliceProfile, from_dict
from mri_sr.throughplane.apply import upscale_through_plane
from mri_sr.throughplane.selftrain import PairSampler, ThroughPlaneOptions, self_train

MICRO = {"type": "srresnet", "in_channels": 1, "num_feat": 4, "num_block": 1, "image_skip": True, "upscale_axes": "h"}


def _upscale(volume: Volume, **options) -> Volume:
    return upscale_through_plane(volume, ThroughPlaneOptions(model=MICRO, progress=False, **options))


def _thick_volume(spacing=(0.8, 0.8, 3.2), axis=2, shape=(24, 20, 20), flip=True) -> Volume:
    """A smooth blob in scanner units (100 + 900 * blob) on an LPS-like, anisotropic grid."""
    grids = np.meshgrid(*(np.linspace(-1, 1, n) for n in shape), indexing="ij")
    data = 100.0 + 900.0 * np.exp(-sum(g**2 for g in grids) * 2.0)
    affine = np.diag(list(spacing) + [1.0])
    if flip:
        affine[0, 0] = -spacing[0]
        affine[1, 1] = -spacing[1]
    affine[:3, 3] = (12.0, -7.0, 30.0)
    return Volume(data.astype(np.float32), affine, "synthetic")


def _corners(affine: np.ndarray, shape) -> np.ndarray:
    """Outer corners of the field of view (voxel edges, not centres), RAS mm."""
    lows, highs = -0.5 * np.ones(3), np.asarray(shape) - 0.5
    points = np.array([[c[i][0] if c[i][1] else lows[i] for i in range(3)] for c in
                       [[(highs[i], (m >> i) & 1) for i in range(3)] for m in range(8)]])
    return nib.affines.apply_affine(affine, points)


def test_geometry_orientation_and_units():
    volume = _thick_volume()
    result = _upscale(volume, iterations=2)
    assert result.data.shape == (24, 20, 80)
    assert result.data.dtype == np.float32
    np.testing.assert_allclose(result.affine, upscaled_affine(volume.affine, (1, 1, 4)))
    np.testing.assert_allclose(result.spacing, (0.8, 0.8, 0.8), rtol=1e-6)
    assert result.orientation == volume.orientation == "LPS"
    np.testing.assert_allclose(_corners(result.affine, result.data.shape), _corners(volume.affine, volume.data.shape),
                               atol=1e-6)
    # Output voxel j sits at input index (j + 0.5) / 4 - 0.5 along the slice axis.
    centre = nib.affines.apply_affine(result.affine, [0, 0, 5])
    assert centre == pytest.approx(nib.affines.apply_affine(volume.affine, [0, 0, 5.5 / 4 - 0.5]))
    # Same units: thick slices of the result come back to the input (a nearly untrained net is interpolation).
    again = SliceProfile(scale=4).degrade_axis(result.data, 2)
    assert np.abs(again - volume.data).mean() < 0.03 * np.ptp(volume.data)


def test_slice_axis_first_grows_only_that_axis():
    volume = _thick_volume(spacing=(2.0, 1.0, 1.0), shape=(8, 30, 26), flip=False)
    result = _upscale(volume, iterations=1)
    assert result.data.shape == (16, 30, 26)
    np.testing.assert_allclose(result.affine, upscaled_affine(volume.affine, (2, 1, 1)))
    assert result.orientation == "RAS"


def test_same_seed_same_output_other_seed_differs():
    volume = _thick_volume(shape=(20, 18, 8))
    first = _upscale(volume, iterations=3, seed=7)
    second = _upscale(volume, iterations=3, seed=7)
    other = _upscale(volume, iterations=3, seed=8)
    np.testing.assert_array_equal(first.data, second.data)
    assert not np.array_equal(first.data, other.data)


def _save(volume: Volume, path) -> None:
    nib.save(nib.Nifti1Image(volume.data, volume.affine), str(path))


def test_cli_writes_the_upscaled_scan_and_a_reusable_model(cli, tmp_path):
    volume = _thick_volume(shape=(20, 18, 8))
    _save(volume, tmp_path / "thick.nii.gz")
    out, model = tmp_path / "out.nii.gz", tmp_path / "model.pt"
    code, _, err = cli("throughplane", tmp_path / "thick.nii.gz", out, "--model", "srresnet",
                       "--iterations", "2", "--device", "cpu", "--save-model", model)
    assert code == 0, err
    img = nib.load(str(out))
    assert img.shape == (20, 18, 32)
    np.testing.assert_allclose(img.affine, upscaled_affine(volume.affine, (1, 1, 4)), atol=1e-5)
    # The checkpoint is the engine's generator payload: it loads as a generator that lengthens rows by 4.
    generator = load_generator(model)
    assert generator.scale == 4 and generator.in_channels == 1 and generator.percentiles == (0.5, 99.5)
    assert generator.net(torch.rand(1, 1, 5, 7)).shape == (1, 1, 20, 7)
    payload = load_checkpoint(model)
    assert payload["iteration"] == 2 and payload["config"]["train"]["iterations"] == 2
    assert payload["slice_axis"] == 2 and from_dict(payload["degradation"]) == SliceProfile(scale=4, width=4.0)
    again = tmp_path / "again.nii.gz"
    code, _, err = cli("throughplane", tmp_path / "thick.nii.gz", again, "--model", "srresnet",
                       "--iterations", "1", "--init", model, "--device", "cpu")
    assert code == 0, err
    assert nib.load(str(again)).shape == (20, 18, 32)
    # upscale grows both axes of each slice: a one-axis generator is one line, no output
    code, _, err = cli("upscale", tmp_path / "thick.nii.gz", tmp_path / "up.nii.gz", "--checkpoint", model,
                       "--device", "cpu")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "mri-sr throughplane --init" in err
    assert str(model) in err and not (tmp_path / "up.nii.gz").exists()


@pytest.mark.parametrize(("spacing", "extra", "words"), [
    ((1.0, 1.0, 1.0), [], "isotropic"),
    ((1.0, 1.0, 6.0), [], "factor 6 is not supported"),
    ((1.0, 1.0, 3.5), [], "not an integer factor"),
    ((1.0, 1.0, 4.0), ["--minutes", "0"], "--minutes must be positive"),
    ((1.0, 1.0, 4.0), ["--batch-size", "0"], "--batch-size must be at least 1"),
    ((1.0, 1.0, 4.0), ["--model", "unet"], "--model unet: unknown"),
])
def test_cli_bad_geometry_one_line_no_output(cli, tmp_path, spacing, extra, words):
    _save(_thick_volume(spacing=spacing, shape=(12, 12, 6)), tmp_path / "scan.nii.gz")
    out = tmp_path / "out.nii.gz"
    code, _, err = cli("throughplane", tmp_path / "scan.nii.gz", out, "--iterations", "1", *extra)
    assert code == 1
    assert words in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "scan.nii.gz"]


@pytest.mark.parametrize("extra", [["--method", "bicubic"], ["--self-ensemble"], ["--checkpoint", "x.pt"]])
def test_throughplane_takes_no_in_plane_options(tmp_path, extra):
    from mri_sr.cli import build_parser

    with pytest.raises(SystemExit) as stop:  # argparse: unrecognised arguments, exit status 2
        build_parser().parse_args(["throughplane", str(tmp_path / "in.nii.gz"), str(tmp_path / "out.nii.gz"), *extra])
    assert stop.value.code == 2


@pytest.mark.parametrize("extra", [[], ["--minutes", "1", "--iterations", "2"], ["--method", "bicubic"]])
def test_old_upscale_through_plane_points_at_the_new_command(cli, tmp_path, error_line, extra):
    _save(_thick_volume(shape=(12, 12, 6)), tmp_path / "scan.nii.gz")
    out = tmp_path / "out.nii.gz"
    error_line(cli("upscale", tmp_path / "scan.nii.gz", out, "--through-plane", *extra),
               "upscale --through-plane is now its own command: mri-sr throughplane IN OUT")
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "scan.nii.gz"]


def test_cli_4d_needs_volume(cli, tmp_path):
    volume = _thick_volume(shape=(12, 12, 6))
    four = np.stack([volume.data, volume.data], axis=-1)
    nib.save(nib.Nifti1Image(four, volume.affine), str(tmp_path / "scan.nii.gz"))
    code, _, err = cli("throughplane", tmp_path / "scan.nii.gz", tmp_path / "out.nii.gz")
    assert code == 1 and "--volume" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("throughplane", tmp_path / "scan.nii.gz", tmp_path / "out.nii.gz",
                       "--volume", "1", "--model", "srresnet", "--iterations", "1", "--device", "cpu")
    assert code == 0, err


def test_time_budget_bounds_training_and_keeps_thread_count():
    threads = torch.get_num_threads()
    sampler = PairSampler(np.random.default_rng(0).random((4, 16, 16)).astype(np.float32), SliceProfile(scale=2))
    run = self_train(sampler, ThroughPlaneOptions(model=MICRO, minutes=0.02, progress=False))
    assert run.iterations >= 1 and run.seconds < 1.2 + 30.0  # the step running at the deadline ends
    assert run.config["train"]["iterations"] == run.iterations and run.loss is not None
    torch.set_num_threads(threads)
    result = _upscale(_thick_volume(shape=(20, 18, 8)), minutes=0.02)
    assert "self-trained" in result.source and result.data.shape == (20, 18, 32)
    assert torch.get_num_threads() == threads


def test_real_thick_slice_dicom_series(cli, tmp_path, shared_data):
    """Philips EPI: 3.75 mm in plane, 8 mm slice spacing, 6 mm SliceThickness (a gap); oblique, 4D."""
    from mri_sr.io import load_volume

    folder = shared_data / "mri" / "dicom" / "philips_epi_4d_oblique"
    code, _, err = cli("throughplane", folder, tmp_path / "out.nii.gz", "--volume", "0")
    assert code == 1 and "not an integer factor; give --scale" in err
    code, _, err = cli("throughplane", folder, tmp_path / "out.nii.gz", "--volume", "0", "--scale", "2",
                       "--iterations", "2", "--device", "cpu")
    assert code == 0, err
    scan, result = load_volume(folder).select(0), load_volume(tmp_path / "out.nii.gz")
    assert result.data.shape == (64, 64, 18) and result.orientation == scan.orientation
    np.testing.assert_allclose(result.affine, upscaled_affine(scan.affine, (1, 1, 2)), atol=1e-4)
    assert result.data.max() == pytest.approx(scan.data.max(), rel=0.2)  # same intensity units
