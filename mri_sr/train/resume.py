"""Whether a run folder's ``last.pt`` can be resumed with the current model config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mri_sr.errors import MriSrError
from mri_sr.train.trainer import network_specs

MAX_LISTED = 3  # changes named in the message


def _changes(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> list[str]:
    """``"net_g.num_feat 8 -> 4"``-style differences between two sets of network specs."""
    changes = []
    for name in sorted(set(old) | set(new)):
        if name not in old or name not in new:
            changes.append(f"{name} {'added' if name not in old else 'removed'}")
            continue
        for key in sorted(set(old[name]) | set(new[name])):
            if old[name].get(key) != new[name].get(key):
                changes.append(f"{name}.{key} {old[name].get(key)!r} -> {new[name].get(key)!r}")
    return changes


def check_resumable(checkpoint: dict[str, Any], config: dict[str, Any], specs: dict[str, dict[str, Any]],
                    path: str | Path) -> None:
    """Refuse to resume from a checkpoint whose networks the config no longer describes.

    Args:
        checkpoint: the run's ``last.pt`` as loaded (its ``config``, ``scale`` and ``in_channels``).
        config: the validated model config now given.
        specs: the network specs now built (``network_specs`` of ``config``: scale, in_channels
            and discriminator input size filled in).
        path: the checkpoint file, for the message.

    Raises:
        MriSrError: one line naming the file, what changed (method, a network's type or option,
            the data's scale, a loss weight or option) and how to start afresh.
    """
    path = Path(path)
    old_config = checkpoint.get("config") or {}
    changes = []
    if old_config.get("method", config["method"]) != config["method"]:
        changes.append(f"method {old_config['method']!r} -> {config['method']!r}")
    try:
        old_specs = network_specs(old_config, int(checkpoint["scale"]), int(checkpoint.get("in_channels", 1)))
    except (KeyError, TypeError, ValueError):
        old_specs = {name: {} for name in checkpoint.get("nets", {})}
        old_specs["net_g"] = checkpoint.get("net_g_spec") or {}
    changes += _changes(old_specs, specs)
    if "losses" in old_config:  # a resumed run with other loss terms would silently be another model
        changes += [f"losses.{change}" for change in _changes(old_config["losses"], config["losses"])]
    if changes:
        listed = ", ".join(changes[:MAX_LISTED]) + (f" and {len(changes) - MAX_LISTED} more" if len(changes) > MAX_LISTED else "")
        raise MriSrError(f"{path}: cannot resume, the model changed since this run started ({listed}); to start "
                         f"afresh, move or delete {path.parent} or choose another --out")
