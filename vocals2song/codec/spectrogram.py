"""The R/G codec: the only module that computes an STFT.

Audio ↔ complex STFT ↔ R/G image, forward and inverse built from one :class:`SpectrogramConfig`:

- R = STFT magnitude on a fixed dB scale: ``R = (20·log10|Z| − db_floor) / (db_ceiling − db_floor)``,
  so R = 0 is silence (anything at or below ``db_floor``) and R = 1 is ``db_ceiling``. Magnitudes are of
  librosa's unnormalised Hann STFT of audio in [-1, 1] (a full-scale sine peaks near +54 dB).
- G = phase: ``G = (angle(Z) + π) / 2π`` in [0, 1].
- B = the plan: the chords and beats the song follows, drawn in the same bins and frames by
  :func:`vocals2song.plan.channel.render_plan`; B = 0 means "no plan" (the original project's image, whose B is 0).

The generator's *target* may hold the phase another way (:func:`spectrogram_to_target`, the model's
``phase_representation``): ``"raw"`` (G as above), ``"if"`` (G = instantaneous frequency: the frame-to-frame
phase advance less each bin's expected advance, decoded by a cumulative sum along frames) or ``"none"`` (R
alone; the phase is rebuilt from the magnitude by phase-gradient heap integration, :mod:`vocals2song.codec.phase`).
The images the app shows keep raw phase in G.

Images are float32 arrays of shape ``(nb_bins, nb_frames, 3)`` with row 0 the DC bin. The float form is
lossless (R is not clipped); files store it as 32-bit float, 16 or 8 bits per channel
(:mod:`vocals2song.codec.image_files`).

The original project's 8-bit BMPs use a different R: linear magnitude scaled per image
(:func:`legacy_image_to_spectrogram` decodes them with a correct polar decode).
"""

from __future__ import annotations

import librosa
import numpy as np

from vocals2song.config import PHASE_REPRESENTATIONS, SpectrogramConfig

WINDOW = "hann"
PAD_MODE = "constant"


