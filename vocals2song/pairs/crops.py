"""Training data: streamed random crops of the pairs, augmented and encoded (whole examples: :mod:`vocals2song.pairs.examples`).

The pairs themselves (the index of what is on disk, windows read from it) are :mod:`vocals2song.pairs.index`. Every
crop reads just its own window. Every pair (crop or whole example) is level-normalised with
:func:`vocals2song.codec.network.normalize_voice`'s gain applied to voice and target alike, so training sees the
voice at the level inference gives the generator. Network tensors are float32 ``(nb_bins, nb_frames, 2)`` in
[-1, 1] from the codec (:mod:`vocals2song.codec.spectrogram`); for a generator that reads the plan
(``ModelConfig.uses_plan``) the voice gets a third channel, B: the pair's true harmony drawn by
:func:`vocals2song.plan.channel.render_plan`, or for a share of crops (and for pairs without one: MUSDB, pair folders,
version 1 corpora) the harmony the estimator reads from the voice around the crop
(:func:`vocals2song.pairs.crop_plans.plan_channel`), and for a generator that reads the style (``ModelConfig.styles``)
the pair's style drawn with it.
"""

from __future__ import annotations

import math
import os
from typing import Iterable, Sequence

import keras
import librosa
import numpy as np
from scipy import signal

from vocals2song.codec import spectrogram as codec
from vocals2song.audio import SILENCE_PEAK
from vocals2song.config import ModelConfig
from vocals2song.pairs.crop_plans import ESTIMATED_PLAN_SHARE, check_pair_styles, plan_channel
from vocals2song.codec.network import image_to_network, normalize_voice
from vocals2song.pairs.index import SPLITS, Pair, PairIndex, pad_or_cut, read_pair  # noqa: F401  (PairIndex: data's public API)

SILENT_VOICE_RMS = 10 ** (-45 / 20)  # a crop whose raw vocal RMS is below -45 dBFS counts as a silent stretch
MAX_CROP_ATTEMPTS = 10  # crops tried before settling for the loudest one

# Load-time augmentation of the training split: probability of each effect per crop, and its range.
PITCH_SHIFT_PROBABILITY = 0.1  # librosa's phase vocoder: slow, so rare
PITCH_SHIFT_SEMITONES = 1.0
BALANCE_PROBABILITY = 0.5  # voice level inside the pair, relative to the accompaniment
BALANCE_DB = 6.0
TILT_PROBABILITY = 0.5
TILT_DB_PER_OCTAVE = 3.0
TILT_PIVOT_HZ = 1000.0
NOISE_PROBABILITY = 0.3
NOISE_SNR_DB = (15.0, 40.0)
REVERB_PROBABILITY = 0.3
REVERB_RT60_SECONDS = (0.1, 0.5)
REVERB_WET = (0.1, 0.4)


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0


def _pair_gain(voice: np.ndarray) -> float:
    """The gain :func:`normalize_voice` gives this voice; 1 for a silent one (nothing to normalise)."""
    if voice.size == 0 or float(np.max(np.abs(voice))) < SILENCE_PEAK:
        return 1.0
    return normalize_voice(voice)[1]


# ------------------------------------------------------------------------------------------------------
# Augmentation (training split only)


