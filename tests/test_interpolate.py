"""Network interpolation of state dicts and checkpoint files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mri_sr.checkpoint import interpolate_checkpoints, interpolate_state_dicts
from mri_sr.errors import MriSrError
from mri_sr.nets import SRResNet


def _weights(seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    net = SRResNet(in_channels=1, num_feat=4, num_block=1, scale=2)
    net(torch.rand(2, 1, 6, 6))  # a training-mode pass updates the batch-norm running statistics
    state = net.state_dict()
    for key, value in state.items():  # as if trained further: every tensor differs between the two
        if torch.is_floating_point(value):
            value.add_(0.1 * torch.rand_like(value))
        else:
            value.add_(seed)
    return state


@pytest.fixture
def pair():
    return _weights(0), _weights(1)


def test_endpoints_and_mean(pair):
    psnr, gan = pair
    zero = interpolate_state_dicts(psnr, gan, 0.0)
    one = interpolate_state_dicts(psnr, gan, 1.0)
    half = interpolate_state_dicts(psnr, gan, 0.5)
    assert list(half) == list(psnr)
    for key in psnr:
        assert torch.equal(zero[key], psnr[key]), key
        assert torch.equal(one[key], gan[key]), key
        if torch.is_floating_point(psnr[key]):
            torch.testing.assert_close(half[key], (psnr[key] + gan[key]) / 2, rtol=0, atol=1e-7)
            assert not torch.equal(psnr[key], gan[key]), key
        else:  # integer counters come from the nearer endpoint
            assert torch.equal(half[key], gan[key])
    SRResNet(in_channels=1, num_feat=4, num_block=1, scale=2).load_state_dict(half, strict=True)


def test_state_dict_checks(pair):
    psnr, gan = pair
    with pytest.raises(ValueError, match="alpha"):
        interpolate_state_dicts(psnr, gan, 1.5)
    del gan["conv_last.bias"]
    with pytest.raises(ValueError, match="conv_last.bias"):
        interpolate_state_dicts(psnr, gan, 0.5)


def test_plain_state_dict_files(tmp_path, pair):
    psnr, gan = pair
    torch.save(psnr, tmp_path / "psnr.pt")
    torch.save(gan, tmp_path / "gan.pt")
    out = tmp_path / "sub" / "interp.pt"
    interpolate_checkpoints(tmp_path / "psnr.pt", tmp_path / "gan.pt", out, 0.25)
    written = torch.load(out, weights_only=True)
    expected = interpolate_state_dicts(psnr, gan, 0.25)
    assert written.keys() == expected.keys()
    for key in expected:
        assert torch.equal(written[key], expected[key]), key


def test_checkpoint_files_keep_the_gan_checkpoint(tmp_path, pair):
    psnr, gan = pair
    torch.save({"net_g": psnr, "iteration": 100}, tmp_path / "psnr.pt")
    disc = {"w": torch.ones(2)}
    torch.save({"net_g": gan, "net_d": disc, "iteration": 200, "scale": 2}, tmp_path / "gan.pt")
    out = tmp_path / "interp.pt"
    interpolate_checkpoints(str(tmp_path / "psnr.pt"), str(tmp_path / "gan.pt"), str(out), 0.8)
    written = torch.load(out, weights_only=True)
    assert written["iteration"] == 200 and written["scale"] == 2
    assert torch.equal(written["net_d"]["w"], disc["w"])
    assert written["interpolation"]["alpha"] == 0.8
    expected = interpolate_state_dicts(psnr, gan, 0.8)
    for key in expected:
        assert torch.equal(written["net_g"][key], expected[key]), key


def _no_output(folder: Path, out: Path) -> None:
    assert not out.exists()
    assert sorted(p.name for p in folder.iterdir()) == ["gan.pt", "psnr.pt"]  # no temporary left


def test_mismatched_keys_name_the_files_and_the_key(tmp_path, pair):
    psnr, gan = pair
    gan["extra.weight"] = torch.zeros(1)
    torch.save(psnr, tmp_path / "psnr.pt")
    torch.save({"net_g": gan}, tmp_path / "gan.pt")
    out = tmp_path / "interp.pt"
    with pytest.raises(MriSrError) as info:
        interpolate_checkpoints(tmp_path / "psnr.pt", tmp_path / "gan.pt", out, 0.5)
    message = str(info.value)
    assert "psnr.pt" in message and "gan.pt" in message and "'extra.weight'" in message
    _no_output(tmp_path, out)


def test_mismatched_shapes_and_bad_alpha(tmp_path, pair):
    psnr, _ = pair
    other = SRResNet(in_channels=1, num_feat=8, num_block=1, scale=2).state_dict()
    torch.save(psnr, tmp_path / "psnr.pt")
    torch.save(other, tmp_path / "gan.pt")
    out = tmp_path / "interp.pt"
    with pytest.raises(MriSrError, match="'conv_first.weight' has shape"):
        interpolate_checkpoints(tmp_path / "psnr.pt", tmp_path / "gan.pt", out, 0.5)
    with pytest.raises(MriSrError, match=r"alpha must be in \[0, 1\]"):
        interpolate_checkpoints(tmp_path / "psnr.pt", tmp_path / "psnr.pt", out, -0.1)
    _no_output(tmp_path, out)


def test_unreadable_and_missing_files(tmp_path, pair):
    (tmp_path / "psnr.pt").write_bytes(b"not a checkpoint")
    torch.save(pair[1], tmp_path / "gan.pt")
    out = tmp_path / "interp.pt"
    with pytest.raises(MriSrError, match="psnr.pt: not a readable PyTorch weights file"):
        interpolate_checkpoints(tmp_path / "psnr.pt", tmp_path / "gan.pt", out, 0.5)
    with pytest.raises(MriSrError, match="missing.pt: PyTorch weights file not found"):
        interpolate_checkpoints(tmp_path / "missing.pt", tmp_path / "gan.pt", out, 0.5)
    _no_output(tmp_path, out)


def test_failed_write_leaves_the_old_output_untouched(tmp_path, pair, monkeypatch):
    psnr, gan = pair
    torch.save(psnr, tmp_path / "psnr.pt")
    torch.save(gan, tmp_path / "gan.pt")
    out = tmp_path / "interp.pt"
    out.write_bytes(b"previous result")

    def disk_full(obj, path):  # simulates the disk filling up halfway through the write
        Path(path).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(MriSrError, match="no space left on device"):
        interpolate_checkpoints(tmp_path / "psnr.pt", tmp_path / "gan.pt", out, 0.5)
    assert out.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gan.pt", "interp.pt", "psnr.pt"]
