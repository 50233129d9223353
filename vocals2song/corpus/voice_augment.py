"""Voice augmentation for the training corpus: makes the synthetic singer sound like a real recording.

The corpus's singer (:mod:`vocals2song.corpus.singer`) is studio-clean: in tune, dry, noiseless, full band.
People sing into phones and laptops, in rooms, a little off pitch, or they speak. :func:`augment_voice`
draws a random chain of independent effects, each applied with its own probability and parameters drawn
from the ranges below, in the order sound meets them:

1. performer: ``detune`` (a constant offset of up to ±30 cents plus a slow drift: real singers are not on
   the grid; never a large shift, so the voice stays in tune with the accompaniment's harmony),
   ``formant`` (the spectral envelope warped by 0.85-1.2, the harmonics kept: another vocal tract, same
   pitch), ``breath`` (filtered noise bursts in the pauses before phrases);
2. room: ``reverb`` (a synthetic impulse response, RT60 0.15-1.2 s, a direct-to-reverberant ratio),
   ``noise`` (white, pink or babble-like background at an SNR of 6-36 dB);
3. microphone and channel: ``equalizer`` (random peaking and shelving bands), ``highpass`` (a small
   microphone's 80-300 Hz roll-off), ``lofi`` (a codec's band: telephone 300-3400 Hz, or a 4-8 kHz low-pass),
   ``clipping`` (0.05-1 % of the samples), ``compression`` (an RMS compressor with attack, release and
   make-up gain, like a phone's automatic gain), ``limiter`` (a boost into a look-ahead peak limiter).

Speech-like rhythm is not an effect here but a mode of the singer, because it needs the notes (short
syllables on their onsets, speech intonation per phrase: ``speech_like`` in :mod:`vocals2song.corpus.singer`);
the corpus draws it with ``SPEECH_LIKE_SHARE`` times its voice augmentation probability.

The signal processing itself is in :mod:`vocals2song.corpus.voice_effects`; this module draws the parameters
and keeps the record. Only the training side imports either (numpy, scipy and the codec's STFT; no
runtime module depends on them).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from scipy import signal

from vocals2song.corpus.voice_effects import (NOISE_KINDS, active_frames, active_rms, background_noise, breath_noise,
                                       compress, detune, formant_shift, impulse_response, level_ratio, limit,
                                       peaking_section, per_sample, shelf_section, slow_noise)

# Order of the chain, and each effect's probability of being applied to a voice.
EFFECTS = ("detune", "formant", "breath", "reverb", "noise", "equalizer", "highpass", "lofi", "clipping",
           "compression", "limiter")
DETUNE_PROBABILITY = 0.6
FORMANT_PROBABILITY = 0.5
BREATH_PROBABILITY = 0.5
REVERB_PROBABILITY = 0.6
NOISE_PROBABILITY = 0.6
EQUALIZER_PROBABILITY = 0.6
HIGHPASS_PROBABILITY = 0.5
LOFI_PROBABILITY = 0.15
CLIPPING_PROBABILITY = 0.1
COMPRESSION_PROBABILITY = 0.5
LIMITER_PROBABILITY = 0.4
SPEECH_LIKE_SHARE = 0.2       # of the corpus's voice augmentation probability: singers that speak instead

DETUNE_CENTS_RANGE = (-30.0, 30.0)          # constant offset
DETUNE_DRIFT_CENTS_RANGE = (0.0, 12.0)      # standard deviation of the slow drift around it
DETUNE_DRIFT_HZ = 0.3                       # bandwidth of the drift
FORMANT_FACTOR_RANGE = (0.85, 1.2)          # spectral envelope frequency factor
BREATH_PER_PAUSE_PROBABILITY = 0.8          # a breath in each pause before a phrase
BREATH_SECONDS_RANGE = (0.15, 0.45)
BREATH_LEVEL_DB_RANGE = (-32.0, -14.0)      # breath RMS re the voice's active RMS
BREATH_MIN_PAUSE_SECONDS = 0.15
NOISE_SNR_DB_RANGE = (6.0, 36.0)            # voice active RMS over noise RMS
BABBLE_TALKERS_RANGE = (3, 8)
REVERB_RT60_SECONDS_RANGE = (0.15, 1.2)     # 60 dB decay time of the 500-4000 Hz band
REVERB_LOW_DECAY_FACTOR_RANGE = (1.0, 1.3)  # RT60 below 500 Hz, relative
REVERB_HIGH_DECAY_FACTOR_RANGE = (0.4, 0.8)  # RT60 above 4 kHz, relative
REVERB_DIRECT_TO_REVERBERANT_DB_RANGE = (-3.0, 12.0)
REVERB_PREDELAY_SECONDS_RANGE = (0.003, 0.02)
EQUALIZER_BANDS_RANGE = (1, 3)              # peaking bands
EQUALIZER_GAIN_DB_RANGE = (-8.0, 8.0)
EQUALIZER_FREQUENCY_HZ_RANGE = (150.0, 6000.0)
EQUALIZER_Q_RANGE = (0.5, 3.0)
SHELF_PROBABILITY = 0.5                     # of each of the low and high shelves
SHELF_GAIN_DB_RANGE = (-6.0, 6.0)
LOW_SHELF_HZ_RANGE = (80.0, 300.0)
HIGH_SHELF_HZ_RANGE = (2500.0, 8000.0)
HIGHPASS_HZ_RANGE = (80.0, 300.0)
TELEPHONE_BAND_HZ = (300.0, 3400.0)
TELEPHONE_PROBABILITY = 0.5                 # of a lo-fi channel: the telephone band, else a low-pass
LOWPASS_HZ_RANGE = (4000.0, 8000.0)
CLIPPED_FRACTION_RANGE = (0.0005, 0.01)
COMPRESSION_THRESHOLD_DB_RANGE = (-15.0, -3.0)   # re the voice's active RMS
COMPRESSION_RATIO_RANGE = (1.5, 6.0)
COMPRESSION_ATTACK_SECONDS_RANGE = (0.002, 0.02)
COMPRESSION_RELEASE_SECONDS_RANGE = (0.05, 0.3)
LIMITER_BOOST_DB_RANGE = (3.0, 10.0)
LIMITER_CEILING_DB_RANGE = (-3.0, -0.1)     # dBFS


def default_settings() -> dict[str, float]:
    """The probability of each effect in :data:`EFFECTS`, from the UPPER_CASE constants."""
    return {"detune": DETUNE_PROBABILITY, "formant": FORMANT_PROBABILITY, "breath": BREATH_PROBABILITY,
            "reverb": REVERB_PROBABILITY, "noise": NOISE_PROBABILITY, "equalizer": EQUALIZER_PROBABILITY,
            "highpass": HIGHPASS_PROBABILITY, "lofi": LOFI_PROBABILITY, "clipping": CLIPPING_PROBABILITY,
            "compression": COMPRESSION_PROBABILITY, "limiter": LIMITER_PROBABILITY}


def augment_voice(vocals: np.ndarray, sample_rate: int, rng: np.random.Generator,
                  settings: Mapping[str, float] | None = None) -> tuple[np.ndarray, dict]:
    """Make a clean synthetic voice sound recorded: a random chain of the effects in :data:`EFFECTS`.

    Args:
        vocals: float array, shape (nb_samples,), in [-1, 1].
        sample_rate: Hz (at least 8000).
        rng: every random choice comes from it (same seed, same output).
        settings: probability per effect name (0 never, 1 always); effects not named keep
            :func:`default_settings`.

    Returns:
        (augmented, record): float32 of shape (nb_samples,), finite, peak at most 1; and a JSON-ready dict
        ``{"effects": [names applied, in order], name: {parameters drawn}, ...}``. Rests that were
        silent may now hold noise, breaths or reverberation tails.

    Raises:
        ValueError: the voice is not a finite 1-D array, a setting names no effect or is not in [0, 1],
            or the rate is below 8000 Hz.
    """
    vocals = np.asarray(vocals)
    if vocals.ndim != 1 or not np.all(np.isfinite(vocals)):
        raise ValueError(f"The voice must be a finite 1-D array (got shape {vocals.shape}).")
    if sample_rate < 8000:
        raise ValueError(f"Voice augmentation needs a sample rate of at least 8000 Hz (got {sample_rate}).")
    probabilities = default_settings()
    for effect, probability in (settings or {}).items():
        if effect not in probabilities or not 0.0 <= probability <= 1.0:
            raise ValueError(f"Voice augmentation settings take a probability in [0, 1] for each of "
                             f"{', '.join(EFFECTS)} (got {effect!r}: {probability!r}).")
        probabilities[effect] = float(probability)

    voice = vocals.astype(np.float64)
    record: dict = {"effects": []}
    if len(voice) == 0 or not np.any(voice):
        return voice.astype(np.float32), record
    active = active_frames(voice, sample_rate)
    for effect in EFFECTS:
        if rng.random() >= probabilities[effect]:
            continue
        voice, parameters = _APPLY[effect](voice, sample_rate, rng, active)
        record["effects"].append(effect)
        record[effect] = {name: _json_ready(value) for name, value in parameters.items()}
    peak = np.max(np.abs(voice))
    if peak > 1.0:
        voice = voice / peak
    return voice.astype(np.float32), record


def maybe_augment_voice(vocals: np.ndarray, sample_rate: int, rng: np.random.Generator,
                        probability: float) -> tuple[np.ndarray, dict | None]:
    """:func:`augment_voice` with ``probability``, else the voice unchanged and None (nothing drawn at 0)."""
    if probability <= 0 or rng.random() >= probability:
        return vocals, None
    return augment_voice(vocals, sample_rate, rng)


# ----------------------------------------------------------------------------------------------------
# Drawing each effect's parameters


def _apply_detune(voice, sample_rate, rng, active):
    cents = float(rng.uniform(*DETUNE_CENTS_RANGE))
    drift = float(rng.uniform(*DETUNE_DRIFT_CENTS_RANGE))
    curve = cents + drift * slow_noise(rng, len(voice), sample_rate, DETUNE_DRIFT_HZ)
    mean_cents = float(np.mean(curve[per_sample(active, len(voice), sample_rate)])) if np.any(active) else cents
    return detune(voice, sample_rate, curve, active), {"cents": cents, "drift_cents": drift,
                                                       "mean_cents": mean_cents}


def _apply_formant(voice, sample_rate, rng, active):
    factor = float(np.exp(rng.uniform(*np.log(FORMANT_FACTOR_RANGE))))
    return formant_shift(voice, sample_rate, factor), {"factor": factor}


def _apply_breath(voice, sample_rate, rng, active):
    level_db = float(rng.uniform(*BREATH_LEVEL_DB_RANGE))
    breaths, nb_breaths = breath_noise(voice, sample_rate, rng, level_db, BREATH_PER_PAUSE_PROBABILITY,
                                       BREATH_SECONDS_RANGE, BREATH_MIN_PAUSE_SECONDS, active)
    return voice + breaths, {"level_db": level_db, "count": nb_breaths}


def _apply_reverb(voice, sample_rate, rng, active):
    rt60 = float(rng.uniform(*REVERB_RT60_SECONDS_RANGE))
    parameters = {"rt60_seconds": rt60,
                  "low_factor": float(rng.uniform(*REVERB_LOW_DECAY_FACTOR_RANGE)),
                  "high_factor": float(rng.uniform(*REVERB_HIGH_DECAY_FACTOR_RANGE)),
                  "predelay_seconds": float(rng.uniform(*REVERB_PREDELAY_SECONDS_RANGE))}
    direct_to_reverberant_db = float(rng.uniform(*REVERB_DIRECT_TO_REVERBERANT_DB_RANGE))
    response = impulse_response(sample_rate, rng, **parameters)
    wet = signal.fftconvolve(voice, response)[:len(voice)]
    mixed = voice + wet * 10 ** (-direct_to_reverberant_db / 20)
    mixed *= level_ratio(voice, mixed, sample_rate)
    return mixed, {**parameters, "direct_to_reverberant_db": direct_to_reverberant_db}


def _apply_noise(voice, sample_rate, rng, active):
    kind = NOISE_KINDS[int(rng.integers(len(NOISE_KINDS)))]
    snr_db = float(rng.uniform(*NOISE_SNR_DB_RANGE))
    noise = background_noise(kind, len(voice), sample_rate, rng, BABBLE_TALKERS_RANGE)
    noise *= active_rms(voice, active, sample_rate) * 10 ** (-snr_db / 20)
    return voice + noise, {"kind": kind, "snr_db": snr_db}


def _apply_equalizer(voice, sample_rate, rng, active):
    sections, bands = [], []
    top_hz = min(EQUALIZER_FREQUENCY_HZ_RANGE[1], 0.4 * sample_rate)
    for _ in range(int(rng.integers(EQUALIZER_BANDS_RANGE[0], EQUALIZER_BANDS_RANGE[1] + 1))):
        band = {"hz": float(np.exp(rng.uniform(np.log(EQUALIZER_FREQUENCY_HZ_RANGE[0]), np.log(top_hz)))),
                "gain_db": float(rng.uniform(*EQUALIZER_GAIN_DB_RANGE)),
                "q": float(rng.uniform(*EQUALIZER_Q_RANGE))}
        sections.append(peaking_section(band["hz"], band["gain_db"], band["q"], sample_rate))
        bands.append(band)
    parameters: dict = {"peaks": bands}
    shelves = (("low_shelf", LOW_SHELF_HZ_RANGE, False), ("high_shelf", HIGH_SHELF_HZ_RANGE, True))
    for name, hz_range, high in shelves:
        if rng.random() < SHELF_PROBABILITY:
            shelf = {"hz": float(min(rng.uniform(*hz_range), 0.4 * sample_rate)),
                     "gain_db": float(rng.uniform(*SHELF_GAIN_DB_RANGE))}
            sections.append(shelf_section(shelf["hz"], shelf["gain_db"], sample_rate, high))
            parameters[name] = shelf
    return signal.sosfilt(np.concatenate(sections), voice), parameters


def _apply_highpass(voice, sample_rate, rng, active):
    cutoff = float(np.exp(rng.uniform(*np.log(HIGHPASS_HZ_RANGE))))
    order = int(rng.choice((2, 4)))
    sections = signal.butter(order, cutoff, btype="high", fs=sample_rate, output="sos")
    return signal.sosfilt(sections, voice), {"hz": cutoff, "order": order}


def _apply_lofi(voice, sample_rate, rng, active):
    # A codec's band edge is nearly a brick wall: an 8th-order elliptic low-pass (0.5 dB ripple, -60 dB stop).
    if rng.random() < TELEPHONE_PROBABILITY and TELEPHONE_BAND_HZ[1] < 0.45 * sample_rate:
        low, high = TELEPHONE_BAND_HZ
        sections = np.concatenate([signal.butter(4, low, btype="high", fs=sample_rate, output="sos"),
                                   signal.ellip(8, 0.5, 60, high, btype="low", fs=sample_rate, output="sos")])
        return signal.sosfilt(sections, voice), {"kind": "telephone", "band_hz": [low, high]}
    cutoff = float(min(rng.uniform(*LOWPASS_HZ_RANGE), 0.45 * sample_rate))
    sections = signal.ellip(8, 0.5, 60, cutoff, btype="low", fs=sample_rate, output="sos")
    return signal.sosfilt(sections, voice), {"kind": "lowpass", "hz": cutoff}


def _apply_clipping(voice, sample_rate, rng, active):
    fraction = float(rng.uniform(*CLIPPED_FRACTION_RANGE))
    level = float(np.quantile(np.abs(voice), 1 - fraction))
    soft = bool(rng.random() < 0.5)
    if level <= 0:
        return voice, {"fraction": 0.0, "soft": soft}
    clipped = level * np.tanh(voice / level) if soft else np.clip(voice, -level, level)
    return clipped, {"fraction": fraction, "soft": soft}


def _apply_compression(voice, sample_rate, rng, active):
    threshold = float(rng.uniform(*COMPRESSION_THRESHOLD_DB_RANGE))
    parameters = {"threshold_db": threshold, "ratio": float(rng.uniform(*COMPRESSION_RATIO_RANGE)),
                  "attack_seconds": float(rng.uniform(*COMPRESSION_ATTACK_SECONDS_RANGE)),
                  "release_seconds": float(rng.uniform(*COMPRESSION_RELEASE_SECONDS_RANGE))}
    reference_db = 20 * np.log10(active_rms(voice, active, sample_rate) + 1e-12)
    compressed = compress(voice, sample_rate, reference_db + threshold, parameters["ratio"],
                          parameters["attack_seconds"], parameters["release_seconds"])
    makeup = level_ratio(voice, compressed, sample_rate)
    return compressed * makeup, {**parameters, "makeup_db": float(20 * np.log10(makeup))}


def _apply_limiter(voice, sample_rate, rng, active):
    boost_db = float(rng.uniform(*LIMITER_BOOST_DB_RANGE))
    ceiling_db = float(rng.uniform(*LIMITER_CEILING_DB_RANGE))
    peak = np.max(np.abs(voice)) + 1e-12
    boosted = voice / peak * 10 ** (boost_db / 20)      # the peak goes boost_db over full scale
    return limit(boosted, sample_rate, 10 ** (ceiling_db / 20)), {"boost_db": boost_db, "ceiling_db": ceiling_db}


_APPLY = {"detune": _apply_detune, "formant": _apply_formant, "breath": _apply_breath, "reverb": _apply_reverb,
          "noise": _apply_noise, "equalizer": _apply_equalizer, "highpass": _apply_highpass, "lofi": _apply_lofi,
          "clipping": _apply_clipping, "compression": _apply_compression, "limiter": _apply_limiter}


def _json_ready(value):
    """Floats rounded to 4 decimals, inside dicts and lists too (a compact manifest)."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_ready(item) for item in value]
    return value
