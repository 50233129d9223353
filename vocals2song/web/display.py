"""Pictures for people: the display JPEG and the dB view (magnitude over time and frequency) of R/G images, and
the plan as a picture (chords over bars, beats, the melody).

The dB views are a matplotlib figure built once and updated per request: everything that does not depend on
the images (titles, frequency axis, colour bar, labels) is drawn once and kept as bitmaps. Each render pastes
a bitmap back, writes the image into the axes' pixels (reduced to their size by a block maximum and coloured
with a lookup table, in numpy) and draws only the time axis, once for all panels of the request.
"""

from __future__ import annotations

import threading

import imagecodecs
import numpy as np

from vocals2song.config import SpectrogramConfig
from vocals2song.codec.image_files import display_image, png_bytes
from vocals2song.plan.harmony import PITCH_NAMES, Harmony

JPEG_QUALITY = 90  # with full-resolution colour (4:4:4): the R/G texture looks the same as the PNG's
COLOUR_MAP = "magma"
FIGURE_INCHES = (4.8, 3.0)  # readable when shrunk to a 360 px wide phone column, sharp at 720 px
FIGURE_DPI = 150
FONT_SIZE = 10.5
AXES_BOX = (0.13, 0.17, 0.64, 0.72)  # left, bottom, width, height (fractions of the figure)
COLOUR_BAR_BOX = (0.80, 0.17, 0.035, 0.72)
PLOT_PNG = {"level": 1, "strategy": 1, "filter": 8}  # flat colours: no filter compresses best, and fastest


def display_jpeg(image: np.ndarray, show_plan: bool = False) -> bytes:
    """Float R/G image, shape (nb_bins, nb_frames, 3), row 0 = DC → JPEG bytes to look at (libjpeg-turbo, quality
    90, colour at full resolution), low frequencies at the bottom. A quarter smaller than the fastest PNG and a
    third of its time to encode; the exact image is the 16-bit PNG download.

    Args:
        show_plan: show B (the plan: chord lines and beat marks, in blue) too; otherwise B is left dark and the
            picture is the R/G image alone, as the original project showed it.
    """
    pixels = display_image(image)
    if not show_plan:
        pixels[..., 2] = 0
    return imagecodecs.jpeg8_encode(pixels, level=JPEG_QUALITY, subsampling=(1, 1))


