"""The Gradio app (app.py): its handler called directly, without a server; the launched app is tested in
test_app_api.py. Covers /work/shared/BAD_INPUTS.md cases 1, 4, 7, 17, 22-24 at the handler with a tiny
random-init generator and signals the tests make themselves. gradio and app.py are imported by a fixture, after
conftest has moved the temporary folders (gradio reads them when imported).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app_support import (  # noqa: E402
    HAS_FFMPEG,
    MODEL_RATE,
    decoded_plot,
    duration,
    import_app,
    sung_voice,
    use_hanging_ffmpeg,
    write,
)

gr = app = None  # the modules, imported by imported_app


@pytest.fixture(scope="module", autouse=True)
def imported_app(private_temp_folder):
    global gr, app
    gr, app = import_app()


@pytest.fixture(scope="module")
def song_app(tiny_weights_dir, inputs):
    """The handler's object without a server; it accepts files from the test's input folder."""
    return app.SongApp(tiny_weights_dir, input_roots=[inputs])


def named(outputs) -> dict:
    """The handler's outputs by name (see app.OUTPUT_NAMES), its WAV bytes read as (sample rate, int16 samples)."""
    import io

    outputs = dict(zip(app.OUTPUT_NAMES, outputs, strict=True))
    for name in ("voice_audio", "song_audio", "accompaniment_audio"):
        assert isinstance(outputs[name], bytes) and soundfile.info(io.BytesIO(outputs[name])).subtype == "PCM_16"
        samples, sample_rate = soundfile.read(io.BytesIO(outputs[name]), dtype="int16")
        outputs[name] = (sample_rate, samples)
    return outputs


# ---------------------------------------------------------------- (1) the handler, called directly


def test_handler_good_voice(song_app, inputs):
    from PIL import Image

    path = write(inputs / "voice.wav", sung_voice(2.0))
    outputs = named(song_app.generate(path))
    with Image.open(outputs["voice_image"]) as voice_image, Image.open(outputs["song_image"]) as song_image:
        assert voice_image.mode == "RGB" and voice_image.size == song_image.size and voice_image.size[1] == 513
    for name in ("voice_decibels", "song_decibels"):
        view = decoded_plot(outputs[name]["plot"] if isinstance(outputs[name], dict) else outputs[name].plot)
        assert view.size == (720, 450), name  # 4.8 x 3 in at 150 dpi: sharp on a phone, readable at 360 px
    for sample_rate, samples in (outputs["voice_audio"], outputs["song_audio"], outputs["accompaniment_audio"]):
        assert sample_rate == 44100 and samples.dtype == np.int16  # the voice's own rate, not the model's
        assert len(samples) == 2 * 44100
    assert np.abs(outputs["song_audio"][1]).max() > 0
    assert "2.0 s" in outputs["status"] and "only its first" not in outputs["status"]

    assert "BPM" in outputs["chord_chart"] and outputs["chord_chart"].count("<td>") >= 1  # the plan's chart

    downloads = song_app.downloads(outputs["song_key"])  # made on demand, from the kept song
    assert [Path(file).name for file in downloads] == ["vocals2song-song.wav", "vocals2song-accompaniment.wav",
                                                       "vocals2song-voice.png", "vocals2song-song.png",
                                                       "vocals2song-plan.mid"]  # fmt: skip
    accompaniment, _ = soundfile.read(downloads.pop(1), dtype="int16")
    np.testing.assert_array_equal(accompaniment, outputs["accompaniment_audio"][1])
    assert all(Path(file).is_file() and not Path(file).is_relative_to(Path.cwd()) for file in downloads)
    assert abs(duration(downloads[0]) - 2.0) < 1e-3 and soundfile.info(downloads[0]).samplerate == 44100
    song, _ = soundfile.read(downloads[0], dtype="int16")
    np.testing.assert_array_equal(song, outputs["song_audio"][1])
    from vocals2song.codec.image_files import load_image

    for name, file in (("voice", downloads[1]), ("song", downloads[2])):
        image = load_image(file)
        assert image.bits == 16 and image.image.shape[0] == 513, name
        assert image.length == int(np.ceil(2.0 * MODEL_RATE)), name  # the images are at the model's rate
        with Image.open(outputs[f"{name}_image"]) as shown:  # the display image (JPEG) is the same R/G picture
            difference = np.asarray(shown, dtype=np.float32)[..., :2] / 255 - image.image[::-1, :, :2]
            assert np.abs(difference).mean() < 0.03
    assert load_image(downloads[1]).plan is not None and load_image(downloads[2]).plan is None  # B: the plan
    import pretty_midi

    plan = pretty_midi.PrettyMIDI(downloads[3])
    assert [instrument.name for instrument in plan.instruments] == ["Melody", "Chords"]


