"""Fixtures shared by all tests: the shared data folder and an in-process CLI runner."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from mri_sr.cli import main

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data``; tests that need it are skipped where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture
def cli(capsys):
    """Run ``mri-sr ARGS`` in-process; return (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


_LOG_PREFIXES = ("INFO ", "WARNING ", "DEBUG ", "ERROR ")


def _error_line(result: tuple[int, str, str], *needles: object) -> str:
    code, _, err = result
    assert code == 1 and "Traceback" not in err, err
    errors = [line for line in err.splitlines() if not line.startswith(_LOG_PREFIXES)]
    assert len(errors) == 1 and errors[0].startswith("mri-sr: error: "), err
    for needle in needles:
        assert str(needle) in errors[0], err
    return errors[0]


@pytest.fixture
def error_line():
    """Check a ``cli`` result is one error: exit 1, no traceback, one ``mri-sr: error:`` line
    (log lines aside) holding every needle; return that line."""
    return _error_line


def _load_writer() -> ModuleType:
    """Import tests/io/dicom_writer.py by path (tests run with --import-mode=importlib)."""
    path = Path(__file__).parent / "io" / "dicom_writer.py"
    spec = importlib.util.spec_from_file_location("mri_sr_tests_dicom_writer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def dicom_writer() -> ModuleType:
    """The synthetic DICOM writer module (``write_series``, ``write_enhanced``)."""
    return _load_writer()


@pytest.fixture(scope="session")
def mni_crop() -> tuple[np.ndarray, np.ndarray]:
    """A 40x48x30 crop of the MNI152 2 mm template as int16 stored values, with its RAS affine.

    Stored values are the template intensities (0..1) x 1000, rounded; written with
    RescaleSlope 0.5 / Intercept -10 they mean ``stored * 0.5 - 10``.
    """
    from nilearn.datasets import load_mni152_template

    template = load_mni152_template(resolution=2)
    corner = np.array([30, 35, 30])
    size = (40, 48, 30)
    block = tuple(slice(c, c + n) for c, n in zip(corner, size))
    stored = np.rint(np.asarray(template.dataobj, dtype=np.float64)[block] * 1000).astype(np.int16)
    affine = template.affine.astype(np.float64).copy()
    affine[:3, 3] = template.affine[:3, :3] @ corner + template.affine[:3, 3]
    return stored, affine


@pytest.fixture
def cli_unprivileged():
    """Run ``mri-sr ARGS`` in a subprocess without root's power over file permissions (under root,
    in a user namespace: ``unshare --user``); return (exit code, stdout, stderr)."""
    import os
    import shutil
    import subprocess
    import sys

    prefix = []
    if os.geteuid() == 0:
        if shutil.which("unshare") is None or subprocess.run(["unshare", "--user", "true"]).returncode != 0:
            pytest.skip("running as root and cannot drop privileges (unshare --user)")
        prefix = ["unshare", "--user"]

    def run(*args: str) -> tuple[int, str, str]:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        done = subprocess.run([*prefix, sys.executable, "-m", "mri_sr.cli", *map(str, args)], env=env,
                              capture_output=True, text=True, timeout=300)
        return done.returncode, done.stdout, done.stderr

    return run
