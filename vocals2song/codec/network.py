"""Images ↔ the generator's tensors, shared by inference and training: the voice's level, the value range, tiling.

The R/G/B image is :mod:`vocals2song.codec.spectrogram`'s (rows 0…nb_bins, Nyquist included, values in [0, 1]);
the network sees ``nb_bins`` rows (Nyquist dropped) in [-1, 1]. Long images go through the generator in
overlapping tiles that are cross-faded back together.
"""

from __future__ import annotations

import numpy as np

from vocals2song.audio import check_voice

VOICE_PEAK = 0.5  # voices are scaled to this peak before encoding, at inference and in training


def normalize_voice(voice: np.ndarray) -> tuple[np.ndarray, float]:
    """Scale so the peak is ``VOICE_PEAK``; returns (scaled voice, gain). Silent input raises AudioInputError."""
    check_voice(voice)
    gain = VOICE_PEAK / float(np.max(np.abs(voice)))
    return (voice * gain).astype(np.float32), gain


def image_to_network(image: np.ndarray, nb_bins: int, channels: int = 2) -> np.ndarray:
    """Image (nb_bins + 1, nb_frames, ≥ channels) in [0, 1] → network tensor (nb_bins, nb_frames, channels) in
    [-1, 1]: the first ``channels`` channels, Nyquist dropped, R clipped to [0, 1]."""
    return np.clip(image[:nb_bins, :, :channels], 0.0, 1.0) * 2.0 - 1.0


def network_to_image(output: np.ndarray) -> np.ndarray:
    """Network tensor (nb_bins, nb_frames, channels) in [-1, 1] → image (nb_bins + 1, nb_frames, channels) in
    [0, 1], Nyquist silent."""
    nb_bins, nb_frames, channels = output.shape
    image = np.zeros((nb_bins + 1, nb_frames, channels), dtype=np.float32)
    image[:nb_bins] = (np.asarray(output, dtype=np.float32) + 1.0) / 2.0
    return image


def tile_starts(nb_frames: int, tile_frames: int, overlap_frames: int) -> list[int]:
    """First frame of each tile covering ``nb_frames`` (the input is padded to ``starts[-1] + tile_frames``)."""
    step = tile_frames - overlap_frames
    count = 1 if nb_frames <= tile_frames else 1 + int(np.ceil((nb_frames - tile_frames) / step))
    return [index * step for index in range(count)]


def crossfade_weights(tile_frames: int, overlap_frames: int, first: bool, last: bool) -> np.ndarray:
    """Per-frame weight of one tile, shape (tile_frames,): linear ramps over the overlaps."""
    weights = np.ones(tile_frames, dtype=np.float32)
    if overlap_frames:
        ramp = (np.arange(overlap_frames, dtype=np.float32) + 0.5) / overlap_frames
        if not first:
            weights[:overlap_frames] = ramp
        if not last:
            weights[-overlap_frames:] = ramp[::-1]
    return weights
