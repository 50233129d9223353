"""Reading music21's scores for the corpus: which pieces, their parts as notes, their meter, and their true harmony.

The corpus (:mod:`vocals2song.corpus.build`) renders what this module reads:

* :func:`select_pieces` lists music21's scores (a seeded, diverse round-robin over collections) and
  :func:`split_for_piece` gives each its split (held-out composers are "test");
* :func:`part_notes`, :func:`top_line` and :func:`read_meter` turn a parsed score into plain notes and a bar grid
  in quarter lengths; :func:`generate_accompaniment` writes a bass and chord part for a lone melody;
* :func:`chord_slices` (music21 ``chordify``), :func:`beat_grid` and :func:`chords_per_beat` give the true
  harmony a rendered pair follows: one chord per beat, labelled as mir_eval labels them; :func:`analyze_key` its key.

Everything here imports music21 lazily (a training-side module: the runtime never imports it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vocals2song.plan.harmony import QUALITY_INTERVALS, Chord, Harmony, MelodyNote

# music21 corpus folder -> composer label, in the round-robin order used to pick a diverse selection
# (a held-out composer comes third, so any selection of 4 or more pieces has a test piece).
COLLECTIONS = (("bach", "bach"), ("essenFolksong", "folk"), ("monteverdi", "monteverdi"),
               ("palestrina", "palestrina"), ("ryansMammoth", "folk"), ("beethoven", "beethoven"),
               ("haydn", "haydn"), ("mozart", "mozart"))
TEST_COMPOSERS = frozenset({"beethoven", "haydn", "mozart", "monteverdi"})
VALIDATION_PERCENT = 5
SCORE_PREFERENCE = (".mxl", ".musicxml", ".xml", ".krn", ".abc")  # when a piece comes in several formats
SCORE_SUFFIXES = frozenset(SCORE_PREFERENCE)

# A chord slice's label: (root pitch class, quality as in vocals2song.plan.harmony.QUALITY_INTERVALS), or None when
# music21 names no triad or seventh (an open fifth, a quartal or cluster sonority...).
Label = tuple[int, str] | None
SEVENTH_QUALITIES = {"major": "maj7", "minor": "min7"}
TRIAD_QUALITIES = {"major": "maj", "minor": "min", "diminished": "dim", "augmented": "aug"}
MELODY_WEIGHT = 2.0  # reduce_slices: how much the sung line on a chord's tones counts beside how long it sounds
SPLIT_GAIN = 0.125  # reduce_slices: a bar takes two chords where they hold this share of its length more of the tune


@dataclass(frozen=True)
class Piece:
    """One score of music21's corpus: ``name`` like "bach/bwv66.6" or "essenFolksong/altdeu10#17"."""

    name: str
    path: str
    number: int | None      # tune number inside a multi-tune ABC file, else None
    composer: str


def parse_piece(piece: Piece):
    """The parsed music21 score of a piece (the first tune when the file is an Opus)."""
    from music21 import converter

    score = converter.parse(piece.path, number=piece.number, forceSource=True)
    if hasattr(score, "scores"):  # an Opus despite the number: take its first tune
        score = score.scores[0]
    return score


def split_for_piece(piece_name: str) -> str:
    """The split of a piece named "<collection>/<score>": "test" for held-out composers, else a
    deterministic 5 % "validation" (hash of the name), else "train"."""
    collection = piece_name.split("/", 1)[0]
    if dict(COLLECTIONS).get(collection, collection) in TEST_COMPOSERS:
        return "test"
    return "validation" if stable_hash(piece_name) % 100 < VALIDATION_PERCENT else "train"


def select_pieces(count: int | None, seed: int) -> list[Piece]:
    """All corpus pieces in a seeded round-robin over collections, or the first ``count`` of them.

    Each collection is shuffled with ``seed``; taking one piece per collection in turn makes any prefix
    diverse, and ``count`` pieces are always that prefix (so piece indexes, and shards, are stable).
    Only file names are listed (multi-tune ABC files are scanned for their "X:" numbers), nothing parsed.
    """
    from music21 import corpus

    rng = np.random.default_rng(seed)
    queues = []
    for collection, composer in COLLECTIONS:
        collection_pieces = []
        seen_stems = set()
        # One score per piece: music21 ships some pieces twice (e.g. .krn and .mxl); take the preferred format.
        paths = sorted((Path(path) for path in corpus.getComposer(collection)
                        if Path(path).suffix.lower() in SCORE_SUFFIXES),
                       key=lambda path: (str(path.with_suffix("")), SCORE_PREFERENCE.index(path.suffix.lower())))
        for path in paths:
            stem = _relative_stem(path, collection)
            if stem in seen_stems:
                continue
            seen_stems.add(stem)
            numbers = _abc_tune_numbers(path) if path.suffix.lower() == ".abc" else []
            if len(numbers) > 1:
                collection_pieces += [Piece(f"{collection}/{stem}#{number}", str(path), number, composer)
                                      for number in numbers]
            else:
                collection_pieces.append(Piece(f"{collection}/{stem}", str(path), None, composer))
        queues.append([collection_pieces[index] for index in rng.permutation(len(collection_pieces))])
    selection = []
    for round_index in range(max((len(queue) for queue in queues), default=0)):
        selection += [queue[round_index] for queue in queues if round_index < len(queue)]
        if count is not None and len(selection) >= count:
            break
    return selection if count is None else selection[:count]


def stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "big")


def _relative_stem(path: Path, collection: str) -> str:
    """"opus18no1/movement1" for .../corpus/beethoven/opus18no1/movement1.mxl."""
    parts = path.with_suffix("").parts
    if collection in parts:
        return "/".join(parts[len(parts) - parts[::-1].index(collection):])
    return path.stem


def _abc_tune_numbers(path: Path) -> list[int]:
    """The "X:" reference numbers of an ABC file (one per tune)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return [int(number) for number in re.findall(r"^X:\s*(\d+)", text, flags=re.MULTILINE)]


@dataclass(frozen=True)
class PartNote:
    """A score note in quarter lengths from the start of the piece, pitch as MIDI number."""

    offset: float
    duration: float
    pitch: float
    lyric: str | None = None


@dataclass
class Meter:
    numerator: int
    denominator: int
    bars: list[tuple[float, float]]     # (offset, length) of each bar, quarter lengths

    @property
    def compound(self) -> bool:
        return self.denominator == 8 and self.numerator in (6, 9, 12)

    @property
    def beat_quarters(self) -> float:
        return 4.0 / self.denominator * (3 if self.compound else 1)

    @property
    def bar_quarters(self) -> float:
        return 4.0 * self.numerator / self.denominator


def part_notes(part) -> list[PartNote]:
    """The pitched notes of a music21 part (ties merged, grace notes dropped), chords as several notes."""
    notes = []
    for element in part.flatten().stripTies().notes:
        duration = float(element.duration.quarterLength)
        if duration <= 0:
            continue
        pitches = getattr(element, "pitches", ())
        lyric = element.lyric if not element.isChord else None
        lyric = lyric.replace("\u00ad", "").strip("- ") or None if lyric else None
        notes += [PartNote(float(element.offset), duration, float(pitch.ps), lyric) for pitch in pitches]
    return notes


def mean_pitch(notes: list[PartNote]) -> float:
    return float(np.average([note.pitch for note in notes], weights=[note.duration for note in notes]))


def top_line(notes: list[PartNote]) -> list[PartNote]:
    """One note per onset, the highest; a lyric on any note of a chord is kept."""
    by_onset: dict[float, PartNote] = {}
    for note in notes:
        current = by_onset.get(note.offset)
        if current is None or note.pitch > current.pitch:
            by_onset[note.offset] = dataclasses.replace(note, lyric=note.lyric or (current.lyric if current else None))
    return [by_onset[offset] for offset in sorted(by_onset)]


def read_meter(score) -> Meter:
    """The first time signature (4/4 when none) and the bar grid of the score's first part."""
    from music21 import meter

    signatures = list(score.recurse().getElementsByClass(meter.TimeSignature))
    numerator, denominator = (signatures[0].numerator, signatures[0].denominator) if signatures else (4, 4)
    measures = list(score.parts[0].getElementsByClass("Measure"))
    bars = [(float(measure.offset), float(measure.duration.quarterLength)) for measure in measures
            if measure.duration.quarterLength > 0]
    result = Meter(int(numerator), int(denominator), bars)
    if not bars:
        length = float(score.highestTime)
        result.bars = [(offset, result.bar_quarters) for offset in np.arange(0.0, length, result.bar_quarters)]
    return result