def test_plan_controls_remake_the_song(song_app, inputs):
    from PIL import Image

    path = write(inputs / "plan-voice.wav", sung_voice(3.0))
    outputs = named(song_app.generate(path, "mixture", 0, "predicted", key="D", happy="minor", jazz=0.2, tempo=90))
    assert "D minor</b>, 90 BPM" in outputs["chord_chart"]
    with Image.open(outputs["voice_image"]) as plain:
        assert np.mean(np.asarray(plain)[..., 2] > 100) < 0.001  # the R/G image: no plan shown (JPEG noise only)
    shown = song_app.voice_picture(outputs["song_key"], True)
    with Image.open(shown) as picture:
        assert np.mean(np.asarray(picture)[..., 2] > 100) > 0.01  # the plan's chord lines and beat marks, in blue
    assert song_app.scaled_tempo(outputs["song_key"], 0, factor=0.5) == 45.0  # the plan's tempo, halved
    assert song_app.scaled_tempo(outputs["song_key"], 120, factor=2.0) == 240.0  # the field's tempo, doubled
    from test_harmony import SAMPLE_RATE, sung_melody  # eight bars of a tune at 120 BPM, one chord a bar

    tune = write(inputs / "plan-tune.wav", sung_melody(), SAMPLE_RATE)
    plans = {rhythm: song_app.kept.get(named(song_app.generate(tune, "mixture", 0, "predicted", tempo=120,
                                                               chord_rhythm=rhythm))["song_key"]).harmony
             for rhythm in ("Per beat", "bar")}  # a label or a value  # fmt: skip
    assert len(plans["Per beat"].chords) > len(plans["bar"].chords)
    assert np.median([(chord.end - chord.start) * 2 for chord in plans["bar"].chords]) >= 2  # beats at 120 BPM
    auto = named(song_app.generate(path, "mixture", 0, "predicted", key="auto", happy="auto", jazz=0.5, tempo=0))
    estimated = song_app.kept.get(auto["song_key"]).harmony.tempo_bpm
    assert song_app.scaled_tempo(auto["song_key"], 0, factor=2.0) == pytest.approx(min(2 * estimated, 300), abs=0.1)
    remade = song_app.remake(None, "mixture", 0, "predicted", "C", "auto", 0.5, 0, False)  # no voice yet: nothing
    assert len(remade) == len(app.OUTPUT_NAMES) and all(isinstance(output, type(gr.skip())) for output in remade)
    assert song_app.voice_picture(None, True) == gr.skip() and song_app.scaled_tempo(None, 0, factor=2.0) == gr.skip()


def test_downloads_need_a_kept_song(song_app, inputs):
    with pytest.raises(gr.Error, match="Generate a song first"):
        song_app.downloads(None)
    with pytest.raises(gr.Error, match="no longer kept"):
        song_app.downloads("not-a-key")


