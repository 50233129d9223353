"""Benchmark of the core package: codec round-trip SNR per storage form, and time per 15 s voice.

Prints two Markdown tables. Timings are medians over ``--repeats`` runs on this machine's CPU, with the
original project's generator (pix2pix width 64 on a 512x2048x3 image) timed in the same run as reference.
Random-init networks are used for the timings (speed does not depend on the weights).

Usage: python bench/bench_core.py [--voice FILE] [--repeats N] [--widths 8 16 32 64]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from vocals2song.backend import import_keras_quietly

import_keras_quietly()

from vocals2song.codec import spectrogram as codec  # noqa: E402
from vocals2song.audio import load_audio, resample  # noqa: E402
from vocals2song.config import GeneratorConfig, ModelConfig, SpectrogramConfig  # noqa: E402
from vocals2song.codec.image_files import load_image, save_image  # noqa: E402
from vocals2song.codec.network import image_to_network  # noqa: E402
from vocals2song.inference import vocals_to_song  # noqa: E402
from vocals2song.model.networks import build_generator  # noqa: E402
from vocals2song.model.weights import SongGenerator  # noqa: E402

SEED_VOICE = Path(__file__).resolve().parents[2] / "shared" / "seed-samples" / "origin_audio.wav"


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / np.sum((reference - estimate) ** 2)))


def median_seconds(function, repeats: int) -> float:
    function()  # warm-up (graph tracing, caches)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def test_voice(path: Path | None) -> tuple[np.ndarray, int, str]:
    if path and path.is_file():
        samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
        return samples.mean(axis=1), rate, path.name
    rate = 44100
    time_axis = np.arange(15 * rate) / rate
    phase = 2 * np.pi * np.cumsum(220 * 2 ** (0.3 / 12 * np.sin(2 * np.pi * 5.5 * time_axis))) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 20)) + 0.01 * np.random.default_rng(0).standard_normal(len(time_axis))
    return (0.5 * voice / np.max(np.abs(voice))).astype(np.float32), rate, "synthetic 15 s voice"


def codec_table(voice: np.ndarray, rate: int) -> list[tuple[str, str]]:
    config = SpectrogramConfig(sample_rate=rate)
    spectrogram = codec.stft(voice, config)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for label, name, bits in [("float32 (TIFF)", "v.tiff", 32), ("16-bit dB (PNG)", "v16.png", 16),
                                  ("16-bit dB (TIFF)", "v16.tiff", 16), ("8-bit dB (PNG)", "v8.png", 8)]:  # fmt: skip
            path = save_image(Path(folder) / name, spectrogram, config, bits=bits, length=len(voice))
            rows.append((label, f"{snr_db(voice, load_image(path).to_audio()):.1f}"))
        legacy = load_image(save_image(Path(folder) / "v.bmp", spectrogram, config, bits=8))
        decoded = codec.istft(legacy.to_spectrogram(), config, len(voice))
        gain = np.dot(decoded, voice) / np.dot(decoded, decoded)  # the BMP lost the absolute level
        rows.append(("original 8-bit linear (BMP), polar decode", f"{snr_db(voice, gain * decoded):.1f}"))
        pixels = legacy.legacy_pixels.astype(np.float64)
        buggy = codec.istft((pixels[..., 0] / 255 + 1j * (pixels[..., 1] * 2 * np.pi / 255 - np.pi)), config, len(voice))
        gain = np.dot(buggy, voice) / max(np.dot(buggy, buggy), 1e-12)
        rows.append(("original 8-bit linear (BMP), original decoder mag+1j*phase", f"{snr_db(voice, gain * buggy):.1f}"))
    return rows


def timing_table(voice: np.ndarray, rate: int, widths: list[int], repeats: int) -> list[tuple[str, str]]:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "voice.wav"
        soundfile.write(path, voice, rate, subtype="PCM_16")
        rows.append(("load 15 s WAV → 22.05 kHz mono", median_seconds(lambda: load_audio(path, sample_rate=22050), repeats)))
    config = SpectrogramConfig()
    at_model_rate = resample(voice, rate, config.sample_rate)
    spectrogram = codec.stft(at_model_rate, config)
    rows.append(("STFT + R/G image (22.05 kHz)", median_seconds(lambda: codec.spectrogram_to_image(codec.stft(at_model_rate, config), config), repeats)))
    image = codec.spectrogram_to_image(spectrogram, config)
    rows.append(("image → ISTFT (22.05 kHz)", median_seconds(lambda: codec.image_to_audio(image, config, len(at_model_rate)), repeats)))
    for representation, label in (("if", "IF target → cumulative sum → ISTFT"),
                                  ("none", "magnitude-only target → PGHI → ISTFT")):  # fmt: skip
        target = codec.spectrogram_to_target(spectrogram, config, representation)
        rows.append((label, median_seconds(lambda: codec.istft(codec.target_to_spectrogram(target, config, representation),
                                                                config, len(at_model_rate)), repeats)))  # fmt: skip
    for width in widths:
        model_config = ModelConfig(generator=GeneratorConfig(width=width))
        model = SongGenerator(model_config, build_generator(model_config.generator), "random")
        network_input = image_to_network(image, 512)[None, :, :1280]
        rows.append((f"generator width {width}, 512x1280x2 (15 s at 22.05 kHz)",
                     median_seconds(lambda: model.network(network_input, training=False), repeats)))  # fmt: skip
        rows.append((f"vocals_to_song end to end, width {width}, 15 s",
                     median_seconds(lambda: vocals_to_song(voice, rate, model), repeats)))  # fmt: skip
        if width == 16:  # the other phase representations at the packaged width
            for representation, name in (("if", "IF target"), ("none", "magnitude only, PGHI")):
                generator = GeneratorConfig(width=width, output_channels=1 if representation == "none" else 2)
                other = ModelConfig(generator=generator, phase_representation=representation)
                other_model = SongGenerator(other, build_generator(generator), "random")
                rows.append((f"vocals_to_song end to end, width {width}, 15 s, {name}",
                             median_seconds(lambda: vocals_to_song(voice, rate, other_model), repeats)))  # fmt: skip
    original = build_generator(GeneratorConfig(width=64, depth=8, input_channels=3))
    original_input = np.zeros((1, 512, 2048, 3), dtype=np.float32)
    rows.append(("original generator (width 64, 512x2048x3, 15 s at 44.1 kHz)",
                 median_seconds(lambda: original(original_input, training=False), repeats)))  # fmt: skip
    return [(label, f"{seconds * 1000:.0f}") for label, seconds in rows]


def sample_rate_table(voice: np.ndarray, rate: int, repeats: int) -> list[tuple[str, ...]]:
    """Why 22.05 kHz: per candidate model rate, bin spacing, frames per 15 s and generator time (width 16)."""
    rows = []
    generator = build_generator(GeneratorConfig(width=16))
    semitone = 2 ** (1 / 12) - 1
    for model_rate in (22050, 44100):
        config = SpectrogramConfig(sample_rate=model_rate)
        at_rate = resample(voice, rate, model_rate)
        image = codec.spectrogram_to_image(codec.stft(at_rate, config), config)
        frames = image.shape[1] // 256 * 256
        network_input = image_to_network(image, 512)[None, :, :frames]
        milliseconds = 1000 * median_seconds(lambda: generator(network_input, training=False), repeats)
        spacing = model_rate / config.n_fft
        rows.append((f"{model_rate} Hz", f"{spacing:.1f}", f"{spacing / semitone:.0f}", f"{model_rate / 2:.0f}",
                     str(image.shape[1]), f"{milliseconds:.0f}"))  # fmt: skip
    return rows


def print_table(header: tuple[str, str], rows: list[tuple[str, str]]) -> None:
    width = max(len(header[0]), *(len(label) for label, _ in rows))
    value_width = max(len(header[1]), *(len(value) for _, value in rows))
    print(f"| {header[0]:<{width}} | {header[1]:>{value_width}} |")
    print(f"|{'-' * (width + 2)}|{'-' * (value_width + 2)}|")
    for label, value in rows:
        print(f"| {label:<{width}} | {value:>{value_width}} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voice", type=Path, default=SEED_VOICE, help="a 15 s recording (default: the original's)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--widths", type=int, nargs="+", default=[8, 16, 32, 64])
    args = parser.parse_args()
    voice, rate, name = test_voice(args.voice)
    voice = voice[: 15 * rate]
    print(f"voice: {name}, {len(voice) / rate:.2f} s at {rate} Hz\n")
    print_table(("storage form (round trip at the file's rate)", "SNR dB"), codec_table(voice, rate))
    print_table(("stage, per 15 s voice (median)", "ms"), timing_table(voice, rate, args.widths, args.repeats))
    columns = ("model rate", "bin Hz", "semitones resolved above Hz", "top Hz", "frames / 15 s", "generator ms")
    rows = sample_rate_table(voice, rate, args.repeats)
    print("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()


if __name__ == "__main__":
    main()
