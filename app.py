"""The Gradio web demo: sing or speak into the browser (or upload a recording) and get a song back.

Owns only the user interface. Decoding (with a length cap) is :func:`vocals2song.audio.load_audio`, the
whole voice → song pipeline is :func:`vocals2song.inference.vocals_to_song`, and the generator comes from
:func:`vocals2song.model.weights.load_generator` (a weights directory or ``$VOCALS2SONG_WEIGHTS``).

Importing this module has no side effects: :func:`build_demo` loads and warms up the model and builds the
UI, :func:`main` launches it.
"""

from __future__ import annotations

import functools
import html
import logging
import os
import random
import signal

import gradio as gr

from vocals2song.inference import generator_style
from vocals2song.model.weights import SongGenerator
from vocals2song.web.live import CATCH_UP_JS, HEADPHONES_NOTE, LIVE_MAX_SECONDS, LIVE_TAKES, STREAM_EVERY, LiveApp
from vocals2song.web.handler import (  # noqa: F401  (SongApp, OUTPUT_NAMES, FAILURE_MESSAGE: the handler's API)
    COLUMN_MIN_WIDTH,
    CONCURRENCY_LIMIT,
    DEFAULT_CHORD_RHYTHM,
    DEFAULT_JAZZ,
    DELETE_CACHE,
    EXAMPLES_DIR,
    FAILURE_MESSAGE,
    CHORD_CHANGES,
    HAPPY,
    IMAGE_HEIGHT,
    KEYS,
    MAX_FILE_SIZE,
    MAX_SECONDS,
    MAX_SEED,
    MAX_TEMPO_BPM,
    MODES,
    OUTPUT_NAMES,
    PHASES,
    QUEUE_MAX_SIZE,
    REQUEST_FILES_SECONDS,
    SongApp,
    style_choices,
)

PIX2PIX_NOTEBOOK = "https://www.tensorflow.org/tutorials/generative/pix2pix"

CHART_CSS = """
.chord-chart table { border-collapse: collapse; width: 100%; table-layout: fixed; }
.chord-chart td { border-left: 2px solid currentColor; padding: 0.3em 0.6em; font-size: 1.15em; font-weight: 600; }
.chord-chart td:last-child { border-right: 2px solid currentColor; }
"""
ORIGINAL_PROJECT = "https://github.com/AntonioAlgaida/Vocals2Song"
PIX2PIX_NOTEBOOK = "https://www.tensorflow.org/tutorials/generative/pix2pix"

logger = logging.getLogger("vocals2song.app")

HOW_IT_WORKS = f"""
### How it works
1. Your voice is resampled to the model's rate and turned into a short-time Fourier transform
   (STFT, `n_fft` 1024, hop 256). Each time-frequency cell becomes a pixel: **R = magnitude in dB**,
   **G = phase**. That is the voice's image above (low frequencies at the bottom); its dB view shows R alone.
   The **plan** is read from your voice too (key, tempo, beats, a chord per beat, as in Microsoft's MySong):
   the chord chart. It is drawn in **B**, the image's blue channel, as the chord tones' pitches and beat marks
   ("Show the plan"); a generator trained with it plays those chords on that beat. Change the key, major or
   minor, the chord complexity or the tempo and the song is made again.
2. A **pix2pix U-Net** (a conditional GAN generator, Keras 3) translates the voice image into the image of
   a whole song — the song's image.
3. The predicted image is decoded back to audio: magnitude from R, phase from the generator's phase channel
   (raw phase, or instantaneous frequency summed along time) or rebuilt from the magnitude by phase-gradient
   heap integration (optionally refined by Griffin-Lim), then the inverse STFT.

Based on [Vocals2Song]({ORIGINAL_PROJECT}) by AntonioAlgaida and the
[TensorFlow pix2pix tutorial]({PIX2PIX_NOTEBOOK}). What this version fixes: images are decoded in polar form
(|Z|·e^{{jφ}}, not R + iG), magnitudes are on a dB scale instead of a linear one that left everything but the
loudest bins black, and recordings of any length are generated in overlapping, cross-faded tiles.
"""


