"""Musicality features on synthetic songs the tests make: the validation ladder in small, and edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vocals2song.evaluation import baselines
from vocals2song.evaluation.musicality import (
    COMPOSITE_PARTS,
    composite_score,
    key_correlations,
    mean_chroma,
    musicality_features,
    set_chroma_correlation,
    sub_scores,
)

RATE = 22050
MAJOR_TRIADS = {"I": (0, 4, 7), "IV": (5, 9, 12), "V": (7, 11, 14), "vi": (9, 12, 16)}
PROGRESSION = ("I", "IV", "V", "I", "vi", "IV", "V", "I")


def hz(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def plucked(frequency: float, seconds: float, decay: float = 4.0, partials: int = 6) -> np.ndarray:
    times = np.arange(int(seconds * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * k * frequency * times) / k for k in range(1, partials + 1))
    attack = np.minimum(1.0, times / 0.005)
    return tone * attack * np.exp(-decay * times)


def sung(midi: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A sung note: harmonics under a vowel-like tilt, 5.5 Hz vibrato of ±0.4 semitone, soft attack and release."""
    times = np.arange(int(seconds * RATE)) / RATE
    pitch = midi + 0.4 * np.sin(2 * np.pi * 5.5 * times + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * np.cumsum(hz(pitch)) / RATE
    tone = sum(np.sin(k * phase) * (0.8 ** k) for k in range(1, 12))
    envelope = np.minimum(1.0, times / 0.04) * np.minimum(1.0, (seconds - times) / 0.06)
    return tone * envelope


def synthetic_song(tonic: int, bpm: float, seconds: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(voice, accompaniment): a melody on chord tones sung over plucked triads and a bass, one chord per 2 beats."""
    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm
    length = int(seconds * RATE)
    voice, accompaniment = np.zeros(length), np.zeros(length)
    for index in range(int(seconds / beat)):
        start = int(index * beat * RATE)
        triad = MAJOR_TRIADS[PROGRESSION[(index // 2) % len(PROGRESSION)]]
        bass = plucked(hz(tonic - 12 + triad[0]), beat * 1.5)
        for note in [bass] + [plucked(hz(tonic + step), beat * 1.5) for step in triad]:
            stop = min(length, start + len(note))
            accompaniment[start:stop] += 0.15 * note[: stop - start]
        melody = tonic + 12 + triad[rng.integers(0, 3)] + (12 if rng.random() < 0.2 else 0)
        note = sung(melody, beat * 0.9, rng)
        stop = min(length, start + len(note))
        voice[start:stop] += 0.1 * note[: stop - start]
    return voice.astype(np.float32), accompaniment.astype(np.float32)


@pytest.fixture(scope="module")
def songs():
    return [synthetic_song(tonic, bpm, 6.0, seed) for seed, (tonic, bpm) in enumerate(((60, 100), (57, 84), (62, 120)))]


@pytest.fixture(scope="module")
def ladder(songs):
    """Composite of each rung for each synthetic voice; "other piece" is the next song's accompaniment."""
    rows = []
    for index, (voice, accompaniment) in enumerate(songs):
        other = songs[(index + 1) % len(songs)][1]
        rungs = {
            "reference": accompaniment,
            "tritone": baselines.transpose(accompaniment, RATE),
            "shuffled": baselines.block_shuffle(accompaniment, RATE, seed=index),
            "other piece": baselines.fit_length(other, len(voice)),
            "blur": baselines.blur(accompaniment, RATE, seed=index),
            "noise": baselines.shaped_noise(accompaniment, RATE, seed=index),
        }
        rows.append({rung: musicality_features(voice, audio, RATE) for rung, audio in rungs.items()})
    return rows


@pytest.mark.slow
def test_ladder_holds_on_synthetic_songs(ladder):
    for row in ladder:
        composite = {rung: features["composite"] for rung, features in row.items()}
        for wrong in ("tritone", "shuffled", "other piece"):
            assert composite["reference"] > composite[wrong] > composite["blur"], (wrong, composite)
        assert composite["blur"] > composite["noise"], composite
        assert composite["reference"] > 0.5 and composite["noise"] < 0.15, composite


@pytest.mark.slow
def test_each_group_separates_what_it_should(ladder):
    for row in ladder:
        # transposing by a tritone keeps the sound clear and the rhythm, and breaks the fit to the voice
        assert row["reference"]["fit"] > row["tritone"]["fit"] + 0.3
        assert abs(row["reference"]["tonal"] - row["tritone"]["tonal"]) < 0.2
        # the blur holds the average spectrum: no attacks and no chord changes, less clear than real music
        assert row["reference"]["rhythm"] > row["blur"]["rhythm"] + 0.4
        assert row["reference"]["harmonic_change"] > 2 * row["blur"]["harmonic_change"]
        assert row["reference"]["tonal"] > row["blur"]["tonal"] > row["noise"]["tonal"]
        assert row["noise"]["peak_share"] < 0.1 < row["blur"]["peak_share"]


@pytest.mark.slow
def test_features_are_finite_and_composite_is_the_mean_of_the_groups(ladder):
    features = ladder[0]["reference"]
    assert all(math.isfinite(value) for value in features.values())
    members = {name for group in COMPOSITE_PARTS.values() for name in group}
    assert members <= set(features)
    groups = sub_scores(features)
    assert set(groups) == {"tonal", "fit", "rhythm"}
    assert composite_score(features) == pytest.approx(np.mean(list(groups.values())))
    assert features["composite"] == pytest.approx(composite_score(features))
    assert all(0.0 <= features[name] <= 1.0 for name in ("tonal", "fit", "rhythm", "composite"))


def test_a_doubling_of_the_voice_shows_in_comodulation(songs):
    voice, accompaniment = songs[0]
    doubling = baselines.melody_copy(voice, RATE)
    copied = musicality_features(voice, doubling, RATE)
    real = musicality_features(voice, accompaniment, RATE)
    assert copied["comodulation"] > 0.6 and copied["comodulation"] > real["comodulation"] + 0.3
    assert copied["top3_fit"] > 0.8  # why co-modulation is shown beside the composite


def test_silence_and_unvoiced_input_give_finite_low_scores(songs):
    voice, accompaniment = songs[0]
    silent = musicality_features(voice, np.zeros_like(voice), RATE)
    assert all(math.isfinite(value) for value in silent.values())
    assert silent["composite"] == 0.0 and silent["peak_share"] == 0.0
    unvoiced = musicality_features(np.zeros_like(voice), accompaniment, RATE)
    assert all(math.isfinite(value) for value in unvoiced.values())
    assert unvoiced["fit"] == 0.0 and unvoiced["tonal"] > 0.5
    short = musicality_features(voice[: RATE // 2], accompaniment[: RATE // 2], RATE)
    assert all(math.isfinite(value) for value in short.values())


def test_other_sample_rates_and_lengths(songs):
    voice, accompaniment = songs[0]
    padded = musicality_features(voice, accompaniment[: len(accompaniment) // 2], RATE)
    assert math.isfinite(padded["composite"])
    import librosa

    at_44k = musicality_features(librosa.resample(voice, orig_sr=RATE, target_sr=44100),
                                 librosa.resample(accompaniment, orig_sr=RATE, target_sr=44100), 44100)  # fmt: skip
    at_22k = musicality_features(voice, accompaniment, RATE)
    assert at_44k["composite"] == pytest.approx(at_22k["composite"], abs=0.1)


def test_mean_chroma_and_key_of_a_triad():
    times = np.arange(RATE * 2) / RATE
    c_major = sum(np.sin(2 * np.pi * hz(midi) * times) for midi in (60, 64, 67)).astype(np.float32)
    chroma = mean_chroma(c_major, RATE)
    assert chroma.shape == (12,) and chroma.sum() == pytest.approx(1.0)
    assert set(np.argsort(chroma)[-3:]) == {0, 4, 7}
    assert int(np.argmax(key_correlations(chroma))) in (0, 7 + 12 * 0, 4 + 12)  # C major, or its near keys
    assert np.all(mean_chroma(np.zeros(RATE, dtype=np.float32), RATE) == 0)


def test_set_chroma_correlation():
    first = np.eye(12)[0] + 0.1
    assert set_chroma_correlation([first, first, first]) == pytest.approx(1.0)
    rotated = [np.roll(np.arange(12.0) ** 2, shift) for shift in range(12)]
    assert set_chroma_correlation(rotated) < 0.2
    assert set_chroma_correlation([np.zeros(12), first]) == 0.0
    with pytest.raises(ValueError):
        set_chroma_correlation([first])


def test_rung_builders_keep_length_and_content(songs):
    voice, accompaniment = songs[0]
    for audio in (baselines.transpose(accompaniment, RATE), baselines.blur(accompaniment, RATE),
                  baselines.shaped_noise(accompaniment, RATE), baselines.block_shuffle(accompaniment, RATE),
                  baselines.melody_copy(voice, RATE), baselines.silence(voice)):  # fmt: skip
        assert audio.shape == accompaniment.shape and audio.dtype == np.float32
        assert np.all(np.isfinite(audio))
    shuffled = baselines.block_shuffle(accompaniment, RATE, seed=3)
    blocks = accompaniment[: 6 * RATE].reshape(6, RATE)
    moved = shuffled[: 6 * RATE].reshape(6, RATE)
    # every block moved, and each shuffled block is one of the originals (faded at its ends)
    middle = slice(RATE // 10, -RATE // 10)
    for index, block in enumerate(moved):
        matches = [np.allclose(block[middle], original[middle]) for original in blocks]
        assert sum(matches) == 1 and not matches[index]
    assert np.array_equal(baselines.fit_length(np.arange(3, dtype=np.float32), 7), [0, 1, 2, 0, 1, 2, 0])
    blur = baselines.blur(accompaniment, RATE, seed=0)
    assert np.array_equal(blur, baselines.blur(accompaniment, RATE, seed=0))
    assert not np.array_equal(blur, baselines.blur(accompaniment, RATE, seed=1))