def generate_accompaniment(score, melody: list[PartNote], meter: Meter,
                            rng: np.random.Generator) -> tuple[list[list[PartNote]], list]:
    """A bass line and a chord part for a lone melody: per bar the diatonic triad (I, ii, IV, V, vi or
    their minor-key counterparts) that best covers the bar's melody notes.

    Returns:
        ([bass notes, chord notes], bar chords): notes in quarter lengths, before transposition; bar chords as
        (bar offset, bar length, triad pitch classes root first), the true harmony of what is played.
    """
    key = score.analyze("key")
    tonic = key.tonic.pitchClass
    if key.mode == "minor":
        scale, degrees = (0, 2, 3, 5, 7, 8, 11), (0, 3, 4, 5, 2)   # i, iv, V (raised 7th), VI, III
    else:
        scale, degrees = (0, 2, 4, 5, 7, 9, 11), (0, 1, 3, 4, 5)   # I, ii, IV, V, vi
    triads = [tuple((tonic + scale[(degree + step) % 7]) % 12 for step in (0, 2, 4)) for degree in degrees]

    bass_style = rng.choice(["held", "root-fifth", "beats"])
    chord_style = rng.choice(["held", "beats", "arpeggio"])
    bass, chords, bar_chords = [], [], []
    for bar_index, (bar_offset, bar_length) in enumerate(meter.bars):
        in_bar = [note for note in melody if bar_offset <= note.offset < bar_offset + bar_length]
        scores = []
        for triad_index, triad in enumerate(triads):
            covered = sum(note.duration for note in in_bar if int(round(note.pitch)) % 12 in triad)
            downbeat = 0.5 if in_bar and int(round(in_bar[0].pitch)) % 12 == triad[0] else 0.0
            home = 0.3 if triad_index == 0 and bar_index in (0, len(meter.bars) - 1) else 0.0
            scores.append(covered + downbeat + home + 0.01 * rng.random())
        triad = triads[int(np.argmax(scores))]
        bar_chords.append((bar_offset, bar_length, triad))
        root = 36 + (triad[0] - 36) % 12                      # bass root in C2..B2
        voicing = [48 + (pitch_class - 48) % 12 + 12 for pitch_class in triad]   # close triad in C4..B4
        beat = meter.beat_quarters
        beats = [bar_offset + step * beat for step in range(max(1, int(round(bar_length / beat))))]
        if bass_style == "held":
            bass.append(PartNote(bar_offset, bar_length, root))
        elif bass_style == "root-fifth":
            half = bar_length / 2
            bass += [PartNote(bar_offset, half, root), PartNote(bar_offset + half, half, root + 7)]
        else:
            bass += [PartNote(onset, beat * 0.9, root + (7 if index % 2 else 0)) for index, onset in enumerate(beats)]
        if chord_style == "held":
            chords += [PartNote(bar_offset, bar_length, pitch) for pitch in voicing]
        elif chord_style == "beats":
            chords += [PartNote(onset, beat * 0.8, pitch) for onset in beats for pitch in voicing]
        else:
            step = beat / (3 if meter.compound else 2)
            onsets = np.arange(bar_offset, bar_offset + bar_length - 1e-6, step)
            chords += [PartNote(float(onset), step, voicing[index % 3]) for index, onset in enumerate(onsets)]
    return [bass, chords], bar_chords


# ----------------------------------------------------------------------------------------------------
# The true harmony


def chord_label(chord) -> Label:
    """(root pitch class, quality) of a music21 chord, or None when it is not a triad or a seventh chord.

    Two-note thirds count as their triad (C–E is C major); a dominant seventh is ``"7"``.
    """
    if len(set(chord.pitchClasses)) < 2:
        return None
    quality = chord.quality
    if chord.isDominantSeventh():
        name = "7"
    elif chord.isDiminishedSeventh():
        name = "dim7"
    elif chord.isHalfDiminishedSeventh():
        name = "hdim7"
    elif chord.isSeventh():
        name = SEVENTH_QUALITIES.get(quality)
    else:
        name = TRIAD_QUALITIES.get(quality)
    return None if name is None else (int(chord.root().pitchClass), name)


def chord_slices(score) -> list[tuple[float, float, Label]]:
    """The score's vertical sonorities (music21 ``chordify`` of all parts) as (offset, duration, label), quarter
    lengths from the start of the piece; rests are left out."""
    chordified = score.chordify()
    slices = []
    for chord in chordified.recurse().getElementsByClass("Chord"):
        duration = float(chord.duration.quarterLength)
        if duration > 0:
            slices.append((float(chord.getOffsetInHierarchy(chordified)), duration, chord_label(chord)))
    return slices


def bar_chord_slices(bar_chords: list[tuple[float, float, tuple[int, ...]]]) -> list[tuple[float, float, Label]]:
    """Slices of a generated accompaniment: (bar offset, bar length, triad pitch classes) → labelled slices."""
    slices = []
    for offset, length, triad in bar_chords:
        third, fifth = (triad[1] - triad[0]) % 12, (triad[2] - triad[0]) % 12
        quality = {(4, 7): "maj", (3, 7): "min", (3, 6): "dim", (4, 8): "aug"}.get((third, fifth))
        slices.append((offset, length, None if quality is None else (triad[0], quality)))
    return slices


