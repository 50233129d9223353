"""Checkpoints of a training run: written atomically, listed, restored, and the half-written ones removed."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import keras
import numpy as np

from vocals2song.config import ModelConfig
from vocals2song.errors import Vocals2SongError
from vocals2song.training.model import Pix2Pix

CHECKPOINT_FORMAT = "vocals2song-checkpoint"
CHECKPOINTS_KEPT = 2
CHECKPOINT_NAME = re.compile(r"^step-(\d+)$")
PARTIAL_PREFIX = ".partial-"


def checkpoint_directory(out: Path) -> Path:
    return out / "checkpoints"


def list_checkpoints(out: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints (a ``step-N`` folder whose state.json names step N), oldest first."""
    found = []
    directory = checkpoint_directory(out)
    if not directory.is_dir():
        return found
    for path in directory.iterdir():
        match = CHECKPOINT_NAME.match(path.name)
        if not match:
            continue
        try:
            state = json.loads((path / "state.json").read_text())
        except (OSError, ValueError):
            continue
        if state.get("format") == CHECKPOINT_FORMAT and state.get("step") == int(match.group(1)):
            found.append((int(match.group(1)), path))
    return sorted(found)


def save_checkpoint(out: Path, model: Pix2Pix, state: dict[str, Any]) -> Path:
    """Write a checkpoint for ``state["step"]`` atomically and keep the last :data:`CHECKPOINTS_KEPT`.

    Everything is written into ``checkpoints/.partial-step-N-PID`` and that folder is renamed to ``step-N``
    in one ``os.replace``, so a kill at any moment leaves either no ``step-N`` or a complete one.
    """
    directory = checkpoint_directory(out)
    directory.mkdir(parents=True, exist_ok=True)
    name = f"step-{state['step']:07d}"
    partial = directory / f"{PARTIAL_PREFIX}{name}-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    model.generator.save_weights(partial / "generator.weights.h5")
    model.discriminator.save_weights(partial / "discriminator.weights.h5")
    for optimizer_name, optimizer in (("g_optimizer", model.g_optimizer), ("d_optimizer", model.d_optimizer)):
        with open(partial / f"{optimizer_name}.npz", "wb") as file:
            np.savez(file, *[keras.ops.convert_to_numpy(variable) for variable in optimizer.variables])
    (partial / "state.json").write_text(json.dumps({"format": CHECKPOINT_FORMAT, "version": 1, **state}, indent=2))
    final = directory / name
    if final.exists():  # the same step written again (a resumed run); move the old one aside first
        stale = directory / f"{PARTIAL_PREFIX}{name}-replaced-{os.getpid()}"
        os.replace(final, stale)
        shutil.rmtree(stale, ignore_errors=True)
    os.replace(partial, final)
    for _, old in list_checkpoints(out)[:-CHECKPOINTS_KEPT]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(path: Path, model: Pix2Pix, config: ModelConfig | None = None) -> dict[str, Any]:
    """Restore networks and optimizers from a checkpoint folder; returns its state.json.

    With ``config``, a checkpoint of another generator shape, target or audio front end is refused (before
    any weight is read) with a message naming the options to change.
    """
    state = json.loads((path / "state.json").read_text())
    trained = state.get("config", {})
    with contextlib.suppress(TypeError, ValueError):  # written before a field existed: compare with its default
        trained = ModelConfig.from_dict(trained).to_dict()
    if config is not None and any(trained.get(key) != value for key, value in config.to_dict().items()
                                  if key in ("generator", "target", "spectrogram", "phase_representation")):
        raise Vocals2SongError(
            f"The checkpoint in '{path}' was trained with another model (generator {trained.get('generator')}, "
            f"target {trained.get('target')}, phase {trained.get('phase_representation', 'raw')}, audio "
            f"{trained.get('spectrogram')}): use the same --width/--target/--phase-representation/--sample-rate, "
            "or another --out."
        )
    model.build_optimizers()
    try:
        model.generator.load_weights(path / "generator.weights.h5")
        model.discriminator.load_weights(path / "discriminator.weights.h5")
        for optimizer_name, optimizer in (("g_optimizer", model.g_optimizer), ("d_optimizer", model.d_optimizer)):
            with np.load(path / f"{optimizer_name}.npz") as arrays:
                values = [arrays[f"arr_{index}"] for index in range(len(arrays.files))]
            if len(values) != len(optimizer.variables):
                raise ValueError(f"{optimizer_name} has {len(values)} variables, the model {len(optimizer.variables)}")
            for variable, value in zip(optimizer.variables, values):
                if tuple(variable.shape) != value.shape:
                    raise ValueError(f"{variable.path} has shape {tuple(variable.shape)}, the checkpoint {value.shape}")
                variable.assign(value)
    except (OSError, ValueError, KeyError) as error:
        raise Vocals2SongError(f"The checkpoint '{path}' does not fit this model ({str(error)[:300]}).") from error
    return state


def remove_partial_checkpoints(out: Path) -> None:
    """Delete half-written checkpoint folders left by a killed run."""
    directory = checkpoint_directory(out)
    if directory.is_dir():
        for path in directory.glob(f"{PARTIAL_PREFIX}*"):
            shutil.rmtree(path, ignore_errors=True)

