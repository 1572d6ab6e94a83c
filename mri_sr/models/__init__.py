"""The models shipped with mri-sr: generator checkpoints with their model cards, listed in an index.

A models folder holds ``index.yaml`` and the files it names::

    models:
      - name: general_x2          # what logs, sidecars and ``mri-sr models`` call it
        scale: 2                  # in-plane factor of the generator
        file: general_x2.pt       # checkpoint (mri_sr.checkpoint layout), relative to the folder
        card: general_x2.md       # model card: training data and budget, gains, what it is not for
        sha256: 3f1c...           # hex SHA-256 of ``file``, checked before every use
        description: one line

The folder is the package's own (``mri_sr/models/``, installed with it as package data), or the
folder named by the environment variable ``MRI_SR_MODELS``, read *instead of* the package's: a
site keeps its own models there (``mri-sr models --add`` writes the index). ``mri-sr upscale``
without ``--checkpoint`` or ``--method`` uses :func:`default_model` of its scale: the first model
of that scale in the index.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from mri_sr.errors import MriSrError
from mri_sr.fsutil import atomic_path, file_sha256

ENV_FOLDER = "MRI_SR_MODELS"
DEFAULT_SCALE = 2
"""The factor of ``--method`` and of the shipped model when ``--scale`` is not given: a 1 mm
isotropic scan becomes 0.5 mm isotropic."""
INDEX = "index.yaml"
FIELDS = ("name", "scale", "file", "card", "sha256", "description")
PACKAGE_FOLDER = Path(__file__).resolve().parent
INDEX_HEADER = ("# Models shipped with mri-sr (mri-sr models lists them; mri-sr models --add writes this file).\n"
                "# Fields: name, scale, file, card, sha256 (of file), description; see mri_sr/models/__init__.py.\n")


@dataclass(frozen=True)
class ShippedModel:
    """One entry of a models index.

    Attributes:
        name: the model's name.
        scale: its in-plane upscaling factor (2, 3 or 4).
        file: the checkpoint, absolute path.
        card: the model card (Markdown), absolute path.
        sha256: hex SHA-256 the index records for ``file``.
        description: one line.
        index: the index file listing it.
    """

    name: str
    scale: int
    file: Path
    card: Path
    sha256: str
    description: str
    index: Path

    def verified(self) -> Path:
        """The checkpoint's path, once its bytes hash to the recorded SHA-256.

        Raises:
            MriSrError: the file is missing or its SHA-256 differs from the index (one line).
        """
        if not self.file.is_file():
            raise MriSrError(f"{self.file}: model {self.name} listed in {self.index} is missing; "
                             "reinstall mri-sr or add the model again (mri-sr models --add)")
        actual = file_sha256(self.file)
        if actual != self.sha256:
            raise MriSrError(f"{self.file}: sha256 {actual[:16]}... does not match {self.sha256[:16]}... recorded "
                             f"in {self.index} (damaged or replaced file); reinstall mri-sr or add the model "
                             "again (mri-sr models --add)")
        return self.file

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (paths as text), without the index."""
        fields = asdict(self)
        del fields["index"]
        return {key: str(value) if isinstance(value, Path) else value for key, value in fields.items()}


def models_folder() -> Path:
    """``$MRI_SR_MODELS`` when set (and not empty), else the package's ``mri_sr/models``."""
    chosen = os.environ.get(ENV_FOLDER)
    return Path(chosen).expanduser() if chosen else PACKAGE_FOLDER


def _entry(raw: Any, index: Path, number: int) -> ShippedModel:
    if not isinstance(raw, dict) or set(raw) != set(FIELDS):
        raise MriSrError(f"{index}: model {number} must have exactly the fields {', '.join(FIELDS)}")
    if raw["scale"] not in (2, 3, 4):
        raise MriSrError(f"{index}: model {raw['name']!r} has scale {raw['scale']!r}; must be 2, 3 or 4")
    folder = index.parent
    return ShippedModel(name=str(raw["name"]), scale=int(raw["scale"]), file=folder / str(raw["file"]),
                        card=folder / str(raw["card"]), sha256=str(raw["sha256"]).lower(),
                        description=str(raw["description"]), index=index)


