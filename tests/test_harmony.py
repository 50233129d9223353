"""The Harmony type and the estimator: labels, keys, segments, and plans read from voices the tests synthesise."""

import numpy as np
import pytest

from vocals2song.plan.estimate import estimate_harmony, estimate_key, segment_bounds
from vocals2song.plan.harmony import Chord, Harmony, MelodyNote, chord_from_label, parse_key, reduce_chord
from vocals2song.plan.listening import ONSET_LATENCY_SECONDS, estimate_tempo, onset_grid_fit

SAMPLE_RATE = 22050
TEMPO = 120.0
# Bars of four quarter notes (MIDI) over C, F, G7, C, Am, F, G, C.
BARS = [((60, 64, 67, 64), (0, "maj")), ((65, 69, 72, 69), (5, "maj")), ((67, 71, 74, 77), (7, "7")),
        ((72, 67, 64, 60), (0, "maj")), ((69, 72, 76, 72), (9, "min")), ((65, 69, 72, 77), (5, "maj")),
        ((67, 71, 74, 71), (7, "maj")), ((72, 72, 72, 72), (0, "maj"))]


def sung_melody(bars=BARS, tempo=TEMPO, transpose=0, sample_rate=SAMPLE_RATE, seed=0) -> np.ndarray:
    """A plain 'sung' melody: one harmonic tone per quarter note with a soft attack, a short gap between notes,
    light vibrato and breath noise. float32 (nb_samples,), peak 0.5."""
    rng = np.random.default_rng(seed)
    beat = 60.0 / tempo
    note_samples = int(beat * sample_rate)
    notes = []
    for pitches, _ in bars:
        for pitch in pitches:
            time = np.arange(note_samples) / sample_rate
            hz = 440.0 * 2 ** ((pitch + transpose - 69 + 0.2 * np.sin(2 * np.pi * 5.0 * time)) / 12)
            phase = 2 * np.pi * np.cumsum(hz) / sample_rate
            tone = sum(np.sin(k * phase) / k for k in range(1, 12))
            envelope = np.clip(time / 0.03, 0, 1) * np.clip((beat - 0.06 - time) / 0.03, 0, 1)
            notes.append(tone * envelope)
    voice = np.concatenate(notes) + 0.005 * rng.standard_normal(len(notes) * note_samples)
    return (0.5 * voice / np.max(np.abs(voice))).astype(np.float32)


def chord_at(harmony: Harmony, seconds: float) -> Chord:
    return next(chord for chord in harmony.chords if chord.start <= seconds < chord.end)


def test_labels_names_and_keys():
    assert Chord(0, 1, 0, "maj").label == "C:maj" and Chord(0, 1, 0, "maj").name == "C"
    assert Chord(0, 1, 9, "min").name == "Am" and Chord(0, 1, 7, "7").name == "G7"
    assert Chord(0, 1, 10, "7").label == "Bb:7" and Chord(0, 1, 7, "7").pitch_classes == (7, 11, 2, 5)
    assert Chord(0, 1, -1, "N").label == "N" and Chord(0, 1, -1, "X").label == "X"
    assert chord_from_label(0, 1, "F#:min") == Chord(0, 1, 6, "min")
    assert parse_key("C") == (0, None) and parse_key("A minor") == (9, "minor") and parse_key("Bbm") == (10, "minor")
    assert parse_key("eb major") == (3, "major") and parse_key("F♯:min") == (6, "minor")
    for bad in ("H", "C mixolydian", "", "12"):
        with pytest.raises(ValueError):
            parse_key(bad)


def test_reduce_chord_reads_diminished_as_rootless_dominant():
    assert reduce_chord(11, "dim") == (7, "7")  # B dim in C is G7 without G
    assert reduce_chord(11, "dim7") == (7, "7")
    assert reduce_chord(11, "hdim7") == (2, "min")  # B-D-F-A holds D minor
    assert reduce_chord(0, "maj7") == (0, "maj") and reduce_chord(9, "min7") == (9, "min")
    assert reduce_chord(-1, "N") is None and reduce_chord(-1, "X") is None


def test_segments_are_half_bars_restarting_at_downbeats():
    beats = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5]  # a one-beat pickup, then 4/4 from 1.0
    bounds = segment_bounds(beats, [1.0, 3.0], end=5.0)
    assert bounds == [(0.0, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 4.0), (4.0, 5.0)]
    assert segment_bounds([0.0, 1.0, 2.0], [0.0], end=3.0, beats_per_segment=3) == [(0.0, 3.0)]


