"""What the app's server needs around inference (vocals2song.web.serving): the kept songs' budget, sweeping the
empty cache folders, and the generator input shapes the warm-up must cover."""

from __future__ import annotations

import os
import time

import numpy as np

from conftest import synthetic_voice
from vocals2song.config import SpectrogramConfig
from vocals2song.inference import vocals_to_song
from vocals2song.web.serving import KeptSong, KeptSongs, generator_input_shapes, remove_empty_cache_folders

MAX_SECONDS = 60  # app.MAX_SECONDS


def test_kept_songs_drop_the_oldest_beyond_their_budget():
    def kept(nb_samples):
        image = np.zeros((513, 10, 3), np.float32)
        return KeptSong(np.zeros(nb_samples, np.float32), image, image, SpectrogramConfig())

    one = kept(1000)
    songs = KeptSongs(max_bytes=2 * one.nbytes + 10)
    keys = [songs.add(kept(1000)) for _ in range(3)]
    assert songs.get(keys[0]) is None and songs.get(keys[1]) is not None and songs.get(keys[2]) is not None
    huge = songs.add(kept(100_000))  # larger than the budget alone: kept, everything older dropped
    assert songs.get(huge) is not None and songs.get(keys[2]) is None


def test_empty_cache_folders_are_removed_once_old(tmp_path):
    old = time.time() - 100
    folders = {name: tmp_path / name for name in ("a" * 64, "b" * 64, "c" * 64, "not-gradios")}
    for folder in folders.values():
        folder.mkdir()
    (folders["b" * 64] / "song.wav").write_bytes(b"RIFF")
    for name in ("a" * 64, "b" * 64, "not-gradios"):
        os.utime(folders[name], (old, old))
    assert remove_empty_cache_folders(tmp_path, age=50) == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["b" * 64, "c" * 64, "not-gradios"]


def test_warm_up_covers_every_generator_input_shape(tiny_model, monkeypatch):
    """The generator sees only the shapes the app's warm-up gives it, for voices from 0.5 s to MAX_SECONDS."""
    model = tiny_model
    expected = set(generator_input_shapes(model, MAX_SECONDS))
    seen = set()
    network = model.network

    class Spy:
        def __call__(self, batch, training=False):
            seen.add(tuple(np.shape(batch)))
            return network(batch, training=training)

        def __getattr__(self, name):
            return getattr(network, name)

    monkeypatch.setattr(model, "network", Spy())
    rate = model.config.spectrogram.sample_rate
    hop = model.config.spectrogram.hop_length
    tile, step = model.config.tile_frames, model.config.tile_frames - model.config.overlap_frames
    frame_counts = {1 + int(0.5 * rate) // hop, tile - 1, tile, tile + 1, tile + step, tile + 3 * step + 1,
                    tile + 4 * step + 1, 1 + MAX_SECONDS * rate // hop}  # fmt: skip
    for nb_frames in sorted(frame_counts):
        voice = synthetic_voice((nb_frames - 1) * hop / rate + 1e-3, rate)
        vocals_to_song(voice, rate, model)
    assert seen <= expected and len(seen) >= 4, (seen, expected)
