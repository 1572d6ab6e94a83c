"""Logging for the CLI: this package's messages at INFO, other libraries' only from WARNING and
without tracebacks (pydicom logs a traceback for every failed decoder plugin; the one-line error
says what went wrong)."""

from __future__ import annotations

import logging

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
