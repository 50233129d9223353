"""The demo's request handler, :class:`SongApp`: checks what a person sent, calls
:func:`vocals2song.inference.vocals_to_song`, and turns the result into what the page shows and downloads.

The Gradio layout that wires it to components is ``app.py``; this module builds no UI. Every person-facing failure
is a ``gr.Error`` with one sentence.
"""

from __future__ import annotations

import atexit
import base64
import html
import logging
import math
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import gradio as gr
import numpy as np
from gradio.components.plot import PlotData

from vocals2song.audio import load_audio
from vocals2song.web.display import DecibelViews, display_jpeg, plan_png
from vocals2song.errors import Vocals2SongError, WeightsError
from vocals2song.plan.controls import DEFAULT_CHORD_RHYTHM, DEFAULT_JAZZ, MAX_TEMPO_BPM, MIN_TEMPO_BPM, PlanControls
from vocals2song.plan.harmony import PITCH_NAMES, Harmony, chart_bars
from vocals2song.inference import generator_style, vocals_to_song
from vocals2song.web.serving import (
    KeptSong,
    KeptSongs,
    generator_input_shapes,
    remove_empty_cache_folders,
    wav_bytes,
    write_downloads,
    write_tone,
)
from vocals2song.model.weights import SongGenerator, default_weights, load_generator

logger = logging.getLogger("vocals2song.app")

MAX_SECONDS = 60  # longer recordings are cut to their first MAX_SECONDS
MAX_FILE_SIZE = "200mb"  # per upload (a 10-minute 48 kHz 24-bit stereo WAV is 173 MB); gradio streams an upload to
# disk and refuses a larger one before the handler runs; the handler decodes only the first MAX_SECONDS of it
QUEUE_MAX_SIZE = 16  # waiting requests beyond this are told the queue is full
CONCURRENCY_LIMIT = 1  # requests generated at once (2 vCPU: one at a time uses both cores)
DELETE_CACHE = (600, 3600)  # every 10 min, delete uploads and outputs older than 1 h
REQUEST_FILES_SECONDS = 60  # a request's own files are removed this long after it (gradio has copied them by then)
KEPT_SONGS_BYTES = 256 * 2**20  # the latest songs and images kept for "Prepare downloads" (oldest dropped first)
MAX_SEED = 2**31 - 1
WARMUP_SECONDS = 1.0
PROGRESS_SECONDS = 0.5  # progress messages at most this often (a 15 s voice takes well under a second)
IMAGE_HEIGHT = 260  # both R/G images are shown at this height, so they share one scale
COLUMN_MIN_WIDTH = 320  # columns narrower than this wrap under each other (a phone shows one column)
EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
FAILURE_MESSAGE = "Processing failed; please try again with another recording."
MODES = [("Full mixture (the generated song)", "mixture"), ("Your voice + generated accompaniment", "accompaniment")]
PHASES = [("Predicted (the generator's phase, or PGHI for magnitude only)", "predicted"),
          ("Rebuilt from magnitude (PGHI + Griffin-Lim)", "griffinlim")]
