"""A prepared folder's manifest and shards, read and checked: a damaged folder is one line."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from mri_sr.data.split import SPLITS
from mri_sr.errors import MriSrError, one_line

REQUIRED_FIELDS = ("shard", "row", "split", "scale")
"""Manifest columns every reader relies on (``prepare`` writes more: ``MANIFEST_FIELDS``)."""


def damaged(data_dir: Path, detail: str) -> MriSrError:
    """The one-line error for a damaged prepared folder."""
    return MriSrError(f"{data_dir}: prepared folder is damaged ({detail}); prepare it again (mri-sr prepare)")


def read_manifest(data_dir: str | Path) -> list[dict[str, str]]:
    """Every row of ``data_dir/manifest.csv``, checked for shape (not against the shards).

    Raises:
        MriSrError: no manifest; or a damaged one (not text, cut short, a row with missing or
            extra cells, a required column missing), naming the folder.
    """
    data_dir = Path(data_dir)
    manifest = data_dir / "manifest.csv"
    if not manifest.is_file():
        raise MriSrError(f"{data_dir}: no manifest.csv; run `mri-sr prepare` first")
    try:
        with open(manifest, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            fields = reader.fieldnames or []
    except (UnicodeDecodeError, csv.Error) as exc:
        raise damaged(data_dir, f"manifest.csv is not a CSV text: {one_line(exc, 100)}") from None
    except OSError as exc:
        raise MriSrError(f"{manifest}: cannot read ({exc.strerror or exc})") from None
    missing = [name for name in REQUIRED_FIELDS if name not in fields]
    if missing:
        raise damaged(data_dir, f"manifest.csv has no column {missing[0]!r}")
    for number, row in enumerate(rows, start=2):
        if None in row or None in row.values():
            raise damaged(data_dir, f"manifest.csv line {number} has {'extra' if None in row else 'missing'} cells")
        if row["split"] not in SPLITS or not row["row"].isdigit():
            raise damaged(data_dir, f"manifest.csv line {number} has split {row['split']!r}, row {row['row']!r}")
    return rows


def read_prepared(data_dir: str | Path) -> dict[str, Any]:
    """A prepared folder's ``prepare.json`` (scale, normalisation, degradation, counts).

    Raises:
        MriSrError: no ``prepare.json`` (not a prepared folder), or one that is not a JSON object
            with an integer ``scale`` (damaged), naming the folder.
    """
    data_dir = Path(data_dir)
    path = data_dir / "prepare.json"
    if not path.is_file():
        raise MriSrError(f"{data_dir}: not a prepared folder (no prepare.json); run `mri-sr prepare` first")
    try:
        prepared = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise damaged(data_dir, f"prepare.json is not JSON: {one_line(exc, 100)}") from None
    except OSError as exc:
        raise MriSrError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not isinstance(prepared, dict) or not isinstance(prepared.get("scale"), int):
        raise damaged(data_dir, "prepare.json holds no integer 'scale'")
    return prepared


def _load_shard(data_dir: Path, shard: str, mmap: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The (N, h, w) LR and (N, h*s, w*s) HR float32 arrays of one shard (memory-mapped: only
    the headers are read, and a file shorter than its header says is refused).

    Raises:
        MriSrError: a shard file missing, unreadable, cut short or not 3D, or LR and HR of
            different lengths, naming the folder.
    """
    base = data_dir / "shards" / shard
    arrays = []
    for kind in ("lr", "hr"):
        path = Path(f"{base}-{kind}.npy")
        try:
            array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except FileNotFoundError:
            raise damaged(data_dir, f"shards/{path.name} is missing") from None
        except (OSError, ValueError, EOFError) as exc:
            raise damaged(data_dir, f"shards/{path.name} is unreadable or cut short: {one_line(exc, 100)}") from None
        if array.ndim != 3:
            raise damaged(data_dir, f"shards/{path.name} has shape {array.shape}, not (slices, height, width)")
        arrays.append(array)
    if len(arrays[0]) != len(arrays[1]):
        raise damaged(data_dir, f"shard {shard} holds {len(arrays[0])} LR and {len(arrays[1])} HR slices")
    return arrays[0], arrays[1]


