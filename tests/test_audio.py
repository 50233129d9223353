"""Audio loading: every bad file of shared/BAD_INPUTS.md 2-17 gets its clear error, good files decode right."""

import shutil
import struct
import subprocess
import time
import tracemalloc

import numpy as np
import pytest
import soundfile

from conftest import synthetic_voice
from vocals2song import audio as audio_module
from vocals2song.audio import check_voice, load_audio
from vocals2song.errors import AudioInputError

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


def wav_header(sample_rate: int, channels: int = 1, bits: int = 16, data_bytes: int = 0, declared: int | None = None):
    """A canonical PCM WAV header; ``declared`` overrides the data chunk size the header claims."""
    block = channels * bits // 8
    size = data_bytes if declared is None else declared
    return (b"RIFF" + struct.pack("<I", 36 + size) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, channels,
            sample_rate, sample_rate * block, block, bits) + b"data" + struct.pack("<I", size))  # fmt: skip


def write(path, samples, sample_rate=22050, subtype="PCM_16"):
    soundfile.write(path, samples, sample_rate, subtype=subtype)
    return path


def test_good_file_decodes_and_resamples(tmp_path):
    voice = synthetic_voice(2.0, 44100)
    audio = load_audio(write(tmp_path / "v.wav", voice, 44100), sample_rate=22050)
    assert audio.sample_rate == 22050 and audio.source_sample_rate == 44100
    assert len(audio.samples) == 44100 and audio.samples.dtype == np.float32
    assert not audio.truncated


def test_zero_byte_file(tmp_path):  # case 2
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioInputError, match="Could not read"):
        load_audio(tmp_path / "empty.wav")


def test_missing_file(tmp_path):
    with pytest.raises(AudioInputError, match="does not exist"):
        load_audio(tmp_path / "nothing.wav")


def test_zero_frames(tmp_path):  # case 3
    (tmp_path / "zero.wav").write_bytes(wav_header(22050))
    with pytest.raises(AudioInputError, match="empty"):
        load_audio(tmp_path / "zero.wav")


def test_too_short_says_the_minimum(tmp_path):  # case 4
    with pytest.raises(AudioInputError, match="at least 0.5 s"):
        load_audio(write(tmp_path / "short.wav", synthetic_voice(0.2)))


def test_long_file_is_capped(tmp_path):  # case 5
    rate = 8000
    path = tmp_path / "ten-minutes.wav"
    with soundfile.SoundFile(path, "w", rate, 1, "PCM_16") as file:
        for _ in range(10):
            file.write(np.tile(synthetic_voice(1.0, rate), 60))
    audio = load_audio(path, max_seconds=60)
    assert audio.truncated
    assert len(audio.samples) == 60 * rate


def test_one_hour_of_silent_flac_is_read_fast_and_small(tmp_path):  # case 7
    rate = 8000
    path = tmp_path / "hour.flac"
    with soundfile.SoundFile(path, "w", rate, 1, "PCM_16", format="FLAC") as file:
        block = np.zeros(rate * 60, dtype=np.int16)
        for _ in range(60):
            file.write(block)
    assert path.stat().st_size < 2_000_000
    tracemalloc.start()
    started = time.perf_counter()
    audio = load_audio(path, max_seconds=60)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert audio.truncated and audio.seconds == pytest.approx(60)
    assert elapsed < 1.0
    assert peak < 500e6


@needs_ffmpeg
def test_one_hour_of_silent_opus_is_read_fast(tmp_path):  # case 7
    path = tmp_path / "hour.webm"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono", "-t", "3600",
                    "-c:a", "libopus", "-b:a", "6k", str(path)], check=True, timeout=300)  # fmt: skip
    started = time.perf_counter()
    audio = load_audio(path, sample_rate=22050, max_seconds=60)
    assert time.perf_counter() - started < 2.0
    assert audio.truncated and audio.seconds == pytest.approx(60, abs=0.05)


def test_truncated_wav_decodes_what_is_readable(tmp_path):  # case 8
    voice = (synthetic_voice(2.0) * 32767).astype("<i2").tobytes()
    header = wav_header(22050, data_bytes=len(voice))
    (tmp_path / "cut.wav").write_bytes(header + voice[: len(voice) // 2 + 1])  # cut mid-sample
    audio = load_audio(tmp_path / "cut.wav")
    assert 0.9 < audio.seconds <= 1.01


@pytest.mark.parametrize(
    "content",
    [b"\x89PNG\r\n\x1a\n" + bytes(200), b"just some text, certainly not audio\n" * 20, bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8))],
    ids=["png", "text", "random"],
)  # fmt: skip
def test_not_audio(tmp_path, content):  # case 9
    (tmp_path / "fake.wav").write_bytes(content)
    with pytest.raises(AudioInputError, match="unsupported or corrupt"):
        load_audio(tmp_path / "fake.wav")


