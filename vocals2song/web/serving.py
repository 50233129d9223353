"""What a long-running server needs around :func:`vocals2song.inference.vocals_to_song`: the generator input
shapes to warm up, the latest songs kept for downloads made on demand, and sweeping the empty folders a cache
purge leaves behind. No web framework here: ``app.py`` uses these.
"""

from __future__ import annotations

import collections
import io
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from vocals2song.audio import to_int16, write_wav
from vocals2song.config import SpectrogramConfig
from vocals2song.plan.harmony import Harmony
from vocals2song.codec.image_files import save_image_array
from vocals2song.codec.network import tile_starts
from vocals2song.inference import TILES_PER_CALL
from vocals2song.model.weights import SongGenerator

CACHE_FOLDER = re.compile(r"[0-9a-f]{64}")  # gradio keeps each cached file in a folder named by its sha256


@dataclass
class KeptSong:
    """What "Prepare downloads" needs of a generated song. Arrays, ``sample_rate`` and ``image_length`` as
    :class:`vocals2song.inference.SongResult`'s (None: the images' rate ``config.sample_rate`` and the song's
    length); the harmony is its plan (None: the song was made without one), the style the one the accompaniment
    was played in (None: the generator knows no style)."""

    song: np.ndarray
    voice_image: np.ndarray
    song_image: np.ndarray
    config: SpectrogramConfig
    harmony: Harmony | None = None
    accompaniment: np.ndarray | None = None
    sample_rate: int | None = None
    image_length: int | None = None
    style: str | None = None

    @property
    def nbytes(self) -> int:
        extra = 0 if self.accompaniment is None else self.accompaniment.nbytes
        return self.song.nbytes + self.voice_image.nbytes + self.song_image.nbytes + extra


class KeptSongs:
    """The latest songs by random key, at most ``max_bytes`` of them (the oldest are dropped first); thread-safe."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._songs: collections.OrderedDict[str, KeptSong] = collections.OrderedDict()
        self._lock = threading.Lock()

    def add(self, kept: KeptSong) -> str:
        key = secrets.token_urlsafe(16)
        with self._lock:
            self._songs[key] = kept
            while sum(song.nbytes for song in self._songs.values()) > self.max_bytes and len(self._songs) > 1:
                self._songs.popitem(last=False)
        return key

    def get(self, key: str) -> KeptSong | None:
        with self._lock:
            return self._songs.get(key)

    def pop(self, key: str) -> KeptSong | None:
        with self._lock:
            return self._songs.pop(key, None)


def wav_bytes(samples: np.ndarray, sample_rate: int, comment: str) -> bytes:
    """Float audio, shape (nb_samples,), in [-1, 1] → a 16-bit mono WAV file's bytes with ``comment`` in its
    LIST/INFO chunk."""
    buffer = io.BytesIO()
    with soundfile.SoundFile(buffer, "w", int(sample_rate), 1, "PCM_16", format="WAV") as file:
        file.comment = comment
        file.write(to_int16(samples))
    return buffer.getvalue()


def write_downloads(kept: KeptSong, folder: Path) -> list[Path]:
    """The song and (when kept) the accompaniment alone as 16-bit WAVs at the song's rate, both images as 16-bit
    PNGs (with their scale and length; the voice's B holds the plan) and, when there is one, the plan as MIDI (melody
    and chords, :func:`vocals2song.plan.midi.write_midi`) in ``folder``. With a style, each name says it
    ("vocals2song-pop-song.wav") and the MIDI records it."""
    length = len(kept.song) if kept.image_length is None else kept.image_length
    rate = kept.sample_rate or kept.config.sample_rate
    stem = "vocals2song" if kept.style is None else f"vocals2song-{kept.style}"
    files = [
        write_wav(folder / f"{stem}-song.wav", kept.song, rate),
        *([] if kept.accompaniment is None else
          [write_wav(folder / f"{stem}-accompaniment.wav", kept.accompaniment, rate)]),
        save_image_array(folder / f"{stem}-voice.png", kept.voice_image, kept.config, 16, length),
        save_image_array(folder / f"{stem}-song.png", kept.song_image, kept.config, 16, length),
    ]
    if kept.harmony is not None:
        from vocals2song.plan.midi import write_midi

        files.append(write_midi(kept.harmony, folder / f"{stem}-plan.mid", style=kept.style))
    return files


def remove_empty_cache_folders(cache_root: Path, age: float) -> int:
    """Remove the empty content-hash folders of gradio's cache older than ``age`` seconds (gradio's purge deletes
    the files, not their folders). Returns how many were removed."""
    removed = 0
    now = time.time()
    try:
        entries = list(os.scandir(cache_root))
    except FileNotFoundError:
        return 0
    for entry in entries:
        try:
            if CACHE_FOLDER.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
                if now - entry.stat(follow_symlinks=False).st_mtime > age:
                    os.rmdir(entry.path)  # only succeeds when empty
                    removed += 1
        except OSError:
            pass
    return removed


def generator_input_shapes(model: SongGenerator, max_seconds: float) -> list[tuple[int, int, int, int]]:
    """Every input shape (batch, bins, frames, channels) the generator gets from voices of up to ``max_seconds``,
    as :func:`vocals2song.inference.predict_image` tiles them: a voice of up to ``tile_frames`` frames is one tile
    padded to a multiple of ``frame_multiple``; a longer one is ``tile_frames``-wide tiles, ``TILES_PER_CALL`` at a
    time."""
    config = model.config
    generator = config.generator
    shapes = [(1, generator.nb_bins, frames, generator.input_channels)
              for frames in range(generator.frame_multiple, config.tile_frames + 1, generator.frame_multiple)]  # fmt: skip
    most_frames = 1 + int(max_seconds * config.spectrogram.sample_rate) // config.spectrogram.hop_length
    most_tiles = len(tile_starts(most_frames, config.tile_frames, config.overlap_frames))
    shapes += [(batch, generator.nb_bins, config.tile_frames, generator.input_channels)
               for batch in range(2, min(TILES_PER_CALL, most_tiles) + 1)]  # fmt: skip
    return shapes


def write_tone(path: Path, seconds: float, sample_rate: int) -> Path:
    """A sung-like 220 Hz tone with harmonics, as a 16-bit WAV (the warm-up's voice)."""
    time_axis = np.arange(int(seconds * sample_rate)) / sample_rate
    tone = sum(np.sin(2 * np.pi * 220.0 * harmonic * time_axis) / harmonic for harmonic in range(1, 6))
    soundfile.write(path, 0.3 * tone / np.max(np.abs(tone)), sample_rate, subtype="PCM_16")
    return path
