"""Audio in and out: capped, validated decoding of any common file to mono float32, and WAV writing.

Decoding never reads more than ``max_seconds`` of a file: WAV/FLAC/OGG/MP3 are read by libsndfile with a
frame cap; anything else (m4a, webm/opus, ...) goes through ``ffmpeg -t`` under a subprocess timeout. Every
way a file can be unusable raises :class:`~vocals2song.errors.AudioInputError` with a sentence for a person.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import soundfile

from vocals2song.errors import AudioInputError

MIN_SECONDS = 0.5
MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 192_000
DEFAULT_MAX_SECONDS = 60.0
FFMPEG_TIMEOUT_SECONDS = 20.0
SILENCE_PEAK = 10 ** (-80 / 20)  # below -80 dBFS peak nothing is heard


@dataclass
class Audio:
    """Decoded audio.

    Attributes:
        samples: float32 mono, shape (nb_samples,), in [-1, 1].
        sample_rate: Hz of ``samples``.
        source_sample_rate: Hz of the file.
        truncated: True when the file was longer than the cap and only its start was decoded.
        source_seconds: seconds decoded from the file (after the cap).
    """

    samples: np.ndarray
    sample_rate: int
    source_sample_rate: int
    truncated: bool
    source_seconds: float

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


def load_audio(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    min_seconds: float = MIN_SECONDS,
) -> Audio:
    """Decode at most ``max_seconds`` of an audio file to mono float32, resampled to ``sample_rate``.

    Args:
        path: any file libsndfile or ffmpeg reads (wav, flac, ogg, mp3, m4a, webm/opus...).
        sample_rate: output rate in Hz; None keeps the file's rate.
        max_seconds: decode cap; a longer file is cut and ``truncated`` set.
        min_seconds: shorter audio is refused.
    Raises:
        AudioInputError: empty, too short, corrupt, unsupported, rate outside 8-192 kHz, NaN/inf samples.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioInputError(f"Could not read the audio file '{path.name}': it does not exist.")
    if path.stat().st_size == 0:
        raise AudioInputError(f"Could not read the audio file '{path.name}': it is empty (0 bytes).")
    try:
        samples, source_rate, truncated = _read_with_soundfile(path, max_seconds)
    except _NotForSoundfile:
        samples, source_rate, truncated = _read_with_ffmpeg(path, max_seconds, sample_rate)
    samples = _to_mono(samples)
    if samples.size == 0:
        raise AudioInputError("The recording is empty.")
    if not np.all(np.isfinite(samples)):
        raise AudioInputError("The file contains invalid samples (NaN or infinity).")
    source_seconds = len(samples) / source_rate
    if source_seconds < min_seconds:
        raise AudioInputError(
            f"The recording is {source_seconds:.2f} s long; at least {min_seconds:g} s of voice is needed."
        )
    samples = np.clip(samples, -1.0, 1.0)
    target_rate = sample_rate or source_rate
    return Audio(
        samples=resample(samples, source_rate, target_rate),
        sample_rate=target_rate,
        source_sample_rate=source_rate,
        truncated=truncated,
        source_seconds=source_seconds,
    )


def check_voice(samples: np.ndarray) -> None:
    """Raise ``AudioInputError`` if nothing can be heard (peak below -80 dBFS)."""
    if samples.size == 0 or float(np.max(np.abs(samples))) < SILENCE_PEAK:
        raise AudioInputError("No voice heard: the recording is silent.")


def resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited resampling (soxr); length becomes ``ceil(n · target / source)``."""
    samples = np.asarray(samples, dtype=np.float32)
    if source_rate == target_rate:
        return samples
    return librosa.resample(samples, orig_sr=source_rate, target_sr=target_rate, res_type="soxr_hq").astype(
        np.float32
    )


def to_int16(samples: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] → int16, clipped (NaN must have been caught before)."""
    return np.round(np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)


WAV_SUBTYPES = ("PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")


