"""Inputs of the report: metrics JSON files, their example images, training run folders, provenance."""

from __future__ import annotations

import json
import logging
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mri_sr.config import read_yaml
from mri_sr.resample import CLASSICAL
from mri_sr.errors import MriSrError
from mri_sr.train.runlog import read_log

log = logging.getLogger(__name__)

_REQUIRED = ("method", "dataset", "scale", "psnr", "ssim", "lr_consistency_psnr", "images")


@dataclass
class Group:
    """The results of every method on one dataset at one scale.

    Attributes:
        dataset: dataset name as in the metrics JSON.
        scale: SR factor.
        kind: ``"mri"`` or ``"natural"``.
        results: metrics dicts (each with ``_path``, its JSON file), classical methods first.
    """

    dataset: str
    scale: int
    kind: str
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.dataset} x{self.scale}"


@dataclass
class Run:
    """A training run folder.

    Attributes:
        name: display name (folder name, or parent/folder when two runs share one).
        path: the folder.
        summary: ``summary.json`` (empty when missing).
        records: ``log.jsonl`` lines (unparsable lines skipped).
    """

    name: str
    path: Path
    summary: dict[str, Any]
    records: list[dict[str, Any]]


def load_metrics(path: str | Path) -> dict[str, Any]:
    """Read one metrics JSON (``mri-sr evaluate --out``), adding ``_path``.

    Raises:
        MriSrError: missing, not JSON, or lacking a required key (named).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise MriSrError(f"{path}: metrics file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MriSrError(f"{path}: not a readable metrics JSON ({exc})") from None
    missing = [k for k in _REQUIRED if not isinstance(data, dict) or k not in data]
    if missing:
        raise MriSrError(f"{path}: not an mri-sr metrics file (missing {', '.join(missing)})")
    data["_path"] = path
    data.setdefault("kind", "natural")
    return data


def group_results(results: list[dict[str, Any]]) -> list[Group]:
    """Group by (dataset, scale) in order of first appearance; classical methods first within a group.

    Raises:
        MriSrError: two files give the same method on the same dataset and scale.
    """
    groups: dict[tuple[str, int], Group] = {}
    for result in results:
        key = (str(result["dataset"]), int(result["scale"]))
        group = groups.setdefault(key, Group(key[0], key[1], str(result["kind"])))
        for other in group.results:
            if other["method"] == result["method"]:
                raise MriSrError(f"{result['_path']}: method {result['method']!r} on {group.title} is also in "
                                 f"{other['_path']}; give one of them another --name")
        group.results.append(result)
    for group in groups.values():
        position = {id(r): i for i, r in enumerate(group.results)}
        group.results.sort(key=lambda r: (CLASSICAL.index(r["method"]) if r["method"] in CLASSICAL
                                          else len(CLASSICAL), position[id(r)]))
    return list(groups.values())


def load_samples(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The example images of one result: image name -> {lr, sr, hr arrays (uint8), lr_error, metrics}.

    Empty when the result has no ``images_dir`` or it is gone (logged).
    """
    if not result.get("images_dir"):
        return {}
    folder = Path(result["_path"]).parent / result["images_dir"]
    try:
        index = json.loads((folder / "index.json").read_text())
        samples = {}
        for entry in index["images"]:
            arrays = {key: _read_png(folder / entry[key]) for key in ("lr", "sr", "hr")}
            samples[entry["name"]] = {**entry, **arrays, "lr_error": np.load(folder / entry["lr_error"])}
        return samples
    except (OSError, KeyError, ValueError, json.JSONDecodeError) as exc:
        log.warning("%s: example images unusable (%s); no comparison panel from it", folder, exc)
        return {}


def _read_png(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img)


def load_runs(folders: list[str]) -> list[Run]:
    """Read each run folder's ``summary.json`` and ``log.jsonl``; missing pieces are left empty."""
    paths = [Path(f) for f in folders]
    names = [p.resolve().name for p in paths]
    runs = []
    for path, name in zip(paths, names):
        if names.count(name) > 1:
            name = f"{path.resolve().parent.name}/{name}"
        if not path.is_dir():
            log.warning("%s: run folder not found; the report leaves it out of the curves", path)
        try:
            summary = json.loads((path / "summary.json").read_text())
        except (OSError, json.JSONDecodeError):
            summary = {}
        runs.append(Run(name, path, summary if isinstance(summary, dict) else {}, read_log(path / "log.jsonl")))
    return runs


def git_commit() -> str:
    """``git rev-parse HEAD`` in the working directory, or ``"unknown"``."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else "unknown"


_SOURCE_KEYS = ("path", "subject", "series")


def config_text(path: str | Path) -> str:
    """The config as YAML, with scan sources redacted (their file names may name a patient).

    The ``path``, ``subject`` and ``series`` of every entry of a ``sources`` list become
    ``<redacted N>``, except ``builtin:`` paths; comments are dropped.

    Raises:
        MriSrError: unreadable, or not YAML.
    """
    import yaml

    config = read_yaml(path)

    def redact(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: ([_redact_source(s, i) for i, s in enumerate(v, 1)] if k == "sources" and isinstance(v, list)
                        else redact(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [redact(v) for v in node]
        return node

    return yaml.safe_dump(redact(config), sort_keys=False, default_flow_style=False)


def _redact_source(source: Any, number: int) -> Any:
    if not isinstance(source, dict):
        return source if str(source).startswith("builtin:") else f"<redacted {number}>"
    return {k: (f"<redacted {number}>" if k in _SOURCE_KEYS and v is not None and not str(v).startswith("builtin:")
                else v) for k, v in source.items()}