def test_harmony_round_trips_and_moves():
    harmony = Harmony(key_tonic=9, key_mode="minor", tempo_bpm=96.0, beats=(0.0, 0.625, 1.25, 1.875),
                      downbeats=(0.0,), chords=(Chord(0.0, 1.25, 9, "min"), Chord(1.25, 2.5, 4, "7")), duration=2.5,
                      melody=(MelodyNote(0.1, 0.6, 69.0),))
    assert Harmony.from_dict(harmony.to_dict()) == harmony
    window = harmony.window(1.0, 2.0)
    assert window.beats == (0.25, 0.875) and window.downbeats == () and window.duration == 1.0
    assert [(chord.start, chord.end, chord.name) for chord in window.chords] == [(0.0, 0.25, "Am"), (0.25, 1.0, "E7")]
    assert harmony.shifted(1.0).chords[1].start == 2.25 and harmony.shifted(1.0).beats[0] == 1.0
    transposed = harmony.transposed(3)
    assert transposed.key_name == "C minor" and [chord.name for chord in transposed.chords] == ["Cm", "G7"]
    with pytest.raises(ValueError):
        Harmony.from_dict({"key": "C major"})


def test_key_profiles_find_the_key_of_a_scale():
    c_major = np.array([4, 0, 2, 0, 3, 2, 0, 4, 0, 2, 0, 1], dtype=float)
    assert estimate_key(c_major) == (0, "major")
    assert estimate_key(np.roll(c_major, 7)) == (7, "major")
    a_minor = np.array([2, 0, 1, 3, 2, 1, 0, 1, 1, 4, 0, 2], dtype=float)
    assert estimate_key(a_minor) == (9, "minor")
    assert estimate_key(np.zeros(12)) == (0, "major")


@pytest.mark.parametrize("tempo", [60.0, 90.0, 150.0])
def test_tempo_is_the_sung_pulse_not_a_multiple(tempo):
    """One note per beat: the tempo within 4 % of the sung one, not half or double it (150 BPM was read as 75
    before the tempo's metrical relatives competed)."""
    harmony = estimate_harmony(sung_melody(bars=BARS[:6], tempo=tempo), SAMPLE_RATE)
    assert harmony.tempo_bpm == pytest.approx(tempo, rel=0.04)
    assert np.median(np.diff(harmony.beats)) == pytest.approx(60.0 / tempo, rel=0.04)


def test_onsets_fit_their_own_grid_best():
    period = 0.6
    notes = [(beat * period + ONSET_LATENCY_SECONDS, beat * period + 0.5, 60.0) for beat in range(20)]
    grid = np.arange(20) * period
    assert onset_grid_fit(notes, grid) == pytest.approx(1.0)
    assert onset_grid_fit(notes, grid[::2]) == pytest.approx(2 / 3, abs=0.02)  # half tempo: half the onsets off it
    assert onset_grid_fit(notes, np.arange(40) * period / 2) == pytest.approx(2 / 3, abs=0.02)  # double: empty beats
    assert onset_grid_fit(notes, grid + period / 2) == 0.0  # the off-beats
    assert onset_grid_fit([], grid) == 0.0 and onset_grid_fit(notes, np.zeros(0)) == 0.0


def test_estimate_tempo_prefers_the_relative_the_notes_start_on():
    """An envelope that pulses every half beat (as consonants or ornaments would) with notes that start only on the
    beats: the tempo is the notes' (90 BPM); the envelope alone is periodic at 180, 90, 60... BPM (it reads 60)."""
    frame_seconds = 256 / SAMPLE_RATE
    period = 60.0 / 90.0
    envelope = np.zeros(int(16 / frame_seconds))
    envelope[np.round(np.arange(0, 16, period / 2) / frame_seconds).astype(int)] = 1.0
    notes = [(start + ONSET_LATENCY_SECONDS, start + 0.6, 60.0) for start in np.arange(0, 15.5, period)]
    assert estimate_tempo(envelope, frame_seconds, notes) == pytest.approx(90.0, rel=0.04)
    assert estimate_tempo(envelope, frame_seconds) != pytest.approx(90.0, rel=0.04)


@pytest.fixture(scope="module")
def melody_harmony():
    return estimate_harmony(sung_melody(), SAMPLE_RATE)


def test_estimator_reads_key_tempo_and_beats(melody_harmony):
    harmony = melody_harmony
    assert harmony.key_name == "C major"
    assert harmony.tempo_bpm == pytest.approx(TEMPO, rel=0.05)
    beats = np.asarray(harmony.beats)
    expected = np.arange(0, 16, 0.5)
    distances = np.abs(beats[:, None] - expected[None, :]).min(axis=0)
    assert np.mean(distances < 0.07) > 0.8  # most true beats have an estimated beat within 70 ms
    assert harmony.duration == pytest.approx(16.0, abs=0.01)
    assert harmony.chords[0].start == 0.0 and harmony.chords[-1].end == pytest.approx(harmony.duration)
    sung = [round(note.pitch) for note in harmony.melody]
    assert len(sung) >= 28 and np.mean(np.isin(sung, [pitch for pitches, _ in BARS for pitch in pitches])) > 0.9


