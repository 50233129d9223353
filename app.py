"""The Gradio web demo: sing or speak into the browser (or upload a recording) and get a song back.

Owns only the user interface. Decoding (with a length cap) is :func:`vocals2song.audio.load_audio`, the
whole voice → song pipeline is :func:`vocals2song.inference.vocals_to_song`, and the generator comes from
:func:`vocals2song.weights.load_generator` (a weights directory or ``$VOCALS2SONG_WEIGHTS``).

Importing this module has no side effects: :func:`build_demo` loads and warms up the model and builds the
UI, :func:`main` launches it.
"""

from __future__ import annotations

import atexit
import html
import logging
import math
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import gradio as gr
import numpy as np

from vocals2song.audio import load_audio, to_int16, write_wav
from vocals2song.config import SpectrogramConfig
from vocals2song.errors import Vocals2SongError, WeightsError
from vocals2song.image_files import display_image, save_image
from vocals2song.inference import vocals_to_song
from vocals2song.spectrogram import image_to_spectrogram
from vocals2song.weights import SongGenerator, default_weights, load_generator

MAX_SECONDS = 60  # longer recordings are cut to their first MAX_SECONDS
MAX_FILE_SIZE = "20mb"  # per upload; gradio refuses larger files before the handler runs
QUEUE_MAX_SIZE = 16  # waiting requests beyond this are told the queue is full
CONCURRENCY_LIMIT = 1  # requests generated at once (2 vCPU: one at a time uses both cores)
DELETE_CACHE = (600, 3600)  # every 10 min, delete uploads and outputs older than 1 h
MAX_SEED = 2**31 - 1
WARMUP_SECONDS = 1.0
IMAGE_HEIGHT = 300  # both R/G images are shown at this height, so they share one scale
EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
FAILURE_MESSAGE = "Processing failed; please try again with another recording."
MODES = [("Full mixture (the generated song)", "mixture"), ("Your voice + generated accompaniment", "accompaniment")]
PHASES = [("Predicted (the generator's phase, or PGHI for magnitude only)", "predicted"),
          ("Rebuilt from magnitude (PGHI + Griffin-Lim)", "griffinlim")]
ORIGINAL_PROJECT = "https://github.com/AntonioAlgaida/Vocals2Song"
PIX2PIX_NOTEBOOK = "https://www.tensorflow.org/tutorials/generative/pix2pix"

logger = logging.getLogger("vocals2song.app")

HOW_IT_WORKS = f"""
### How it works
1. Your voice is resampled to the model's rate and turned into a short-time Fourier transform
   (STFT, `n_fft` 1024, hop 256). Each time-frequency cell becomes a pixel: **R = magnitude in dB**,
   **G = phase**. That is the left image above (low frequencies at the bottom).
2. A **pix2pix U-Net** (a conditional GAN generator, Keras 3) translates the voice image into the image of
   a whole song — the right image.
3. The predicted image is decoded back to audio: magnitude from R, phase from the generator's phase channel
   (raw phase, or instantaneous frequency summed along time) or rebuilt from the magnitude by phase-gradient
   heap integration (optionally refined by Griffin-Lim), then the inverse STFT.

Based on [Vocals2Song]({ORIGINAL_PROJECT}) by AntonioAlgaida and the
[TensorFlow pix2pix tutorial]({PIX2PIX_NOTEBOOK}). What this version fixes: images are decoded in polar form
(|Z|·e^{{jφ}}, not R + iG), magnitudes are on a dB scale instead of a linear one that left everything but the
loudest bins black, and recordings of any length are generated in overlapping, cross-faded tiles.
"""


