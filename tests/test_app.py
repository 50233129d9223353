"""The Gradio app (app.py): its handler called directly, then the launched app driven through gradio_client.

Covers /work/shared/BAD_INPUTS.md cases 1-17 and 20-25 with a tiny random-init generator and signals the
tests make themselves. One app is launched for the whole module (port on loopback, its own GRADIO_TEMP_DIR,
its own empty working directory, which must still be empty at the end). gradio and app.py are imported by a
fixture, after conftest has moved the temporary folders (gradio reads them when imported).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import psutil
import pytest
import soundfile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vocals2song import audio as audio_module  # noqa: E402
from vocals2song import serving  # noqa: E402
from vocals2song.config import tiny_config  # noqa: E402
from vocals2song.networks import build_generator  # noqa: E402
from vocals2song.weights import save_generator  # noqa: E402

MODEL_RATE = tiny_config().spectrogram.sample_rate
HAS_FFMPEG = shutil.which("ffmpeg") is not None
MEMORY_BOUND_BYTES = 4 * 1024**3


# ---------------------------------------------------------------- signals and files the tests make themselves


def sung_voice(seconds: float = 2.0, sample_rate: int = 44100, peak: float = 0.5) -> np.ndarray:
    """A sung-like signal: 220 Hz fundamental with vibrato, decaying harmonics and syllable envelopes."""
    time_axis = np.arange(int(seconds * sample_rate)) / sample_rate
    frequency = 220.0 * (1.0 + 0.01 * np.sin(2 * np.pi * 5.5 * time_axis))
    phase = 2 * np.pi * np.cumsum(frequency) / sample_rate
    voice = sum(np.sin(harmonic * phase) / harmonic**1.5 for harmonic in range(1, 9))
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 1.5 * time_axis) ** 2
    voice = voice * envelope
    return (peak * voice / np.max(np.abs(voice))).astype(np.float32)


def write(path: Path, samples: np.ndarray, sample_rate: int = 44100, subtype: str = "PCM_16") -> Path:
    soundfile.write(path, samples, sample_rate, subtype=subtype)
    return path


def wav_header(sample_rate: int, channels: int = 1, bits: int = 16, data_bytes: int = 0, format_tag: int = 1) -> bytes:
    """A canonical 44-byte RIFF/WAVE header, written by hand so it can lie (rate 0, 0 channels...)."""
    block_align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", format_tag, channels, sample_rate, sample_rate * block_align, block_align, bits)
    return (
        b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
        + b"fmt " + struct.pack("<I", 16) + fmt
        + b"data" + struct.pack("<I", data_bytes)
    )  # fmt: skip


def header_wav(path: Path, sample_rate: int, channels: int = 1, seconds: float = 1.0) -> Path:
    rate_for_data = max(sample_rate, 8000) if sample_rate < 10_000_000 else 8000
    data = (sung_voice(seconds, rate_for_data) * 32767).astype("<i2").tobytes()
    path.write_bytes(wav_header(sample_rate, channels, 16, len(data)) + data)
    return path


def ffmpeg_encode(source: Path, target: Path) -> Path:
    codec = {".mp3": ["-c:a", "libmp3lame"], ".ogg": ["-c:a", "libvorbis"], ".flac": ["-c:a", "flac"],
             ".m4a": ["-c:a", "aac"], ".webm": ["-c:a", "libopus"]}[target.suffix]  # fmt: skip
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(source), *codec, str(target)], check=True)
    return target


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def duration(path: str) -> float:
    info = soundfile.info(path)
    return info.frames / info.samplerate


# ---------------------------------------------------------------- fixtures

gr = app = None  # the modules, imported by imported_app


@pytest.fixture(scope="module", autouse=True)
def imported_app(private_temp_folder):
    global gr, app
    import gradio

    import app as app_module

    gr, app = gradio, app_module


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    config = tiny_config()
    directory = tmp_path_factory.mktemp("tiny-weights")
    save_generator(directory, build_generator(config.generator), config)
    return directory


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("inputs")


@pytest.fixture(scope="module")
def song_app(tiny_weights, inputs) -> app.SongApp:
    """The handler's object without a server; it accepts files from the test's input folder."""
    return app.SongApp(tiny_weights, input_roots=[inputs])


@pytest.fixture(scope="module")
def server(tiny_weights, tmp_path_factory):
    """One launched app for the module: (demo, url, client, gradio cache folder, working directory)."""
    from gradio_client import Client

    cache = tmp_path_factory.mktemp("gradio-cache")
    workdir = tmp_path_factory.mktemp("workdir")
    downloads = tmp_path_factory.mktemp("client-downloads")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_TEMP_DIR", str(cache))
        patch.chdir(workdir)
        demo = app.build_demo(weights=tiny_weights)
        port = free_port()
        options = {**app.launch_options(), "server_name": "127.0.0.1"}
        demo.launch(prevent_thread_lock=True, server_port=port, quiet=True, **options)
        url = f"http://127.0.0.1:{port}/"
        client = Client(url, verbose=False, download_files=str(downloads))
        try:
            yield demo, url, client, cache, workdir
        finally:
            client.close()
            demo.close()


def named(outputs) -> dict:
    """The handler's outputs by name (see app.OUTPUT_NAMES), its WAV bytes read as (sample rate, int16 samples)."""
    import io

    outputs = dict(zip(app.OUTPUT_NAMES, outputs, strict=True))
    for name in ("voice_audio", "song_audio", "accompaniment_audio"):
        assert isinstance(outputs[name], bytes) and soundfile.info(io.BytesIO(outputs[name])).subtype == "PCM_16"
        samples, sample_rate = soundfile.read(io.BytesIO(outputs[name]), dtype="int16")
        outputs[name] = (sample_rate, samples)
    return outputs


