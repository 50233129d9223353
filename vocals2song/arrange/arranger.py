"""The arranger: a plan (:class:`~vocals2song.plan.harmony.Harmony`) → the notes of a band's tracks, in a named style.

:func:`arrange` plays the plan's chords on its beats the way a band of that style would (:data:`STYLE_RECIPES`):

- **chords**: a comping pattern per style (struck chords, eighth-note strokes, arpeggios, strums, the Charleston, power
  chords, sustained strings, a chorale), each chord voiced at the inversion nearest the previous one (voice leading);
- **bass**: roots and fifths, held roots, driving eighths, a walking line or pizzicato, in C1–B2;
- **pad**: a sustained layer for some styles;
- **drums**: a groove per style with a fill on the last beat of each phrase (4 bars) and a crash after it.

The plan and the target agree: every note of chords, pad and bass is a tone of the chord that sounds at each moment of
it (it starts inside one chord segment and ends with it at the latest). The one exception is marked: a bass approach
note into the next chord (``Note.passing``), on the last beat or eighth of a chord. Where the voice rests a whole beat
the band plays that beat softer, so the voice stays in front when it sings and the band does not fill the gaps louder.

Within a style each call draws its General MIDI programs from the style's families, a pattern variant and a feel
(velocity, humanised timing) from ``seed``: the same plan, style and seed give the same notes. Times are the plan's
seconds; pitches are MIDI numbers. No sound here: :mod:`vocals2song.arrange.render` plays the tracks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from vocals2song.plan.harmony import Chord, Harmony, QUALITY_INTERVALS
from vocals2song.plan.midi import beats_per_bar
from vocals2song.plan.style import STYLES, check_style

ROLES = ("chords", "pad", "bass", "drums")
PHRASE_BARS = 4
CHORD_RANGE = (52, 76)       # E3..E5: where comping voicings sit
BASS_RANGE = (28, 48)        # E1..C3
HUMANISE_SECONDS = 0.006
REST_SOFTER = 0.75           # velocity factor on a beat where the voice rests
MIN_NOTE_SECONDS = 0.03
STRUM_STEP_SECONDS = 0.012   # between the strings of a strummed chord
APPROACH_SHARE = 0.35        # chord changes the walking bass approaches chromatically
# A chord's tones above its triad (a seventh) are struck this much softer: heard as colour, while the triad, which
# the tune sits on, stays loudest. On 24 jazz training pairs, the yardstick's chord_tone 0.44 -> 0.48 (with the
# jazz bass 4 dB lower as well, 0.51; at 0.75, 0.50)
COLOUR_VELOCITY = 0.6

# General MIDI drum keys
KICK, SIDE_STICK, SNARE, CLOSED_HAT, PEDAL_HAT, OPEN_HAT, CRASH, RIDE = 36, 37, 38, 42, 44, 46, 49, 51
LOW_TOM, MID_TOM, HIGH_TOM, TAMBOURINE, SHAKER = 45, 47, 50, 54, 70
# General MIDI drum kits (bank 128 presets)
STANDARD_KIT, ROOM_KIT, POWER_KIT, JAZZ_KIT, BRUSH_KIT = 0, 8, 16, 32, 40


@dataclass(frozen=True)
class Note:
    """One note of a track: seconds, MIDI pitch, velocity 1-127; ``passing``: a marked non-chord tone."""

    start: float
    end: float
    pitch: int
    velocity: int
    passing: bool = False


@dataclass(frozen=True)
class Track:
    """One instrument: ``role`` one of :data:`ROLES`; ``program`` its General MIDI program (0-based), or for drums its
    kit (bank 128 preset); ``gain_db`` its level in the mix relative to the chords."""

    role: str
    program: int
    notes: tuple[Note, ...]
    gain_db: float = 0.0

    @property
    def is_drums(self) -> bool:
        return self.role == "drums"


@dataclass(frozen=True)
class Arrangement:
    """A plan arranged in a style: its tracks and the seconds they cover."""

    style: str
    tracks: tuple[Track, ...]
    duration: float

    def track(self, role: str) -> Track | None:
        """The first track of ``role``, or None."""
        return next((track for track in self.tracks if track.role == role), None)


@dataclass(frozen=True)
class Recipe:
    """How a style plays: program families per role, the comping and bass patterns and drum grooves it draws from,
    each track's level (dB against the chords) and how likely it is to have drums and a pad."""

    chords: tuple[int, ...]
    comping: tuple[str, ...]
    bass: tuple[int, ...]
    bass_lines: tuple[str, ...]
    drums: tuple[str, ...]
    kits: tuple[int, ...] = (STANDARD_KIT,)
    pad: tuple[int, ...] = ()
    pad_probability: float = 0.0
    drums_probability: float = 1.0
    swing: bool = False
    levels_db: tuple[float, float, float] = (-6.0, -3.0, -8.0)  # pad, bass, drums
    velocity: tuple[int, int] = (60, 85)