def test_estimated_chords_fit_the_melody(melody_harmony):
    harmony = melody_harmony
    fitting = [int(round(note.pitch)) % 12 in chord_at(harmony, (note.start + note.end) / 2).pitch_classes
               for note in harmony.melody]
    assert np.mean(fitting) > 0.75
    roots = [chord_at(harmony, 2.0 * bar + 1.0).root for bar in range(len(BARS))]
    assert np.mean([root == true_root for root, (_, (true_root, _)) in zip(roots, BARS)]) >= 0.6


def test_chords_change_only_on_beats(melody_harmony):
    """One chord per beat (equal neighbours merged): every chord starts at the start or on a beat."""
    starts = np.array([chord.start for chord in melody_harmony.chords])
    beats = np.array((0.0, *melody_harmony.beats))
    assert np.all(np.min(np.abs(starts[:, None] - beats[None, :]), axis=1) < 1e-3)
    labels = [chord.label for chord in melody_harmony.chords]
    assert all(first != second for first, second in zip(labels, labels[1:]))


def test_controls_are_followed():
    voice = sung_melody()
    given = estimate_harmony(voice, SAMPLE_RATE, key="D", tempo=90.0)
    assert given.key_tonic == 2 and given.tempo_bpm == 90.0
    assert np.median(np.diff(given.beats)) == pytest.approx(60 / 90, rel=0.02)
    minor = estimate_harmony(voice, SAMPLE_RATE, key="C", happy=0.0, chord_rhythm="beat")  # many chords to count
    major = estimate_harmony(voice, SAMPLE_RATE, key="C", happy=1.0, chord_rhythm="beat")
    assert minor.key_mode == "minor" and major.key_mode == "major"
    assert sum(chord.quality == "min" for chord in minor.chords) > sum(chord.quality == "min" for chord in major.chords)
    plain = estimate_harmony(voice, SAMPLE_RATE, jazz=0.0)
    jazzy = estimate_harmony(voice, SAMPLE_RATE, jazz=1.0)
    assert sum(chord.quality == "7" for chord in jazzy.chords) >= sum(chord.quality == "7" for chord in plain.chords)
    for bad in ({"tempo": 5.0}, {"happy": 2.0}, {"jazz": -1.0}, {"key": "Q minor"}):
        with pytest.raises(ValueError):
            estimate_harmony(voice, SAMPLE_RATE, **bad)


def test_transposed_voice_gives_transposed_key():
    harmony = estimate_harmony(sung_melody(transpose=5), SAMPLE_RATE)
    assert harmony.key_name == "F major"


def test_any_rate_silence_and_noise_give_a_plan():
    voice = sung_melody()[: 4 * SAMPLE_RATE]
    at_44k = estimate_harmony(np.repeat(voice, 2), 2 * SAMPLE_RATE)
    assert at_44k.duration == pytest.approx(4.0, abs=0.01)
    for signal in (np.zeros(SAMPLE_RATE * 2, np.float32),
                   0.1 * np.random.default_rng(0).standard_normal(SAMPLE_RATE * 2).astype(np.float32)):
        harmony = estimate_harmony(signal, SAMPLE_RATE)
        assert harmony.chords and harmony.chords[-1].end == pytest.approx(2.0, abs=0.01)
        assert 60 <= harmony.tempo_bpm <= 180


def test_the_plan_as_midi_holds_the_right_chords(tmp_path, melody_harmony):
    import pretty_midi

    from vocals2song.plan.midi import write_midi

    path = write_midi(melody_harmony, tmp_path / "plan.mid")
    song = pretty_midi.PrettyMIDI(str(path))
    melody, chords = song.instruments
    assert (melody.name, chords.name) == ("Melody", "Chords")
    assert len(melody.notes) == len(melody_harmony.melody)
    for chord in melody_harmony.chords:
        middle = (chord.start + chord.end) / 2
        sounding = sorted(note.pitch for note in chords.notes if note.start <= middle < note.end)
        assert sounding[0] % 12 == chord.root  # the bass plays the root
        assert {pitch % 12 for pitch in sounding} == set(chord.pitch_classes)
    assert [event.text for event in song.text_events] == [chord.name for chord in melody_harmony.chords]
    assert song.get_tempo_changes()[1][0] == pytest.approx(melody_harmony.tempo_bpm, abs=0.01)  # MIDI ticks round it
    assert song.key_signature_changes[0].key_number == melody_harmony.key_tonic  # a major key: 0-11