def predict(client, path, mode="mixture", seed=0, phase="predicted"):
    from gradio_client import handle_file

    voice = handle_file(str(path)) if isinstance(path, Path) else path
    visible = app.OUTPUT_NAMES[:-1]  # the last, song_key, is a gr.State: API clients do not see it
    return dict(zip(visible, client.predict(voice, mode, seed, phase, api_name="/generate"), strict=True))


def api_error(client, path, **options) -> str:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as caught:
        predict(client, path, **options)
    return str(caught.value)


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
        assert sample_rate == MODEL_RATE and samples.dtype == np.int16
        assert len(samples) == int(np.ceil(2.0 * 44100 * MODEL_RATE / 44100))
    assert np.abs(outputs["song_audio"][1]).max() > 0
    assert "2.0 s" in outputs["status"] and "only its first" not in outputs["status"]

    assert "BPM" in outputs["chord_chart"] and outputs["chord_chart"].count("<td>") >= 1  # the plan's chart

    downloads = song_app.downloads(outputs["song_key"])  # made on demand, from the kept song
    assert [Path(file).name for file in downloads] == ["vocals2song-song.wav", "vocals2song-voice.png",
                                                       "vocals2song-song.png", "vocals2song-plan.mid"]  # fmt: skip
    assert all(Path(file).is_file() and not Path(file).is_relative_to(Path.cwd()) for file in downloads)
    assert abs(duration(downloads[0]) - 2.0) < 1e-3
    song, _ = soundfile.read(downloads[0], dtype="int16")
    np.testing.assert_array_equal(song, outputs["song_audio"][1])
    from vocals2song.image_files import load_image

    for name, file in (("voice", downloads[1]), ("song", downloads[2])):
        image = load_image(file)
        assert image.bits == 16 and image.length == len(song) and image.image.shape[0] == 513, name
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
    auto = named(song_app.generate(path, "mixture", 0, "predicted", key="auto", happy="auto", jazz=0.5, tempo=0))
    estimated = song_app.kept.get(auto["song_key"]).harmony.tempo_bpm
    assert song_app.scaled_tempo(auto["song_key"], 0, factor=2.0) == pytest.approx(min(2 * estimated, 300), abs=0.1)
    remade = song_app.remake(None, "mixture", 0, "predicted", "C", "auto", 0.5, 0, False)  # no voice yet: nothing
    assert len(remade) == len(app.OUTPUT_NAMES) and all(isinstance(output, type(gr.skip())) for output in remade)
    assert song_app.voice_picture(None, True) == gr.skip() and song_app.scaled_tempo(None, 0, factor=2.0) == gr.skip()