STYLE_RECIPES: dict[str, Recipe] = {
    "pop": Recipe(chords=(0, 1, 4, 5, 25, 27), comping=("beats", "eighths", "syncopated"), bass=(33, 34, 38),
                  bass_lines=("root-fifth", "eighths"), drums=("backbeat",), kits=(STANDARD_KIT, ROOM_KIT),
                  pad=(48, 89), pad_probability=0.3, levels_db=(-5.0, -6.0, -10.0)),
    "ballad": Recipe(chords=(0, 1, 4), comping=("arpeggio",), bass=(32, 33, 35), bass_lines=("held",),
                     drums=("sparse",), kits=(STANDARD_KIT, ROOM_KIT), pad=(48, 49, 88, 89), pad_probability=0.9,
                     drums_probability=0.6, levels_db=(-5.0, -4.0, -11.0), velocity=(50, 72)),
    "folk": Recipe(chords=(24, 25), comping=("strum",), bass=(32, 33), bass_lines=("alternating",),
                   drums=("percussion",), drums_probability=0.8, levels_db=(-6.0, -8.0, -12.0), velocity=(55, 80)),
    "jazz": Recipe(chords=(0, 4, 26), comping=("charleston", "four"), bass=(32,), bass_lines=("walking",),
                   drums=("swing",), kits=(JAZZ_KIT, BRUSH_KIT), swing=True, levels_db=(-6.0, -8.0, -10.0),
                   velocity=(50, 75)),
    "rock": Recipe(chords=(29, 27), comping=("power",), bass=(33, 34), bass_lines=("eighths",), drums=("rock",),
                   kits=(POWER_KIT, STANDARD_KIT), levels_db=(-6.0, -3.0, -10.0), velocity=(70, 95)),
    "strings": Recipe(chords=(48, 50), comping=("sustained", "pulsing"), bass=(45,), bass_lines=("pizzicato",),
                      drums=(), pad=(42, 60), pad_probability=0.5, drums_probability=0.0,
                      levels_db=(-6.0, -9.0, 0.0), velocity=(55, 80)),
    "chamber": Recipe(chords=(19, 48, 0, 6, 71), comping=("chorale",), bass=(42, 70, 43), bass_lines=("chorale",),
                      drums=(), drums_probability=0.0, levels_db=(-6.0, -3.0, 0.0), velocity=(55, 80)),
}
assert set(STYLE_RECIPES) == set(STYLES), "every style needs a recipe"


# ----------------------------------------------------------------------------------------------------
# Public API


def arrange(harmony: Harmony, style: str, seed: int = 0) -> Arrangement:
    """Arrange ``harmony`` for a band in ``style`` (one of :data:`vocals2song.plan.style.STYLES`).

    Args:
        harmony: the plan: its chords (no-chord segments are left silent), beats and downbeats (a grid at its tempo
            when it has fewer than two beats), and its melody (where the voice rests the band plays softer).
        style: the style's name.
        seed: draws the programs, pattern variant and feel; same inputs, same notes.
    Returns:
        The arrangement: a chords track, a bass track, and a pad and drums track when the style draws them.
    Raises:
        PlanError: an unknown style.
    """
    style = check_style(style)
    recipe = STYLE_RECIPES[style]
    rng = np.random.default_rng([seed, STYLES.index(style)])
    grid = BeatGrid.of(harmony)
    context = _Context(harmony, grid, rng, _rest_beats(harmony, grid), recipe,
                       float(rng.uniform(*recipe.velocity)))
    comping = str(rng.choice(recipe.comping))
    tracks = [Track("chords", _pick(rng, recipe.chords), tuple(_COMPING[comping](context)))]
    if recipe.pad and rng.random() < recipe.pad_probability:
        tracks.append(Track("pad", _pick(rng, recipe.pad), tuple(_pad(context)), recipe.levels_db[0]))
    bass_line = str(rng.choice(recipe.bass_lines))
    tracks.append(Track("bass", _pick(rng, recipe.bass), tuple(_BASS_LINES[bass_line](context)), recipe.levels_db[1]))
    if recipe.drums and rng.random() < recipe.drums_probability:
        groove = str(rng.choice(recipe.drums))
        tracks.append(Track("drums", _pick(rng, recipe.kits), tuple(_GROOVES[groove](context)), recipe.levels_db[2]))
    tracks = [Track(track.role, track.program, _clean(track.notes, harmony.duration), track.gain_db)
              for track in tracks]
    return Arrangement(style, tuple(tracks), float(harmony.duration))


