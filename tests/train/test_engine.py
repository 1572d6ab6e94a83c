from __future__ import annotations

import json

import pytest
import torch

from mri_sr.checkpoint import load_checkpoint, load_generator
from mri_sr.errors import MriSrError
from mri_sr.train import train
from mri_sr.train.config import validate_model_config


@pytest.mark.parametrize("method", ["psnr", "gan", "ragan", "cycle"])
def test_every_method_trains_and_writes_its_run(prepared, micro_config, tmp_path, method):
    config = validate_model_config(micro_config(method), name="micro")
    result = train(config, prepared, tmp_path / "run", device="cpu")
    run = tmp_path / "run"
    assert result.final == run / "final.pt"
    for name in ("last.pt", "best.pt", "final.pt", "log.jsonl", "summary.json", "loss_curves.png"):
        assert (run / name).is_file(), name
    generator = load_generator(run / "final.pt")
    assert generator.scale == 2 and generator.in_channels == 1 and generator.percentiles == (0.5, 99.5)
    assert generator.net(torch.rand(1, 1, 12, 10)).shape == (1, 1, 24, 20)
    last = load_checkpoint(run / "last.pt")
    assert last["iteration"] == 4 and set(last["nets"]) == set(config["networks"])
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in records if "losses" in r] == [1, 2, 3, 4]
    assert [r["iteration"] for r in records if "val_psnr" in r] == [2, 4]
    expected_terms = set(config["losses"]["weights"]) | ({"d"} if method != "psnr" else set())
    assert set(records[0]["losses"]) == expected_terms
    summary = json.loads((run / "summary.json").read_text())
    assert summary["iterations"] == 4 and summary["bicubic_val_psnr"] > 20
    assert summary["precision"] in ("fp32", "bf16")


@pytest.mark.parametrize("method", ["psnr", "gan", "cycle"])
def test_final_is_the_best_for_psnr_training_and_the_last_for_gan_stages(prepared, micro_config, tmp_path, method):
    # Validation every iteration: for PSNR training final.pt is the best-PSNR snapshot, for GAN
    # stages the last one whatever the validation PSNR says.
    config = validate_model_config(micro_config(method, iterations=4, validation={"every": 1}), name="micro")
    train(config, prepared, tmp_path / "run", device="cpu")
    run = tmp_path / "run"
    final, last, best = (load_checkpoint(run / f"{name}.pt") for name in ("final", "last", "best"))
    summary = json.loads((run / "summary.json").read_text())
    expected = best if method == "psnr" else last
    assert summary["final"] == ("best_val_psnr" if method == "psnr" else "last")
    assert final["iteration"] == summary["final_iteration"] == expected["iteration"]
    assert all(torch.equal(final["nets"]["net_g"][k], expected["nets"]["net_g"][k]) for k in final["nets"]["net_g"])


def test_finished_run_is_not_trained_again(prepared, micro_config, tmp_path):
    config = validate_model_config(micro_config("psnr", iterations=2), name="micro")
    train(config, prepared, tmp_path / "run", device="cpu")
    before = load_checkpoint(tmp_path / "run" / "last.pt")["nets"]["net_g"]
    train(config, prepared, tmp_path / "run", device="cpu")
    after = load_checkpoint(tmp_path / "run" / "last.pt")["nets"]["net_g"]
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_init_from_pretraining_copies_the_generator(prepared, micro_config, tmp_path):
    pre = validate_model_config(micro_config("psnr", iterations=2), name="pre")
    train(pre, prepared, tmp_path / "pre", device="cpu")
    config = validate_model_config(micro_config("gan", iterations=1), name="gan")
    config["networks"]["net_g"] = pre["networks"]["net_g"]
    with pytest.raises(MriSrError, match="differs"):
        bad = validate_model_config(micro_config("gan", iterations=1), name="bad")
        train(bad, prepared, tmp_path / "bad", init=tmp_path / "pre" / "final.pt", device="cpu")
    config["train"]["learning_rate"] = 1e-12
    result = train(config, prepared, tmp_path / "gan", init=tmp_path / "pre" / "final.pt", device="cpu")
    start = load_checkpoint(tmp_path / "pre" / "final.pt")["nets"]["net_g"]
    trained = dict(result.nets["net_g"].named_parameters())  # BN running stats do move
    assert trained and all(torch.allclose(start[k], p, atol=1e-6) for k, p in trained.items())


def test_interpolation_of_engine_checkpoints_loads_as_a_generator(prepared, micro_config, tmp_path, cli):
    psnr = validate_model_config(micro_config("psnr", iterations=2), name="psnr")
    gan = validate_model_config(micro_config("psnr", iterations=4), name="gan")
    train(psnr, prepared, tmp_path / "psnr", device="cpu")
    train(gan, prepared, tmp_path / "gan", device="cpu")
    code, _, err = cli("interpolate", "--alpha", "0.25", tmp_path / "psnr" / "final.pt",
                       tmp_path / "gan" / "final.pt", tmp_path / "interp" / "final.pt")
    assert code == 0, err
    assert load_generator(tmp_path / "interp" / "final.pt").info["interpolation"]["alpha"] == 0.25
    checkpoint = load_checkpoint(tmp_path / "interp" / "final.pt")
    a = load_checkpoint(tmp_path / "psnr" / "final.pt")["nets"]["net_g"]
    b = load_checkpoint(tmp_path / "gan" / "final.pt")["nets"]["net_g"]
    key = "conv_first.weight"
    torch.testing.assert_close(checkpoint["nets"]["net_g"][key], 0.75 * a[key] + 0.25 * b[key])
    assert checkpoint["interpolation"]["alpha"] == 0.25 and checkpoint["scale"] == 2
