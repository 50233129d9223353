"""Phase from STFT magnitude: phase-gradient heap integration (PGHI), for generators that predict magnitude only.

The phase gradient of an STFT with a Gaussian-like window follows from the log-magnitude's gradient
(Průša, Balazs & Søndergaard, "A noniterative method for reconstruction of phase from STFT magnitude", IEEE/ACM
TASLP 2017; used by TiFGAN, Marafioti et al., ICML 2019):

- along time (the instantaneous frequency, radians per hop):
  ``φ_t[k, n] = (hop · n_fft / γ) · ∂_k log|S| + 2π·k·hop/n_fft``;
- along frequency (radians per bin): ``φ_ω[k, n] = −(γ / (hop · n_fft)) · ∂_n log|S| − π``, the ``−π`` because
  librosa's frames put the window's centre at sample ``n_fft/2`` of each FFT;

with ``γ = 0.25645 · n_fft²`` for a Hann window. The phase is integrated frame by frame (the real-time variant of
Průša & Holighaus, "Phase vocoder done right", EUSIPCO 2017, with the next frame known): in each frame the bins
are visited loudest first from a heap, each taking its phase from an already set neighbour, the same bin of the
previous frame (trapezoid along time) or the next bin of this frame (trapezoid along frequency). Bins more than
``tolerance_db`` below the loudest get a seeded random phase. The heap is a bucket queue (a quarter-dB
resolution), so each bin costs O(1). The integration is compiled with numba (a dependency of librosa).
"""

from __future__ import annotations

import numba
import numpy as np

from vocals2song.config import SpectrogramConfig

HANN_GAMMA = 0.25645  # γ / n_fft² of the Gaussian that best fits a Hann window (Průša et al. 2017)
TOLERANCE_DB = 50.0  # 60 dB rebuilds the same phase (spectral convergence within 0.2 dB) at twice the time
BUCKET_DB = 0.25  # the heap orders bins by magnitude to this resolution


def phase_gradients(magnitude: np.ndarray, config: SpectrogramConfig) -> tuple[np.ndarray, np.ndarray]:
    """(along-time, along-frequency) phase derivatives in radians per hop and per bin, float64 (nb_bins, nb_frames).

    Args:
        magnitude: linear STFT magnitude, shape (nb_bins, nb_frames) (bins from DC; Nyquist may be missing).
    """
    gamma = HANN_GAMMA * config.n_fft**2
    log_magnitude = np.log(np.maximum(np.asarray(magnitude, dtype=np.float64), 1e-12))
    nb_bins, nb_frames = log_magnitude.shape
    along_frequency = np.gradient(log_magnitude, axis=0) if nb_bins > 1 else np.zeros_like(log_magnitude)
    along_time = np.gradient(log_magnitude, axis=1) if nb_frames > 1 else np.zeros_like(log_magnitude)
    advance = 2 * np.pi * np.arange(nb_bins)[:, None] * config.hop_length / config.n_fft
    time_derivative = config.hop_length * config.n_fft / gamma * along_frequency + advance
    frequency_derivative = -gamma / (config.hop_length * config.n_fft) * along_time - np.pi
    return time_derivative, frequency_derivative


def pghi(magnitude: np.ndarray, config: SpectrogramConfig, tolerance_db: float = TOLERANCE_DB,
         seed: int = 0) -> np.ndarray:  # fmt: skip
    """Phase for a magnitude spectrogram by phase-gradient heap integration.

    Args:
        magnitude: linear STFT magnitude (librosa's centred, periodic-Hann STFT of the config), shape
            (nb_bins, nb_frames).
        tolerance_db: bins this far below the loudest bin are not integrated (they get a random phase).
        seed: the random phase of those quiet bins.
    Returns:
        float32 phase in radians, shape (nb_bins, nb_frames).
    """
    magnitude = np.asarray(magnitude, dtype=np.float64)
    if magnitude.ndim != 2:
        raise ValueError(f"magnitude must be 2-D (nb_bins, nb_frames), got shape {magnitude.shape}")
    time_derivative, frequency_derivative = phase_gradients(magnitude, config)
    rng = np.random.default_rng(seed)
    phase = rng.uniform(-np.pi, np.pi, magnitude.shape)
    peak = float(magnitude.max()) if magnitude.size else 0.0
    if peak > 0:
        loud = magnitude > peak * 10 ** (-tolerance_db / 20)
        _integrate(magnitude, loud, time_derivative, frequency_derivative, phase)
    return phase.astype(np.float32)


