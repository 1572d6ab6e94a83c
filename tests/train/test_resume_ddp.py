"""Resuming after SIGKILL gives the weights of an uninterrupted run, with the training pairs made in the
DataLoader workers or on the device; DDP ranks stay identical."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from mri_sr.checkpoint import load_checkpoint
from mri_sr.train import train
from mri_sr.train.config import validate_model_config

DDP_SCRIPT = """
import os, sys, torch, yaml
from mri_sr.train import train
from mri_sr.train.config import validate_model_config
config = validate_model_config(yaml.safe_load(open(sys.argv[1])), name=sys.argv[1])
result = train(config, sys.argv[2], sys.argv[3], device="cpu")
torch.save({k: v for k, v in result.nets["net_g"].state_dict().items()},
           os.path.join(sys.argv[3], f"rank{os.environ['RANK']}.pt"))
"""


def write_config(tmp_path, config):
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("pairs_on", ["workers", "device"])
def test_sigkill_then_resume_equals_uninterrupted(prepared, micro_config, tmp_path, pairs_on):
    config = micro_config("gan", iterations=24, checkpoint_every=3, validation={"every": 24})
    config["train"]["pairs_on"] = pairs_on  # where the batches are augmented and degraded (CPU here)
    config_path = write_config(tmp_path, config)
    train(validate_model_config(config, name="cfg"), prepared, tmp_path / "straight", device="cpu")

    command = [sys.executable, "-m", "mri_sr.cli", "train", "--config", str(config_path), "--data", str(prepared),
               "--out", str(tmp_path / "killed"), "--device", "cpu"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = tmp_path / "killed" / "last.pt"
    deadline = time.time() + 120
    while not last.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    interrupted_at = load_checkpoint(last)["iteration"]
    assert 3 <= interrupted_at < 24, "the run should have been killed part-way"
    assert not (tmp_path / "killed" / "final.pt").exists()

    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    straight = load_checkpoint(tmp_path / "straight" / "last.pt")
    resumed = load_checkpoint(last)
    assert resumed["iteration"] == straight["iteration"] == 24
    for net in ("net_g", "net_d"):
        for key, value in straight["nets"][net].items():
            assert torch.equal(value, resumed["nets"][net][key]), f"{net}.{key} differs after resume"
    log_iterations = [yaml.safe_load(line)["iteration"] for line in (tmp_path / "killed" / "log.jsonl").open()
                      if "losses" in line]
    assert log_iterations == list(range(1, 25))


@pytest.mark.parametrize("method", ["psnr", "cycle"])
def test_two_process_gloo_ddp_keeps_ranks_identical(prepared, micro_config, tmp_path, method):
    config_path = write_config(tmp_path, micro_config(method, iterations=3, checkpoint_every=3))
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(script), str(config_path), str(prepared), str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0 = torch.load(tmp_path / "run" / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "run" / "rank1.pt", weights_only=True)
    assert rank0.keys() == rank1.keys()
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    assert load_checkpoint(tmp_path / "run" / "last.pt")["iteration"] == 3
