from __future__ import annotations

from mri_sr.errors import one_line


def test_one_line_keeps_the_first_line_and_joins_a_header():
    assert one_line(ValueError("first\n  second\nthird")) == "first"
    assert one_line(RuntimeError("Error(s) in loading state_dict for X:\n\tsize mismatch for w\n\tmore")) == \
        "Error(s) in loading state_dict for X: size mismatch for w"
    assert one_line("\n\n  text  \n") == "text"
    assert one_line(KeyError()) == "KeyError"
    assert one_line("x" * 400, limit=10) == "xxxxxxx..."
