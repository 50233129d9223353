"""Tests of the voice augmentation (voice_augment + voice_effects) and the singer's speech-like mode.

Each effect is forced on alone (its probability 1, the others 0) on a synthetic voice, and what it claims
is measured on the signal: the drawn detune in f0 (librosa.yin), the formant factor in the envelope peak,
the drawn RT60 in the decay of an impulse, the drawn SNR, the filters' responses.
"""

import json

import librosa
import numpy as np
import pytest
from scipy import signal

from conftest import synthetic_voice
from vocals2song.corpus import voice_effects
from vocals2song.corpus.singer import Note, random_singer, sing
from vocals2song.corpus.voice_augment import EFFECTS, augment_voice, default_settings, maybe_augment_voice

SAMPLE_RATE = 22050


def only(effect: str) -> dict[str, float]:
    """Settings that apply ``effect`` and nothing else."""
    return {name: float(name == effect) for name in EFFECTS}


def voice_with_pauses(seconds: float = 2.0, f0: float = 220.0) -> np.ndarray:
    """The synthetic voice with two exactly silent pauses (0.5-0.9 s and 1.3-1.6 s), float32."""
    voice = synthetic_voice(seconds, SAMPLE_RATE, f0=f0)
    voice[int(0.5 * SAMPLE_RATE):int(0.9 * SAMPLE_RATE)] = 0.0
    voice[int(1.3 * SAMPLE_RATE):int(1.6 * SAMPLE_RATE)] = 0.0
    return voice


def median_f0(audio: np.ndarray) -> float:
    """Median yin f0 (Hz) over the frames, 80-800 Hz."""
    return float(np.median(librosa.yin(audio.astype(np.float64), fmin=80, fmax=800, sr=SAMPLE_RATE,
                                       frame_length=2048)))


def cents_between(first_hz: float, second_hz: float) -> float:
    return 1200 * np.log2(second_hz / first_hz)