KEYS = [("Auto", "auto")] + [(name, name) for name in PITCH_NAMES]
HAPPY = [("Auto", "auto"), ("Major", "major"), ("Minor", "minor"), ("Half and half", "both")]
HAPPY_VALUES = {"auto": None, "major": 1.0, "minor": 0.0, "both": 0.5}
# The "Chord changes" choices: (label, chord rhythm of vocals2song.plan.controls.CHORD_RHYTHMS)
CHORD_CHANGES = [("Per bar", "bar"), ("Per half bar", "half"), ("Per beat", "beat")]
BARS_PER_ROW = 4  # chord chart cells per row
class SongApp:
    """The demo's state and its one request handler, :meth:`generate` (the UI and the API both call it).

    Args:
        weights: a weights directory or Hugging Face Hub id; None for :func:`default_weights`.
        input_roots: folders the voice file must be inside; None for gradio's upload folder and ``examples/``.
        keep_seconds: a request's own folder (the files gradio copies into its cache when the handler returns)
            is removed, with its files, at the first request this long after it, and all of them at exit.
        delete_cache: gradio's (frequency, age) in seconds for purging its cache; gradio deletes the files but
            keeps their folders, so the empty ones older than ``age`` are removed too. None: not swept.
    """

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        input_roots: list[str | os.PathLike] | None = None,
        keep_seconds: float = REQUEST_FILES_SECONDS,
        delete_cache: tuple[int, int] | None = DELETE_CACHE,
    ):
        self.weights = str(weights) if weights is not None else default_weights()
        self.model: SongGenerator | None = None
        self.weights_error: str | None = None
        try:
            self.model = load_generator(self.weights)
        except WeightsError as error:
            self.weights_error = str(error)
            logger.warning("No usable generator: %s", error)
        if input_roots is None:
            input_roots = [gr.utils.get_upload_folder(), EXAMPLES_DIR]
        self.input_roots = [Path(root).resolve() for root in input_roots]
        self.keep_seconds = keep_seconds
        self.delete_cache = delete_cache
        self.cache_root = Path(gr.utils.get_upload_folder())
        self._last_cache_sweep = time.time()
        self._purge_lock = threading.Lock()
        self.kept = KeptSongs(KEPT_SONGS_BYTES)
        self.work_root = Path(tempfile.mkdtemp(prefix="vocals2song-app-"))
        atexit.register(shutil.rmtree, self.work_root, True)
        if self.model is not None:
            config = self.model.config.spectrogram
            self.decibel_views = DecibelViews(["Your voice", "Predicted song"], config)

    def warm_up(self) -> None:
        """Take every path a request takes once, so that no person waits for a first call: the generator on each
        input shape a request can give it (TensorFlow prepares its kernels per shape), then two whole requests
        (44.1 and 48 kHz, both output modes, both phases) with their images, dB views, plan picture and downloads."""
        if self.model is None:
            return
        started = time.perf_counter()
        for shape in generator_input_shapes(self.model, MAX_SECONDS):
            self.model.network(np.zeros(shape, dtype=np.float32), training=False)
        folder = Path(tempfile.mkdtemp(prefix="warm-up-", dir=self.work_root))
        try:
            for sample_rate, mode, phase in ((44100, "mixture", "predicted"), (48000, "accompaniment", "griffinlim")):
                path = write_tone(folder / f"tone-{sample_rate}.wav", WARMUP_SECONDS, sample_rate)
                key = self._respond(path, mode, 0, phase, lambda *args, **kwargs: None)[-1]
                kept = self.kept.pop(key)
                write_downloads(kept, folder)
                if kept.harmony is not None:
                    plan_png(kept.harmony)  # matplotlib's first figure loads its fonts
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        logger.info("Generator from %s warmed up in %.2f s", self.model.source, time.perf_counter() - started)

    @property
    def styles(self) -> list[tuple[str, str]]:
        """The style choices, (label, name) for each style the loaded generator was trained on (its
        ``config.styles``); empty without a generator or for one that knows no style (the packaged weights)."""
        return style_choices(self.model.config.styles if self.model is not None else ())

    def generate(self, voice, mode="mixture", seed=0, phase="predicted", key="auto", happy="auto", jazz=DEFAULT_JAZZ,
                 tempo=0, show_plan=False, style=None, chord_rhythm=DEFAULT_CHORD_RHYTHM, progress=gr.Progress()):
        """Voice file → the outputs of the UI, in the order of :data:`OUTPUT_NAMES`; the last, a key to the song
        kept for :meth:`downloads`, goes to a ``gr.State`` (API clients do not see it).

        ``style`` is a name or label of :attr:`styles`; None or empty plays the generator's default
        (:func:`vocals2song.inference.generator_style`), the only choice of a generator without styles.
        ``chord_rhythm`` is how often the plan's chords may change (the "Chord changes" control): "bar", "half"
        or "beat", or their labels in :data:`CHORD_CHANGES`; None or empty: per bar.
        Every person-facing failure raises ``gr.Error`` with one sentence; anything unexpected is logged
        and reported with :data:`FAILURE_MESSAGE`.
        """
        try:
            return self._generate(voice, mode, seed, phase, key, happy, jazz, tempo, show_plan, style, chord_rhythm,
                                  progress)  # fmt: skip
        except gr.Error:
            raise
        except Vocals2SongError as error:
            raise user_error(str(error)) from None
        except Exception:
            logger.exception("Generation failed for %r", voice)
            raise user_error(FAILURE_MESSAGE) from None

    def _generate(self, voice, mode, seed, phase, key, happy, jazz, tempo, show_plan, style, chord_rhythm, progress):
        if self.model is None:
            raise WeightsError(self.weights_error or "No trained generator is loaded.")
        path = self.checked_path(voice)
        mode = _checked_choice(mode, MODES, "output mode")
        phase = _checked_choice(phase, PHASES, "phase")
        seed = _checked_seed(seed)
        plan = checked_plan_controls(key, happy, jazz, tempo, chord_rhythm)
        style = self.checked_style(style)
        self.purge()
        return self._respond(path, mode, seed, phase, progress, plan, bool(show_plan), style)

    def remake(self, voice, mode="mixture", seed=0, phase="predicted", key="auto", happy="auto", jazz=DEFAULT_JAZZ,
               tempo=0, show_plan=False, style=None, chord_rhythm=DEFAULT_CHORD_RHYTHM, progress=gr.Progress()):
        """:meth:`generate` after a plan control changed; nothing happens while there is no voice yet."""
        if voice is None or voice == "":
            return tuple(gr.skip() for _ in OUTPUT_NAMES)
        return self.generate(voice, mode, seed, phase, key, happy, jazz, tempo, show_plan, style, chord_rhythm,
                             progress)  # fmt: skip

    def scaled_tempo(self, song_key: str | None, tempo, factor: float):
        """The "½ tempo" and "2× tempo" fixes: the tempo field set to the current plan's tempo (the one given, or
        the one read from the voice) times ``factor``, within 30-300 BPM. Without a song yet, nothing changes."""
        kept = self.kept.get(song_key) if song_key else None
        current = _checked_tempo(tempo) or (kept.harmony.tempo_bpm if kept is not None and kept.harmony else None)
        if current is None:
            return gr.skip()
        return round(float(np.clip(current * factor, MIN_TEMPO_BPM, MAX_TEMPO_BPM)), 1)

    def voice_picture(self, song_key: str | None, show_plan):
        """The voice image again, with or without its plan (B) shown, from the kept song; nothing without one."""
        kept = self.kept.get(song_key) if song_key else None
        if kept is None:
            return gr.skip()
        folder = Path(tempfile.mkdtemp(prefix="request-", dir=self.work_root))
        path = folder / ("voice-plan.jpg" if show_plan else "voice-image.jpg")
        path.write_bytes(display_jpeg(kept.voice_image, show_plan=bool(show_plan)))
        return str(path)

    def plan_picture(self, song_key: str | None, show_plan):
        """The kept song's plan as a picture (:func:`vocals2song.web.display.plan_png`), shown while "Show the plan"
        is ticked and the song has a plan; hidden otherwise."""
        kept = self.kept.get(song_key) if song_key else None
        if not show_plan or kept is None or kept.harmony is None:
            return gr.update(visible=False)
        folder = Path(tempfile.mkdtemp(prefix="request-", dir=self.work_root))
        path = folder / "plan.png"
        path.write_bytes(plan_png(kept.harmony, kept.style))
        return gr.update(value=str(path), visible=True)

    def _respond(self, path: Path, mode: str, seed: int, phase: str, progress, plan: PlanControls | None = None,
                 show_plan: bool = False, style: str | None = None) -> tuple:
        """A checked request → its outputs; the two display images are written to a new request folder (gradio
        copies them into its cache; the three WAVs it writes there itself)."""
        progress = throttled(progress, PROGRESS_SECONDS)
        progress(0.0, desc="Reading your recording")
        audio = load_audio(path, max_seconds=MAX_SECONDS)
        result = vocals_to_song(
            audio.samples,
            audio.sample_rate,
            self.model,
            mode=mode,
            phase=phase,
            seed=seed,
            progress=lambda fraction, stage: progress(0.05 + 0.85 * fraction, desc=stage.capitalize()),
            controls=plan,
            style=style,
        )
        progress(0.9, desc="Drawing")
        request_dir = Path(tempfile.mkdtemp(prefix="request-", dir=self.work_root))
        voice_image, song_image = request_dir / "voice-image.jpg", request_dir / "song-image.jpg"
        voice_image.write_bytes(display_jpeg(result.voice_image, show_plan=show_plan))
        song_image.write_bytes(display_jpeg(result.song_image))
        voice_decibels, song_decibels = self.decibel_views.render([result.voice_image, result.song_image])
        length = len(result.song)
        played = f" in the {result.style} style" if result.style else ""
        status = f"Done: {length / result.sample_rate:.1f} s of song{played}, seed {seed}."
        if audio.truncated:
            status = (
                f"⚠️ Your recording is longer than {MAX_SECONDS} s; only its first {MAX_SECONDS} s were used. {status}"
            )
        return (
            str(voice_image),
            str(song_image),
            plot_data(voice_decibels),
            plot_data(song_decibels),
            audio_output(result.voice, result.sample_rate, request_dir.name),
            audio_output(result.song, result.sample_rate, request_dir.name),
            audio_output(result.accompaniment, result.sample_rate, request_dir.name),
            chord_chart_html(result.harmony),
            status,
            self.kept.add(KeptSong(result.song, result.voice_image, result.song_image, self.model.config.spectrogram,
                                   result.harmony, result.accompaniment, result.sample_rate, result.image_length,
                                   result.style)),
        )

    def example(self, voice, progress=gr.Progress()):
        """:meth:`generate` for an example voice with the default options."""
        return self.generate(voice, progress=progress)

    def downloads(self, key: str | None) -> list[str]:
        """The song kept under ``key`` (see :meth:`generate`) → paths of its files to download: the song (16-bit
        WAV), both images (16-bit PNG; the voice's B holds the plan) and the plan as MIDI (melody and chords, for
        any DAW). Made only when asked: most people never download them."""
        try:
            if not key:
                raise user_error("Generate a song first: the downloads are made from it.")
            kept = self.kept.get(key)
            if kept is None:
                raise user_error("That song is no longer kept here; press Generate again, then Prepare downloads.")
            self.purge()
            folder = Path(tempfile.mkdtemp(prefix="request-", dir=self.work_root))
            return [str(path) for path in write_downloads(kept, folder)]
        except gr.Error:
            raise
        except Exception:
            logger.exception("Writing the downloads failed")
            raise user_error(FAILURE_MESSAGE) from None

    def checked_style(self, style) -> str | None:
        """The style control (a name or a label of :attr:`styles`, None or empty for the default) → the style the
        generator plays, None for one without styles; one sentence for a style it does not play."""
        if style is None or style == "":
            style = None
        else:
            style = {label: name for label, name in self.styles}.get(style, style)
        try:
            return generator_style(self.model.config, style)
        except Vocals2SongError as error:
            raise user_error(str(error)) from None

    def checked_path(self, voice) -> Path:
        """The uploaded file's path; refuses nothing, non-paths and files outside ``input_roots``."""
        if isinstance(voice, dict):  # a FileData dict from a direct call
            voice = voice.get("path")
        if voice is None or voice == "":
            raise user_error("Record or upload a voice first.")
        if not isinstance(voice, (str, os.PathLike)):
            raise user_error("The voice must be an uploaded audio file.")
        path = Path(voice).resolve()
        if not any(path.is_relative_to(root) for root in self.input_roots):
            logger.warning("Refused a voice path outside the upload folder: %r", str(voice))
            raise user_error("Only audio files uploaded to this app can be used.")
        return path

    def purge(self) -> None:
        """Remove this app's request folders older than ``keep_seconds`` (gradio has copied their files) and, at
        most every ``delete_cache[0]`` seconds, the empty folders gradio's cache purge leaves behind."""
        with self._purge_lock:
            now = time.time()
            for request_dir in self.work_root.glob("request-*"):
                try:
                    if now - request_dir.stat().st_mtime > self.keep_seconds:
                        shutil.rmtree(request_dir, ignore_errors=True)
                except FileNotFoundError:
                    pass
            if self.delete_cache and now - self._last_cache_sweep >= self.delete_cache[0]:
                self._last_cache_sweep = now
                remove_empty_cache_folders(self.cache_root, self.delete_cache[1])