def chord_at(harmony: Harmony, seconds: float) -> Chord | None:
    """The chord segment sounding at ``seconds`` (start inclusive), or None where there is none or no chord."""
    for chord in harmony.chords:
        if chord.start <= seconds < chord.end:
            return chord if chord.root >= 0 else None
    return None


def voice_chord(pitch_classes: tuple[int, ...], previous: list[int] | None, low: int = CHORD_RANGE[0],
                high: int = CHORD_RANGE[1]) -> list[int]:
    """The chord's tones as close-position MIDI pitches in [low, high), at the inversion and octave whose notes move
    least from ``previous`` (sorted pitches; None: the inversion nearest the middle of the range). Ascending."""
    tones = list(dict.fromkeys(pitch_classes))
    candidates = []
    for inversion in range(len(tones)):
        order = tones[inversion:] + tones[:inversion]
        for bottom in range(low, high):
            if bottom % 12 != order[0]:
                continue
            pitches = [bottom]
            for pitch_class in order[1:]:
                pitches.append(pitches[-1] + (pitch_class - pitches[-1]) % 12 or 12)
            if pitches[-1] < high:
                candidates.append(pitches)
    if not candidates:  # a range too narrow for a close chord: the tones in the range's first octave
        return sorted(low + (pitch_class - low) % 12 for pitch_class in tones)
    if previous:
        def movement(pitches: list[int]) -> float:
            return sum(min(abs(pitch - other) for other in previous) for pitch in pitches) + \
                sum(min(abs(pitch - other) for pitch in pitches) for other in previous)
    else:
        centre = (low + high) / 2
        def movement(pitches: list[int]) -> float:  # noqa: E306
            return abs(float(np.mean(pitches)) - centre)
    return min(candidates, key=lambda pitches: (movement(pitches), pitches))


# ----------------------------------------------------------------------------------------------------
# The beat grid


@dataclass(frozen=True)
class BeatGrid:
    """The plan's beats extended to its whole duration: ``times`` (seconds), each beat's ``positions`` in its bar
    (0 = downbeat), ``per_bar`` beats per bar and the median beat ``period`` (seconds)."""

    times: np.ndarray
    positions: np.ndarray
    per_bar: int
    period: float

    @classmethod
    def of(cls, harmony: Harmony) -> "BeatGrid":
        beats = np.asarray(harmony.beats, dtype=float)
        if len(beats) < 2:
            beats = np.arange(0.0, max(harmony.duration, 1e-3), 60.0 / max(harmony.tempo_bpm, 1e-3))
        period = float(np.median(np.diff(beats))) if len(beats) > 1 else 60.0 / max(harmony.tempo_bpm, 1e-3)
        before = np.arange(beats[0] - period, -0.5 * period, -period)[::-1] if beats[0] > 0.5 * period else []
        after = np.arange(beats[-1] + period, harmony.duration + period, period)
        times = np.concatenate([before, beats, after])
        per_bar = beats_per_bar(harmony)
        downbeats = np.asarray(harmony.downbeats, dtype=float)
        first = int(np.argmin(np.abs(times - downbeats[0]))) if len(downbeats) else 0
        positions = (np.arange(len(times)) - first) % per_bar
        return cls(times, positions, per_bar, period)

    def time(self, beat: float) -> float:
        """Seconds of a fractional beat index (interpolated between beats, extrapolated at the ends)."""
        index = int(np.clip(np.floor(beat), 0, len(self.times) - 2))
        return float(self.times[index] + (beat - index) * (self.times[index + 1] - self.times[index]))

    def bars(self) -> list[tuple[int, int]]:
        """(first beat index, beat count) of each bar; a pickup before the first downbeat is a bar of its own."""
        starts = [index for index in range(len(self.times)) if self.positions[index] == 0]
        if not starts or starts[0] != 0:
            starts = [0] + starts
        ends = starts[1:] + [len(self.times)]
        return [(start, end - start) for start, end in zip(starts, ends)]


