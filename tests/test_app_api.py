"""The launched Gradio app driven through gradio_client (and plain HTTP): BAD_INPUTS.md cases 2-6, 8-17 and
20-25 through the API, with a tiny random-init generator and signals the tests make themselves. One app is
launched for the whole module (port on loopback, its own GRADIO_TEMP_DIR, its own empty working directory, which
must still be empty at the end).
"""

from __future__ import annotations

import concurrent.futures
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import soundfile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app_support import (  # noqa: E402
    HAS_FFMPEG,
    decoded_plot,
    duration,
    ffmpeg_encode,
    free_port,
    header_wav,
    import_app,
    sung_voice,
    use_hanging_ffmpeg,
    wav_header,
    write,
)

MEMORY_BOUND_BYTES = 4 * 1024**3

gr = app = None  # the modules, imported by imported_app


@pytest.fixture(scope="module", autouse=True)
def imported_app(private_temp_folder):
    global gr, app
    gr, app = import_app()


@pytest.fixture(scope="module")
def server(tiny_weights_dir, tmp_path_factory):
    """One launched app for the module: (demo, url, client, gradio cache folder, working directory)."""
    from gradio_client import Client

    cache = tmp_path_factory.mktemp("gradio-cache")
    workdir = tmp_path_factory.mktemp("workdir")
    downloads = tmp_path_factory.mktemp("client-downloads")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_TEMP_DIR", str(cache))
        patch.chdir(workdir)
        demo = app.build_demo(weights=tiny_weights_dir)
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
    assert [Path(file).name for file in downloads] == ["vocals2song-song.wav", "vocals2song-accompaniment.wav",
                                                       "vocals2song-voice.png", "vocals2song-song.png",
                                                       "vocals2song-plan.mid"]  # fmt: skip
    given = dict(zip(app.OUTPUT_NAMES[:-1], client.predict(handle_file(str(path)), "mixture", 5, "predicted", "A",
                                                           "major", 0.8, 100, True, api_name="/generate")))
    assert "A major</b>, 100 BPM" in given["chord_chart"]
    assert abs(duration(downloads[0]) - 3.0) < 1e-3


def test_api_style_parameter_is_answered_by_a_generator_without_styles(server, inputs):
    """The API's last parameter, ``style``: the tiny generator knows none, so naming one gets the handler's sentence."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    demo, url, client, cache, workdir = server
    parameters = [parameter["parameter_name"] for parameter in
                  client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/generate"]["parameters"]]
    assert parameters[-2:] == ["style", "chord_rhythm"]
    path = write(inputs / "api-style.wav", sung_voice(1.0))
    with pytest.raises(AppError, match="trained without styles"):
        client.predict(handle_file(str(path)), "mixture", 0, "predicted", "auto", "auto", 0.5, 0, False, "rock",
                       api_name="/generate")  # fmt: skip


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
    """BAD_INPUTS 5: 10 min of a 44.1 kHz WAV (53 MB: an ordinary long recording, well over 20 MB) → the first
    MAX_SECONDS, and the person is told."""
    demo, url, client, cache, workdir = server
    voice = np.tile(sung_voice(10.0, 44100), 60)
    path = write(inputs / "ten-minutes.wav", voice, 44100)
    assert path.stat().st_size > 50 * 2**20
    outputs = predict(client, path)
    assert abs(duration(outputs["song_audio"]) - app.MAX_SECONDS) < 1e-3
    assert f"only its first {app.MAX_SECONDS} s were used" in outputs["status"]


def test_api_upload_over_the_limit_is_rejected_before_the_handler(server, inputs, monkeypatch):
    """BAD_INPUTS 6: the client refuses it, and so does the server when a raw upload skips the client's check."""
    import httpx

    demo, url, client, cache, workdir = server
    path = inputs / "huge.wav"
    with open(path, "wb") as file:  # sparse: just over the limit without writing it
        file.truncate(int(app.MAX_FILE_SIZE.removesuffix("mb")) * 2**20 + 1)
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


def test_api_uploads_and_outputs_are_purged(tiny_weights_dir, inputs, server, monkeypatch):
    """BAD_INPUTS 25: with delete_cache=(1, 2) the upload and every output file disappear, and so do their
    folders: the app's request folders and the empty folders gradio's purge leaves in its cache."""
    demo, url, client, cache, workdir = server
    from gradio_client import Client

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    monkeypatch.chdir(workdir)
    purging = app.build_demo(weights=tiny_weights_dir, delete_cache=(1, 2))
    port = free_port()
    purging.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                   max_file_size=app.MAX_FILE_SIZE, show_error=False)  # fmt: skip
    before = set(cache.rglob("*"))
    seen, seen_files, requests, watching = set(), set(), set(), threading.Event()

    def watch():  # the purge may remove the first files before the request ends on a loaded machine: note them as they come
        while not watching.is_set():
            try:
                paths = set(cache.rglob("*"))
                seen.update(paths)
                seen_files.update(path for path in paths if path.is_file())
                requests.update(purging.song_app.work_root.glob("request-*"))
            except OSError:  # a folder purged while it was listed
                pass
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        purge = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=str(inputs / "purge"))
        predict(purge, write(inputs / "purged.wav", sung_voice(1.25)), seed=12345)  # outputs new to the cache
        purge.predict(api_name="/downloads")
        purge.close()
        watching.set()
        watcher.join()
        created = (seen | set(cache.rglob("*"))) - before
        names = {path.name for path in created if path in seen_files or path.is_file()}  # files new to the cache only
        assert "purged.wav" in names
        assert {"voice-image.jpg", "song-image.jpg", "audio.wav", "vocals2song-song.wav", "vocals2song-voice.png",
                "vocals2song-song.png"} <= names  # fmt: skip
        assert requests | set(purging.song_app.work_root.glob("request-*"))
        deadline = time.time() + 15
        while time.time() < deadline and any(path.is_file() for path in created):
            time.sleep(0.5)
        assert [str(path) for path in created if path.is_file()] == []
        time.sleep(2.1)  # the empty folders' age passes the cache age
        purging.song_app.purge()
        assert list(purging.song_app.work_root.iterdir()) == []
        assert [str(path) for path in created if path.exists()] == []
    finally:
        watching.set()
        purging.close()


def test_nothing_written_to_the_working_directory(server):
    """BAD_INPUTS 25: after every test above, the app's working directory is still empty."""
    demo, url, client, cache, workdir = server
    assert sorted(os.listdir(workdir)) == []
