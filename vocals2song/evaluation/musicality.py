"""Musicality of an accompaniment under a voice, with no reference: tonal clarity, harmonic fit, rhythm, a composite.

:func:`musicality_features` measures one (voice, accompaniment) pair, both float mono audio of shape
(nb_samples,) at one sample rate, and returns a flat ``dict[str, float]``:

- *tonal clarity* of the accompaniment: ``peak_share`` (share of its 60 Hz–5 kHz energy in prominent spectral
  peaks, 10 dB over the local log-spectral mean), ``whitened_tonality`` (1 − flatness of the envelope-whitened
  spectrum over the flatness of noise, e^-γ; plain flatness would call a narrow band tonal), ``pitch_class_clarity``
  (1 − entropy of the chroma summed per second, over log 12);
- *harmonic fit* of the voice to it: ``top3_fit`` (share of sung frames whose pitch class is among the
  accompaniment's 3 strongest at that moment; chance 0.25), ``consonance`` (of the sung pitch class against the
  accompaniment's chroma, on an interval table; chance :data:`CONSONANCE_CHANCE`), ``key_agreement`` (Pearson
  correlation of the two Krumhansl–Kessler key-correlation vectors; chance 0) and ``key_score`` (mir_eval's
  weighted score of the two best keys);
- *rhythm*: ``pulse_clarity`` (highest autocorrelation of the accompaniment's onset envelope at beat periods
  0.25–1.5 s), ``onset_salience`` (how far its strongest attacks stand over its typical frame: (p99 − p50) /
  (p99 + p50) of the onset envelope; a steady or slowly pulsing sound has none), ``percussive_share`` (energy
  share of the percussive part after HPSS on a mel spectrogram), ``onset_alignment`` (Pearson correlation of the
  voice's and the accompaniment's onset envelopes) and ``harmonic_change`` (how much the pitch classes change
  from one 0.5 s block to the next: harmonic rhythm; 0 for a drone);
- *content and copying*, shown beside the composite: ``pitch_range`` (semitones spanned by the strongest spectral
  peak of each 0.5 s block; a spectral estimate, not a transcriber's notes: no transcriber that ships its weights
  runs beside Keras 3), ``comodulation`` (correlation of the voice's and the accompaniment's chroma movements
  around their means: 1 for a doubling of the voice, 0 for anything static) and ``level_db`` (accompaniment
  energy over voice energy, dB);
- ``tonal``, ``fit``, ``rhythm``: the features of :data:`COMPOSITE_PARTS` mapped to [0, 1] from their chance
  level (noise's, or an unrelated pair's) to their full level and averaged per group; ``composite``: their mean.

With a known plan (a rendered pair's true chords): :func:`chord_tone_share`, the share of the accompaniment's
pitch-class energy on the tones of the chord of the moment (a band playing wrong chords scores well on the
composite and low here).

Set level: :func:`set_chroma_correlation` of the examples' :func:`mean_chroma` (near 1 when a system plays the
same pitches whatever the voice). Spectra come from :func:`vocals2song.codec.spectrogram.stft` with analysis settings
of their own (a 186 ms frame for pitch, a 46 ms frame for onsets), scaled with the sample rate.
"""

from __future__ import annotations

from itertools import combinations
from typing import Sequence

import librosa
import mir_eval
import numpy as np
from scipy import ndimage

from vocals2song.codec import spectrogram as codec
from vocals2song.config import SpectrogramConfig
from vocals2song.plan.harmony import Harmony

