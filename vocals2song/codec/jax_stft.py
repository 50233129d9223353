"""The codec's STFT and image encoding in JAX, for the on-device training feeder (beside :mod:`.spectrogram`).

The same transform as :func:`vocals2song.codec.spectrogram.stft` (librosa's ``center=True``, zero-padded, periodic
Hann, unnormalised) and the same R, G and target encodings, written for batches inside a jitted step; the tests
check it against the NumPy codec. Only the trainer imports this module (it needs JAX).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from vocals2song.config import SpectrogramConfig


def hann_window(n_fft: int) -> np.ndarray:
    """Periodic Hann window (scipy's ``get_window("hann", n_fft)``, librosa's default), float32 (n_fft,)."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)


def stft(audio, config: SpectrogramConfig):
    """Complex STFT of a batch.

    Args:
        audio: float array, shape (batch, nb_samples).
    Returns:
        complex64, shape (batch, nb_bins, nb_frames) with nb_frames = 1 + nb_samples // hop_length.
    """
    n_fft, hop = config.n_fft, config.hop_length
    nb_samples = audio.shape[-1]
    nb_frames = 1 + nb_samples // hop
    padded = jnp.pad(audio.astype(jnp.float32), ((0, 0), (n_fft // 2, n_fft // 2)))
    if n_fft % hop == 0:  # frames as n_fft / hop shifted views of hop-sized blocks: no gather
        blocks_needed = nb_frames - 1 + n_fft // hop
        total = blocks_needed * hop
        padded = jnp.pad(padded, ((0, 0), (0, max(0, total - padded.shape[-1]))))[:, :total]
        blocks = padded.reshape(audio.shape[0], blocks_needed, hop)
        frames = jnp.concatenate([blocks[:, shift : shift + nb_frames] for shift in range(n_fft // hop)], axis=-1)
    else:
        index = np.arange(nb_frames)[:, None] * hop + np.arange(n_fft)[None, :]
        frames = padded[:, index]
    spectrum = jnp.fft.rfft(frames * hann_window(n_fft), axis=-1)  # (batch, nb_frames, nb_bins)
    return jnp.swapaxes(spectrum, 1, 2).astype(jnp.complex64)


def magnitude_to_r(magnitude, config: SpectrogramConfig):
    """Linear STFT magnitude → R on the config's dB scale (as :func:`vocals2song.codec.spectrogram.magnitude_to_r`)."""
    tiny = 10.0 ** ((config.db_floor - 40.0) / 20.0)
    decibels = 20.0 * jnp.log10(jnp.maximum(magnitude, tiny))
    return (decibels - config.db_floor) / (config.db_ceiling - config.db_floor)


def phase_to_g(phase):
    """Phase in radians → G in [0, 1]."""
    return (phase + jnp.pi) / (2 * jnp.pi)


def phase_to_if(phase, config: SpectrogramConfig):
    """Phase (batch, nb_bins, nb_frames) → instantaneous frequency G in [0, 1], as
    :func:`vocals2song.codec.spectrogram.phase_to_if` (relative to the true previous phase, ``φ[−1] = 0``)."""
    nb_bins = phase.shape[-2]
    advance = (2 * np.pi * np.arange(nb_bins) * config.hop_length / config.n_fft).astype(np.float32)[:, None]
    previous = jnp.concatenate([jnp.zeros_like(phase[..., :1]), phase[..., :-1]], axis=-1)
    deviation = jnp.mod(phase - previous - advance + jnp.pi, 2 * jnp.pi) - jnp.pi
    return jnp.clip((deviation + jnp.pi) / (2 * jnp.pi), 0.0, 1.0)


def spectrogram_to_target(spectrogram, config: SpectrogramConfig, representation: str):
    """Complex (batch, nb_bins, nb_frames) → float32 (batch, nb_bins, nb_frames, 1 or 2) in the representation."""
    channels = [magnitude_to_r(jnp.abs(spectrogram), config)]
    phase = jnp.angle(spectrogram)
    if representation == "raw":
        channels.append(phase_to_g(phase))
    elif representation == "if":
        channels.append(phase_to_if(phase, config))
    elif representation != "none":
        raise ValueError(f"unknown phase representation {representation!r}")
    return jnp.stack(channels, axis=-1).astype(jnp.float32)


def to_network(image, nb_bins: int):
    """Image channels (batch, ≥ nb_bins, nb_frames, channels) in [0, 1] → network tensor in [-1, 1]: Nyquist
    dropped, values clipped to [0, 1] first (as :func:`vocals2song.inference.image_to_network`)."""
    return jnp.clip(image[:, :nb_bins], 0.0, 1.0) * 2.0 - 1.0
