"""The JSON sidecar written beside every upscaled image: what made it, never who was scanned.

``OUT.nii[.gz]`` gets ``OUT.json``, with BIDS-style keys so that the same file serves as the BIDS
derivatives sidecar of the workflow's ``upscale`` target:

- ``Description``: one sentence.
- ``SourceFile``: the input's file or folder *name* (no folder path, no DICOM field).
- ``Method``: ``generator``, ``through-plane`` (self-trained on the scan; its start weights, if
  any, under ``StartWeights``), or the classical method (``bicubic``).
- ``Model``: the shipped model's name (:mod:`mri_sr.models`), or null for a checkpoint given by path.
- ``Checkpoint``, ``CheckpointSHA256``: the generator file's name and the hex SHA-256 of its bytes.
- ``Scale``: the upscaling factor; ``Precision``: the autocast mode the generator ran in
  (the caller passes ``fp32`` for a classical method).
- ``Options``: the command's options; further keys of the caller (``details``), e.g. the grid.
- ``SoftwareName``, ``SoftwareVersion``; ``SkullStripped``: false (required by BIDS for anatomical
  derivatives; mri-sr removes no voxel).

No DICOM attribute of the input is copied: a sidecar carries nothing that identifies a patient
beyond what the input's own name says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mri_sr import __version__
from mri_sr.fsutil import atomic_path, file_sha256

SOFTWARE = "mri-sr"


def sidecar_path(output: str | Path) -> Path:
    """The JSON beside an image: ``x.nii.gz`` / ``x.nii`` (any case) -> ``x.json``, other dots in
    the name kept (``scan.v2.nii.gz`` -> ``scan.v2.json``); another name has its last suffix
    replaced (``0001.dcm`` -> ``0001.json``)."""
    output = Path(output)
    for extension in (".nii.gz", ".nii"):
        if output.name.lower().endswith(extension):
            return output.with_name(output.name[:-len(extension)] + ".json")
    return output.with_suffix(".json")


def source_name(source: str | Path) -> str:
    """The input's file or folder name (``builtin:`` names as they are)."""
    text = str(source)
    return text if text.startswith("builtin:") else Path(text).name


def write_sidecar(output: str | Path, *, source: str | Path, checkpoint: str | Path | None, method: str | None,
                  scale: int, precision: str, options: dict[str, Any], model: str | None = None,
                  details: dict[str, Any] | None = None) -> Path:
    """Write the sidecar of ``output`` beside it (atomically).

    Args:
        output: the upscaled image.
        source: the input as given (only its name is written).
        checkpoint: the generator file, or None (a classical method, or through-plane).
        method: ``through-plane`` or the classical method's name when ``checkpoint`` is None.
        scale: the upscaling factor.
        precision: the autocast mode the generator ran in.
        options: the command's options (JSON-serialisable; other values written as text).
        model: the shipped model's name, when the generator is one.
        details: more keys, added after ``Options``.

    Returns:
        The sidecar's path.
    """
    how = f"model {model}" if model else (f"checkpoint {Path(checkpoint).name}" if checkpoint else method)
    sidecar = {
        "Description": f"{source_name(source)} super-resolved x{scale} by {SOFTWARE} with {how}",
        "SourceFile": source_name(source),
        "Method": "generator" if checkpoint else method,
        "Model": model,
        "Checkpoint": Path(checkpoint).name if checkpoint else None,
        "CheckpointSHA256": file_sha256(checkpoint) if checkpoint else None,
        "Scale": scale,
        "Precision": precision,
        "Options": options,
        **(details or {}),
        "SoftwareName": SOFTWARE,
        "SoftwareVersion": __version__,
        "SkullStripped": False,
    }
    path = sidecar_path(output)
    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(sidecar, indent=2, default=str) + "\n")
    return path
