"""The song's plan read from a voice: key, tempo, beats and bars, chords (the estimator of :class:`~vocals2song.plan.harmony.Harmony`).

:func:`estimate_harmony` follows MySong (Simon, Morris & Basu, CHI 2008): a melody pitch track
(:mod:`vocals2song.plan.listening`), a beat grid from the voice's onsets, the key by Albrecht–Shanahan profiles and the
chords each candidate key implies, and one chord per beat (equal neighbours merged) by Viterbi over the 12 major,
12 minor and 12 dominant-seventh chords. The
observation is how long each melody pitch class sounds in the segment; the transition and melody-given-chord
tables were counted from the corpus's own scores (music21 ``chordify`` of Bach chorales and Palestrina, key
relative; ``tools/build_chord_table.py`` writes ``vocals2song/plan/data/chord_transitions.json``). Two knobs:
``happy`` blends the major-key (1) and minor-key (0) tables, ``jazz`` weighs the melody fit (1) against the
transition prior (0) and admits more sevenths.

Times are seconds from the start of the voice; pitch classes are 0 = C … 11 = B; MIDI pitches are floats.
Runtime only: numpy and librosa, no music21.
"""

from __future__ import annotations

import functools
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from vocals2song.audio import resample
from vocals2song.codec import spectrogram as codec
from vocals2song.plan import listening
from vocals2song.plan.controls import PlanControls
from vocals2song.plan.harmony import ESTIMATED_QUALITIES, MODES, Chord, Harmony, MelodyNote, chord_index

TABLE_PATH = Path(__file__).resolve().parent / "data" / "chord_transitions.json"


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
# One chord per beat: on corpus-big's validation pairs chord root 0.30 → 0.34, majmin 0.27 → 0.31, sung note in
# chord 0.65 → 0.74 against one per half bar (the tables, counted per half bar, serve both; their transitions at
# half weight, an approximation of the per-beat chain, did worse).
BEATS_PER_SEGMENT = 1
# "bar": the chords are decoded per half bar, and a change inside a bar costs this much log score, so a bar keeps one
# chord unless its melody clearly asks for two. On 60 training pairs of a styled corpus (bench/bench_harmony.py
# --rhythm --split train --mid-bar-costs ...) costs 0.5 / 1 / 1.5 / 2 / 4 gave median chords of 2.1 / 3.0 / 3.6 /
# 3.9 / 4.0 beats with 0.64 / 0.62 / 0.62 / 0.61 / 0.59 of the sung notes on a chord tone (per beat: 1.8, 0.68).
MID_BAR_CHANGE_COST = 1.5
KEY_CANDIDATES = 6  # keys (best by profile) harmonised to choose the key; 1 = profile only
KEY_PROFILE_WEIGHT = 2.0  # the profile's correlation, per beat sung, against the chord path's log score


def resolve_controls(controls: PlanControls | None, fields: dict) -> PlanControls:
    """``controls``, or controls made from keyword fields (not both)."""
    if controls is not None and fields:
        raise TypeError("give either controls or control keywords, not both")
    if controls is None:
        return PlanControls.make(**fields)
    if not isinstance(controls, PlanControls):
        raise TypeError(f"controls must be PlanControls, not {type(controls).__name__}")
    return controls


