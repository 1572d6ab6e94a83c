"""The package's shape stays as docs/architecture.md describes it: small modules and functions,
one module that loads weights, one that enters autocast, one device module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mri_sr"
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 70


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function, its docstring aside."""
    lines = node.end_lineno - node.lineno + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        lines -= first.end_lineno - first.lineno + 1
    return lines


def test_modules_and_functions_are_small():
    too_long = []
    for path in _modules():
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{path.relative_to(PACKAGE)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _body_lines(node) > MAX_FUNCTION_LINES:
                too_long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}: {_body_lines(node)} lines")
    assert not too_long, too_long


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
    assert _modules_calling(r"autocast\(\s*(device_type|\"|')|amp\.autocast|cuda\.amp") == ["device.py"]
    assert [str(p.relative_to(PACKAGE)) for p in _modules() if p.name.startswith("device")] == ["device.py"]