@dataclass
class _Context:
    harmony: Harmony
    grid: BeatGrid
    rng: np.random.Generator
    rests: np.ndarray        # per beat: True where the voice does not sing at all
    recipe: Recipe
    velocity: float

    def swung(self, beat: float) -> float:
        """A beat position with swing: the off-beat eighth moves to two thirds of the beat."""
        whole = np.floor(beat)
        return float(whole + 2.0 / 3.0) if self.recipe.swing and abs(beat - whole - 0.5) < 1e-6 else beat

    def level(self, beat_index: int, accent: float = 1.0) -> int:
        rest = REST_SOFTER if 0 <= beat_index < len(self.rests) and self.rests[beat_index] else 1.0
        return int(np.clip(self.velocity * accent * rest + self.rng.normal(0.0, 4.0), 20, 127))

    def jitter(self) -> float:
        return float(self.rng.normal(0.0, HUMANISE_SECONDS))

    def phrase_end(self, bar_number: int, nb_bars: int) -> bool:
        return (bar_number + 1) % PHRASE_BARS == 0 or bar_number == nb_bars - 1


def _rest_beats(harmony: Harmony, grid: BeatGrid) -> np.ndarray:
    """Per beat of the grid: whether no sung note overlaps it."""
    ends = np.append(grid.times[1:], grid.times[-1] + grid.period)
    sung = np.zeros(len(grid.times), dtype=bool)
    for note in harmony.melody:
        sung |= (grid.times < note.end) & (ends > note.start)
    return ~sung


def _pick(rng: np.random.Generator, choices: tuple[int, ...]) -> int:
    return int(choices[int(rng.integers(len(choices)))])


# ----------------------------------------------------------------------------------------------------
# Chords


def _strike(context: _Context, start: float, end: float, pitches_for, velocity: int, spread: float = 0.0,
            downward: bool = False) -> list[Note]:
    """Notes of a chord struck at ``start``: ``pitches_for(chord)`` gives its pitches; held to ``end`` or the chord's
    end, whichever is first; ``spread`` seconds between strings (a strum; ``downward`` plays high to low); tones
    above the triad at :data:`COLOUR_VELOCITY` of ``velocity``."""
    chord = chord_at(context.harmony, start + 1e-6)
    if chord is None:
        return []
    start = max(chord.start, start + context.jitter())
    end = min(end, chord.end) - 0.01
    pitches = pitches_for(chord)
    order = pitches[::-1] if downward else pitches
    colour = set(chord.pitch_classes[3:])
    return [Note(start + index * spread, end, pitch,
                 max(1, int(velocity * COLOUR_VELOCITY)) if pitch % 12 in colour else velocity)
            for index, pitch in enumerate(order) if end - (start + index * spread) >= MIN_NOTE_SECONDS]


class _Voicer:
    """Voice-led pitches per chord: the same chord keeps its voicing, a new one moves to the nearest inversion."""

    def __init__(self, low: int = CHORD_RANGE[0], high: int = CHORD_RANGE[1], drop_root: bool = False):
        self.low, self.high, self.drop_root = low, high, drop_root
        self.previous: list[int] | None = None
        self.cache: dict[tuple[float, int, str], list[int]] = {}

    def __call__(self, chord: Chord) -> list[int]:
        key = (chord.start, chord.root, chord.quality)
        if key not in self.cache:
            tones = chord.pitch_classes
            if self.drop_root and len(tones) >= 4:  # shell voicing: third and seventh (and fifth), root in the bass
                tones = tones[1:]
            self.cache[key] = voice_chord(tones, self.previous, self.low, self.high)
            self.previous = self.cache[key]
        return self.cache[key]


def _bar_hits(context: _Context, offsets_by_bar) -> list[Note]:
    """Struck chords at beat offsets within each bar: ``offsets_by_bar(per_bar)`` → [(offset, length, accent)]."""
    voicer = _Voicer()
    notes = []
    for start_beat, count in context.grid.bars():
        for offset, length, accent in offsets_by_bar(context.grid.per_bar):
            if offset >= count and count < context.grid.per_bar:
                continue
            beat = start_beat + offset if count == context.grid.per_bar else start_beat + offset - (
                context.grid.per_bar - count)  # a pickup bar plays the pattern's end
            if beat < start_beat:
                continue
            start = context.grid.time(context.swung(beat))
            end = context.grid.time(context.swung(beat) + length)
            notes += _strike(context, start, end, voicer, context.level(int(beat), accent))
    return notes


def _comp_beats(context: _Context) -> list[Note]:
    return _bar_hits(context, lambda per_bar: [(beat, 0.85, 1.1 if beat == 0 else 0.95) for beat in range(per_bar)])


def _comp_eighths(context: _Context) -> list[Note]:
    return _bar_hits(context, lambda per_bar: [(beat + half, 0.45, (1.05 if beat % 2 else 0.95) * (1.0 if half == 0
                                                                                                    else 0.8))
                                               for beat in range(per_bar) for half in (0.0, 0.5)])