def pool_max(values: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a 2-D array to (height, width): blocks of rows or columns are reduced to their maximum (so narrow
    harmonics and short onsets stay visible), and an axis shorter than asked is stretched by repetition."""
    result = values
    for axis, size in ((0, height), (1, width)):
        length = result.shape[axis]
        if length >= size:
            result = np.maximum.reduceat(result, np.linspace(0, length, size + 1).astype(int)[:-1], axis=axis)
        else:
            result = np.take(result, (np.arange(size) * length) // size, axis=axis)
    return result


class DecibelViews:
    """The dB views of a request's R/G images (the voice's, the song's): one panel each, time (s) across,
    frequency (kHz) up, one fixed colour scale, the panels' titles given here.

    All panels share one figure: a bitmap of it per title, drawn once. The images of one call have the same
    length, so the time axis is drawn once and pasted into every panel. :meth:`render` is thread-safe.

    Args:
        titles: one per panel ("Your voice", "Predicted song").
        config: the spectrogram scale (R = 0 is ``db_floor``, R = 1 is ``db_ceiling``; top = Nyquist).
    """

    def __init__(self, titles: list[str], config: SpectrogramConfig):
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize
        from matplotlib.figure import Figure
        from matplotlib.transforms import Bbox

        self.config = config
        self._lock = threading.Lock()
        colours = matplotlib.colormaps[COLOUR_MAP](np.linspace(0.0, 1.0, 256))[:, :3]
        self._lookup = np.round(colours * 255).astype(np.uint8)
        with matplotlib.rc_context({"font.size": FONT_SIZE}):
            self._figure = Figure(figsize=FIGURE_INCHES, dpi=FIGURE_DPI)
            self._canvas = FigureCanvasAgg(self._figure)
            self._axes = self._figure.add_axes(AXES_BOX)
            colour_bar_axes = self._figure.add_axes(COLOUR_BAR_BOX)
            self._axes.set_ylim(0.0, config.sample_rate / 2000)
            self._axes.set_xlabel("time (s)")
            self._axes.set_ylabel("frequency (kHz)")
            self._axes.xaxis.set_animated(True)
            self._axes.tick_params(labelsize=FONT_SIZE)  # ticks made at render time, outside this rc_context
            scale = ScalarMappable(Normalize(config.db_floor, config.db_ceiling), COLOUR_MAP)
            self._figure.colorbar(scale, cax=colour_bar_axes, label="magnitude (dB)")
            self._backgrounds = []
            for title in titles:  # everything but the image and the time axis
                self._axes.set_title(title)
                self._canvas.draw()
                self._backgrounds.append(self._canvas.copy_from_bbox(self._figure.bbox))
        box = self._axes.get_window_extent()
        height = int(self._figure.bbox.height)
        # the axes' pixels in the canvas buffer (row 0 at the top), and the strip under them (the time axis)
        self._rows = slice(height - int(np.floor(box.y1)), height - int(np.ceil(box.y0)))
        self._columns = slice(int(np.ceil(box.x0)), int(np.floor(box.x1)))
        self._time_axis_box = Bbox.from_extents(0, 0, self._figure.bbox.width, np.floor(box.y0))

    def render(self, images: list[np.ndarray]) -> list[bytes]:
        """R/G images of one length, shape (nb_bins, nb_frames, ≥1), row 0 = DC, one per title → the panels as
        PNG bytes (720 x 450 pixels each)."""
        if len(images) != len(self._backgrounds) or len({image.shape[1] for image in images}) != 1:
            raise ValueError(f"render takes {len(self._backgrounds)} images of one length")
        seconds = images[0].shape[1] * self.config.hop_length / self.config.sample_rate
        height = self._rows.stop - self._rows.start
        width = self._columns.stop - self._columns.start
        pictures = []
        with self._lock:
            time_axis = None
            for background, image in zip(self._backgrounds, images):
                levels = (np.clip(image[..., 0], 0.0, 1.0) * 255 + 0.5).astype(np.uint8)  # lookup table indices
                coloured = self._lookup[pool_max(levels, height, width)[::-1]]  # low frequencies at the bottom
                self._canvas.restore_region(background)
                np.asarray(self._canvas.buffer_rgba())[self._rows, self._columns, :3] = coloured
                if time_axis is None:
                    self._axes.set_xlim(0.0, seconds)
                    self._axes.draw_artist(self._axes.xaxis)
                    time_axis = self._canvas.copy_from_bbox(self._time_axis_box)
                else:
                    self._canvas.restore_region(time_axis)
                for spine in self._axes.spines.values():
                    self._axes.draw_artist(spine)
                pictures.append(png_bytes(np.asarray(self._canvas.buffer_rgba())[..., :3], settings=PLOT_PNG))
        return pictures


PLAN_INCHES = (7.2, 2.6)  # 1080 x 390 pixels at 150 dpi: chord names stay readable on a 360 px phone column
PLAN_FONT_SIZE = 11.0
MELODY_COLOUR = "#1f5fbf"
CHORD_TONE_COLOUR = "#e07b00"


def plan_png(harmony: Harmony, style: str | None = None) -> bytes:
    """The plan as a picture a person reads: time (s) across; one band per chord with its name over it, bar lines
    (downbeats) across the whole picture, each beat a tick on the time axis; the sung melody as a line of notes
    (pitch names up the side), with the chord's tones as faint lines behind it so a note on a chord tone shows.
    Key, tempo (and the accompaniment's ``style``, when given) are the title. PNG bytes, ``PLAN_INCHES`` at ``FIGURE_DPI``."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"font.size": PLAN_FONT_SIZE}):
        figure = Figure(figsize=PLAN_INCHES, dpi=FIGURE_DPI)
        canvas = FigureCanvasAgg(figure)
        axes = figure.add_axes((0.09, 0.17, 0.89, 0.58))
        names = figure.add_axes((0.09, 0.75, 0.89, 0.12), sharex=axes)  # the chord names, over the bars
        duration = max(harmony.duration, 1e-3)
        pitches = [note.pitch for note in harmony.melody] or [60.0, 67.0]
        low, high = np.floor(min(pitches)) - 3, np.ceil(max(pitches)) + 3
        seconds_per_inch = duration / (PLAN_INCHES[0] * 0.89)
        spans = []  # (start, end, chord): a chord that repeats is one span
        for chord in harmony.chords:
            if spans and spans[-1][2].name == chord.name and abs(spans[-1][1] - chord.start) < 1e-3:
                spans[-1] = (spans[-1][0], chord.end, chord)
            else:
                spans.append((chord.start, chord.end, chord))
        for index, (start, end, chord) in enumerate(spans):
            start, end = max(start, 0.0), min(end, duration)
            if end <= start:
                continue
            shade = "#f0f0f0" if index % 2 else "#ffffff"
            names.axvspan(start, end, color=shade, linewidth=0)
            inches = (end - start) / seconds_per_inch
            for size, inches_per_letter in ((PLAN_FONT_SIZE, 0.11), (0.75 * PLAN_FONT_SIZE, 0.08)):
                if inches > inches_per_letter * max(2, len(chord.name)):  # room for the name at this size
                    names.text((start + end) / 2, 0.5, chord.name, ha="center", va="center", fontweight="bold",
                               fontsize=size)  # fmt: skip
                    break
            for tone in chord.pitch_classes:  # the chord's tones in the melody's range
                for pitch in np.arange(low + (tone - low) % 12, high + 1, 12):
                    axes.hlines(pitch, start, end, color=CHORD_TONE_COLOUR, alpha=0.35, linewidth=1.2)
        for note in harmony.melody:
            axes.hlines(note.pitch, note.start, note.end, color=MELODY_COLOUR, linewidth=3.0)
        for bar in harmony.downbeats:
            for panel in (axes, names):
                panel.axvline(bar, color="0.35", linewidth=0.9)
        names.set_ylim(0, 1)
        names.set_yticks([])
        names.tick_params(labelbottom=False, bottom=False)
        played = "" if style is None else f", {style} style"
        names.set_title(f"{harmony.key_name}, {harmony.tempo_bpm:.0f} BPM{played}: chords, bars, beats and your melody",
                        fontsize=PLAN_FONT_SIZE)  # fmt: skip
        axes.set_xlim(0.0, duration)
        axes.set_ylim(low, high)
        axes.set_xticks([beat for beat in harmony.beats if 0.0 <= beat <= duration], minor=True)
        axes.tick_params(axis="x", which="minor", length=5, width=1.0)
        axes.set_xlabel("time (s)")
        named = (0, 7) if high - low > 18 else (0, 4, 7)  # the pitch classes named up the side: C, (E,) G
        ticks = [pitch for pitch in range(int(low), int(high) + 1) if pitch % 12 in named]
        axes.set_yticks(ticks, [f"{PITCH_NAMES[pitch % 12]}{pitch // 12 - 1}" for pitch in ticks])
        axes.grid(False)
        canvas.draw()
        return png_bytes(np.asarray(canvas.buffer_rgba())[..., :3], settings=PLOT_PNG)
