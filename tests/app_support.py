"""Signals, files and small helpers the app's tests make and share (no gradio here: it is imported by fixtures)."""

from __future__ import annotations

import base64
import contextlib
import io
import shutil
import socket
import struct
import subprocess
from pathlib import Path

import numpy as np
import soundfile

from vocals2song import audio as audio_module
from vocals2song.config import tiny_config

MODEL_RATE = tiny_config().spectrogram.sample_rate
HAS_FFMPEG = shutil.which("ffmpeg") is not None


def import_app():
    """(gradio, app): imported only once conftest has moved the temporary folders (gradio reads them then)."""
    import gradio

    import app

    return gradio, app


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


@contextlib.contextmanager
def serve_demo(weights: Path, cache_dir: Path):
    """The app on ``weights``, launched on a free local port with gradio's cache in ``cache_dir``: yields
    (demo, url) and closes it afterwards (the browser tests' server)."""
    import pytest

    import app

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_TEMP_DIR", str(cache_dir))
        demo = app.build_demo(weights=weights)
        port = free_port()
        demo.launch(prevent_thread_lock=True, server_port=port, quiet=True,
                    **{**app.launch_options(), "server_name": "127.0.0.1"})  # fmt: skip
        try:
            yield demo, f"http://127.0.0.1:{port}/"
        finally:
            demo.close()


def duration(path: str) -> float:
    info = soundfile.info(path)
    return info.frames / info.samplerate


def use_hanging_ffmpeg(monkeypatch, tmp_path) -> None:
    """Make the loader find a stand-in ffmpeg that never finishes, and time it out after 1 s."""
    hanging = tmp_path / "ffmpeg"
    hanging.write_text("#!/bin/sh\nexec sleep 60\n")
    hanging.chmod(0o755)
    real_which = shutil.which
    monkeypatch.setattr(audio_module.shutil, "which", lambda name, *a, **k: str(hanging) if name == "ffmpeg"
                        else real_which(name, *a, **k))  # fmt: skip
    monkeypatch.setattr(audio_module, "FFMPEG_TIMEOUT_SECONDS", 1.0)


def decoded_plot(data_url: str):
    """A dB view's ``data:image/png;base64,...`` as a PIL image."""
    from PIL import Image

    prefix = "data:image/png;base64,"
    assert data_url.startswith(prefix)
    return Image.open(io.BytesIO(base64.b64decode(data_url[len(prefix) :])))
