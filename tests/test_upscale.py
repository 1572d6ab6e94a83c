"""Volume upscaling on real scans: geometry, intensities, a trained checkpoint, CLI errors."""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import zoom

from mri_sr.checkpoint import save_checkpoint
from mri_sr.config import validate_config
from mri_sr.data.manifest import load_split
from mri_sr.data.degradation import Bicubic, Degradation, KSpace
from mri_sr.data.normalize import Normalisation, fit_percentiles
from mri_sr.data.prepare import prepare
from mri_sr.io import Volume, load_volume, save_nifti
from mri_sr.metrics import psnr
from mri_sr.nets import build_network
from mri_sr.resample import kspace_truncate, kspace_zero_fill
from mri_sr.geometry import default_axis, upscaled_affine
from mri_sr.upscale import UpscaleOptions, bicubic, load_upscaler, upscale_volume, upscale_volume_orthogonal

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SCALE = 2
BLUR_SIGMA = 1.0  # HR pixels: the degradation the fixture's model learns to undo
MICRO_SPEC = {"type": "srresnet", "num_feat": 16, "num_block": 2, "scale": SCALE, "in_channels": 1, "image_skip": True}


def fov_corners(affine: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """World (RAS mm) coordinates of the 8 outer corners of the voxel grid: indices -0.5 and n-0.5."""
    corners = np.array(list(itertools.product(*[(-0.5, n - 0.5) for n in shape[:3]])))
    return corners @ affine[:3, :3].T + affine[:3, 3]


def assert_same_place(out_path: Path, original: Volume, factors: tuple[int, int, int]) -> nib.Nifti1Image:
    """The output NIfTI reopens with the upscaled shape and spacing, same codes and field of view."""
    img = nib.load(str(out_path))
    expected_shape = tuple(n * f for n, f in zip(original.data.shape, factors))
    assert img.shape == expected_shape
    spacing = np.linalg.norm(img.affine[:3, :3], axis=0)
    np.testing.assert_allclose(spacing, np.array(original.spacing) / factors, rtol=1e-6)
    assert nib.aff2axcodes(img.affine) == tuple(original.orientation)
    np.testing.assert_allclose(fov_corners(img.affine, img.shape), fov_corners(original.affine, original.data.shape),
                               atol=1e-3)
    return img


def pil_bicubic(plane: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pillow's bicubic resize of a float32 plane to ``shape`` (Keys kernel a = -0.5, pixel-area alignment)."""
    return np.asarray(Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32)).resize(
        (shape[1], shape[0]), Image.Resampling.BICUBIC))


@pytest.fixture(scope="module")
def mni() -> Volume:
    return load_volume("builtin:mni152")


# ----------------------------------------------------------------------------------------- geometry

def test_upscaled_affine_keeps_the_field_of_view_of_an_oblique_grid():
    rng = np.random.default_rng(0)
    rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([0.9, 1.3, 4.0])
    affine[:3, 3] = [-80.0, 12.5, 33.0]
    out = upscaled_affine(affine, (3, 3, 1))
    np.testing.assert_allclose(fov_corners(out, (30, 45, 7)), fov_corners(affine, (10, 15, 7)), atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(out[:3, :3], axis=0), [0.3, 1.3 / 3, 4.0])
    # Output voxel 0 is centred a third of an input voxel before input voxel 0's centre.
    np.testing.assert_allclose(out @ [0, 0, 0, 1], affine @ [-1 / 3, -1 / 3, 0, 1])


def test_default_axis_is_the_largest_spacing_last_on_ties():
    assert default_axis((1.0, 1.0, 1.0)) == 2
    assert default_axis((1.0000000231, 1.0000000166, 0.9999991585)) == 2  # the Philips MPRAGE
    assert default_axis((3.0, 1.0, 1.0)) == 0
    assert default_axis((3.75, 3.75, 8.0)) == 2
    assert default_axis((1.76, 1.76, 0.88)) == 1


# ---------------------------------------------------------------------------------- bicubic, real data