def decoded_plot(data_url: str):
    """A dB view's ``data:image/png;base64,...`` as a PIL image."""
    import base64
    import io

    from PIL import Image

    prefix = "data:image/png;base64,"
    assert data_url.startswith(prefix)
    return Image.open(io.BytesIO(base64.b64decode(data_url[len(prefix) :])))


def test_downloads_need_a_kept_song(song_app, inputs):
    with pytest.raises(gr.Error, match="Generate a song first"):
        song_app.downloads(None)
    with pytest.raises(gr.Error, match="no longer kept"):
        song_app.downloads("not-a-key")


def test_kept_songs_drop_the_oldest_beyond_their_budget():
    from vocals2song.config import SpectrogramConfig

    def kept(nb_samples):
        image = np.zeros((513, 10, 3), np.float32)
        return serving.KeptSong(np.zeros(nb_samples, np.float32), image, image, SpectrogramConfig())

    one = kept(1000)
    songs = serving.KeptSongs(max_bytes=2 * one.nbytes + 10)
    keys = [songs.add(kept(1000)) for _ in range(3)]
    assert songs.get(keys[0]) is None and songs.get(keys[1]) is not None and songs.get(keys[2]) is not None
    huge = songs.add(kept(100_000))  # larger than the budget alone: kept, everything older dropped
    assert songs.get(huge) is not None and songs.get(keys[2]) is None


def test_empty_cache_folders_are_removed_once_old(tmp_path):
    old = time.time() - 100
    folders = {name: tmp_path / name for name in ("a" * 64, "b" * 64, "c" * 64, "not-gradios")}
    for folder in folders.values():
        folder.mkdir()
    (folders["b" * 64] / "song.wav").write_bytes(b"RIFF")
    for name in ("a" * 64, "b" * 64, "not-gradios"):
        os.utime(folders[name], (old, old))
    assert serving.remove_empty_cache_folders(tmp_path, age=50) == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["b" * 64, "c" * 64, "not-gradios"]