def stft(audio: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    """Complex STFT.

    Args:
        audio: float array, shape (nb_samples,), at ``config.sample_rate``.
    Returns:
        complex64 array, shape (nb_bins, nb_frames) with nb_frames = 1 + nb_samples // hop_length.
    """
    audio = np.asarray(audio, dtype=np.float32)
    return librosa.stft(
        audio, n_fft=config.n_fft, hop_length=config.hop_length, window=WINDOW, center=True, pad_mode=PAD_MODE
    ).astype(np.complex64)


def istft(spectrogram: np.ndarray, config: SpectrogramConfig, length: int | None = None) -> np.ndarray:
    """Inverse of :func:`stft` (least-squares overlap-add).

    Args:
        spectrogram: complex array, shape (nb_bins, nb_frames).
        length: output samples; default the natural length ``(nb_frames - 1) * hop_length``.
    Returns:
        float32 audio, shape (length,).
    """
    return librosa.istft(
        spectrogram, n_fft=config.n_fft, hop_length=config.hop_length, window=WINDOW, center=True, length=length
    ).astype(np.float32)


def griffin_lim(
    magnitude: np.ndarray, config: SpectrogramConfig, length: int | None = None, n_iter: int = 32, seed: int = 0
) -> np.ndarray:
    """Audio whose STFT magnitude approximates ``magnitude`` (fast Griffin-Lim, librosa), deterministic per seed.

    Args:
        magnitude: float array, shape (nb_bins, nb_frames), linear STFT magnitude.
    Returns:
        float32 audio, shape (length,).
    """
    return librosa.griffinlim(
        np.asarray(magnitude, dtype=np.float32),
        n_iter=n_iter,
        hop_length=config.hop_length,
        n_fft=config.n_fft,
        window=WINDOW,
        center=True,
        pad_mode=PAD_MODE,
        length=length,
        init="random",
        random_state=seed,
    ).astype(np.float32)


def magnitude_to_r(magnitude: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    """Linear STFT magnitude → R on the config's dB scale (unclipped, float32; tiny values stay finite)."""
    tiny = 10.0 ** ((config.db_floor - 40.0) / 20.0)
    decibels = 20.0 * np.log10(np.maximum(np.abs(magnitude), tiny))
    return ((decibels - config.db_floor) / (config.db_ceiling - config.db_floor)).astype(np.float32)


def r_to_magnitude(r: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    """R → linear STFT magnitude; R ≤ 0 (at or below the floor) is silence."""
    r = np.asarray(r, dtype=np.float64)
    decibels = config.db_floor + r * (config.db_ceiling - config.db_floor)
    return np.where(r > 0, 10.0 ** (decibels / 20.0), 0.0).astype(np.float32)


def phase_to_g(phase: np.ndarray) -> np.ndarray:
    """Phase in radians → G in [0, 1]."""
    return ((np.asarray(phase) + np.pi) / (2 * np.pi)).astype(np.float32)


def g_to_phase(g: np.ndarray) -> np.ndarray:
    """G in [0, 1] → phase in radians [-π, π]."""
    return (np.asarray(g, dtype=np.float64) * 2 * np.pi - np.pi).astype(np.float32)


def spectrogram_to_image(spectrogram: np.ndarray, config: SpectrogramConfig, plan: np.ndarray | None = None) -> np.ndarray:
    """Complex STFT, shape (nb_bins, nb_frames) → float32 image, shape (nb_bins, nb_frames, 3).

    Args:
        plan: the B plane, shape (nb_bins, nb_frames) in [0, 1] (:func:`vocals2song.plan.channel.render_plan`); None
            leaves B = 0.
    """
    image = np.zeros(spectrogram.shape + (3,), dtype=np.float32)
    image[..., 0] = magnitude_to_r(np.abs(spectrogram), config)
    image[..., 1] = phase_to_g(np.angle(spectrogram))
    if plan is not None:
        if plan.shape != spectrogram.shape:
            raise ValueError(f"the plan is {plan.shape}, the spectrogram {spectrogram.shape}")
        image[..., 2] = plan
    return image


def image_to_spectrogram(image: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    """R/G image, shape (nb_bins, nb_frames, ≥2) → complex64 STFT (polar decode: |Z|·e^{jφ}). B (the plan) is not sound."""
    magnitude = r_to_magnitude(image[..., 0], config)
    phase = g_to_phase(image[..., 1])
    return (magnitude * np.exp(1j * phase)).astype(np.complex64)


def audio_to_image(audio: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    """Audio, shape (nb_samples,) → float32 R/G image, shape (nb_bins, nb_frames, 3)."""
    return spectrogram_to_image(stft(audio, config), config)


def image_to_audio(image: np.ndarray, config: SpectrogramConfig, length: int | None = None) -> np.ndarray:
    """R/G image → float32 audio, shape (length,)."""
    return istft(image_to_spectrogram(image, config), config, length=length)


def expected_advance(config: SpectrogramConfig) -> np.ndarray:
    """Phase advance per hop of a steady sinusoid at each bin's centre: ``2π·k·hop/n_fft``, float64 (nb_bins,)."""
    return 2 * np.pi * np.arange(config.nb_bins) * config.hop_length / config.n_fft


def principal_angle(angle: np.ndarray) -> np.ndarray:
    """Angles wrapped into [-π, π)."""
    return np.mod(np.asarray(angle) + np.pi, 2 * np.pi) - np.pi


def phase_to_if(phase: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    """Phase → instantaneous frequency in G: ``G = (princ(φ[t] − φ̂[t−1] − advance) + π) / 2π`` in [0, 1].

    ``φ̂`` is the phase :func:`if_to_phase` rebuilds from the frames already encoded (``φ̂[−1] = 0``), so the
    float32 rounding of each frame does not add up along time (closed-loop encoding): the round trip is exact to
    one float32 step per frame, however long the spectrogram.

    Args:
        phase: radians, shape (nb_bins, nb_frames).
    Returns:
        float32 G, shape (nb_bins, nb_frames).
    """
    phase = np.asarray(phase, dtype=np.float64)
    advance = expected_advance(config)
    g = np.empty(phase.shape, dtype=np.float32)
    rebuilt = np.zeros(phase.shape[0], dtype=np.float64)
    for frame in range(phase.shape[1]):
        deviation = principal_angle(phase[:, frame] - rebuilt - advance)
        g[:, frame] = np.clip((deviation + np.pi) / (2 * np.pi), 0.0, 1.0)
        rebuilt = rebuilt + advance + g[:, frame].astype(np.float64) * 2 * np.pi - np.pi
    return g


def if_to_phase(g: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    """G of :func:`phase_to_if` → wrapped phase in radians, float32 (nb_bins, nb_frames), by a cumulative sum
    along frames (float64). ``g`` may have fewer rows than the config's bins (the network drops Nyquist)."""
    g = np.asarray(g, dtype=np.float64)
    advance = expected_advance(config)[: g.shape[0], None]
    return principal_angle(np.cumsum(advance + g * 2 * np.pi - np.pi, axis=1)).astype(np.float32)


def spectrogram_to_target(spectrogram: np.ndarray, config: SpectrogramConfig, representation: str) -> np.ndarray:
    """Complex STFT → the generator's target image in a phase representation.

    Args:
        spectrogram: complex, shape (nb_bins, nb_frames).
        representation: ``"raw"`` (R, G = phase), ``"if"`` (R, G = instantaneous frequency) or ``"none"`` (R).
    Returns:
        float32, shape (nb_bins, nb_frames, 2), or (nb_bins, nb_frames, 1) for ``"none"``.
    """
    _check_representation(representation)
    channels = [magnitude_to_r(np.abs(spectrogram), config)]
    if representation == "raw":
        channels.append(phase_to_g(np.angle(spectrogram)))
    elif representation == "if":
        channels.append(phase_to_if(np.angle(spectrogram), config))
    return np.stack(channels, axis=-1)


def target_to_spectrogram(
    target: np.ndarray, config: SpectrogramConfig, representation: str, seed: int = 0
) -> np.ndarray:
    """Inverse of :func:`spectrogram_to_target`: complex64 STFT, shape (nb_bins, nb_frames).

    ``"raw"`` and ``"if"`` decode their G channel (extra channels are ignored); ``"none"`` rebuilds the phase from
    the magnitude by phase-gradient heap integration (:func:`vocals2song.codec.phase.pghi`; ``seed`` fixes the phase
    of the bins too quiet to integrate).
    """
    _check_representation(representation)
    magnitude = r_to_magnitude(target[..., 0], config)
    if representation == "raw":
        phase = g_to_phase(target[..., 1])
    elif representation == "if":
        phase = if_to_phase(target[..., 1], config)
    else:
        from vocals2song.codec.phase import pghi

        phase = pghi(magnitude, config, seed=seed)
    return (magnitude * np.exp(1j * phase)).astype(np.complex64)


def fast_griffin_lim(
    magnitude: np.ndarray,
    config: SpectrogramConfig,
    initial_phase: np.ndarray,
    length: int | None = None,
    n_iter: int = 16,
    momentum: float = 0.99,
) -> np.ndarray:
    """Fast Griffin-Lim (Perraudin et al. 2013) started from ``initial_phase`` (e.g. PGHI's): float32 audio.

    Args:
        magnitude: linear STFT magnitude, shape (nb_bins, nb_frames).
        initial_phase: radians, same shape.
        length: output samples; default the natural length.
    """
    magnitude = np.asarray(magnitude, dtype=np.float32)
    estimate = (magnitude * np.exp(1j * initial_phase)).astype(np.complex64)
    previous = estimate
    natural = (magnitude.shape[1] - 1) * config.hop_length
    for _ in range(n_iter):
        projected = stft(istft(estimate, config, length=natural), config)
        accelerated = projected + momentum * (projected - previous)
        previous = projected
        estimate = (magnitude * np.exp(1j * np.angle(accelerated))).astype(np.complex64)
    return istft(estimate, config, length=length)


def _check_representation(representation: str) -> None:
    if representation not in PHASE_REPRESENTATIONS:
        raise ValueError(f"representation must be one of {PHASE_REPRESENTATIONS}, got {representation!r}")


def legacy_image_to_spectrogram(image: np.ndarray, magnitude_scale: float = 1.0) -> np.ndarray:
    """Decode the original project's 8-bit image correctly.

    The original wrote R = floor(min(|Z|, q) / q · 255) with q the per-image 99.9th percentile of |Z| (so the
    absolute level is lost) and G = floor((angle + π) · 255 / 2π). Its own decoder built ``mag + 1j·phase``;
    this one builds ``mag · e^{j·phase}``, with a half-step added to undo the flooring.

    Args:
        image: uint8 array, shape (nb_bins, nb_frames, 3), row 0 = DC.
        magnitude_scale: the q used when encoding, if known.
    Returns:
        complex64 STFT, shape (nb_bins, nb_frames).
    """
    red = image[..., 0].astype(np.float64)
    green = image[..., 1].astype(np.float64)
    magnitude = np.where(red > 0, (red + 0.5) / 255.0, 0.0) * magnitude_scale
    phase = (green + 0.5) * 2 * np.pi / 255.0 - np.pi
    return (magnitude * np.exp(1j * phase)).astype(np.complex64)


def spectrogram_to_legacy_image(spectrogram: np.ndarray) -> np.ndarray:
    """The original project's 8-bit encoding (for writing BMPs it can read): uint8, shape (nb_bins, nb_frames, 3)."""
    magnitude = np.abs(spectrogram)
    scale = float(np.percentile(magnitude, 99.9)) or 1.0
    image = np.zeros(spectrogram.shape + (3,), dtype=np.uint8)
    image[..., 0] = np.floor(np.minimum(magnitude, scale) / scale * 255).astype(np.uint8)
    image[..., 1] = np.floor((np.angle(spectrogram) + np.pi) * 255 / (2 * np.pi)).clip(0, 255).astype(np.uint8)
    return image


def quantize(image: np.ndarray, bits: int) -> np.ndarray:
    """Float image in [0, 1] → unsigned integers of ``bits`` (8 or 16) per channel, rounded, R clipped to [0, 1]."""
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    top = 2**bits - 1
    dtype = np.uint8 if bits == 8 else np.uint16
    return np.round(np.clip(image, 0.0, 1.0) * top).astype(dtype)


def dequantize(image: np.ndarray) -> np.ndarray:
    """Integer image → float32 in [0, 1] (by its dtype's range)."""
    top = float(np.iinfo(image.dtype).max)
    return (image.astype(np.float32) / top).astype(np.float32)
