"""Count the harmony estimator's tables from the corpus's own scores: writes vocals2song/data/chord_transitions.json.

For every training-split score of the chosen collections (Bach chorales and Palestrina by default; never a
held-out composer, never a validation piece, so the estimator can be tuned on validation and measured on test),
music21 ``chordify`` gives one chord per beat (:func:`vocals2song.corpus.scores.chords_per_beat`), reduced to the
estimator's 36 chords (:func:`vocals2song.plan.harmony.reduce_chord`) and taken per half bar
(:func:`vocals2song.plan.estimate.segment_bounds`: the chord that sounds longest in the segment). Counted, key
relative (the piece's key by music21's analysis):

* ``initial[mode]``: the first segment's chord (36 counts);
* ``transitions[mode]``: chord → next segment's chord (36 × 36; a held chord counts as a self-transition);
* ``melody[quality]``: how long the melody (the top part's top line) sounds each pitch class above the
  chord's root (3 qualities × 12), in quarter lengths.

The JSON keeps the raw counts (the estimator smooths and normalises them), the pieces used and the settings.

Usage: python tools/build_chord_table.py [--collections bach palestrina] [--max-per-collection 400] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from vocals2song.plan.estimate import TABLE_PATH, segment_bounds
from vocals2song.plan.harmony import ESTIMATED_QUALITIES, chord_index, reduce_chord
from vocals2song.corpus.scores import (beat_grid, chord_slices, chords_per_beat, mean_pitch, parse_piece, part_notes,
                                read_meter, select_pieces, split_for_piece, top_line)

NB_CHORDS = 12 * len(ESTIMATED_QUALITIES)


def piece_counts(piece) -> dict | None:
    """One piece's counts, or None when it gives no usable chord."""
    score = parse_piece(piece)
    parts = [notes for notes in (part_notes(part) for part in score.parts) if notes]
    if len(parts) < 2:
        return None
    melody = top_line(parts[int(np.argmax([mean_pitch(notes) for notes in parts]))])
    meter = read_meter(score)
    end = float(score.highestTime)
    beats, downbeats = beat_grid(meter, end)
    per_beat = chords_per_beat(chord_slices(score), beats, end)
    beats_per_segment = 3 if meter.numerator in (3, 9) else 2
    key = score.analyze("key")
    mode = key.mode if key.mode in ("major", "minor") else "major"
    tonic = key.tonic.pitchClass

    sequence = []
    melody_counts = np.zeros((len(ESTIMATED_QUALITIES), 12))
    for start, stop in segment_bounds(beats, downbeats, end, beats_per_segment):
        durations: dict[tuple[int, str], float] = {}
        for chord_start, chord_end, label in per_beat:
            overlap = min(stop, chord_end) - max(start, chord_start)
            reduced = reduce_chord(*label) if overlap > 0 and not isinstance(label, str) else None
            if reduced:
                durations[reduced] = durations.get(reduced, 0.0) + overlap
        if not durations:
            continue
        root, quality = max(durations, key=lambda chord: (durations[chord], chord))
        sequence.append(chord_index((root - tonic) % 12, quality))
        for note in melody:
            overlap = min(stop, note.offset + note.duration) - max(start, note.offset)
            if overlap > 0:
                melody_counts[ESTIMATED_QUALITIES.index(quality), (int(round(note.pitch)) - root) % 12] += overlap
    if len(sequence) < 2:
        return None
    return {"mode": mode, "sequence": sequence, "melody": melody_counts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--collections", nargs="+", default=["bach", "palestrina"])
    parser.add_argument("--max-per-collection", type=int, default=400)
    parser.add_argument("--out", default=str(TABLE_PATH))
    args = parser.parse_args(argv)

    pieces = [piece for piece in select_pieces(None, seed=0)
              if piece.name.split("/", 1)[0] in args.collections and split_for_piece(piece.name) == "train"]
    chosen = []
    for collection in args.collections:
        chosen += [piece for piece in pieces if piece.name.startswith(collection + "/")][:args.max_per_collection]
    initial = {mode: np.zeros(NB_CHORDS) for mode in ("major", "minor")}
    transitions = {mode: np.zeros((NB_CHORDS, NB_CHORDS)) for mode in ("major", "minor")}
    melody = np.zeros((len(ESTIMATED_QUALITIES), 12))
    used, failed, started = [], 0, time.monotonic()
    for index, piece in enumerate(chosen):
        try:
            counts = piece_counts(piece)
        except Exception as error:  # music21 raises many kinds of errors on odd scores
            print(f"skipped {piece.name}: {type(error).__name__}", file=sys.stderr)
            failed += 1
            continue
        if counts is None:
            continue
        sequence, mode = counts["sequence"], counts["mode"]
        initial[mode][sequence[0]] += 1
        for previous, current in zip(sequence[:-1], sequence[1:]):
            transitions[mode][previous, current] += 1
        melody += counts["melody"]
        used.append(piece.name)
        print(f"\r{index + 1}/{len(chosen)} pieces, {time.monotonic() - started:.0f} s", end="", file=sys.stderr)
    print(file=sys.stderr)

    table = {
        "format": "vocals2song-chord-table",
        "version": 1,
        "qualities": list(ESTIMATED_QUALITIES),
        "chord_order": "index = quality_index * 12 + root pitch class relative to the key's tonic",
        "source": {"collections": args.collections, "pieces": len(used), "failed": failed,
                   "segments": {mode: int(transitions[mode].sum() + initial[mode].sum()) for mode in initial},
                   "builder": "tools/build_chord_table.py"},
        "initial": {mode: initial[mode].astype(int).tolist() for mode in initial},
        "transitions": {mode: transitions[mode].astype(int).tolist() for mode in transitions},
        "melody": {quality: np.round(melody[index], 2).tolist() for index, quality in enumerate(ESTIMATED_QUALITIES)},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(table, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {out}: {len(used)} pieces, {table['source']['segments']} segments", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
