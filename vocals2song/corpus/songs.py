"""Generated songs for the styled corpus: a pop progression (I–V–vi–IV and friends) and a melody written over it.

Scores' top lines fit their own chords loosely once those chords are reduced to one per bar (passing notes,
suspensions, inner-voice harmony), so a band playing the reduction leaves many sung notes off its chords. A
songwriter works the other way round: chords first, then a tune whose strong beats and long notes sit on them.
:func:`write_song` does that, from a seeded random generator:

* a key (major, or natural minor with a major V half the time) and a meter (4/4, or 3/4);
* a form of 4-bar sections (verse, chorus: "AABB", "ABAB", "AAB B'"...), each a progression from
  :data:`MAJOR_PROGRESSIONS` / :data:`MINOR_PROGRESSIONS`, one chord per bar; in a share of songs a section's last
  bar splits into two chords (a turnaround such as IV–V);
* per section a melody of one or two phrases: bar rhythms from a small singable vocabulary (a motif repeated with
  variation), the phrase's last bar a long note and a breath; notes on strong beats (the downbeat, mid-bar in 4/4)
  and notes of a beat or longer are tones of the chord sounding; weak short notes are chord tones or a scale step
  from the note before (passing and neighbour tones); a contour that rises to a peak and falls; phrases end on a
  chord's root or third and the song ends on the tonic. A repeated section sings its melody again (its last bar may
  change), as songs do.

The result is a :class:`Song` in the corpus' vocabulary (:class:`vocals2song.corpus.scores.PartNote` in quarter
lengths, a :class:`vocals2song.corpus.scores.Meter`, chord slices as :func:`vocals2song.corpus.scores.reduce_slices`
returns them), so :mod:`vocals2song.corpus.build` renders it as it renders a score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vocals2song.corpus.scores import Label, Meter, PartNote, bar_chord_slices

SONG_COLLECTION = "songs"                 # piece names "songs/song-00042"; composer label of every generated song
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)
MINOR_SHARE = 0.3
THREE_FOUR_SHARE = 0.2
SPLIT_LAST_BAR_SHARE = 0.35               # songs whose sections end with two chords in their last bar
MELODY_CENTRE = 65                        # MIDI; the corpus moves the tune into the singer's range anyway
MELODY_SPAN = (-8, 10)                    # semitones around the centre the tune keeps to

# Progressions as scale degrees (0 = I), one chord per bar; a degree followed by "+" in a minor key is major (V).
MAJOR_PROGRESSIONS = (
    (0, 4, 5, 3), (5, 3, 0, 4), (0, 3, 4, 0), (0, 5, 3, 4), (0, 3, 5, 4), (0, 4, 3, 4), (3, 0, 4, 5),
    (0, 3, 0, 4), (1, 4, 0, 0), (0, 5, 1, 4), (0, 2, 3, 4), (3, 4, 0, 5), (0, 0, 3, 4), (5, 4, 3, 4),
)
MINOR_PROGRESSIONS = (
    (0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2), (5, 6, 0, 0), (0, 5, 3, 4), (0, 2, 6, 3),
    (0, 3, 0, 4), (5, 2, 6, 0),
)
FORMS = ("AABB", "ABAB", "AABA", "ABAC", "AB", "AAB")

# Bar rhythms, quarter lengths; a negative value is a rest. Inner bars, then phrase-ending bars (a long note and a
# breath), per meter.
INNER_RHYTHMS = {
    4: ((1, 1, 1, 1), (2, 1, 1), (1, 1, 2), (0.5, 0.5, 1, 1, 1), (1, 0.5, 0.5, 2), (1.5, 0.5, 1, 1),
        (0.5, 0.5, 0.5, 0.5, 2), (1, 1, 1, 0.5, 0.5), (3, 1), (-1, 1, 1, 1), (0.5, 1, 0.5, 2), (-0.5, 0.5, 1, 1, 1)),
    3: ((1, 1, 1), (2, 1), (1, 2), (0.5, 0.5, 1, 1), (1, 0.5, 0.5, 1), (1.5, 0.5, 1), (-1, 1, 1)),
}
ENDING_RHYTHMS = {
    4: ((1, 1, 1.5, -0.5), (2, 1.5, -0.5), (3, -1), (1, 2.5, -0.5), (0.5, 0.5, 2, -1), (4,)),
    3: ((2, -1), (2.5, -0.5), (1, 1.5, -0.5), (3,)),
}


@dataclass(frozen=True)
class Song:
    """A generated song, in quarter lengths from its start.

    Attributes:
        melody: the tune, one note at a time (no overlaps), pitches as MIDI numbers, no lyrics.
        meter: its meter and bar grid.
        slices: the chords as (offset, duration, (root pitch class, quality)) slices, a bar or half a bar each.
        key: (tonic pitch class, "major" or "minor").
    """

    melody: list[PartNote]
    meter: Meter
    slices: list[tuple[float, float, Label]]
    key: tuple[int, str]


def write_song(rng: np.random.Generator) -> Song:
    """A song drawn from ``rng``: a progression-based form with a melody that fits it (see the module docstring)."""
    tonic = int(rng.integers(12))
    mode = "minor" if rng.random() < MINOR_SHARE else "major"
    beats_per_bar = 3 if rng.random() < THREE_FOUR_SHARE else 4
    scale = MINOR_SCALE if mode == "minor" else MAJOR_SCALE
    raised_dominant = mode == "minor" and rng.random() < 0.5
    progressions = MINOR_PROGRESSIONS if mode == "minor" else MAJOR_PROGRESSIONS
    split_last_bar = rng.random() < SPLIT_LAST_BAR_SHARE

    form = FORMS[int(rng.integers(len(FORMS)))]
    section_chords = {}
    for letter in dict.fromkeys(form):
        degrees = list(progressions[int(rng.integers(len(progressions)))])
        section_chords[letter] = _section_chords(degrees, beats_per_bar, split_last_bar, rng)
    melodies: dict[str, list[tuple[float, float, int]]] = {}
    melody: list[PartNote] = []
    slices: list[tuple[float, float, Label]] = []
    previous = MELODY_CENTRE + int(rng.integers(-3, 4))
    section_quarters = 4 * beats_per_bar
    for section_index, letter in enumerate(form):
        offset = section_index * section_quarters
        last_section = section_index == len(form) - 1
        degrees = section_chords[letter]
        if last_section:   # the song comes home: its whole last bar is the tonic's chord
            bar_start = 3.0 * beats_per_bar
            degrees = [chord for chord in degrees if chord[0] < bar_start] + [(bar_start, float(beats_per_bar), 0)]
        chords = [(start, length, _triad(degree, tonic, scale, raised_dominant)) for start, length, degree in degrees]
        if letter in melodies and rng.random() < 0.8:
            notes = _vary_ending(melodies[letter], chords, tonic, scale, beats_per_bar, last_section, rng)
        else:
            notes = _section_melody(chords, tonic, scale, beats_per_bar, previous, last_section, rng)
        melodies.setdefault(letter, notes)
        melody += [PartNote(offset + start, length, float(pitch)) for start, length, pitch in notes]
        previous = notes[-1][2] if notes else previous
        slices += bar_chord_slices([(offset + start, length, triad) for start, length, triad in chords])
    bars = [(float(index * beats_per_bar), float(beats_per_bar)) for index in range(len(form) * 4)]
    return Song(melody=melody, meter=Meter(beats_per_bar, 4, bars), slices=slices, key=(tonic, mode))


def _section_chords(degrees: list[int], beats_per_bar: int, split_last_bar: bool,
                    rng: np.random.Generator) -> list[tuple[float, float, int]]:
    """(start, length, degree) per chord of a 4-bar section, quarter lengths from the section's start."""
    chords = [(float(bar * beats_per_bar), float(beats_per_bar), degree) for bar, degree in enumerate(degrees)]
    if split_last_bar and beats_per_bar == 4:
        start, _, degree = chords[-1]
        second = 4 if degree != 4 else int(rng.choice([3, 5]))      # a turnaround into the dominant (or off it)
        chords[-1:] = [(start, 2.0, degree), (start + 2.0, 2.0, second)]
    return chords


