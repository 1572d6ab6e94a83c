"""`mri-sr train --out RUN`: unusable run folders and resuming after the model changed are one line."""

from __future__ import annotations

import pytest
import yaml


@pytest.fixture
def model_yaml(tmp_path, micro_config):
    def write(**networks):
        config = micro_config("psnr", iterations=2)
        config["networks"]["net_g"] = {**config["networks"]["net_g"], **networks}
        path = tmp_path / "model.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    return write


def test_out_is_a_file(cli, prepared, model_yaml, tmp_path, error_line):
    (tmp_path / "run").write_text("a user's file")
    error_line(cli("train", "--config", model_yaml(), "--data", prepared, "--out", tmp_path / "run"),
               tmp_path / "run", "not a folder")
    assert (tmp_path / "run").read_text() == "a user's file"


def test_out_in_an_unwritable_folder(cli_unprivileged, prepared, model_yaml, tmp_path, error_line):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        error_line(cli_unprivileged("train", "--config", model_yaml(), "--data", prepared, "--out",
                                    locked / "run"), locked / "run", "not writable")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_resume_after_the_network_changed_says_what_changed(cli, prepared, model_yaml, tmp_path, error_line):
    run = tmp_path / "run"
    assert cli("train", "--config", model_yaml(), "--data", prepared, "--out", run, "--device", "cpu")[0] == 0
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    error_line(cli("train", "--config", model_yaml(num_feat=4), "--data", prepared, "--out", run, "--device", "cpu"),
               run / "last.pt", "net_g.num_feat 8 -> 4", "start afresh", "--out")
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_resume_after_a_loss_weight_changed_says_what_changed(cli, prepared, micro_config, tmp_path, error_line):
    # A finished run asked for again with other loss weights (the workflow reruns it when its
    # config changes) must not hand back the old model as if it were the new one.
    run, path = tmp_path / "run", tmp_path / "model.yaml"
    config = micro_config("psnr", iterations=2)
    path.write_text(yaml.safe_dump(config))
    assert cli("train", "--config", path, "--data", prepared, "--out", run, "--device", "cpu")[0] == 0
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    config["losses"]["weights"]["pixel"] = 2.0
    path.write_text(yaml.safe_dump(config))
    error_line(cli("train", "--config", path, "--data", prepared, "--out", run, "--device", "cpu"),
               run / "last.pt", "losses.weights.pixel 1.0 -> 2.0", "start afresh")
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
