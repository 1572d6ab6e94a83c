"""The package's owner rules: one module reads and writes weights, one enters autocast, one device module.

The layers (which module may import which) are import-linter contracts in pyproject.toml, checked by
``lint-imports`` in ``make test``.
"""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mri_sr"


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _modules_calling(pattern: str) -> list[str]:
    regex = re.compile(pattern)
    found = []
    for path in _modules():
        code = "\n".join(line.split("#")[0] for line in path.read_text().splitlines() if not line.strip().startswith(("#", "``", ">>>")))
        code = re.sub(r'"""[\s\S]*?"""', "", code)  # docstrings
        if regex.search(code):
            found.append(str(path.relative_to(PACKAGE)))
    return found


def test_one_module_loads_weights_one_enters_autocast_one_picks_the_device():
    assert _modules_calling(r"torch\.load\(") == ["checkpoint.py"]
    assert _modules_calling(r"torch\.save\(") == ["checkpoint.py"]
    assert _modules_calling(r"autocast\(\s*(device_type|\"|')|amp\.autocast|cuda\.amp") == ["device.py"]
    assert [str(p.relative_to(PACKAGE)) for p in _modules() if p.name.startswith("device")] == ["device.py"]
