"""Logging for the CLI: this package's messages at INFO, other libraries' only from WARNING and
without tracebacks (pydicom logs a traceback for every failed decoder plugin; the one-line error
says what went wrong); progress bars that a log file can hold (:func:`progress`)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from tqdm import tqdm

FORMAT = "%(levelname)s %(name)s: %(message)s"


class _LibraryFormatter(logging.Formatter):
    """Formats records of other libraries without their traceback (unless ``verbose``)."""

    def __init__(self, verbose: bool) -> None:
        super().__init__(FORMAT)
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        if self.verbose or record.name == "mri_sr" or record.name.startswith("mri_sr."):
            return super().format(record)
        return super().format(logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None,
                                                     "stack_info": None}))


def configure_logging(verbose: bool = False) -> None:
    """Root logger at WARNING (DEBUG when ``verbose``), the ``mri_sr`` logger at INFO (DEBUG).

    Like ``logging.basicConfig``, it does nothing when the root logger already has a handler
    (an embedding application's, or pytest's).
    """
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(_LibraryFormatter(verbose))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("mri_sr").setLevel(logging.DEBUG if verbose else logging.INFO)


LOG_INTERVAL_S = 30.0
"""Seconds between two progress lines when stderr is a file (a Slurm or Snakemake log)."""


class _LineBar(tqdm):
    """A tqdm bar for log files: each refresh appends one plain line (ASCII, no carriage return),
    at most one per ``mininterval`` seconds, plus the final state at close."""

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if msg == "":  # tqdm clearing a bar: nothing to clear in a log
            return True
        self.fp.write((self.__str__() if msg is None else msg) + "\n")
        self.fp.flush()
        return True

    def close(self) -> None:
        if getattr(self, "disable", True):  # disabled, or its __init__ was interrupted (e.g. by SIGTERM)
            return
        if self.n != self.last_print_n:
            self.display()
        self.sp = None  # tqdm's own close would write a carriage return
        super().close()


def progress(iterable: Iterable | None = None, *, total: float | None = None, desc: str | None = None,
             disable: bool = False, file: TextIO | None = None, interval: float = LOG_INTERVAL_S,
             **kwargs: Any) -> tqdm:
    """A progress bar on ``file`` (default stderr) that stays readable in a log file.

    On a terminal it is a plain tqdm bar. Otherwise (a Slurm or Snakemake log, a pipe) it writes
    whole ASCII lines without carriage returns: one at the start, then at most one every
    ``interval`` seconds, then the final state at close.

    Args:
        iterable: what to wrap, as in ``tqdm(iterable)``; or None with ``total``.
        total: number of expected updates (unit as ``unit``).
        desc: label at the start of each line.
        disable: no output at all (e.g. on DDP ranks other than 0).
        file: the stream to write to; default ``sys.stderr``.
        interval: seconds between two lines when ``file`` is not a terminal.
        **kwargs: other tqdm arguments (``unit``, ``initial``...); those that shape a terminal bar
            (``mininterval``, ``miniters``, ``ncols``, ``dynamic_ncols``) apply on a terminal only.

    Returns:
        The tqdm bar (use it as a context manager, or ``update`` and ``close`` it).
    """
    file = sys.stderr if file is None else file
    if _isatty(file):
        return tqdm(iterable, total=total, desc=desc, disable=disable, file=file, **kwargs)
    for terminal_only in ("dynamic_ncols", "mininterval", "miniters", "ncols"):
        kwargs.pop(terminal_only, None)
    return _LineBar(iterable, total=total, desc=desc, disable=disable, file=file, mininterval=interval,
                    miniters=0, ascii=True, ncols=100, **kwargs)


def _isatty(file: TextIO) -> bool:
    try:
        return file.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
