"""Pictures for people: block-maximum resizing, and the dB view's orientation, scale and size."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from vocals2song.config import SpectrogramConfig
from vocals2song.display import DecibelView, display_jpeg, pool_max

CONFIG = SpectrogramConfig()


def test_pool_max_keeps_narrow_peaks_and_stretches_short_axes():
    values = np.zeros((513, 40), dtype=np.uint8)
    values[200, :] = 255  # one bin: a harmonic
    values[:, 7] = 128  # one frame: an onset
    pooled = pool_max(values, 100, 80)
    assert pooled.shape == (100, 80)
    assert (pooled == 255).any(axis=1).sum() == 1  # the harmonic is one row, and still there
    assert (pooled[:, :] >= 128).all(axis=0).sum() == 2  # the onset, stretched over two of the 80 columns
    np.testing.assert_array_equal(pool_max(values, 513, 40), values)


def test_decibel_view_puts_low_frequencies_at_the_bottom():
    image = np.zeros((CONFIG.nb_bins, 300, 3), dtype=np.float32)
    low = slice(10, 30)  # about 215-645 Hz
    image[low, :, 0] = 1.0  # R = 1: the top of the dB scale
    view = DecibelView("Test", CONFIG)
    with Image.open(io.BytesIO(view.render(image))) as picture:
        assert picture.size == (720, 450)
        pixels = np.asarray(picture.convert("RGB"))
    inside = pixels[view._rows, view._columns][2:-2, 2:-2]  # the frame is drawn over the outermost pixels
    loudest, silent = view._lookup[255], view._lookup[0]
    rows_loud = np.flatnonzero((inside == loudest).all(axis=2).all(axis=1))
    height = inside.shape[0]
    assert len(rows_loud) > 0 and rows_loud.min() > height * 0.9  # near the bottom of the axes
    assert (inside[: height // 2] == silent).all()  # the rest is the scale's floor
    # a second, longer image: the same view, redrawn (nothing of the first is left)
    image = np.zeros((CONFIG.nb_bins, 2000, 3), dtype=np.float32)
    with Image.open(io.BytesIO(view.render(image))) as picture:
        assert (np.asarray(picture.convert("RGB"))[view._rows, view._columns][2:-2, 2:-2] == silent).all()


def test_display_jpeg_is_the_image_flipped():
    image = np.zeros((CONFIG.nb_bins, 64, 3), dtype=np.float32)
    image[:100, :, 0] = 1.0  # loud low frequencies
    image[..., 1] = np.random.default_rng(0).random((CONFIG.nb_bins, 64))  # phase: noise
    with Image.open(io.BytesIO(display_jpeg(image))) as picture:
        assert picture.format == "JPEG"
        pixels = np.asarray(picture).astype(np.float32) / 255
    assert pixels.shape == (CONFIG.nb_bins, 64, 3)
    assert pixels[-100:, :, 0].mean() > 0.95 and pixels[:-110, :, 0].mean() < 0.05  # low frequencies at the bottom
    assert np.abs(pixels[::-1, :, 1] - image[..., 1]).mean() < 0.03  # the noisy phase survives quality 90
