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

Rows: each collection, then the pairs whose singer sang and those whose singer spoke (``speech_like`` in the
manifest: a spoken voice follows the tune's pitches only loosely, so its key and chords are barely in it), then all.

A second table shows where the tempo goes wrong: the share of pairs whose estimate is the true tempo, or its half,
two thirds, three halves or double (within 4 %), or none of these.

Then the median time of :func:`vocals2song.plan.estimate.estimate_harmony` on a 15 s voice (the original project's demo
recording when ``../shared/seed-samples`` is beside the checkout, else a rendered voice), with and without the
STFT magnitude given (inference gives it), and of the whole :func:`vocals2song.inference.vocals_to_song` with the
generator in ``--weights`` (default: the packaged one) with the plan read (``harmony="auto"``) and without
(``harmony=None``).

With ``--rhythm``, instead: the harmonic-rhythm table. Per chord rhythm (per beat, per half bar, per bar at each
``--mid-bar-costs``), the share of the sung notes' duration on a tone of the estimated chord, the median chord in
beats, chord root and majmin against the score and the key; beside two floors (the true key's tonic triad
throughout; per bar, the true key's diatonic triad the bar's sung notes fit best) and the pair's own plan.

Usage: python bench/bench_harmony.py CORPUS [--split test] [--max-pairs N] [--pitch yin|pyin|chroma]
           [--jazz 0.5] [--repeats 7] [--weights DIR] [--rhythm [--mid-bar-costs 0 2 4 8]]
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
from vocals2song.plan.estimate import MID_BAR_CHANGE_COST, estimate_harmony  # noqa: E402
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
        for group in (pair["composer"], voice_kind(pair), "all"):
            for name, value in row.items():
                totals[group][name].append(float(value))
            for rule, (matching, seconds) in chords.items():
                totals[group][rule].append((matching, seconds))
            totals[group]["fit"].append(melody_fit(reference.melody, estimate.chords))
            totals[group]["true_fit"].append(melody_fit(reference.melody, reference.chords))
            totals[group]["tempo_ratio"].append(ratio)
        print(f"\r{number + 1}/{len(pairs)} pairs", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return totals


MAJOR_TRIADS = ((0, "maj"), (2, "min"), (4, "min"), (5, "maj"), (7, "maj"), (9, "min"), (11, "dim"))
MINOR_TRIADS = ((0, "min"), (2, "dim"), (3, "maj"), (5, "min"), (7, "min"), (7, "maj"), (8, "maj"), (10, "maj"))


def bar_spans(reference: Harmony) -> list[tuple[float, float]]:
    """The reference's bars as (start, end), with a pickup before the first bar line as a bar of its own."""
    lines = [0.0] + [float(time) for time in reference.downbeats if time > 0] + [float(reference.duration)]
    return [(start, end) for start, end in zip(lines, lines[1:]) if end > start]


def floor_chords(reference: Harmony, kind: str) -> list:
    """The floors' chords over the reference's span: "tonic" (the true key's tonic triad throughout) or "diatonic"
    (per bar, the diatonic triad of the true key that the sung notes of that bar fit best: chosen with the melody,
    so a generous floor)."""
    from vocals2song.plan.harmony import Chord

    tonic, mode = reference.key_tonic, reference.key_mode
    if kind == "tonic":
        return [Chord(0.0, reference.duration, tonic, "maj" if mode == "major" else "min")]
    triads = MAJOR_TRIADS if mode == "major" else MINOR_TRIADS
    chords = []
    for start, end in bar_spans(reference):
        notes = [note for note in reference.melody if note.end > start and note.start < end]
        candidates = [Chord(start, end, (tonic + degree) % 12, quality) for degree, quality in triads]
        chords.append(max(candidates, key=lambda chord: melody_fit(notes, [chord])[0]))
    return chords


def median_chord_beats(harmony: Harmony) -> float:
    """The median chord length in beats of the harmony's own tempo (chords merged when equal neighbours)."""
    seconds_per_beat = 60.0 / harmony.tempo_bpm
    return float(np.median([(chord.end - chord.start) / seconds_per_beat for chord in harmony.chords]))


def rhythm_table(corpus: Path, split: str, max_pairs: int | None, costs: list[float], pitch: str, jazz: float) -> str:
    """Fit and harmonic rhythm of the estimator per chord rhythm (and per mid-bar change cost for "bar") beside
    the floors and the score's own chords: the share of sung-note duration on a chord tone, the median chord in
    beats, and chord root / majmin against the score (MIREX-weighted)."""
    from vocals2song.plan.controls import PlanControls

    manifest = json.loads((corpus / "manifest.json").read_text())
    pairs = [pair for pair in manifest["pairs"] if pair["split"] == split and "harmony" in pair]
    if max_pairs:
        pairs = pairs[:: max(1, len(pairs) // max_pairs)][:max_pairs]
    systems = [("estimator, per beat", {"chord_rhythm": "beat"}, None),
               ("estimator, per half bar", {"chord_rhythm": "half"}, None)]
    systems += [(f"estimator, per bar (mid-bar change cost {cost:g})", {"chord_rhythm": "bar"}, cost) for cost in costs]
    totals: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for number, pair in enumerate(pairs):
        voice, rate = soundfile.read(corpus / pair["vocals"], dtype="float32")
        reference = Harmony.from_dict(pair["harmony"])
        for label, fields, cost in systems:
            estimate = estimate_harmony(voice, rate, PlanControls.make(jazz=jazz, **fields), pitch_method=pitch,
                                        mid_bar_cost=cost)
            row = totals[label]
            row["fit"].append(melody_fit(reference.melody, estimate.chords))
            row["beats"].append(median_chord_beats(estimate))
            for rule, value in chord_comparisons(reference, estimate).items():
                row[rule].append(value)
            row["key"].append(mir_eval.key.weighted_score(reference.key_label, estimate.key_label))
        for label, chords in (("floor: the tonic triad (true key)", floor_chords(reference, "tonic")),
                              ("floor: best diatonic triad per bar (true key)", floor_chords(reference, "diatonic")),
                              ("the score's chords (the pair's plan)", list(reference.chords))):
            stand_in = Harmony(reference.key_tonic, reference.key_mode, reference.tempo_bpm, reference.beats,
                               reference.downbeats, tuple(chords), reference.duration)
            row = totals[label]
            row["fit"].append(melody_fit(reference.melody, chords))
            row["beats"].append(median_chord_beats(stand_in))
            for rule, value in chord_comparisons(reference, stand_in).items():
                row[rule].append(value)
        print(f"\r{number + 1}/{len(pairs)} pairs (rhythm)", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    lines = [f"| plan ({len(pairs)} {split} pairs) | sung notes on a chord tone | median chord (beats) | chord root | "
             "chord majmin | key (MIREX) |", "|---|---|---|---|---|---|"]
    for label, row in totals.items():
        key = f"{np.mean(row['key']):.2f}" if row.get("key") else "–"
        lines.append(f"| {label} | {summarise(row['fit']):.2f} | {np.median(row['beats']):.1f} | "
                     f"{summarise(row['root']):.2f} | {summarise(row['majmin']):.2f} | {key} |")
    return "\n".join(lines)


def summarise(values: list) -> float:
    if isinstance(values[0], tuple):
        return sum(value[0] for value in values) / max(sum(value[1] for value in values), 1e-9)
    return float(np.mean(values))


VOICE_KINDS = ("sung voices", "spoken voices")


def voice_kind(pair: dict) -> str:
    """Whether the pair's singer sang or spoke (a spoken voice follows the tune's pitches only loosely)."""
    return VOICE_KINDS[1] if pair.get("singer", {}).get("speech_like") else VOICE_KINDS[0]


def row_groups(totals: dict) -> list[str]:
    """The table rows: the collections in name order, then sung and spoken voices, then "all"."""
    kinds = [kind for kind in VOICE_KINDS if kind in totals]
    return sorted(group for group in totals if group != "all" and group not in VOICE_KINDS) + kinds + ["all"]


def print_table(totals: dict) -> None:
    columns = [("key", "key"), ("beat_f", "beat F"), ("beat_f_given_tempo", "beat F (tempo given)"),
               ("downbeat_f", "downbeat F"), ("tempo_ok", "tempo ±4%"), ("tempo_octave_ok", "tempo ±4% ×½,1,2"), ("root", "chord root"),
               ("majmin", "chord majmin"), ("fit", "sung note in chord"), ("true_fit", "… in true chord")]
    header = "| collection | pairs | " + " | ".join(title for _, title in columns) + " |"
    print(header)
    print("|" + "---|" * (len(columns) + 2))
    for group in row_groups(totals):
        values = totals[group]
        cells = [f"{summarise(values[name]):.2f}" for name, _ in columns]
        print(f"| {group} | {len(values['key'])} | " + " | ".join(cells) + " |")


TEMPO_RATIOS = ((0.5, "×½"), (2.0 / 3.0, "×⅔"), (1.0, "×1"), (1.5, "×3/2"), (2.0, "×2"))


def print_tempo_ratios(totals: dict) -> None:
    """Where the tempo goes wrong: per collection, the share of pairs whose estimated tempo is within 4 % of the true
    one times each of :data:`TEMPO_RATIOS`, or of none."""
    print("| collection | pairs | " + " | ".join(title for _, title in TEMPO_RATIOS) + " | other |")
    print("|" + "---|" * (len(TEMPO_RATIOS) + 3))
    for group in row_groups(totals):
        ratios = np.asarray(totals[group]["tempo_ratio"])
        hits = [np.abs(ratios / factor - 1) <= TEMPO_TOLERANCE for factor, _ in TEMPO_RATIOS]
        cells = [f"{np.mean(hit):.2f}" for hit in hits] + [f"{np.mean(~np.any(hits, axis=0)):.2f}"]
        print(f"| {group} | {len(ratios)} | " + " | ".join(cells) + " |")


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
    parser.add_argument("--rhythm", action="store_true",
                        help="only the harmonic-rhythm table: fit, chord length and accuracy per chord rhythm, "
                             "beside the floors and the score's chords")
    parser.add_argument("--mid-bar-costs", type=float, nargs="+", default=[MID_BAR_CHANGE_COST],
                        help="costs of a change inside a bar compared in the rhythm table")
    args = parser.parse_args(argv)
    if args.rhythm:
        print(f"\n{args.split} split of {args.corpus}, pitch tracker {args.pitch}, jazz {args.jazz}\n")
        print(rhythm_table(args.corpus, args.split, args.max_pairs, args.mid_bar_costs, args.pitch, args.jazz))
        return 0
    if not args.timing_only:
        totals = score_corpus(args.corpus, args.split, args.max_pairs, args.pitch, args.jazz)
        print(f"\n{args.split} split of {args.corpus}, pitch tracker {args.pitch}, jazz {args.jazz}\n")
        print_table(totals)
        print("\nestimated tempo / true tempo\n")
        print_tempo_ratios(totals)
    load = os.getloadavg()[0]
    print(f"\n| stage (load average {load:.1f} on {os.cpu_count()} cores) | wall ms (median) | CPU ms (median, all threads) |")
    print("|---|---|---|")
    for label, wall, cpu in timing(args.corpus, args.repeats, args.pitch, args.weights):
        print(f"| {label} | {wall:.0f} | {cpu:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
