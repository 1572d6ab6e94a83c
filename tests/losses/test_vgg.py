"""VGG19 layout (torchvision key names and shapes) and the weights lookup."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mri_sr.errors import MriSrError
from mri_sr.losses import PerceptualLoss
from mri_sr.losses.vgg import VGG19Features, layer_index

# torchvision vgg19 ("E"): 16 convolutions, M = max pooling
EXPECTED_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]  # fmt: skip
# indices of the convolutions in torchvision's vgg19().features
TORCHVISION_CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]


def torchvision_layout() -> dict[str, tuple[int, ...]]:
    """Key -> shape of torchvision's vgg19 features, derived from EXPECTED_CFG."""
    shapes: dict[str, tuple[int, ...]] = {}
    index, in_channels = 0, 3
    for item in EXPECTED_CFG:
        if item == "M":
            index += 1
            continue
        shapes[f"features.{index}.weight"] = (item, in_channels, 3, 3)
        shapes[f"features.{index}.bias"] = (item,)
        index, in_channels = index + 2, item
    return shapes


def test_layout_matches_torchvision() -> None:
    layout = torchvision_layout()
    assert sorted({int(k.split(".")[1]) for k in layout}) == TORCHVISION_CONV_INDICES
    net = VGG19Features(layers=["conv5_4"])
    own = {key: tuple(value.shape) for key, value in net.state_dict().items()}
    assert own == layout
    # 20,024,384 = torchvision vgg19's 143,667,240 parameters minus its classifier
    assert sum(p.numel() for p in net.parameters()) == 20_024_384


def test_torchvision_state_dict_loads_strict() -> None:
    generator = torch.Generator().manual_seed(0)
    state = {k: torch.randn(s, generator=generator) for k, s in torchvision_layout().items()}
    net = VGG19Features(layers=["conv5_4"])
    net.load_state_dict(state, strict=True)
    assert torch.equal(net.features[34].weight, state["features.34.weight"])


def test_layer_names() -> None:
    assert layer_index("conv1_1") == 0
    assert layer_index("relu2_2") == 8
    assert layer_index("conv5_4") == 34  # ESRGAN: before activation
    assert layer_index("relu5_4") == 35  # SRGAN VGG54: after activation
    assert layer_index("pool5") == 36
    with pytest.raises(MriSrError, match="conv6_1"):
        layer_index("conv6_1")


def test_only_layers_up_to_the_deepest_are_built() -> None:
    net = VGG19Features(layers=["relu1_1", "relu2_2"])
    assert len(net.features) == 9
    assert sorted(net.state_dict()) == sorted(
        f"features.{i}.{p}" for i in (0, 2, 5, 7) for p in ("weight", "bias")
    )
    out = net(torch.rand(1, 3, 8, 8))
    assert out["relu1_1"].shape == (1, 64, 8, 8)
    assert out["relu2_2"].shape == (1, 128, 4, 4)
    assert (out["relu2_2"] >= 0).all()


def test_before_activation_is_not_clipped_by_relu() -> None:
    torch.manual_seed(0)
    out = VGG19Features(layers=["conv1_2", "relu1_2"])(torch.rand(1, 3, 8, 8))
    assert (out["conv1_2"] < 0).any()
    assert torch.equal(out["relu1_2"], out["conv1_2"].clamp(min=0))


def _write_weights(path: Path, upto_index: int) -> dict[str, torch.Tensor]:
    """A file in torchvision's format: features up to ``upto_index`` plus classifier keys."""
    generator = torch.Generator().manual_seed(1)
    state = {
        k: torch.randn(s, generator=generator)
        for k, s in torchvision_layout().items()
        if int(k.split(".")[1]) <= upto_index
    }
    state["classifier.6.bias"] = torch.zeros(1000)  # ignored
    torch.save(state, path)
    return state


@pytest.fixture
def no_weights_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("MRI_SR_VGG19_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path / "torch_home" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"


def test_missing_weights_names_the_searched_path(no_weights_env: Path) -> None:
    with pytest.raises(MriSrError) as info:
        PerceptualLoss(vgg19={"layer_weights": {"relu1_2": 1.0}})
    message = str(info.value)
    assert str(no_weights_env) in message
    assert "download.pytorch.org/models/vgg19-dcbb9e9d.pth" in message
    assert "\n" not in message


def test_explicit_path_env_and_torch_home_are_used(
    no_weights_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_weights_env.parent.mkdir(parents=True)
    in_home = _write_weights(no_weights_env, upto_index=7)
    loss = PerceptualLoss(vgg19={"layer_weights": {"relu2_2": 1.0}})
    assert torch.equal(loss.features.vgg.features[7].weight, in_home["features.7.weight"])

    in_env = _write_weights(tmp_path / "env.pth", upto_index=2)
    monkeypatch.setenv("MRI_SR_VGG19_WEIGHTS", str(tmp_path / "env.pth"))
    loss = PerceptualLoss(vgg19={"layer_weights": {"conv1_2": 1.0}})
    assert torch.equal(loss.features.vgg.features[2].weight, in_env["features.2.weight"])

    explicit = _write_weights(tmp_path / "explicit.pth", upto_index=0)
    loss = PerceptualLoss(vgg19={"layer_weights": {"relu1_1": 1.0}, "weights_path": tmp_path / "explicit.pth"})
    assert torch.equal(loss.features.vgg.features[0].weight, explicit["features.0.weight"])
    assert not any(p.requires_grad for p in loss.parameters())

    # a set but wrong path is an error naming it, not a silent fall-back to TORCH_HOME
    with pytest.raises(MriSrError, match="typo.pth"):
        PerceptualLoss(vgg19={"layer_weights": {"relu1_1": 1.0}, "weights_path": tmp_path / "typo.pth"})


def test_incomplete_or_unreadable_weights(tmp_path: Path) -> None:
    _write_weights(tmp_path / "short.pth", upto_index=2)
    with pytest.raises(MriSrError, match="features.5.weight"):
        PerceptualLoss(vgg19={"layer_weights": {"relu2_2": 1.0}, "weights_path": tmp_path / "short.pth"})
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(MriSrError, match="junk.pth: not a readable VGG19 weights file"):
        PerceptualLoss(vgg19={"layer_weights": {"relu1_1": 1.0}, "weights_path": tmp_path / "junk.pth"})


def test_no_torchvision_import() -> None:
    package = Path(__file__).resolve().parents[2] / "mri_sr" / "losses"
    for source in package.glob("*.py"):
        text = source.read_text()
        assert "import torchvision" not in text and "from torchvision" not in text, source