def augment_pair(
    vocals: np.ndarray, accompaniment: np.ndarray, sample_rate: int, rng: np.random.Generator,
    applied: dict | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random load-time augmentation of one crop.

    Whole pair: a rare ±1 semitone pitch shift (both stems) and a voice-to-accompaniment balance of ±6 dB. Voice
    input only: an EQ tilt of ±3 dB/octave around 1 kHz, additive white noise at 15-40 dB SNR, and a small room
    (an exponentially decaying noise impulse response, RT60 0.1-0.5 s). The song target keeps the clean voice.

    Args:
        vocals, accompaniment: float32 audio, shape (nb_samples,).
        applied: when given, receives ``"pitch_shift"`` (semitones) if the pair was pitch-shifted (the plan follows).
    Returns:
        (voice input, clean vocals, accompaniment), each float32 of shape (nb_samples,).
    """
    length = len(vocals)
    if rng.random() < PITCH_SHIFT_PROBABILITY:
        steps = float(rng.uniform(-PITCH_SHIFT_SEMITONES, PITCH_SHIFT_SEMITONES))
        if applied is not None:
            applied["pitch_shift"] = steps
        vocals, accompaniment = (
            pad_or_cut(librosa.effects.pitch_shift(audio, sr=sample_rate, n_steps=steps).astype(np.float32), length)
            for audio in (vocals, accompaniment)
        )
    if rng.random() < BALANCE_PROBABILITY:
        vocals = vocals * np.float32(10 ** (rng.uniform(-BALANCE_DB, BALANCE_DB) / 20))
    voice = vocals
    if rng.random() < TILT_PROBABILITY:
        voice = _tilt(voice, sample_rate, float(rng.uniform(-TILT_DB_PER_OCTAVE, TILT_DB_PER_OCTAVE)))
    if rng.random() < NOISE_PROBABILITY:
        snr_db = rng.uniform(*NOISE_SNR_DB)
        noise = rng.standard_normal(length).astype(np.float32)
        voice = voice + noise * np.float32(_rms(voice) * 10 ** (-snr_db / 20))
    if rng.random() < REVERB_PROBABILITY:
        voice = _reverberate(voice, sample_rate, rng)
    return voice.astype(np.float32), vocals.astype(np.float32), accompaniment.astype(np.float32)


def _tilt(voice: np.ndarray, sample_rate: int, db_per_octave: float) -> np.ndarray:
    """Spectral tilt: gain = db_per_octave · log2(f / 1 kHz), a zero-phase filter applied by one FFT."""
    frequencies = np.fft.rfftfreq(len(voice), 1.0 / sample_rate)
    octaves = np.log2(np.clip(frequencies, 50.0, None) / TILT_PIVOT_HZ)
    gains = 10 ** (db_per_octave * octaves / 20)
    return np.fft.irfft(np.fft.rfft(voice) * gains, n=len(voice)).astype(np.float32)


def _reverberate(voice: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Add a small room: dry + wet, the wet part the voice convolved with decaying noise (RMS kept)."""
    rt60 = rng.uniform(*REVERB_RT60_SECONDS)
    times = np.arange(int(rt60 * sample_rate)) / sample_rate
    response = rng.standard_normal(len(times)) * np.exp(-6.91 * times / rt60)  # −60 dB at rt60
    response /= np.sqrt(np.sum(response**2)) or 1.0
    wet = signal.fftconvolve(voice, response)[: len(voice)]
    mix = rng.uniform(*REVERB_WET)
    out = (1 - mix) * voice + mix * wet
    return (out * (_rms(voice) / (_rms(out) or 1.0))).astype(np.float32)


# ------------------------------------------------------------------------------------------------------
# Streaming crops


def _voice_to_network(voice: np.ndarray, config: ModelConfig) -> np.ndarray:
    """Voice audio (nb_samples,) → float32 R/G input (nb_bins, nb_frames, 2) in [-1, 1] via the codec."""
    image = codec.spectrogram_to_image(codec.stft(voice, config.spectrogram), config.spectrogram)
    return image_to_network(image, config.generator.nb_bins).astype(np.float32)


def _target_to_network(target: np.ndarray, config: ModelConfig) -> np.ndarray:
    """Target audio (nb_samples,) → float32 (nb_bins, nb_frames, output_channels) in [-1, 1], in the model's phase
    representation (:func:`vocals2song.codec.spectrogram.spectrogram_to_target`)."""
    image = codec.spectrogram_to_target(codec.stft(target, config.spectrogram), config.spectrogram,
                                        config.phase_representation)  # fmt: skip
    return image_to_network(image, config.generator.nb_bins, config.generator.output_channels).astype(np.float32)


class CropDataset(keras.utils.PyDataset):
    """Batches of random (voice image, target image) crops, read from disk on demand.

    Each batch is a function of (seed, epoch, index) only: pairs are drawn weighted by duration, offsets are
    uniform, crops whose raw vocals are silent (RMS below -45 dBFS) are redrawn up to 10 times. The training
    split is augmented (:func:`augment_pair`) and its epoch counter advances in :meth:`on_epoch_end`, so each
    epoch sees new crops; the validation and test splits are never augmented and stay the same every epoch.

    Yields ``(voice_batch, target_batch)``, float32 ``(batch_size, nb_bins, crop_frames, 2)`` and ``(batch_size,
    nb_bins, crop_frames, output_channels)`` in [-1, 1], the target in the model's phase representation. The voice
    batch has a third channel, the plan, when ``config.uses_plan`` (see :func:`vocals2song.pairs.crop_plans.plan_channel`;
    ``estimated_plan_share`` of the crops take the estimator's plan instead of the pair's true one); the on-device
    feeder (:mod:`vocals2song.training.device_data`) draws it once per pair instead. For a generator that reads the
    style, B carries each pair's (every pair must name one of ``config.styles``: TrainingDataError otherwise).
    """

    def __init__(
        self,
        pairs: Sequence[Pair],
        config: ModelConfig,
        *,
        split: str,
        batch_size: int,
        crop_frames: int,
        steps_per_epoch: int | None,
        augment: bool,
        seed: int,
        workers: int = 1,
        use_multiprocessing: bool = False,
        estimated_plan_share: float = ESTIMATED_PLAN_SHARE,
    ):
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing)
        if not 0.0 <= estimated_plan_share <= 1.0:
            raise ValueError(f"estimated_plan_share must be within 0..1, got {estimated_plan_share}")
        self.estimated_plan_share = estimated_plan_share
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if crop_frames < 1 or crop_frames % config.generator.frame_multiple:
            multiple = config.generator.frame_multiple
            raise ValueError(f"crop_frames must be a positive multiple of {multiple}, got {crop_frames}")
        self.pairs = list(pairs)
        check_pair_styles(self.pairs, config)
        self.config = config
        self.split = split
        self.batch_size = batch_size
        self.crop_frames = crop_frames
        self.crop_samples = (crop_frames - 1) * config.spectrogram.hop_length  # STFT gives exactly crop_frames
        self.augment = augment and split == "train"
        self.seed = seed
        self.epoch = 0
        seconds = np.array([pair.seconds for pair in self.pairs], dtype=np.float64)
        self._cumulative_seconds = np.cumsum(seconds)
        crop_seconds = self.crop_samples / config.spectrogram.sample_rate
        self.steps_per_epoch = steps_per_epoch or max(1, int(seconds.sum() / (crop_seconds * batch_size)))

    def __len__(self) -> int:
        return self.steps_per_epoch

    def on_epoch_end(self) -> None:
        if self.split == "train":
            self.epoch += 1

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} is outside 0..{len(self) - 1}")
        rng = np.random.default_rng([self.seed, SPLITS.index(self.split), self.epoch, index])
        shape = (self.batch_size, self.config.generator.nb_bins, self.crop_frames)
        voices = np.empty(shape + (self.config.generator.input_channels,), np.float32)
        targets = np.empty(shape + (self.config.generator.output_channels,), np.float32)
        for item in range(self.batch_size):
            voices[item], targets[item] = self.example(rng)
        return voices, targets

    def crop(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One un-augmented crop as (vocals, accompaniment) at the model rate, skipping silent vocal stretches."""
        return self.located_crop(rng)[2:]

    def located_crop(self, rng: np.random.Generator) -> tuple[Pair, int, np.ndarray, np.ndarray]:
        """:meth:`crop` with where it comes from: (pair, first sample at the pair's rate, vocals, accompaniment)."""
        rate = self.config.spectrogram.sample_rate
        best, best_rms = None, -1.0
        for _ in range(MAX_CROP_ATTEMPTS):
            position = rng.random() * self._cumulative_seconds[-1]
            chosen = int(np.searchsorted(self._cumulative_seconds, position, side="right"))
            pair = self.pairs[min(chosen, len(self.pairs) - 1)]
            window = math.ceil(self.crop_samples * pair.sample_rate / rate)
            start = int(rng.integers(0, max(1, pair.nb_samples - window + 1)))
            vocals, accompaniment = read_pair(pair, start, self.crop_samples, rate)
            level = _rms(vocals)
            if level > best_rms:
                best, best_rms = (pair, start, vocals, accompaniment), level
            if level >= SILENT_VOICE_RMS:
                break
        return best

    def example(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One (voice, target) network pair, float32 (nb_bins, crop_frames, input_channels) and (…, output_channels)
        in [-1, 1]: the voice has R, G and (for a plan generator) B."""
        pair, start, vocals, accompaniment = self.located_crop(rng)
        voice = vocals
        applied: dict = {}
        if self.augment:
            voice, vocals, accompaniment = augment_pair(vocals, accompaniment, self.config.spectrogram.sample_rate, rng,
                                                        applied)
        target = vocals + accompaniment if self.config.target == "mixture" else accompaniment
        gain = np.float32(_pair_gain(voice))
        voice_network = _voice_to_network(voice * gain, self.config)
        if self.config.uses_plan:
            plane = plan_channel(pair, start, self.crop_frames, self.config, rng, self.estimated_plan_share,
                                 semitones=int(round(applied.get("pitch_shift", 0.0))))
            voice_network = np.concatenate([voice_network, plane[..., None]], axis=-1)
        return voice_network, _target_to_network(target * gain, self.config)


def make_dataset(
    sources: str | os.PathLike | Iterable[str | os.PathLike],
    config: ModelConfig,
    *,
    split: str = "train",
    batch_size: int = 8,
    crop_frames: int = 256,
    steps_per_epoch: int | None = None,
    augment: bool = True,
    seed: int = 0,
    workers: int = 1,
    use_multiprocessing: bool = False,
    estimated_plan_share: float = ESTIMATED_PLAN_SHARE,
) -> CropDataset:
    """A ``keras.utils.PyDataset`` of random crops from ``sources`` (see :class:`CropDataset`).

    Args:
        sources: one or more corpus dirs, MUSDB roots or pair folders.
        config: gives the sample rate, STFT, nb_bins, frame multiple and target ("mixture"/"accompaniment").
        split: which pairs to draw from.
        crop_frames: STFT frames per crop, a multiple of ``config.generator.frame_multiple``.
        steps_per_epoch: batches per epoch; default the split's total duration over (crop duration · batch_size).
        augment: augment the training split (ignored for validation/test).
        estimated_plan_share: for a plan generator, the share of crops whose B is the estimator's plan.
    Raises:
        TrainingDataError: unusable data or an empty split.
    """
    pairs = PairIndex.build(sources).select(split)
    return CropDataset(pairs, config, split=split, batch_size=batch_size, crop_frames=crop_frames,
                       steps_per_epoch=steps_per_epoch, augment=augment, seed=seed, workers=workers,
                       use_multiprocessing=use_multiprocessing,
                       estimated_plan_share=estimated_plan_share)  # fmt: skip
