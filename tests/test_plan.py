"""The B channel: render_plan's layout (chords, style, beats), its shift consistency (whole pair = crops), and image
files carrying B."""

import numpy as np
import pytest
from scipy import signal

from vocals2song.codec import spectrogram as codec
from vocals2song.config import SpectrogramConfig
from vocals2song.errors import PlanError
from vocals2song.plan.harmony import Chord, Harmony
from vocals2song.codec.image_files import load_image, save_image
from vocals2song.plan.channel import BEAT_BAND, DOWNBEAT_BAND, STYLE_BAND, STYLE_SLOTS, render_plan, style_rows
from vocals2song.plan.style import STYLES

CONFIG = SpectrogramConfig()
FRAMES_PER_SECOND = CONFIG.sample_rate / CONFIG.hop_length


def plan_harmony(offset: float = 0.0) -> Harmony:
    """C major for 2 s then G7 for 2 s, beats every 0.5 s, a downbeat every 2 s; everything moved by ``offset``."""
    beats = tuple(offset + 0.5 * index for index in range(8))
    return Harmony(key_tonic=0, key_mode="major", tempo_bpm=120.0, beats=beats, downbeats=beats[::4],
                   chords=(Chord(offset, offset + 2.0, 0, "maj"), Chord(offset + 2.0, offset + 4.0, 7, "7")),
                   duration=offset + 4.0)


def band_rows(band, nb_bins=CONFIG.nb_bins):
    return slice(int(round(band[0] * (nb_bins - 1))), int(round(band[1] * (nb_bins - 1))))


def test_no_plan_is_zero_and_shapes_follow_the_config():
    assert not np.any(render_plan(None, CONFIG, 100))
    plane = render_plan(plan_harmony(), CONFIG, 345)
    assert plane.shape == (CONFIG.nb_bins, 345) and plane.dtype == np.float32
    assert plane.min() >= 0.0 and plane.max() <= 1.0
    other = SpectrogramConfig(sample_rate=44100, n_fft=2048, hop_length=512)
    assert render_plan(plan_harmony(), other, 50).shape == (other.nb_bins, 50)


def test_chord_lines_sit_on_the_chord_tones():
    plane = render_plan(plan_harmony(), CONFIG, 345)
    bin_hz = CONFIG.sample_rate / CONFIG.n_fft

    def level(hz, seconds):
        return plane[int(round(hz / bin_hz)), int(seconds * FRAMES_PER_SECOND)]

    # Octave 5, where 21.5 Hz bins resolve semitones (E4 and F4 are less than a bin apart).
    c5, c_sharp5, e5, f5, g5, b5 = 523.25, 554.37, 659.26, 698.46, 783.99, 987.77
    assert level(c5, 1.0) == pytest.approx(1.0, abs=0.15)  # the root, brightest
    assert level(e5, 1.0) > 0.5 and level(g5, 1.0) > 0.5  # the other tones of C major
    assert level(f5, 1.0) < 0.1  # F is not in C major
    assert level(f5, 3.0) > 0.5 and level(b5, 3.0) > 0.5  # ... but it is in G7, as is B
    assert level(c_sharp5, 1.0) < 0.1 and level(c_sharp5, 3.0) < 0.1
    assert not np.any(plane[:, int(4.2 * FRAMES_PER_SECOND):band_rows(BEAT_BAND).start])  # after the last chord


def test_beats_and_downbeats_mark_their_bands():
    plane = render_plan(plan_harmony(), CONFIG, 345)
    beat_rows, downbeat_rows = plane[band_rows(BEAT_BAND)], plane[band_rows(DOWNBEAT_BAND)]
    beat_frames = signal.find_peaks(np.pad(beat_rows[0], 1), height=0.5)[0] - 1
    assert np.allclose(beat_frames / FRAMES_PER_SECOND, np.arange(0, 4, 0.5), atol=0.015)
    downbeat_frames = signal.find_peaks(np.pad(downbeat_rows[0], 1), height=0.5)[0] - 1
    assert np.allclose(downbeat_frames / FRAMES_PER_SECOND, [0.0, 2.0], atol=0.015)
    assert np.all(beat_rows == beat_rows[:1]) and np.all(downbeat_rows == downbeat_rows[:1])  # whole band
    assert not np.any(plane[band_rows(BEAT_BAND).start - 1, :])  # no chord line reaches the beat band