@pytest.mark.parametrize("rate", [0, 1, 10_000_000])
def test_absurd_sample_rates(tmp_path, rate):  # case 10
    samples = (synthetic_voice(1.0) * 32767).astype("<i2").tobytes()
    (tmp_path / "rate.wav").write_bytes(wav_header(rate, data_bytes=len(samples)) + samples)
    with pytest.raises(AudioInputError, match="(8-192 kHz|unsupported or corrupt)"):
        load_audio(tmp_path / "rate.wav")


def test_zero_channels(tmp_path):  # case 10
    samples = bytes(4000)
    (tmp_path / "nochannels.wav").write_bytes(wav_header(22050, channels=0, data_bytes=len(samples)) + samples)
    with pytest.raises(AudioInputError, match="(no audio channels|unsupported or corrupt)"):
        load_audio(tmp_path / "nochannels.wav")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_float_wav(tmp_path, bad):  # case 11
    voice = synthetic_voice(1.0)
    voice[1000] = bad
    with pytest.raises(AudioInputError, match="invalid samples"):
        load_audio(write(tmp_path / "nan.wav", voice, subtype="FLOAT"))


def test_digital_silence_is_no_voice(tmp_path):  # case 12
    audio = load_audio(write(tmp_path / "silence.wav", np.zeros(22050)))
    assert np.all(np.isfinite(audio.samples))
    with pytest.raises(AudioInputError, match="No voice heard"):
        check_voice(audio.samples)
    check_voice(synthetic_voice(1.0) * 1e-3)  # quiet but audible is accepted


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_sample_formats_scale_to_unit_range(tmp_path, subtype):  # case 13
    rate = 22050
    sine = np.sin(2 * np.pi * 440 * np.arange(rate) / rate) * 0.999
    audio = load_audio(write(tmp_path / f"{subtype}.wav", sine, rate, subtype=subtype))
    assert np.max(np.abs(audio.samples)) <= 1.0
    assert np.max(np.abs(audio.samples)) == pytest.approx(0.999, abs=0.02)
    assert np.corrcoef(audio.samples, sine)[0, 1] > 0.999


@pytest.mark.parametrize("rate", [8000, 96000])
def test_low_and_high_rates_keep_duration(tmp_path, rate):  # case 14
    audio = load_audio(write(tmp_path / "r.wav", synthetic_voice(1.5, rate), rate), sample_rate=22050)
    assert audio.seconds == pytest.approx(1.5, abs=1e-3)


@pytest.mark.parametrize("channels", [2, 6])
def test_multichannel_is_downmixed(tmp_path, channels):  # case 15
    voice = synthetic_voice(1.0)
    frames = np.stack([voice * (index + 1) / channels for index in range(channels)], axis=1)
    audio = load_audio(write(tmp_path / "multi.wav", frames))
    expected = frames.mean(axis=1)
    assert audio.samples.ndim == 1
    assert np.max(np.abs(audio.samples - expected)) < 1e-3


@needs_ffmpeg
@pytest.mark.parametrize("suffix,codec", [(".mp3", "libmp3lame"), (".ogg", "libvorbis"), (".flac", "flac"),
                                          (".m4a", "aac"), (".webm", "libopus")])  # fmt: skip
def test_compressed_formats(tmp_path, suffix, codec):  # case 16
    source = write(tmp_path / "source.wav", synthetic_voice(2.0, 44100), 44100)
    target = tmp_path / f"voice{suffix}"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(source), "-c:a", codec, str(target)], check=True, timeout=60)
    audio = load_audio(target, sample_rate=22050)
    assert audio.seconds == pytest.approx(2.0, abs=0.1)
    assert np.max(np.abs(audio.samples)) > 0.1


def test_hanging_decoder_times_out(tmp_path, monkeypatch):  # case 17
    fake_ffmpeg = tmp_path / "bin" / "ffmpeg"
    fake_ffmpeg.parent.mkdir()
    fake_ffmpeg.write_text("#!/bin/sh\nsleep 30\n")
    fake_ffmpeg.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_ffmpeg.parent}:/usr/bin:/bin")
    monkeypatch.setattr(audio_module, "FFMPEG_TIMEOUT_SECONDS", 1.0)
    (tmp_path / "voice.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(500))
    started = time.perf_counter()
    with pytest.raises(AudioInputError, match="took too long"):
        load_audio(tmp_path / "voice.m4a")
    assert time.perf_counter() - started < 5
