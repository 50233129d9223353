"""The B channel: the plan (a :class:`~vocals2song.plan.harmony.Harmony`) drawn in the STFT's own bins.

Beside the R/G codec (:mod:`vocals2song.codec.spectrogram`), :func:`render_plan` draws a harmony as a plane the shape of
the voice image's channels, ``(nb_bins, nb_frames)`` float32 in [0, 1], row 0 = DC, column n = STFT frame n
(centred on sample n·hop):

* **chords** — for the chord's duration, each chord tone's fundamentals in every octave of
  :data:`CHORD_MIDI_RANGE` (C2–B5, 65–988 Hz) as soft lines (a Gaussian :data:`LINE_WIDTH_BINS` wide across bins),
  with their 2nd and 3rd harmonics fainter: root 1.0, other tones 0.7, harmonics × 0.5 and × 0.35. Where lines
  meet, the brighter one wins. Chord edges ramp over one frame.
* **style** — only when a style is asked for (``style=``, the generator was trained on styled pairs:
  :attr:`vocals2song.config.ModelConfig.styles`): in a reserved band below the beats (:data:`STYLE_BAND`, 80–90 % of
  Nyquist: 8.8–9.9 kHz at 22.05 kHz) cut into :data:`STYLE_SLOTS` equal sub-bands, slot k for the style of code k
  (its index in :data:`vocals2song.plan.style.STYLES`; :func:`style_rows`), the chosen style's slot is 1.0 over every
  column (constant in time) and the others 0. Eight slots for seven styles leave room to append one without moving
  the others; without a style the band stays 0, as before styles existed.
* **beats** — in a reserved band at the top of the spectrum (:data:`BEAT_BAND`, 90–95 % of Nyquist: 9.9–10.5 kHz
  at 22.05 kHz) a pulse :data:`PULSE_FRAMES` frames either side of each beat, and in the band above it (95–100 %)
  the same pulse on each downbeat. No chord line reaches these bands or the style band: chord lines stop below
  :data:`STYLE_BAND` (the highest, B5's 3rd harmonic near 3 kHz, is far below it at every supported rate).

B = 0 everywhere means "no plan" (the original project's input). Everything is computed from times in seconds
relative to frame 0, in float64, so rendering is shift-consistent: the plane of a harmony shifted by k·hop seconds
is the plane shifted by k frames (rendering a whole pair once and cropping it equals rendering each crop).
"""

from __future__ import annotations

import functools

import numpy as np

from vocals2song.config import SpectrogramConfig
from vocals2song.plan.harmony import Harmony
from vocals2song.plan.style import STYLES, check_style

CHORD_MIDI_RANGE = (36, 83)  # C2..B5
HARMONICS = ((1, 1.0), (2, 0.5), (3, 0.35))  # (harmonic number, relative level)
ROOT_LEVEL, TONE_LEVEL = 1.0, 0.7
LINE_WIDTH_BINS = 0.6  # standard deviation of a line across bins
STYLE_BAND = (0.80, 0.90)  # fractions of Nyquist, cut into STYLE_SLOTS sub-bands
STYLE_SLOTS = 8  # sub-bands of STYLE_BAND: room for len(STYLES) <= 8 styles; never change (trained generators read it)
BEAT_BAND = (0.90, 0.95)  # fractions of Nyquist
DOWNBEAT_BAND = (0.95, 1.0)
PULSE_FRAMES = 2.0  # half width of a beat pulse (a triangle), frames


