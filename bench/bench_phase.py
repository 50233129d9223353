"""Which phase representation sounds: generators trained the same way on raw phase, IF and magnitude only, compared.

Usage: ``python bench/bench_phase.py RUNS --data CORPUS [--split validation] [--seconds 15] [--max-pieces 8]
[--step N] [--pictures DIR] [--wavs DIR] [--json FILE]``; then, where :mod:`vocals2song.evaluation.musicality` is not in this
checkout, ``python bench/bench_phase.py --score-wavs DIR`` with a checkout that has it on ``PYTHONPATH``.

``RUNS`` holds one run per representation (``tools/train_phase_comparison.sh``): ``RUNS/raw``, ``RUNS/if``,
``RUNS/none``, each with ``exports/step-N``; the step compared is the largest one every run exported (or
``--step``). Each generator turns the split's voices (the first ``--seconds`` of audible voice) into
accompaniments (:func:`vocals2song.inference.vocals_to_song`, ``mode="accompaniment"``, seed 0), scored:

- **consistency dB**: spectral convergence between the magnitude the generator predicts and the magnitude of the
  audio it decodes to: a phase that fits its magnitude keeps it (very negative), speckled phase smears it (near
  0 dB). Phase-only: it says nothing of the music;
- **hop comb %**: share of the accompaniment's 60 Hz–5 kHz energy within ±2 Hz of the multiples of
  ``sample_rate / hop_length`` (86.13 Hz), seen in one FFT of the whole excerpt. A phase that does not move from
  frame to frame makes exactly these partials (the same comb under every voice); chance is 4.6 %;
- LSD dB and chroma similarity against the reference accompaniment (:mod:`vocals2song.evaluation.metrics`);
- the musicality composite and its tonal, fit and rhythm parts (:mod:`vocals2song.evaluation.musicality`), when present,
  and **same pitches**: the set chroma correlation of the examples' mean chroma (near 1 when a system plays the
  same pitch classes whatever the voice, a drone; about 0 for real accompaniments);
- **decode ms / 15 s**: CPU time from the target image to audio (IF: a cumulative sum; none: PGHI), median of 5.

Rows: each representation as trained, the raw generator's magnitude with its phase rebuilt by PGHI (which
separates the phase's share of the result from the magnitude's), and the reference accompaniment.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REPRESENTATIONS = ("raw", "if", "none")
COMB_HALF_WIDTH_HZ = 2.0
COMB_BAND_HZ = (60.0, 5000.0)


def hop_comb_share(audio: np.ndarray, sample_rate: int, hop_length: int) -> float:
    """Share of the 60 Hz–5 kHz energy within ±2 Hz of multiples of ``sample_rate / hop_length``."""
    power = np.abs(np.fft.rfft(audio.astype(np.float64))) ** 2
    frequencies = np.fft.rfftfreq(len(audio), 1.0 / sample_rate)
    band = (frequencies >= COMB_BAND_HZ[0]) & (frequencies <= COMB_BAND_HZ[1])
    spacing = sample_rate / hop_length
    distance = np.abs(frequencies - spacing * np.round(frequencies / spacing))
    total = power[band].sum()
    return float(power[band & (distance <= COMB_HALF_WIDTH_HZ)].sum() / total) if total > 0 else 0.0


def consistency_db(spectrogram: np.ndarray, config) -> float:
    """Spectral convergence (dB) of |STFT(ISTFT(spectrogram))| against |spectrogram|."""
    from vocals2song.codec import spectrogram as codec

    magnitude = np.abs(spectrogram)
    rebuilt = np.abs(codec.stft(codec.istft(spectrogram, config), config))
    return float(20 * np.log10(np.linalg.norm(rebuilt - magnitude) / max(np.linalg.norm(magnitude), 1e-12)))


def decode_milliseconds(target: np.ndarray, config, representation: str, repeats: int = 5) -> float:
    """Median CPU time to decode a target image to audio."""
    from vocals2song.codec import spectrogram as codec

    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        codec.istft(codec.target_to_spectrogram(target, config, representation), config)
        times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times))


def common_step(runs: Path, names: list[str]) -> int:
    steps = []
    for name in names:
        found = {int(path.name.split("-")[1]) for path in (runs / name / "exports").glob("step-*")}
        if not found:
            raise SystemExit(f"{runs / name} has no exports/step-N")
        steps.append(found)
    shared = set.intersection(*steps)
    if not shared:
        raise SystemExit(f"no step exported by every run: {steps}")
    return max(shared)


def generate(args) -> dict:
    from vocals2song.codec import spectrogram as codec
    from vocals2song.audio import write_wav
    from vocals2song.pairs.examples import iterate_examples
    from vocals2song.inference import predict_image, vocals_to_song
    from vocals2song.evaluation.metrics import chroma_similarity, log_spectral_distance
    from vocals2song.model.weights import load_generator

    names = [name for name in REPRESENTATIONS if (args.runs / name).is_dir()]
    step = args.step or common_step(args.runs, names)
    models = {name: load_generator(args.runs / name / "exports" / f"step-{step:07d}") for name in names}
    config = next(iter(models.values())).config
    audio_config, rate = config.spectrogram, config.spectrogram.sample_rate
    systems = names + (["raw, phase by PGHI"] if "raw" in names else []) + ["reference"]
    scores = {system: [] for system in systems}
    pictures = []
    wavs = Path(args.wavs) if args.wavs else None
    examples = iterate_examples(args.data, config, split=args.split, seconds=args.seconds)
    for count, example in enumerate(examples):
        if args.max_pieces and count >= args.max_pieces:
            break
        voice_image = codec.audio_to_image(example.voice, audio_config)
        outputs = {}
        for name, model in models.items():
            result = vocals_to_song(example.voice, rate, model, mode="accompaniment", seed=0)
            target = predict_image(model, voice_image, seed=0)
            spectrogram = codec.target_to_spectrogram(target, audio_config, model.config.phase_representation)
            outputs[name] = (result.accompaniment, consistency_db(spectrogram, audio_config),
                             decode_milliseconds(target, audio_config, model.config.phase_representation)
                             * 15 * rate / len(example.voice))  # fmt: skip
            if name == "raw":  # the same magnitude, its phase rebuilt by PGHI, at the same RMS
                rebuilt = codec.target_to_spectrogram(target[..., :1], audio_config, "none")
                audio = codec.istft(rebuilt, audio_config, len(example.voice))
                audio *= result.accompaniment.std() / max(float(audio.std()), 1e-12)
                outputs["raw, phase by PGHI"] = (audio, consistency_db(rebuilt, audio_config), None)
        reference_spectrogram = codec.stft(example.accompaniment, audio_config)
        outputs["reference"] = (example.accompaniment, consistency_db(reference_spectrogram, audio_config), None)
        for system, (accompaniment, consistency, decode) in outputs.items():
            scores[system].append({
                "piece": example.name, "consistency_db": consistency, "decode_ms": decode,
                "hop_comb_percent": 100 * hop_comb_share(accompaniment, rate, audio_config.hop_length),
                "lsd_db": log_spectral_distance(example.accompaniment, accompaniment, rate),
                "chroma": chroma_similarity(example.accompaniment, accompaniment, rate)})  # fmt: skip
            if wavs:
                folder = wavs / example.name
                folder.mkdir(parents=True, exist_ok=True)
                write_wav(folder / f"{system.replace(',', '').replace(' ', '-')}.wav", accompaniment, rate)
                write_wav(folder / "voice.wav", example.voice, rate)
        if len(pictures) < args.pictures_count:
            pictures.append((example, {system: outputs[system][0] for system in outputs}))
        print(f"{example.name}: done", file=sys.stderr, flush=True)
    if args.pictures:
        for index, (example, outputs) in enumerate(pictures):
            draw(Path(args.pictures) / f"phase-{index}.png", example, outputs, rate, step)
    return {"step": step, "split": args.split, "seconds": args.seconds, "systems": systems, "scores": scores,
            "provenance": {name: model.config.provenance for name, model in models.items()}}  # fmt: skip


def draw(path: Path, example, outputs: dict, rate: int, step: int) -> None:
    """dB spectrograms, one row per system (voice first, reference last): left 0–4 kHz over the excerpt, right a
    zoom on 0–500 Hz over its first 4 s at 2.7 Hz resolution, where a comb of partials on the STFT grid shows
    (dotted lines: multiples of sample_rate / hop_length, 86 Hz at 22.05 kHz)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vocals2song.codec import spectrogram as codec
    from vocals2song.config import SpectrogramConfig

    views = [(SpectrogramConfig(sample_rate=rate, n_fft=2048, hop_length=256), 4000.0, None),
             (SpectrogramConfig(sample_rate=rate, n_fft=8192, hop_length=1024), 500.0, 4.0)]  # fmt: skip
    panels = {"voice": example.voice, **outputs}
    figure, axes = plt.subplots(len(panels), 2, figsize=(14, 1.9 * len(panels)), width_ratios=(3, 1), squeeze=False)
    for row, (name, audio) in enumerate(panels.items()):
        for column, (analysis, top_hz, seconds) in enumerate(views):
            excerpt = audio if seconds is None else audio[: int(seconds * rate)]
            top_bin = int(top_hz / (rate / analysis.n_fft))
            decibels = 20 * np.log10(np.abs(codec.stft(excerpt, analysis))[:top_bin] + 1e-6)
            axis = axes[row, column]
            axis.imshow(decibels, origin="lower", aspect="auto", cmap="magma", vmin=decibels.max() - 60,
                        vmax=decibels.max(), extent=(0, len(excerpt) / rate, 0, top_bin * rate / analysis.n_fft))
            if column == 1:
                for partial in np.arange(rate / 256, top_hz, rate / 256):
                    axis.axhline(partial, color="white", linewidth=0.5, linestyle=":", alpha=0.6)
            else:
                label = name if name in ("voice", "reference") else f"{name} (step {step})"
                axis.set_title(label, fontsize=9, loc="left")
                axis.set_ylabel("Hz")
    axes[-1, 0].set_xlabel(f"seconds — {example.name}, 60 dB range per panel")
    axes[-1, 1].set_xlabel("seconds (0–500 Hz)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=72)
    plt.close(figure)
    from PIL import Image

    Image.open(path).convert("RGB").quantize(128).save(path, optimize=True)  # a third of the size


def score_wavs(folder: Path, result: dict) -> None:
    """Add the musicality features of every saved accompaniment (needs vocals2song.evaluation.musicality)."""
    import soundfile

    from vocals2song.evaluation.musicality import mean_chroma, musicality_features, set_chroma_correlation

    for system, rows in result["scores"].items():
        chromas = []
        for row in rows:
            piece = folder / row["piece"]
            voice, rate = soundfile.read(piece / "voice.wav", dtype="float32")
            accompaniment, _ = soundfile.read(piece / f"{system.replace(',', '').replace(' ', '-')}.wav",
                                              dtype="float32")  # fmt: skip
            features = musicality_features(voice, accompaniment, rate)
            row.update({name: features[name] for name in ("composite", "tonal", "fit", "rhythm")})
            chromas.append(mean_chroma(accompaniment, rate))
        if len(chromas) > 1:  # a set-level figure, shown on every row of the system
            same = set_chroma_correlation(chromas)
            for row in rows:
                row["same_pitches"] = same


def table(result: dict) -> str:
    columns = [("consistency_db", "consistency dB ↓", 1), ("hop_comb_percent", "hop comb % ↓", 1),
               ("lsd_db", "LSD dB ↓", 2), ("chroma", "chroma ↑", 3), ("composite", "composite ↑", 3),
               ("tonal", "tonal ↑", 3), ("fit", "fit ↑", 3), ("rhythm", "rhythm ↑", 3),
               ("same_pitches", "same pitches ↓", 2),
               ("decode_ms", "decode ms / 15 s", 0)]  # fmt: skip
    present = [column for column in columns
               if any(row.get(column[0]) is not None for rows in result["scores"].values() for row in rows)]
    lines = ["| system | " + " | ".join(title for _, title, _ in present) + " |",
             "|---|" + "---|" * len(present)]  # fmt: skip
    for system, rows in result["scores"].items():
        cells = []
        for key, _, digits in present:
            values = [row[key] for row in rows if row.get(key) is not None]
            cells.append(f"{np.mean(values):.{digits}f}" if values else "–")
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="?")
    parser.add_argument("--data")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--max-pieces", type=int, default=8)
    parser.add_argument("--step", type=int)
    parser.add_argument("--pictures", help="folder for phase-N.png")
    parser.add_argument("--pictures-count", type=int, default=2)
    parser.add_argument("--wavs", help="folder for the accompaniments as WAV (needed by --score-wavs)")
    parser.add_argument("--json", help="write (or, with --score-wavs, read and update) the result here")
    parser.add_argument("--score-wavs", help="add musicality scores to --json from the WAVs in this folder")
    args = parser.parse_args()
    if args.score_wavs:
        result = json.loads(Path(args.json).read_text())
        score_wavs(Path(args.score_wavs), result)
    else:
        if args.runs is None or args.data is None:
            parser.error("RUNS and --data are needed")
        result = generate(args)
        try:
            score_wavs(Path(args.wavs), result) if args.wavs else None
        except ImportError:
            print("vocals2song.evaluation.musicality is not in this checkout: musicality left out (see --score-wavs)",
                  file=sys.stderr)  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    print(f"\nPhase representations at step {result['step']}, {args.split if not args.score_wavs else result['split']} "
          f"split, {len(next(iter(result['scores'].values())))} examples of {result['seconds']:g} s:\n")  # fmt: skip
    print(table(result))


if __name__ == "__main__":
    main()