def output_mode_radio(model: SongGenerator | None) -> gr.Radio:
    """The output-mode choice; hidden when the generator predicts the accompaniment (the song is then always your
    exact voice plus the generated accompaniment, see :func:`vocals_to_song`: there is nothing to choose)."""
    if model is not None and model.config.target == "accompaniment":
        # Both choices stay (hidden), so that an API client sending either mode is answered, as before.
        return gr.Radio(MODES, value="accompaniment", label="Output", visible=False)
    return gr.Radio(MODES, value="mixture", label="Output")


def style_dropdown(model: SongGenerator | None) -> gr.Dropdown:
    """The accompaniment's style: the styles the generator was trained on (its ``config.styles``), its default
    chosen; hidden for a generator that knows no style (the packaged weights), which plays the one accompaniment it
    learned. Hidden, it takes any value, so that an API client naming a style is answered by the handler's
    sentence rather than gradio's list of (no) choices."""
    styles = model.config.styles if model is not None else ()
    if not styles:
        return gr.Dropdown([], value=None, label="Style", visible=False, allow_custom_value=True, elem_id="style")
    return gr.Dropdown(style_choices(styles), value=generator_style(model.config), label="Style",
                       info="the band that plays your song", elem_id="style")


def live_tab(live_app: LiveApp, song_app: SongApp) -> None:
    """The live tab: the headphones note, the microphone streaming :data:`~vocals2song.web.live.STREAM_EVERY` s
    chunks to :meth:`LiveApp.feed`, the plan controls of a take (key, major or minor, chord complexity, tempo),
    the band's streaming player, the status line (listening, then the key, tempo and chord) and the chord chart
    growing bar by bar; when the microphone stops, the take (voice, song, band alone) and its downloads."""
    gr.Markdown(HEADPHONES_NOTE, elem_id="live-note")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=COLUMN_MIN_WIDTH):
            # no live waveform: drawing it took the browser's main thread from the recorder (voice arrived late)
            microphone = gr.Audio(sources=["microphone"], streaming=True, type="filepath", label="Sing here",
                                  waveform_options=gr.WaveformOptions(show_recording_waveform=False),
                                  elem_id="live-microphone")  # fmt: skip
            with gr.Row():
                key = gr.Dropdown(KEYS, value="auto", label="Key", min_width=120, elem_id="live-key")
                happy = gr.Dropdown(HAPPY, value="auto", label="Major or minor", min_width=120, elem_id="live-happy")
                jazz = gr.Slider(0.0, 1.0, value=DEFAULT_JAZZ, step=0.1, label="Chord complexity", min_width=160,
                                 elem_id="live-jazz")  # fmt: skip
                tempo = gr.Number(value=0, minimum=0, maximum=MAX_TEMPO_BPM, label="Tempo (BPM, 0 = auto)",
                                  min_width=120, elem_id="live-tempo")  # fmt: skip
            styles = style_choices(song_app.model.config.styles) if song_app.model is not None else []
            style = gr.Dropdown(styles, value=styles[0][1] if styles else None, label="Style", visible=bool(styles),
                                allow_custom_value=not styles, elem_id="live-style")  # fmt: skip
        with gr.Column(scale=1, min_width=COLUMN_MIN_WIDTH):
            status = gr.Markdown("Press record and sing.", elem_id="live-status")
            band = gr.Audio(label="The band", streaming=True, autoplay=True, interactive=False, elem_id="live-band")
            chart = gr.HTML(elem_id="live-chart")
    with gr.Row(equal_height=False, elem_id="live-take"):
        voice_audio = gr.Audio(label="Your voice (the take)", interactive=False, elem_id="live-voice-audio")
        song_audio = gr.Audio(label="The take: your voice and the band", interactive=False, elem_id="live-song-audio")
        band_audio = gr.Audio(label="The band alone", interactive=False, elem_id="live-band-audio")
    prepare = gr.Button("Prepare downloads: the take and the band (WAV), both images (16-bit PNG), the plan (MIDI)",
                        size="sm", elem_id="live-prepare-downloads")  # fmt: skip
    downloads = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="live-downloads")
    take = gr.State()  # the running take's key (LiveApp holds the take)
    take_song = gr.State()  # the finished take's key among the kept songs (for the downloads)

    microphone.start_recording(live_app.start, inputs=[key, happy, jazz, tempo, style], outputs=[take, status, chart],
                               api_visibility="private", queue=False).success(
        live_app.play, inputs=take, outputs=band, api_visibility="private", concurrency_limit=LIVE_TAKES,
        concurrency_id="live-band", show_progress="hidden")  # fmt: skip
    microphone.stream(live_app.feed, inputs=[microphone, take], outputs=[chart, status], stream_every=STREAM_EVERY,
                      time_limit=LIVE_MAX_SECONDS, concurrency_limit=LIVE_TAKES, concurrency_id="live-feed",
                      api_visibility="private", show_progress="hidden")  # fmt: skip
    status.change(None, js=CATCH_UP_JS, api_visibility="private", queue=False)  # the band's player keeps up
    take_outputs = [voice_audio, song_audio, band_audio, chart, status, take_song]
    microphone.stop_recording(live_app.stop, inputs=take, outputs=take_outputs, api_visibility="private",
                              concurrency_limit=LIVE_TAKES, concurrency_id="live-feed")  # fmt: skip
    # its own api_name: the song tab's "Prepare downloads" is the API's /downloads
    prepare.click(song_app.downloads, inputs=take_song, outputs=downloads, api_name="live_downloads",
                  api_visibility="private", concurrency_limit=CONCURRENCY_LIMIT,
                  concurrency_id="generator")  # fmt: skip