def reduce_slices(slices: list[tuple[float, float, Label]], meter: Meter, parts_per_bar: int = 1,
                  melody: list[PartNote] = (), melody_weight: float = MELODY_WEIGHT,
                  split_gain: float | None = None) -> list[tuple[float, float, Label]]:
    """A song's harmonic rhythm from a score's sonorities: per bar (or per half bar, ``parts_per_bar`` = 2), of the
    labels that sound in it, the one that scores highest: how long it sounds (its first beat counting double) plus
    ``melody_weight`` times the quarters of ``melody`` in the span that are its tones, so the sung line sits on the
    chord it is given. A ``None`` slice never wins while a labelled one sounds.

    With ``split_gain`` (and one part per bar), a full bar takes two chords, one per half, where the tune asks for it:
    where the halves' chords hold more of the tune on their tones than the bar's chord does by over ``split_gain``
    times the bar's length.

    Returns (offset, duration, label) slices, quarter lengths; a span where nothing labelled sounds is None.
    """
    order = sorted(slices, key=lambda piece: (piece[0], piece[1]))

    def divided(bar_offset: float, bar_length: float, count: int) -> list[tuple[float, float, Label]]:
        step = bar_length / count
        return [(bar_offset + part * step, step, _reduced_label(order, bar_offset + part * step,
                                                                 bar_offset + (part + 1) * step, meter, melody,
                                                                 melody_weight)) for part in range(count)]

    def on_tones(spans: list[tuple[float, float, Label]]) -> float:
        return sum(_melody_on_tones(melody, label, start, start + length) for start, length, label in spans)

    reduced = []
    for bar_offset, bar_length in meter.bars:
        full = bar_length >= meter.bar_quarters - 1e-6
        spans = divided(bar_offset, bar_length, parts_per_bar if full else 1)
        if split_gain is not None and len(spans) == 1 and full and spans[0][2] is not None:
            halves = divided(bar_offset, bar_length, 2)
            if all(label is not None for _, _, label in halves) and \
                    on_tones(halves) - on_tones(spans) > split_gain * bar_length:
                spans = halves
        reduced += spans
    return reduced


def _reduced_label(order: list[tuple[float, float, Label]], start: float, end: float, meter: Meter,
                   melody: list[PartNote], melody_weight: float) -> Label:
    """:func:`reduce_slices`'s chord for the span ``start``–``end``: ``order`` is the slices sorted by offset."""
    weights: dict[tuple[int, str], float] = {}
    for offset, length, label in order:
        if offset >= end:
            break
        overlap = min(end, offset + length) - max(start, offset)
        if overlap > 0 and label is not None:
            first_beat = min(end, start + meter.beat_quarters, offset + length) - max(start, offset)
            weights[label] = weights.get(label, 0.0) + overlap + max(0.0, first_beat)
    for label in weights:
        weights[label] += melody_weight * _melody_on_tones(melody, label, start, end)
    return max(weights, key=lambda key: (weights[key], key)) if weights else None


def _melody_on_tones(melody: list[PartNote], label: tuple[int, str], start: float, end: float) -> float:
    """Quarters of ``melody`` between ``start`` and ``end`` whose pitch class is a tone of ``label``."""
    tones = {(label[0] + interval) % 12 for interval in QUALITY_INTERVALS[label[1]]}
    return sum(max(0.0, min(end, note.offset + note.duration) - max(start, note.offset)) for note in melody
               if int(round(note.pitch)) % 12 in tones)


def beat_grid(meter: Meter, end_quarters: float) -> tuple[list[float], list[float]]:
    """Beat and downbeat positions (quarter lengths) of a score's bars, up to ``end_quarters``.

    A first bar shorter than the meter is a pickup: its beats are the last beats of a bar, counted back from its
    end, and it has no downbeat. Later bars start with a downbeat and count beats from there.
    """
    beats, downbeats = [], []
    step = meter.beat_quarters
    for index, (offset, length) in enumerate(meter.bars):
        if offset >= end_quarters:
            break
        end = offset + length
        if index == 0 and length < meter.bar_quarters - 1e-6:
            count = int(np.floor(length / step + 1e-6))
            beats += [end - position * step for position in range(count, 0, -1)]
            continue
        downbeats.append(offset)
        beats += list(np.arange(offset, end - 1e-6, step))
    return [float(beat) for beat in beats if beat < end_quarters], [float(b) for b in downbeats]


