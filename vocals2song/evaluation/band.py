"""The plan played by a General MIDI band: a Songsmith-style accompaniment, the ceiling baseline of ``evaluate``.

:func:`play_plan` turns a :class:`~vocals2song.plan.harmony.Harmony` (the chords and beats the generator reads in the
B channel) into audio through the corpus renderer's FluidSynth (:func:`vocals2song.arrange.render.synthesize_events`):

- a bass (fingered electric bass) plays each chord's root in octave 2 on every beat of the chord;
- a piano plays the chord in close position from C4 (:func:`vocals2song.plan.midi.chord_pitches`), struck at each
  chord change and again on each downbeat it lasts over;
- drums play kick on the bar's odd beats, snare on the even ones, closed hats on the eighths, a crash on the
  first downbeat.

What a pix2pix generator could at best learn from the plan alone: every note fits the chords, every hit sits on
the beat. It knows nothing of the voice beyond the plan read from it.
"""

from __future__ import annotations

import numpy as np

from vocals2song.plan.harmony import Harmony
from vocals2song.plan.midi import beats_per_bar, chord_pitches

BASS_PROGRAM = 33  # "Electric Bass (finger)"
CHORD_PROGRAM = 0  # "Acoustic Grand Piano"
BASS_OCTAVE = 36  # C2
BASS_CHANNEL, CHORD_CHANNEL, DRUM_CHANNEL = 0, 1, 9
KICK, SNARE, CLOSED_HAT, CRASH = 36, 38, 42, 49
VELOCITIES = {"bass": 95, "chord": 70, "kick": 100, "snare": 85, "hat": 60, "crash": 85}
DRUM_SECONDS = 0.1
HUMANISE_SECONDS = 0.005

Event = tuple[float, int, int, int, int]  # (seconds, is_note_on, channel, key, velocity)


def _note(start: float, end: float, channel: int, key: int, velocity: int) -> list[Event]:
    return [(max(0.0, start), 1, channel, int(key), int(velocity)), (max(0.0, end), 0, channel, int(key), 0)]


def _beat_grid(harmony: Harmony) -> tuple[np.ndarray, np.ndarray]:
    """(beat times, each beat's index within its bar, 0 = downbeat): the plan's beats, or a grid at its tempo."""
    beats = np.asarray(harmony.beats, dtype=float)
    if len(beats) < 2:
        beats = np.arange(0.0, harmony.duration, 60.0 / max(harmony.tempo_bpm, 1e-3))
    downbeats = np.asarray(harmony.downbeats, dtype=float)
    per_bar = beats_per_bar(harmony)
    if len(downbeats):
        first = int(np.argmin(np.abs(beats - downbeats[0])))
        positions = (np.arange(len(beats)) - first) % per_bar
    else:
        positions = np.arange(len(beats)) % per_bar
    return beats, positions


def band_events(harmony: Harmony, seed: int = 0) -> list[Event]:
    """The MIDI events of bass, piano and drums for ``harmony`` (times in its seconds, slightly humanised)."""
    rng = np.random.default_rng(seed)
    beats, positions = _beat_grid(harmony)
    period = float(np.median(np.diff(beats))) if len(beats) > 1 else 60.0 / harmony.tempo_bpm
    jitter = lambda: float(rng.normal(0.0, HUMANISE_SECONDS))  # noqa: E731
    events: list[Event] = []
    downbeat_times = beats[positions == 0]
    for chord in harmony.chords:
        if chord.root < 0 or chord.end <= chord.start:
            continue
        strikes = [chord.start] + [time for time in downbeat_times if chord.start + 0.5 * period <= time < chord.end]
        for start, end in zip(strikes, strikes[1:] + [chord.end]):
            for pitch in chord_pitches(chord.root, chord.pitch_classes)[1:]:
                events += _note(start + jitter(), end - 0.02, CHORD_CHANNEL, pitch, VELOCITIES["chord"])
        bass_times = [chord.start] + [time for time in beats if chord.start + 0.5 * period <= time < chord.end]
        for start, end in zip(bass_times, bass_times[1:] + [chord.end]):
            events += _note(start + jitter(), min(end, start + period) - 0.03, BASS_CHANNEL,
                            BASS_OCTAVE + chord.root, VELOCITIES["bass"])  # fmt: skip
    for time, position in zip(beats, positions):
        if time >= harmony.duration:
            break
        drum = KICK if position % 2 == 0 else SNARE
        events += _note(time + jitter(), time + DRUM_SECONDS, DRUM_CHANNEL, drum, VELOCITIES["kick" if drum == KICK
                                                                                                else "snare"])
        for half in (0.0, 0.5):
            events += _note(time + half * period + jitter(), time + half * period + DRUM_SECONDS, DRUM_CHANNEL,
                            CLOSED_HAT, VELOCITIES["hat"])  # fmt: skip
        if position == 0 and time == downbeat_times[0]:
            events += _note(time, time + 4 * DRUM_SECONDS, DRUM_CHANNEL, CRASH, VELOCITIES["crash"])
    return [event for event in events if event[0] < harmony.duration]


def play_plan(harmony: Harmony, sample_rate: int, nb_samples: int | None = None, *, soundfont=None,
              seed: int = 0, style: str | None = None) -> np.ndarray:  # fmt: skip
    """``harmony`` played by bass, piano and drums through FluidSynth: float32 mono, ``nb_samples`` long (default:
    the plan's duration). ``soundfont``: a GM .sf2 (default pretty_midi's TimGM6mb, the corpus's). ``style``: play
    it instead through the arranger in that style (:func:`vocals2song.arrange.arranger.arrange`, mixed by
    :func:`vocals2song.arrange.produce.play_arrangement`), the baseline for a generator asked for that style. Needs
    libfluidsynth and pyfluidsynth, as the corpus renderer does."""
    from vocals2song.arrange.render import Soundfonts, resolve_soundfont, synthesize_events

    if nb_samples is None:
        nb_samples = int(round(harmony.duration * sample_rate))
    if style is not None:
        from vocals2song.arrange.arranger import arrange
        from vocals2song.arrange.produce import play_arrangement

        return play_arrangement(arrange(harmony, style, seed), sample_rate, nb_samples,
                                Soundfonts(str(resolve_soundfont(soundfont))), np.random.default_rng(seed))
    programs = [BASS_PROGRAM, CHORD_PROGRAM]  # the pitched channels 0 and 1, in order
    return synthesize_events(band_events(harmony, seed), programs, str(resolve_soundfont(soundfont)), sample_rate,
                             nb_samples)