def write_wav(path: str | os.PathLike, samples: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> Path:
    """Write a mono WAV atomically (temporary file + rename).

    Args:
        samples: float audio, shape (nb_samples,), nominally in [-1, 1].
        subtype: sample format, one of :data:`WAV_SUBTYPES`. Integer formats are clipped to [-1, 1]; the float
            formats keep every value as it is (nothing is lost).
    """
    if subtype not in WAV_SUBTYPES:
        raise ValueError(f"subtype must be one of {WAV_SUBTYPES}, got {subtype!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    if subtype == "PCM_16":
        data = to_int16(samples)
    elif subtype in ("FLOAT", "DOUBLE"):
        data = np.asarray(samples, dtype=np.float32 if subtype == "FLOAT" else np.float64)
    else:
        data = np.clip(np.asarray(samples, dtype=np.float64), -1.0, 1.0)
    try:
        soundfile.write(temporary, data, sample_rate, subtype=subtype, format="WAV")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


class _NotForSoundfile(Exception):
    """libsndfile does not know this container; try ffmpeg."""


def _check_rate(rate: float, name: str) -> None:
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioInputError(
            f"'{name}' has a sample rate of {rate:g} Hz; only {MIN_SAMPLE_RATE // 1000}-{MAX_SAMPLE_RATE // 1000} kHz "
            "audio is supported."
        )


def _read_with_soundfile(path: Path, max_seconds: float) -> tuple[np.ndarray, int, bool]:
    try:
        file = soundfile.SoundFile(path)
    except soundfile.LibsndfileError as error:
        text = str(error).lower()
        if "unknown format" in text or "format not recognised" in text or "not recognised" in text:
            raise _NotForSoundfile from error
        raise AudioInputError(f"'{path.name}' is an unsupported or corrupt audio file.") from error
    except Exception as error:
        raise AudioInputError(f"'{path.name}' is an unsupported or corrupt audio file.") from error
    with file:
        if file.channels < 1:
            raise AudioInputError(f"'{path.name}' has no audio channels.")
        _check_rate(file.samplerate, path.name)
        cap = int(max_seconds * file.samplerate)
        try:
            # Never trust the header's frame count: read at most cap + 1 frames.
            samples = file.read(frames=cap + 1, dtype="float32", always_2d=True)
        except Exception as error:
            raise AudioInputError(f"'{path.name}' is an unsupported or corrupt audio file.") from error
        truncated = len(samples) > cap
        return samples[:cap], int(file.samplerate), truncated


def _read_with_ffmpeg(path: Path, max_seconds: float, sample_rate: int | None) -> tuple[np.ndarray, int, bool]:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioInputError(
            f"'{path.name}' is not WAV, FLAC, OGG or MP3, and ffmpeg (needed for other formats) is not installed."
        )
    rate = sample_rate or 44100
    # Decode one extra second to learn whether the file was longer than the cap.
    command = [ffmpeg, "-nostdin", "-v", "error", "-t", f"{max_seconds + 1.0:.3f}", "-i", str(path),
               "-map", "0:a:0", "-ac", "1", "-ar", str(rate), "-f", "f32le", "-"]  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, timeout=FFMPEG_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired as error:
        raise AudioInputError(f"Decoding '{path.name}' took too long; the file may be damaged.") from error
    if result.returncode != 0 or not result.stdout:
        raise AudioInputError(f"'{path.name}' is an unsupported or corrupt audio file.")
    samples = np.frombuffer(result.stdout[: len(result.stdout) // 4 * 4], dtype="<f4").copy()
    cap = int(max_seconds * rate)
    return samples[:cap, None], rate, len(samples) > cap


def _to_mono(samples: np.ndarray) -> np.ndarray:
    """(nb_samples, nb_channels) → (nb_samples,) by averaging channels."""
    return samples.mean(axis=1, dtype=np.float32) if samples.ndim == 2 else samples.astype(np.float32)