def chords_per_beat(slices: list[tuple[float, float, Label]], beats: list[float],
                    end_quarters: float) -> list[tuple[float, float, Label | str]]:
    """One chord per beat: the label that sounds longest in it (unlabelled slices count only when nothing else
    sounds, as ``"X"``; a beat where nothing sounds is ``"N"``). Neighbouring equal chords are merged.

    Returns:
        (start, end, label) in quarter lengths, covering 0..``end_quarters`` (a stretch before the first beat
        is a segment of its own).
    """
    boundaries = sorted({0.0, *[beat for beat in beats if 0 < beat < end_quarters]}) + [end_quarters]
    order = sorted(slices, key=lambda piece: (piece[0], piece[1]))  # labels may be None: never compared
    segments: list[tuple[float, float, Label | str]] = []
    first_open = 0
    for start, end in zip(boundaries[:-1], boundaries[1:]):
        if end <= start:
            continue
        while first_open < len(order) and order[first_open][0] + order[first_open][1] <= start:
            first_open += 1
        durations: dict[Label, float] = {}
        for offset, length, label in order[first_open:]:
            if offset >= end:
                break
            overlap = min(end, offset + length) - max(start, offset)
            if overlap > 0:
                durations[label] = durations.get(label, 0.0) + overlap
        known = {label: seconds for label, seconds in durations.items() if label is not None}
        label = max(known, key=lambda key: (known[key], key)) if known else ("X" if durations else "N")
        if segments and segments[-1][2] == label:
            segments[-1] = (segments[-1][0], end, label)
        else:
            segments.append((start, end, label))
    return segments


def analyze_key(notes: list[PartNote]) -> tuple[int, str]:
    """The key of some notes by music21's key analysis (all parts count): (tonic pitch class, "major"/"minor")."""
    from music21 import note as m21note
    from music21 import stream

    holder = stream.Stream()
    for part_note in notes:
        if part_note.duration > 0:
            holder.insert(part_note.offset, m21note.Note(part_note.pitch, quarterLength=part_note.duration))
    key = holder.analyze("key")
    return int(key.tonic.pitchClass), str(key.mode) if key.mode in ("major", "minor") else "major"


def performed_harmony(slices: list[tuple[float, float, Label]], meter: Meter, *, seconds_per_quarter: float,
                      transpose: int, tempo_bpm: float, end_seconds: float, key: tuple[int, str],
                      melody: list[tuple[float, float, float]]) -> Harmony:
    """The true plan of a rendered performance: the score's beats and per-beat chords in seconds, transposed.

    Args:
        slices: :func:`chord_slices` (or :func:`bar_chord_slices`) of the score, quarter lengths.
        seconds_per_quarter, transpose: the rendering's tempo and transposition (semitones).
        tempo_bpm: beats per minute of the meter's beat.
        end_seconds: length of the performance.
        key: (tonic pitch class, mode) before transposition.
        melody: the sung notes as (start seconds, end seconds, MIDI pitch), as sung (transposed).
    """
    end_quarters = end_seconds / seconds_per_quarter
    beats, downbeats = beat_grid(meter, end_quarters)
    chords = []
    for start, end, label in chords_per_beat(slices, beats, end_quarters):
        if isinstance(label, str):
            chord = Chord(start * seconds_per_quarter, end * seconds_per_quarter, -1, label)
        else:
            chord = Chord(start * seconds_per_quarter, end * seconds_per_quarter, (label[0] + transpose) % 12, label[1])
        chords.append(chord)
    return Harmony(
        key_tonic=(key[0] + transpose) % 12,
        key_mode=key[1],
        tempo_bpm=float(tempo_bpm),
        beats=tuple(beat * seconds_per_quarter for beat in beats),
        downbeats=tuple(beat * seconds_per_quarter for beat in downbeats),
        chords=tuple(chords),
        duration=float(end_seconds),
        melody=tuple(MelodyNote(start, end, pitch) for start, end, pitch in melody),
    )


def excerpt_harmony(performance: Harmony, notes: list[PartNote], start_seconds: float, end_seconds: float,
                    seconds_per_quarter: float, transpose: int) -> Harmony:
    """The true plan of one excerpt: :meth:`Harmony.window` of the performance, with the key of the notes
    (all parts, quarter lengths, before transposition) that sound in the excerpt."""
    start_quarters, end_quarters = start_seconds / seconds_per_quarter, end_seconds / seconds_per_quarter
    inside = [note for note in notes if note.offset < end_quarters and note.offset + note.duration > start_quarters]
    excerpt = performance.window(start_seconds, end_seconds)
    if not inside:
        return excerpt
    tonic, mode = analyze_key(inside)
    return dataclasses.replace(excerpt, key_tonic=(tonic + transpose) % 12, key_mode=mode)
