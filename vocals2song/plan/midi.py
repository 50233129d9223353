"""The plan as a standard MIDI file a musician opens in any DAW: the sung melody and a chord track (pretty_midi).

Tracks: "Melody" (the notes read from the voice, choir aahs), "Chords" (each chord as a bass root in octave 2 and
a close voicing from C4 up, piano), with the tempo, the key signature, a time signature from the bars, and the
chord names as marker text events. pretty_midi is imported only when a file is written.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
from pathlib import Path

import numpy as np

from vocals2song.plan.harmony import Harmony

MELODY_PROGRAM = 52  # General MIDI "Choir Aahs"
CHORD_PROGRAM = 0  # "Acoustic Grand Piano"
BASS_OCTAVE_START = 36  # C2
VOICING_START = 60  # C4


def quiet_import(module_name: str):
    """Import a module whose import prints to stdout (pyfluidsynth announces its library when $CI is set, and
    pretty_midi imports it), keeping stdout for our own output, e.g. the CLI's chord chart."""
    with contextlib.redirect_stdout(io.StringIO()):
        return importlib.import_module(module_name)


def chord_pitches(root: int, pitch_classes: tuple[int, ...]) -> list[int]:
    """MIDI pitches of a chord: the root in C2–B2, then each tone (root first) in C4–B4."""
    bass = BASS_OCTAVE_START + root % 12
    return [bass] + [VOICING_START + pitch_class % 12 for pitch_class in pitch_classes]


def beats_per_bar(harmony: Harmony) -> int:
    """The bar length in beats from the downbeats (4 when there are too few)."""
    if len(harmony.downbeats) < 2 or len(harmony.beats) < 2:
        return 4
    period = float(np.median(np.diff(harmony.beats)))
    return max(1, int(round(float(np.median(np.diff(harmony.downbeats))) / period)))


def write_midi(harmony: Harmony, path: str | os.PathLike, style: str | None = None) -> Path:
    """Write the plan as a type 1 MIDI file; times are the plan's seconds. The accompaniment's ``style``, when given,
    is a text event at 0 s ("Style: pop") and in the chord track's name. Returns the path."""
    pretty_midi = quiet_import("pretty_midi")

    song = pretty_midi.PrettyMIDI(initial_tempo=float(harmony.tempo_bpm))
    song.time_signature_changes.append(pretty_midi.TimeSignature(beats_per_bar(harmony), 4, 0.0))
    key_number = harmony.key_tonic + (12 if harmony.key_mode == "minor" else 0)
    song.key_signature_changes.append(pretty_midi.KeySignature(key_number, 0.0))

    melody = pretty_midi.Instrument(program=MELODY_PROGRAM, name="Melody")
    for note in harmony.melody:
        if note.end > note.start:
            melody.notes.append(pretty_midi.Note(velocity=90, pitch=int(np.clip(round(note.pitch), 0, 127)),
                                                 start=float(note.start), end=float(note.end)))
    chords = pretty_midi.Instrument(program=CHORD_PROGRAM, name="Chords" if style is None else f"Chords ({style})")
    if style is not None:
        song.text_events.append(pretty_midi.Text(f"Style: {style}", 0.0))
    for chord in harmony.chords:
        if chord.root < 0 or chord.end <= chord.start:
            continue
        for pitch in chord_pitches(chord.root, chord.pitch_classes):
            chords.notes.append(pretty_midi.Note(velocity=70, pitch=pitch, start=float(chord.start),
                                                 end=float(chord.end)))
        song.text_events.append(pretty_midi.Text(chord.name, float(chord.start)))
    song.instruments += [melody, chords]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    song.write(str(path))
    return path