class SongApp:
    """The demo's state and its one request handler, :meth:`generate` (the UI and the API both call it).

    Args:
        weights: a weights directory or Hugging Face Hub id; None for :func:`default_weights`.
        input_roots: folders the voice file must be inside; None for gradio's upload folder and ``examples/``.
        keep_seconds: per-request output folders older than this are removed at the next request (gradio has
            copied their files into its own cache by then) and all of them when the process exits.
    """

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        input_roots: list[str | os.PathLike] | None = None,
        keep_seconds: float = DELETE_CACHE[1],
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
        self.work_root = Path(tempfile.mkdtemp(prefix="vocals2song-app-"))
        atexit.register(shutil.rmtree, self.work_root, True)

    def warm_up(self) -> None:
        """One dummy generation of ``WARMUP_SECONDS`` of a tone, so the first person does not wait for tracing."""
        if self.model is None:
            return
        sample_rate = self.model.config.spectrogram.sample_rate
        time_axis = np.arange(int(WARMUP_SECONDS * sample_rate)) / sample_rate
        started = time.perf_counter()
        vocals_to_song((0.3 * np.sin(2 * np.pi * 220.0 * time_axis)).astype(np.float32), sample_rate, self.model)
        logger.info("Generator from %s warmed up in %.2f s", self.model.source, time.perf_counter() - started)

    def generate(self, voice, mode="mixture", seed=0, phase="predicted", progress=gr.Progress()):
        """Voice file → the outputs of the UI, in the order of :data:`OUTPUT_NAMES`.

        Every person-facing failure raises ``gr.Error`` with one sentence; anything unexpected is logged
        and reported with :data:`FAILURE_MESSAGE`.
        """
        try:
            return self._generate(voice, mode, seed, phase, progress)
        except gr.Error:
            raise
        except Vocals2SongError as error:
            raise user_error(str(error)) from None
        except Exception:
            logger.exception("Generation failed for %r", voice)
            raise user_error(FAILURE_MESSAGE) from None

    def _generate(self, voice, mode, seed, phase, progress):
        if self.model is None:
            raise WeightsError(self.weights_error or "No trained generator is loaded.")
        path = self._checked_path(voice)
        mode = _checked_choice(mode, MODES, "output mode")
        phase = _checked_choice(phase, PHASES, "phase")
        seed = _checked_seed(seed)
        self._purge_old_requests()

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
        )
        progress(0.9, desc="Writing files")
        config = self.model.config.spectrogram
        request_dir = Path(tempfile.mkdtemp(prefix="request-", dir=self.work_root))
        length = len(result.song)
        song_wav = write_wav(request_dir / "vocals2song-song.wav", result.song, result.sample_rate)
        voice_png = save_image(
            request_dir / "vocals2song-voice.png", image_to_spectrogram(result.voice_image, config), config, 16, length
        )
        song_png = save_image(
            request_dir / "vocals2song-song.png", image_to_spectrogram(result.song_image, config), config, 16, length
        )
        figure = spectrogram_figure(result.voice_image, result.song_image, config)
        status = f"Done: {length / result.sample_rate:.1f} s of song, seed {seed}."
        if audio.truncated:
            status = (
                f"⚠️ Your recording is longer than {MAX_SECONDS} s; only its first {MAX_SECONDS} s were used. {status}"
            )
        return (
            display_image(result.voice_image),
            display_image(result.song_image),
            figure,
            _audio_output(result.voice, result.sample_rate),
            _audio_output(result.song, result.sample_rate),
            _audio_output(result.accompaniment, result.sample_rate),
            [str(song_wav), str(voice_png), str(song_png)],
            status,
        )

    def _checked_path(self, voice) -> Path:
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

    def _purge_old_requests(self) -> None:
        """Remove this app's per-request folders older than the cache age (gradio has copied their files)."""
        now = time.time()
        for request_dir in self.work_root.glob("request-*"):
            try:
                if now - request_dir.stat().st_mtime > self.keep_seconds:
                    shutil.rmtree(request_dir, ignore_errors=True)
            except FileNotFoundError:
                pass


OUTPUT_NAMES = (
    "voice_image",
    "song_image",
    "spectrograms",
    "voice_audio",
    "song_audio",
    "accompaniment_audio",
    "downloads",
    "status",
)


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


def _audio_output(samples: np.ndarray, sample_rate: int) -> tuple[int, np.ndarray]:
    """Checked int16 audio for gradio (a float array would be peak-normalised, and one NaN silences it)."""
    if not np.all(np.isfinite(samples)):
        raise Vocals2SongError("Processing failed: the model produced invalid samples.")
    return int(sample_rate), to_int16(samples)


