"""Many scans in, a BIDS derivatives dataset out: what the workflow's ``upscale`` target reads
and writes.

Inputs are the ``upscale.scans`` entries of the workflow config: a NIfTI file or a DICOM folder
(named by the entry's ``subject``, ``session`` and ``suffix``), or the root of a BIDS dataset
(a folder holding ``dataset_description.json``), indexed with pybids: every anatomical NIfTI
image, or those matching the entry's ``filters`` (pybids entities: ``suffix``, ``session``,
``acquisition``, ``run``, ``subject``...).

Outputs follow BIDS derivatives (BIDS 1.9, "Derivatives > Common data types"): each scan becomes
``<out>/sub-<label>/[ses-<label>/]anat/<source entities>_desc-<desc>_<suffix>.nii.gz`` with a JSON
JSON sidecar beside it (:mod:`mri_sr.sidecar`, written by ``upscale`` and ``throughplane`` for every
output), and ``<out>/dataset_description.json`` says
``DatasetType: derivative`` and ``GeneratedBy`` mri-sr (:func:`write_dataset_description`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mri_sr import __version__
from mri_sr.errors import MriSrError
from mri_sr.fsutil import atomic_path

BIDS_VERSION = "1.9.0"
PIPELINE = "mri-sr"
DEFAULT_FILTERS = {"datatype": "anat"}
"""pybids entities of the images taken from a BIDS root when an entry gives no ``filters``."""


@dataclass(frozen=True)
class Scan:
    """One upscaling job.

    Attributes:
        source: NIfTI file or DICOM folder to upscale.
        path: the output's path inside the derivatives folder, without ``.nii.gz`` (also the
            job's name), e.g. ``sub-01/ses-2/anat/sub-01_ses-2_desc-bicubic_T1w``.
    """

    source: str
    path: str


def label(text: str) -> str:
    """A BIDS label (letters and digits only) made from ``text``: ``chris_t1`` -> ``christ1``."""
    cleaned = re.sub(r"[^A-Za-z0-9]", "", text)
    if not cleaned:
        raise MriSrError(f"{text!r}: cannot make a BIDS label (letters and digits) of it")
    return cleaned


def derivative_path(source_name: str, desc: str) -> str:
    """``sub-01_ses-2_acq-mp_T1w.nii.gz`` -> ``sub-01_ses-2_acq-mp_desc-<desc>_T1w`` (no extension).

    ``desc`` is the last entity before the suffix, as BIDS orders entities; a ``desc`` the source
    already has is replaced.
    """
    stem = source_name.split(".")[0]
    *entities, suffix = stem.split("_")
    entities = [e for e in entities if not e.startswith("desc-")]
    return "_".join([*entities, f"desc-{label(desc)}", suffix])


def _folder(subject: str, session: str | None) -> str:
    return f"sub-{subject}/" + (f"ses-{session}/" if session else "") + "anat"


def _bids_scans(root: Path, filters: dict[str, Any], desc: str) -> list[Scan]:
    from bids import BIDSLayout

    layout = BIDSLayout(root, validate=False)
    query = {**DEFAULT_FILTERS, **filters}
    images = layout.get(return_type="object", extension=[".nii", ".nii.gz"], **query)
    if not images:
        raise MriSrError(f"{root}: no image in this BIDS dataset matches {query}")
    scans = []
    for image in images:
        entities = image.get_entities()
        name = derivative_path(image.filename, desc)
        scans.append(Scan(image.path, f"{_folder(entities['subject'], entities.get('session'))}/{name}"))
    return scans


def list_scans(section: dict[str, Any]) -> list[Scan]:
    """Every scan of a validated ``upscale`` config section, with its output path.

    Raises:
        MriSrError: a missing path, a BIDS root without matching images, or two scans that would
            write the same output (the message names both).
    """
    desc = upscale_desc(section)
    scans: list[Scan] = []
    for entry in section["scans"]:
        path = Path(entry["path"])
        if not path.exists():
            raise MriSrError(f"{path}: upscale.scans entry does not exist")
        if (path / "dataset_description.json").is_file():
            scans += _bids_scans(path, entry.get("filters") or {}, desc)
            continue
        subject = label(entry.get("subject") or path.name.split(".")[0])
        session = label(entry["session"]) if entry.get("session") else None
        entities = [f"sub-{subject}"] + ([f"ses-{session}"] if session else [])
        name = "_".join([*entities, f"desc-{label(desc)}", entry.get("suffix") or "T1w"])
        scans.append(Scan(str(path), f"{_folder(subject, session)}/{name}"))
    seen: dict[str, str] = {}
    for scan in scans:
        if scan.path in seen:
            raise MriSrError(f"{scan.source} and {seen[scan.path]}: both would be written to {scan.path}.nii.gz "
                             "(give the entries distinct subject, session or suffix)")
        seen[scan.path] = scan.source
    return scans


def upscale_desc(section: dict[str, Any]) -> str:
    """The ``desc`` label of the outputs: ``upscale.desc``, else the model's or method's name."""
    checkpoint = section.get("checkpoint")
    return label(section.get("desc") or ("throughplane" if section.get("through_plane") else None)
                 or section.get("model") or (Path(checkpoint).stem if checkpoint else None) or section["method"])


def write_dataset_description(root: str | Path) -> Path:
    """``root/dataset_description.json`` of the derivatives dataset (written atomically)."""
    path = Path(root) / "dataset_description.json"
    description = {
        "Name": "mri-sr super-resolution",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": PIPELINE, "Version": __version__,
                         "Description": "MRI super-resolution (mri-sr upscale)"}],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(description, indent=2) + "\n")
    return path


def derivatives_root(output: str | Path) -> Path:
    """The derivatives dataset folder of an output ``<root>/sub-*/[ses-*/]anat/<file>``.

    Raises:
        MriSrError: the output is not inside a ``sub-*`` folder.
    """
    output = Path(output).absolute()
    for parent in output.parents:
        if parent.name.startswith("sub-"):
            return parent.parent
    raise MriSrError(f"{output}: a BIDS output must lie in <derivatives>/sub-<label>/[ses-<label>/]anat/")


def upscale_checkpoint(section: dict[str, Any]) -> str | None:
    """The generator file of an ``upscale`` section: its ``checkpoint``, or the final generator of
    its ``model`` at its ``scale`` (``results/runs/x<scale>/<model>/final.pt``); None when neither
    is set (its ``method`` then upscales).

    Raises:
        MriSrError: both ``model`` and ``checkpoint`` are set.
    """
    if section.get("model") and section.get("checkpoint"):
        raise MriSrError("upscale: set model or checkpoint, not both")
    if section.get("model"):
        return f"results/runs/x{section['scale']}/{section['model']}/final.pt"
    return section.get("checkpoint")


def upscale_command(section: dict[str, Any]) -> str:
    """The ``mri-sr`` verb of every job of an ``upscale`` section: ``throughplane`` (with
    ``through_plane`` minutes) or ``upscale``."""
    return "throughplane" if section.get("through_plane") else "upscale"


def upscale_arguments(section: dict[str, Any]) -> str:
    """The options of :func:`upscale_command` for every job of an ``upscale`` section (shell-quoted)."""
    import shlex

    checkpoint = upscale_checkpoint(section)
    if section.get("through_plane"):
        how = ["--minutes", section["through_plane"]] + (["--init", checkpoint] if checkpoint else [])
    else:
        how = (["--checkpoint", checkpoint] if checkpoint else ["--method", section["method"]]) + ["--scale",
                                                                                                  section["scale"]]
    options = [*how, "--batch-size", section["batch_size"], "--device", section["device"],
               "--precision", section["precision"], "--bids-derivatives"]
    return shlex.join(str(o) for o in options)
