"""Pictures for people: block-maximum resizing, and the dB view's orientation, scale and size."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from vocals2song.config import SpectrogramConfig
from vocals2song.web.display import DecibelViews, display_jpeg, pool_max

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


def panel_pixels(png: bytes, views: DecibelViews) -> tuple[np.ndarray, np.ndarray]:
    """A rendered panel: (the whole picture, the image inside the axes without the frame's outermost pixels)."""
    with Image.open(io.BytesIO(png)) as picture:
        assert picture.size == (720, 450)
        pixels = np.asarray(picture.convert("RGB"))
    return pixels, pixels[views._rows, views._columns][2:-2, 2:-2]


def test_decibel_views_put_low_frequencies_at_the_bottom_and_share_the_time_axis():
    loud_low = np.zeros((CONFIG.nb_bins, 300, 3), dtype=np.float32)
    loud_low[10:30, :, 0] = 1.0  # R = 1 (the top of the dB scale) from about 215 to 645 Hz
    silent = np.zeros_like(loud_low)
    views = DecibelViews(["Your voice", "Predicted song"], CONFIG)
    (voice, voice_inside), (song, song_inside) = [panel_pixels(png, views) for png in views.render([loud_low, silent])]
    loudest, floor = views._lookup[255], views._lookup[0]
    rows_loud = np.flatnonzero((voice_inside == loudest).all(axis=2).all(axis=1))
    height = voice_inside.shape[0]
    assert len(rows_loud) > 0 and rows_loud.min() > height * 0.9  # near the bottom of the axes
    assert (voice_inside[: height // 2] == floor).all()  # the rest is the scale's floor
    assert (song_inside == floor).all()  # the second panel shows its own image, not the first's
    below = slice(views._rows.stop + 3, None)  # the time axis: drawn once, the same in both panels
    np.testing.assert_array_equal(voice[below], song[below])
    assert (voice[: views._rows.start] != song[: views._rows.start]).any()  # different titles
    # a longer request: redrawn, nothing of the first is left
    longer = views.render([silent[:, :1].repeat(2000, axis=1)] * 2)
    assert (panel_pixels(longer[0], views)[1] == floor).all()
    assert (panel_pixels(longer[0], views)[0][below] != voice[below]).any()  # its own time axis


def test_decibel_views_refuse_images_of_different_lengths():
    views = DecibelViews(["a", "b"], CONFIG)
    image = np.zeros((CONFIG.nb_bins, 100, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="of one length"):
        views.render([image, image[:, :50]])


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


def test_the_plan_picture_shows_the_melody_where_it_is_sung():
    """plan_png: 1080 x 390 pixels; the melody's blue where its note is (time across, pitch up), nowhere in the
    half of the picture where nothing is sung; a plan without a melody still draws."""
    from vocals2song.plan.harmony import Chord, Harmony, MelodyNote
    from vocals2song.web.display import MELODY_COLOUR, plan_png

    beats = tuple(0.5 * index for index in range(16))
    chords = (Chord(0.0, 2.0, 0, "maj"), Chord(2.0, 4.0, 7, "7"), Chord(4.0, 8.0, 9, "min"))
    harmony = Harmony(0, "major", 120.0, beats, beats[::4], chords, 8.0, (MelodyNote(0.5, 3.5, 67.0),))

    def pixels(plan: Harmony) -> np.ndarray:
        with Image.open(io.BytesIO(plan_png(plan))) as picture:
            return np.asarray(picture.convert("RGB"), dtype=np.int16)

    picture = pixels(harmony)
    assert picture.shape == (390, 1080, 3)
    blue = np.all(np.abs(picture - np.frombuffer(bytes.fromhex(MELODY_COLOUR[1:]), np.uint8).astype(np.int16)) < 30, axis=-1)
    columns = np.flatnonzero(blue.any(axis=0))
    assert columns.size > 100
    left, right = 0.09 * 1080, 0.98 * 1080  # the axes, 0-8 s across
    assert left + 0.5 / 8 * (right - left) - 3 <= columns.min() and columns.max() <= left + 3.5 / 8 * (right - left) + 3
    bare = pixels(Harmony(0, "major", 120.0, beats, beats[::4], chords, 8.0))
    assert not np.all(np.abs(bare - np.frombuffer(bytes.fromhex(MELODY_COLOUR[1:]), np.uint8).astype(np.int16)) < 30, axis=-1).any()
