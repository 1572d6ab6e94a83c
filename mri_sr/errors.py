"""The one exception type whose message is shown to users as a single line."""

from __future__ import annotations


class MriSrError(Exception):
    """A problem with the user's input: printed as one line, exit status 1, no traceback.

    The message names the file (or config key) and the problem, e.g.
    ``"scan.nii.gz: truncated gzip stream"``.
    """


def one_line(message: object, limit: int | None = 300) -> str:
    """A (library) message cut to one line for a :class:`MriSrError`.

    The first non-empty line, stripped; a first line ending in ``:`` (a header such as torch's
    ``Error(s) in loading state_dict for SRResNet:``) is joined with the next one.

    Args:
        message: an exception or text.
        limit: most characters kept (an ellipsis marks a cut), None for no limit.
    """
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    if not lines:
        return type(message).__name__ if isinstance(message, BaseException) else ""
    text = f"{lines[0]} {lines[1]}" if lines[0].endswith(":") and len(lines) > 1 else lines[0]
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."