def render_plan(harmony: Harmony | None, spectrogram_config: SpectrogramConfig, nb_frames: int,
                first_frame: int = 0, style: str | None = None) -> np.ndarray:
    """Draw a harmony (and, when given, the accompaniment's style) as the B plane.

    Args:
        harmony: the plan, times in seconds from the voice's start; None draws nothing (B = 0, style or not).
        spectrogram_config: the STFT whose bins and frames the plane follows.
        nb_frames: columns to draw.
        first_frame: the STFT frame of column 0 (a crop's start): ``render_plan(h, c, n, k)`` equals
            ``render_plan(h, c, k + n)[:, k:]``.
        style: one of :data:`vocals2song.plan.style.STYLES`, drawn as 1.0 in its rows of :data:`STYLE_BAND`
            (:func:`style_rows`) over every column; None leaves that band 0 (the plane of a generator without styles).
    Returns:
        float32 (nb_bins, nb_frames) in [0, 1].
    Raises:
        PlanError: an unknown style.
    """
    style = None if style is None else check_style(style)
    nb_bins = spectrogram_config.nb_bins
    plane = np.zeros((nb_bins, nb_frames), dtype=np.float32)
    if harmony is None or nb_frames <= 0:
        return plane
    if style is not None:
        plane[style_rows(style, nb_bins)] = 1.0
    frames_per_second = spectrogram_config.sample_rate / spectrogram_config.hop_length
    columns = np.arange(nb_frames, dtype=np.float64) + first_frame
    for chord in harmony.chords:
        if chord.root < 0:
            continue
        start, end = chord.start * frames_per_second, chord.end * frames_per_second
        low = max(0, int(np.floor(start - 1 - first_frame)))
        high = min(nb_frames, int(np.ceil(end + 1 - first_frame)))
        if high <= low:
            continue
        span = columns[low:high]
        coverage = np.clip(span - start + 0.5, 0, 1) * np.clip(end - span + 0.5, 0, 1)
        rows = chord_rows(chord.pitch_classes, spectrogram_config)
        np.maximum(plane[:, low:high], np.outer(rows, coverage).astype(np.float32), out=plane[:, low:high])
    for times, band in ((harmony.beats, BEAT_BAND), (harmony.downbeats, DOWNBEAT_BAND)):
        top = _band_rows(band, nb_bins)
        pulses = np.zeros(nb_frames)
        for time in times:
            centre = time * frames_per_second - first_frame
            low, high = max(0, int(np.floor(centre - PULSE_FRAMES))), min(nb_frames, int(np.ceil(centre + PULSE_FRAMES)) + 1)
            if high > low:
                shape = np.clip(1.0 - np.abs(np.arange(low, high) - centre) / PULSE_FRAMES, 0.0, 1.0)
                pulses[low:high] = np.maximum(pulses[low:high], shape)
        plane[top] = np.maximum(plane[top], pulses.astype(np.float32)[None, :])
    return plane


@functools.lru_cache(maxsize=256)
def chord_rows(pitch_classes: tuple[int, ...], spectrogram_config: SpectrogramConfig) -> np.ndarray:
    """The column profile of a chord: float64 (nb_bins,), its tones' lines (root first in ``pitch_classes``).

    Cached: treat the result as read-only."""
    nb_bins = spectrogram_config.nb_bins
    bin_hz = spectrogram_config.sample_rate / spectrogram_config.n_fft
    limit = _band_rows(STYLE_BAND, nb_bins).start  # chord lines stop below the style band (and the beat bands above)
    bins = np.arange(nb_bins, dtype=np.float64)
    rows = np.zeros(nb_bins)
    for index, pitch_class in enumerate(pitch_classes):
        level = ROOT_LEVEL if index == 0 else TONE_LEVEL
        for midi in range(CHORD_MIDI_RANGE[0] + (pitch_class - CHORD_MIDI_RANGE[0]) % 12, CHORD_MIDI_RANGE[1] + 1, 12):
            fundamental = 440.0 * 2.0 ** ((midi - 69) / 12.0) / bin_hz
            for harmonic, relative in HARMONICS:
                centre = fundamental * harmonic
                if centre >= limit - 3 * LINE_WIDTH_BINS:
                    continue
                near = slice(max(0, int(centre - 4 * LINE_WIDTH_BINS)), int(centre + 4 * LINE_WIDTH_BINS) + 2)
                line = level * relative * np.exp(-0.5 * ((bins[near] - centre) / LINE_WIDTH_BINS) ** 2)
                rows[near] = np.maximum(rows[near], line)
    return rows


def style_rows(style: str, nb_bins: int) -> slice:
    """The rows of B that carry ``style``: slot ``STYLES.index(style)`` of :data:`STYLE_SLOTS` equal sub-bands of
    :data:`STYLE_BAND` (rows 410–415 for "pop" at 513 bins: each slot 6 or 7 rows)."""
    code = STYLES.index(check_style(style))
    low, high = STYLE_BAND
    width = (high - low) / STYLE_SLOTS
    return _band_rows((low + code * width, low + (code + 1) * width), nb_bins)


def _band_rows(band: tuple[float, float], nb_bins: int) -> slice:
    """Rows of a band given as fractions of Nyquist (row nb_bins - 1)."""
    nyquist_row = nb_bins - 1
    return slice(int(round(band[0] * nyquist_row)), int(round(band[1] * nyquist_row)))