def test_full_mni_template_bicubic_matches_reference_resampling(cli, mni, tmp_path):
    out = tmp_path / "mni_x2.nii"
    code, _, err = cli("upscale", "builtin:mni152", out, "--method", "bicubic", "--batch-size", "32")
    assert code == 0, err
    img = assert_same_place(out, mni, (2, 2, 1))
    assert img.shape == (394, 466, 189)
    assert img.header.get_xyzt_units()[0] == "mm"
    result = np.asarray(img.dataobj, dtype=np.float32)
    interior = (slice(4, -4), slice(4, -4))  # 2 LR voxels: where border padding conventions differ
    # Pillow's bicubic uses the same Keys cubic (a = -0.5) and pixel-area alignment as MATLAB, but
    # clamps at the image border instead of mirroring: inside, only float rounding differs.
    worst = 0.0
    for k in range(0, 189, 4):
        ref = pil_bicubic(mni.data[:, :, k], (394, 466))
        worst = max(worst, float(np.abs(result[:, :, k] - ref)[interior].max()))
    assert worst < 1e-5  # template intensities span [0, 1]
    # scipy's cubic B-spline interpolation is a different kernel with the same grid alignment
    # (grid_mode=True: field-of-view edges coincide). The kernels differ only where the image has
    # structure at the voxel scale (edges of the brain and the sulci): agreement within 1 % of the
    # range on average, a few % at sharp edges. A half-voxel shift would move the mean error > 1 %.
    slab = mni.data[:, :, 60:130:10].astype(np.float64)
    ref = zoom(slab, (2, 2, 1), order=3, grid_mode=True, mode="grid-mirror")
    error = np.abs(result[:, :, 60:130:10] - ref)[interior]
    assert error.mean() < 2e-3 and error.max() < 0.08
    shifted = zoom(slab, (2, 2, 1), order=3, grid_mode=False, mode="mirror")
    assert np.abs(result[:, :, 60:130:10] - shifted)[interior].mean() > 2 * error.mean()


def test_dicom_mprage_folder_keeps_orientation_and_field_of_view(cli, shared_data, tmp_path):
    folder = shared_data / "mri" / "dicom" / "philips_t1_mprage_sag"
    out = tmp_path / "mprage_x2.nii"
    code, _, err = cli("upscale", folder, out, "--method", "bicubic", "--batch-size", "16")
    assert code == 0, err
    original = load_volume(folder)
    assert original.orientation == "PIR" and original.data.shape == (256, 256, 170)
    img = assert_same_place(out, original, (2, 2, 1))  # sagittal slices (axis 2, "R") are kept
    result = np.asarray(img.dataobj, dtype=np.float32)
    # Same units: intensities of a mid slice agree with the input's (Philips scaled floats).
    k = 85
    ref = pil_bicubic(original.data[:, :, k], (512, 512))
    np.testing.assert_allclose(result[4:-4, 4:-4, k], ref[4:-4, 4:-4], atol=1e-4 * float(original.data.max()))


def test_fuse_orthogonal_upscales_all_three_axes(mni, tmp_path):
    crop = Volume(np.ascontiguousarray(mni.data[70:102, 90:122, 70:94]), mni.affine.copy(), "crop")
    out = upscale_volume_orthogonal(crop, bicubic(2), scale=2, progress=False)
    save_nifti(out, tmp_path / "fused.nii.gz")
    assert_same_place(tmp_path / "fused.nii.gz", crop, (2, 2, 2))
    # With bicubic in both passes each pass is the separable tricubic resize, so their mean is too:
    # reference = Pillow in-plane, then Pillow along the slice axis.
    inplane = np.stack([pil_bicubic(crop.data[:, :, k], (64, 64)) for k in range(24)], axis=2)
    ref = np.stack([pil_bicubic(inplane[i], (64, 48)) for i in range(64)], axis=0)
    np.testing.assert_allclose(out.data[4:-4, 4:-4, 4:-4], ref[4:-4, 4:-4, 4:-4], atol=1e-5)


