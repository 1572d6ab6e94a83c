"""The evaluation tests' fixtures (prepared MRI folder, micro checkpoints, tiny benchmark), reused."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "evaluate" / "conftest.py"
_spec = importlib.util.spec_from_file_location("mri_sr_tests_evaluate_fixtures", _PATH)
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)

SUBJECT = _fixtures.SUBJECT
make_checkpoint = _fixtures.make_checkpoint
prepared_x2 = _fixtures.prepared_x2
tiny_benchmark = _fixtures.tiny_benchmark
