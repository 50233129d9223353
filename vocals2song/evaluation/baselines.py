"""Stand-in accompaniments: the baselines of ``evaluate`` and the rungs of the musicality validation ladder.

Each function takes float mono audio of shape (nb_samples,) at ``sample_rate`` and returns float32 audio of the
same shape (or of ``length``). Runtime-safe: numpy, librosa and the codec only (:mod:`vocals2song.codec.spectrogram`
computes every STFT). The ladder, from most to least musical, for one voice and its true accompaniment:

- the real accompaniment;
- wrong but real music: :func:`transpose` by a tritone, :func:`block_shuffle` (1 s blocks in another order),
  :func:`fit_length` of another piece's accompaniment;
- :func:`blur`: each STFT bin's time-average magnitude with random phase — the average spectrum, no music;
- :func:`shaped_noise`: Gaussian noise with the blur's 1/3-octave envelope — not even the average's pitches.
"""

from __future__ import annotations

import librosa
import numpy as np

from vocals2song.codec import spectrogram as codec
from vocals2song.config import SpectrogramConfig

TRITONE_SEMITONES = 6
SHUFFLE_BLOCK_SECONDS = 1.0
SHUFFLE_FADE_SECONDS = 0.01  # a short fade at each block's ends, so the cuts do not click
BLUR_N_FFT = 1024  # at 22.05 kHz, the model's STFT: the generator's drone sits on these bins
THIRD_OCTAVE_LOWEST_HZ = 20.0
MELODY_COPY_SEMITONES = -12


def _analysis_config(sample_rate: int) -> SpectrogramConfig:
    """The model's STFT (n_fft 1024, hop 256 at 22.05 kHz), scaled to other rates to keep 46 ms frames."""
    n_fft = int(2 ** round(np.log2(BLUR_N_FFT * sample_rate / 22050)))
    return SpectrogramConfig(sample_rate=sample_rate, n_fft=n_fft, hop_length=n_fft // 4)


def silence(audio: np.ndarray) -> np.ndarray:
    """Zeros of ``audio``'s shape: the *vocals only* baseline's accompaniment."""
    return np.zeros(len(audio), dtype=np.float32)


def transpose(audio: np.ndarray, sample_rate: int, semitones: float = TRITONE_SEMITONES) -> np.ndarray:
    """``audio`` shifted by ``semitones`` with the timing kept (librosa's phase vocoder + resampling)."""
    shifted = librosa.effects.pitch_shift(np.asarray(audio, dtype=np.float32), sr=sample_rate, n_steps=semitones)
    return shifted.astype(np.float32)


def melody_copy(voice: np.ndarray, sample_rate: int) -> np.ndarray:
    """The voice an octave down: a doubling that follows the tune and knows nothing of harmony or rhythm."""
    return transpose(voice, sample_rate, MELODY_COPY_SEMITONES)


def block_shuffle(
    audio: np.ndarray, sample_rate: int, seed: int = 0, block_seconds: float = SHUFFLE_BLOCK_SECONDS
) -> np.ndarray:
    """``audio`` cut in blocks of ``block_seconds`` put back in a random order where no block keeps its place.

    Each block fades in and out over 10 ms. A last, shorter block stays at the end. Fewer than two whole blocks:
    returned unchanged.
    """
    audio = np.asarray(audio, dtype=np.float32)
    block = max(1, int(round(block_seconds * sample_rate)))
    nb_blocks = len(audio) // block
    if nb_blocks < 2:
        return audio.copy()
    rng = np.random.default_rng(seed)
    order = rng.permutation(nb_blocks)
    while np.any(order == np.arange(nb_blocks)):  # a derangement: every block moves
        order = rng.permutation(nb_blocks)
    fade = min(block // 2, max(1, int(SHUFFLE_FADE_SECONDS * sample_rate)))
    envelope = np.ones(block, dtype=np.float32)
    envelope[:fade] = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    envelope[-fade:] = envelope[:fade][::-1]
    blocks = audio[: nb_blocks * block].reshape(nb_blocks, block)[order] * envelope
    return np.concatenate([blocks.ravel(), audio[nb_blocks * block :]]).astype(np.float32)


def fit_length(audio: np.ndarray, length: int) -> np.ndarray:
    """``audio`` cut, or repeated from its start, to ``length`` samples (another piece's accompaniment)."""
    return np.resize(np.asarray(audio, dtype=np.float32), length).astype(np.float32)


def _random_phase(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    return np.exp(1j * rng.uniform(-np.pi, np.pi, size=shape)).astype(np.complex64)


def blur(audio: np.ndarray, sample_rate: int, seed: int = 0) -> np.ndarray:
    """Each STFT bin's time-average magnitude, held for the whole length, with random phase in every frame.

    The STFT is the model's (n_fft 1024, hop 256 at 22.05 kHz). What log-spectral distances reward and a
    listener hears as a steady hum: every pitch the accompaniment plays, all the time, at no moment in particular.
    """
    config = _analysis_config(sample_rate)
    spectrum = codec.stft(audio, config)
    average = np.mean(np.abs(spectrum), axis=1, keepdims=True)
    phase = _random_phase(spectrum.shape, np.random.default_rng(seed))
    return codec.istft(average * phase, config, length=len(audio))


def third_octave_envelope(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """The time-average STFT power of ``audio`` averaged within 1/3-octave bands, per bin, shape (nb_bins,).

    Bands are [f·2^(-1/6), f·2^(1/6)) around f = 1000·2^(k/3) Hz; bins below 20 Hz share the lowest band.
    """
    config = _analysis_config(sample_rate)
    power = np.mean(np.abs(codec.stft(audio, config)) ** 2, axis=1)
    frequencies = librosa.fft_frequencies(sr=sample_rate, n_fft=config.n_fft)
    band = np.round(3 * np.log2(np.maximum(frequencies, THIRD_OCTAVE_LOWEST_HZ) / 1000.0)).astype(int)
    envelope = np.empty_like(power)
    for index in np.unique(band):
        members = band == index
        envelope[members] = power[members].mean()
    return envelope


def shaped_noise(audio: np.ndarray, sample_rate: int, seed: int = 0) -> np.ndarray:
    """Gaussian noise whose STFT power follows the 1/3-octave envelope of :func:`blur` of ``audio``."""
    config = _analysis_config(sample_rate)
    envelope = third_octave_envelope(blur(audio, sample_rate, seed), sample_rate)
    white = np.random.default_rng(seed + 1).standard_normal(len(audio)).astype(np.float32)
    spectrum = codec.stft(white, config)
    white_power = np.mean(np.abs(spectrum) ** 2)
    gains = np.sqrt(envelope / max(float(white_power), 1e-30)).astype(np.float32)[:, None]
    return codec.istft(spectrum * gains, config, length=len(audio))
