"""Benchmark of the voice augmentation: time per 20 s voice for each effect, and the corpus rendering rate with and
without it (2 workers). Prints two Markdown tables.

Usage: python bench/bench_voice_augment.py [--repeats N] [--pieces N] [--workers N]

The voice is a 20 s melody (random notes and rests, 22.05 kHz) sung by a random singer. Each effect is forced
on alone (its probability 1) and timed as the median of ``--repeats`` seeds in this process (one core), in CPU
time (the process's, so other jobs on a shared machine inflate it little) and wall time; the "expected"
column weighs the CPU time by the default probability, and the chain row times ``augment_voice`` with the
default probabilities. The corpus rows render the same ``--pieces`` pieces twice into temporary folders,
with ``voice_augmentation`` 0 and 0.7, and count the workers' CPU time (RUSAGE_CHILDREN) per pair.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vocals2song.corpus.singer import Note, random_singer, sing  # noqa: E402
from vocals2song.corpus.voice_augment import EFFECTS, augment_voice, default_settings  # noqa: E402

SAMPLE_RATE = 22050
SECONDS = 20.0


def sung_voice(seed: int = 0) -> np.ndarray:
    """A 20 s melody of random notes (0.2-1.2 s) with occasional rests, sung by a random singer, float32."""
    rng = np.random.default_rng(seed)
    notes, time_seconds = [], 0.0
    while time_seconds < SECONDS - 0.3:
        duration = min(float(rng.uniform(0.2, 1.2)), SECONDS - time_seconds)
        notes.append(Note(time_seconds, duration, float(rng.integers(55, 70)), None))
        time_seconds += duration + (float(rng.uniform(0.15, 0.5)) if rng.random() < 0.2 else 0.0)
    voice = sing(notes, random_singer(rng), SAMPLE_RATE, rng)
    padded = np.zeros(int(SECONDS * SAMPLE_RATE), np.float32)
    padded[:min(len(voice), len(padded))] = voice[:len(padded)]
    return padded


def median_milliseconds(run, repeats: int) -> tuple[float, float]:
    """Median (CPU ms, wall ms) of ``run(seed)`` over seeds 0..repeats-1."""
    cpu, wall = [], []
    for seed in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        run(seed)
        cpu.append(time.process_time() - started_cpu)
        wall.append(time.perf_counter() - started)
    return 1000 * statistics.median(cpu), 1000 * statistics.median(wall)


def effect_table(repeats: int) -> float:
    """Print the per-effect table; return the chain's median ms per voice."""
    voice = sung_voice()
    augment_voice(voice, SAMPLE_RATE, np.random.default_rng(0), dict.fromkeys(EFFECTS, 1.0))   # warm-up (librosa)
    probabilities = default_settings()
    rows = []
    for effect in EFFECTS:
        settings = {name: float(name == effect) for name in EFFECTS}
        milliseconds = median_milliseconds(
            lambda seed: augment_voice(voice, SAMPLE_RATE, np.random.default_rng(seed), settings), repeats)
        rows.append((effect, probabilities[effect], milliseconds))
    all_on = median_milliseconds(
        lambda seed: augment_voice(voice, SAMPLE_RATE, np.random.default_rng(seed), dict.fromkeys(EFFECTS, 1.0)),
        repeats)
    chain = median_milliseconds(lambda seed: augment_voice(voice, SAMPLE_RATE, np.random.default_rng(seed)),
                                max(repeats, 20))
    print(f"Per effect, one 20 s voice at {SAMPLE_RATE} Hz, one process (median of {repeats} seeds):\n")
    print("| effect | probability | CPU ms when applied | wall ms | expected CPU ms per augmented voice |")
    print("|---|---|---|---|---|")
    for effect, probability, (cpu, wall) in rows:
        print(f"| {effect} | {probability:.2f} | {cpu:.1f} | {wall:.1f} | {probability * cpu:.1f} |")
    expected = sum(probability * cpu for _, probability, (cpu, _) in rows)
    print(f"| sum (expected, default probabilities) | | | | {expected:.1f} |")
    print(f"| every effect at once | 1 | {all_on[0]:.1f} | {all_on[1]:.1f} | |")
    print(f"| augment_voice, default probabilities (median of {max(repeats, 20)} seeds) | | {chain[0]:.1f} | "
          f"{chain[1]:.1f} | {chain[0]:.1f} |")
    return chain[0]


def corpus_table(nb_pieces: int, workers: int) -> None:
    from vocals2song.corpus.build import build_corpus, load_manifest

    def cpu_seconds() -> float:
        children, own = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
        return children.ru_utime + children.ru_stime + own.ru_utime + own.ru_stime

    rows = []
    for probability in (0.0, 0.7):
        with tempfile.TemporaryDirectory() as out_dir:
            started, started_cpu = time.perf_counter(), cpu_seconds()
            manifest = load_manifest(build_corpus(out_dir, pieces=nb_pieces, workers=workers, progress=False,
                                                  voice_augmentation=probability))
            seconds, cpu = time.perf_counter() - started, cpu_seconds() - started_cpu
        pairs = manifest["pairs"]
        augmented = sum(1 for pair in pairs if pair.get("voice_augmentation"))
        audio_seconds = sum(pair["seconds"] for pair in pairs)
        rows.append((probability, len(pairs), augmented, audio_seconds / max(len(pairs), 1), seconds,
                     len(pairs) * 3600 / seconds, 1000 * cpu / max(len(pairs), 1)))
    print(f"\nCorpus rendering, {nb_pieces} pieces, {workers} workers (each run includes starting the workers):\n")
    print("| voice_augmentation | pairs | augmented | mean pair s | wall s | pairs per hour | CPU ms per pair |")
    print("|---|---|---|---|---|---|---|")
    for probability, nb_pairs, augmented, mean_seconds, seconds, rate, cpu_per_pair in rows:
        print(f"| {probability} | {nb_pairs} | {augmented} | {mean_seconds:.1f} | {seconds:.1f} | {rate:.0f} | "
              f"{cpu_per_pair:.0f} |")
    print(f"\nCPU time per pair with augmentation: {100 * (rows[1][6] / rows[0][6] - 1):+.0f} %; "
          f"wall time per pair: {100 * (rows[0][5] / rows[1][5] - 1):+.0f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="seeds timed per effect")
    parser.add_argument("--pieces", type=int, default=16, help="pieces rendered per corpus run (0: skip)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    effect_table(args.repeats)
    if args.pieces:
        corpus_table(args.pieces, args.workers)


if __name__ == "__main__":
    main()