def test_a_style_lights_its_own_slot_of_the_style_band_and_nothing_else():
    without = render_plan(plan_harmony(), CONFIG, 345)
    band = band_rows(STYLE_BAND)
    assert not np.any(without[band])  # no style: the band stays dark, as before styles existed
    assert not np.any(without[band.start - 3:band.start])  # no chord line reaches the style band
    assert len(STYLES) <= STYLE_SLOTS
    slots = [style_rows(style, CONFIG.nb_bins) for style in STYLES]
    assert slots[0].start == band.start and all(a.stop == b.start for a, b in zip(slots, slots[1:]))
    assert all(slot.stop - slot.start >= 6 for slot in slots) and slots[-1].stop <= band.stop
    for style, slot in zip(STYLES, slots):
        plane = render_plan(plan_harmony(), CONFIG, 345, style=style)
        assert np.all(plane[slot] == 1.0)  # the whole slot, every column
        lit = np.zeros(CONFIG.nb_bins, bool)
        lit[slot] = True
        np.testing.assert_array_equal(plane[~lit], without[~lit])  # nothing else changes
    assert np.array_equal(render_plan(plan_harmony(), CONFIG, 345, style=" Jazz "),
                          render_plan(plan_harmony(), CONFIG, 345, style="jazz"))
    assert not np.any(render_plan(None, CONFIG, 100, style="rock"))  # no plan, no style
    with pytest.raises(PlanError, match="style must be one of"):
        render_plan(plan_harmony(), CONFIG, 10, style="polka")


@pytest.mark.parametrize("style", [None, "folk"])
@pytest.mark.parametrize("first_frame", [1, 37, 200])
def test_rendering_is_shift_consistent(first_frame, style):
    """A crop of the whole pair's plane equals the plane of the harmony re-timed from the crop's start."""
    harmony = plan_harmony(offset=0.3)
    whole = render_plan(harmony, CONFIG, 400, style=style)
    seconds = first_frame * CONFIG.hop_length / CONFIG.sample_rate
    crop = render_plan(harmony.shifted(-seconds), CONFIG, 128, style=style)
    np.testing.assert_allclose(crop, whole[:, first_frame:first_frame + 128], atol=1e-5)
    np.testing.assert_allclose(render_plan(harmony, CONFIG, 128, first_frame=first_frame, style=style),
                               whole[:, first_frame:first_frame + 128], atol=1e-6)


@pytest.mark.parametrize("suffix,bits,tolerance", [(".png", 16, 1e-4), (".png", 8, 3e-3), (".tiff", 32, 0.0)])
def test_image_files_carry_the_plan(tmp_path, suffix, bits, tolerance):
    rng = np.random.default_rng(0)
    audio = (0.3 * rng.standard_normal(CONFIG.sample_rate * 2)).astype(np.float32)
    spectrogram = codec.stft(audio, CONFIG)
    plan = render_plan(plan_harmony(), CONFIG, spectrogram.shape[1])
    loaded = load_image(save_image(tmp_path / f"plan{suffix}", spectrogram, CONFIG, bits=bits, length=len(audio),
                                   plan=plan))
    np.testing.assert_allclose(loaded.plan, plan, atol=tolerance)
    without = load_image(save_image(tmp_path / f"none{suffix}", spectrogram, CONFIG, bits=bits, length=len(audio)))
    assert without.plan is None
    np.testing.assert_allclose(loaded.to_audio(), without.to_audio(), atol=1e-6)  # B is never sound


def test_a_bmp_refuses_a_plan_and_still_decodes(tmp_path):
    from vocals2song.errors import ImageFormatError

    audio = np.sin(2 * np.pi * 440 * np.arange(44100) / 44100).astype(np.float32) * 0.5
    config = SpectrogramConfig(sample_rate=44100, n_fft=2048, hop_length=512)
    spectrogram = codec.stft(audio, config)
    with pytest.raises(ImageFormatError, match="no plan"):
        save_image(tmp_path / "x.bmp", spectrogram, config, bits=8,
                   plan=render_plan(plan_harmony(), config, spectrogram.shape[1]))
    legacy = load_image(save_image(tmp_path / "x.bmp", spectrogram, config, bits=8))
    assert legacy.legacy and legacy.plan is None and len(legacy.to_audio()) > 0
