"""Bad checkpoints: one line naming the file and the problem, and nothing in them ever runs."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from mri_sr.checkpoint import save_checkpoint
from mri_sr.io import Volume, save_nifti
from mri_sr.nets import build_network

SPEC = {"type": "srresnet", "num_feat": 4, "num_block": 1, "scale": 2, "in_channels": 1}


def payload(spec=SPEC, weights_spec=SPEC):
    return {"model": "micro", "iteration": 0, "scale": 2, "in_channels": 1, "net_g_spec": spec,
            "nets": {"net_g": build_network(weights_spec).state_dict()},
            "normalisation": {"low_percentile": 0.5, "high_percentile": 99.5}, "config": {}}


@pytest.fixture
def scan(tmp_path):
    path = tmp_path / "scan.nii.gz"
    save_nifti(Volume(np.random.default_rng(0).random((12, 12, 3)).astype(np.float32), np.eye(4), "t"), path)
    return path


class RunsCode:
    """A pickle that, loaded unsafely, would create the file ``RunsCode.marker``."""

    marker = ""

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("name,content,needles", [
    ("other_weights.pt", payload(weights_spec={**SPEC, "num_feat": 8}), ["do not match", "size mismatch"]),
    ("unknown_type.pt", payload(spec={**SPEC, "type": "unetplusplus"}), ["'unetplusplus' is unknown"]),
    ("eight.pt", payload(spec={**SPEC, "num_feat": "eight"}), ["num_feat", "must be int", "'eight'"]),
    ("spec_is_text.pt", payload(spec="srresnet"), ["net_g_spec"]),
])
def test_checkpoint_whose_spec_or_weights_are_wrong(cli, scan, tmp_path, name, content, needles, error_line):
    save_checkpoint(content, tmp_path / name)
    error_line(cli("upscale", scan, tmp_path / "out" / "sr.nii.gz", "--checkpoint", tmp_path / name),
               tmp_path / name, *needles)
    assert not (tmp_path / "out").exists()


def test_checkpoint_that_would_run_code_is_refused_as_unsafe(cli, scan, tmp_path, error_line):
    RunsCode.marker = str(tmp_path / "code-ran")
    torch.save({"format": "mri-sr-checkpoint/1", "nets": RunsCode()}, tmp_path / "evil.pt")
    line = error_line(cli("upscale", scan, tmp_path / "sr.nii.gz", "--checkpoint", tmp_path / "evil.pt"),
                      tmp_path / "evil.pt", "not a safe mri-sr checkpoint", "refused")
    assert "False" not in line and not (tmp_path / "code-ran").exists()


@pytest.mark.parametrize("content", [b"\x80\x02junk" * 10, b"", b"PK\x03\x04 not a zip"])
def test_damaged_checkpoint(cli, scan, tmp_path, content, error_line):
    (tmp_path / "bad.pt").write_bytes(content)
    error_line(cli("upscale", scan, tmp_path / "sr.nii.gz", "--checkpoint", tmp_path / "bad.pt"),
               tmp_path / "bad.pt", "not a readable mri-sr checkpoint")


def test_unreadable_checkpoint(cli_unprivileged, scan, tmp_path, error_line):
    save_checkpoint(payload(), tmp_path / "locked.pt")
    os.chmod(tmp_path / "locked.pt", 0)
    error_line(cli_unprivileged("upscale", scan, tmp_path / "sr.nii.gz", "--checkpoint", tmp_path / "locked.pt"),
               tmp_path / "locked.pt", "ermission denied")


@pytest.mark.parametrize("damage", ["cut short", "another program's zip"])
def test_a_zip_torch_cannot_read_is_said_in_words(cli, scan, tmp_path, error_line, damage):
    """torch's zip reader reports C++ assertions ('Expected hasRecord(\"version\")...', 'internal miniz error')."""
    import zipfile

    save_checkpoint(payload(), tmp_path / "full.pt")
    if damage == "cut short":
        (tmp_path / "bad.pt").write_bytes((tmp_path / "full.pt").read_bytes()[:2000])
    else:
        with zipfile.ZipFile(tmp_path / "bad.pt", "w") as archive:
            archive.writestr("archive/data.pkl", b"not a pickle")
    line = error_line(cli("upscale", scan, tmp_path / "sr.nii.gz", "--checkpoint", tmp_path / "bad.pt"),
                      tmp_path / "bad.pt", "a zip archive PyTorch cannot read")
    assert "hasRecord" not in line and "miniz" not in line
