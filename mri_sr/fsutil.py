"""Safe file output: temporaries beside the target renamed into place, stale ones cleared, inputs
never replaced.

Temporaries are hidden and named ``.{target name}.mri-sr-tmp-{host}-{pid}-{random}[suffix]``, so a
later run can recognise, and remove, those a killed process (SIGKILL, power loss) left behind.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from mri_sr.errors import MriSrError
from mri_sr.signals import raise_if_terminated

log = logging.getLogger(__name__)

TMP_TAG = ".mri-sr-tmp-"
STARTED = time.time()  # temporaries older than this process and not its own may be stale
FOREIGN_HOST_AGE_S = 3600.0  # another host's temporary untouched this long is stale
FULL_DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
FULL_DISK_FREE_BYTES = 1 << 20  # a failed write on a file system with less free space than this: a full disk
_HOST = re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname().split(".")[0])[:32] or "host"


def temp_prefix(target: Path) -> str:
    """Name prefix of this process's temporaries for ``target``."""
    return f".{target.name}{TMP_TAG}{_HOST}-{os.getpid()}-"


def _is_stale(path: Path, host: str, pid: int) -> bool:
    try:
        age = STARTED - path.lstat().st_mtime
    except OSError:
        return False
    if host != _HOST:
        return age > FOREIGN_HOST_AGE_S
    if age <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def remove_stale_temporaries(target: str | os.PathLike) -> list[Path]:
    """Remove temporaries of ``target`` that an earlier, dead mri-sr process left beside it.

    Only names made by :func:`temp_prefix` are considered; one is removed when it is older than
    this process and its process is gone (same host), or untouched for an hour (another host).

    Returns:
        The paths removed.
    """
    target = Path(target)
    pattern = re.compile(re.escape(f".{target.name}{TMP_TAG}") + r"(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-[a-z0-9_]+")
    removed = []
    for path in target.parent.glob(glob.escape(f".{target.name}{TMP_TAG}") + "*"):
        match = pattern.match(path.name)
        if not match or not _is_stale(path, match["host"], int(match["pid"])):
            continue
        try:
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        except OSError:
            continue
        log.info("removed %s, left by an interrupted run", path)
        removed.append(path)
    return removed


def no_space_error(exc: BaseException, folder: str | os.PathLike | None) -> MriSrError | None:
    """The one-line error for a write that failed on a full disk, else None.

    A full disk is an ``OSError`` with ``ENOSPC`` or ``EDQUOT``, or any other failed write
    (``OSError``, or torch's ``RuntimeError`` of ``torch.save``, which drops the errno) on a file
    system with less than :data:`FULL_DISK_FREE_BYTES` free.

    Args:
        exc: the exception raised by the write.
        folder: where the output was being written (named in the message); None: the
            exception's file name, if any.
    """
    if not isinstance(exc, (OSError, RuntimeError)):
        return None
    where = folder if folder is not None else getattr(exc, "filename", None)
    full = isinstance(exc, OSError) and exc.errno in FULL_DISK_ERRNOS
    if not full and where is not None:
        probe = Path(where)
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        try:
            full = shutil.disk_usage(probe).free < FULL_DISK_FREE_BYTES
        except OSError:
            full = False
    if not full:
        return None
    return MriSrError(f"{where if where is not None else 'output'}: no space left on device; "
                      "free some space and run again (nothing partial was kept)")


def _nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (a broken symbolic link counts as existing)."""
    while not (path.exists() or path.is_symlink()) and path != path.parent:
        path = path.parent
    return path


def _blocking_file(folder: Path) -> Path | None:
    """The file (not a folder) that stands where ``folder`` or one of its ancestors must be, or None."""
    existing = _nearest_existing(folder)
    return None if existing.is_dir() else existing


@contextlib.contextmanager
def _making_beside(target: Path) -> Iterator[None]:
    """Create ``target``'s folder and remove stale temporaries of it; an ``OSError`` in the block
    (or here) becomes a one-line :class:`MriSrError` naming ``target`` (and the file that stands
    where a folder of its path must be, if that is the cause)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(target)
        yield
    except OSError as exc:
        blocking = _blocking_file(target.parent)
        if blocking is not None:
            raise MriSrError(f"{target}: cannot write output ({blocking} is not a folder)") from None
        raise no_space_error(exc, target.parent) or \
            MriSrError(f"{target}: cannot write output ({exc.strerror or exc})") from None


def temp_dir_beside(target: str | os.PathLike) -> Path:
    """A new hidden folder beside ``target`` (its parent created if missing), for building it.

    Raises:
        MriSrError: the parent folder cannot be created or written.
    """
    target = Path(target)
    with _making_beside(target):
        return Path(tempfile.mkdtemp(prefix=temp_prefix(target), dir=target.parent))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    On any exception (Ctrl-C and SIGTERM included, see ``mri_sr.cli``) the temporary file is
    removed, so no half-written output is left and an existing ``path`` stays as it was; stale
    ones of earlier runs are removed first. A write that fails on a full disk becomes one line
    (:func:`no_space_error`).

    Args:
        path: final destination. Its folder is created if missing.
        suffix: suffix for the temporary name (e.g. ``".nii.gz"`` so writers pick the format).

    Raises:
        MriSrError: the destination folder cannot be created or written, or the disk is full.
    """
    path = Path(path)
    with _making_beside(path):
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=suffix or ".tmp", dir=path.parent)
    tmp_path = Path(tmp)
    try:
        os.close(fd)
        try:
            yield tmp_path
        except (OSError, RuntimeError) as exc:
            full = no_space_error(exc, path.parent)
            if full is None:
                raise
            raise full from None
        if tmp_path.exists():  # mkstemp makes 0600 files; give outputs the usual permissions
            umask = os.umask(0)
            os.umask(umask)
            tmp_path.chmod(0o666 & ~umask)
        raise_if_terminated()
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
    target = Path(os.path.realpath(output))  # realpath: a loop of links is not an error here
    for item in inputs:
        if item is None or str(item).startswith("builtin:"):
            continue
        source = Path(item)
        if target == Path(os.path.realpath(source)) or _same_file(output, source):
            raise MriSrError(f"{output}: is the input {source}; choose another output (refusing to replace it)")
        if source.is_dir() and target.is_relative_to(os.path.realpath(source)):
            raise MriSrError(f"{output}: lies inside the input folder {source}; choose an output outside it")


def check_output_folder(folder: str | os.PathLike, option: str = "--out") -> None:
    """Fail early (before any work) on an output folder that cannot be made or written.

    Args:
        folder: the folder.
        option: the command-line option that names it, for the message.

    Raises:
        MriSrError: ``folder`` is a file, or its nearest existing ancestor is a file or is not
            writable.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise MriSrError(f"{folder}: exists and is not a folder; give a folder for {option}")
    _check_writable_beside(folder, folder)


def check_output_file(path: str | os.PathLike) -> None:
    """Fail early (before any work) on an output file that cannot be written.

    Raises:
        MriSrError: ``path`` is a folder, or the nearest existing ancestor of its folder is a
            file or is not writable.
    """
    path = Path(path)
    if path.is_dir():
        raise MriSrError(f"{path}: is a folder; give an output file name")
    _check_writable_beside(path, path.parent)


def _check_writable_beside(output: Path, folder: Path) -> None:
    """``folder`` (where ``output`` goes) exists and is writable, or can be made."""
    blocking = _blocking_file(folder)
    if blocking is not None:
        raise MriSrError(f"{output}: cannot write output ({blocking} is not a folder)")
    existing = _nearest_existing(folder)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise MriSrError(f"{output}: cannot write output (folder {existing} is not writable)")


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
