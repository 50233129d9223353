"""The plan played by a General MIDI band (the evaluation's ``plan band`` baseline): its chords and its beat."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from vocals2song.evaluation.band import BASS_CHANNEL, CHORD_CHANNEL, DRUM_CHANNEL, KICK, SNARE, band_events, play_plan
from vocals2song.plan.harmony import Chord, Harmony

RATE = 22050
BEAT = 0.5  # 120 BPM


@pytest.fixture(scope="module")
def plan() -> Harmony:
    """C | F | G | C, a bar of four beats each, 8 s at 120 BPM, in C major."""
    beats = tuple(np.arange(16) * BEAT)
    chords = tuple(Chord(start, start + 4 * BEAT, root, "maj") for start, root in zip((0.0, 2.0, 4.0, 6.0),
                                                                                     (0, 5, 7, 0)))
    return Harmony(0, "major", 120.0, beats, beats[::4], chords, 8.0)


def test_events_follow_the_chords_and_the_meter(plan):
    events = band_events(plan, seed=0)
    ons = [event for event in events if event[1] == 1]
    for chord in plan.chords:
        inside = [event for event in ons if chord.start - 0.02 <= event[0] < chord.end - 0.02]
        assert {key % 12 for _, _, channel, key, _ in inside if channel == CHORD_CHANNEL} == set(chord.pitch_classes)
        assert {key % 12 for _, _, channel, key, _ in inside if channel == BASS_CHANNEL} == {chord.root}
    drums = [(round(seconds / BEAT), key) for seconds, _, channel, key, _ in ons if channel == DRUM_CHANNEL
             and key in (KICK, SNARE)]  # fmt: skip
    assert len(drums) == 16  # one kick or snare per beat: kick on beats 1 and 3 of each bar, snare on 2 and 4
    assert all(key == (KICK if beat % 2 == 0 else SNARE) for beat, key in drums)
    assert all(0.0 <= event[0] < plan.duration for event in events)


def test_the_audio_plays_each_chord_on_the_beat(plan):
    audio = play_plan(plan, RATE)
    assert audio.dtype == np.float32 and len(audio) == int(plan.duration * RATE)
    assert 0.01 < np.max(np.abs(audio)) <= 1.0
    chroma = librosa.feature.chroma_cqt(y=audio, sr=RATE, hop_length=512)
    times = librosa.frames_to_time(np.arange(chroma.shape[1]), sr=RATE, hop_length=512)
    for chord in plan.chords:
        inside = (times >= chord.start + 0.1) & (times < chord.end - 0.1)
        strongest = set(np.argsort(chroma[:, inside].mean(axis=1))[-3:])
        assert chord.root in strongest and len(strongest & set(chord.pitch_classes)) >= 2, (chord.name, strongest)
    onsets = librosa.onset.onset_detect(y=audio, sr=RATE, units="time")
    near = [np.min(np.abs(onsets - beat)) < 0.05 for beat in plan.beats]
    assert np.mean(near) >= 0.8


@pytest.mark.parametrize("style", ["folk", "strings"])
def test_the_band_plays_a_style_through_the_arranger(plan, style):
    pytest.importorskip("pedalboard")
    audio = play_plan(plan, RATE, style=style)
    assert audio.dtype == np.float32 and len(audio) == int(plan.duration * RATE)
    assert not np.allclose(audio, play_plan(plan, RATE))
    chroma = librosa.feature.chroma_cqt(y=audio, sr=RATE, hop_length=512)
    times = librosa.frames_to_time(np.arange(chroma.shape[1]), sr=RATE, hop_length=512)
    for chord in plan.chords:
        inside = (times >= chord.start + 0.2) & (times < chord.end - 0.1)
        strongest = set(np.argsort(chroma[:, inside].mean(axis=1))[-3:])
        assert len(strongest & set(chord.pitch_classes)) >= 2, (style, chord.name, strongest)
