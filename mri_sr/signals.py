"""SIGTERM handled like Ctrl-C, so outputs in progress are cleaned up (Slurm time limits,
``docker stop`` and Snakemake cancelling a job all send SIGTERM)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

TERMINATED_EXIT_STATUS = 128 + signal.SIGTERM  # 143, what a shell reports for a process ended by SIGTERM


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM; unwinds ``finally`` blocks as Ctrl-C does."""


_received = threading.Event()


def _raise_terminated(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not interrupt the cleanup
    _received.set()
    raise Terminated()


def raise_if_terminated() -> None:
    """Raise :class:`Terminated` if a SIGTERM arrived within :func:`sigterm_raises`.

    The handler's exception can be lost: Python prints and ignores an exception raised while it
    runs a ``__del__``, a weakref callback or a GC finaliser (the import system's module locks use
    such callbacks), and the run would go on and write its outputs. Code that commits an output
    (``mri_sr.fsutil.atomic_path``, prepare's folder rename) calls this first.
    """
    if _received.is_set():
        raise Terminated()


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (main thread only; else a no-op).

    A SIGTERM whose exception was lost (:func:`raise_if_terminated`) raises at the end of the block.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
        raise_if_terminated()
    finally:
        signal.signal(signal.SIGTERM, previous)
        _received.clear()
