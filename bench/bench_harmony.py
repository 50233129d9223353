"""The harmony estimator against the true harmony of rendered voices, per collection (mir_eval), and its time.

For every pair of a corpus split whose manifest carries the true harmony (``vocals2song corpus``, format 2), the
estimator reads the rendered voice alone and is scored with mir_eval against the score's harmony:

* key: ``mir_eval.key.weighted_score`` (1 same key, 0.5 a fifth away, 0.3 relative, 0.2 parallel);
* beats: ``mir_eval.beat.f_measure`` (±70 ms) after ``mir_eval.beat.trim_beats`` (the first 5 s are ignored,
  as ``mir_eval.beat.evaluate`` does), with the estimated tempo and with the true tempo given (the one-click fix);
  downbeats: the same F-measure on the bar lines (not trimmed); tempo: the share of pairs within 4 % of the true
  tempo, and within 4 % of it, half or double it;
* chords: ``mir_eval.chord`` ``root`` and ``majmin``, weighted by duration over all pairs (MIREX style), with
  the estimate over the reference's span;
* fit: the share of the sung notes' duration whose pitch class is a tone of the estimated chord (and, for
  reference, of the true chord: a melody allows several harmonisations, and passing notes fit neither).

Then the median time of :func:`vocals2song.plan.estimate.estimate_harmony` on a 15 s voice (the original project's demo
recording when ``../shared/seed-samples`` is beside the checkout, else a rendered voice), with and without the
STFT magnitude given (inference gives it), and of the whole :func:`vocals2song.inference.vocals_to_song` with the
generator in ``--weights`` (default: the packaged one) with the plan read (``harmony="auto"``) and without
(``harmony=None``).

Usage: python bench/bench_harmony.py CORPUS [--split test] [--max-pairs N] [--pitch yin|pyin|chroma]
           [--jazz 0.5] [--repeats 7] [--weights DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import mir_eval
import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vocals2song.codec import spectrogram as codec  # noqa: E402
from vocals2song.audio import resample  # noqa: E402
from vocals2song.plan.estimate import estimate_harmony  # noqa: E402
from vocals2song.plan.harmony import Harmony  # noqa: E402
from vocals2song.plan.listening import ANALYSIS  # noqa: E402

SEED_VOICE = ROOT.parent / "shared" / "seed-samples" / "origin_audio.wav"
TEMPO_TOLERANCE = 0.04


def chord_comparisons(reference: Harmony, estimate: Harmony) -> dict[str, tuple[float, float]]:
    """(matching seconds, seconds in gamut) for mir_eval's root and majmin rules over the reference's span."""
    ref_intervals = np.array([[chord.start, chord.end] for chord in reference.chords])
    ref_labels = [chord.label for chord in reference.chords]
    est_intervals = np.array([[chord.start, chord.end] for chord in estimate.chords])
    est_labels = [chord.label for chord in estimate.chords]
    est_intervals, est_labels = mir_eval.util.adjust_intervals(
        est_intervals, est_labels, ref_intervals.min(), ref_intervals.max(), mir_eval.chord.NO_CHORD,
        mir_eval.chord.NO_CHORD)
    intervals, ref_labels, est_labels = mir_eval.util.merge_labeled_intervals(
        ref_intervals, ref_labels, est_intervals, est_labels)
    durations = mir_eval.util.intervals_to_durations(intervals)
    result = {}
    for rule in ("root", "majmin"):
        comparisons = getattr(mir_eval.chord, rule)(ref_labels, est_labels)
        valid = comparisons >= 0
        result[rule] = (float(np.sum(comparisons[valid] * durations[valid])), float(np.sum(durations[valid])))
    return result


def melody_fit(melody, chords) -> tuple[float, float]:
    """(seconds of sung notes whose pitch class is in the chord sounding, seconds of sung notes under a chord)."""
    fitting = total = 0.0
    for note in melody:
        for chord in chords:
            overlap = min(note.end, chord.end) - max(note.start, chord.start)
            if overlap <= 0 or chord.root < 0:
                continue
            total += overlap
            if int(round(note.pitch)) % 12 in chord.pitch_classes:
                fitting += overlap
    return fitting, total


def beat_f_measure(reference: Harmony, beats) -> float:
    return float(mir_eval.beat.f_measure(mir_eval.beat.trim_beats(np.asarray(reference.beats)),
                                         mir_eval.beat.trim_beats(np.asarray(beats))))


def score_corpus(corpus: Path, split: str, max_pairs: int | None, pitch: str, jazz: float) -> dict:
    manifest = json.loads((corpus / "manifest.json").read_text())
    pairs = [pair for pair in manifest["pairs"] if pair["split"] == split and "harmony" in pair]
    if not pairs:
        raise SystemExit(f"{corpus} has no pairs with a true harmony in the {split!r} split")
    if max_pairs:
        pairs = pairs[:: max(1, len(pairs) // max_pairs)][:max_pairs]
    totals: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for number, pair in enumerate(pairs):
        voice, rate = soundfile.read(corpus / pair["vocals"], dtype="float32")
        reference = Harmony.from_dict(pair["harmony"])
        estimate = estimate_harmony(voice, rate, jazz=jazz, pitch_method=pitch)
        given_tempo = estimate_harmony(voice, rate, tempo=reference.tempo_bpm, jazz=jazz, pitch_method=pitch)
        ratio = estimate.tempo_bpm / reference.tempo_bpm
        row = {
            "key": mir_eval.key.weighted_score(reference.key_label, estimate.key_label),
            "beat_f": beat_f_measure(reference, estimate.beats),
            "beat_f_given_tempo": beat_f_measure(reference, given_tempo.beats),
            "downbeat_f": float(mir_eval.beat.f_measure(np.asarray(reference.downbeats), np.asarray(estimate.downbeats))),
            "tempo_ok": abs(ratio - 1) <= TEMPO_TOLERANCE,
            "tempo_octave_ok": any(abs(ratio * factor - 1) <= TEMPO_TOLERANCE for factor in (0.5, 1, 2)),
        }
        chords = chord_comparisons(reference, estimate)
        for group in (pair["composer"], "all"):
            for name, value in row.items():
                totals[group][name].append(float(value))
            for rule, (matching, seconds) in chords.items():
                totals[group][rule].append((matching, seconds))
            totals[group]["fit"].append(melody_fit(reference.melody, estimate.chords))
            totals[group]["true_fit"].append(melody_fit(reference.melody, reference.chords))
        print(f"\r{number + 1}/{len(pairs)} pairs", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return totals


def summarise(values: list) -> float:
    if isinstance(values[0], tuple):
        return sum(value[0] for value in values) / max(sum(value[1] for value in values), 1e-9)
    return float(np.mean(values))


def print_table(totals: dict) -> None:
    columns = [("key", "key"), ("beat_f", "beat F"), ("beat_f_given_tempo", "beat F (tempo given)"),
               ("downbeat_f", "downbeat F"), ("tempo_ok", "tempo ±4%"), ("tempo_octave_ok", "tempo ±4% ×½,1,2"), ("root", "chord root"),
               ("majmin", "chord majmin"), ("fit", "sung note in chord"), ("true_fit", "… in true chord")]
    header = "| collection | pairs | " + " | ".join(title for _, title in columns) + " |"
    print(header)
    print("|" + "---|" * (len(columns) + 2))
    groups = sorted(group for group in totals if group != "all") + ["all"]
    for group in groups:
        values = totals[group]
        cells = [f"{summarise(values[name]):.2f}" for name, _ in columns]
        print(f"| {group} | {len(values['key'])} | " + " | ".join(cells) + " |")


def timing(corpus: Path, repeats: int, pitch: str, weights: str | None) -> list[tuple[str, float, float]]:
    """(stage, median wall ms, median CPU ms of this process): the machine is shared, so the CPU time (all the
    estimator's work is single-threaded) says what it costs on an idle machine, the wall time what it cost now."""
    if SEED_VOICE.is_file():
        voice, rate = soundfile.read(SEED_VOICE, dtype="float32", always_2d=True)
        voice, name = voice.mean(axis=1)[: 15 * rate], SEED_VOICE.name
    else:
        pair = json.loads((corpus / "manifest.json").read_text())["pairs"][0]
        voice, rate = soundfile.read(corpus / pair["vocals"], dtype="float32")
        voice, name = voice[: 15 * rate], pair["id"]
    voice = resample(voice, rate, ANALYSIS.sample_rate)
    magnitude = np.abs(codec.stft(voice, ANALYSIS))
    from vocals2song.backend import import_keras_quietly

    import_keras_quietly()
    from vocals2song.inference import vocals_to_song
    from vocals2song.model.weights import load_generator

    model = load_generator(weights)
    width = model.config.generator.width
    stages = [
        ("estimate_harmony, STFT given (as in inference)",
         lambda: estimate_harmony(voice, ANALYSIS.sample_rate, magnitude=magnitude, pitch_method=pitch)),
        ("estimate_harmony, STFT included", lambda: estimate_harmony(voice, ANALYSIS.sample_rate, pitch_method=pitch)),
        (f"vocals_to_song, width {width}, plan read (harmony='auto')",
         lambda: vocals_to_song(voice, ANALYSIS.sample_rate, model, harmony="auto")),
        (f"vocals_to_song, width {width}, no plan (harmony=None)",
         lambda: vocals_to_song(voice, ANALYSIS.sample_rate, model, harmony=None)),
    ]
    rows = []
    for label, call in stages:
        call()
        walls, cpus = [], []
        for _ in range(repeats):
            started, cpu_started = time.perf_counter(), time.process_time()
            call()
            walls.append(time.perf_counter() - started)
            cpus.append(time.process_time() - cpu_started)
        rows.append((f"{label}, 15 s ({name})", 1000 * statistics.median(walls), 1000 * statistics.median(cpus)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--split", default="test")
    parser.add_argument("--max-pairs", type=int)
    parser.add_argument("--pitch", default="yin", choices=("yin", "pyin", "chroma"))
    parser.add_argument("--jazz", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--weights", help="the generator timed in vocals_to_song (default: the packaged one)")
    parser.add_argument("--timing-only", action="store_true", help="skip the accuracy tables")
    args = parser.parse_args(argv)
    if not args.timing_only:
        totals = score_corpus(args.corpus, args.split, args.max_pairs, args.pitch, args.jazz)
        print(f"\n{args.split} split of {args.corpus}, pitch tracker {args.pitch}, jazz {args.jazz}\n")
        print_table(totals)
    load = os.getloadavg()[0]
    print(f"\n| stage (load average {load:.1f} on {os.cpu_count()} cores) | wall ms (median) | CPU ms (median, all threads) |")
    print("|---|---|---|")
    for label, wall, cpu in timing(args.corpus, args.repeats, args.pitch, args.weights):
        print(f"| {label} | {wall:.0f} | {cpu:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
