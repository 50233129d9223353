"""The song's plan as a type: :class:`Harmony` (key, tempo, beats and bars, chords, melody) and its chord vocabulary.

The estimator that reads a plan from a voice is :mod:`vocals2song.plan.estimate`; the person's controls are
:class:`vocals2song.plan.controls.PlanControls`. Times are seconds from the start of the voice; pitch classes are
0 = C … 11 = B; MIDI pitches are floats. Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any


PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_LETTER_PITCH = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
# Chord qualities as intervals above the root (semitones); the estimator uses the first three.
QUALITY_INTERVALS = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "7": (0, 4, 7, 10),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
    "dim7": (0, 3, 6, 9),
    "hdim7": (0, 3, 6, 10),
}
ESTIMATED_QUALITIES = ("maj", "min", "7")
DISPLAY_SUFFIX = {"maj": "", "min": "m", "7": "7", "dim": "dim", "aug": "+", "maj7": "maj7", "min7": "m7",
                  "dim7": "dim7", "hdim7": "m7b5"}
MODES = ("major", "minor")
NO_CHORD = "N"
UNKNOWN_CHORD = "X"


@dataclass(frozen=True)
class Chord:
    """One chord segment.

    Attributes:
        start, end: seconds.
        root: pitch class 0-11, or -1 for no chord.
        quality: a key of :data:`QUALITY_INTERVALS`; with root -1, ``"N"`` (nothing sounds) or ``"X"`` (a
            sonority that is no triad or seventh chord: only a score's true harmony has these).
    """

    start: float
    end: float
    root: int
    quality: str

    @property
    def label(self) -> str:
        """mir_eval's label, e.g. ``"C:maj"``, ``"A:min"``, ``"G:7"``, ``"N"``, ``"X"``."""
        if self.root < 0:
            return UNKNOWN_CHORD if self.quality == UNKNOWN_CHORD else NO_CHORD
        return f"{PITCH_NAMES[self.root]}:{self.quality}"

    @property
    def name(self) -> str:
        """The chart name, e.g. ``"C"``, ``"Am"``, ``"G7"``, ``"N.C."`` (no chord), ``"?"``."""
        if self.root < 0:
            return "?" if self.quality == UNKNOWN_CHORD else "N.C."
        return PITCH_NAMES[self.root] + DISPLAY_SUFFIX[self.quality]

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        """The chord's tones as pitch classes, root first (empty for no chord)."""
        if self.root < 0:
            return ()
        return tuple((self.root + interval) % 12 for interval in QUALITY_INTERVALS[self.quality])


@dataclass(frozen=True)
class MelodyNote:
    """A sung note: start and end in seconds, MIDI pitch (float; 69 = A4)."""

    start: float
    end: float
    pitch: float


@dataclass(frozen=True)
class Harmony:
    """The plan a song follows: key, tempo, beat grid and chords (and the melody they were read from).

    Attributes:
        key_tonic: pitch class of the key's tonic, 0-11.
        key_mode: ``"major"`` or ``"minor"``.
        tempo_bpm: beats per minute.
        beats: beat times, seconds, increasing.
        downbeats: the beats that start a bar, seconds.
        chords: chord segments in time order.
        duration: seconds the plan covers (the voice's length).
        melody: the sung notes (estimated from the voice, or the score's for a rendered pair).
    """

    key_tonic: int
    key_mode: str
    tempo_bpm: float
    beats: tuple[float, ...]
    downbeats: tuple[float, ...]
    chords: tuple[Chord, ...]
    duration: float
    melody: tuple[MelodyNote, ...] = field(default=())

    def __post_init__(self) -> None:
        if not 0 <= self.key_tonic < 12 or self.key_mode not in MODES:
            raise ValueError(f"bad key: tonic {self.key_tonic}, mode {self.key_mode!r}")

    @property
    def key_name(self) -> str:
        """E.g. ``"A minor"``."""
        return f"{PITCH_NAMES[self.key_tonic]} {self.key_mode}"

    @property
    def key_label(self) -> str:
        """mir_eval's key label, e.g. ``"A minor"`` (flats spelled ``Eb``)."""
        return self.key_name

    def shifted(self, seconds: float, duration: float | None = None) -> "Harmony":
        """Every time moved by ``seconds`` (negative: earlier), e.g. to express it from a crop's start.

        Args:
            duration: the new ``duration`` (default: the old one). Events outside the new span are kept: a
                renderer draws only what falls inside its frames.
        """
        move = float(seconds)
        return replace(
            self,
            beats=tuple(beat + move for beat in self.beats),
            downbeats=tuple(beat + move for beat in self.downbeats),
            chords=tuple(replace(chord, start=chord.start + move, end=chord.end + move) for chord in self.chords),
            melody=tuple(replace(note, start=note.start + move, end=note.end + move) for note in self.melody),
            duration=self.duration if duration is None else float(duration),
        )

    def window(self, start: float, end: float) -> "Harmony":
        """The part of the plan inside [start, end), re-timed so ``start`` is 0; chords and notes are clipped."""
        span = end - start
        chords = tuple(replace(chord, start=max(chord.start - start, 0.0), end=min(chord.end - start, span))
                       for chord in self.chords if chord.end > start and chord.start < end)
        melody = tuple(replace(note, start=max(note.start - start, 0.0), end=min(note.end - start, span))
                       for note in self.melody if note.end > start and note.start < end)
        return replace(
            self,
            beats=tuple(beat - start for beat in self.beats if start <= beat < end),
            downbeats=tuple(beat - start for beat in self.downbeats if start <= beat < end),
            chords=chords,
            melody=melody,
            duration=span,
        )

    def transposed(self, semitones: int) -> "Harmony":
        """The same plan in another key (chord roots, key and melody moved by ``semitones``)."""
        return replace(
            self,
            key_tonic=(self.key_tonic + semitones) % 12,
            chords=tuple(replace(chord, root=(chord.root + semitones) % 12) if chord.root >= 0 else chord
                         for chord in self.chords),
            melody=tuple(replace(note, pitch=note.pitch + semitones) for note in self.melody),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (times rounded to the millisecond)."""
        return {
            "key": self.key_name,
            "tempo_bpm": round(float(self.tempo_bpm), 2),
            "beats": [round(float(beat), 3) for beat in self.beats],
            "downbeats": [round(float(beat), 3) for beat in self.downbeats],
            "chords": [[round(float(chord.start), 3), round(float(chord.end), 3), chord.label] for chord in self.chords],
            "duration": round(float(self.duration), 3),
            "melody": [[round(float(note.start), 3), round(float(note.end), 3), round(float(note.pitch), 2)]
                       for note in self.melody],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Harmony":
        """Inverse of :meth:`to_dict`. Raises ValueError on a malformed record."""
        try:
            tonic, mode = parse_key(data["key"])
            return cls(
                key_tonic=tonic,
                key_mode=mode or "major",
                tempo_bpm=float(data["tempo_bpm"]),
                beats=tuple(float(beat) for beat in data["beats"]),
                downbeats=tuple(float(beat) for beat in data["downbeats"]),
                chords=tuple(chord_from_label(float(start), float(end), label) for start, end, label in data["chords"]),
                duration=float(data["duration"]),
                melody=tuple(MelodyNote(float(start), float(end), float(pitch))
                             for start, end, pitch in data.get("melody", [])),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"not a harmony record ({error!r})") from None


def chart_bars(harmony: Harmony) -> list[tuple[float, float, list[str]]]:
    """The chord chart: one entry per bar (a pickup before the first downbeat is a bar of its own).

    Returns:
        (start seconds, end seconds, chord names) per bar: the chord sounding at the bar's start, then each chord
        that starts inside it.
    """
    lines = [0.0] + [beat for beat in harmony.downbeats if 0.0 < beat < harmony.duration] + [harmony.duration]
    bars = []
    for start, end in zip(lines[:-1], lines[1:]):
        if end - start < 1e-6:
            continue
        names = [chord.name for chord in harmony.chords if chord.end > start + 1e-6 and chord.start < end - 1e-6]
        bars.append((start, end, names or ["N.C."]))
    return bars


def format_chart(harmony: Harmony, bars_per_line: int = 4) -> str:
    """The chart as text, e.g. ``| C G7 | Am F |`` with ``bars_per_line`` bars a line, headed by key and tempo."""
    cells = [" ".join(names) for _, _, names in chart_bars(harmony)]
    rows = ["| " + " | ".join(cells[index:index + bars_per_line]) + " |"
            for index in range(0, len(cells), bars_per_line)]
    return "\n".join([f"{harmony.key_name}, {harmony.tempo_bpm:.0f} BPM"] + rows)


def pitch_class(name: str) -> int:
    """``"C"``, ``"F#"``, ``"Bb"``, ``"E♭"``… → 0-11. Raises ValueError."""
    text = name.strip().replace("♯", "#").replace("♭", "b")
    if not text or text[0].upper() not in _LETTER_PITCH or any(sign not in "#b" for sign in text[1:]):
        raise ValueError(f"{name!r} is not a note name (like C, F# or Bb)")
    return (_LETTER_PITCH[text[0].upper()] + text.count("#") - text.count("b")) % 12


def parse_key(text: str) -> tuple[int, str | None]:
    """A key as a person writes it → (tonic pitch class, mode or None when not said).

    ``"C"`` → (0, None), ``"A minor"`` / ``"Am"`` / ``"a:min"`` → (9, "minor"), ``"Eb major"`` → (3, "major").
    Raises ValueError.
    """
    match = re.fullmatch(r"\s*([A-Ga-g][#b♯♭]*)\s*[: ]?\s*(major|minor|maj|min|m|M)?\s*", str(text))
    if not match:
        raise ValueError(f"{text!r} is not a key (write it like C, F# minor or Bbm)")
    mode_word = match.group(2)
    mode = None if mode_word is None else ("major" if mode_word in ("major", "maj", "M") else "minor")
    return pitch_class(match.group(1)), mode


def chord_from_label(start: float, end: float, label: str) -> Chord:
    """A :class:`Chord` from a mir_eval label such as ``"C:maj"``, ``"Bb:7"`` or ``"N"``. Raises ValueError."""
    if label in (NO_CHORD, UNKNOWN_CHORD):
        return Chord(start, end, -1, label)
    root, _, quality = label.partition(":")
    quality = quality or "maj"
    if quality not in QUALITY_INTERVALS:
        raise ValueError(f"unknown chord quality in {label!r}")
    return Chord(start, end, pitch_class(root), quality)


def chord_index(root: int, quality: str) -> int:
    """Index of an estimator chord (root 0-11, quality in :data:`ESTIMATED_QUALITIES`) in the tables: 0-35."""
    return ESTIMATED_QUALITIES.index(quality) * 12 + root


def reduce_chord(root: int, quality: str) -> tuple[int, str] | None:
    """Any labelled chord → the estimator's vocabulary (major, minor, dominant seventh), or None for N/X.

    Sevenths keep their triad (maj7 → maj, min7 → min); a diminished triad or seventh is read as a dominant
    seventh without its root (B dim → G7, as vii° stands for V7); half-diminished as the minor triad it holds
    (B–D–F–A → D minor); augmented as major.
    """
    if root < 0 or quality not in QUALITY_INTERVALS:
        return None
    if quality in ("dim", "dim7"):
        return (root + 8) % 12, "7"
    if quality == "hdim7":
        return (root + 3) % 12, "min"
    return root, {"maj7": "maj", "min7": "min", "aug": "maj"}.get(quality, quality)
