"""SIGTERM (Slurm time limits, docker stop, Snakemake cancelling a job) at any moment of `upscale`
and `prepare`: exit 143 with one line, and the output folder holds nothing new."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mri_sr import fsutil
from mri_sr.fsutil import atomic_path, remove_stale_temporaries, temp_prefix
from mri_sr.signals import Terminated, sigterm_raises

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 120


def start(*args, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "mri_sr.cli", *map(str, args)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        assert proc.poll() is None, f"finished before the signal: {proc.communicate()}"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def terminate(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "mri-sr: terminated", err
    return err


def hidden(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


@pytest.fixture
def out_folder(tmp_path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    (out / "kept.txt").write_text("a user's file")
    return out


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["computing", "writing"])
def test_sigterm_during_upscale_leaves_nothing(tmp_path, out_folder, moment):
    proc = start("upscale", "builtin:mni152", out_folder / "sr.nii.gz", "--method", "bicubic", "--scale", 3,
                 cwd=tmp_path)
    if moment == "computing":
        wait_for(lambda: "slices of" in proc.stderr.readline(), proc)
    else:
        wait_for(lambda: hidden(out_folder), proc)
    terminate(proc)
    assert sorted(p.name for p in out_folder.iterdir()) == ["kept.txt"]


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["loading", "slicing"])
def test_sigterm_during_prepare_leaves_nothing(tmp_path, out_folder, moment):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"data": {"sources": [{"path": "builtin:mni152"}]}}))
    target = out_folder / "x2"
    proc = start("prepare", "--config", config, "--scale", 2, "--out", target, cwd=tmp_path)
    wait_for(lambda: hidden(out_folder), proc)
    if moment == "slicing":
        wait_for(lambda: any(out_folder.glob(".x2.*/shards/*")), proc)
    terminate(proc)
    assert sorted(p.name for p in out_folder.iterdir()) == ["kept.txt"]


def test_a_later_run_removes_only_stale_temporaries_of_its_own(tmp_path):
    target = tmp_path / "sr.nii.gz"
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    dead_pid, live_pid = int(finished.stdout), os.getppid()
    ours = temp_prefix(target).rsplit("-", 2)[0]
    stale_file = tmp_path / f"{ours}-{dead_pid}-abc123.nii.gz"
    stale_folder = tmp_path / f"{ours}-{dead_pid}-def456"
    live = tmp_path / f"{ours}-{live_pid}-ghi789.nii.gz"
    users = [tmp_path / ".sr.nii.gz.swp", tmp_path / ".sr.nii.gz.mri-sr-tmp-notes", tmp_path / "sr.nii.gz"]
    for path in [stale_file, live, *users]:
        path.write_bytes(b"x")
    stale_folder.mkdir()
    (stale_folder / "part.npy").write_bytes(b"x")
    old = fsutil.STARTED - 60  # before this process started
    for path in [stale_file, stale_folder, live, *users]:
        os.utime(path, (old, old))
    assert sorted(remove_stale_temporaries(target)) == sorted([stale_file, stale_folder])
    assert sorted(tmp_path.iterdir()) == sorted([live, *users])


class SigtermFromFinaliser:
    """Sends this process SIGTERM from its ``__del__``: the handler runs there, and Python prints and
    ignores its exception (as when the signal lands in an import lock's weakref callback)."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # the handler runs at the first of these calls
            time.sleep(0.001)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_sigterm_whose_exception_was_lost_still_stops_the_commit(tmp_path):
    went_on = False
    with pytest.raises(Terminated), sigterm_raises():
        with atomic_path(tmp_path / "out.json", suffix=".json") as tmp:
            tmp.write_text("{}")
            SigtermFromFinaliser()  # dropped at once: its __del__ runs here
            went_on = True
    assert went_on, "the handler's exception was not lost, so this test shows nothing"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_sigterm_lost_after_the_last_commit_still_ends_the_run_as_terminated(tmp_path):
    went_on = False
    with pytest.raises(Terminated), sigterm_raises():
        SigtermFromFinaliser()
        went_on = True
    assert went_on
    with atomic_path(tmp_path / "later.json") as tmp:  # the block's end forgets the signal
        tmp.write_text("{}")
    assert (tmp_path / "later.json").read_text() == "{}"
