"""``prepare``: volumes -> normalised HR slices, degraded LR slices, shards and a manifest."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mri_sr.data.degradation import Degradation, degradation_class
from mri_sr.data.normalize import FOREGROUND_LEVEL, fit_percentiles
from mri_sr.data.split import SPLITS, split_slabs, split_subjects
from mri_sr.data.synth import load_source
from mri_sr.errors import MriSrError
from mri_sr.fsutil import check_output_folder, temp_dir_beside
from mri_sr.io.volume import reorient
from mri_sr.io.volume import Volume
from mri_sr.signals import raise_if_terminated

log = logging.getLogger(__name__)

AXES = {"sagittal": 0, "coronal": 1, "axial": 2}
MANIFEST_FIELDS = [
    "shard", "row", "subject", "source", "volume_index", "axis", "slice_index", "split",
    "norm_low", "norm_high", "norm_low_percentile", "norm_high_percentile",
    "degradation", "scale", "blur_sigma", "noise_sigma", "seed", "hr_height", "hr_width",
]
MARKER = ".mri-sr-prepared"  # in every prepared folder: only such a folder is ever replaced
LEGACY_LAYOUT = {"prepare.json", "manifest.csv", "shards"}  # prepared before the marker existed


def check_replaceable(out_dir: Path) -> None:
    """Refuse an ``--out`` that is not a folder ``prepare`` made itself (or missing, or empty).

    Raises:
        MriSrError: ``out_dir`` is a file or link, or a folder holding anything else.
    """
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise MriSrError(f"{out_dir}: exists and is not a folder; give a folder for --out")
    if not out_dir.is_dir():
        return
    try:
        names = {p.name for p in out_dir.iterdir()}
    except OSError as exc:
        raise MriSrError(f"{out_dir}: cannot read the output folder ({exc.strerror})") from None
    ours = MARKER in names or ({"prepare.json", "manifest.csv"} <= names <= LEGACY_LAYOUT)
    if names and not ours:
        raise MriSrError(f"{out_dir}: folder exists and was not made by `mri-sr prepare`; refusing to replace "
                         "it (choose another --out)")


def _install(tmp: Path, out_dir: Path) -> None:
    """Rename the finished ``tmp`` folder to ``out_dir``, replacing a previous prepared folder."""
    raise_if_terminated()
    (tmp / MARKER).write_text("written by mri-sr prepare; this folder is replaced when prepare reruns\n")
    tmp.chmod(0o755)
    if out_dir.exists():
        check_replaceable(out_dir)
        old = tmp.with_name(tmp.name + "-old")
        out_dir.rename(old)
        try:
            tmp.rename(out_dir)
        except BaseException:  # SIGTERM or Ctrl-C between the renames: put the old folder back
            old.rename(out_dir)
            raise
        shutil.rmtree(old)
    else:
        tmp.rename(out_dir)


def subject_name(source: dict[str, Any]) -> str:
    """The subject id of a configured source: its ``subject`` or the file name stem."""
    if source.get("subject"):
        return str(source["subject"])
    name = Path(str(source["path"]).replace("builtin:", "")).name.replace(":", "-")
    for ext in (".nii.gz", ".nii", ".h5", ".hdf5"):
        name = name.removesuffix(ext)
    return name


class _SameScans:
    """Refuses a scan given under two subjects (the same file twice, or a copy): its slices would go
    to two splits, so a model would be scored on slices it was trained on."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[str, str]] = {}

    def check(self, volume: Volume, subject: str, path: str) -> None:
        digest = hashlib.sha256(np.ascontiguousarray(volume.data).tobytes() + volume.affine.tobytes()).hexdigest()
        other = self.seen.setdefault(digest, (subject, path))
        if other[0] != subject:
            raise MriSrError(f"{path}: the same scan as {other[1]} (subject {other[0]}), given here as subject "
                             f"{subject}; in two subjects its slices would be in two splits (trained on and "
                             "tested on); give it once")


def _volumes(source: dict[str, Any]) -> list[tuple[int | None, Volume]]:
    """The 3D volumes a source gives: one, or every time point for ``volume: all``."""
    path, index = source["path"], source.get("volume")
    volume = load_source(path, series=source.get("series"))
    if index == "all":
        return [(k, volume.select(k, name=path)) for k in range(volume.n_volumes)]
    return [(index, volume.select(index, name=path, option="data.sources volume:"))]