def _example_files() -> list[list[str]]:
    return [[str(path)] for path in sorted(EXAMPLES_DIR.glob("*.wav"))] if EXAMPLES_DIR.is_dir() else []


def build_demo(weights: str | os.PathLike | None = None, *, delete_cache: tuple[int, int] | None = DELETE_CACHE):
    """Load and warm up the generator, then build the UI (queue configured; not launched).

    The page is one column on a phone: the voice input, the example voices, the plan controls, then seed, phase,
    the style (only for a generator trained on styles, :func:`style_dropdown`), Generate and the result (a line and
    the song's player) right under it, the chord chart (and the plan's picture when asked), the voice (image, dB
    view, player), the song (image, dB view, the accompaniment alone), the downloads. From about 660 px wide the
    voice's column (input, examples, plan controls) and the controls' column (seed, phase, style, Generate, the
    song) sit side by side, and so do the voice and the song. A second tab, live (:func:`live_tab`), accompanies a
    voice while it is sung.

    Args:
        weights: a weights directory or Hugging Face Hub id; None for ``$VOCALS2SONG_WEIGHTS`` or ``weights/``.
        delete_cache: gradio's (frequency, age) in seconds for purging uploads and outputs.

    Returns:
        the ``gr.Blocks``; its handler is ``demo.song_app.generate``, the live tab's ``demo.live_app``.
    """
    keep_seconds = min(REQUEST_FILES_SECONDS, delete_cache[1]) if delete_cache else REQUEST_FILES_SECONDS
    song_app = SongApp(weights, keep_seconds=keep_seconds, delete_cache=delete_cache)
    song_app.warm_up()

    with gr.Blocks(title="Vocals2Song", delete_cache=delete_cache, analytics_enabled=False) as demo:
        gr.Markdown(
            "# Vocals2Song\nSing or speak for a few seconds (or upload a recording, up to "
            f"{MAX_SECONDS} s are used) and a pix2pix network turns your voice into a song."
        )
        if song_app.model is None:
            gr.Markdown(f"> ⚠️ **No trained generator is available, so the demo cannot generate yet.** "
                        f"{html.escape(song_app.weights_error or '')}", elem_id="weights-notice")  # fmt: skip
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab("Make a song", id="song-tab", elem_id="song-tab"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2, min_width=COLUMN_MIN_WIDTH, elem_id="voice-column"):
                        voice = gr.Audio(
                            sources=["microphone", "upload"], type="filepath", label="Your voice", elem_id="voice-input"
                        )
                        examples = _example_files()
                        if examples:
                            # Made on each click (~0.3 s on 2 cores, like Generate; wired below): the song is then kept,
                            # so its downloads and the plan controls work as for a recording. Gradio's example cache
                            # stored the dB views inline in a CSV and failed on the first click.
                            examples = gr.Examples(examples, inputs=[voice], label="Example voices: click one to hear its song",
                                                   cache_examples=False, examples_per_page=8)  # fmt: skip
                        with gr.Row(elem_id="plan-controls"):
                            key = gr.Dropdown(KEYS, value="auto", label="Key", min_width=140, elem_id="key")
                            happy = gr.Dropdown(HAPPY, value="auto", label="Major or minor", min_width=140, elem_id="happy")
                            jazz = gr.Slider(0.0, 1.0, value=DEFAULT_JAZZ, step=0.1, label="Chord complexity",
                                             info="0: common progressions; 1: the melody's own chords, more sevenths",
                                             min_width=200, elem_id="jazz")  # fmt: skip
                            chord_rhythm = gr.Dropdown(CHORD_CHANGES, value=DEFAULT_CHORD_RHYTHM, label="Chord changes",
                                                        min_width=140, elem_id="chord-changes")  # fmt: skip
                            with gr.Column(min_width=200):
                                tempo = gr.Number(value=0, minimum=0, maximum=MAX_TEMPO_BPM, label="Tempo (BPM, 0 = auto)",
                                                  elem_id="tempo")  # fmt: skip
                                with gr.Row():
                                    half_tempo = gr.Button("½ tempo", size="sm", min_width=80, elem_id="half-tempo")
                                    double_tempo = gr.Button("2× tempo", size="sm", min_width=80, elem_id="double-tempo")
                        show_plan = gr.Checkbox(False, label="Show the plan: its chords, bars and beats over your melody, and "
                                                "its B channel (blue) on the voice's image", elem_id="show-plan")  # fmt: skip
                    with gr.Column(scale=1, min_width=COLUMN_MIN_WIDTH, elem_id="controls-column"):
                        mode = output_mode_radio(song_app.model)
                        with gr.Row():
                            seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Variation seed",
                                             min_width=120)  # fmt: skip
                            surprise = gr.Button("Surprise me", size="sm", min_width=120, elem_id="surprise")
                        phase = gr.Radio(PHASES, value="predicted", label="Phase")
                        style = style_dropdown(song_app.model)
                        generate = gr.Button("Generate", variant="primary", elem_id="generate")
                        # The result right under the button (on a phone the pictures are far below it).
                        status = gr.Markdown(elem_id="status")
                        song_audio = gr.Audio(label="Your song", interactive=False, elem_id="song-audio")
                chord_chart = gr.HTML(label="Chord chart", elem_id="chord-chart")
                plan_picture = gr.Image(label="The plan", type="filepath", interactive=False, visible=False,
                                        elem_id="plan-picture")  # fmt: skip
                with gr.Row(equal_height=False, elem_id="outputs"):
                    with gr.Column(min_width=COLUMN_MIN_WIDTH):
                        voice_image = gr.Image(label="Your voice as an R/G image", height=IMAGE_HEIGHT, interactive=False,
                                               elem_id="voice-image")  # fmt: skip
                        voice_decibels = gr.Plot(label="Your voice in dB", show_label=False, format="png",
                                                 elem_id="voice-decibels")  # fmt: skip
                        voice_audio = gr.Audio(label="Your voice", interactive=False, elem_id="voice-audio")
                    with gr.Column(min_width=COLUMN_MIN_WIDTH):
                        song_image = gr.Image(label="Predicted song as an R/G image", height=IMAGE_HEIGHT, interactive=False,
                                              elem_id="song-image")  # fmt: skip
                        song_decibels = gr.Plot(label="Predicted song in dB", show_label=False, format="png",
                                                elem_id="song-decibels")  # fmt: skip
                        accompaniment_audio = gr.Audio(label="Accompaniment alone", interactive=False,
                                                       elem_id="accompaniment-audio")  # fmt: skip
                prepare = gr.Button("Prepare downloads: the song and the accompaniment (WAV), both images (16-bit PNG), the plan (MIDI)",
                                    size="sm", elem_id="prepare-downloads")  # fmt: skip
                downloads = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="downloads")
                song_key = gr.State()  # which kept song "Prepare downloads" writes
            with gr.Tab("Live: sing with the band", id="live-tab", elem_id="live-tab"):
                live_app = LiveApp(song_app)
                live_app.warm_up()
                live_tab(live_app, song_app)
        outputs = [voice_image, song_image, voice_decibels, song_decibels, voice_audio, song_audio,
                   accompaniment_audio, chord_chart, status, song_key]  # fmt: skip
        request_inputs = [voice, mode, seed, phase, key, happy, jazz, tempo, show_plan, style, chord_rhythm]
        if examples:
            examples.load_input_event.then(song_app.example, inputs=[voice], outputs=outputs, api_visibility="private",
                                           concurrency_limit=CONCURRENCY_LIMIT, concurrency_id="generator")  # fmt: skip
        gr.Markdown(HOW_IT_WORKS)

        generate.click(lambda: None, outputs=downloads, api_visibility="private", queue=False)  # not the old song's
        generate.click(
            song_app.generate,
            inputs=request_inputs,
            outputs=outputs,
            api_name="generate",
            concurrency_limit=CONCURRENCY_LIMIT,
            concurrency_id="generator",
        )
        # One rule for every control: a change makes the song again at once (once there is a voice); "Surprise
        # me" and the tempo buttons set their field first.
        gr.on([key.change, happy.change, jazz.release, tempo.submit, seed.submit, phase.change, mode.change,
               style.change, chord_rhythm.change],
              song_app.remake, inputs=request_inputs, outputs=outputs, api_visibility="private",
              concurrency_limit=CONCURRENCY_LIMIT, concurrency_id="generator")  # fmt: skip
        surprise.click(lambda: random.randint(0, MAX_SEED), outputs=seed, api_visibility="private", queue=False).then(
            song_app.remake, inputs=request_inputs, outputs=outputs, api_visibility="private",
            concurrency_limit=CONCURRENCY_LIMIT, concurrency_id="generator")  # fmt: skip
        for button, factor in ((half_tempo, 0.5), (double_tempo, 2.0)):
            button.click(functools.partial(song_app.scaled_tempo, factor=factor), inputs=[song_key, tempo],
                         outputs=tempo, api_visibility="private", queue=False).then(
                song_app.remake, inputs=request_inputs, outputs=outputs, api_visibility="private",
                concurrency_limit=CONCURRENCY_LIMIT, concurrency_id="generator")  # fmt: skip
        show_plan.change(song_app.voice_picture, inputs=[song_key, show_plan], outputs=voice_image,
                         api_visibility="private", queue=False)  # fmt: skip
        # the plan's picture follows the song (every way of making one sets a new key) and the check box
        gr.on([song_key.change, show_plan.change], song_app.plan_picture, inputs=[song_key, show_plan],
              outputs=plan_picture, api_visibility="private", queue=False)  # fmt: skip
        prepare.click(song_app.downloads, inputs=song_key, outputs=downloads, api_name="downloads",
                      concurrency_limit=CONCURRENCY_LIMIT, concurrency_id="generator")  # fmt: skip
    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=CONCURRENCY_LIMIT)
    demo.song_app = song_app
    demo.live_app = live_app
    return demo


def launch_options() -> dict:
    """Keyword arguments for ``demo.launch``: limits, no error details, loopback unless on a Space, the chart's CSS."""
    server_name = os.environ.get("GRADIO_SERVER_NAME") or ("0.0.0.0" if os.environ.get("SPACE_ID") else "127.0.0.1")
    return {"server_name": server_name, "max_file_size": MAX_FILE_SIZE, "show_error": False, "css": CHART_CSS}


def _exit_on_signal(signum, frame) -> None:
    """SIGTERM (a container or service manager stopping the app) exits like Ctrl-C does, so that the ``atexit``
    clean-up removes the app's temporary folder; the default action would kill the process without it."""
    raise SystemExit(0)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _exit_on_signal)
    build_demo().launch(**launch_options())


if __name__ == "__main__":
    main()
