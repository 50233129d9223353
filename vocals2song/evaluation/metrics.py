"""Objective metrics comparing an estimated signal with a reference: numpy in, one float out.

All functions take float mono audio of shape (nb_samples,) at one sample rate; when lengths differ the longer
signal is cut. Spectra here are *analysis* STFTs at their own resolutions (Hann window, hop n_fft / 4),
computed through :func:`vocals2song.codec.spectrogram.stft` with a :class:`SpectrogramConfig` made for the metric —
they are separate from the model's codec settings, which play no part in scoring.

Silence is handled without NaN: a silent signal is left at zero (not scaled to unit RMS) and hits the dB floor,
chroma of silence has zero similarity, and the SI-SDR of a silent estimate is :data:`SI_SDR_FLOOR_DB`.
"""

from __future__ import annotations

import librosa
import numpy as np

from vocals2song.codec import spectrogram as codec
from vocals2song.config import SpectrogramConfig

LSD_N_FFT = 2048
LSD_FLOOR_DB = -80.0  # LSD power floor, relative to the per-bin power of unit-RMS white noise
MR_STFT_FFT_SIZES = (512, 1024, 2048)
MAGNITUDE_FLOOR = 1e-7  # as Parallel WaveGAN's clamp before the log
CHROMA_N_FFT = 2048
SI_SDR_CEILING_DB = 100.0
SI_SDR_FLOOR_DB = -100.0
SILENT_ENERGY = 1e-12  # mean square below this is silence


