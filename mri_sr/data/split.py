"""Train/val/test assignment: by subject, or by separated slabs for one or two volumes."""

from __future__ import annotations

import numpy as np

SPLITS = ("train", "val", "test")


def split_subjects(subjects: list[str], val: float, test: float, seed: int) -> dict[str, str]:
    """Assign whole subjects to splits (needs at least 3 subjects).

    Returns:
        subject -> ``"train"`` | ``"val"`` | ``"test"``; at least one subject in each split.
    """
    n = len(subjects)
    order = np.random.default_rng(seed).permutation(sorted(subjects))
    n_test = max(1, round(test * n))
    n_val = max(1, round(val * n))
    n_test, n_val = min(n_test, n - 2), min(n_val, n - 1 - min(n_test, n - 2))
    out = {str(s): "test" for s in order[:n_test]}
    out.update({str(s): "val" for s in order[n_test:n_test + n_val]})
    out.update({str(s): "train" for s in order[n_test + n_val:]})
    return out


def split_slabs(n: int, val: float, test: float, gap: int) -> list[str | None]:
    """Split one volume's ``n`` kept slices (in order along the axis) into separated slabs.

    Layout along the axis: ``train | gap | val | gap | test | gap | train``, with the test
    slab centred on the middle slice, so that test slices come from mid-volume anatomy and no
    slice of one split touches a slice of another (``gap`` slices between slabs are dropped).

    Returns:
        For each slice ``"train"``, ``"val"``, ``"test"`` or ``None`` (dropped gap).
    """
    n_test = max(1, round(test * n))
    n_val = max(1, round(val * n))
    labels: list[str | None] = ["train"] * n
    test_start = max(0, n // 2 - n_test // 2)
    val_start = max(0, test_start - gap - n_val)
    blocks = [
        (val_start - gap, val_start, None),
        (val_start, val_start + n_val, "val"),
        (val_start + n_val, test_start, None),
        (test_start, test_start + n_test, "test"),
        (test_start + n_test, test_start + n_test + gap, None),
    ]
    for start, stop, label in blocks:
        for i in range(max(0, start), min(n, stop)):
            labels[i] = label
    return labels