# ---------------------------------------------------------------------------- trained checkpoint

def train_micro_generator(prepared: Path, checkpoint: Path, steps: int = 300) -> None:
    """Train a micro SRResNet with the training engine for a few hundred iterations; copy its
    final generator checkpoint to ``checkpoint``."""
    from mri_sr.train import train
    from mri_sr.train.config import validate_model_config

    net_spec = {k: v for k, v in MICRO_SPEC.items() if k not in ("scale", "in_channels")}
    config = validate_model_config({
        "model": "srresnet", "method": "psnr", "networks": {"net_g": net_spec},
        # The prepared pairs as they are: the model is to learn this one blur, not the randomised ones.
        "train": {"iterations": steps, "batch_size": 8, "lr_patch_size": 24, "learning_rate": 1e-3,
                  "num_workers": 0, "augmentation": None, "random_degradation": None},
        "losses": {"weights": {"pixel": 1.0}}, "validation": {"every": steps}, "checkpoint_every": steps,
        "log_every": 50,
    }, name="micro srresnet")
    # One thread: batches of 8 small patches gain nothing from more, and on a busy machine OpenMP
    # threads waiting for each other made the same 300 steps ~10x slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = train(config, prepared, checkpoint.parent / "run", device="cpu")
    finally:
        torch.set_num_threads(threads)
    shutil.copy(result.final, checkpoint)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """A micro generator trained on axial slices of a crop of chris_t1, with its held-out slab.

    Returns the checkpoint path, the HR crop (Volume, scanner units), the prepared normalisation
    and the indices of the test slab (never trained on).
    """
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    folder = tmp_path_factory.mktemp("trained")
    scan = load_volume(SHARED_DATA / "mri" / "nifti" / "chris_t1.nii.gz")
    corner = np.array([30, 60, 70])
    hr = np.ascontiguousarray(scan.data[30:158, 60:188, 70:130])  # 128 x 128 x 60 voxels, RAS, 0.88 mm
    affine = scan.affine.copy()
    affine[:3, 3] = scan.affine[:3, :3] @ corner + scan.affine[:3, 3]
    save_nifti(Volume(hr, affine, "chris_t1 crop"), folder / "crop.nii.gz")
    config = validate_config({"seed": 0, "data": {
        "sources": [{"path": str(folder / "crop.nii.gz")}], "hr_patch_size": 32,
        "degradation": {"kind": "bicubic", "blur_sigma": BLUR_SIGMA}, "split": {"slab_gap": 2}}})
    prepare(config, SCALE, folder / "prepared")
    train_micro_generator(folder / "prepared", folder / "micro.pt")
    test_rows = [item["meta"] for item in load_split(folder / "prepared", "test")]
    norm = Normalisation(float(test_rows[0]["norm_low"]), float(test_rows[0]["norm_high"]), 0.5, 99.5)
    return {"checkpoint": folder / "micro.pt", "hr": Volume(hr, affine, "chris_t1 crop"), "norm": norm,
            "test_slices": [int(r["slice_index"]) for r in test_rows]}


def degraded_copy(hr: Volume, norm: Normalisation, degradation: Degradation | None = None) -> Volume:
    """The LR scan a scanner would give: each axial slice blurred and downscaled as in training
    (or by ``degradation``), in scanner units, on a grid of twice the in-plane voxel size covering
    the same field of view."""
    degradation = degradation or Bicubic(SCALE, BLUR_SIGMA, 0.0)
    slices = [norm.invert(degradation(norm.apply(hr.data[:, :, k]), np.random.default_rng(k)))
              for k in range(hr.data.shape[2])]
    # LR voxel i is centred where HR index 2 i + 0.5 is (the two HR voxels it covers).
    lr_index_to_hr = np.array([[2, 0, 0, 0.5], [0, 2, 0, 0.5], [0, 0, 1, 0], [0, 0, 0, 1.0]])
    return Volume(np.stack(slices, axis=2), hr.affine @ lr_index_to_hr, "degraded")