OUTPUT_NAMES = (
    "voice_image",
    "song_image",
    "voice_decibels",
    "song_decibels",
    "voice_audio",
    "song_audio",
    "accompaniment_audio",
    "chord_chart",
    "status",
    "song_key",
)


def style_choices(styles: tuple[str, ...]) -> list[tuple[str, str]]:
    """(label, name) for each style: "Jazz" for "jazz"."""
    return [(style.capitalize(), style) for style in styles]


def throttled(progress, seconds: float):
    """``progress`` called at most once every ``seconds`` (each call is a message to the page or API client)."""
    last = [-math.inf]

    def report(fraction: float, desc: str) -> None:
        now = time.monotonic()
        if now - last[0] >= seconds:
            last[0] = now
            progress(fraction, desc=desc)

    return report


def plot_data(png: bytes) -> PlotData:
    """A rendered PNG as gradio's matplotlib plot value (sent inline with the other outputs, no file)."""
    return PlotData(type="matplotlib", plot="data:image/png;base64," + base64.b64encode(png).decode("ascii"))


def user_error(message: str) -> gr.Error:
    """A ``gr.Error`` showing ``message`` as plain text (gradio renders it as HTML), without a logged traceback."""
    return gr.Error(html.escape(message, quote=False), print_exception=False)