def _check_rows(data_dir: Path, rows: list[dict[str, str]], shards: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Every row within its shard, one scale in the whole manifest, and every shard's HR slices
    that scale times its LR slices."""
    for row in rows:
        if int(row["row"]) >= len(shards[row["shard"]][0]):
            raise damaged(data_dir, f"manifest.csv row {row['row']} of shard {row['shard']} is beyond its "
                          f"{len(shards[row['shard']][0])} slices")
    scales = sorted({row["scale"] for row in rows})
    if len(scales) > 1 or not all(s.isdigit() for s in scales):
        raise damaged(data_dir, f"manifest.csv gives scales {', '.join(scales)}; one integer scale is needed")
    scale = int(scales[0]) if scales else 1
    for name, (lr, hr) in shards.items():
        if tuple(hr.shape[1:]) != tuple(scale * n for n in lr.shape[1:]):
            raise damaged(data_dir, f"shard {name} holds HR slices of {hr.shape[1]}x{hr.shape[2]} and LR slices of "
                          f"{lr.shape[1]}x{lr.shape[2]}, not the x{scale} of manifest.csv")


def load_split(data_dir: str | Path, split: str) -> list[dict[str, Any]]:
    """Read one split of a prepared folder into memory.

    Returns:
        One dict per slice, in manifest order: ``lr`` (1, h, w) and ``hr`` (1, h*s, w*s)
        float32 arrays in [0, 1], and the manifest row under ``meta``.

    Raises:
        MriSrError: no manifest, the split is empty, or the folder is damaged (manifest or
            shards: see :func:`read_manifest`; a shard missing, cut short or not 3D; a row index
            beyond its shard; rows of several scales; HR slices not the scale times a shard's LR
            slices), naming the folder and saying to prepare it again.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    data_dir = Path(data_dir)
    rows = [r for r in read_manifest(data_dir) if r["split"] == split]
    if not rows:
        raise MriSrError(f"{data_dir / 'manifest.csv'}: the {split} split has no slices")
    shards: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    items = []
    for row in rows:
        if row["shard"] not in shards:
            shards[row["shard"]] = _load_shard(data_dir, row["shard"])
    _check_rows(data_dir, rows, shards)
    for row in rows:
        lr, hr = shards[row["shard"]]
        i = int(row["row"])
        items.append({"lr": lr[i][None], "hr": hr[i][None], "meta": row})
    return items


def check_prepared(data_dir: str | Path, lr_patch_size: int | None = None) -> None:
    """Check a whole prepared folder from its manifest and the shard headers (no voxels are
    read), and that an LR training patch fits the train split's smallest slice: to run before a
    run folder is made.

    Raises:
        MriSrError: the folder is damaged (as :func:`load_split`; or its manifest and
            ``prepare.json`` of different scales), or the patch is larger than a train LR slice
            (naming ``train.lr_patch_size``).
    """
    data_dir = Path(data_dir)
    rows = read_manifest(data_dir)
    shards = {name: _load_shard(data_dir, name, mmap=True) for name in sorted({r["shard"] for r in rows})}
    _check_rows(data_dir, rows, shards)
    scale = read_prepared(data_dir)["scale"]
    if rows and int(rows[0]["scale"]) != scale:
        raise damaged(data_dir, f"manifest.csv is for x{rows[0]['scale']}, prepare.json for x{scale}")
    sizes = [shards[name][0].shape[1:] for name in sorted({r["shard"] for r in rows if r["split"] == "train"})]
    if lr_patch_size is None or not sizes:
        return
    height, width = min(sizes, key=min)
    if min(height, width) < lr_patch_size:
        raise MriSrError(f"{data_dir}: its train LR slices of {height}x{width} pixels are smaller than "
                         f"train.lr_patch_size {lr_patch_size}; lower it or prepare larger slices")