BAND_HZ = (60.0, 5000.0)
PITCH_FRAME_SECONDS = 4096 / 22050  # ~186 ms: resolves semitones from ~100 Hz up
ONSET_FRAME_SECONDS = 1024 / 22050  # ~46 ms, hop a quarter of it
ENVELOPE_BINS = 31  # log-spectral mean over ±15 bins (±80 Hz at 22.05 kHz) is the "envelope"
PEAK_DB = 10.0  # a prominent peak stands this far over the envelope
PEAK_HALF_WIDTH = 2  # bins either side of a peak counted as its energy (a Hann main lobe)
NOISE_FLATNESS = float(np.exp(-np.euler_gamma))  # geometric / arithmetic mean of exponential (noise) power
SILENCE_DB = 50.0  # frames this far below the loudest are left out of per-frame scores
TINY = 1e-12
VOICE_FMIN, VOICE_FMAX = 65.0, 1050.0
VOICED_DB = 30.0  # voice frames within this of the loudest may be sung
STEADY_SEMITONES = 1.0  # a sung frame's pitch is within this of both neighbours'
PULSE_LAGS_SECONDS = (0.25, 1.5)
SALIENT_PERCENTILE = 99  # onset salience compares this percentile of the onset envelope with its median
N_MELS = 64
HPSS_KERNEL = (31, 9)  # (time frames, mel bands)
BLOCK_SECONDS = 0.5  # harmonic change and pitch range compare blocks of this length
TOP_PITCH_CLASSES = 3
# Consonance of the interval (sung pitch class − accompaniment pitch class) mod 12, from unison to major seventh:
# a conventional ranking (unison/octave, fifth, thirds and sixths, fourth, seconds and sevenths, tritone).
CONSONANCE = np.array([1.0, 0.0, 0.3, 0.8, 0.8, 0.6, 0.1, 0.9, 0.7, 0.7, 0.3, 0.0])
CONSONANCE_CHANCE = float(CONSONANCE.mean())
KRUMHANSL_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KRUMHANSL_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
PITCH_CLASS_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

# Which features make each sub-score, and each one's (chance, full) levels: a feature scores
# clip((value − chance) / (full − chance), 0, 1). Chance: the median over the noise rung of the validation ladder
# (tonal, rhythm) or the theoretical chance of an unrelated voice (fit: the interval table's mean, no key
# correlation); full: the 90th percentile of real accompaniments; both measured by bench/bench_musicality.py on
# 86 held-out voices and rounded to 2 decimals. Left out, as they do not separate real music from its
# corruptions on that ladder: top3_fit, key_score, percussive_share (and the content features).
COMPOSITE_PARTS: dict[str, dict[str, tuple[float, float]]] = {
    "tonal": {"peak_share": (0.11, 0.98), "whitened_tonality": (0.0, 0.94), "pitch_class_clarity": (0.01, 0.30)},
    "fit": {"consonance": (CONSONANCE_CHANCE, 0.70), "key_agreement": (0.0, 0.94)},
    "rhythm": {"pulse_clarity": (0.07, 0.80), "onset_salience": (0.24, 0.97), "onset_alignment": (0.03, 0.39),
               "harmonic_change": (0.07, 0.39)},
}