def _slices(path: str, volume: Volume, data_cfg: dict[str, Any], scale: int) -> tuple[np.ndarray, list[int], dict]:
    """Reorient, normalise and slice one 3D volume of the source ``path``.

    Returns:
        (N, H, W) float32 HR slices in [0, 1] cropped to multiples of ``scale``, their
        indices along the axis, and the normalisation as a dict.
    """
    volume = reorient(volume)
    norm_cfg = data_cfg["normalisation"]
    norm = fit_percentiles(volume.data, norm_cfg["low_percentile"], norm_cfg["high_percentile"], name=path)
    axis = AXES.get(data_cfg["axis"], data_cfg["axis"])
    stack = np.moveaxis(norm.apply(volume.data), axis, 0)
    h, w = stack.shape[1] - stack.shape[1] % scale, stack.shape[2] - stack.shape[2] % scale
    patch = data_cfg["hr_patch_size"]
    if min(h, w) < patch:
        raise MriSrError(
            f"{path}: slices are {stack.shape[1]}x{stack.shape[2]} voxels, smaller than one "
            f"{patch}x{patch} HR training patch"
        )
    stack = stack[:, :h, :w]
    foreground = (stack > FOREGROUND_LEVEL).mean(axis=(1, 2))
    keep = [int(i) for i in np.flatnonzero(foreground >= data_cfg["min_foreground"])]
    if not keep:
        raise MriSrError(f"{path}: no slice has at least {data_cfg['min_foreground']:.0%} foreground "
                         "(data.min_foreground)")
    return np.ascontiguousarray(stack[keep]), keep, norm.to_dict()


def _check_counts(counts: dict[str, int], kept: dict[str, int], data_cfg: dict[str, Any]) -> None:
    """Fail when training would find no train or val slice (instead of an empty run later).

    Args:
        counts: slices per split.
        kept: slices kept per source path after ``min_foreground``.
        data_cfg: the config's ``data`` section.

    Raises:
        MriSrError: naming the sources, how many slices ``min_foreground`` kept and the settings
            to change.
    """
    empty = [split for split in ("train", "val") if not counts[split]]
    if not empty:
        return
    counted = ", ".join(str(n) for n in kept.values())
    advice = "add sources" if len(kept) >= 3 else \
        f"lower data.min_foreground or data.split.slab_gap ({data_cfg['split']['slab_gap']})"
    raise MriSrError(f"{', '.join(kept)}: no {' or '.join(empty)} slice left: data.min_foreground "
                     f"{data_cfg['min_foreground']:g} kept {counted} slices, too few for the train/val/test "
                     f"split; {advice}")


@dataclass(frozen=True)
class _Slab:
    """Where one 3D volume's slices go: its subject, source, time point, shard prefix and noise seed."""

    subject: str
    source: str
    volume_index: int | None
    shard: str
    noise_seed: int