def _triad(degree: int, tonic: int, scale: tuple[int, ...], raised_dominant: bool) -> tuple[int, int, int]:
    """Pitch classes (root, third, fifth) of the diatonic triad on a scale degree."""
    triad = [(tonic + scale[(degree + step) % 7]) % 12 for step in (0, 2, 4)]
    if raised_dominant and degree == 4:
        triad[1] = (triad[0] + 4) % 12
    return tuple(triad)


def _chord_at(chords, position: float) -> tuple[int, int, int]:
    for start, length, triad in chords:
        if start <= position < start + length:
            return triad
    return chords[-1][2]


def _section_melody(chords, tonic: int, scale, beats_per_bar: int, previous: int, last_section: bool,
                    rng: np.random.Generator) -> list[tuple[float, float, int]]:
    """(start, length, MIDI pitch) notes of a 4-bar section, quarter lengths from its start."""
    phrase_bars = 4 if rng.random() < 0.4 else 2
    motif = INNER_RHYTHMS[beats_per_bar][int(rng.integers(len(INNER_RHYTHMS[beats_per_bar])))]
    rhythms = []
    for bar in range(4):
        if (bar + 1) % phrase_bars == 0:
            rhythms.append(ENDING_RHYTHMS[beats_per_bar][int(rng.integers(len(ENDING_RHYTHMS[beats_per_bar])))])
        elif bar % 2 == 0 or rng.random() < 0.5:
            rhythms.append(motif)                                      # the motif comes back
        else:
            rhythms.append(INNER_RHYTHMS[beats_per_bar][int(rng.integers(len(INNER_RHYTHMS[beats_per_bar])))])
    peak_bar = int(rng.integers(1, 3)) if phrase_bars == 4 else None
    notes = []
    for bar, rhythm in enumerate(rhythms):
        position = float(bar * beats_per_bar)
        phrase_end = (bar + 1) % phrase_bars == 0
        in_phrase = bar % phrase_bars
        climbing = (in_phrase < (peak_bar if peak_bar is not None else 1))
        last_sounding = max(index for index, value in enumerate(rhythm) if value > 0)
        for index, value in enumerate(rhythm):
            length = abs(float(value))
            if value > 0:
                triad = _chord_at(chords, position)
                in_bar = position % beats_per_bar
                strong = in_bar == 0 or (beats_per_bar == 4 and in_bar == 2) or length >= 1.5
                passing_share = 0.35 if length >= 1 else 0.55     # weak notes: a scale step, else a chord tone
                if index == last_sounding and phrase_end:
                    targets = [tonic] if (last_section and bar == 3) else [triad[0], triad[1]]
                    pitch = _nearest(previous, targets, rng, drift=-1)
                elif strong:
                    pitch = _nearest(previous, list(triad), rng, drift=1 if climbing else -1)
                elif rng.random() < passing_share:
                    pitch = _scale_step(previous, tonic, scale, rng, drift=1 if climbing else -1)
                else:
                    pitch = _nearest(previous, list(triad), rng, drift=1 if climbing else -1)
                notes.append((position, length, pitch))
                previous = pitch
            position += length
    return notes