def _checked_choice(value, choices: list[tuple[str, str]], name: str) -> str:
    values = [choice for _, choice in choices]
    labels = {label: choice for label, choice in choices}
    if value in values:
        return value
    if value in labels:
        return labels[value]
    raise user_error(f"Unknown {name} {str(value)[:40]!r}: choose one of {', '.join(values)}.")


def _checked_seed(seed) -> int:
    if seed is None or seed == "":
        return 0
    try:
        number = float(seed)
    except (TypeError, ValueError):
        raise user_error(f"The variation seed must be a whole number from 0 to {MAX_SEED}.") from None
    if not math.isfinite(number) or number != int(number) or not 0 <= number <= MAX_SEED:
        raise user_error(f"The variation seed must be a whole number from 0 to {MAX_SEED}.")
    return int(number)


def _checked_tempo(tempo) -> float | None:
    """The tempo field → beats per minute, or None for "auto" (empty or 0); the range is PlanControls'."""
    if tempo is None or tempo == "":
        return None
    try:
        number = float(tempo)
    except (TypeError, ValueError):
        raise user_error(f"The tempo must be a number of beats per minute up to {MAX_TEMPO_BPM:g}, or 0 for auto.") from None
    return None if number == 0 else number


def checked_plan_controls(key, happy, jazz, tempo, chord_rhythm=None) -> PlanControls:
    """The plan controls' labels → :class:`PlanControls` (which checks the ranges); one sentence for anything wrong."""
    key = _checked_choice(key or "auto", KEYS, "key")
    happy = _checked_choice(happy or "auto", HAPPY, "major/minor choice")
    chord_rhythm = _checked_choice(chord_rhythm or DEFAULT_CHORD_RHYTHM, CHORD_CHANGES, "chord rhythm")
    try:
        jazz = DEFAULT_JAZZ if jazz is None or jazz == "" else float(jazz)
    except (TypeError, ValueError):
        raise user_error("The chord complexity (jazz) must be a number from 0 to 1.") from None
    try:
        return PlanControls.make(key=None if key == "auto" else key, happy=HAPPY_VALUES[happy], jazz=jazz,
                                 tempo=_checked_tempo(tempo), chord_rhythm=chord_rhythm)
    except Vocals2SongError as error:
        raise user_error(str(error)) from None


