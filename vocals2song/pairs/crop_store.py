"""A crop store: the training pairs encoded once into memory-mapped network images, cropped for free per step.

Streaming crops (:class:`vocals2song.pairs.crops.CropDataset`) pay, for every crop of every step, a FLAC decode,
augmentation, two STFTs, the plan drawing and for a share of crops the plan estimator: on two CPU cores this feed
costs more than the training step itself. A crop store does that work once per corpus: each training pair is
augmented ``variants`` times (:func:`vocals2song.pairs.crops.augment_pair` over the whole pair, its plan
transposed with it), level-normalised as a whole take is at inference, encoded to the voice's R, G (and B for a
plan generator) and the target's channels, and appended to two float16 arrays on disk::

    STORE/store.json    what it was made from (pairs, spectrogram, channels, target, styles, variants, seed,
                        estimated plan share) and, per entry (pair × variant), its first frame and length
    STORE/voice.npy     float16 (total frames, nb_bins, input channels), network units in [-1, 1]
    STORE/target.npy    float16 (total frames, nb_bins, output channels)
    STORE/power.npy     float32 (total frames,) mean square of the raw vocals per hop (silence skipping)

:class:`StoreDataset` reads batches from it (``np.load(mmap_mode="r")``: the operating system pages in what is
used), with what stays cheap on images per crop: a random window (weighted by duration, silent stretches redrawn
as :class:`~vocals2song.pairs.crops.CropDataset` does) and a spectral tilt of the voice (an additive ramp on its dB
scale, R only). A store is built by :func:`open_store` when its folder is empty and reused when its record
matches; a store of other data or settings is refused. A build is written into a ``.partial`` folder and renamed
when complete, so an interrupted build leaves nothing half-made.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Sequence

import keras
import numpy as np

from vocals2song.config import ModelConfig
from vocals2song.errors import TrainingDataError, Vocals2SongError
from vocals2song.pairs.crop_plans import ESTIMATED_PLAN_SHARE, check_pair_styles, plan_channel
from vocals2song.pairs.crops import (SILENT_VOICE_RMS, MAX_CROP_ATTEMPTS, TILT_DB_PER_OCTAVE, TILT_PIVOT_HZ,
                                     TILT_PROBABILITY, _pair_gain, _target_to_network, _voice_to_network,
                                     augment_pair)  # fmt: skip
from vocals2song.pairs.index import SPLITS, Pair, name_hash, read_pair

STORE_VERSION = 1
DEFAULT_VARIANTS = 1  # augmented copies of each pair: each adds variety and ≈ 1.3 GB of disk per hour of pairs
RECORD = "store.json"


def store_record(pairs: Sequence[Pair], config: ModelConfig, variants: int, seed: int,
                 estimated_plan_share: float, min_frames: int, augment: bool = True) -> dict:  # fmt: skip
    """What a store is made from; two stores with the same record hold the same arrays."""
    generator = config.generator
    return {
        "version": STORE_VERSION,
        "pairs": [[pair.name, pair.nb_samples, pair.sample_rate, pair.style] for pair in pairs],
        "spectrogram": dataclasses.asdict(config.spectrogram),
        "nb_bins": generator.nb_bins,
        "input_channels": generator.input_channels,
        "output_channels": generator.output_channels,
        "target": config.target,
        "phase_representation": config.phase_representation,
        "styles": list(config.styles),
        "variants": variants,
        "augment": augment,
        "seed": seed,
        "estimated_plan_share": estimated_plan_share if config.uses_plan else None,
        "min_frames": min_frames,
    }


def _fingerprint(record: dict) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]


def encode_pair(pair: Pair, variant: int, config: ModelConfig, seed: int, estimated_plan_share: float,
                min_frames: int, augment: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """One store entry: the whole ``pair``, augmented (with ``augment``; variant draw ``variant``), as float16
    (frames, nb_bins, input channels) voice and (frames, nb_bins, output channels) target, and float32 (frames,)
    mean square of the raw vocals per hop.

    A pair shorter than ``min_frames`` frames is padded with silence to that length."""
    rate, hop = config.spectrogram.sample_rate, config.spectrogram.hop_length
    length = _entry_samples(pair, config, min_frames)
    vocals, accompaniment = read_pair(pair, 0, length, rate)
    frames = 1 + length // hop
    padded = np.zeros(frames * hop, np.float32)
    padded[:length] = vocals
    power = np.mean(np.square(padded.reshape(frames, hop), dtype=np.float64), axis=1).astype(np.float32)
    rng = np.random.default_rng([seed, SPLITS.index(pair.split), name_hash(pair.name), variant])
    applied: dict = {}
    voice = vocals
    if augment:
        voice, vocals, accompaniment = augment_pair(vocals, accompaniment, rate, rng, applied)
    target = vocals + accompaniment if config.target == "mixture" else accompaniment
    gain = np.float32(_pair_gain(voice))
    voice_network = _voice_to_network(voice * gain, config)
    if config.uses_plan:
        plane = plan_channel(pair, 0, voice_network.shape[1], config, rng, estimated_plan_share,
                             semitones=int(round(applied.get("pitch_shift", 0.0))))
        voice_network = np.concatenate([voice_network, plane[..., None]], axis=-1)
    target_network = _target_to_network(target * gain, config)
    return (voice_network.transpose(1, 0, 2).astype(np.float16), target_network.transpose(1, 0, 2).astype(np.float16),
            power)  # fmt: skip


def _entry_samples(pair: Pair, config: ModelConfig, min_frames: int) -> int:
    """Samples at the model rate a pair's entry covers: the whole pair, at least ``min_frames`` frames' worth (its
    STFT then has ``1 + samples // hop`` frames)."""
    rate, hop = config.spectrogram.sample_rate, config.spectrogram.hop_length
    return max(round(pair.nb_samples * rate / pair.sample_rate), (min_frames - 1) * hop)


def _encode_job(job):
    return encode_pair(*job)


def build_store(folder: Path, pairs: Sequence[Pair], config: ModelConfig, *, variants: int = DEFAULT_VARIANTS,
                seed: int = 0, estimated_plan_share: float = ESTIMATED_PLAN_SHARE, min_frames: int = 256,
                augment: bool = True, workers: int | None = None, progress: bool = True) -> Path:  # fmt: skip
    """Encode ``pairs`` × ``variants`` into a store at ``folder`` (which must not exist) and return it.

    ``workers`` processes encode the entries (default: all cores); the arrays are written as they come back.
    """
    if variants < 1:
        raise Vocals2SongError(f"A crop store needs at least one variant per pair, got {variants}.")
    if not pairs:
        raise TrainingDataError("There are no training pairs to store.")
    check_pair_styles(pairs, config)
    folder = Path(folder)
    record = store_record(pairs, config, variants, seed, estimated_plan_share, min_frames, augment)
    hop = config.spectrogram.hop_length
    lengths = [1 + _entry_samples(pair, config, min_frames) // hop for pair in pairs]
    entries, offset = [], 0
    for variant in range(variants):
        for index, frames in enumerate(lengths):
            entries.append({"pair": index, "variant": variant, "start": offset, "frames": frames})
            offset += frames
    partial = folder.with_name(f".partial-{folder.name}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    generator = config.generator
    open_memmap = np.lib.format.open_memmap
    voice = open_memmap(partial / "voice.npy", "w+", np.float16, (offset, generator.nb_bins, generator.input_channels))
    target = open_memmap(partial / "target.npy", "w+", np.float16,
                         (offset, generator.nb_bins, generator.output_channels))  # fmt: skip
    power = open_memmap(partial / "power.npy", "w+", np.float32, (offset,))
    jobs = [(pairs[entry["pair"]], entry["variant"], config, seed, estimated_plan_share, min_frames, augment)
            for entry in entries]  # fmt: skip
    workers = max(1, workers or os.cpu_count() or 1)
    started = time.monotonic()
    with _Pool(workers) as pool:
        results = pool.map(_encode_job, jobs, chunksize=4) if pool else map(_encode_job, jobs)
        for done, (entry, (voice_entry, target_entry, power_entry)) in enumerate(zip(entries, results), 1):
            span = slice(entry["start"], entry["start"] + entry["frames"])
            if len(voice_entry) != entry["frames"]:
                raise TrainingDataError(f"pair {pairs[entry['pair']].name} gave {len(voice_entry)} frames where "
                                        f"{entry['frames']} were expected.")  # fmt: skip
            voice[span], target[span], power[span] = voice_entry, target_entry, power_entry
            if progress and (done % 50 == 0 or done == len(entries)):
                rate_now = done / max(time.monotonic() - started, 1e-9)
                print(f"\rcrop store: {done}/{len(entries)} entries, {rate_now:.1f}/s", end="", file=sys.stderr)
    if progress:
        print(file=sys.stderr)
    for array in (voice, target, power):
        array.flush()
    del voice, target, power
    record_file = {"fingerprint": _fingerprint(record), "record": record, "entries": entries,
                   "build_seconds": round(time.monotonic() - started, 1)}  # fmt: skip
    (partial / RECORD).write_text(json.dumps(record_file))
    partial.rename(folder)
    return folder


class _Pool:
    """A process pool for ``workers`` > 1 (None for one worker: encode in this process)."""

    def __init__(self, workers: int):
        self.workers = workers
        self.pool = None

    def __enter__(self):
        if self.workers > 1:
            import multiprocessing

            self.pool = concurrent.futures.ProcessPoolExecutor(self.workers,
                                                               mp_context=multiprocessing.get_context("spawn"))
        return self.pool

    def __exit__(self, *exc):
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        return False


def open_store(folder: str | os.PathLike, pairs: Sequence[Pair], config: ModelConfig, *,
               variants: int = DEFAULT_VARIANTS, seed: int = 0, estimated_plan_share: float = ESTIMATED_PLAN_SHARE,
               min_frames: int = 256, augment: bool = True, workers: int | None = None,
               progress: bool = True) -> Path:  # fmt: skip
    """The store of ``pairs`` at ``folder``: reused when its record matches, built when the folder is absent or
    empty. Vocals2SongError for a folder that holds something else (another store, other files)."""
    folder = Path(folder)
    record = store_record(pairs, config, variants, seed, estimated_plan_share, min_frames, augment)
    if (folder / RECORD).is_file():
        held = json.loads((folder / RECORD).read_text())
        if held.get("fingerprint") == _fingerprint(record):
            return folder
        differs = [key for key in record if held.get("record", {}).get(key) != record[key]]
        raise Vocals2SongError(
            f"'{folder}' holds a crop store made from other data or settings (differs in: {', '.join(differs)}). "
            "Remove it, or choose another --crop-store folder."
        )
    if folder.exists() and any(folder.iterdir()):
        raise Vocals2SongError(f"'{folder}' is not empty and holds no crop store: choose an empty or new folder.")
    if folder.exists():
        folder.rmdir()
    return build_store(folder, pairs, config, variants=variants, seed=seed, estimated_plan_share=estimated_plan_share,
                       min_frames=min_frames, augment=augment, workers=workers, progress=progress)  # fmt: skip


class StoreDataset(keras.utils.PyDataset):
    """Batches of random crops from a crop store, as :class:`~vocals2song.pairs.crops.CropDataset` yields them.

    Each batch is a function of (seed, epoch, index): an entry is drawn weighted by its length, then a start
    frame; a crop whose raw vocals are silent (RMS below −45 dBFS) is redrawn up to 10 times (the loudest is kept).
    With ``augment``, the voice's R gets a tilt of ±3 dB/octave around 1 kHz with probability 0.5.
    """

    def __init__(self, folder: str | os.PathLike, config: ModelConfig, *, batch_size: int, crop_frames: int,
                 seed: int = 0, augment: bool = True, steps_per_epoch: int | None = None, workers: int = 1):  # fmt: skip
        super().__init__(workers=workers, use_multiprocessing=False)
        folder = Path(folder)
        held = json.loads((folder / RECORD).read_text())
        record = held["record"]
        generator = config.generator
        if (record["nb_bins"], record["input_channels"], record["output_channels"]) != \
                (generator.nb_bins, generator.input_channels, generator.output_channels):
            raise Vocals2SongError(f"The crop store '{folder}' holds {record['input_channels']}-channel voices and "
                                   f"{record['output_channels']}-channel targets of {record['nb_bins']} bins; this "
                                   f"generator needs {generator.input_channels}, {generator.output_channels} and "
                                   f"{generator.nb_bins}.")  # fmt: skip
        if crop_frames > record["min_frames"] or crop_frames % generator.frame_multiple:
            raise Vocals2SongError(f"crop frames ({crop_frames}) must be a multiple of {generator.frame_multiple} "
                                   f"and at most the store's {record['min_frames']}.")  # fmt: skip
        self.folder, self.config, self.batch_size, self.crop_frames = folder, config, batch_size, crop_frames
        self.seed, self.augment, self.epoch = seed, augment, 0
        self.entries = held["entries"]
        starts = np.array([entry["start"] for entry in self.entries], np.int64)
        windows = np.array([entry["frames"] - crop_frames + 1 for entry in self.entries], np.int64)
        self._starts, self._cumulative = starts, np.cumsum(windows)
        self._voice = self._target = self._power_sum = None
        self._opening = threading.Lock()
        self.nb_frames = int(sum(entry["frames"] for entry in self.entries))
        self.steps_per_epoch = steps_per_epoch or max(1, self.nb_frames // (crop_frames * batch_size))
        frequencies = np.arange(generator.nb_bins) * config.spectrogram.sample_rate / config.spectrogram.n_fft
        octaves = np.log2(np.clip(frequencies, 50.0, None) / TILT_PIVOT_HZ)
        decibels = config.spectrogram.db_ceiling - config.spectrogram.db_floor
        self._tilt_per_db = (2.0 * octaves / decibels).astype(np.float32)[:, None]  # network units per dB/octave

    def _arrays(self):
        """(voice, target) memory maps, opened on first use (once per process; feeder threads share them)."""
        with self._opening:
            if self._voice is None:
                power = np.load(self.folder / "power.npy")
                self._power_sum = np.concatenate([[0.0], np.cumsum(power, dtype=np.float64)])
                self._target = np.load(self.folder / "target.npy", mmap_mode="r")
                self._voice = np.load(self.folder / "voice.npy", mmap_mode="r")
        return self._voice, self._target

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_voice"] = state["_target"] = state["_power_sum"] = state["_opening"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._opening = threading.Lock()

    def __len__(self) -> int:
        return self.steps_per_epoch

    def on_epoch_end(self) -> None:
        self.epoch += 1

    def _draw(self, rng: np.random.Generator) -> int:
        """A crop's first frame in the store, silent stretches redrawn."""
        best, best_power = 0, -1.0
        threshold = SILENT_VOICE_RMS**2
        span = self.crop_frames - 1  # a crop of F frames spans F − 1 hops of audio
        for _ in range(MAX_CROP_ATTEMPTS):
            position = int(rng.integers(0, self._cumulative[-1]))
            entry = int(np.searchsorted(self._cumulative, position, side="right"))
            before = self._cumulative[entry - 1] if entry else 0
            first = int(self._starts[entry] + position - before)
            crop_power = (self._power_sum[first + span] - self._power_sum[first]) / span
            if crop_power > best_power:
                best, best_power = first, crop_power
            if crop_power >= threshold:
                break
        return best

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} is outside 0..{len(self) - 1}")
        voice_store, target_store = self._arrays()
        rng = np.random.default_rng([self.seed, self.epoch, index, 7])  # the windows
        tilts = np.random.default_rng([self.seed, self.epoch, index, 8])  # their augmentation, drawn apart
        generator = self.config.generator
        shape = (self.batch_size, generator.nb_bins, self.crop_frames)
        voices = np.empty(shape + (generator.input_channels,), np.float32)
        targets = np.empty(shape + (generator.output_channels,), np.float32)
        for item in range(self.batch_size):
            first = self._draw(rng)
            window = slice(first, first + self.crop_frames)
            voices[item] = np.asarray(voice_store[window]).transpose(1, 0, 2)
            targets[item] = np.asarray(target_store[window]).transpose(1, 0, 2)
            if self.augment and tilts.random() < TILT_PROBABILITY:
                tilt = float(tilts.uniform(-TILT_DB_PER_OCTAVE, TILT_DB_PER_OCTAVE)) * self._tilt_per_db
                magnitude = voices[item, ..., 0]
                voices[item, ..., 0] = np.where(magnitude > -1.0, np.clip(magnitude + tilt, -1.0, 1.0), -1.0)
        return voices, targets


def store_seconds(folder: str | os.PathLike, config: ModelConfig) -> float:
    """Seconds of audio a store holds (all variants)."""
    held = json.loads((Path(folder) / RECORD).read_text())
    frames = sum(entry["frames"] for entry in held["entries"])
    return frames * config.spectrogram.hop_length / config.spectrogram.sample_rate


