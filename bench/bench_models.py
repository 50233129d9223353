"""Musicality against latency of trained generators: the table the packaged model is chosen from.

For each weights directory: the mean scores of ``vocals2song evaluate`` on a split of a corpus (the model and,
from the first directory's run, every baseline), and the median time of :func:`vocals2song.vocals_to_song` on
one 15 s voice on this machine's CPU (after a warm-up), with the generator's size. Prints a Markdown table with
the models ranked by the musicality composite (:mod:`vocals2song.evaluation.musicality`), best first, with its three
sub-scores, the co-modulation with the voice (near 1: the model copies the voice) and the set-level chroma
correlation (near 1: the same pitches whatever the voice) beside it, and the accompaniment's spectral distances
last. A JSON file per directory with the whole evaluation goes to ``--json-dir`` when given.

Usage::

    python bench/bench_models.py WEIGHTS_DIR [WEIGHTS_DIR ...] --data CORPUS [--split validation]
        [--max-pieces 40] [--per-piece 1] [--seconds 15] [--repeats 5] [--phase predicted] [--json-dir DIR]

Each directory is scored in the output mode its generator was trained for (``target`` in its config.json):
a mixture generator as ``mixture``, an accompaniment generator as ``accompaniment`` (its voice is exact).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vocals2song.backend import import_keras_quietly  # noqa: E402

import_keras_quietly()

from vocals2song.evaluation.evaluate import BASELINES, evaluate, format_score  # noqa: E402
from vocals2song.inference import vocals_to_song  # noqa: E402
from vocals2song.model.weights import WEIGHTS_FILE, load_generator  # noqa: E402

SEED_VOICE = ROOT.parent / "shared" / "seed-samples" / "origin_audio.wav"
VOICE_SECONDS = 15.0


def latency_voice() -> tuple[np.ndarray, int, str]:
    """The original project's 15 s demo recording when ../shared is beside the checkout, else a sung tone."""
    import soundfile

    if SEED_VOICE.is_file():
        samples, rate = soundfile.read(SEED_VOICE, dtype="float32", always_2d=True)
        return samples.mean(axis=1)[: int(VOICE_SECONDS * rate)], rate, SEED_VOICE.name
    rate = 44100
    time_axis = np.arange(int(VOICE_SECONDS * rate)) / rate
    phase = 2 * np.pi * np.cumsum(220 * 2 ** (0.3 / 12 * np.sin(2 * np.pi * 5.5 * time_axis))) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 20))
    return (0.5 * voice / np.max(np.abs(voice))).astype(np.float32), rate, "synthetic 15 s voice"


def median_latency(model, voice: np.ndarray, rate: int, mode: str, phase: str, repeats: int) -> float:
    vocals_to_song(voice, rate, model, mode=mode, phase=phase)  # warm-up: graph tracing
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        vocals_to_song(voice, rate, model, mode=mode, phase=phase)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def describe(directory: Path, model) -> dict:
    config = model.config
    provenance = config.provenance
    return {
        "name": directory.name,
        "width": config.generator.width,
        "target": config.target,
        "sample_rate": config.spectrogram.sample_rate,
        "steps": provenance.get("steps"),
        "parameters": model.network.count_params(),
        "megabytes": (directory / WEIGHTS_FILE).stat().st_size / 1e6,
    }


MUSICALITY = (("composite", "composite ↑"), ("tonal", "tonal ↑"), ("fit", "fit ↑"), ("rhythm", "rhythm ↑"),
              ("comodulation", "co-mod."), ("chord_tone_share", "chord-tone share"))  # fmt: skip
SPECTRAL = (("lsd_db", "accomp. LSD dB ↓"), ("mr_stft", "accomp. MR-STFT ↓"))


def row_cells(result: dict, system: str) -> list[str]:
    """The musicality columns, the set chroma correlation and the accompaniment's spectral distances of a system."""
    musicality = result["musicality"][system]
    correlation = result["set_chroma_correlation"][system]
    return ([format_score(name, musicality[name]) for name, _ in MUSICALITY]
            + ["—" if correlation is None else f"{correlation:.2f}"]
            + [format_score(name, result["mean"][system]["accompaniment"][name]) for name, _ in SPECTRAL])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", nargs="+", type=Path, metavar="WEIGHTS_DIR")
    parser.add_argument("--data", required=True, help="corpus (or MUSDB / pairs folder) to score on")
    parser.add_argument("--split", default="validation", choices=("train", "validation", "test"))
    parser.add_argument("--max-pieces", type=int, default=40, help="examples scored per model")
    parser.add_argument("--per-piece", type=int, default=1, help="examples of each piece (default 1)")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per model (median)")
    parser.add_argument("--phase", default="predicted", choices=("predicted", "griffinlim"))
    parser.add_argument("--json-dir", type=Path, help="write each evaluation here as <name>.json")
    args = parser.parse_args()

    voice, rate, voice_name = latency_voice()
    header = (["model", "width", "target", "rate Hz", "steps", "params", "MB", "15 s → song ms"]
              + [label for _, label in MUSICALITY] + ["set chroma corr."] + [label for _, label in SPECTRAL])  # fmt: skip
    rows: list[tuple[float, str]] = []
    first: dict | None = None
    for directory in args.weights:
        model = load_generator(directory)
        info = describe(directory, model)
        mode = info["target"]
        seconds = median_latency(model, voice, rate, mode, args.phase, args.repeats)
        result = evaluate(model, args.data, split=args.split, seconds=args.seconds, max_pieces=args.max_pieces,
                          per_piece=args.per_piece, mode=mode, phase=args.phase)  # fmt: skip
        if args.json_dir:
            args.json_dir.mkdir(parents=True, exist_ok=True)
            (args.json_dir / f"{info['name']}.json").write_text(json.dumps({**info, "latency_seconds": seconds,
                                                                            "evaluation": result}, indent=1))  # fmt: skip
        first = first or result
        cells = [info["name"], str(info["width"]), info["target"], str(info["sample_rate"]), str(info["steps"]),
                 f"{info['parameters'] / 1e6:.2f} M", f"{info['megabytes']:.1f}", f"{seconds * 1000:.0f}"]  # fmt: skip
        composite = result["musicality"]["model"]["composite"]
        rows.append((composite, "| " + " | ".join(cells + row_cells(result, "model")) + " |"))
        print(f"scored {directory} ({len(result['pieces'])} examples)", file=sys.stderr, flush=True)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [row for _, row in sorted(rows, key=lambda item: -item[0])]  # best composite first
    for system in BASELINES:
        if first and system in first["systems"]:
            lines.append("| " + " | ".join([f"*{system}*"] + [""] * 7 + row_cells(first, system)) + " |")
    print(f"\n{args.split} split of {args.data}, {args.max_pieces} examples of {args.seconds:g} s "
          f"({args.per_piece} per piece), phase "
          f"{args.phase}; ranked by the musicality composite; latency: median of {args.repeats} runs on {voice_name} "
          f"({os.cpu_count()} CPU cores)\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
