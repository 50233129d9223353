"""The arranger: every style plays the plan's chords (chord tones only, marked passing notes aside), on its beats,
voice-led, with fills at phrase ends; the renderer and mixer turn it into a produced accompaniment."""

import numpy as np
import pytest

from vocals2song.arrange.arranger import (CRASH, STYLE_RECIPES, BeatGrid, arrange, chord_at, sevenths,
                                          voice_chord)
from vocals2song.errors import PlanError
from vocals2song.plan.harmony import Chord, Harmony, MelodyNote
from vocals2song.plan.style import STYLES


def make_plan(per_bar: int = 4, bars: int = 8, period: float = 0.5, rest_from: float | None = None) -> Harmony:
    """Bars of C, G, Am, F (two chords in some bars, a bar of no chord), sung over except after ``rest_from``."""
    beats = tuple(np.arange(bars * per_bar) * period)
    downbeats = beats[::per_bar]
    bar = per_bar * period
    chords, time = [], 0.0
    progression = [(0, "maj"), (7, "maj"), (9, "min"), (5, "maj")]
    for index in range(bars):
        if index == 5:
            chords.append(Chord(time, time + bar, -1, "N"))
        elif index % 3 == 2:  # two chords in the bar, the second from its middle beat
            middle = time + (per_bar // 2) * period
            chords += [Chord(time, middle, *progression[index % 4]), Chord(middle, time + bar, 2, "min")]
        else:
            chords.append(Chord(time, time + bar, *progression[index % 4]))
        time += bar
    end = rest_from if rest_from is not None else time
    melody = tuple(MelodyNote(start, min(start + period, end), 64.0) for start in np.arange(0.0, end, period))
    return Harmony(0, "major", 60.0 / period, beats, downbeats, tuple(chords), time, melody)


@pytest.mark.parametrize("per_bar", [3, 4])
@pytest.mark.parametrize("style", STYLES)
def test_every_pitched_note_is_a_tone_of_the_chord_it_sounds_over(style, per_bar):
    plan = sevenths(make_plan(per_bar)) if style == "jazz" else make_plan(per_bar)
    for seed in range(3):
        arrangement = arrange(plan, style, seed)
        pitched = [track for track in arrangement.tracks if not track.is_drums]
        assert {track.role for track in pitched} >= {"chords", "bass"}
        for track in pitched:
            assert track.notes, f"{style}: the {track.role} track is empty"
            for note in track.notes:
                assert note.end > note.start
                if note.passing:
                    assert track.role == "bass", "only the bass plays marked passing notes"
                    continue
                chord = chord_at(plan, note.start)
                assert chord is not None and chord is chord_at(plan, note.end - 1e-6), (style, track.role, note)
                assert note.pitch % 12 in chord.pitch_classes, (style, track.role, note, chord)


def test_no_note_sounds_where_the_plan_has_no_chord():
    plan = make_plan()
    silent = next(chord for chord in plan.chords if chord.root < 0)
    for style in STYLES:
        for track in arrange(plan, style, 0).tracks:
            if not track.is_drums:
                assert not [note for note in track.notes if note.start < silent.end and note.end > silent.start]


def test_the_same_seed_gives_the_same_notes_and_seeds_vary_the_band():
    plan = make_plan()
    assert arrange(plan, "pop", 3) == arrange(plan, "pop", 3)
    bands = {tuple(track.program for track in arrange(plan, "pop", seed).tracks) for seed in range(12)}
    assert len(bands) > 1
    for seed in range(12):
        arrangement = arrange(plan, "pop", seed)
        assert arrangement.track("chords").program in STYLE_RECIPES["pop"].chords
        assert arrangement.track("bass").program in STYLE_RECIPES["pop"].bass


def test_styles_differ_in_rhythm_and_drums():
    plan = make_plan()
    def onsets(style: str, seed: int = 0) -> int:
        return len({round(note.start, 2) for note in arrange(plan, style, seed).track("chords").notes})

    held = min(onsets("strings", seed) for seed in range(6))  # some seeds hold each chord, others re-bow each beat
    assert held < onsets("chamber") < onsets("rock")  # held chords < a chord per beat < driving eighths
    for style in ("strings", "chamber"):
        assert arrange(plan, style, 0).track("drums") is None
    assert any(arrange(plan, "rock", seed).track("drums") is not None for seed in range(3))


def test_an_unknown_style_is_refused():
    with pytest.raises(PlanError, match="style"):
        arrange(make_plan(), "polka")


def test_voice_leading_moves_to_the_nearest_inversion():
    c_major = voice_chord((0, 4, 7), None)
    assert sorted(pitch % 12 for pitch in c_major) == [0, 4, 7]
    f_major = voice_chord((5, 9, 0), [60, 64, 67])
    assert f_major == [60, 65, 69]  # C stays, E→F, G→A: the second inversion, not F-A-C from F4
    g_major = voice_chord((7, 11, 2), [60, 64, 67])
    assert g_major == [59, 62, 67]


def test_drums_fill_the_end_of_each_phrase_and_crash_after_it():
    plan = make_plan(bars=8)
    grid = BeatGrid.of(plan)
    drums = arrange(plan, "rock", 1).track("drums")
    if drums is None:
        drums = next(arrange(plan, "rock", seed).track("drums") for seed in range(2, 10)
                     if arrange(plan, "rock", seed).track("drums") is not None)
    fourth_bar_last_beat = grid.times[15]
    fill = [note for note in drums.notes if fourth_bar_last_beat - 0.02 <= note.start < fourth_bar_last_beat + 0.5]
    assert len({round(note.start, 2) for note in fill}) >= 4  # sixteenths
    crashes = [note.start for note in drums.notes if note.pitch == CRASH]
    assert any(abs(time - grid.times[16]) < 0.03 for time in crashes)
    assert any(abs(time - grid.times[0]) < 0.03 for time in crashes)


def test_the_band_plays_softer_where_the_voice_rests():
    plan = make_plan(rest_from=8.0)
    notes = arrange(plan, "pop", 0).track("chords").notes
    sung = [note.velocity for note in notes if note.start < 7.9]
    resting = [note.velocity for note in notes if note.start >= 8.5]
    assert np.mean(resting) < 0.9 * np.mean(sung)


def test_jazz_walks_and_marks_its_approach_notes():
    plan = sevenths(make_plan())
    arrangement = arrange(plan, "jazz", 0)
    bass = arrangement.track("bass").notes
    assert len(bass) >= len(plan.beats) - 4 - 1  # a note per beat (the bar without a chord aside)
    assert any(note.passing for note in bass)


@pytest.mark.parametrize("style", ["jazz", "pop"])
def test_a_seventh_is_struck_softer_than_its_triad(style):
    """The tone above the triad is colour: in every struck chord it is softer than the triad's tones beside it."""
    plan = sevenths(make_plan())
    chords = arrange(plan, style, 0).track("chords").notes
    compared = 0
    for chord in plan.chords:
        if len(chord.pitch_classes) < 4:
            continue
        for start in sorted({note.start for note in chords if chord.start <= note.start < chord.end}):
            struck = [note for note in chords if abs(note.start - start) < 0.02]  # a strum spreads its strings
            colour = [note.velocity for note in struck if note.pitch % 12 in chord.pitch_classes[3:]]
            triad = [note.velocity for note in struck if note.pitch % 12 in chord.pitch_classes[:3]]
            if colour and triad:
                assert max(colour) < min(triad), (chord.name, colour, triad)
                compared += 1
    assert compared >= 10


def test_sevenths_are_diatonic():
    plan = make_plan()
    names = [chord.name for chord in sevenths(plan).chords if chord.root >= 0]
    assert names[:3] == ["Cmaj7", "G7", "Am7"]


@pytest.fixture(scope="module")
def fluidsynth_available():
    pytest.importorskip("pedalboard")
    try:
        from vocals2song.arrange.render import _require_fluidsynth
        _require_fluidsynth()
    except Exception as error:  # noqa: BLE001
        pytest.skip(f"FluidSynth unavailable: {error}")


def test_an_arrangement_renders_and_mixes_to_a_limited_accompaniment(fluidsynth_available):
    from vocals2song.arrange.produce import LIMIT_DB, play_arrangement
    from vocals2song.arrange.render import Soundfonts, resolve_soundfont

    plan = make_plan(bars=4)
    rate = 16000
    nb_samples = int(plan.duration * rate)
    audio = play_arrangement(arrange(plan, "pop", 0), rate, nb_samples, Soundfonts(str(resolve_soundfont(None))),
                             np.random.default_rng(0))
    assert audio.shape == (nb_samples,) and audio.dtype == np.float32
    assert np.all(np.isfinite(audio))
    assert 0.05 < np.max(np.abs(audio)) <= 10 ** (LIMIT_DB / 20) + 0.02
    # the chords sound: the spectrum's strongest pitch classes during the first bar are C major's
    first_bar = audio[int(0.2 * rate):int(1.9 * rate)]
    spectrum = np.abs(np.fft.rfft(first_bar * np.hanning(len(first_bar))))
    frequencies = np.fft.rfftfreq(len(first_bar), 1 / rate)
    keep = (frequencies > 100) & (frequencies < 1200)
    classes = np.round(12 * np.log2(frequencies[keep] / 440.0) + 69).astype(int) % 12
    chroma = np.bincount(classes, weights=spectrum[keep] ** 2, minlength=12)
    assert set(np.argsort(chroma)[-3:]) <= {0, 4, 7, 11, 2}  # chord tones (and the strongest partials of G, E)
