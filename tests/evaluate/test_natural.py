from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from mri_sr.evaluate import evaluate
from mri_sr.evaluate.consistency import natural_lr_consistency
from mri_sr.evaluate.natural import BUILTIN_SKIMAGE
from mri_sr.resample import imresize

# Published bicubic results on Set5 (BT.601 Y, border of S pixels cropped, SSIM 11x11 Gaussian).
PUBLISHED = {2: (33.66, 0.9299), 4: (28.42, 0.8104)}


def y_channel(rgb: np.ndarray) -> np.ndarray:
    """MATLAB rgb2ycbcr luma, written out independently of mri_sr.metrics."""
    rgb = rgb.astype(np.float64)
    return 16.0 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0


@pytest.mark.parametrize("scale", [2, 4])
def test_set5_bicubic_matches_published_tables(cli, shared_data, tmp_path, scale):
    out = tmp_path / "metrics.json"
    code, _, err = cli("evaluate", "--method", "bicubic", "--dataset", shared_data / "natural" / "Set5",
                       "--scale", scale, "--out", out)
    assert code == 0, err
    result = json.loads(out.read_text())
    assert (result["method"], result["dataset"], result["kind"]) == ("bicubic", "Set5", "natural")
    assert result["scale"] == scale
    assert result["psnr"] == pytest.approx(PUBLISHED[scale][0], abs=0.02)
    assert result["ssim"] == pytest.approx(PUBLISHED[scale][1], abs=0.002)
    assert sorted(i["name"] for i in result["images"]) == ["baby", "bird", "butterfly", "head", "woman"]
    assert {i["lr_source"] for i in result["images"]} == {"file"}
    assert result["psnr"] == pytest.approx(np.mean([i["psnr"] for i in result["images"]]), abs=1e-12)
    assert result["lr_consistency_psnr"] > 30


def test_set5_without_lr_folder_gives_the_same_figures(shared_data, tmp_path):
    set5 = shared_data / "natural" / "Set5"
    shutil.copytree(set5 / "HR", tmp_path / "Set5" / "HR")
    made = evaluate("bicubic", str(tmp_path / "Set5"), 4, str(tmp_path / "made.json"))
    read = evaluate("bicubic", str(set5), 4, str(tmp_path / "read.json"))
    assert {i["lr_source"] for i in made["images"]} == {"matlab_bicubic"}
    # MATLAB-compatible uint8 bicubic reproduces the distributed LR images bit for bit.
    assert [i["psnr"] for i in made["images"]] == [i["psnr"] for i in read["images"]]
    assert made["psnr"] == pytest.approx(PUBLISHED[4][0], abs=0.02)
    assert made["ssim"] == pytest.approx(PUBLISHED[4][1], abs=0.002)


def test_builtin_skimage_set_with_an_independent_nearest_computation(tmp_path):
    import skimage.data

    result = evaluate("nearest", "builtin:skimage", 4, str(tmp_path / "nearest.json"))
    assert result["dataset"] == "skimage"
    assert [i["name"] for i in result["images"]] == list(BUILTIN_SKIMAGE)
    hr = skimage.data.chelsea()[:300, :448]  # 300 x 451 cropped to a multiple of 4
    sr = imresize(hr, 0.25).repeat(4, axis=0).repeat(4, axis=1)
    expected = peak_signal_noise_ratio(y_channel(hr)[4:-4, 4:-4], y_channel(sr)[4:-4, 4:-4], data_range=255)
    chelsea = next(i for i in result["images"] if i["name"] == "chelsea")
    assert chelsea["psnr"] == pytest.approx(expected, abs=1e-9)


def test_classical_methods_and_bicubic_lr_consistency_by_hand(tiny_benchmark, tmp_path):
    results = {m: evaluate(m, str(tiny_benchmark), 2, str(tmp_path / f"{m}.json"))
               for m in ("nearest", "bicubic", "lanczos")}
    assert results["nearest"]["psnr"] < min(results["bicubic"]["psnr"], results["lanczos"]["psnr"])
    # LR consistency of bicubic, by hand: MATLAB-bicubic down again, PSNR on Y against the LR input.
    hr = np.asarray(Image.open(tiny_benchmark / "HR" / "astronaut.png"))[:96, :120]
    lr = imresize(hr, 0.5)
    again = imresize(imresize(lr, 2.0), 0.5)
    expected = peak_signal_noise_ratio(y_channel(lr), y_channel(again), data_range=255)
    astronaut = results["bicubic"]["images"][0]
    assert astronaut["name"] == "astronaut"
    assert astronaut["lr_consistency_psnr"] == pytest.approx(expected, abs=1e-9)
    assert 35 < expected < 80  # high, but the double resize is not the identity


def test_lr_consistency_is_infinite_for_a_perfectly_consistent_output():
    import skimage.data

    hr = skimage.data.astronaut()[:128, :128]
    psnr_db, error = natural_lr_consistency(hr, imresize(hr, 0.5), 2)
    assert math.isinf(psnr_db) and error.shape == (64, 64) and not error.any()


@pytest.mark.parametrize("in_channels", [1, 3])
def test_checkpoint_on_a_benchmark_folder(make_checkpoint, tiny_benchmark, tmp_path, in_channels):
    checkpoint = make_checkpoint(2, in_channels)
    result = evaluate(str(checkpoint), str(tiny_benchmark), 2, str(tmp_path / "m.json"), name="micro",
                      device="cpu", images_dir=str(tmp_path / "images"))
    assert result["method"] == "micro" and result["checkpoint"]["model"] == "srresnet"
    assert result["convention"]["channels_fed"] == ("rgb" if in_channels == 3 else "y (bicubic cb/cr)")
    assert [i["name"] for i in result["images"]] == ["astronaut", "coffee"]
    assert all(np.isfinite([i["psnr"], i["ssim"], i["lr_consistency_psnr"]]).all() for i in result["images"])
    index = json.loads((tmp_path / "images" / "index.json").read_text())
    assert [e["name"] for e in index["images"]] == ["astronaut", "coffee"]
    first = index["images"][0]
    sr = np.asarray(Image.open(tmp_path / "images" / first["sr"]))
    hr = np.asarray(Image.open(tmp_path / "images" / first["hr"]))
    lr = np.asarray(Image.open(tmp_path / "images" / first["lr"]))
    assert sr.shape == hr.shape == (96, 120, 3) and lr.shape == (48, 60, 3)
    assert np.load(tmp_path / "images" / first["lr_error"]).shape == (48, 60)
    assert result["images_dir"] == "images"


def test_unknown_method_and_dataset_are_one_line_errors(cli, tiny_benchmark, tmp_path):
    code, _, err = cli("evaluate", "--method", "bicubik", "--dataset", tiny_benchmark, "--scale", 2,
                       "--out", tmp_path / "m.json")
    assert code == 1 and "bicubik" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("evaluate", "--method", "bicubic", "--dataset", tmp_path / "nowhere", "--scale", 2,
                       "--out", tmp_path / "m.json")
    assert code == 1 and "nowhere" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m.json").exists()