def test_handler_same_seed_same_song_and_modes(song_app, inputs):
    path = write(inputs / "seeded.wav", sung_voice(1.0))
    first_outputs = song_app.generate(path, "mixture", 7, "predicted")
    again_outputs = song_app.generate(path, "mixture", 7, "predicted")
    first, again = named(first_outputs)["song_audio"][1], named(again_outputs)["song_audio"][1]
    np.testing.assert_array_equal(first, again)
    # the same samples, but each request's own file: gradio caches by content and rewrites a file in place
    song_index = app.OUTPUT_NAMES.index("song_audio")
    assert first_outputs[song_index] != again_outputs[song_index]
    for mode, phase in (("accompaniment", "griffinlim"), ("Your voice + generated accompaniment", "predicted")):
        sample_rate, song = named(song_app.generate(path, mode, 3, phase))["song_audio"]
        assert len(song) == len(first) and np.abs(song).max() > 0


@pytest.mark.parametrize(
    "voice, options, message",
    [
        (None, {}, "Record or upload a voice first."),
        ("", {}, "Record or upload a voice first."),
        ("/etc/passwd", {}, "Only audio files uploaded to this app can be used."),
        ("INPUTS/../../../etc/passwd", {}, "Only audio files uploaded to this app can be used."),
        ("INPUTS/voice.wav", {"mode": "karaoke"}, "Unknown output mode"),
        ("INPUTS/voice.wav", {"phase": "random"}, "Unknown phase"),
        ("INPUTS/voice.wav", {"seed": -1}, "whole number"),
        ("INPUTS/voice.wav", {"seed": 1.5}, "whole number"),
        ("INPUTS/voice.wav", {"seed": float("nan")}, "whole number"),
        ("INPUTS/voice.wav", {"seed": 2**40}, "whole number"),
        ("INPUTS/voice.wav", {"key": "H"}, "Unknown key"),
        ("INPUTS/voice.wav", {"happy": "sad"}, "Unknown major/minor choice"),
        ("INPUTS/voice.wav", {"jazz": 2.0}, "chord complexity (jazz) must be a number from 0 to 1"),
        ("INPUTS/voice.wav", {"jazz": "lots"}, "chord complexity (jazz) must be a number from 0 to 1"),
        ("INPUTS/voice.wav", {"chord_rhythm": "often"}, "Unknown chord rhythm 'often': choose one of bar, half, beat"),
        ("INPUTS/voice.wav", {"tempo": -5}, "tempo must be a number"),
        ("INPUTS/voice.wav", {"tempo": 1e6}, "tempo must be a number"),
        ("INPUTS/voice.wav", {"tempo": 5}, "between 30 and 300 beats per"),
        ("INPUTS/voice.wav", {"style": "rock"}, "trained without styles"),
        ("INPUTS/voice.wav", {"style": "polka"}, "The style must be one of"),
    ],
)
def test_handler_refuses_bad_requests(song_app, inputs, voice, options, message):
    write(inputs / "voice.wav", sung_voice(1.0))
    if isinstance(voice, str):
        voice = voice.replace("INPUTS", str(inputs))
    with pytest.raises(gr.Error) as caught:
        song_app.generate(voice, **{"mode": "mixture", "seed": 0, "phase": "predicted", **options})
    assert message in caught.value.message


def test_handler_escapes_html_in_file_names(song_app, inputs):
    path = inputs / "<b>bold<i>.wav"
    path.write_text("not audio")
    with pytest.raises(gr.Error) as caught:
        song_app.generate(path)
    assert "&lt;b&gt;" in caught.value.message and "<b>" not in caught.value.message


def test_handler_without_weights_names_the_problem(tmp_path, inputs):
    empty = tmp_path / "no-weights"
    empty.mkdir()
    handler = app.SongApp(empty, input_roots=[inputs])
    assert handler.model is None and "No trained generator" in handler.weights_error
    with pytest.raises(gr.Error) as caught:
        handler.generate(write(inputs / "voice.wav", sung_voice(1.0)))
    assert "No trained generator is packaged" in caught.value.message


def test_demo_without_weights_shows_notice(tmp_path):
    demo = app.build_demo(weights=tmp_path)
    notices = [block for block in demo.blocks.values() if getattr(block, "elem_id", None) == "weights-notice"]
    assert len(notices) == 1 and "No trained generator" in notices[0].value