def _read_index(index: Path) -> list[Any]:
    if not index.is_file():
        return []
    try:
        content = yaml.safe_load(index.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise MriSrError(f"{index}: unreadable models index ({type(exc).__name__})") from None
    if content is None:
        return []
    if not isinstance(content, dict) or not isinstance(content.get("models") or [], list):
        raise MriSrError(f"{index}: a models index is a mapping with a 'models' list")
    return content.get("models") or []


def shipped_models(folder: str | Path | None = None) -> list[ShippedModel]:
    """The models of a folder's index, in its order (none when it has no ``index.yaml``).

    Args:
        folder: a models folder; None: :func:`models_folder`.

    Raises:
        MriSrError: an unreadable index, an entry with missing or extra fields, a bad scale, or two
            entries of one name.
    """
    index = Path(folder or models_folder()) / INDEX
    models = [_entry(raw, index, number) for number, raw in enumerate(_read_index(index), 1)]
    names = [model.name for model in models]
    if len(set(names)) != len(names):
        raise MriSrError(f"{index}: model names must be unique, got {', '.join(names)}")
    return models


def default_model(scale: int, folder: str | Path | None = None) -> ShippedModel:
    """The first model of ``scale`` in the index, its file verified (:meth:`ShippedModel.verified`).

    Raises:
        MriSrError: no model of that scale (the line names the scales that are shipped), or as
            :meth:`ShippedModel.verified`.
    """
    models = shipped_models(folder)
    for model in models:
        if model.scale == scale:
            model.verified()
            return model
    index = Path(folder or models_folder()) / INDEX
    shipped = ", ".join(f"x{s}" for s in sorted({m.scale for m in models})) or "none"
    raise MriSrError(f"no shipped model upscales x{scale} (shipped in {index}: {shipped}); give --scale with a "
                     "shipped factor, --checkpoint CKPT or --method bicubic")


def add_model(checkpoint: str | Path, card: str | Path, *, name: str | None = None, description: str = "",
              folder: str | Path | None = None) -> ShippedModel:
    """Copy a generator checkpoint and its model card into a models folder as ``<name>.pt`` and
    ``<name>.md`` and list them in its index (its scale read from the checkpoint, its SHA-256 computed); an entry of the same name is
    replaced in its place, the others are kept.

    Args:
        checkpoint: an mri-sr generator checkpoint (``final.pt``).
        card: its model card, Markdown.
        name: the model's name; default the checkpoint's file stem.
        description: one line.
        folder: the models folder; None: :func:`models_folder`.

    Returns:
        The new entry.

    Raises:
        MriSrError: unreadable checkpoint or card, or an unwritable folder.
    """
    from mri_sr.checkpoint import load_checkpoint

    folder = Path(folder or models_folder())
    checkpoint, card = Path(checkpoint), Path(card)
    if not card.is_file():
        raise MriSrError(f"{card}: model card not found")
    scale = int(load_checkpoint(checkpoint)["scale"])
    name = name or checkpoint.name.split(".")[0]
    files = {}
    for source, suffix in ((checkpoint, ".pt"), (card, ".md")):
        target = folder / f"{name}{suffix}"
        if not target.exists() or not target.samefile(source):
            with atomic_path(target, suffix=suffix) as tmp:
                shutil.copyfile(source, tmp)
        files[suffix] = target.name
    entry = {"name": name, "scale": scale, "file": files[".pt"], "card": files[".md"],
             "sha256": file_sha256(folder / files[".pt"]), "description": " ".join(description.split())}
    entries = [{**model.to_dict(), "file": model.file.name, "card": model.card.name}
               for model in shipped_models(folder)]
    names = [raw["name"] for raw in entries]
    if name in names:
        entries[names.index(name)] = entry
    else:
        entries.append(entry)
    with atomic_path(folder / INDEX, suffix=".yaml") as tmp:
        tmp.write_text(INDEX_HEADER + yaml.safe_dump({"models": entries}, sort_keys=False))
    return next(model for model in shipped_models(folder) if model.name == name)
