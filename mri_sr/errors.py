"""The one exception type whose message is shown to users as a single line."""

from __future__ import annotations


class MriSrError(Exception):
    """A problem with the user's input: printed as one line, exit status 1, no traceback.

    The message names the file (or config key) and the problem, e.g.
    ``"scan.nii.gz: truncated gzip stream"``.
    """