def test_warm_up_covers_every_generator_input_shape(song_app, monkeypatch):
    """The generator sees only the shapes warm_up gives it, for voices from 0.5 s to MAX_SECONDS."""
    from vocals2song.inference import vocals_to_song

    model = song_app.model
    expected = set(serving.generator_input_shapes(model, app.MAX_SECONDS))
    seen = set()
    network = model.network

    class Spy:
        def __call__(self, batch, training=False):
            seen.add(tuple(np.shape(batch)))
            return network(batch, training=training)

        def __getattr__(self, name):
            return getattr(network, name)

    monkeypatch.setattr(model, "network", Spy())
    rate = model.config.spectrogram.sample_rate
    hop = model.config.spectrogram.hop_length
    tile, step = model.config.tile_frames, model.config.tile_frames - model.config.overlap_frames
    frame_counts = {1 + int(0.5 * rate) // hop, tile - 1, tile, tile + 1, tile + step, tile + 3 * step + 1,
                    tile + 4 * step + 1, 1 + app.MAX_SECONDS * rate // hop}  # fmt: skip
    for nb_frames in sorted(frame_counts):
        voice = sung_voice((nb_frames - 1) * hop / rate + 1e-3, rate)
        vocals_to_song(voice, rate, model)
    assert seen <= expected and len(seen) >= 4, (seen, expected)


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
        ("INPUTS/voice.wav", {"jazz": 2.0}, "chord complexity must be a number from 0 to 1"),
        ("INPUTS/voice.wav", {"jazz": "lots"}, "chord complexity must be a number from 0 to 1"),
        ("INPUTS/voice.wav", {"tempo": -5}, "tempo must be a number"),
        ("INPUTS/voice.wav", {"tempo": 1e6}, "tempo must be a number"),
        ("INPUTS/voice.wav", {"tempo": 5}, "between 30 and 300 beats per minute"),
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
def test_output_mode_is_fixed_for_an_accompaniment_generator(tiny_model, target):
    import dataclasses

    model = dataclasses.replace(tiny_model, config=dataclasses.replace(tiny_model.config, target=target))
    radio = app.output_mode_radio(model)
    assert radio.value == ("accompaniment" if target == "accompaniment" else "mixture")
    assert radio.interactive is (False if target == "accompaniment" else None)


def test_handler_model_exception_is_generic_and_next_request_works(song_app, inputs, monkeypatch, caplog):
    path = write(inputs / "voice.wav", sung_voice(1.0))

    def explode(*args, **kwargs):
        raise RuntimeError("secret internal detail /srv/model")

    monkeypatch.setattr(app, "vocals_to_song", explode)
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


def use_hanging_ffmpeg(monkeypatch, tmp_path) -> None:
    """Make the loader find a stand-in ffmpeg that never finishes, and time it out after 1 s."""
    hanging = tmp_path / "ffmpeg"
    hanging.write_text("#!/bin/sh\nexec sleep 60\n")
    hanging.chmod(0o755)
    real_which = shutil.which
    monkeypatch.setattr(audio_module.shutil, "which", lambda name, *a, **k: str(hanging) if name == "ffmpeg"
                        else real_which(name, *a, **k))  # fmt: skip
    monkeypatch.setattr(audio_module, "FFMPEG_TIMEOUT_SECONDS", 1.0)


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


# ---------------------------------------------------------------- (2) the launched app through gradio_client


def test_api_good_voice(server, inputs):
    from gradio_client import handle_file

    demo, url, client, cache, workdir = server
    path = write(inputs / "api-voice.wav", sung_voice(3.0))
    outputs = predict(client, path, seed=5)
    from PIL import Image

    with Image.open(outputs["voice_image"]) as voice_image, Image.open(outputs["song_image"]) as song_image:
        assert voice_image.size == song_image.size and voice_image.size[1] == 513
    for name in ("voice_decibels", "song_decibels"):
        assert decoded_plot(outputs[name]["plot"]).size == (720, 450)
    for name in ("voice_audio", "song_audio", "accompaniment_audio"):
        assert abs(duration(outputs[name]) - 3.0) < 1e-3, name
        assert soundfile.info(outputs[name]).subtype == "PCM_16"
    assert "3.0 s" in outputs["status"]
    assert "BPM" in outputs["chord_chart"]
    downloads = client.predict(api_name="/downloads")  # the same client session: its last song
    assert [Path(file).name for file in downloads] == ["vocals2song-song.wav", "vocals2song-voice.png",
                                                       "vocals2song-song.png", "vocals2song-plan.mid"]  # fmt: skip
    given = dict(zip(app.OUTPUT_NAMES[:-1], client.predict(handle_file(str(path)), "mixture", 5, "predicted", "A",
                                                           "major", 0.8, 100, True, api_name="/generate")))
    assert "A major</b>, 100 BPM" in given["chord_chart"]
    assert abs(duration(downloads[0]) - 3.0) < 1e-3


def empty_wav(path: Path) -> Path:
    path.write_bytes(wav_header(44100, 1, 16, 0))
    return path


def truncated_wav(path: Path) -> Path:
    whole = (sung_voice(1.0) * 32767).astype("<i2").tobytes()
    path.write_bytes(wav_header(44100, 1, 16, 2 * len(whole)) + whole + b"\x01")  # header says 2 s; odd byte
    return path


def png_named_wav(path: Path) -> Path:
    from PIL import Image

    Image.new("RGB", (16, 16), "red").save(path, format="PNG")
    return path


def float_wav_with(value: float):
    def make(path: Path) -> Path:
        samples = sung_voice(1.0)
        samples[1000] = value
        return write(path, samples, subtype="FLOAT")

    return make


BAD_FILES = {
    "zero-bytes": (lambda path: path.write_bytes(b"") and None or path, "it is empty (0 bytes)"),
    "zero-frames": (empty_wav, "The recording is empty."),
    "too-short": (lambda path: write(path, sung_voice(0.2)), "at least 0.5 s"),
    "png-named-wav": (png_named_wav, "unsupported or corrupt audio file"),
    "text-named-wav": (lambda path: path.write_text("hello, I am text\n" * 50) and path, "unsupported or corrupt"),
    "random-named-wav": (lambda path: path.write_bytes(np.random.default_rng(0).bytes(20_000)) and path,
                         "unsupported or corrupt"),  # fmt: skip
    "rate-0": (lambda path: header_wav(path, 0), "unsupported or corrupt"),
    "rate-1": (lambda path: header_wav(path, 1), "sample rate of 1 Hz"),
    "rate-10MHz": (lambda path: header_wav(path, 10_000_000), "sample rate of 1e+07 Hz"),
    "zero-channels": (lambda path: header_wav(path, 44100, channels=0), "unsupported or corrupt"),
    "nan-float": (float_wav_with(np.nan), "invalid samples"),
    "inf-float": (float_wav_with(np.inf), "invalid samples"),
    "digital-silence": (lambda path: write(path, np.zeros(44100, dtype=np.float32)), "No voice heard"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_api_bad_file_gets_clear_message(server, inputs, case):
    demo, url, client, cache, workdir = server
    make, message = BAD_FILES[case]
    path = make(inputs / f"bad-{case}.wav")
    assert message in api_error(client, path)


GOOD_FORMATS = {
    "pcm-u8": dict(subtype="PCM_U8"),
    "pcm-16": dict(subtype="PCM_16"),
    "pcm-24": dict(subtype="PCM_24"),
    "pcm-32": dict(subtype="PCM_32"),
    "float-32": dict(subtype="FLOAT"),
    "float-64": dict(subtype="DOUBLE"),
    "8kHz": dict(sample_rate=8000),
    "96kHz": dict(sample_rate=96000),
    "stereo": dict(channels=2),
    "6-channels": dict(channels=6),
    "very-quiet": dict(peak=10 ** (-60 / 20)),
    "truncated": dict(make=truncated_wav),
}


@pytest.mark.parametrize("case", sorted(GOOD_FORMATS))
def test_api_wav_variants_decode_with_same_duration(server, inputs, case):
    demo, url, client, cache, workdir = server
    spec = dict(GOOD_FORMATS[case])
    path = inputs / f"good-{case}.wav"
    if "make" in spec:
        spec["make"](path)
        expected = 1.0  # the readable part of a file whose header claims 2 s
    else:
        sample_rate, channels = spec.get("sample_rate", 44100), spec.get("channels", 1)
        voice = sung_voice(1.5, sample_rate, spec.get("peak", 0.5))
        write(path, np.repeat(voice[:, None], channels, axis=1), sample_rate, spec.get("subtype", "PCM_16"))
        expected = 1.5
    outputs = predict(client, path)
    assert abs(duration(outputs["song_audio"]) - expected) < 1e-3
    song, _ = soundfile.read(outputs["song_audio"])
    assert np.all(np.isfinite(song)) and np.abs(song).max() > 0


@pytest.mark.skipif(not HAS_FFMPEG, reason="ffmpeg is not installed")
@pytest.mark.parametrize("suffix", [".mp3", ".ogg", ".flac", ".m4a", ".webm"])
def test_api_compressed_formats(server, inputs, suffix):
    demo, url, client, cache, workdir = server
    source = write(inputs / f"source{suffix}.wav", sung_voice(2.0))
    outputs = predict(client, ffmpeg_encode(source, inputs / f"voice{suffix}"))
    assert abs(duration(outputs["song_audio"]) - 2.0) < 0.1  # encoders add up to a frame of padding


def test_api_ten_minutes_is_cut_with_notice(server, inputs):
    """BAD_INPUTS 5: 10 min (8 kHz, under the upload limit) → the first MAX_SECONDS, and the person is told."""
    demo, url, client, cache, workdir = server
    voice = np.tile(sung_voice(10.0, 8000), 60)
    path = write(inputs / "ten-minutes.wav", voice, 8000)
    outputs = predict(client, path)
    assert abs(duration(outputs["song_audio"]) - app.MAX_SECONDS) < 1e-3
    assert f"only its first {app.MAX_SECONDS} s were used" in outputs["status"]


def test_api_upload_over_the_limit_is_rejected_before_the_handler(server, inputs, monkeypatch):
    """BAD_INPUTS 6: the client refuses it, and so does the server when a raw upload skips the client's check."""
    import httpx

    demo, url, client, cache, workdir = server
    path = inputs / "huge.wav"
    write(path, np.zeros(6_000_000, dtype=np.float32), subtype="FLOAT")  # 24 MB > 20 MB
    calls = []
    monkeypatch.setattr(demo.song_app, "_generate", lambda *args: calls.append(args))
    with pytest.raises(ValueError, match="exceeds the maximum file size"):
        predict(client, path)
    with open(path, "rb") as file:
        response = httpx.post(url + "gradio_api/upload", files={"files": ("huge.wav", file)}, timeout=60)
    assert response.status_code == 413
    assert calls == []


def raw_call(url: str, data: list) -> str:
    """Call /generate over plain HTTP (no gradio_client, so nothing is uploaded); returns the event stream."""
    import httpx

    event = httpx.post(url + "gradio_api/call/generate", json={"data": data}, timeout=30).json()["event_id"]
    return httpx.get(url + f"gradio_api/call/generate/{event}", timeout=60).text


@pytest.mark.parametrize(
    "path",
    ["/etc/passwd", "CACHE/../../../etc/passwd", "file:///etc/passwd", "http://127.0.0.1:9/voice.wav"],
)
def test_api_refuses_paths_outside_the_upload_folder(server, path):
    """BAD_INPUTS 22: a FileData naming a server file, a ../ escape or a URL is refused, never read."""
    demo, url, client, cache, workdir = server
    path = path.replace("CACHE", str(cache))
    for value in ({"path": path, "meta": {"_type": "gradio.FileData"}}, {"path": path, "url": path}, path):
        stream = raw_call(url, [value, "mixture", 0, "predicted"])
        assert "event: error" in stream and "root:" not in stream, (value, stream)
        assert "event: complete" not in stream


def test_api_plain_string_etc_passwd_from_the_client_is_refused(server):
    from gradio_client.exceptions import AppError

    demo, url, client, cache, workdir = server
    with pytest.raises((AppError, ValueError)) as caught:
        predict(client, "/etc/passwd")
    assert "root:" not in str(caught.value)


@pytest.mark.skipif(not HAS_FFMPEG, reason="ffmpeg is not installed")
def test_api_decoder_hang(server, inputs, monkeypatch, tmp_path):
    """BAD_INPUTS 17 through the API: timeout, clear message, and the worker serves the next request."""
    demo, url, client, cache, workdir = server
    use_hanging_ffmpeg(monkeypatch, tmp_path)
    path = inputs / "stuck.webm"
    path.write_bytes(os.urandom(4096))
    assert "took too long" in api_error(client, path)
    monkeypatch.undo()
    assert abs(duration(predict(client, write(inputs / "after.wav", sung_voice(1.0)))["song_audio"]) - 1.0) < 1e-3


def test_api_thirty_requests_at_once(server, inputs):
    """BAD_INPUTS 20: all served or told the queue is full; RSS bounded; still serving afterwards."""
    from gradio_client import handle_file

    demo, url, client, cache, workdir = server
    path = write(inputs / "burst.wav", sung_voice(2.0))
    process = psutil.Process()
    peak = [process.memory_info().rss]
    done = threading.Event()

    def sample_memory():
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample_memory, daemon=True)
    sampler.start()
    served, busy, other = 0, 0, []
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:  # bounded: 10 submitting threads
        jobs = [pool.submit(lambda: client.submit(handle_file(str(path)), "mixture", 0, "predicted",
                                                  api_name="/generate")) for _ in range(30)]  # fmt: skip
        for job in jobs:
            try:
                job.result().result(timeout=300)
                served += 1
            except Exception as error:  # noqa: BLE001 - sorted below
                if "queue is full" in str(error).lower():
                    busy += 1
                else:
                    other.append(repr(error))
    done.set()
    sampler.join()
    print(f"30 requests: {served} served, {busy} told busy in {time.perf_counter() - started:.1f} s; "
          f"peak RSS {peak[0] / 2**20:.0f} MiB")  # fmt: skip
    assert other == [] and served + busy == 30 and served >= 1
    assert peak[0] < MEMORY_BOUND_BYTES
    assert abs(duration(predict(client, path)["song_audio"]) - 2.0) < 1e-3


def test_api_uploads_and_outputs_are_purged(tiny_weights, inputs, server, monkeypatch):
    """BAD_INPUTS 25: with delete_cache=(1, 2) the upload and every output file disappear, and so do their
    folders: the app's request folders and the empty folders gradio's purge leaves in its cache."""
    demo, url, client, cache, workdir = server
    from gradio_client import Client

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    monkeypatch.chdir(workdir)
    purging = app.build_demo(weights=tiny_weights, delete_cache=(1, 2))
    port = free_port()
    purging.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                   max_file_size=app.MAX_FILE_SIZE, show_error=False)  # fmt: skip
    try:
        before = set(cache.rglob("*"))
        purge = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=str(inputs / "purge"))
        predict(purge, write(inputs / "purged.wav", sung_voice(1.25)), seed=12345)  # outputs new to the cache
        purge.predict(api_name="/downloads")
        purge.close()
        created = set(cache.rglob("*")) - before
        names = {path.name for path in created if path.is_file()}
        assert "purged.wav" in names
        assert {"voice-image.jpg", "song-image.jpg", "audio.wav", "vocals2song-song.wav", "vocals2song-voice.png",
                "vocals2song-song.png"} <= names  # fmt: skip
        assert list(purging.song_app.work_root.glob("request-*"))
        deadline = time.time() + 15
        while time.time() < deadline and any(path.is_file() for path in created):
            time.sleep(0.5)
        assert [str(path) for path in created if path.is_file()] == []
        time.sleep(2.1)  # the empty folders' age passes the cache age
        purging.song_app.purge()
        assert list(purging.song_app.work_root.iterdir()) == []
        assert [str(path) for path in created if path.exists()] == []
    finally:
        purging.close()


def test_nothing_written_to_the_working_directory(server):
    """BAD_INPUTS 25: after every test above, the app's working directory is still empty."""
    demo, url, client, cache, workdir = server
    assert sorted(os.listdir(workdir)) == []


def test_module_has_no_import_side_effects():
    code = (
        "import sys, time; sys.path.insert(0, %r); started = time.time(); import app; "
        "print(json.dumps({'keras': 'keras' in sys.modules, 'blocks': len(app.gr.Blocks.get_instances())}))"
    ) % str(ROOT)
    result = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["blocks"] == 0
