"""Atomic file output: write to a temporary file beside the target, then rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from mri_sr.errors import MriSrError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    On any exception the temporary file is removed, so no half-written output is left.

    Args:
        path: final destination. Its folder is created if missing.
        suffix: suffix for the temporary name (e.g. ``".nii.gz"`` so writers pick the format).

    Raises:
        MriSrError: the destination folder cannot be created or written.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    except OSError as exc:
        raise MriSrError(f"{path}: cannot write output ({exc.strerror or exc})") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes 0600 files; give outputs the usual permissions
            umask = os.umask(0)
            os.umask(umask)
            tmp_path.chmod(0o666 & ~umask)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def refuse_overwriting_input(output: str | os.PathLike, inputs: Iterable[str | os.PathLike | None]) -> None:
    """Refuse an output path that would replace, or be written into, one of the inputs.

    Args:
        output: the file about to be written.
        inputs: the files and folders read (``None`` and ``builtin:`` names are skipped).

    Raises:
        MriSrError: ``output`` is an input (same path, or the same file through a symbolic or
            hard link), or lies inside an input folder (e.g. a DICOM series folder).
    """
    output = Path(output)
    target = output.resolve()
    for item in inputs:
        if item is None or str(item).startswith("builtin:"):
            continue
        source = Path(item)
        if target == source.resolve() or _same_file(output, source):
            raise MriSrError(f"{output}: is the input {source}; choose another output file (refusing to replace it)")
        if source.is_dir() and target.is_relative_to(source.resolve()):
            raise MriSrError(f"{output}: lies inside the input folder {source}; choose an output outside it")
