"""`mri-sr train --out RUN`: unusable run folders, resuming after the model or the data changed, and a
second process on a run folder in use are one line."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import yaml

from mri_sr.checkpoint import load_checkpoint, save_checkpoint
from mri_sr.train.runfolder import data_fingerprint


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


def _start_training(config_path, data, run) -> subprocess.Popen:
    command = [sys.executable, "-m", "mri_sr.cli", "train", "--config", str(config_path), "--data", str(data),
               "--out", str(run), "--device", "cpu"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_for(condition, process, seconds=120.0) -> None:
    deadline = time.time() + seconds
    while not condition() and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)


def _files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_killed_run_is_not_resumed_on_other_data(cli, prepared, prepared_kspace, micro_config, tmp_path,
                                                  error_line):
    # Issue 25 item 3: SIGKILL `train --data A`, then `train --data B` on the same --out.
    path, run = tmp_path / "model.yaml", tmp_path / "run"
    path.write_text(yaml.safe_dump(micro_config("psnr", iterations=60, checkpoint_every=2, validation={"every": 60})))
    process = _start_training(path, prepared, run)
    _wait_for((run / "last.pt").exists, process)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    last = load_checkpoint(run / "last.pt")
    assert 2 <= last["iteration"] < 60, "the run should have been killed part-way"
    assert last["data"] == {"folder": str(prepared), "fingerprint": data_fingerprint(prepared)}
    before = _files(run)
    assert before.pop(".lock").split()[0] == str(process.pid).encode()  # the dead holder's line stays
    line = error_line(cli("train", "--config", path, "--data", prepared_kspace, "--out", run, "--device", "cpu"),
                      run / "last.pt", "cannot resume", prepared, prepared_kspace, "start afresh")
    assert "in use" not in line  # the killed process's lock went with it
    after = _files(run)
    assert after.pop(".lock") == b"" and after == before  # the stale holder line is cleared, nothing else
    # The same data still resumes, to the end.
    assert cli("train", "--config", path, "--data", prepared, "--out", run, "--device", "cpu")[0] == 0
    assert load_checkpoint(run / "final.pt")["degradation"] == load_checkpoint(run / "last.pt")["degradation"]
    assert load_checkpoint(run / "last.pt")["iteration"] == 60


def test_data_changed_in_place_is_not_resumed(cli, prepared, micro_config, tmp_path, error_line):
    data, run, path = tmp_path / "data", tmp_path / "run", tmp_path / "model.yaml"
    shutil.copytree(prepared, data)
    path.write_text(yaml.safe_dump(micro_config("psnr", iterations=2)))
    assert cli("train", "--config", path, "--data", data, "--out", run, "--device", "cpu")[0] == 0
    manifest = data / "manifest.csv"
    rows = manifest.read_text().splitlines()
    manifest.write_text("\n".join(rows[:-1]) + "\n")  # one slice fewer: other data
    error_line(cli("train", "--config", path, "--data", data, "--out", run, "--device", "cpu"),
               run / "last.pt", f"the prepared data in {data} changed since this run started")


def test_checkpoint_without_a_data_record_resumes_with_a_warning(cli, prepared, micro_config, tmp_path, caplog):
    path, run = tmp_path / "model.yaml", tmp_path / "run"
    config = micro_config("psnr", iterations=2)
    path.write_text(yaml.safe_dump(config))
    assert cli("train", "--config", path, "--data", prepared, "--out", run, "--device", "cpu")[0] == 0
    last = load_checkpoint(run / "last.pt")
    del last["data"]
    save_checkpoint(last, run / "last.pt")
    config["train"]["iterations"] = 4
    path.write_text(yaml.safe_dump(config))
    code, _, err = cli("train", "--config", path, "--data", prepared, "--out", run, "--device", "cpu")
    assert code == 0, err
    assert f"{run / 'last.pt'} records no training data" in caplog.text
    resumed = load_checkpoint(run / "last.pt")
    assert resumed["iteration"] == 4 and resumed["data"]["fingerprint"] == data_fingerprint(prepared)


def test_second_train_on_one_run_folder_stops_and_writes_nothing(cli, prepared, micro_config, tmp_path, error_line):
    # Issue 25 item 4: two `train` processes on one --out.
    path, run = tmp_path / "model.yaml", tmp_path / "run"
    path.write_text(yaml.safe_dump(micro_config("psnr", iterations=30, checkpoint_every=2, validation={"every": 30})))
    process = _start_training(path, prepared, run)
    lock = run / ".lock"
    try:
        _wait_for(lambda: (run / "last.pt").exists() and lock.exists() and lock.read_text().strip(), process)
        os.kill(process.pid, signal.SIGSTOP)  # hold it still, lock held, while the second one tries
        before = _files(run)
        assert lock.read_text().split() == [str(process.pid), socket.gethostname()]
        error_line(cli("train", "--config", path, "--data", prepared, "--out", run, "--device", "cpu"),
                   run, "in use by another mri-sr train", f"pid {process.pid} on {socket.gethostname()}")
        assert _files(run) == before
    finally:
        os.kill(process.pid, signal.SIGCONT)
    assert process.wait(timeout=300) == 0
    assert load_checkpoint(run / "final.pt")["iteration"] >= 1 and lock.read_text() == ""
    # Released: the next process takes the run folder (a finished run: nothing left to train).
    assert cli("train", "--config", path, "--data", prepared, "--out", run, "--device", "cpu")[0] == 0