def power_spectrum(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies Hz, Welch power) with 2048-sample segments."""
    return signal.welch(audio.astype(np.float64), SAMPLE_RATE, nperseg=2048)


def band_power_db(audio: np.ndarray, low_hz: float, high_hz: float) -> float:
    frequencies, power = power_spectrum(audio)
    return float(10 * np.log10(np.sum(power[(frequencies >= low_hz) & (frequencies < high_hz)]) + 1e-20))


@pytest.mark.parametrize("effect", EFFECTS)
def test_each_effect_keeps_length_is_finite_bounded_and_seeded(effect):
    voice = voice_with_pauses()
    first, record = augment_voice(voice, SAMPLE_RATE, np.random.default_rng(3), only(effect))
    again, record_again = augment_voice(voice, SAMPLE_RATE, np.random.default_rng(3), only(effect))
    other, _ = augment_voice(voice, SAMPLE_RATE, np.random.default_rng(4), only(effect))
    assert first.dtype == np.float32 and first.shape == voice.shape
    assert np.all(np.isfinite(first)) and np.max(np.abs(first)) <= 1.0
    assert record["effects"] == [effect] and effect in record and record == record_again
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, voice)
    assert not np.array_equal(first, other)      # another seed draws other parameters
    json.dumps(record)


def test_the_full_chain_is_seeded_bounded_and_recorded():
    voice = voice_with_pauses()
    loud = voice * 1.9                            # a voice already at the limit: the output still peaks <= 1
    applied = set()
    for seed in range(6):
        augmented, record = augment_voice(loud / np.max(np.abs(loud)), SAMPLE_RATE, np.random.default_rng(seed))
        again, _ = augment_voice(loud / np.max(np.abs(loud)), SAMPLE_RATE, np.random.default_rng(seed))
        np.testing.assert_array_equal(augmented, again)
        assert augmented.shape == voice.shape and np.all(np.isfinite(augmented))
        assert np.max(np.abs(augmented)) <= 1.0
        assert record["effects"] == [effect for effect in EFFECTS if effect in record["effects"]]  # chain order
        assert set(record) == {"effects", *record["effects"]}
        applied |= set(record["effects"])
        json.dumps(record)
    assert len(applied) >= 6                      # the default probabilities do apply a variety


def test_nothing_applied_at_probability_zero_and_bad_settings_are_refused():
    voice = voice_with_pauses()
    unchanged, record = augment_voice(voice, SAMPLE_RATE, np.random.default_rng(0), dict.fromkeys(EFFECTS, 0.0))
    np.testing.assert_array_equal(unchanged, voice)
    assert record == {"effects": []}
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert maybe_augment_voice(voice, SAMPLE_RATE, rng, 0.0) == (voice, None)
    assert rng.bit_generator.state == state       # nothing drawn at probability 0 (old corpora stay the same)
    assert set(default_settings()) == set(EFFECTS)
    with pytest.raises(ValueError, match="probability in"):
        augment_voice(voice, SAMPLE_RATE, rng, {"echo": 1.0})
    with pytest.raises(ValueError, match="probability in"):
        augment_voice(voice, SAMPLE_RATE, rng, {"reverb": 1.5})
    with pytest.raises(ValueError, match="finite 1-D"):
        augment_voice(np.array([0.1, np.nan]), SAMPLE_RATE, rng)
    silent, record = augment_voice(np.zeros(100, np.float32), SAMPLE_RATE, rng)
    assert record == {"effects": []} and not np.any(silent)


@pytest.mark.parametrize("cents", [-30.0, -8.0, 20.0])
def test_detune_moves_f0_by_the_cents_and_keeps_the_timing(cents):
    voice = synthetic_voice(2.0, SAMPLE_RATE).astype(np.float64)
    detuned = voice_effects.detune(voice, SAMPLE_RATE, cents)
    assert cents_between(median_f0(voice), median_f0(detuned)) == pytest.approx(cents, abs=1.5)
    # The read position is anchored: the envelope (0.7 Hz) stays where it was within ~30 ms.
    frame = 256
    envelope = np.sqrt(np.mean(voice[:len(voice) // frame * frame].reshape(-1, frame) ** 2, axis=1))
    detuned_envelope = np.sqrt(np.mean(detuned[:len(voice) // frame * frame].reshape(-1, frame) ** 2, axis=1))
    lags = np.arange(-5, 6)
    correlations = [np.corrcoef(np.roll(detuned_envelope, lag), envelope)[0, 1] for lag in lags]
    assert abs(lags[int(np.argmax(correlations))]) * frame / SAMPLE_RATE <= 0.03


def test_augment_detune_matches_its_record():
    voice = voice_with_pauses()
    hop = 512
    frame_rms = librosa.feature.rms(y=voice, frame_length=2048, hop_length=hop)[0]
    sounding = np.convolve(frame_rms > 0.05, np.ones(9), mode="same") == 9   # frames well inside the phrases
    f0 = librosa.yin(voice.astype(np.float64), fmin=80, fmax=800, sr=SAMPLE_RATE, frame_length=2048, hop_length=hop)
    for seed in range(3):
        detuned, record = augment_voice(voice, SAMPLE_RATE, np.random.default_rng(seed), only("detune"))
        drawn = record["detune"]
        assert -30 <= drawn["cents"] <= 30
        detuned_f0 = librosa.yin(detuned.astype(np.float64), fmin=80, fmax=800, sr=SAMPLE_RATE, frame_length=2048,
                                 hop_length=hop)
        measured_cents = np.mean(1200 * np.log2(detuned_f0[sounding] / f0[sounding]))
        assert measured_cents == pytest.approx(drawn["mean_cents"], abs=3.0)


@pytest.mark.parametrize("factor", [0.85, 1.2])
def test_formant_shift_moves_the_envelope_and_keeps_f0(factor):
    noise = np.random.default_rng(0).standard_normal(2 * SAMPLE_RATE)
    numerator, denominator = signal.iirpeak(1000.0, 5.0, fs=SAMPLE_RATE)
    resonance = signal.lfilter(numerator, denominator, noise) + 0.05 * noise     # one formant at 1 kHz
    frequencies, power = power_spectrum(voice_effects.formant_shift(resonance, SAMPLE_RATE, factor))
    assert frequencies[np.argmax(power)] == pytest.approx(1000.0 * factor, rel=0.06)

    voice = synthetic_voice(2.0, SAMPLE_RATE).astype(np.float64)
    shifted = voice_effects.formant_shift(voice, SAMPLE_RATE, factor)
    assert abs(cents_between(median_f0(voice), median_f0(shifted))) < 5.0

    def centroid(audio):
        frequencies, power = power_spectrum(audio)
        return np.sum(frequencies * power) / np.sum(power)

    ratio = centroid(shifted) / centroid(voice)
    assert (ratio > 1.1) if factor > 1 else (ratio < 0.95)


def test_reverb_decays_in_the_drawn_rt60():
    def band_rt60(audio: np.ndarray, start: int) -> float:
        """RT60 from the 1-2.5 kHz Schroeder decay between -5 and -25 dB (T20 x 3)."""
        band = signal.sosfiltfilt(signal.butter(4, (1000, 2500), btype="band", fs=SAMPLE_RATE, output="sos"), audio)
        decay = np.cumsum(band[start:][::-1] ** 2)[::-1]
        decay_db = 10 * np.log10(decay / decay[0])
        return 3 * (np.argmax(decay_db < -25) - np.argmax(decay_db < -5)) / SAMPLE_RATE

    drawn_rt60s = []
    for seed in range(4):
        impulse = np.zeros(int(2.5 * SAMPLE_RATE))
        impulse[100] = 0.9
        response, record = augment_voice(impulse, SAMPLE_RATE, np.random.default_rng(seed), only("reverb"))
        rt60 = record["reverb"]["rt60_seconds"]
        drawn_rt60s.append(rt60)
        assert band_rt60(response, 100 + int(0.06 * SAMPLE_RATE)) == pytest.approx(rt60, rel=0.15)
    assert max(drawn_rt60s) - min(drawn_rt60s) > 0.2


def test_noise_is_added_at_the_drawn_snr_and_fills_the_pauses():
    voice = voice_with_pauses()
    kinds = set()
    for seed in range(4):
        noisy, record = augment_voice(voice, SAMPLE_RATE, np.random.default_rng(seed), only("noise"))
        noise = noisy.astype(np.float64) - voice
        voiced = np.abs(voice) > 0
        snr_db = 10 * np.log10(np.mean(voice[voiced].astype(np.float64) ** 2) / np.mean(noise ** 2))
        # The SNR is against the voice's active RMS (its loud frames): within 2.5 dB of the plain RMS ratio.
        assert snr_db == pytest.approx(record["noise"]["snr_db"], abs=2.5)
        assert np.all(noisy[int(0.6 * SAMPLE_RATE):int(0.8 * SAMPLE_RATE)] != 0)
        kinds.add(record["noise"]["kind"])
    assert len(kinds) >= 2


def test_noise_kinds_have_their_spectra():
    rng = np.random.default_rng(0)
    nb_samples = 4 * SAMPLE_RATE
    white, pink, babble = (voice_effects.background_noise(kind, nb_samples, SAMPLE_RATE, rng)
                           for kind in ("white", "pink", "babble"))
    for noise in (white, pink, babble):
        assert np.sqrt(np.mean(noise ** 2)) == pytest.approx(1.0, rel=1e-6)
    octave_drop = band_power_db(pink, 500, 1000) - band_power_db(pink, 1000, 2000)  # equal power per octave
    assert abs(octave_drop) < 1.0
    assert abs(band_power_db(white, 1000, 2000) - band_power_db(white, 500, 1000) - 3.0) < 1.0
    assert band_power_db(babble, 300, 1500) - band_power_db(babble, 6000, 10000) > 15     # speech-shaped
    envelope = np.sqrt(np.mean(babble.reshape(-1, 882) ** 2, axis=1))          # 40 ms frames
    white_envelope = np.sqrt(np.mean(white.reshape(-1, 882) ** 2, axis=1))
    assert np.std(envelope) > 3 * np.std(white_envelope)     # talkers come and go, white noise does not
    with pytest.raises(ValueError, match="noise kind"):
        voice_effects.background_noise("brown", 10, SAMPLE_RATE, rng)


def test_breaths_sit_in_the_pauses_before_phrases():
    voice = voice_with_pauses()
    breaths, count = voice_effects.breath_noise(voice.astype(np.float64), SAMPLE_RATE, np.random.default_rng(1),
                                                level_db=-20.0, per_pause_probability=1.0)
    assert count == 2
    inside = np.zeros(len(voice), bool)
    inside[int(0.5 * SAMPLE_RATE):int(0.9 * SAMPLE_RATE)] = True
    inside[int(1.3 * SAMPLE_RATE):int(1.6 * SAMPLE_RATE)] = True
    assert not np.any(breaths[~inside])                     # the phrases themselves are untouched
    assert np.all(breaths[int(0.88 * SAMPLE_RATE):int(0.9 * SAMPLE_RATE)] == 0)   # over before the phrase
    level_db = 20 * np.log10(np.sqrt(np.mean(breaths[inside][breaths[inside] != 0] ** 2))
                             / np.sqrt(np.mean(voice[voice != 0].astype(np.float64) ** 2)))
    assert -26 < level_db < -14
    assert band_power_db(breaths, 300, 4000) - band_power_db(breaths, 20, 150) > 15


def test_highpass_removes_energy_below_its_cutoff():
    voice = synthetic_voice(2.0, SAMPLE_RATE, f0=110.0)
    for seed in range(3):
        filtered, record = augment_voice(voice, SAMPLE_RATE, np.random.default_rng(seed), only("highpass"))
        cutoff, order = record["highpass"]["hz"], record["highpass"]["order"]
        spectrum_in = np.abs(np.fft.rfft(voice.astype(np.float64)))
        spectrum_out = np.abs(np.fft.rfft(filtered.astype(np.float64)))
        frequencies = np.fft.rfftfreq(len(voice), 1 / SAMPLE_RATE)
        fundamental = np.argmin(np.abs(frequencies - 110.0))
        window = slice(fundamental - 3, fundamental + 4)
        measured_db = 20 * np.log10(spectrum_out[window].max() / spectrum_in[window].max())
        expected_db = -10 * np.log10(1 + (cutoff / 110.0) ** (2 * order))          # Butterworth
        assert measured_db == pytest.approx(expected_db, abs=1.5)


def test_lofi_band_limits_the_voice():
    noise = np.random.default_rng(0).standard_normal(SAMPLE_RATE).astype(np.float32) * 0.1
    kinds = set()
    for seed in range(8):
        filtered, record = augment_voice(noise, SAMPLE_RATE, np.random.default_rng(seed), only("lofi"))
        lofi = record["lofi"]
        kinds.add(lofi["kind"])
        if lofi["kind"] == "telephone":
            assert band_power_db(filtered, 1000, 2000) - band_power_db(filtered, 4500, 10000) > 50
            assert band_power_db(filtered, 1000, 2000) - band_power_db(filtered, 20, 100) > 20
        else:
            above = band_power_db(filtered, 1.3 * lofi["hz"], 1.9 * lofi["hz"])
            assert band_power_db(filtered, 0.3 * lofi["hz"], 0.5 * lofi["hz"]) - above > 50
    assert kinds == {"telephone", "lowpass"}


def test_equalizer_response_matches_its_record():
    noise = np.random.default_rng(0).standard_normal(4 * SAMPLE_RATE).astype(np.float32) * 0.1
    for seed in range(3):
        equalized, record = augment_voice(noise, SAMPLE_RATE, np.random.default_rng(seed), only("equalizer"))
        parameters = record["equalizer"]
        sections = [voice_effects.peaking_section(band["hz"], band["gain_db"], band["q"], SAMPLE_RATE)
                    for band in parameters["peaks"]]
        for name, high in (("low_shelf", False), ("high_shelf", True)):
            if name in parameters:
                shelf = parameters[name]
                sections.append(voice_effects.shelf_section(shelf["hz"], shelf["gain_db"], SAMPLE_RATE, high))
        frequencies, measured = signal.csd(noise, equalized, SAMPLE_RATE, nperseg=2048)
        _, reference = signal.welch(noise, SAMPLE_RATE, nperseg=2048)
        _, expected = signal.sosfreqz(np.concatenate(sections), worN=frequencies, fs=SAMPLE_RATE)
        band = (frequencies > 100) & (frequencies < 8000)
        gain_db = 20 * np.log10(np.abs(measured[band] / reference[band]))
        np.testing.assert_allclose(gain_db, 20 * np.log10(np.abs(expected[band])), atol=0.5)


def test_shelf_and_peak_sections_have_their_gains():
    for gain_db in (-6.0, 4.0):
        _, low = signal.sosfreqz(voice_effects.shelf_section(200.0, gain_db, SAMPLE_RATE, high=False),
                                 worN=[10.0, 8000.0], fs=SAMPLE_RATE)
        _, high = signal.sosfreqz(voice_effects.shelf_section(3000.0, gain_db, SAMPLE_RATE, high=True),
                                  worN=[50.0, 10000.0], fs=SAMPLE_RATE)
        _, peak = signal.sosfreqz(voice_effects.peaking_section(1000.0, gain_db, 1.0, SAMPLE_RATE),
                                  worN=[1000.0, 20.0], fs=SAMPLE_RATE)
        np.testing.assert_allclose(20 * np.log10(np.abs([low[0], high[1], peak[0]])), gain_db, atol=0.1)
        np.testing.assert_allclose(20 * np.log10(np.abs([low[1], high[0], peak[1]])), 0.0, atol=0.3)


def test_clipping_flattens_the_drawn_fraction_of_peaks():
    voice = voice_with_pauses()
    for seed in range(6):
        clipped, record = augment_voice(voice, SAMPLE_RATE, np.random.default_rng(seed), only("clipping"))
        if record["clipping"]["soft"]:
            assert np.max(np.abs(clipped)) < np.max(np.abs(voice))
            continue
        at_ceiling = np.mean(np.abs(clipped) >= np.max(np.abs(clipped)) * (1 - 1e-6))
        assert at_ceiling == pytest.approx(record["clipping"]["fraction"], rel=0.3, abs=2e-4)


def test_compressor_reduces_the_level_difference_by_its_ratio():
    time_axis = np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE
    tone = np.sin(2 * np.pi * 440 * time_axis) * np.where(time_axis < 1.0, 0.5, 0.05)
    compressed = voice_effects.compress(tone, SAMPLE_RATE, threshold_db=-40.0, ratio=4.0, attack_seconds=0.005,
                                        release_seconds=0.05)

    def level_db(audio, start, end):
        return 10 * np.log10(np.mean(audio[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)] ** 2))

    difference = level_db(compressed, 0.5, 0.9) - level_db(compressed, 1.5, 1.9)
    assert difference == pytest.approx(20.0 / 4.0, abs=0.5)
    assert len(compressed) == len(tone) and np.all(np.isfinite(compressed))
    record = augment_voice(voice_with_pauses(), SAMPLE_RATE, np.random.default_rng(0), only("compression"))[1]
    assert record["compression"]["makeup_db"] > 0


def test_limiter_caps_peaks_and_leaves_quiet_parts():
    time_axis = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = 0.3 * np.sin(2 * np.pi * 300 * time_axis)
    tone[int(0.2 * SAMPLE_RATE):int(0.22 * SAMPLE_RATE)] *= 5.0     # a 1.5 peak
    limited = voice_effects.limit(tone, SAMPLE_RATE, ceiling=0.8)
    assert np.max(np.abs(limited)) <= 0.8
    np.testing.assert_array_equal(limited[:int(0.19 * SAMPLE_RATE)], tone[:int(0.19 * SAMPLE_RATE)])
    np.testing.assert_allclose(limited[int(0.7 * SAMPLE_RATE):], tone[int(0.7 * SAMPLE_RATE):], rtol=3e-3)  # released
    boosted, record = augment_voice(voice_with_pauses(), SAMPLE_RATE, np.random.default_rng(0), only("limiter"))
    assert np.max(np.abs(boosted)) <= 10 ** (record["limiter"]["ceiling_db"] / 20) + 1e-6


def test_speech_like_singer_is_drawn_only_when_asked_and_keeps_its_voice():
    plain = random_singer(np.random.default_rng(5))
    assert random_singer(np.random.default_rng(5), speech_like_probability=0.0) == plain
    speaker = random_singer(np.random.default_rng(5), speech_like_probability=1.0)
    assert speaker.speech_like and not plain.speech_like
    assert speaker.voice_type == plain.voice_type and speaker.formant_shift == plain.formant_shift
    assert speaker.vibrato_depth_semitones <= 0.05


def test_speech_like_singer_speaks_in_short_falling_syllables():
    notes = [Note(0.2 + index * 0.8, 0.75, 64, None) for index in range(4)]      # a monotone melody: one phrase
    singer = random_singer(np.random.default_rng(2))
    speaker = random_singer(np.random.default_rng(2), speech_like_probability=1.0)
    sung = sing(notes, singer, SAMPLE_RATE, np.random.default_rng(0))
    spoken = sing(notes, speaker, SAMPLE_RATE, np.random.default_rng(0))
    assert spoken.shape == sung.shape and np.all(np.isfinite(spoken))

    def nb_syllables(audio):
        """Rises of the 30 ms-smoothed RMS through 10 % of its maximum."""
        frame = int(0.01 * SAMPLE_RATE)
        rms = np.sqrt(np.mean(audio[:len(audio) // frame * frame].reshape(-1, frame).astype(np.float64) ** 2, axis=1))
        loud = np.convolve(rms, np.ones(3) / 3, mode="same") > 0.1 * rms.max()
        return int(np.sum(np.diff(loud.astype(int)) == 1))

    assert nb_syllables(sung) <= 2 * len(notes)          # a note, sometimes its consonant before it
    assert nb_syllables(spoken) >= 3 * len(notes)        # each 0.75 s note is spoken as several syllables
    f0 = librosa.yin(spoken.astype(np.float64), fmin=70, fmax=600, sr=SAMPLE_RATE, frame_length=2048)
    frame_rms = librosa.feature.rms(y=spoken, frame_length=2048, hop_length=512)[0][:len(f0)]
    voiced = frame_rms > 0.3 * frame_rms.max()
    pitch = 12 * np.log2(f0[voiced] / 440.0) + 69
    assert abs(np.median(pitch) - speaker.speaking_pitch) < 4      # near the speaking pitch, not the melody
    fall = np.polyfit(np.flatnonzero(voiced), pitch, 1)[0] * len(f0)
    assert fall < -1.0                                # the phrase's intonation falls (semitones over the phrase)