def _config(sample_rate: int, frame_seconds: float) -> SpectrogramConfig:
    n_fft = int(2 ** round(np.log2(frame_seconds * sample_rate)))
    return SpectrogramConfig(sample_rate=sample_rate, n_fft=n_fft, hop_length=n_fft // 4)


def _power(audio: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    """Power spectrogram, float64 (nb_bins, nb_frames)."""
    return np.abs(codec.stft(np.asarray(audio, dtype=np.float32), config)).astype(np.float64) ** 2


def _chroma(power: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    """Unnormalised chroma (12, nb_frames), C first, equal temperament at A 440 Hz."""
    return librosa.feature.chroma_stft(S=power, sr=config.sample_rate, n_fft=config.n_fft, tuning=0.0, norm=None)


def mean_chroma(accompaniment: np.ndarray, sample_rate: int) -> np.ndarray:
    """The accompaniment's chroma summed over time and scaled to sum 1, shape (12,); zeros for silence."""
    config = _config(sample_rate, PITCH_FRAME_SECONDS)
    total = _chroma(_power(accompaniment, config), config).sum(axis=1)
    return total / total.sum() if total.sum() > TINY else np.zeros(12)


def chord_tone_share(accompaniment: np.ndarray, harmony: Harmony, sample_rate: int) -> float | None:
    """Share of the accompaniment's chroma energy on the tones of the chord sounding at each moment.

    Over the frames (~186 ms, hop ~46 ms, centred) inside the plan's chords with a root (no-chord and unknown
    segments are left out), energy-weighted. About 3/12 for pitch classes at random (more with a triad's
    harmonics, which fall on its own tones); None when no chord frame has energy.
    """
    config = _config(sample_rate, PITCH_FRAME_SECONDS)
    chroma = _chroma(_power(accompaniment, config), config)
    times = np.arange(chroma.shape[1]) * config.hop_length / sample_rate
    on_chord = total = 0.0
    for chord in harmony.chords:
        if chord.root < 0:
            continue
        frames = chroma[:, (times >= chord.start) & (times < chord.end)]
        total += float(frames.sum())
        on_chord += float(frames[list(chord.pitch_classes)].sum())
    return on_chord / total if total > TINY else None


def set_chroma_correlation(mean_chromas: Sequence[np.ndarray]) -> float:
    """Mean Pearson correlation over all pairs of examples' mean chroma vectors (each shape (12,)).

    Near 1 when a system plays the same pitch classes whatever the voice; about 0 for real accompaniments of
    pieces in random keys. Constant (e.g. silent) vectors count as correlation 0. Needs two or more vectors.
    """
    vectors = [np.asarray(vector, dtype=np.float64) for vector in mean_chromas]
    if len(vectors) < 2:
        raise ValueError("set_chroma_correlation needs the mean chroma of two or more examples")
    return float(np.mean([_pearson(first, second) for first, second in combinations(vectors, 2)]))


def _pearson(first: np.ndarray, second: np.ndarray) -> float:
    first, second = first - first.mean(), second - second.mean()
    norm = float(np.linalg.norm(first) * np.linalg.norm(second))
    return float(np.dot(first, second) / norm) if norm > TINY else 0.0


# ------------------------------------------------------------------------------------------------------
# Tonal clarity


def _band(config: SpectrogramConfig) -> np.ndarray:
    frequencies = librosa.fft_frequencies(sr=config.sample_rate, n_fft=config.n_fft)
    return (frequencies >= BAND_HZ[0]) & (frequencies <= BAND_HZ[1])


def _peaks(decibels: np.ndarray, envelope: np.ndarray) -> np.ndarray:
    """Boolean (nb_bins, nb_frames): local maxima along frequency at least ``PEAK_DB`` over the envelope."""
    local_max = np.zeros_like(decibels, dtype=bool)
    local_max[1:-1] = (decibels[1:-1] >= decibels[:-2]) & (decibels[1:-1] >= decibels[2:])
    return local_max & (decibels - envelope >= PEAK_DB)


def tonal_features(power: np.ndarray, config: SpectrogramConfig) -> dict[str, float]:
    """``peak_share``, ``whitened_tonality`` and ``pitch_class_clarity`` of a power spectrogram (nb_bins, nb_frames)."""
    band = _band(config)
    decibels = 10 * np.log10(power + TINY)
    envelope = ndimage.uniform_filter1d(decibels, ENVELOPE_BINS, axis=0, mode="nearest")
    peak_mask = ndimage.maximum_filter1d(_peaks(decibels, envelope).astype(np.uint8), 2 * PEAK_HALF_WIDTH + 1, axis=0)
    band_power = power[band]
    band_energy = float(band_power.sum())
    if band_energy <= TINY * band_power.size:
        return {"peak_share": 0.0, "whitened_tonality": 0.0, "pitch_class_clarity": 0.0}
    peak_share = float((band_power * peak_mask[band]).sum() / band_energy)

    whitened = band_power / 10 ** (envelope[band] / 10)
    flatness = np.exp(np.mean(np.log(whitened + TINY), axis=0)) / (np.mean(whitened, axis=0) + TINY)
    frame_energy = band_power.sum(axis=0)
    tonality = 1 - float(np.sum(flatness * frame_energy) / frame_energy.sum()) / NOISE_FLATNESS

    chroma = _chroma(power, config)
    frames_per_second = max(1, int(round(config.sample_rate / config.hop_length)))
    nb_seconds = max(1, chroma.shape[1] // frames_per_second)
    seconds = chroma[:, : nb_seconds * frames_per_second].reshape(12, nb_seconds, -1).sum(axis=2)
    weights = seconds.sum(axis=0)
    shares = seconds / np.maximum(weights, TINY)
    entropy = -np.sum(shares * np.log(np.maximum(shares, TINY)), axis=0)
    clarity = 1 - float(np.sum((entropy / np.log(12)) * weights) / max(weights.sum(), TINY))
    return {"peak_share": peak_share, "whitened_tonality": tonality, "pitch_class_clarity": clarity}


# ------------------------------------------------------------------------------------------------------
# Harmonic fit


def sung_pitch(voice: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    """Sung pitch per analysis frame as fractional MIDI numbers, NaN where nothing steady is sung, (nb_frames,).

    YIN (librosa) on frames centred as the STFT's; a frame counts as sung when the voice is within 30 dB of its
    loudest frame and its pitch (median over 5 frames, which averages out vibrato) is within a semitone of both
    neighbours'.
    """
    voice = np.asarray(voice, dtype=np.float32)
    f0 = librosa.yin(voice, fmin=VOICE_FMIN, fmax=VOICE_FMAX, sr=config.sample_rate,
                     frame_length=config.n_fft // 2, hop_length=config.hop_length)  # fmt: skip
    midi = ndimage.median_filter(69 + 12 * np.log2(f0 / 440.0), size=5, mode="nearest")
    rms = librosa.feature.rms(y=voice, frame_length=config.n_fft // 2, hop_length=config.hop_length)[0]
    loud = 20 * np.log10(rms + TINY) >= 20 * np.log10(float(rms.max()) + TINY) - VOICED_DB
    steady = np.zeros_like(loud)
    steps = np.abs(np.diff(midi)) < STEADY_SEMITONES
    steady[1:-1] = steps[:-1] & steps[1:]
    sung = loud & steady & (rms > 1e-5)
    return np.where(sung, midi, np.nan)[: _nb_frames(len(voice), config)]


def _nb_frames(nb_samples: int, config: SpectrogramConfig) -> int:
    return 1 + nb_samples // config.hop_length


def key_correlations(chroma: np.ndarray) -> np.ndarray:
    """Pearson correlation of a 12-bin pitch-class profile with the 24 Krumhansl–Kessler key profiles, (24,).

    Order: C major … B major, C minor … B minor.
    """
    profiles = [np.roll(profile, tonic) for profile in (KRUMHANSL_MAJOR, KRUMHANSL_MINOR) for tonic in range(12)]
    return np.array([_pearson(np.asarray(chroma, dtype=np.float64), profile) for profile in profiles])


def _key_name(correlations: np.ndarray) -> str:
    best = int(np.argmax(correlations))
    return f"{PITCH_CLASS_NAMES[best % 12]} {'major' if best < 12 else 'minor'}"


def fit_features(sung: np.ndarray, accompaniment_chroma: np.ndarray, playing: np.ndarray) -> dict[str, float]:
    """``top3_fit``, ``consonance``, ``key_agreement``, ``key_score`` of sung pitches over an accompaniment's chroma.

    Args:
        sung: fractional MIDI per frame, NaN where not sung, (nb_frames,).
        accompaniment_chroma: (12, nb_frames).
        playing: (nb_frames,) bool, frames where the accompaniment is audible.
    Frames sung over silence count as misses (fit 0, consonance 0); nothing sung gives chance levels.
    """
    chance = {"top3_fit": TOP_PITCH_CLASSES / 12, "consonance": CONSONANCE_CHANCE, "key_agreement": 0.0,
              "key_score": 0.0}
    voiced = np.isfinite(sung)
    if not np.any(voiced):
        return chance
    pitch_class = np.mod(np.round(sung[voiced]), 12).astype(int)
    chroma = accompaniment_chroma[:, voiced]
    shares = chroma / np.maximum(chroma.sum(axis=0, keepdims=True), TINY)
    top = np.argsort(chroma, axis=0)[-TOP_PITCH_CLASSES:]
    heard = playing[voiced]
    in_top = np.any(top == pitch_class[None, :], axis=0) & heard
    intervals = np.mod(pitch_class[None, :] - np.arange(12)[:, None], 12)
    consonance = np.sum(shares * CONSONANCE[intervals], axis=0) * heard

    sung_profile = np.bincount(pitch_class, minlength=12).astype(np.float64)
    voice_keys = key_correlations(sung_profile)
    accompaniment_profile = accompaniment_chroma.sum(axis=1)
    if accompaniment_profile.sum() <= TINY:
        return {**chance, "top3_fit": 0.0, "consonance": 0.0}
    accompaniment_keys = key_correlations(accompaniment_profile)
    key_score = mir_eval.key.weighted_score(_key_name(voice_keys), _key_name(accompaniment_keys))
    return {
        "top3_fit": float(np.mean(in_top)),
        "consonance": float(np.mean(consonance)),
        "key_agreement": _pearson(voice_keys, accompaniment_keys),
        "key_score": float(key_score),
    }


# ------------------------------------------------------------------------------------------------------
# Rhythm


def _onset_envelope(audio: np.ndarray, config: SpectrogramConfig) -> tuple[np.ndarray, np.ndarray]:
    """(onset strength (nb_frames,), mel power (N_MELS, nb_frames)) from a log-mel spectral flux."""
    mel = librosa.feature.melspectrogram(S=_power(audio, config), sr=config.sample_rate, n_mels=N_MELS)
    decibels = librosa.power_to_db(mel, ref=max(float(mel.max()), TINY), top_db=80.0)
    envelope = librosa.onset.onset_strength(S=decibels, sr=config.sample_rate, hop_length=config.hop_length)
    return envelope, mel


def pulse_clarity(envelope: np.ndarray, config: SpectrogramConfig) -> float:
    """Highest normalised autocorrelation of an onset envelope at lags of 0.25–1.5 s (beat periods), in [-1, 1]."""
    centred = envelope - envelope.mean()
    energy = float(np.dot(centred, centred))
    if energy <= TINY:
        return 0.0
    size = 1 << int(np.ceil(np.log2(2 * len(centred))))
    spectrum = np.fft.rfft(centred, size)
    autocorrelation = np.fft.irfft(np.abs(spectrum) ** 2, size)[: len(centred)] / energy
    seconds_per_frame = config.hop_length / config.sample_rate
    lowest, highest = (int(round(seconds / seconds_per_frame)) for seconds in PULSE_LAGS_SECONDS)
    lags = autocorrelation[lowest : min(highest + 1, len(centred) // 2)]
    return float(lags.max()) if len(lags) else 0.0


def rhythm_features(voice: np.ndarray, accompaniment: np.ndarray, config: SpectrogramConfig) -> dict[str, float]:
    """``pulse_clarity``, ``onset_salience``, ``percussive_share`` and ``onset_alignment`` (module docstring)."""
    envelope, mel = _onset_envelope(accompaniment, config)
    voice_envelope, _ = _onset_envelope(voice, config)
    total = float(mel.sum())
    if total <= TINY * mel.size:
        return {"pulse_clarity": 0.0, "onset_salience": 0.0, "percussive_share": 0.0, "onset_alignment": 0.0}
    harmonic, percussive = librosa.decompose.hpss(mel, kernel_size=HPSS_KERNEL)
    high, typical = np.percentile(envelope, [SALIENT_PERCENTILE, 50])
    return {
        "pulse_clarity": pulse_clarity(envelope, config),
        "onset_salience": float((high - typical) / (high + typical)) if high > TINY else 0.0,
        "percussive_share": float(percussive.sum() / max(float(harmonic.sum() + percussive.sum()), TINY)),
        "onset_alignment": _pearson(voice_envelope, envelope),
    }


# ------------------------------------------------------------------------------------------------------
# Content and copying


def content_features(power: np.ndarray, config: SpectrogramConfig) -> dict[str, float]:
    """``harmonic_change`` and ``pitch_range`` of a power spectrogram (nb_bins, nb_frames), from 0.5 s blocks.

    The power is averaged over blocks of ``BLOCK_SECONDS`` (a stationary sound, however its phase flickers,
    looks the same in every block). ``harmonic_change``: mean total-variation distance between the chroma
    distributions of successive blocks (0 = the same pitch classes throughout, 1 = all new ones each block).
    ``pitch_range``: semitones spanned (5th–95th percentile) by each block's strongest prominent peak in
    60 Hz–5 kHz (0 when there is none).
    """
    block = max(1, int(round(BLOCK_SECONDS * config.sample_rate / config.hop_length)))
    nb_blocks = power.shape[1] // block
    if nb_blocks < 2:
        return {"harmonic_change": 0.0, "pitch_range": 0.0}
    blocks = power[:, : nb_blocks * block].reshape(power.shape[0], nb_blocks, block).mean(axis=2)
    chroma = _chroma(blocks, config)
    shares = chroma / np.maximum(chroma.sum(axis=0, keepdims=True), TINY)
    heard = chroma.sum(axis=0) > TINY
    steps = heard[1:] & heard[:-1]
    change = 0.5 * np.abs(np.diff(shares, axis=1)).sum(axis=0)
    decibels = 10 * np.log10(blocks + TINY)
    envelope = ndimage.uniform_filter1d(decibels, ENVELOPE_BINS, axis=0, mode="nearest")
    peaks = _peaks(decibels, envelope) & _band(config)[:, None]
    frequencies = librosa.fft_frequencies(sr=config.sample_rate, n_fft=config.n_fft)
    midi = librosa.hz_to_midi(np.maximum(frequencies, 1.0))
    dominant = midi[np.argmax(np.where(peaks, decibels, -np.inf), axis=0)][peaks.any(axis=0)]
    return {
        "harmonic_change": float(change[steps].mean()) if np.any(steps) else 0.0,
        "pitch_range": float(np.subtract(*np.percentile(dominant, [95, 5]))) if len(dominant) else 0.0,
    }


def comodulation(voice_chroma: np.ndarray, accompaniment_chroma: np.ndarray) -> float:
    """Pearson correlation of two chromagrams (12, nb_frames) after removing each pitch class's time mean.

    Each frame is scaled to sum 1 first. 1: the accompaniment's pitches move as the voice's (a doubling);
    0: they do not move with it (or do not move at all).
    """
    shares = [chroma / np.maximum(chroma.sum(axis=0, keepdims=True), TINY)
              for chroma in (voice_chroma, accompaniment_chroma)]  # fmt: skip
    moves = [share - share.mean(axis=1, keepdims=True) for share in shares]
    return _pearson(moves[0].ravel(), moves[1].ravel())


# ------------------------------------------------------------------------------------------------------
# All together


def _feature_score(value: float, chance: float, full: float) -> float:
    return float(np.clip((value - chance) / (full - chance), 0.0, 1.0))


def sub_scores(features: dict[str, float]) -> dict[str, float]:
    """``tonal``, ``fit``, ``rhythm`` in [0, 1]: the mean of each group's mapped features (:data:`COMPOSITE_PARTS`)."""
    return {part: float(np.mean([_feature_score(features[name], *levels) for name, levels in members.items()]))
            for part, members in COMPOSITE_PARTS.items()}  # fmt: skip


def composite_score(features: dict[str, float]) -> float:
    """The mean of the three sub-scores (tonal clarity, harmonic fit, rhythm), in [0, 1]; 0 = chance, 1 = full."""
    return float(np.mean(list(sub_scores(features).values())))


def musicality_features(voice: np.ndarray, accompaniment: np.ndarray, sample_rate: int) -> dict[str, float]:
    """Every feature of the module docstring, the sub-scores ``tonal``, ``fit``, ``rhythm`` and ``composite``.

    Args:
        voice: float mono audio, shape (nb_samples,), at ``sample_rate``.
        accompaniment: float mono audio at ``sample_rate``; cut or zero-padded to the voice's length.
    Returns:
        feature name → finite float (silence in either gives chance-level or zero scores, never NaN).
    """
    voice = np.asarray(voice, dtype=np.float32).ravel()
    accompaniment = np.asarray(accompaniment, dtype=np.float32).ravel()[: len(voice)]
    accompaniment = np.pad(accompaniment, (0, len(voice) - len(accompaniment)))
    pitch_config = _config(sample_rate, PITCH_FRAME_SECONDS)
    power = _power(accompaniment, pitch_config)
    voice_power = _power(voice, pitch_config)
    chroma = _chroma(power, pitch_config)
    band_energy = power[_band(pitch_config)].sum(axis=0)
    playing = 10 * np.log10(band_energy + TINY) >= 10 * np.log10(float(band_energy.max()) + TINY) - SILENCE_DB
    playing &= band_energy > TINY * 1e3

    features = tonal_features(power, pitch_config)
    features |= fit_features(sung_pitch(voice, pitch_config), chroma, playing)
    features |= rhythm_features(voice, accompaniment, _config(sample_rate, ONSET_FRAME_SECONDS))
    features |= content_features(power, pitch_config)
    features["comodulation"] = comodulation(_chroma(voice_power, pitch_config), chroma)
    voice_energy, accompaniment_energy = (float(np.sum(audio.astype(np.float64) ** 2)) for audio in (voice, accompaniment))
    features["level_db"] = float(10 * np.log10(max(accompaniment_energy, TINY) / max(voice_energy, TINY)))
    features |= sub_scores(features)
    features["composite"] = composite_score(features)
    return features
