"""The MRI feature network: trained by mri-sr features on prepared slices, deterministic, calibrated,
and a perceptual loss that is 0 for identical slices and grows with blur."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from skimage import filters

from mri_sr.checkpoint import load_weights
from mri_sr.data.manifest import load_split
from mri_sr.resample import imresize_torch
from mri_sr.errors import MriSrError
from mri_sr.losses import PerceptualLoss
from mri_sr.losses.mri_features import MRIFeatureNet, MRIFeatures
from mri_sr.train.features import FeatureSettings, _batch, train_features

TINY = FeatureSettings(iterations=40, batch_size=4, patch_size=16, num_feat=4, calibration_slices=6)


@pytest.fixture(scope="module")
def features(prepared, tmp_path_factory):
    """A tiny feature network trained on the prepared x2 slices."""
    out = tmp_path_factory.mktemp("features") / "features.pt"
    train_features(prepared, out, TINY, device="cpu", precision="fp32")
    return out


def _state(path):
    return load_weights(path)["state_dict"]


def test_training_is_deterministic_for_a_seed(prepared, features, tmp_path):
    again = tmp_path / "again.pt"
    train_features(prepared, again, TINY, device="cpu", precision="fp32")
    first, second = _state(features), _state(again)
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert load_weights(features)["feature_scales"] == load_weights(again)["feature_scales"]
    other = tmp_path / "other.pt"
    train_features(prepared, other, FeatureSettings(**{**TINY.__dict__, "seed": 1}), device="cpu", precision="fp32")
    assert not all(torch.equal(first[k], _state(other)[k]) for k in first)


def test_training_lowers_the_restoration_loss(prepared, features, tmp_path):
    hr = [item["hr"] for item in load_split(prepared, "train")]
    corrupted, clean = _batch(hr, FeatureSettings(**{**TINY.__dict__, "batch_size": 16}), 10_000)
    torch.manual_seed(TINY.seed)
    untrained = MRIFeatureNet(TINY.num_feat)
    trained = MRIFeatureNet(TINY.num_feat)
    trained.load_state_dict(_state(features))
    with torch.no_grad():
        before, after = (F.l1_loss(net(corrupted), clean).item() for net in (untrained, trained))
    assert after < 0.7 * before


def test_calibration_makes_feature_mse_equal_pixel_mse(prepared, features):
    payload = load_weights(features)
    items = load_split(prepared, "train")[: payload["calibration"]["slices"]]
    extractor = MRIFeatures(features, ["relu3_2", "conv2_1"])
    pixel, feature = 0.0, {"relu3_2": 0.0, "conv2_1": 0.0}
    with torch.no_grad():
        for item in items:
            hr = torch.from_numpy(item["hr"])[None]
            bicubic = imresize_torch(torch.from_numpy(item["lr"])[None], scale=2).clamp(0, 1)
            pixel += F.mse_loss(bicubic, hr).item()
            a, b = extractor(bicubic), extractor(hr)
            for name in feature:
                feature[name] += F.mse_loss(a[name], b[name]).item()
    assert payload["calibration"]["pixel_mse"] == pytest.approx(pixel / len(items), rel=1e-5)
    for value in feature.values():
        assert value == pytest.approx(pixel, rel=1e-4)


@pytest.fixture(scope="module")
def mri_loss(features):
    return PerceptualLoss(network="mri", criterion="l2", mri={"layer_weights": {"relu3_2": 1.0},
                                                              "checkpoint": str(features)})


@pytest.fixture(scope="module")
def slice_hr(prepared):
    return load_split(prepared, "val")[0]["hr"][0]


def test_mri_perceptual_loss_is_zero_for_identical_slices(mri_loss, slice_hr):
    hr = torch.from_numpy(slice_hr)[None, None]
    assert mri_loss(hr, hr.clone()).item() == 0.0


def test_mri_perceptual_loss_grows_with_blur(mri_loss, slice_hr):
    hr = torch.from_numpy(slice_hr)[None, None]
    values = [mri_loss(torch.from_numpy(filters.gaussian(slice_hr, sigma=s).astype(np.float32))[None, None],
                       hr).item() for s in (0.5, 1.0, 2.0, 4.0)]
    assert 0 < values[0] < values[1] < values[2] < values[3]


def test_mri_perceptual_loss_is_frozen_and_names_its_checkpoint(mri_loss, features, slice_hr):
    mri_loss.train()
    assert not mri_loss.features.training
    assert not any(p.requires_grad for p in mri_loss.parameters())
    sr = torch.from_numpy(filters.gaussian(slice_hr, sigma=1.0).astype(np.float32))[None, None].requires_grad_()
    mri_loss(sr, torch.from_numpy(slice_hr)[None, None]).backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    described = mri_loss.describe()
    assert described["network"] == "mri" and described["layers"] == ["relu3_2"]
    assert described["checkpoint_sha256"] == hashlib.sha256(features.read_bytes()).hexdigest()


def test_mri_network_needs_a_readable_feature_checkpoint(tmp_path):
    with pytest.raises(MriSrError, match="mri-sr features"):
        PerceptualLoss(network="mri")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(MriSrError, match="other.pt: not an MRI feature network checkpoint"):
        PerceptualLoss(network="mri", mri={"checkpoint": str(tmp_path / "other.pt")})


def test_unknown_mri_layer_is_named(features):
    with pytest.raises(MriSrError, match="relu5_4"):
        PerceptualLoss(network="mri", mri={"layer_weights": {"relu5_4": 1.0}, "checkpoint": str(features)})


def test_gan_run_with_mri_features_logs_and_names_them(prepared, micro_config, features, tmp_path, cli):
    config = micro_config("gan", iterations=2)
    config["losses"]["weights"]["perceptual"] = 1.0
    config["losses"]["options"]["perceptual"] = {"network": "mri", "criterion": "l2",
                                                 "mri": {"layer_weights": {"relu3_2": 1.0}}}
    path = tmp_path / "gan.yaml"
    path.write_text(yaml.safe_dump(config))
    code, _, err = cli("train", "--config", path, "--data", prepared, "--out", tmp_path / "run", "--device", "cpu",
                       "--features", features)
    assert code == 0, err
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert all(r["losses"]["perceptual"] > 0 for r in records if "losses" in r)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["perceptual_network"]["network"] == "mri"
    assert summary["perceptual_network"]["checkpoint_sha256"] == hashlib.sha256(features.read_bytes()).hexdigest()


def test_features_cli_writes_a_checkpoint(prepared, tmp_path, cli):
    code, _, err = cli("features", "--data", prepared, "--out", tmp_path / "f.pt", "--iterations", "2",
                       "--batch-size", "2", "--device", "cpu")
    assert code == 0, err
    assert set(load_weights(tmp_path / "f.pt")["feature_scales"]) >= {"conv3_2", "relu3_2"}
    code, _, err = cli("features", "--data", tmp_path / "nowhere", "--out", tmp_path / "g.pt", "--device", "cpu")
    assert code == 1 and "nowhere" in err and not (tmp_path / "g.pt").exists()
