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
    """First frame of each tile covering ``nb_frames``: every ``tile_frames - overlap_frames``, and the last tile
    ends where the input ends (it overlaps its neighbour by ``overlap_frames`` or more), so a long input is never
    padded. An input of at most one tile is one tile from 0 (padded to ``tile_frames`` by the caller)."""
    if nb_frames <= tile_frames:
        return [0]
    step = tile_frames - overlap_frames
    count = 1 + int(np.ceil((nb_frames - tile_frames) / step))
    return [index * step for index in range(count - 1)] + [nb_frames - tile_frames]


def tile_weights(starts: list[int], tile_frames: int, overlap_frames: int) -> np.ndarray:
    """Cross-fade weight of every frame of every tile, shape (len(starts), tile_frames); they sum to 1 on every
    frame the tiles cover. Neighbours cross-fade linearly over the last ``overlap_frames`` frames they share (the
    last tile, which may overlap more, is silent over the rest of what it shares)."""
    weights = np.ones((len(starts), tile_frames), dtype=np.float32)
    if overlap_frames == 0 or len(starts) == 1:
        return weights
    ramp = (np.arange(overlap_frames, dtype=np.float32) + 0.5) / overlap_frames
    for index in range(len(starts) - 1):
        shared_from = starts[index] + tile_frames - overlap_frames - starts[index + 1]  # in the next tile
        weights[index, -overlap_frames:] *= ramp[::-1]
        weights[index + 1, :shared_from] = 0.0
        weights[index + 1, shared_from : shared_from + overlap_frames] *= ramp
    return weights