def test_trained_checkpoint_beats_bicubic_on_a_held_out_slab(trained):
    hr, norm = trained["hr"], trained["norm"]
    lr = degraded_copy(hr, norm)
    net = upscale_volume(lr, build_and_load(trained["checkpoint"]), axis=2, percentiles=(0.5, 99.5), progress=False)
    cubic = upscale_volume(lr, bicubic(SCALE), scale=SCALE, axis=2, progress=False)
    # Back on the HR grid: same shape, and the affine the HR crop had.
    assert net.data.shape == hr.data.shape
    np.testing.assert_allclose(net.affine, hr.affine, atol=1e-6)
    data_range = float(hr.data.max() - hr.data.min())
    scores = {name: np.mean([psnr(vol.data[:, :, k], hr.data[:, :, k], data_range, crop_border=SCALE)
                             for k in trained["test_slices"]])
              for name, vol in (("net", net), ("bicubic", cubic))}
    # Measured: 29.6 dB against 27.4 dB for bicubic (the model learnt to undo the blur).
    assert scores["net"] > scores["bicubic"] + 1.0, scores
    # Original units: the foreground median is kept within a few percent.
    mask = hr.data > norm.low + 0.2 * (norm.high - norm.low)
    assert abs(np.median(net.data[mask]) / np.median(hr.data[mask]) - 1) < 0.05


def test_self_ensemble_keeps_the_geometry_and_the_gain_over_bicubic(trained):
    hr, norm, test = trained["hr"], trained["norm"], trained["test_slices"]
    lr = degraded_copy(hr, norm)
    lr = Volume(lr.data[:, :, test], lr.affine, "held-out slab")  # the slab's own grid: z offset is moot here
    outputs = {ensemble: upscale_volume(lr, build_and_load(trained["checkpoint"], self_ensemble=ensemble), axis=2,
                                        percentiles=(0.5, 99.5), progress=False) for ensemble in (False, True)}
    cubic = upscale_volume(lr, bicubic(SCALE), scale=SCALE, axis=2, progress=False)
    np.testing.assert_allclose(outputs[True].affine, outputs[False].affine, atol=1e-9)
    data_range = float(hr.data.max() - hr.data.min())
    scores = {name: np.mean([psnr(vol.data[:, :, i], hr.data[:, :, k], data_range, crop_border=SCALE)
                             for i, k in enumerate(test)])
              for name, vol in (("plain", outputs[False]), ("ensemble", outputs[True]), ("bicubic", cubic))}
    assert not np.array_equal(outputs[True].data, outputs[False].data)
    # Averaging four views of a trained model may not lose what one view gained over bicubic.
    assert scores["ensemble"] > scores["bicubic"] + 1.0 and scores["ensemble"] > scores["plain"] - 0.1, scores