def _pair(reference: np.ndarray, estimate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    reference = np.asarray(reference, dtype=np.float64).ravel()
    estimate = np.asarray(estimate, dtype=np.float64).ravel()
    length = min(len(reference), len(estimate))
    if length == 0:
        raise ValueError("metrics need non-empty signals")
    return reference[:length], estimate[:length]


def _power(audio: np.ndarray, sample_rate: int, n_fft: int) -> np.ndarray:
    """Analysis power spectrogram |STFT|², shape (n_fft // 2 + 1, nb_frames), Hann window, hop n_fft / 4."""
    config = SpectrogramConfig(sample_rate=sample_rate, n_fft=n_fft, hop_length=n_fft // 4)
    return np.abs(codec.stft(audio.astype(np.float32), config)).astype(np.float64) ** 2


def _unit_rms(audio: np.ndarray) -> np.ndarray:
    energy = float(np.mean(audio**2))
    return audio / np.sqrt(energy) if energy > SILENT_ENERGY else np.zeros_like(audio)


def log_spectral_distance(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float:
    """Log-spectral distance in dB (0 = identical spectra; lower is better).

    Both signals are first scaled to unit RMS (so overall level does not count), then
    ``LSD = mean over frames of sqrt(mean over bins of (10·log10 P_ref − 10·log10 P_est)²)`` with power spectra
    (n_fft 2048) floored 80 dB below the per-bin power of unit-RMS white noise (so inaudible detail does not
    dominate). A silent estimate scores the distance of the reference to that floor.
    """
    reference, estimate = _pair(reference, estimate)
    white_noise_bin_power = float(np.sum(np.hanning(LSD_N_FFT + 1)[:-1] ** 2))  # E|STFT|² of unit-variance noise
    floor = white_noise_bin_power * 10 ** (LSD_FLOOR_DB / 10)
    decibels = [10 * np.log10(np.maximum(_power(_unit_rms(audio), sample_rate, LSD_N_FFT), floor))
                for audio in (reference, estimate)]  # fmt: skip
    return float(np.mean(np.sqrt(np.mean((decibels[0] - decibels[1]) ** 2, axis=0))))


def multi_resolution_stft_distance(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float:
    """Multi-resolution STFT distance as in Parallel WaveGAN (Yamamoto et al., 2020); dimensionless, 0 = identical.

    For each FFT size in 512/1024/2048 (hop n_fft / 4): spectral convergence ``‖|R| − |E|‖_F / ‖|R|‖_F`` plus
    the mean absolute difference of natural-log magnitudes (clamped at 1e-7); the result is the mean over the
    three resolutions. Level-sensitive: compare signals at the same level.
    """
    reference, estimate = _pair(reference, estimate)
    total = 0.0
    for n_fft in MR_STFT_FFT_SIZES:
        magnitudes = [np.sqrt(_power(audio, sample_rate, n_fft)) for audio in (reference, estimate)]
        reference_norm = np.linalg.norm(magnitudes[0])
        difference_norm = np.linalg.norm(magnitudes[0] - magnitudes[1])
        convergence = difference_norm / reference_norm if reference_norm > 0 else float(difference_norm > 0)
        logs = [np.log(np.maximum(magnitude, MAGNITUDE_FLOOR)) for magnitude in magnitudes]
        total += convergence + float(np.mean(np.abs(logs[0] - logs[1])))
    return float(total / len(MR_STFT_FFT_SIZES))


def chroma_similarity(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float:
    """Harmonic agreement: mean over frames of the cosine between 12-bin chroma vectors, in [0, 1] (1 = same).

    Chroma from ``librosa.feature.chroma_stft`` on an analysis power spectrogram (n_fft 2048). Frames where the
    reference is silent are left out; a silent estimate frame scores 0. A silent reference scores 1 if the
    estimate is silent too, else 0.
    """
    reference, estimate = _pair(reference, estimate)
    chromas = []
    for audio in (reference, estimate):
        power = _power(audio, sample_rate, CHROMA_N_FFT)
        chromas.append(librosa.feature.chroma_stft(S=power, sr=sample_rate, n_fft=CHROMA_N_FFT, tuning=0.0, norm=None))
    reference_norms = np.linalg.norm(chromas[0], axis=0)
    estimate_norms = np.linalg.norm(chromas[1], axis=0)
    heard = reference_norms > 0
    if not np.any(heard):
        return 1.0 if not np.any(estimate_norms > 0) else 0.0
    dots = np.sum(chromas[0] * chromas[1], axis=0)
    cosines = np.where(estimate_norms > 0, dots / (reference_norms * np.maximum(estimate_norms, 1e-30)), 0.0)
    return float(np.clip(np.mean(cosines[heard]), 0.0, 1.0))


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al., 2019); higher is better.

    Both signals are made zero-mean; ``SI-SDR = 10·log10(‖αr‖² / ‖αr − e‖²)`` with ``α = ⟨e, r⟩ / ‖r‖²``,
    clipped to [-100, 100] dB (identical signals give 100). A silent estimate (or reference) gives -100 dB: it
    carries none of the reference.
    """
    reference, estimate = _pair(reference, estimate)
    reference = reference - reference.mean()
    estimate = estimate - estimate.mean()
    reference_energy = float(np.sum(reference**2))
    estimate_energy = float(np.sum(estimate**2))
    length = len(reference)
    if reference_energy <= SILENT_ENERGY * length or estimate_energy <= SILENT_ENERGY * length:
        return SI_SDR_FLOOR_DB
    scale = float(np.dot(estimate, reference)) / reference_energy
    target = scale * reference
    target_energy = float(np.sum(target**2))
    noise_energy = float(np.sum((estimate - target) ** 2))
    ratio = 10 * np.log10(max(target_energy, 1e-30) / max(noise_energy, 1e-30))
    return float(np.clip(ratio, SI_SDR_FLOOR_DB, SI_SDR_CEILING_DB))


def all_metrics(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> dict[str, float]:
    """The four metrics: ``lsd_db`` ↓, ``mr_stft`` ↓, ``chroma`` ↑, ``si_sdr_db`` ↑."""
    return {
        "lsd_db": log_spectral_distance(reference, estimate, sample_rate),
        "mr_stft": multi_resolution_stft_distance(reference, estimate, sample_rate),
        "chroma": chroma_similarity(reference, estimate, sample_rate),
        "si_sdr_db": si_sdr(reference, estimate),
    }
