"""The weights format: ``DIR/config.json`` + ``DIR/<file>.weights.h5``, checked by sha256, rebuilt from config.

``config.json``::

    {"format": "vocals2song-generator", "version": 1,
     "weights_file": "generator.weights.h5", "sha256": "<hex digest of the weights file>",
     "model": {<ModelConfig.to_dict()>: spectrogram, generator, target, tiles, styles, provenance}}

:func:`load_generator` reads the bundled ``weights/`` directory by default, any directory of that format, or
(only when explicitly asked) a Hugging Face Hub repository id holding the same files.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import keras

from vocals2song.config import ModelConfig
from vocals2song.errors import WeightsError
from vocals2song.model.networks import build_generator

FORMAT_NAME = "vocals2song-generator"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "generator.weights.h5"
WEIGHTS_ENVIRONMENT_VARIABLE = "VOCALS2SONG_WEIGHTS"
REPOSITORY_WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass
class SongGenerator:
    """A generator network ready for :func:`vocals2song.inference.vocals_to_song`.

    Attributes:
        config: everything the network and its audio front end were built from.
        network: the Keras U-Net.
        source: where it was loaded from (a directory or hub id), for messages and the model card.
        lock: held while the network draws its dropout masks (seeding, then calling it): the masks' random state
            lives in the network's layers, shared by every request and live take on this model, so two at once
            would draw from each other's state. Copies made with ``dataclasses.replace`` keep the same lock.
    """

    config: ModelConfig
    network: keras.Model
    source: str
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)


def default_weights() -> str:
    """The weights used when none are named: ``$VOCALS2SONG_WEIGHTS``, else the repository's ``weights/``."""
    return os.environ.get(WEIGHTS_ENVIRONMENT_VARIABLE) or str(REPOSITORY_WEIGHTS)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_generator(directory: str | os.PathLike, network: keras.Model, config: ModelConfig) -> Path:
    """Write the network's weights and ``config.json`` (with the weights' sha256) into ``directory``.

    Both files are written to temporary names first and renamed, so a crash leaves the old pair intact.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights_path = directory / WEIGHTS_FILE
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        temporary_weights = Path(scratch) / WEIGHTS_FILE
        network.save_weights(temporary_weights)
        record = {
            "format": FORMAT_NAME,
            "version": 1,
            "weights_file": WEIGHTS_FILE,
            "sha256": file_sha256(temporary_weights),
            "model": config.to_dict(),
        }
        temporary_config = Path(scratch) / CONFIG_FILE
        temporary_config.write_text(json.dumps(record, indent=2) + "\n")
        os.replace(temporary_weights, weights_path)
        os.replace(temporary_config, directory / CONFIG_FILE)
    return directory


def read_config(directory: str | os.PathLike) -> tuple[ModelConfig, dict]:
    """Parse ``directory/config.json`` → (ModelConfig, the whole record); clear errors naming the file."""
    config_path = Path(directory) / CONFIG_FILE
    if not config_path.is_file():
        raise WeightsError(
            f"No trained generator is packaged in '{Path(directory)}' ({CONFIG_FILE} is missing): train one with "
            "'vocals2song train' or point --weights (or $VOCALS2SONG_WEIGHTS) at a weights directory."
        )
    try:
        record = json.loads(config_path.read_text())
        if record.get("format") != FORMAT_NAME:
            raise ValueError(f"format is {record.get('format')!r}, expected {FORMAT_NAME!r}")
        return ModelConfig.from_dict(record["model"]), record
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise WeightsError(f"'{config_path}' is not a valid Vocals2Song config: {error}.") from error


def load_generator(source: str | os.PathLike | None = None) -> SongGenerator:
    """Rebuild the generator from ``config.json`` and load its checked weights (cached per source).

    Args:
        source: a weights directory, a Hugging Face Hub repo id ("owner/name"), or None for
            :func:`default_weights`.
    Raises:
        WeightsError: missing files, checksum mismatch, or weights that do not fit the config.
    """
    source = str(source) if source is not None else default_weights()
    directory = Path(source)
    if not directory.exists() and HUB_ID.match(source):
        directory = _download_from_hub(source)
    return _load_directory(str(directory.resolve()))


@functools.lru_cache(maxsize=4)
def _load_directory(directory: str) -> SongGenerator:
    config, record = read_config(directory)
    weights_path = Path(directory) / str(record.get("weights_file", WEIGHTS_FILE))
    if not weights_path.is_file():
        raise WeightsError(f"The weights file '{weights_path}' named in {CONFIG_FILE} is missing.")
    actual = file_sha256(weights_path)
    if actual != record.get("sha256"):
        raise WeightsError(
            f"The weights file '{weights_path}' is corrupt or does not belong to its {CONFIG_FILE}: its sha256 is "
            f"{actual[:12]}…, the config expects {str(record.get('sha256'))[:12]}…."
        )
    network = build_generator(config.generator)
    try:
        network.load_weights(weights_path)
    except Exception as error:
        raise WeightsError(
            f"The weights file '{weights_path}' does not match the generator described in {CONFIG_FILE} ({error})."
        ) from error
    return SongGenerator(config=config, network=network, source=directory)


def _download_from_hub(repo_id: str) -> Path:
    """Fetch config.json and the weights of a Hub repository (only when a repo id is explicitly given)."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, allow_patterns=[CONFIG_FILE, "*.weights.h5", "README.md"]))
    except Exception as error:
        raise WeightsError(f"Could not download weights from the Hugging Face Hub repository '{repo_id}': {error}") from error