def chord_chart_html(harmony: Harmony | None) -> str:
    """The plan as a chord chart: key and tempo, then the bars (:func:`vocals2song.plan.harmony.chart_bars`), four a
    row, each bar's chords in it. Escaped HTML; an empty string without a plan."""
    if harmony is None:
        return ""
    cells = [" ".join(html.escape(name) for name in names) for _, _, names in chart_bars(harmony)]
    rows = []
    for first in range(0, len(cells), BARS_PER_ROW):
        row = "".join(f"<td>{cell}</td>" for cell in cells[first:first + BARS_PER_ROW])
        rows.append(f"<tr>{row}</tr>")
    heading = (f"<p><b>{html.escape(harmony.key_name)}</b>, {harmony.tempo_bpm:.0f} BPM, "
               f"{len(cells)} bars</p>")
    return f'<div class="chord-chart">{heading}<table>{"".join(rows)}</table></div>'


def audio_output(samples: np.ndarray, sample_rate: int, request: str) -> bytes:
    """Checked audio for gradio as the bytes of a 16-bit WAV that names its request in a comment.

    Not a float array: gradio would peak-normalise it, and one NaN silences it. Not an int16 array or plain WAV
    bytes either: gradio caches those by content and rewrites the file in place, so two requests with the
    same output (same voice, same seed) would truncate a file while the other's client is fetching it. The
    comment makes each request's files its own; a file path would cost an ffprobe run per player.
    """
    if not np.all(np.isfinite(samples)):
        raise Vocals2SongError("Processing failed: the model produced invalid samples.")
    return wav_bytes(samples, sample_rate, comment=f"Vocals2Song request {request}")