def _comp_syncopated(context: _Context) -> list[Note]:
    def pattern(per_bar: int):
        if per_bar == 4:
            return [(0.0, 1.4, 1.1), (1.5, 1.0, 0.9), (2.5, 1.4, 0.95), (3.5, 0.5, 0.8)]
        return [(beat, 0.85, 1.0) for beat in range(per_bar)]
    return _bar_hits(context, pattern)


def _comp_charleston(context: _Context) -> list[Note]:
    voiced = _Voicer(CHORD_RANGE[0], CHORD_RANGE[1], drop_root=True)
    notes = []
    for start_beat, count in context.grid.bars():
        hits = [(0.0, 0.9), (1.5, 0.5)] + ([(2.0, 0.9), (3.5, 0.4)] if count >= 4 else [])
        for offset, length in hits:
            if offset >= count:
                continue
            beat = context.swung(start_beat + offset)
            notes += _strike(context, context.grid.time(beat), context.grid.time(beat + length), voiced,
                             context.level(start_beat + int(offset), 0.9))
    return notes


def _open_voicing():
    """The strings' voicing: a voice-led close chord in C3–G5 spread open, its lowest tone doubled an octave below
    and above."""
    voicer = _Voicer(48, 79)

    def open_voicing(chord: Chord) -> list[int]:
        close = voicer(chord)
        return [close[0] - 12] + close[1:] + [close[0] + 12] if len(close) >= 3 else close

    return open_voicing


def _comp_four(context: _Context) -> list[Note]:
    """Four to the bar, short and even (a swing rhythm guitar's comping), the whole chord voiced."""
    return _bar_hits(context, lambda per_bar: [(beat, 0.6, 0.9) for beat in range(per_bar)])


def _comp_pulsing(context: _Context) -> list[Note]:
    """The strings' open voicing re-bowed on every beat, the downbeat stronger."""
    return _per_beat(context, _open_voicing(), 0.97)


def _comp_arpeggio(context: _Context) -> list[Note]:
    """Eighth notes climbing the chord over two octaves and back (root, fifth, octave, tenth...), each held on."""
    notes = []
    voicer = _Voicer(48, 72)
    for index in range(len(context.grid.times)):
        for half in (0.0, 0.5):
            start = context.grid.time(index + half)
            chord = chord_at(context.harmony, start + 1e-6)
            if chord is None:
                continue
            low = voicer(chord)
            ladder = low + [pitch + 12 for pitch in low]
            step = (2 * index + int(half * 2)) % (2 * len(ladder) - 2)
            pitch = ladder[step if step < len(ladder) else 2 * len(ladder) - 2 - step]
            end = min(chord.end, start + 2.0 * context.grid.period)
            accent = 1.05 if context.grid.positions[index] == 0 and half == 0 else 0.85
            notes += _strike(context, start, end, lambda _chord, pitch=pitch: [pitch], context.level(index, accent))
    return notes


def _comp_strum(context: _Context) -> list[Note]:
    """A guitar strum: down-down-up-up-down-up in 4/4 (down-down-up-down-up in 3/4), strings spread in time."""
    voicer = _Voicer(45, 72)

    def guitar(chord: Chord) -> list[int]:
        pitches = voicer(chord)
        return pitches + [pitch + 12 for pitch in pitches[:2] if pitch + 12 < 79]

    strokes = {4: [(0.0, "down"), (1.0, "down"), (1.5, "up"), (2.5, "up"), (3.0, "down"), (3.5, "up")],
               3: [(0.0, "down"), (1.0, "down"), (1.5, "up"), (2.0, "down"), (2.5, "up")]}
    notes = []
    for start_beat, count in context.grid.bars():
        pattern = strokes.get(count, [(float(beat), "down") for beat in range(count)])
        for number, (offset, direction) in enumerate(pattern):
            start = context.grid.time(start_beat + offset)
            following = pattern[number + 1][0] if number + 1 < len(pattern) else count
            end = context.grid.time(start_beat + following)
            accent = 1.0 if direction == "down" else 0.75
            notes += _strike(context, start, end, guitar, context.level(start_beat + int(offset), accent),
                             spread=STRUM_STEP_SECONDS, downward=direction == "up")
    return notes


