from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import binary_dilation
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from mri_sr.config import validate_config
from mri_sr.data.degradation import DEGRADATIONS
from mri_sr.data.prepare import prepare
from mri_sr.evaluate import evaluate
from mri_sr.evaluate.consistency import mri_lr_consistency
from mri_sr.io import Volume, save_nifti
from mri_sr.resample import imresize

SUBJECT = "patient-jane-doe"


def read_test_split(prepared):
    """(lr, hr, slice_index) of the test split, read straight from the shards and the manifest."""
    with open(prepared / "manifest.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "test"]
    out = []
    for r in rows:
        lr = np.load(prepared / "shards" / f"{r['shard']}-lr.npy")[int(r["row"])]
        hr = np.load(prepared / "shards" / f"{r['shard']}-hr.npy")[int(r["row"])]
        out.append((lr, hr, int(r["slice_index"])))
    return sorted(out, key=lambda t: t[2])


def test_bicubic_equals_an_independent_computation(cli, prepared_x2, tmp_path):
    out = tmp_path / "bicubic.json"
    code, _, err = cli("evaluate", "--method", "bicubic", "--dataset", prepared_x2, "--scale", 2, "--out", out,
                       "--mask")
    assert code == 0, err
    result = json.loads(out.read_text())
    slices = read_test_split(prepared_x2)
    assert len(result["images"]) == len(slices) >= 5
    assert (result["kind"], result["dataset"], result["scale"]) == ("mri", "mri:x2", 2)

    psnrs, ssims, consistencies, sq_errors = [], [], [], []
    for lr, hr, _ in slices:
        sr = np.clip(imresize(lr.astype(np.float64), 2.0), 0, 1)
        psnrs.append(peak_signal_noise_ratio(hr.astype(np.float64), sr, data_range=1))
        ssims.append(structural_similarity(hr.astype(np.float64), sr, data_range=1, gaussian_weights=True, sigma=1.5,
                                           use_sample_covariance=False))
        again = np.clip(imresize(sr, 0.5), 0, 1).astype(np.float32)
        consistencies.append(peak_signal_noise_ratio(lr.astype(np.float64), again.astype(np.float64), data_range=1))
        sq_errors.append((sr - hr) ** 2)
    images = result["images"]
    assert [i["name"] for i in images] == [f"vol00_s{s:03d}" for _, _, s in slices]
    np.testing.assert_allclose([i["psnr"] for i in images], psnrs, atol=1e-5)
    np.testing.assert_allclose([i["ssim"] for i in images], ssims, atol=1e-6)
    np.testing.assert_allclose([i["lr_consistency_psnr"] for i in images], consistencies, atol=1e-5)
    assert result["psnr"] == pytest.approx(np.mean(psnrs), abs=1e-5)
    assert result["psnr_std"] == pytest.approx(np.std(psnrs), abs=1e-5)
    assert result["ssim"] == pytest.approx(np.mean(ssims), abs=1e-6)

    (volume,) = result["volumes"]
    assert volume["slices"] == len(slices) and volume["subject"] == SUBJECT
    assert volume["psnr"] == pytest.approx(10 * math.log10(1 / np.mean(sq_errors)), abs=1e-5)
    assert volume["ssim"] == pytest.approx(np.mean(ssims), abs=1e-6)

    # Foreground mask: HR > 0.05 dilated by 3 pixels; PSNR over the mask's pixels.
    lr, hr, _ = slices[0]
    sr = np.clip(imresize(lr.astype(np.float64), 2.0), 0, 1)
    mask = binary_dilation(hr > 0.05, structure=np.ones((3, 3), bool), iterations=3)
    expected = 10 * math.log10(1 / np.mean((sr[mask] - hr[mask]) ** 2))
    assert images[0]["masked_psnr"] == pytest.approx(expected, abs=1e-5)
    assert set(result["masked"]) >= {"psnr", "psnr_std", "ssim", "ssim_std", "volume_psnr", "definition"}
    assert SUBJECT not in json.dumps(images)


def test_checkpoint_method_writes_metrics_and_example_images(cli, prepared_x2, make_checkpoint, tmp_path):
    out = tmp_path / "metrics" / "srresnet.json"
    code, _, err = cli("evaluate", "--method", make_checkpoint(2), "--dataset", prepared_x2, "--scale", 2,
                       "--out", out, "--device", "cpu", "--images", tmp_path / "metrics" / "srresnet_images")
    assert code == 0, err
    result = json.loads(out.read_text())
    assert result["method"] == "srresnet" and result["device"] == "cpu"
    assert set(result) >= {"method", "dataset", "scale", "psnr", "ssim", "lr_consistency_psnr", "images",
                           "psnr_std", "ssim_std", "volumes", "seconds", "kind"}
    assert len(result["images"]) == len(read_test_split(prepared_x2))
    assert all(set(i) >= {"name", "psnr", "ssim", "lr_consistency_psnr"} for i in result["images"])
    assert all(math.isfinite(i["psnr"]) and -1 <= i["ssim"] <= 1 for i in result["images"])

    folder = out.parent / result["images_dir"]
    index = json.loads((folder / "index.json").read_text())
    assert (index["method"], index["dataset"], index["kind"]) == ("srresnet", "mri:x2", "mri")
    assert len(index["images"]) == 3
    for entry in index["images"]:
        lr, sr, hr = (np.asarray(Image.open(folder / entry[k])) for k in ("lr", "sr", "hr"))
        assert lr.dtype == np.uint8 and sr.shape == hr.shape == (lr.shape[0] * 2, lr.shape[1] * 2)
        assert np.load(folder / entry["lr_error"]).shape == lr.shape
    # The same example slices whatever the method: chosen from HR alone.
    evaluate("bicubic", str(prepared_x2), 2, str(tmp_path / "b.json"), images_dir=str(tmp_path / "b_images"))
    bicubic_index = json.loads((tmp_path / "b_images" / "index.json").read_text())
    assert [e["name"] for e in bicubic_index["images"]] == [e["name"] for e in index["images"]]


@pytest.mark.parametrize(("scale", "in_channels", "words"), [(4, 1, "x4"), (2, 3, "3 channels")])
def test_mismatched_checkpoint_is_a_one_line_error(cli, prepared_x2, make_checkpoint, tmp_path, scale, in_channels,
                                                   words):
    checkpoint = make_checkpoint(scale, in_channels)
    code, _, err = cli("evaluate", "--method", checkpoint, "--dataset", prepared_x2, "--scale", 2,
                       "--out", tmp_path / "m.json")
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and str(checkpoint) in err and words in err
    assert not (tmp_path / "m.json").exists()


def test_scale_other_than_the_prepared_one_is_an_error(cli, prepared_x2, tmp_path):
    code, _, err = cli("evaluate", "--method", "bicubic", "--dataset", prepared_x2, "--scale", 4,
                       "--out", tmp_path / "m.json")
    assert code == 1 and "manifest.csv" in err and "x2" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("kind", sorted(DEGRADATIONS))
def test_mri_lr_consistency_is_perfect_for_a_degradation_preimage(kind):
    rng = np.random.default_rng(0)
    sr = rng.random((2, 32, 40)).astype(np.float32)
    degradation = DEGRADATIONS[kind](4)
    lr = np.stack([degradation(s, rng) for s in sr])
    psnr_db, error = mri_lr_consistency(sr, lr, degradation)
    width = 10 if degradation.in_plane else 40  # a one-axis kind keeps the columns
    assert np.isinf(psnr_db).all() and error.shape == (2, 8, width) and not error.any()


def test_generators_are_scored_after_kspace_data_consistency(cli, mni_crop, make_checkpoint, tmp_path):
    stored, affine = mni_crop
    save_nifti(Volume(stored.astype(np.float32), affine, "mni crop"), tmp_path / "scan.nii.gz")
    config = validate_config({"data": {
        "sources": [{"path": str(tmp_path / "scan.nii.gz")}], "hr_patch_size": 16,
        "degradation": {"kind": "kspace", "noise_sigma": 0.02}, "split": {"test": 0.3, "slab_gap": 1}}})
    prepare(config, 2, tmp_path / "x2")
    results = {}
    for flags in ((), ("--no-data-consistency",)):
        out = tmp_path / f"metrics{len(flags)}.json"
        code, _, err = cli("evaluate", "--method", make_checkpoint(2), "--dataset", tmp_path / "x2", "--scale", 2,
                           "--out", out, "--device", "cpu", *flags)
        assert code == 0, err
        results[flags] = json.loads(out.read_text())
    projected, raw = results[()], results[("--no-data-consistency",)]
    assert projected["data_consistency"] == {"noise_sigma": 0.02} and raw["data_consistency"] is None
    # An untrained generator's output is far from its LR: the projection brings it near the LR's
    # content and much nearer the HR.
    assert projected["lr_consistency_psnr"] > raw["lr_consistency_psnr"] + 5
    assert projected["psnr"] > raw["psnr"] + 3
    bicubic = evaluate("bicubic", str(tmp_path / "x2"), 2, str(tmp_path / "bicubic.json"))
    assert bicubic["data_consistency"] is None


def test_self_ensemble_is_recorded_and_changes_a_generators_output(cli, prepared_x2, make_checkpoint, tmp_path):
    results = {}
    for flags in ((), ("--self-ensemble",)):
        out = tmp_path / f"metrics{len(flags)}.json"
        code, _, err = cli("evaluate", "--method", make_checkpoint(2), "--dataset", prepared_x2, "--scale", 2,
                           "--out", out, "--device", "cpu", *flags)
        assert code == 0, err
        results[flags] = json.loads(out.read_text())
    plain, ensembled = results[()], results[("--self-ensemble",)]
    assert plain["self_ensemble"] is False and ensembled["self_ensemble"] is True
    assert all(math.isfinite(i["psnr"]) for i in ensembled["images"])
    assert ensembled["psnr"] != plain["psnr"]  # an untrained generator does not commute with quarter turns
    bicubic = evaluate("bicubic", str(prepared_x2), 2, str(tmp_path / "bicubic.json"), self_ensemble=True)
    assert bicubic["self_ensemble"] is False