def test_chord_chart_has_a_cell_per_bar(melody_harmony):
    from vocals2song.plan.harmony import chart_bars, format_chart

    bars = chart_bars(melody_harmony)
    assert bars[0][0] == 0.0 and bars[-1][1] == pytest.approx(melody_harmony.duration)
    assert all(names for _, _, names in bars)
    text = format_chart(melody_harmony, bars_per_line=4)
    assert text.splitlines()[0] == f"C major, {melody_harmony.tempo_bpm:.0f} BPM"
    assert text.count("|") - len(text.splitlines()[1:]) == len(bars)


def test_a_detuned_singer_gives_the_same_key_and_notes():
    voice = sung_melody()
    samples = np.arange(len(voice))
    flat = np.interp(samples * 2 ** (-0.3 / 12), samples, voice).astype(np.float32)  # 30 cents flat, a bit longer
    harmony = estimate_harmony(flat, SAMPLE_RATE)
    assert harmony.key_name == "C major"
    sung = [round(note.pitch) for note in harmony.melody]
    assert np.mean(np.isin(sung, [pitch for pitches, _ in BARS for pitch in pitches])) > 0.9


def test_plan_controls_are_checked_once_with_one_sentence():
    from vocals2song.errors import PlanError
    from vocals2song.plan.controls import PlanControls

    controls = PlanControls.make(key="F# minor", tempo=90, happy=0, jazz=1)
    assert (controls.tonic, controls.mode, controls.tempo, controls.happy, controls.jazz) == (6, "minor", 90.0, 0.0, 1.0)
    assert controls.key == (6, "minor") and PlanControls().key is None
    for bad, words in (({"key": "H"}, "not a key"), ({"tempo": 10}, "between 30 and 300"),
                       ({"tempo": float("nan")}, "tempo"), ({"happy": 1.5}, "major/minor"), ({"jazz": "lots"}, "jazz"),
                       ({"chord_rhythm": "often"}, "chord rhythm"), ({"key": (12, None)}, "tonic")):
        with pytest.raises(PlanError, match=words):
            PlanControls.make(**bad)
    with pytest.raises(TypeError):
        estimate_harmony(np.zeros(22050, dtype=np.float32), SAMPLE_RATE, controls, key="C")


def test_chord_rhythm_bar_changes_chords_only_on_downbeats_when_a_change_inside_a_bar_is_barred():
    from vocals2song.plan.controls import PlanControls

    voice = sung_melody()
    beat = estimate_harmony(voice, SAMPLE_RATE, PlanControls.make(tempo=100.0, chord_rhythm="beat"))
    bar = estimate_harmony(voice, SAMPLE_RATE, PlanControls.make(tempo=100.0, chord_rhythm="bar"),
                           mid_bar_cost=float("inf"))  # fmt: skip
    downbeats = {round(time, 3) for time in bar.downbeats}
    changes = [round(chord.start, 3) for chord in bar.chords[1:]]
    assert changes and all(change in downbeats for change in changes)
    assert len(bar.chords) < len(beat.chords)
    free = estimate_harmony(voice, SAMPLE_RATE, PlanControls.make(tempo=100.0, chord_rhythm="bar"), mid_bar_cost=0.0)
    half = estimate_harmony(voice, SAMPLE_RATE, PlanControls.make(tempo=100.0, chord_rhythm="half"))
    assert free.chords == half.chords  # without its cost "bar" is "half"


def test_chords_last_a_bar_by_default_and_change_inside_one_where_the_melody_asks():
    """The default rhythm keeps chords for at least half a bar over a melody of one chord per bar, but follows a
    melody that sings C's tones for half a bar and G's for the other half."""
    from vocals2song.plan.controls import DEFAULT_CHORD_RHYTHM, PlanControls

    assert DEFAULT_CHORD_RHYTHM == "bar"
    plain = estimate_harmony(sung_melody(), SAMPLE_RATE, tempo=TEMPO)
    beat_seconds = 60.0 / TEMPO
    lengths = [(chord.end - chord.start) / beat_seconds for chord in plain.chords]
    assert np.median(lengths) >= 2.0  # (4 with the bars in phase; the bar lines found here are 3 beats late)
    split_bars = [((60, 64, 71, 74), (0, "maj"))] * 6 + [((72, 72, 72, 72), (0, "maj"))]
    asked = estimate_harmony(sung_melody(split_bars), SAMPLE_RATE, tempo=TEMPO)
    bar_lines = {round(time, 2) for time in asked.downbeats}
    inside = [chord for chord in asked.chords[1:] if round(chord.start, 2) not in bar_lines]
    assert len(inside) >= 3  # most bars change chord at their middle
    strict = estimate_harmony(sung_melody(split_bars), SAMPLE_RATE, PlanControls.make(tempo=TEMPO),
                              mid_bar_cost=float("inf"))  # fmt: skip
    assert len(strict.chords) < len(asked.chords)