@pytest.mark.parametrize("target", ["mixture", "accompaniment"])
def test_output_mode_is_hidden_for_an_accompaniment_generator(tiny_model, target):
    import dataclasses

    model = dataclasses.replace(tiny_model, config=dataclasses.replace(tiny_model.config, target=target))
    radio = app.output_mode_radio(model)
    assert radio.value == ("accompaniment" if target == "accompaniment" else "mixture")
    assert radio.visible is (target != "accompaniment"), "a choice that cannot be made is not shown"
    assert [value for _, value in radio.choices] == ["mixture", "accompaniment"]  # an API client may send either


def test_the_style_is_hidden_for_a_generator_without_styles(tiny_model):
    dropdown = app.style_dropdown(tiny_model)
    assert dropdown.visible is False and dropdown.value is None and dropdown.choices == []
    assert app.style_dropdown(None).visible is False


def test_a_styled_generator_offers_its_styles_and_plays_the_one_chosen(tiny_styled_weights_dir, inputs, monkeypatch):
    from vocals2song.plan.channel import style_rows
    from vocals2song.plan.style import STYLES
    from vocals2song.web import handler

    demo = app.build_demo(weights=tiny_styled_weights_dir, delete_cache=None)
    dropdown, = [block for block in demo.blocks.values() if getattr(block, "elem_id", None) == "style"]
    assert dropdown.visible is not False and dropdown.value == "pop"
    assert dropdown.choices == [(style.capitalize(), style) for style in STYLES]
    generate, = [fn for fn in demo.fns.values() if fn.api_name == "generate"]
    assert generate.inputs[-2] is dropdown  # the API's parameter "style", before "chord_rhythm"
    remakes = [fn for fn in demo.fns.values() if getattr(fn.fn, "__name__", "") == "remake"]
    assert any((dropdown._id, "change") in fn.targets for fn in remakes)  # choosing a style makes the song again

    song_app = app.SongApp(tiny_styled_weights_dir, input_roots=[inputs], delete_cache=None)
    asked = []
    real = handler.vocals_to_song
    monkeypatch.setattr(handler, "vocals_to_song", lambda *args, **kwargs: asked.append(kwargs["style"]) or
                        real(*args, **kwargs))
    path = write(inputs / "styled.wav", sung_voice(1.5))
    outputs = named(song_app.remake(path, "mixture", 0, "predicted", "auto", "auto", 0.5, 0, False, "Jazz"))
    assert asked == ["jazz"] and "in the jazz style, seed 0." in outputs["status"]
    kept = song_app.kept.get(outputs["song_key"])
    assert np.all(kept.voice_image[style_rows("jazz", kept.voice_image.shape[0]), :, 2] == 1.0)
    downloads = [Path(file) for file in song_app.downloads(outputs["song_key"])]  # the style is in every name
    assert [file.name for file in downloads][::4] == ["vocals2song-jazz-song.wav", "vocals2song-jazz-plan.mid"]
    import pretty_midi

    plan = pretty_midi.PrettyMIDI(str(downloads[-1]))
    assert "Style: jazz" in [event.text for event in plan.text_events] and plan.instruments[1].name == "Chords (jazz)"
    outputs = named(song_app.generate(path))
    assert asked[-1] == "pop" and "in the pop style" in outputs["status"]  # the generator's default


def test_handler_model_exception_is_generic_and_next_request_works(song_app, inputs, monkeypatch, caplog):
    path = write(inputs / "voice.wav", sung_voice(1.0))

    def explode(*args, **kwargs):
        raise RuntimeError("secret internal detail /srv/model")

    from vocals2song.web import handler

    monkeypatch.setattr(handler, "vocals_to_song", explode)
    with pytest.raises(gr.Error) as caught:
        song_app.generate(path)
    assert caught.value.message == app.FAILURE_MESSAGE
    assert "secret internal detail" in caplog.text  # logged for the operator, not shown to the person
    monkeypatch.undo()
    assert named(song_app.generate(path))["song_audio"][1].size > 0