def _write_slab(shards: Path, slab: _Slab, hr: np.ndarray, indices: list[int], labels: list[str | None],
                norm: dict, degradation: Degradation, seed: int, data_cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """Degrade one volume's slices, save one shard per split and return their manifest rows."""
    rows = []
    for split in SPLITS:
        members = [i for i, label in enumerate(labels) if label == split]
        if not members:
            continue
        lr = np.stack([degradation(hr[i], np.random.default_rng([seed, slab.noise_seed, indices[i]]))
                       for i in members])
        shard = f"{slab.shard}-{split}"
        np.save(shards / f"{shard}-hr.npy", hr[members])
        np.save(shards / f"{shard}-lr.npy", lr)
        for row, i in enumerate(members):
            rows.append({
                "shard": shard, "row": row, "subject": slab.subject, "source": slab.source,
                "volume_index": "" if slab.volume_index is None else slab.volume_index,
                "axis": data_cfg["axis"], "slice_index": indices[i], "split": split,
                "norm_low": norm["low"], "norm_high": norm["high"],
                "norm_low_percentile": norm["low_percentile"], "norm_high_percentile": norm["high_percentile"],
                **degradation.to_row(), "seed": seed, "hr_height": hr.shape[1], "hr_width": hr.shape[2],
            })
    return rows


def prepare(config: dict[str, Any], scale: int, out_dir: str | Path) -> Path:
    """Write training slices for every configured source.

    Output folder (written in a temporary folder, then renamed into place)::

        out_dir/shards/{subject}-{split}-hr.npy   (N, H, W) float32 in [0, 1]
        out_dir/shards/{subject}-{split}-lr.npy   (N, H/scale, W/scale) float32 in [0, 1]
        out_dir/manifest.csv                      one row per slice (MANIFEST_FIELDS)
        out_dir/prepare.json                      resolved config and counts
        out_dir/.mri-sr-prepared                  marker: a folder prepare may replace

    A source with ``volume: all`` gives one slab of slices per time point (shards
    ``{subject}-v{k}-{split}``), each normalised on its own and split like a volume of its own.
    ``split.only`` puts every slice in that split (test sets of other scans).

    Deterministic: each slice's noise comes from a generator seeded by
    (seed, crc32(subject) [+ time point for ``volume: all``], slice index), so the same config
    gives identical files.

    Args:
        config: validated configuration (see ``mri_sr.config``).
        scale: downscaling factor (2, 3 or 4).
        out_dir: destination folder: new, empty, or made by an earlier ``prepare`` (then replaced;
            any other folder is refused, so no user file is ever deleted).

    Returns:
        Path of the manifest.

    Raises:
        MriSrError: one line: an unreadable source, two sources of one subject id, one scan
            under two subjects (unless ``split.only``), no train or val slice left, an output
            folder it may not replace.
    """
    data_cfg, seed = config["data"], int(config["seed"])
    sources = data_cfg["sources"]
    subjects = [subject_name(s) for s in sources]
    dupes = sorted({s for s in subjects if subjects.count(s) > 1})
    if dupes:
        raise MriSrError(f"config: subject '{dupes[0]}' is given by several sources; set distinct 'subject' ids")
    deg_cfg = data_cfg["degradation"]
    degradation = degradation_class(deg_cfg["kind"])(scale, deg_cfg["blur_sigma"], deg_cfg["noise_sigma"])
    split_cfg = data_cfg["split"]
    by_subject = split_subjects(subjects, split_cfg["val"], split_cfg["test"], seed) if len(subjects) >= 3 else None
    if by_subject is None and not split_cfg["only"]:
        log.warning("fewer than 3 subjects: each volume is split into separated slabs along the axis")

    out_dir = Path(out_dir)
    check_output_folder(out_dir)
    check_replaceable(out_dir)
    tmp = temp_dir_beside(out_dir)
    try:
        rows, kept, same = [], {}, _SameScans()
        (tmp / "shards").mkdir()
        for source, subject in zip(sources, subjects):
            for volume_index, volume in _volumes(source):
                if not split_cfg["only"]:
                    same.check(volume, subject, str(source["path"]))
                hr, indices, norm = _slices(str(source["path"]), volume, data_cfg, scale)
                kept[str(source["path"])] = kept.get(str(source["path"]), 0) + len(indices)
                if split_cfg["only"]:
                    labels = [split_cfg["only"]] * len(indices)
                elif by_subject:
                    labels = [by_subject[subject]] * len(indices)
                else:
                    labels = split_slabs(len(indices), split_cfg["val"], split_cfg["test"], split_cfg["slab_gap"])
                many = source.get("volume") == "all"
                slab = _Slab(subject, str(source["path"]), volume_index, f"{subject}-v{volume_index}" if many
                             else subject, zlib.crc32(subject.encode()) + (volume_index if many else 0))
                rows += _write_slab(tmp / "shards", slab, hr, indices, labels, norm, degradation, seed, data_cfg)
        counts = {split: sum(r["split"] == split for r in rows) for split in SPLITS}
        if not split_cfg["only"]:
            _check_counts(counts, kept, data_cfg)
        with open(tmp / "manifest.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=MANIFEST_FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        summary = {"scale": scale, "seed": seed, "data": data_cfg, "counts": counts,
                   "degradation": degradation.to_dict()}
        (tmp / "prepare.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        _install(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    log.info("prepared %s slices (train %d, val %d, test %d) in %s",
             sum(counts.values()), counts["train"], counts["val"], counts["test"], out_dir)
    return out_dir / "manifest.csv"
