"""A run folder's state: the lock of its one writer, the data it was trained on, whether its
``last.pt`` can be resumed, and a fresh run's initialisation from a pre-training checkpoint.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import socket
from pathlib import Path
from typing import Any

from torch import nn

from mri_sr.checkpoint import GENERATOR_SPEC_KEYS, load_checkpoint
from mri_sr.errors import MriSrError
from mri_sr.train.trainer import network_specs

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"
"""Lock file inside a run folder: held (flock) by the process writing the run; holds its pid and host."""
FINGERPRINT_FILES = ("prepare.json", "manifest.csv")
"""Files of a prepared folder whose bytes define its data (the shards are written from them, deterministically)."""


class RunLock:
    """An exclusive ``flock`` on ``run_dir/.lock`` while one process writes the run folder.

    The lock file holds ``pid host`` of the holder while it is held and is emptied on release;
    the kernel drops the lock when the holder dies, even by SIGKILL, so a stale file never blocks.

    Args:
        run_dir: the run folder (created when missing).
        command: what holds it, for the message (``mri-sr train``).

    Raises:
        MriSrError: (on ``__enter__``) another process holds the lock: one line naming the folder
            and the holder's pid and host; nothing is written.
    """

    def __init__(self, run_dir: str | Path, command: str = "mri-sr train") -> None:
        self.run_dir, self.command, self._fd = Path(run_dir), command, None
        self._created = False

    def __enter__(self) -> RunLock:
        self._created = not self.run_dir.exists()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").split()
            os.close(fd)
            who = f"pid {holder[0]} on {holder[1]}" if len(holder) >= 2 else "another process"
            raise MriSrError(f"{self.run_dir}: in use by another {self.command} ({who}); wait for it to end "
                             "or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the only descriptor releases the flock
            self._fd = None
            if exc_type is not None and self._created:  # a run that failed leaves no folder it made
                (self.run_dir / LOCK_NAME).unlink(missing_ok=True)
                with contextlib.suppress(OSError):  # not empty: the run wrote something, keep it
                    self.run_dir.rmdir()


def data_fingerprint(data_dir: str | Path) -> str:
    """sha256 (hex) of a prepared folder's ``prepare.json`` and ``manifest.csv``, in that order.

    Two folders prepared from the same sources, degradation and seed have the same fingerprint;
    another degradation, scale, scan or split has another.
    """
    digest = hashlib.sha256()
    for name in FINGERPRINT_FILES:
        path = Path(data_dir) / name
        digest.update(name.encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"")
    return digest.hexdigest()


def check_same_data(checkpoint: dict[str, Any], data_dir: str | Path, fingerprint: str, path: str | Path) -> None:
    """Refuse to resume a run on other prepared data than it started on.

    Args:
        checkpoint: the run's ``last.pt`` as loaded (its ``data``: ``{"folder", "fingerprint"}``).
        data_dir: the ``--data`` folder now given; fingerprint: its :func:`data_fingerprint`.
        path: the checkpoint file, for the message.

    A checkpoint without a ``data`` record (written before runs recorded their data) is resumed
    with a warning: what it was trained on is unknown.

    Raises:
        MriSrError: one line naming both folders and how to start afresh.
    """
    path, recorded = Path(path), checkpoint.get("data")
    if not isinstance(recorded, dict) or "fingerprint" not in recorded:
        log.warning("%s records no training data; resuming it on %s unchecked", path, data_dir)
        return
    if recorded["fingerprint"] == fingerprint:
        return
    old = recorded.get("folder", "?")
    if Path(old) == Path(data_dir):
        what = f"the prepared data in {data_dir} changed since this run started"
    else:
        what = f"this run started on {old}, --data is {data_dir} (other prepared data)"
    raise MriSrError(f"{path}: cannot resume, {what}; to start afresh, move or delete {path.parent} "
                     "or choose another --out")


MAX_LISTED = 3
"""Changes named in a refused-resume message."""


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
            the data's scale, a loss weight or option, the training data drawn: synthetic
            anatomy, degradation ranges, augmentation) and how to start afresh.
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
    for key in ("synthetic_anatomy", "random_degradation", "augmentation"):  # the data the run draws
        absent = None if key == "synthetic_anatomy" else config["train"][key]  # older runs had no such key
        old_value = (old_config.get("train") or {}).get(key, absent)
        if old_value != config["train"][key]:
            changes.append(f"train.{key} {old_value!r} -> {config['train'][key]!r}")
    if changes:
        listed = ", ".join(changes[:MAX_LISTED]) + (f" and {len(changes) - MAX_LISTED} more" if len(changes) > MAX_LISTED else "")
        raise MriSrError(f"{path}: cannot resume, the model changed since this run started ({listed}); to start "
                         f"afresh, move or delete {path.parent} or choose another --out")


def init_generators(nets: dict[str, nn.Module], specs: dict[str, dict[str, Any]], init: str | Path, *,
                    partial: bool = False) -> list[str]:
    """Load ``net_g`` (required) and ``net_g_lr`` (when both the run and ``init`` have it) from ``init``.

    Args:
        nets: the run's unwrapped networks, freshly built.
        specs: their resolved network specs.
        init: checkpoint of the pre-training stage (its ``final.pt``).
        partial: copy every ``net_g`` weight whose name and shape match, whatever the specs say
            (through-plane self-training starting from another generator); at least one must.

    Returns:
        The names of the networks loaded.

    Raises:
        MriSrError: a generator whose spec differs from the checkpoint's (``partial``: no weight
            matches), or no ``net_g`` in it.
    """
    source = load_checkpoint(init)
    if partial:
        _load_matching(nets["net_g"], source, init)
        return ["net_g"]
    loaded = []
    for name, spec_key in GENERATOR_SPEC_KEYS.items():
        if name not in nets or name not in source.get("nets", {}):
            if name == "net_g":
                raise MriSrError(f"{init}: no generator net_g to initialise from")
            continue
        theirs = source.get(spec_key)
        if theirs != specs[name]:
            theirs = theirs if isinstance(theirs, dict) else {}
            keys = sorted(set(theirs) | set(specs[name]), key=lambda k: (k != "type", k))
            changes = ", ".join(f"{k} {theirs.get(k, '(unset)')} (this run: {specs[name].get(k, '(unset)')})"
                                for k in keys if theirs.get(k) != specs[name].get(k))
            raise MriSrError(f"--init {init}: its {name} differs from this run's: {changes}")
        nets[name].load_state_dict(source["nets"][name])
        loaded.append(name)
    if "net_g_lr" in nets and "net_g_lr" not in loaded:
        log.warning("%s has no net_g_lr: the degradation generator starts untrained", init)
    log.info("initialised %s from %s", ", ".join(loaded), init)
    return loaded


def _load_matching(net: nn.Module, source: dict[str, Any], init: str | Path) -> None:
    """Copy into ``net`` every weight of ``source``'s ``net_g`` whose name and shape match."""
    try:
        weights = source["nets"]["net_g"]
    except (KeyError, TypeError):
        raise MriSrError(f"{init}: checkpoint holds no generator ('nets.net_g')") from None
    target = net.state_dict()
    matched = {k: v for k, v in weights.items() if k in target and target[k].shape == v.shape}
    if not matched:
        raise MriSrError(f"{init}: no weight matches the {type(net).__name__} being trained")
    net.load_state_dict({**target, **matched})
    log.info("%s: started from %d of %d weights", init, len(matched), len(target))