def _comp_power(context: _Context) -> list[Note]:
    """Power chords (root, the chord's own fifth, octave) with the third on top, so the chord's quality is heard, in
    driving eighths accented on the beats."""
    def power(chord: Chord) -> list[int]:
        root = 40 + (chord.root - 40) % 12
        fifth = root + (chord.pitch_classes[2] - chord.root) % 12 if len(chord.pitch_classes) > 2 else root + 12
        third = root + 12 + (chord.pitch_classes[1] - chord.root) % 12
        return [root, fifth, root + 12, third]

    notes = []
    for index in range(len(context.grid.times)):
        for half in (0.0, 0.5):
            start = context.grid.time(index + half)
            notes += _strike(context, start, context.grid.time(index + half + 0.45), power,
                             context.level(index, 1.0 if half == 0 else 0.8))
    return notes


def _comp_sustained(context: _Context) -> list[Note]:
    """Each chord held for as long as it lasts (re-bowed on each downbeat), in an open voicing over two octaves."""
    return _held(context, _open_voicing())


def _comp_chorale(context: _Context) -> list[Note]:
    """Block chords on every beat: three voices in close position and the lowest doubled an octave up."""
    voicer = _Voicer(55, 79)

    def four_parts(chord: Chord) -> list[int]:
        close = voicer(chord)
        return close[:3] + [close[0] + 12]

    return _per_beat(context, four_parts, 0.95)


def _per_beat(context: _Context, pitches_for, length: float) -> list[Note]:
    notes = []
    for index in range(len(context.grid.times)):
        start = context.grid.time(index)
        notes += _strike(context, start, context.grid.time(index + length), pitches_for,
                         context.level(index, 1.05 if context.grid.positions[index] == 0 else 0.9))
    return notes


def _held(context: _Context, pitches_for) -> list[Note]:
    """Each chord from its start (or a downbeat inside it) to the next downbeat or its end."""
    downbeats = [float(time) for time, position in zip(context.grid.times, context.grid.positions) if position == 0]
    notes = []
    for chord in context.harmony.chords:
        if chord.root < 0 or chord.end <= chord.start:
            continue
        strikes = [chord.start] + [time for time in downbeats if chord.start + 0.5 * context.grid.period <= time
                                   < chord.end - 0.5 * context.grid.period]
        for start, end in zip(strikes, strikes[1:] + [chord.end]):
            index = int(np.argmin(np.abs(context.grid.times - start)))
            notes += _strike(context, start, end + 0.01, pitches_for, context.level(index, 0.9))
    return notes


def _pad(context: _Context) -> list[Note]:
    voicer = _Voicer(55, 79)
    return _held(context, voicer)


_COMPING = {"beats": _comp_beats, "eighths": _comp_eighths, "syncopated": _comp_syncopated,
            "charleston": _comp_charleston, "arpeggio": _comp_arpeggio, "strum": _comp_strum, "power": _comp_power,
            "sustained": _comp_sustained, "pulsing": _comp_pulsing, "four": _comp_four, "chorale": _comp_chorale}


# ----------------------------------------------------------------------------------------------------
# Bass


def _bass_pitch(pitch_class: int, near: int | None = None) -> int:
    """A pitch of ``pitch_class`` in :data:`BASS_RANGE`, the one nearest ``near`` (default: the lowest from A1)."""
    candidates = [pitch for pitch in range(*BASS_RANGE) if pitch % 12 == pitch_class % 12]
    if near is None:
        return min(candidates, key=lambda pitch: (pitch < 33, pitch))
    return min(candidates, key=lambda pitch: abs(pitch - near))


def _fifth(chord: Chord) -> int:
    return chord.pitch_classes[2] if len(chord.pitch_classes) > 2 else chord.root


def _bass_notes(context: _Context, hits, velocity_accent: float = 1.1) -> list[Note]:
    """Bass notes at beat positions: ``hits(beat_index, position, chord)`` → [(offset, length, "root"/"fifth")]."""
    notes = []
    previous = None
    for index in range(len(context.grid.times)):
        chord = chord_at(context.harmony, context.grid.time(index) + 1e-6)
        if chord is None:
            continue
        for offset, length, tone in hits(index, int(context.grid.positions[index]), chord):
            start = context.grid.time(index + offset)
            chord_here = chord_at(context.harmony, start + 1e-6)
            if chord_here is None:
                continue
            pitch_class = chord_here.root if tone == "root" else _fifth(chord_here)
            pitch = _bass_pitch(pitch_class, previous)
            previous = pitch
            notes += [Note(max(chord_here.start, start + context.jitter()), min(chord_here.end,
                           context.grid.time(index + offset + length)) - 0.01, pitch,
                           context.level(index, velocity_accent))]
    return notes