def test_kspace_checkpoint_output_keeps_the_scans_own_kspace(cli, trained, tmp_path):
    """A generator trained on k-space-truncated LR: its output is projected onto the images whose
    central k-space agrees with the scan up to the training noise level (an untrained network here,
    whose raw output is far from the scan, so the projection has work to do)."""
    hr, norm = trained["hr"], trained["norm"]
    hr = Volume(hr.data[:, :, 20:32], hr.affine, "slab")
    lr = degraded_copy(hr, norm, KSpace(SCALE, 0.0, 0.01))
    save_nifti(lr, tmp_path / "lr.nii.gz")
    torch.manual_seed(0)
    spec = {**MICRO_SPEC, "image_skip": False}  # no interpolation to fall back on: far from the scan
    net = build_network(spec)
    save_checkpoint({"model": "srresnet", "scale": SCALE, "in_channels": 1, "net_g_spec": spec,
                     "nets": {"net_g": net.state_dict()}, "normalisation": {"low_percentile": 0.5, "high_percentile": 99.5},
                     "degradation": {"kind": "kspace", "scale": SCALE, "blur_sigma": 0.0, "noise_sigma": 0.01},
                     "iteration": 0, "config": {}}, tmp_path / "kspace.pt")
    outputs = {}
    for flags in ((), ("--no-data-consistency",)):
        out = tmp_path / f"out{len(flags)}.nii.gz"
        code, _, err = cli("upscale", tmp_path / "lr.nii.gz", out, "--checkpoint", tmp_path / "kspace.pt",
                           "--axis", "2", "--device", "cpu", *flags)
        assert code == 0, err
        outputs[flags] = np.asarray(nib.load(str(out)).dataobj, dtype=np.float64)
    fitted = fit_percentiles(lr.data, 0.5, 99.5, name="lr")
    span = fitted.high - fitted.low

    def disagreement(sr: np.ndarray) -> float:
        """Per-pixel RMS of the zero-filled difference between the scan and the output's central k-space."""
        sr_t = torch.from_numpy(np.moveaxis((sr - fitted.low) / span, 2, 0)[:, None])
        lr_t = torch.from_numpy(np.moveaxis((lr.data - fitted.low) / span, 2, 0)[:, None]).double()
        residual = kspace_zero_fill(lr_t - kspace_truncate(sr_t, SCALE), SCALE)
        return float(residual.flatten(1).norm(dim=1).max() / residual[0].numel() ** 0.5)

    projected, raw = outputs[()], outputs[("--no-data-consistency",)]
    # Measured: 0.0148 against 0.68. The radius is 0.01; clamping to [0, 1] after the projection
    # moves the output a little back out of the ball.
    assert disagreement(projected) < 0.02 and disagreement(raw) > 0.3
    data_range = float(hr.data.max() - hr.data.min())
    scores = {name: np.mean([psnr(vol[:, :, k], hr.data[:, :, k], data_range) for k in range(hr.data.shape[2])])
              for name, vol in (("projected", projected), ("raw", raw))}
    assert scores["projected"] > scores["raw"] + 3, scores


def build_and_load(path: Path, device: str = "cpu", precision: str = "fp32", self_ensemble: bool = False):
    inference, percentiles, projection = load_upscaler(path, UpscaleOptions(device=device, precision=precision,
                                                                            self_ensemble=self_ensemble))
    assert projection is None  # trained on bicubic-blurred LR: no k-space data consistency
    assert percentiles == (0.5, 99.5)
    return inference


def test_intensities_beyond_the_percentiles_keep_their_scanner_values(trained):
    hr = trained["hr"]
    data = hr.data[:, :, 27:33].copy()
    data[60:62, 60:62, 3] = 5000.0  # a tiny, very bright spot (e.g. a vessel or a marker)
    out = upscale_volume(Volume(data, hr.affine, "spot"), build_and_load(trained["checkpoint"]),
                         percentiles=(0.5, 99.5), axis=2, progress=False)
    # Clipped for the network like training, the excess is upscaled by bicubic and added back.
    assert out.data[:, :, 3].max() > 4000.0
    assert out.data[:, :, 2].max() < 300.0  # chris_t1 is 8-bit: other slices stay below 255 + overshoot


def test_cli_with_checkpoint_on_a_4d_dicom_epi(cli, trained, shared_data, tmp_path):
    folder = shared_data / "mri" / "dicom" / "philips_epi_4d_oblique"
    out = tmp_path / "epi_t1_x2.nii.gz"
    code, _, err = cli("upscale", folder, out, "--checkpoint", trained["checkpoint"], "--volume", "1",
                       "--tile", "40", "--overlap", "8", "--device", "cpu")
    assert code == 0, err
    original = load_volume(folder).select(1)
    assert original.orientation == "LPS" and original.data.shape == (64, 64, 9)
    img = assert_same_place(out, original, (2, 2, 1))  # oblique; 3.75 mm -> 1.875 mm in-plane, 8 mm slices
    result = np.asarray(img.dataobj, dtype=np.float32)
    signal = original.data > np.percentile(original.data, 75)
    ratio = np.median(result[::2, ::2][signal]) / np.median(original.data[signal])
    assert 0.8 < ratio < 1.2  # scanner units, not [0, 1]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_autocast_agrees_with_cpu(trained):
    hr, norm = trained["hr"], trained["norm"]
    lr = degraded_copy(hr, norm)
    outputs = {device: upscale_volume(lr, build_and_load(trained["checkpoint"], device, "auto"), axis=2,
                                      percentiles=(0.5, 99.5), progress=False).data for device in ("cpu", "cuda")}
    # bf16/fp16 autocast keeps about 3 significant digits: far below the model's own error.
    data_range = float(hr.data.max() - hr.data.min())
    assert psnr(outputs["cuda"][:, :, 30], outputs["cpu"][:, :, 30], data_range) > 40


