"""The song's plan read from a voice: key, tempo, beats and bars, chords (the :class:`Harmony` type and its estimator).

:func:`estimate_harmony` follows MySong (Simon, Morris & Basu, CHI 2008): a melody pitch track
(:mod:`vocals2song.listening`), a beat grid from the voice's onsets, the key by Albrecht–Shanahan profiles and the
chords each candidate key implies, and one chord per beat (equal neighbours merged) by Viterbi over the 12 major,
12 minor and 12 dominant-seventh chords. The
observation is how long each melody pitch class sounds in the segment; the transition and melody-given-chord
tables were counted from the corpus's own scores (music21 ``chordify`` of Bach chorales and Palestrina, key
relative; ``tools/build_chord_table.py`` writes ``vocals2song/data/chord_transitions.json``). Two knobs:
``happy`` blends the major-key (1) and minor-key (0) tables, ``jazz`` weighs the melody fit (1) against the
transition prior (0) and admits more sevenths.

Times are seconds from the start of the voice; pitch classes are 0 = C … 11 = B; MIDI pitches are floats.
Runtime only: numpy and librosa, no music21.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .errors import PlanError

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
TABLE_PATH = Path(__file__).resolve().parent / "data" / "chord_transitions.json"


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


def segment_bounds(beats: list[float] | tuple[float, ...], downbeats: list[float] | tuple[float, ...],
                   end: float, beats_per_segment: int = 2) -> list[tuple[float, float]]:
    """Chord segments of a beat grid: every ``beats_per_segment`` beats, restarting at each downbeat (so a
    4/4 bar is two half bars and a pickup is a segment of its own), covering 0..``end``.

    Returns:
        (start, end) pairs in the units of ``beats``; a stretch before the first beat is a segment of its own.
    """
    downbeat_set = {round(beat, 6) for beat in downbeats}
    starts, count = [], 0
    for beat in beats:
        if not 0 <= beat < end:
            continue
        if round(beat, 6) in downbeat_set:
            count = 0
        if count % beats_per_segment == 0:
            starts.append(float(beat))
        count += 1
    if not starts or starts[0] > 0:
        starts.insert(0, 0.0)
    return list(zip(starts, starts[1:] + [float(end)]))


@functools.lru_cache(maxsize=1)
def chord_table() -> dict[str, Any]:
    """The shipped table (``data/chord_transitions.json``): key-relative chord transitions and melody-given-chord
    probabilities per mode, counted from the corpus's scores (see ``tools/build_chord_table.py``)."""
    return json.loads(TABLE_PATH.read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------------------------------
# The estimator

# Albrecht & Shanahan (2013) key profiles (pitch-class durations in a corpus of common-practice pieces), tonic
# first. On corpus-big's validation and 200 training pairs they beat Krumhansl & Kessler's (1982) probe-tone
# profiles (key 0.57 against 0.55 with the chord paths, 0.55 against 0.48 alone); Temperley's and Aarden's did
# no better (bench/bench_harmony.py).
MAJOR_PROFILE = np.array([0.238, 0.006, 0.111, 0.006, 0.137, 0.094, 0.016, 0.214, 0.009, 0.080, 0.008, 0.081])
MINOR_PROFILE = np.array([0.220, 0.006, 0.104, 0.123, 0.019, 0.103, 0.012, 0.214, 0.062, 0.022, 0.061, 0.052])
# The weights below were chosen on the corpus's training and validation pieces (never the held-out composers):
# chord accuracy hardly moves with them (a melody allows many harmonisations); the key gains from the chord paths.
TRANSITION_SMOOTHING = 0.5  # added to every transition count
MELODY_SMOOTHING = 0.02  # share of a uniform distribution mixed into melody-given-chord
MELODY_WEIGHT = 2.0  # weight of the melody fit (per beat of singing) at jazz = 0.5
SEVENTH_BONUS = 1.5  # log-score added to dominant sevenths per unit of (jazz - 0.5)
DEFAULT_JAZZ = 0.5
MIN_TEMPO_BPM, MAX_TEMPO_BPM = 30.0, 300.0
# One chord per beat: on corpus-big's validation pairs chord root 0.30 → 0.34, majmin 0.27 → 0.31, sung note in
# chord 0.65 → 0.74 against one per half bar (the tables, counted per half bar, serve both; their transitions at
# half weight, an approximation of the per-beat chain, did worse).
BEATS_PER_SEGMENT = 1
KEY_CANDIDATES = 6  # keys (best by profile) harmonised to choose the key; 1 = profile only
KEY_PROFILE_WEIGHT = 2.0  # the profile's correlation, per beat sung, against the chord path's log score


def estimate_harmony(voice: np.ndarray, sample_rate: int, *, magnitude: np.ndarray | None = None,
                     key: str | tuple[int, str | None] | None = None, tempo: float | None = None,
                     happy: float | None = None, jazz: float = DEFAULT_JAZZ, pitch_method: str = "yin") -> Harmony:
    """Read a plan from a voice: melody, tempo and beats, key, and chords by Viterbi.

    Args:
        voice: float mono audio, shape (nb_samples,).
        sample_rate: Hz of ``voice`` (analysed at 22.05 kHz).
        magnitude: the voice's STFT magnitude at :data:`vocals2song.listening.ANALYSIS`, shape (nb_bins,
            nb_frames), when the caller has it (inference does); computed by the codec otherwise.
        key: None estimates it; a key such as ``"A minor"`` or ``"F#"`` (the mode then comes from ``happy`` or
            the estimate), or (tonic pitch class, mode or None).
        tempo: beats per minute, or None to estimate it from the voice's onsets.
        happy: None follows the key's mode; otherwise in [0, 1], the weight of the major-key table against the
            minor-key one (1 = major chords around the tonic, 0 = minor).
        jazz: in [0, 1]; 0 follows the common progressions, 1 fits the melody and admits more sevenths.
        pitch_method: the melody tracker (:func:`vocals2song.listening.pitch_track`); "yin" unless comparing.
    Returns:
        A :class:`Harmony` covering the voice, with the estimated melody.
    Raises:
        PlanError: a bad key, tempo, happy or jazz (one sentence for a person).
    """
    from . import listening
    from . import spectrogram as codec
    from .audio import resample

    tonic_given, mode_given = check_controls(key, tempo, happy, jazz)
    voice = resample(np.asarray(voice, dtype=np.float32), sample_rate, listening.ANALYSIS.sample_rate)
    duration = len(voice) / listening.ANALYSIS.sample_rate
    if magnitude is None:
        magnitude = np.abs(codec.stft(voice, listening.ANALYSIS))
    track = listening.pitch_track(voice, magnitude, pitch_method)
    notes = listening.melody_notes(track)
    envelope = listening.onset_envelope(magnitude, notes, track.frame_seconds)
    tempo_bpm = float(tempo) if tempo else listening.estimate_tempo(envelope, track.frame_seconds, notes)
    beats = listening.track_beats(envelope, track.frame_seconds, tempo_bpm)
    _, downbeats = listening.choose_downbeats(beats, notes, envelope, track.frame_seconds)

    frame_classes, frame_weights = _frame_pitch_classes(track)
    bounds = segment_bounds(beats, downbeats, duration, BEATS_PER_SEGMENT)
    frame_times = np.arange(len(track.midi)) * track.frame_seconds
    observations = np.zeros((len(bounds), 12))
    voiced_times = frame_times[track.voiced]
    for index, (start, end) in enumerate(bounds):
        mask = (voiced_times >= start) & (voiced_times < end)
        observations[index] = np.bincount(frame_classes[mask], frame_weights[mask], minlength=12)
    observations *= track.frame_seconds * tempo_bpm / 60.0  # beats of singing per pitch class

    if tonic_given is None:
        tonic, mode = choose_key(observations, float(jazz))
    else:
        tonic, mode = tonic_given, mode_given or "major"
    if happy is not None:
        mode = "major" if happy >= 0.5 else "minor"
    happiness = (1.0 if mode == "major" else 0.0) if happy is None else float(happy)
    path, _ = viterbi_chords(observations, tonic, happiness, float(jazz))
    chords = _merge([Chord(start, end, path[index] % 12, ESTIMATED_QUALITIES[path[index] // 12])
                     for index, (start, end) in enumerate(bounds)])
    return Harmony(
        key_tonic=int(tonic), key_mode=mode, tempo_bpm=round(tempo_bpm, 2),
        beats=tuple(round(float(beat), 4) for beat in beats),
        downbeats=tuple(round(float(beat), 4) for beat in downbeats),
        chords=tuple(chords), duration=duration,
        melody=tuple(MelodyNote(start, end, pitch) for start, end, pitch in notes),
    )


def key_scores(histogram: np.ndarray) -> np.ndarray:
    """Correlation of a pitch-class duration histogram (12,) with each key's profile (:data:`MAJOR_PROFILE`,
    :data:`MINOR_PROFILE`), shape (2, 12): [major, minor] × tonic (zeros for a silent histogram)."""
    if not np.any(histogram > 0):
        return np.zeros((2, 12))
    profiles = np.array([[np.roll(profile, tonic) for tonic in range(12)] for profile in (MAJOR_PROFILE, MINOR_PROFILE)])
    centred = profiles - profiles.mean(axis=-1, keepdims=True)
    values = histogram - histogram.mean()
    return centred @ values / (np.linalg.norm(centred, axis=-1) * (np.linalg.norm(values) + 1e-12))


def estimate_key(histogram: np.ndarray) -> tuple[int, str]:
    """The key whose profile correlates best with a pitch-class histogram; C major if silent."""
    mode, tonic = np.unravel_index(int(np.argmax(key_scores(histogram))), (2, 12))
    return int(tonic), MODES[mode]


def choose_key(observations: np.ndarray, jazz: float) -> tuple[int, str]:
    """The key, from the melody's pitch classes and the chords it implies.

    The :data:`KEY_CANDIDATES` keys whose profiles fit the sung pitch classes best are each
    harmonised by :func:`viterbi_chords` with their own mode's table; the key whose best chord path is most
    likely (plus :data:`KEY_PROFILE_WEIGHT` times its profile correlation per beat sung) wins.

    Args:
        observations: (nb_segments, 12) beats of singing per pitch class.
    """
    scores = key_scores(observations.sum(axis=0))
    order = np.argsort(scores, axis=None)[::-1][:KEY_CANDIDATES]
    if KEY_CANDIDATES <= 1 or not np.any(observations > 0):
        mode, tonic = np.unravel_index(int(order[0]), (2, 12))
        return int(tonic), MODES[mode]
    beats_sung = float(observations.sum())
    best = (-np.inf, 0, "major")
    for flat in order:
        mode, tonic = np.unravel_index(int(flat), (2, 12))
        _, path_score = viterbi_chords(observations, int(tonic), 1.0 if mode == 0 else 0.0, jazz)
        total = path_score + KEY_PROFILE_WEIGHT * beats_sung * scores[mode, tonic]
        if total > best[0]:
            best = (total, int(tonic), MODES[mode])
    return best[1], best[2]


def viterbi_chords(observations: np.ndarray, tonic: int, happy: float, jazz: float) -> tuple[list[int], float]:
    """The most likely chord per segment (indexes of :func:`chord_index`) and its log score.

    Args:
        observations: (nb_segments, 12) beats of singing per pitch class in each segment.
        tonic: the key's tonic pitch class (the tables are key relative).
        happy: weight of the major-key table (1) against the minor-key one (0).
        jazz: 0 trusts the progressions, 1 the melody (and likes sevenths).
    """
    initial, transitions, melody = _log_tables(tonic, round(happy, 3))
    melody_weight = MELODY_WEIGHT * 2.0 ** (2.0 * (jazz - 0.5))
    sevenths = np.zeros(len(initial))
    sevenths[24:36] = SEVENTH_BONUS * (jazz - 0.5)
    roots = np.arange(len(initial)) % 12
    quality = np.arange(len(initial)) // 12
    relative = (np.arange(12)[None, :] - roots[:, None]) % 12  # (chords, pitch classes)
    fit = melody[quality[:, None], relative]  # log P(pitch class | chord), (chords, 12)
    emissions = observations @ fit.T * melody_weight + sevenths  # (segments, chords)
    score = initial + emissions[0]
    back = np.zeros((len(observations), len(initial)), dtype=np.int64)
    for index in range(1, len(observations)):
        candidates = score[:, None] + transitions
        back[index] = np.argmax(candidates, axis=0)
        score = candidates[back[index], np.arange(len(initial))] + emissions[index]
    path = [int(np.argmax(score))]
    for index in range(len(observations) - 1, 0, -1):
        path.append(int(back[index, path[-1]]))
    return path[::-1], float(np.max(score))


@functools.lru_cache(maxsize=64)
def _log_tables(tonic: int, happy: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(initial (36,), transitions (36, 36), melody (3, 12)) log-probabilities for a tonic, blended by ``happy``."""
    table = chord_table()
    blended = []
    for name in ("initial", "transitions"):
        logs = []
        for mode in MODES:
            counts = np.asarray(table[name][mode], dtype=np.float64) + TRANSITION_SMOOTHING
            logs.append(np.log(counts / counts.sum(axis=-1, keepdims=True)))
        blended.append(happy * logs[0] + (1.0 - happy) * logs[1])
    initial, transitions = blended
    # Key relative → absolute: chord (root, quality) sits at relative root (root - tonic).
    order = np.array([chord_index((index % 12 - tonic) % 12, ESTIMATED_QUALITIES[index // 12]) for index in range(36)])
    initial, transitions = initial[order], transitions[np.ix_(order, order)]
    melody = np.array([table["melody"][quality] for quality in ESTIMATED_QUALITIES], dtype=np.float64)
    melody = melody / melody.sum(axis=1, keepdims=True)
    melody = np.log((1 - MELODY_SMOOTHING) * melody + MELODY_SMOOTHING / 12)
    return initial, transitions, melody


def _frame_pitch_classes(track) -> tuple[np.ndarray, np.ndarray]:
    """Pitch class and weight (1 per voiced frame) of each voiced frame."""
    midi = track.midi[track.voiced]
    return (np.round(midi).astype(np.int64) % 12), np.ones(len(midi))


def _merge(chords: list[Chord]) -> list[Chord]:
    """Neighbouring equal chords become one."""
    merged: list[Chord] = []
    for chord in chords:
        if merged and (merged[-1].root, merged[-1].quality) == (chord.root, chord.quality):
            merged[-1] = replace(merged[-1], end=chord.end)
        else:
            merged.append(chord)
    return merged


def check_controls(key, tempo, happy, jazz) -> tuple[int | None, str | None]:
    """Check the person's controls; returns the given key as (tonic, mode or None), (None, None) for auto."""
    if tempo is not None and not (np.isfinite(tempo) and MIN_TEMPO_BPM <= float(tempo) <= MAX_TEMPO_BPM):
        raise PlanError(f"The tempo must be between {MIN_TEMPO_BPM:g} and {MAX_TEMPO_BPM:g} beats per minute, "
                        f"not {tempo:g}.")
    for name, value in (("happy", happy), ("jazz", jazz)):
        if value is not None and not (np.isfinite(value) and 0.0 <= float(value) <= 1.0):
            raise PlanError(f"The {name} setting must be between 0 and 1, not {value:g}.")
    if key is None:
        return None, None
    if isinstance(key, str):
        try:
            return parse_key(key)
        except ValueError:
            raise PlanError(f"'{key}' is not a key: write it like C, F# minor or Bbm.") from None
    tonic, mode = key
    if not 0 <= int(tonic) < 12 or mode not in (None, *MODES):
        raise PlanError(f"{key!r} is not a key: give a tonic 0-11 and 'major', 'minor' or None.")
    return int(tonic), mode
