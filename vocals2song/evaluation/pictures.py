"""Side-by-side dB spectrogram pictures (voice | generated accompaniment | reference) written as PNG files.

What a person looks at first: time in seconds, frequency in Hz on a log axis (50 Hz to the Nyquist rate), one dB
colour scale shared by the panels (0 dB = the loudest bin of the three, 80 dB of range). Matplotlib with the Agg
backend, so it runs without a display; saved as a 256-colour palette PNG. Spectra come from :func:`vocals2song.codec.spectrogram.stft` (n_fft 2048,
hop 512 at 22.05 kHz, scaled with the rate).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from vocals2song.codec import spectrogram as codec
from vocals2song.config import SpectrogramConfig

DISPLAY_FRAME_SECONDS = 2048 / 22050
LOWEST_HZ = 50.0
RANGE_DB = 80.0
PANEL_INCHES = (4.2, 3.2)
DPI = 80
PALETTE_COLOURS = 256


def _decibels(audio: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    return 20 * np.log10(np.abs(codec.stft(np.asarray(audio, dtype=np.float32), config)) + 1e-10)


def save_spectrogram_panels(
    path: str | os.PathLike,
    panels: Sequence[tuple[str, np.ndarray]],
    sample_rate: int,
    title: str | None = None,
) -> Path:
    """Write a PNG with one dB spectrogram per ``(label, audio)`` panel, left to right.

    Args:
        path: the PNG to write (folders are made).
        panels: (label, float mono audio of shape (nb_samples,) at ``sample_rate``) pairs.
        title: a line above the panels.
    Returns:
        the written path.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    n_fft = int(2 ** round(np.log2(DISPLAY_FRAME_SECONDS * sample_rate)))
    config = SpectrogramConfig(sample_rate=sample_rate, n_fft=n_fft, hop_length=n_fft // 4)
    images = [_decibels(audio, config) for _, audio in panels]
    top = max(float(image.max()) for image in images)
    frequencies = np.arange(config.nb_bins) * sample_rate / n_fft
    shown = frequencies >= LOWEST_HZ
    figure, axes = pyplot.subplots(1, len(panels), figsize=(PANEL_INCHES[0] * len(panels), PANEL_INCHES[1]),
                                   sharey=True, squeeze=False, constrained_layout=True)  # fmt: skip
    mesh = None
    for axis, (label, _), image in zip(axes[0], panels, images):
        times = np.arange(image.shape[1]) * config.hop_length / sample_rate
        mesh = axis.pcolormesh(times, frequencies[shown], image[shown] - top, vmin=-RANGE_DB, vmax=0.0,
                               cmap="magma", shading="nearest", rasterized=True)  # fmt: skip
        axis.set_yscale("log")
        axis.set_title(label, fontsize=10)
        axis.set_xlabel("time (s)")
    axes[0][0].set_ylabel("frequency (Hz)")
    figure.colorbar(mesh, ax=axes[0].tolist(), label="dB (re the loudest bin)", pad=0.01)
    if title:
        figure.suptitle(title, fontsize=11)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    pyplot.close(figure)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a 256-colour palette: a third of the size of the RGBA file, no visible change on a colour map of 256 steps
    Image.open(buffer).convert("RGB").quantize(PALETTE_COLOURS).save(path, optimize=True)
    return path