def _vary_ending(notes, chords, tonic: int, scale, beats_per_bar: int, last_section: bool,
                 rng: np.random.Generator) -> list[tuple[float, float, int]]:
    """A repeated section's melody: the same notes, the last bar's re-chosen on its chords (chord tones, the last one
    a root or third) half the time, and always when the song ends there (on the tonic, over the tonic chord)."""
    notes = list(notes)
    last_bar_start = 3.0 * beats_per_bar
    if last_section or rng.random() < 0.5:
        varied = []
        previous = next((pitch for start, _, pitch in reversed(notes) if start < last_bar_start), notes[0][2])
        tail = [note for note in notes if note[0] >= last_bar_start]
        for index, (start, length, _) in enumerate(tail):
            triad = _chord_at(chords, start)
            if index < len(tail) - 1:
                targets = list(triad)
            else:
                targets = [tonic] if last_section else [triad[0], triad[1]]
            previous = _nearest(previous, targets, rng, drift=-1)
            varied.append((start, length, previous))
        notes = [note for note in notes if note[0] < last_bar_start] + varied
    return notes


def _nearest(previous: int, pitch_classes, rng: np.random.Generator, drift: int) -> int:
    """A pitch of one of ``pitch_classes`` near ``previous``: small leaps likelier, a step in the ``drift`` direction
    (+1 up, -1 down) preferred, kept inside the tune's span; repeating ``previous`` is allowed but rarer."""
    low, high = MELODY_CENTRE + MELODY_SPAN[0], MELODY_CENTRE + MELODY_SPAN[1]
    candidates = [pitch for pitch in range(low, high + 1) if pitch % 12 in {pc % 12 for pc in pitch_classes}]
    intervals = np.array([pitch - previous for pitch in candidates], dtype=float)
    weights = np.exp(-np.abs(intervals) / 2.5) * np.where(np.sign(intervals) == drift, 1.6, 1.0)
    weights *= np.where(intervals == 0, 0.5, 1.0)
    return int(candidates[int(rng.choice(len(candidates), p=weights / weights.sum()))])


def _scale_step(previous: int, tonic: int, scale, rng: np.random.Generator, drift: int) -> int:
    """The next scale tone above or below ``previous`` (its direction mostly ``drift``), inside the tune's span."""
    low, high = MELODY_CENTRE + MELODY_SPAN[0], MELODY_CENTRE + MELODY_SPAN[1]
    direction = drift if rng.random() < 0.7 else -drift
    in_scale = {(tonic + step) % 12 for step in scale}
    for _ in range(2):
        pitch = previous + direction
        while pitch % 12 not in in_scale:
            pitch += direction
        if low <= pitch <= high:
            return pitch
        direction = -direction
    return previous