@pytest.mark.parametrize("bad", ["nan", "zeros"])
def test_handler_bad_model_output_is_caught(song_app, inputs, monkeypatch, bad):
    path = write(inputs / "voice.wav", sung_voice(1.0))
    network = song_app.model.network

    class Broken:
        def __call__(self, batch, training=False):
            return np.full(np.shape(batch), np.nan if bad == "nan" else -1.0, dtype=np.float32)

        def __getattr__(self, name):
            return getattr(network, name)

    monkeypatch.setattr(song_app.model, "network", Broken())
    with pytest.raises(gr.Error) as caught:
        song_app.generate(path)
    assert "Processing failed" in caught.value.message


def test_handler_capped_decode_of_one_hour_flac(song_app, inputs):
    """BAD_INPUTS 7: 1 h of silence as a small FLAC decodes only MAX_SECONDS, fast and in bounded memory."""
    path = inputs / "hour.flac"
    with soundfile.SoundFile(path, "w", 8000, 1, subtype="PCM_16") as file:
        block = np.zeros(8000 * 60, dtype=np.int16)
        for _ in range(60):
            file.write(block)
    assert path.stat().st_size < 2_000_000
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(gr.Error) as caught:
        song_app.generate(path)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"1 h silent FLAC ({path.stat().st_size} bytes): {elapsed:.2f} s, peak {peak / 2**20:.0f} MiB")
    assert "No voice heard" in caught.value.message
    assert elapsed < 1.0 and peak < 500 * 2**20


@pytest.mark.skipif(not HAS_FFMPEG, reason="ffmpeg is not installed")
def test_handler_decoder_hang_times_out_and_worker_is_freed(song_app, inputs, monkeypatch, tmp_path):
    """BAD_INPUTS 17: a decoder that never finishes (a stand-in ffmpeg that sleeps) is cut by the timeout."""
    use_hanging_ffmpeg(monkeypatch, tmp_path)
    path = inputs / "stuck.m4a"
    path.write_bytes(os.urandom(4096))
    started = time.perf_counter()
    with pytest.raises(gr.Error) as caught:
        song_app.generate(path)
    assert "took too long" in caught.value.message and time.perf_counter() - started < 5
    monkeypatch.undo()
    assert named(song_app.generate(write(inputs / "voice.wav", sung_voice(1.0))))["song_audio"][1].size > 0


def test_module_has_no_import_side_effects():
    code = (
        "import sys, time; sys.path.insert(0, %r); started = time.time(); import app; "
        "print(json.dumps({'keras': 'keras' in sys.modules, 'blocks': len(app.gr.Blocks.get_instances())}))"
    ) % str(ROOT)
    result = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["blocks"] == 0


def test_sigterm_removes_the_apps_temporary_folder(tmp_path):
    """`python app.py` stopped by SIGTERM (as a container or service manager stops it) leaves nothing behind in
    the system temporary folder: it once left its vocals2song-app-* folder there on every stop."""
    import signal
    import socket
    import time
    import urllib.request

    root = Path(__file__).resolve().parents[1]
    temp = tmp_path / "tmp"
    temp.mkdir()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "TMPDIR": str(temp), "GRADIO_TEMP_DIR": str(tmp_path / "gradio"),
           "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    process = subprocess.Popen([sys.executable, "app.py"], cwd=root, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while True:
            assert process.poll() is None, f"the app exited early: {process.stderr.read()[-2000:]}"
            assert time.time() < deadline, "the app did not start within 240 s"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).close()
                break
            except OSError:
                time.sleep(1)
        assert list(temp.glob("vocals2song-app-*")), "the running app keeps its folder in TMPDIR"
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert list(temp.glob("vocals2song-app-*")) == [], "SIGTERM left the app's temporary folder behind"