def spectrogram_figure(voice_image: np.ndarray, song_image: np.ndarray, config: SpectrogramConfig):
    """Two panels, voice and song: R in dB over time (s) and frequency (Hz), one colour scale.

    Args:
        voice_image, song_image: float R/G images, shape (nb_bins, nb_frames, 3), row 0 = DC.
    Returns:
        a ``matplotlib.figure.Figure`` (Agg; no pyplot state, gradio closes it after rendering).
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    nb_bins, nb_frames, _ = voice_image.shape
    extent = (0.0, nb_frames * config.hop_length / config.sample_rate, 0.0, config.sample_rate / 2)
    figure = Figure(figsize=(11, 3.6), dpi=100, layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    for axis, image, title in zip(axes, (voice_image, song_image), ("Your voice", "Predicted song")):
        decibels = config.db_floor + np.clip(image[..., 0], 0.0, 1.0) * (config.db_ceiling - config.db_floor)
        mesh = axis.imshow(
            decibels,
            origin="lower",
            aspect="auto",
            extent=extent,
            vmin=config.db_floor,
            vmax=config.db_ceiling,
            cmap="magma",
            interpolation="nearest",
        )
        axis.set_title(title)
        axis.set_xlabel("time (s)")
    axes[0].set_ylabel("frequency (Hz)")
    figure.colorbar(mesh, ax=list(axes), label="magnitude (dB)")
    return figure


def output_mode_radio(model: SongGenerator | None) -> gr.Radio:
    """The output-mode choice; fixed when the generator predicts the accompaniment (both modes then give your
    exact voice plus the generated accompaniment, see :func:`vocals_to_song`)."""
    if model is not None and model.config.target == "accompaniment":
        return gr.Radio(MODES, value="accompaniment", label="Output", interactive=False,
                        info="This generator predicts the accompaniment: the song is your own voice plus it.")  # fmt: skip
    return gr.Radio(MODES, value="mixture", label="Output")


def _example_files() -> list[list[str]]:
    return [[str(path)] for path in sorted(EXAMPLES_DIR.glob("*.wav"))] if EXAMPLES_DIR.is_dir() else []


def build_demo(weights: str | os.PathLike | None = None, *, delete_cache: tuple[int, int] | None = DELETE_CACHE):
    """Load and warm up the generator, then build the UI (queue configured; not launched).

    Args:
        weights: a weights directory or Hugging Face Hub id; None for ``$VOCALS2SONG_WEIGHTS`` or ``weights/``.
        delete_cache: gradio's (frequency, age) in seconds for purging uploads and outputs.
    Returns:
        the ``gr.Blocks``; its handler is ``demo.song_app.generate``.
    """
    song_app = SongApp(weights, keep_seconds=delete_cache[1] if delete_cache else DELETE_CACHE[1])
    song_app.warm_up()

    with gr.Blocks(title="Vocals2Song", delete_cache=delete_cache, analytics_enabled=False) as demo:
        gr.Markdown(
            "# Vocals2Song\nSing or speak for a few seconds (or upload a recording, up to "
            f"{MAX_SECONDS} s are used) and a pix2pix network turns your voice into a song."
        )
        if song_app.model is None:
            gr.Markdown(f"> ⚠️ **No trained generator is available, so the demo cannot generate yet.** "
                        f"{html.escape(song_app.weights_error or '')}", elem_id="weights-notice")  # fmt: skip
        with gr.Row():
            with gr.Column(scale=2):
                voice = gr.Audio(
                    sources=["microphone", "upload"], type="filepath", label="Your voice", elem_id="voice-input"
                )
            with gr.Column(scale=1):
                mode = output_mode_radio(song_app.model)
                with gr.Row():
                    seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Variation seed")
                    surprise = gr.Button("🎲 Surprise me", size="sm")
                phase = gr.Radio(PHASES, value="predicted", label="Phase")
                generate = gr.Button("Generate", variant="primary", elem_id="generate")
        status = gr.Markdown(elem_id="status")
        with gr.Row(equal_height=True):
            voice_image = gr.Image(label="Voice as R/G image", height=IMAGE_HEIGHT, interactive=False,
                                   format="png", elem_id="voice-image")  # fmt: skip
            song_image = gr.Image(label="Predicted song as R/G image", height=IMAGE_HEIGHT, interactive=False,
                                  format="png", elem_id="song-image")  # fmt: skip
        spectrograms = gr.Plot(label="Spectrograms (R channel, dB)", format="png")
        with gr.Row():
            voice_audio = gr.Audio(label="Your voice", interactive=False, elem_id="voice-audio")
            song_audio = gr.Audio(label="Predicted song", interactive=False, elem_id="song-audio")
            accompaniment_audio = gr.Audio(label="Accompaniment alone", interactive=False,
                                           elem_id="accompaniment-audio")  # fmt: skip
        downloads = gr.File(label="Downloads: song WAV and the two 16-bit R/G PNG images", file_count="multiple",
                            interactive=False)  # fmt: skip
        outputs = [voice_image, song_image, spectrograms, voice_audio, song_audio, accompaniment_audio, downloads,
                   status]  # fmt: skip

        examples = _example_files()
        if examples:
            gr.Examples(
                examples,
                inputs=[voice],
                outputs=outputs,
                fn=song_app.generate,
                cache_examples=song_app.model is not None,
                cache_mode="lazy",
                label="Example voices",
            )
        gr.Markdown(HOW_IT_WORKS)

        surprise.click(lambda: random.randint(0, MAX_SEED), outputs=seed, api_visibility="private", queue=False)
        generate.click(
            song_app.generate,
            inputs=[voice, mode, seed, phase],
            outputs=outputs,
            api_name="generate",
            concurrency_limit=CONCURRENCY_LIMIT,
        )
    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=CONCURRENCY_LIMIT)
    demo.song_app = song_app
    return demo


def launch_options() -> dict:
    """Keyword arguments for ``demo.launch``: limits, no error details, loopback unless on a Space."""
    server_name = os.environ.get("GRADIO_SERVER_NAME") or ("0.0.0.0" if os.environ.get("SPACE_ID") else "127.0.0.1")
    return {"server_name": server_name, "max_file_size": MAX_FILE_SIZE, "show_error": False}


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    build_demo().launch(**launch_options())


if __name__ == "__main__":
    main()