def _beats_per_segment(chord_rhythm: str, beats, downbeats) -> int:
    """Beats per decoded segment for a chord rhythm (segments restart at each downbeat): one for "beat", half a
    bar for "half" and "bar" (which pays :data:`MID_BAR_CHANGE_COST` for a change inside a bar)."""
    if chord_rhythm == "beat":
        return BEATS_PER_SEGMENT
    bar = int(np.median(np.diff(np.searchsorted(beats, downbeats)))) if len(downbeats) > 1 else 4
    return max(1, max(bar, 1) // 2)


def change_costs(bounds: list[tuple[float, float]], downbeats, chord_rhythm: str,
                 mid_bar_cost: float | None = None) -> np.ndarray:
    """Log-score cost of a chord change at the start of each segment: (nb_segments,), 0 on bar lines (and for
    "beat" and "half"), ``mid_bar_cost`` (default :data:`MID_BAR_CHANGE_COST`) inside a bar for "bar"."""
    costs = np.zeros(len(bounds))
    if chord_rhythm != "bar":
        return costs
    cost = MID_BAR_CHANGE_COST if mid_bar_cost is None else float(mid_bar_cost)
    bar_lines = np.asarray(sorted(downbeats), dtype=np.float64)
    for index, (start, _) in enumerate(bounds):
        on_bar_line = bar_lines.size and np.min(np.abs(bar_lines - start)) < 1e-6
        costs[index] = 0.0 if on_bar_line or (bar_lines.size and start < bar_lines[0]) else cost
    return costs




def estimate_harmony(voice: np.ndarray, sample_rate: int, controls: PlanControls | None = None, *,
                     magnitude: np.ndarray | None = None, pitch_method: str = "yin", mid_bar_cost: float | None = None,
                     **control_fields) -> Harmony:  # fmt: skip
    """Read a plan from a voice: melody, tempo and beats, key, and chords by Viterbi.

    Args:
        voice: float mono audio, shape (nb_samples,).
        sample_rate: Hz of ``voice`` (analysed at 22.05 kHz).
        controls: what the person asked for (:class:`~vocals2song.plan.controls.PlanControls`); None reads
            everything from the voice. As a shorthand the fields of :meth:`PlanControls.make` may be given as
            keywords instead (``key="A minor"``, ``tempo``, ``happy``, ``jazz``, ``chord_rhythm``).
        magnitude: the voice's STFT magnitude at :data:`vocals2song.plan.listening.ANALYSIS`, shape (nb_bins,
            nb_frames), when the caller has it (inference does); computed by the codec otherwise.
        pitch_method: the melody tracker (:func:`vocals2song.plan.listening.pitch_track`); "yin" unless comparing.
        mid_bar_cost: the cost of a change inside a bar with chord rhythm "bar" (default
            :data:`MID_BAR_CHANGE_COST`; benchmarks only).
    Returns:
        A :class:`Harmony` covering the voice, with the estimated melody.
    Raises:
        PlanError: a bad key, tempo, happy, jazz or chord rhythm (one sentence for a person).
    """
    controls = resolve_controls(controls, control_fields)
    tonic_given, mode_given = controls.key or (None, None)
    tempo, happy, jazz = controls.tempo, controls.happy, controls.jazz
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
    bounds = segment_bounds(beats, downbeats, duration, _beats_per_segment(controls.chord_rhythm, beats, downbeats))
    frame_times = np.arange(len(track.midi)) * track.frame_seconds
    observations = np.zeros((len(bounds), 12))
    voiced_times = frame_times[track.voiced]
    for index, (start, end) in enumerate(bounds):
        mask = (voiced_times >= start) & (voiced_times < end)
        observations[index] = np.bincount(frame_classes[mask], frame_weights[mask], minlength=12)
    observations *= track.frame_seconds * tempo_bpm / 60.0  # beats of singing per pitch class

    costs = change_costs(bounds, downbeats, controls.chord_rhythm, mid_bar_cost)
    if tonic_given is None:
        tonic, mode = choose_key(observations, float(jazz), costs)
    else:
        tonic, mode = tonic_given, mode_given or "major"
    if happy is not None:
        mode = "major" if happy >= 0.5 else "minor"
    happiness = (1.0 if mode == "major" else 0.0) if happy is None else float(happy)
    path, _ = viterbi_chords(observations, tonic, happiness, float(jazz), costs)
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


def choose_key(observations: np.ndarray, jazz: float, costs: np.ndarray | None = None) -> tuple[int, str]:
    """The key, from the melody's pitch classes and the chords it implies.

    The :data:`KEY_CANDIDATES` keys whose profiles fit the sung pitch classes best are each
    harmonised by :func:`viterbi_chords` with their own mode's table; the key whose best chord path is most
    likely (plus :data:`KEY_PROFILE_WEIGHT` times its profile correlation per beat sung) wins.

    Args:
        observations: (nb_segments, 12) beats of singing per pitch class.
        costs: the cost of a chord change entering each segment (:func:`change_costs`), or None.
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
        _, path_score = viterbi_chords(observations, int(tonic), 1.0 if mode == 0 else 0.0, jazz, costs)
        total = path_score + KEY_PROFILE_WEIGHT * beats_sung * scores[mode, tonic]
        if total > best[0]:
            best = (total, int(tonic), MODES[mode])
    return best[1], best[2]


def viterbi_chords(observations: np.ndarray, tonic: int, happy: float, jazz: float,
                   costs: np.ndarray | None = None) -> tuple[list[int], float]:  # fmt: skip
    """The most likely chord per segment (indexes of :func:`chord_index`) and its log score.

    Args:
        observations: (nb_segments, 12) beats of singing per pitch class in each segment.
        tonic: the key's tonic pitch class (the tables are key relative).
        happy: weight of the major-key table (1) against the minor-key one (0).
        jazz: 0 trusts the progressions, 1 the melody (and likes sevenths).
        costs: (nb_segments,) log-score cost of changing chord at the start of each segment (None: free).
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
    changing = ~np.eye(len(initial), dtype=bool)
    for index in range(1, len(observations)):
        candidates = score[:, None] + transitions
        if costs is not None and costs[index]:
            candidates = np.where(changing, candidates - costs[index], candidates)
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