def _bass_root_fifth(context: _Context) -> list[Note]:
    half = max(1, context.grid.per_bar // 2)
    return _bass_notes(context, lambda index, position, chord: [(0.0, 0.9, "root" if position < half else "fifth")]
                       if position in (0, half) or _starts_here(context, chord, index) else [])


def _bass_eighths(context: _Context) -> list[Note]:
    return _bass_notes(context, lambda index, position, chord: [(0.0, 0.45, "root"), (0.5, 0.45, "root")], 1.0)


def _bass_held(context: _Context) -> list[Note]:
    half = max(1, context.grid.per_bar // 2)
    return _bass_notes(context, lambda index, position, chord: [(0.0, float(half) - 0.05, "root")]
                       if position % half == 0 or _starts_here(context, chord, index) else [])


def _bass_alternating(context: _Context) -> list[Note]:
    def hits(index, position, chord):
        if context.grid.per_bar == 3:
            return [(0.0, 0.9, "root")] if position == 0 or _starts_here(context, chord, index) else []
        if position % 2 == 0 or _starts_here(context, chord, index):
            return [(0.0, 0.9, "root" if position % 4 == 0 or _starts_here(context, chord, index) else "fifth")]
        return []
    return _bass_notes(context, hits)


def _bass_pizzicato(context: _Context) -> list[Note]:
    half = max(1, context.grid.per_bar // 2)
    return _bass_notes(context, lambda index, position, chord: [(0.0, 0.6, "root" if position == 0 else "fifth")]
                       if position % half == 0 or _starts_here(context, chord, index) else [], 1.0)


def _bass_chorale(context: _Context) -> list[Note]:
    return _bass_notes(context, lambda index, position, chord: [(0.0, 0.95, "root")], 1.0)


def _starts_here(context: _Context, chord: Chord, index: int) -> bool:
    return abs(chord.start - context.grid.time(index)) < 0.25 * context.grid.period


def _bass_walking(context: _Context) -> list[Note]:
    """Quarter notes: the root on a chord's first beat, chord tones stepping on, and on the chord's last beat (for an
    :data:`APPROACH_SHARE` of the changes) an approach a semitone above or below the next root, marked as passing."""
    notes = []
    previous = None
    for index in range(len(context.grid.times)):
        start = context.grid.time(index)
        chord = chord_at(context.harmony, start + 1e-6)
        if chord is None:
            continue
        end = min(chord.end, context.grid.time(index + 0.95))
        following = chord_at(context.harmony, context.grid.time(index + 1) + 1e-6)
        passing = False
        if _starts_here(context, chord, index) or previous is None:
            pitch = _bass_pitch(chord.root, previous)
        elif (following is not None and following is not chord and chord.end <= context.grid.time(index + 1) + 1e-6
              and context.rng.random() < APPROACH_SHARE):
            target = _bass_pitch(following.root, previous)
            pitch = target + (1 if context.rng.random() < 0.5 else -1)
            passing = pitch % 12 not in chord.pitch_classes
        else:
            options = [_bass_pitch(tone, previous) for tone in chord.pitch_classes]
            options = [pitch for pitch in options if pitch != previous] or options
            pitch = min(options, key=lambda candidate: (abs(candidate - previous), candidate))
        previous = pitch
        notes.append(Note(max(chord.start, start + context.jitter()), end - 0.01, pitch,
                          context.level(index, 1.05), passing=passing))
    return notes


_BASS_LINES = {"root-fifth": _bass_root_fifth, "eighths": _bass_eighths, "held": _bass_held,
               "alternating": _bass_alternating, "pizzicato": _bass_pizzicato, "walking": _bass_walking,
               "chorale": _bass_chorale}


# ----------------------------------------------------------------------------------------------------
# Drums


def _hit(context: _Context, beat: float, key: int, accent: float, index: int) -> Note:
    start = max(0.0, context.grid.time(beat) + context.jitter())
    return Note(start, start + 0.1, key, context.level(index, accent))


def _groove(context: _Context, per_beat, fill_keys=(HIGH_TOM, MID_TOM, LOW_TOM, SNARE)) -> list[Note]:
    """Drum hits per beat (``per_beat(position, per_bar)`` → [(offset, key, accent)]), a sixteenth-note fill on the
    last beat of each phrase, a crash on the downbeat after it and on the first."""
    notes = []
    bars = context.grid.bars()
    for bar_number, (start_beat, count) in enumerate(bars):
        phrase_end = context.phrase_end(bar_number, len(bars)) and count == context.grid.per_bar
        for beat in range(start_beat, start_beat + count):
            position = int(context.grid.positions[beat])
            if phrase_end and beat == start_beat + count - 1 and fill_keys:
                notes += [_hit(context, beat + step / 4, fill_keys[step % len(fill_keys)], 0.9 + 0.05 * step, beat)
                          for step in range(4)]
                continue
            notes += [_hit(context, beat + offset, key, accent, beat) for offset, key, accent in
                      per_beat(position, context.grid.per_bar)]
        if count == context.grid.per_bar and (bar_number == 0 or context.phrase_end(bar_number - 1, len(bars))):
            notes.append(_hit(context, start_beat, CRASH, 1.0, start_beat))
    return notes


def _drums_backbeat(context: _Context) -> list[Note]:
    def per_beat(position, per_bar):
        main = KICK if position % 2 == 0 else SNARE
        return [(0.0, main, 1.1), (0.0, CLOSED_HAT, 0.8), (0.5, CLOSED_HAT, 0.6)] + \
            ([(0.5, KICK, 0.8)] if position == 2 and per_bar == 4 else [])
    return _groove(context, per_beat)


def _drums_sparse(context: _Context) -> list[Note]:
    def per_beat(position, per_bar):
        hits = [(0.0, CLOSED_HAT, 0.6)]
        if position == 0:
            hits.append((0.0, KICK, 1.0))
        if position == per_bar // 2 and per_bar > 1:
            hits.append((0.0, SIDE_STICK, 0.9))
        return hits
    return _groove(context, per_beat, fill_keys=(SIDE_STICK, SIDE_STICK, LOW_TOM, LOW_TOM))


def _drums_percussion(context: _Context) -> list[Note]:
    def per_beat(position, per_bar):
        hits = [(0.0, SHAKER, 0.7), (0.5, SHAKER, 0.55)]
        if position == 0:
            hits.append((0.0, KICK, 0.9))
        elif position % 2 == 1 or per_bar == 3:
            hits.append((0.0, TAMBOURINE, 0.8))
        return hits
    return _groove(context, per_beat, fill_keys=(TAMBOURINE, TAMBOURINE, KICK, TAMBOURINE))


def _drums_swing(context: _Context) -> list[Note]:
    def per_beat(position, per_bar):
        hits = [(0.0, RIDE, 0.9)]
        if position % 2 == 1:
            hits += [(2.0 / 3.0, RIDE, 0.7), (0.0, PEDAL_HAT, 0.7)]
        if position == 0:
            hits.append((0.0, KICK, 0.6))
        return hits
    return _groove(context, per_beat, fill_keys=(SNARE, SNARE, MID_TOM, LOW_TOM))


def _drums_rock(context: _Context) -> list[Note]:
    def per_beat(position, per_bar):
        main = KICK if position % 2 == 0 else SNARE
        hits = [(0.0, main, 1.15), (0.0, CLOSED_HAT if position else RIDE, 0.85), (0.5, CLOSED_HAT, 0.7)]
        if position % 2 == 0:
            hits.append((0.5, KICK, 0.85))
        return hits
    return _groove(context, per_beat)


_GROOVES = {"backbeat": _drums_backbeat, "sparse": _drums_sparse, "percussion": _drums_percussion,
            "swing": _drums_swing, "rock": _drums_rock}


def _clean(notes: tuple[Note, ...], duration: float) -> tuple[Note, ...]:
    """Notes inside [0, duration), at least MIN_NOTE_SECONDS long, in time order."""
    kept = [Note(note.start, min(note.end, duration), note.pitch, note.velocity, note.passing) for note in notes
            if 0.0 <= note.start < duration]
    return tuple(sorted((note for note in kept if note.end - note.start >= MIN_NOTE_SECONDS or note.pitch < 0),
                        key=lambda note: (note.start, note.pitch)))


def sevenths(harmony: Harmony) -> Harmony:
    """The plan with its triads made diatonic seventh chords of its key (I maj7, ii m7, V 7…), for the jazz style's
    training pairs: the plan records what the band plays. Chords already sevenths, and no-chords, stay."""
    scale = (0, 2, 4, 5, 7, 9, 11) if harmony.key_mode == "major" else (0, 2, 3, 5, 7, 8, 10)
    in_key = {(harmony.key_tonic + step) % 12 for step in scale}
    chords = []
    for chord in harmony.chords:
        quality = chord.quality
        if chord.root >= 0 and quality in ("maj", "min"):
            for seventh, name in ((11, "maj7"), (10, "7" if quality == "maj" else "min7")):
                if QUALITY_INTERVALS[name][:3] == QUALITY_INTERVALS[quality] and (chord.root + seventh) % 12 in in_key:
                    quality = name
                    break
        chords.append(dataclasses.replace(chord, quality=quality))
    return dataclasses.replace(harmony, chords=tuple(chords))