# -------------------------------------------------------------------------------------- errors

@pytest.fixture
def small_scan(tmp_path, mni) -> Path:
    path = tmp_path / "in" / "small.nii.gz"
    save_nifti(Volume(np.ascontiguousarray(mni.data[80:112, 100:132, 90:94]), mni.affine, "t"), path)
    return path


def test_missing_checkpoint(cli, small_scan, tmp_path, error_line):
    out = tmp_path / "out"
    error_line(cli("upscale", small_scan, out / "x.nii.gz", "--checkpoint", tmp_path / "nope.pt"),
               "nope.pt", "not found")
    assert not out.exists()


def test_checkpoint_of_wrong_scale_or_channels(cli, small_scan, tmp_path, error_line):
    out = tmp_path / "out"
    out.mkdir()
    rgb_spec = {"type": "srresnet", "num_feat": 4, "num_block": 1, "scale": 2, "in_channels": 3}
    payload = {"model": "srresnet", "iteration": 0, "scale": 2, "in_channels": 3, "net_g_spec": rgb_spec,
               "nets": {"net_g": build_network(rgb_spec).state_dict()},
               "normalisation": {"low_percentile": 0.5, "high_percentile": 99.5}, "config": {}}
    save_checkpoint(payload, tmp_path / "rgb.pt")
    error_line(cli("upscale", small_scan, out / "x.nii", "--checkpoint", tmp_path / "rgb.pt"),
               "rgb.pt", "channels")
    mono_spec = dict(rgb_spec, in_channels=1)
    save_checkpoint(dict(payload, in_channels=1, net_g_spec=mono_spec,
                         nets={"net_g": build_network(mono_spec).state_dict()}), tmp_path / "x2.pt")
    error_line(cli("upscale", small_scan, out / "x.nii", "--checkpoint", tmp_path / "x2.pt",
               "--scale", "4"), "x2.pt", "x2", "--scale 4")
    assert list(out.iterdir()) == []


def test_unwritable_output(cli, small_scan, tmp_path, error_line):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a regular file")
    error_line(cli("upscale", small_scan, blocker / "sub" / "x.nii.gz", "--method", "bicubic"),
               blocker, "cannot write")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "in"]
    error_line(cli("upscale", small_scan, tmp_path / "x.png", "--method", "bicubic"), "x.png", ".nii")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder(cli, small_scan, tmp_path, error_line):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        error_line(cli("upscale", small_scan, locked / "x.nii", "--method", "bicubic"), "locked")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_4d_input_needs_a_volume(cli, shared_data, tmp_path, error_line):
    folder = shared_data / "mri" / "dicom" / "philips_epi_4d_oblique"
    error_line(cli("upscale", folder, tmp_path / "out" / "x.nii.gz", "--method", "bicubic"),
               folder, "--volume")
    assert not (tmp_path / "out").exists()


def test_fuse_orthogonal_needs_an_isotropic_scan(cli, shared_data, tmp_path, error_line):
    folder = shared_data / "mri" / "dicom" / "philips_epi_4d_oblique"
    error_line(cli("upscale", folder, tmp_path / "x.nii", "--method", "bicubic", "--volume", "0",
               "--fuse-orthogonal"), folder, "isotropic")
    assert not (tmp_path / "x.nii").exists()