@numba.njit(cache=True, inline="always")
def _push(head, following, entry, level):  # pragma: no cover (compiled)
    """Push ``entry`` on bucket ``level`` of the bucket queue (a last-in-first-out list per bucket); returns
    ``level`` (the caller keeps the highest non-empty bucket)."""
    following[entry] = head[level]
    head[level] = entry
    return level


@numba.njit(cache=True)
def _integrate(magnitude, loud, time_derivative, frequency_derivative, phase):  # pragma: no cover (compiled)
    """Frame-by-frame heap integration, in place on ``phase`` (float64 (nb_bins, nb_frames)) for the ``loud`` bins.

    The heap is a bucket queue: magnitudes in steps of :data:`BUCKET_DB` above the quietest loud bin, each
    bucket a last-in-first-out list, so a push or a pop costs O(1); bins within one bucket (a quarter of a dB)
    are taken in any order. An entry is ``2·bin`` for the bin in the previous frame, ``2·bin + 1`` in this one.
    """
    nb_bins, nb_frames = magnitude.shape
    floor = np.inf
    for frame in range(nb_frames):
        for bin_ in range(nb_bins):
            if loud[bin_, frame] and magnitude[bin_, frame] < floor:
                floor = magnitude[bin_, frame]
    if not np.isfinite(floor):
        return
    log_floor = np.log(floor)
    step = BUCKET_DB * np.log(10.0) / 20.0
    bucket = np.zeros((nb_bins, nb_frames), dtype=np.int64)
    nb_buckets = 1
    for frame in range(nb_frames):
        for bin_ in range(nb_bins):
            if loud[bin_, frame]:
                bucket[bin_, frame] = np.int64((np.log(magnitude[bin_, frame]) - log_floor) / step)
                nb_buckets = max(nb_buckets, bucket[bin_, frame] + 1)
    head = np.full(nb_buckets, -1, dtype=np.int64)
    following = np.full(2 * nb_bins, -1, dtype=np.int64)
    done = np.zeros(nb_bins, dtype=np.bool_)
    for frame in range(nb_frames):
        remaining = 0
        for bin_ in range(nb_bins):
            done[bin_] = not loud[bin_, frame]
            if loud[bin_, frame]:
                remaining += 1
        top = -1
        if frame > 0:
            for bin_ in range(nb_bins):
                if loud[bin_, frame - 1] and not done[bin_]:
                    top = max(top, _push(head, following, 2 * bin_, bucket[bin_, frame - 1]))
        while remaining > 0:
            while top >= 0 and head[top] < 0:
                top -= 1
            if top < 0:  # a new island: start it at its loudest bin with phase 0
                best = -1
                for bin_ in range(nb_bins):
                    if not done[bin_] and (best < 0 or magnitude[bin_, frame] > magnitude[best, frame]):
                        best = bin_
                phase[best, frame] = 0.0
                done[best] = True
                remaining -= 1
                top = _push(head, following, 2 * best + 1, bucket[best, frame])
                continue
            entry = head[top]
            head[top] = following[entry]
            bin_ = entry >> 1
            if entry & 1 == 0:  # the bin in the previous frame: step along time into this frame
                if not done[bin_]:
                    phase[bin_, frame] = phase[bin_, frame - 1] + 0.5 * (
                        time_derivative[bin_, frame - 1] + time_derivative[bin_, frame]
                    )
                    done[bin_] = True
                    remaining -= 1
                    top = max(top, _push(head, following, 2 * bin_ + 1, bucket[bin_, frame]))
                continue
            for neighbour in (bin_ - 1, bin_ + 1):  # the bin in this frame: step along frequency
                if 0 <= neighbour < nb_bins and not done[neighbour]:
                    change = 0.5 * (frequency_derivative[bin_, frame] + frequency_derivative[neighbour, frame])
                    phase[neighbour, frame] = phase[bin_, frame] + (change if neighbour > bin_ else -change)
                    done[neighbour] = True
                    remaining -= 1
                    top = max(top, _push(head, following, 2 * neighbour + 1, bucket[neighbour, frame]))
        head[:] = -1  # entries of previous-frame bins whose bin here was not loud may be left: drop them
