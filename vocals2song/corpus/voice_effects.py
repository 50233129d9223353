"""The signal processing behind the voice augmentation: each effect as a function of explicit parameters.

:mod:`vocals2song.corpus.voice_augment` draws the parameters and chains these; the functions here are
deterministic given their arguments (and ``rng`` where they draw noise). Audio is float64 of shape
(nb_samples,) at ``sample_rate`` Hz; levels "re the active RMS" are relative to the RMS of the 20 ms frames
within ``ACTIVE_FLOOR_DB`` of the loudest (the voice, not its rests).
"""

from __future__ import annotations

import numpy as np
import scipy.fft
from scipy import signal

DETUNE_ANCHOR_SECONDS = 3.0                 # the detune's timing is re-anchored at least this often
FORMANT_LIFTER_SECONDS = (0.001, 0.003)     # cepstral lifter bounds (envelope detail 1 kHz-330 Hz)
NOISE_KINDS = ("white", "pink", "babble")
CONTROL_SECONDS = 0.001     # block length of the compressor's and limiter's gain control
LIMITER_RELEASE_SECONDS = 0.08
ACTIVE_FLOOR_DB = -35.0     # 20 ms frames above this (re the loudest) count as voice


# ----------------------------------------------------------------------------------------------------
# Performer


def detune(voice: np.ndarray, sample_rate: int, cents: np.ndarray | float,
           active: np.ndarray | None = None) -> np.ndarray:
    """Shift the pitch by ``cents`` (a constant or one value per sample) by reading the voice at a varying rate.

    Reading at rate 2**(cents/1200) shifts pitch and formants alike (by at most 1.7 % here) and would
    drift in time; so the read position is re-anchored to the true time at the centre of each stretch
    between pauses (and at the quietest moment at least every ``DETUNE_ANCHOR_SECONDS``), with a 10 ms
    cross-fade between stretches. At 30 cents the timing stays within ±26 ms. Read on a 2x upsampled
    copy by cubic (Catmull-Rom) interpolation.

    Returns:
        float64, shape (nb_samples,).
    """
    nb_samples = len(voice)
    ratio = np.broadcast_to(2.0 ** (np.asarray(cents, dtype=np.float64) / 1200.0), (nb_samples,))
    if active is None:
        active = active_frames(voice, sample_rate)
    upsampled = np.pad(signal.resample_poly(voice, 2, 1), 2)
    fade = max(1, int(0.005 * sample_rate))          # cross-fades are 2 * fade long, centred on the anchors
    rise = 0.5 - 0.5 * np.cos(np.pi * np.arange(2 * fade) / (2 * fade))
    anchors = _anchor_points(voice, active, sample_rate, min_spacing=4 * fade)
    output = np.zeros(nb_samples)
    for index, (start, end) in enumerate(zip(anchors[:-1], anchors[1:])):
        first, last = index == 0, index == len(anchors) - 2
        low, high = (start if first else start - fade), (end if last else end + fade)
        steps = np.concatenate([[0.0], np.cumsum(ratio[low:high - 1])])
        centre = (start + end) // 2
        position = centre + steps - steps[centre - low]      # the true time at the centre, rate ratio around it
        window = np.ones(high - low)
        if not first:
            window[:2 * fade] = rise
        if not last:
            window[-2 * fade:] *= rise[::-1]
        output[low:high] += window * _cubic_read(upsampled, 2 + 2 * np.clip(position, 0, nb_samples - 1))
    return output


def formant_shift(voice: np.ndarray, sample_rate: int, factor: float) -> np.ndarray:
    """Move the spectral envelope (formants) by ``factor`` in frequency and keep the harmonics (the pitch).

    Per STFT frame (the codec's n_fft 1024, hop 256 at 22.05 kHz, scaled with the rate), the log
    magnitude is split by a cepstral lifter into a smooth envelope and a fine structure; the lifter's cut
    sits below the frame's pitch period (found as the cepstral peak, clamped to
    ``FORMANT_LIFTER_SECONDS``). The envelope is resampled to ``envelope(f / factor)`` and added back to the
    fine structure; the phase is kept. The active RMS level is kept.

    Returns:
        float64, shape (nb_samples,).
    """
    from vocals2song.config import SpectrogramConfig
    from vocals2song.codec.spectrogram import istft, stft

    n_fft = 1024 if sample_rate > 16000 else 512
    config = SpectrogramConfig(sample_rate=int(sample_rate), n_fft=n_fft, hop_length=n_fft // 4)
    spectrum = stft(voice.astype(np.float32), config)                       # (nb_bins, nb_frames)
    log_magnitude = np.ascontiguousarray(np.log(np.abs(spectrum) + 1e-7).T)  # (nb_frames, nb_bins), float32
    cepstrum = scipy.fft.irfft(log_magnitude, n=n_fft, axis=1)
    low_cut, high_cut = (int(seconds * sample_rate) for seconds in FORMANT_LIFTER_SECONDS)
    low_search = int(sample_rate / 1000.0)                                  # pitch up to 1 kHz
    high_search = min(int(sample_rate / 70.0), n_fft // 2)                  # down to 70 Hz
    period = low_search + np.argmax(cepstrum[:, low_search:high_search], axis=1)
    cut = np.clip((0.7 * period).astype(int), low_cut, high_cut)[:, None]
    quefrency = np.arange(high_cut + 1)[None, :]
    # The cepstrum is symmetric: keep c[0], twice c[1..cut-1] and c[cut] once (the folded lifter).
    lifter = np.where(quefrency < cut, 2.0, np.where(quefrency == cut, 1.0, 0.0)).astype(np.float32)
    lifter[:, 0] = 1.0
    envelope = scipy.fft.rfft(cepstrum[:, :high_cut + 1] * lifter, n=n_fft, axis=1).real
    bins = np.arange(log_magnitude.shape[1], dtype=np.float64)
    source_bins = np.clip(bins / factor, 0, bins[-1])
    lower = np.floor(source_bins).astype(int)
    upper = np.minimum(lower + 1, len(bins) - 1)
    weight = (source_bins - lower).astype(np.float32)
    warped = envelope[:, lower] * (1 - weight) + envelope[:, upper] * weight
    gain = np.exp(np.clip(warped - envelope, -12.0, 12.0)).T
    shifted = istft(spectrum * gain, config, length=len(voice)).astype(np.float64)
    return shifted * level_ratio(voice, shifted, sample_rate)


def breath_noise(voice: np.ndarray, sample_rate: int, rng: np.random.Generator, level_db: float,
                 per_pause_probability: float = 0.8, seconds_range: tuple[float, float] = (0.15, 0.45),
                 min_pause_seconds: float = 0.15, active: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Inhalation noises in the pauses before phrases: (noise to add, shape (nb_samples,); how many breaths).

    Each pause of at least ``min_pause_seconds`` before a voiced frame gets, with probability
    ``per_pause_probability``, a burst of noise filtered through two broad random resonances
    (500-2500 Hz) plus a 300 Hz high-pass, ``seconds_range`` long (fitted into the pause, at least 60 ms,
    starting 30 ms or more after the previous phrase), ending 20-80 ms before the phrase, with a slow rise
    and a quicker fall, at ``level_db`` re the active RMS.
    """
    if active is None:
        active = active_frames(voice, sample_rate)
    frame = frame_length(sample_rate)
    breaths = np.zeros(len(voice))
    nb_breaths = 0
    voice_rms = active_rms(voice, active, sample_rate)
    for pause_start, pause_end in pauses(active):
        if pause_end >= len(active) or (pause_end - pause_start) * frame < min_pause_seconds * sample_rate:
            continue
        if rng.random() >= per_pause_probability:
            continue
        gap_before_phrase = int(rng.uniform(0.02, 0.08) * sample_rate)
        end = pause_end * frame - gap_before_phrase
        available = end - pause_start * frame - int(0.03 * sample_rate)
        length = min(int(rng.uniform(*seconds_range) * sample_rate), available)
        if length < int(0.06 * sample_rate):
            continue
        noise = rng.standard_normal(length + 256)
        sections = [signal.butter(2, 300.0, btype="high", fs=sample_rate, output="sos")]
        for _ in range(2):
            centre = float(rng.uniform(500.0, min(2500.0, 0.4 * sample_rate)))
            width = float(rng.uniform(300.0, 900.0))
            band = (max(100.0, centre - width / 2), min(0.45 * sample_rate, centre + width / 2))
            sections.append(signal.butter(1, band, btype="band", fs=sample_rate, output="sos"))
        shaped = signal.sosfilt(sections[0], noise) + sum(signal.sosfilt(sos, noise) for sos in sections[1:])
        shaped = shaped[256:]
        rise = int(0.6 * length)
        envelope = np.concatenate([np.sin(np.linspace(0, np.pi / 2, rise)) ** 2,
                                   np.cos(np.linspace(0, np.pi / 2, length - rise)) ** 2])
        burst = shaped * envelope
        burst *= voice_rms * 10 ** (level_db / 20) / (np.sqrt(np.mean(burst ** 2)) + 1e-12)
        breaths[end - length:end] += burst
        nb_breaths += 1
    return breaths, nb_breaths


# ----------------------------------------------------------------------------------------------------
# Room


def impulse_response(sample_rate: int, rng: np.random.Generator, rt60_seconds: float, low_factor: float = 1.0,
                     high_factor: float = 1.0, predelay_seconds: float = 0.01) -> np.ndarray:
    """A synthetic room's reverberant part, float64 of shape (nb_taps,), unit energy, no direct sound.

    Gaussian noise in three bands (below 500 Hz, 500-4000 Hz, above 4 kHz), each decaying exponentially
    by 60 dB in ``rt60_seconds`` times (``low_factor``, 1, ``high_factor``), after a pre-delay and with
    a few sparse early reflections in the first 40 ms; long enough for 66 dB of decay.
    """
    slowest = rt60_seconds * max(1.0, low_factor)
    predelay = int(predelay_seconds * sample_rate)
    nb_taps = predelay + int(1.1 * slowest * sample_rate) + 1
    time_axis = np.arange(nb_taps - predelay) / sample_rate
    noise = rng.standard_normal(nb_taps - predelay)
    split_hz = min(4000.0, 0.45 * sample_rate)
    bands = (("lowpass", 500.0, low_factor), ("bandpass", (500.0, split_hz), 1.0),
             ("highpass", split_hz, high_factor))
    tail = np.zeros(nb_taps - predelay)
    for kind, cutoff, factor in bands:
        sections = signal.butter(2, cutoff, btype=kind, fs=sample_rate, output="sos")
        decay = np.exp(-6.908 * time_axis / (rt60_seconds * factor))
        tail += signal.sosfilt(sections, noise) * decay
    early_length = min(int(0.04 * sample_rate), len(tail))
    reflection_level = 4 * np.std(tail[:early_length])
    for _ in range(int(rng.integers(4, 11))):
        position = int(rng.integers(1, early_length))
        sign = 1.0 if rng.random() < 0.5 else -1.0
        tail[position] += sign * rng.uniform(0.3, 1.0) * np.exp(-position / early_length) * reflection_level
    response = np.concatenate([np.zeros(predelay), tail])
    return response / np.sqrt(np.sum(response ** 2))


def background_noise(kind: str, nb_samples: int, sample_rate: int, rng: np.random.Generator,
                     talkers_range: tuple[int, int] = (3, 8)) -> np.ndarray:
    """Unit-RMS background noise, float64 of shape (nb_samples,).

    "white"; "pink" (1/f power, shaped in the frequency domain above 20 Hz); "babble" (``talkers_range`` distant
    talkers, each white noise amplitude-modulated by its own 2-6 Hz syllable envelope, summed and
    shaped like speech: 150-4000 Hz with a random broad peak at 300-1200 Hz).
    """
    if kind == "white":
        noise = rng.standard_normal(nb_samples)
    elif kind == "pink":
        length = scipy.fft.next_fast_len(nb_samples, real=True)
        spectrum = scipy.fft.rfft(rng.standard_normal(length))
        frequencies = scipy.fft.rfftfreq(length, 1 / sample_rate)
        spectrum /= np.sqrt(np.maximum(frequencies, 20.0))
        noise = scipy.fft.irfft(spectrum, n=length)[:nb_samples]
    elif kind == "babble":
        # A sum of independent Gaussian noises, each scaled by a talker's envelope, is one Gaussian noise
        # scaled by the root of the summed squared envelopes: same signal statistics, one draw.
        power = np.zeros(nb_samples)
        for _ in range(int(rng.integers(talkers_range[0], talkers_range[1] + 1))):
            power += slow_noise(rng, nb_samples, sample_rate, float(rng.uniform(2.0, 6.0))) ** 2
        talkers = rng.standard_normal(nb_samples) * np.sqrt(power)
        speech_band = signal.butter(2, (150.0, min(4000.0, 0.45 * sample_rate)), btype="band",
                                    fs=sample_rate, output="sos")
        peak_hz = float(rng.uniform(300.0, 1200.0))
        peak = signal.butter(1, (peak_hz / 1.5, peak_hz * 1.5), btype="band", fs=sample_rate, output="sos")
        noise = signal.sosfilt(speech_band, talkers)
        noise = noise + 2.0 * signal.sosfilt(peak, noise)
    else:
        raise ValueError(f"The noise kind must be one of {', '.join(NOISE_KINDS)} (got {kind!r}).")
    return noise / (np.sqrt(np.mean(noise ** 2)) + 1e-12)


# ----------------------------------------------------------------------------------------------------
# Microphone and channel


def peaking_section(frequency_hz: float, gain_db: float, q: float, sample_rate: int) -> np.ndarray:
    """A peaking-EQ biquad (Audio EQ Cookbook), as one second-order section of shape (1, 6)."""
    amplitude = 10 ** (gain_db / 40)
    omega = 2 * np.pi * frequency_hz / sample_rate
    alpha = np.sin(omega) / (2 * q)
    numerator = (1 + alpha * amplitude, -2 * np.cos(omega), 1 - alpha * amplitude)
    denominator = (1 + alpha / amplitude, -2 * np.cos(omega), 1 - alpha / amplitude)
    return np.array([[*numerator, *denominator]]) / denominator[0]


def shelf_section(frequency_hz: float, gain_db: float, sample_rate: int, high: bool) -> np.ndarray:
    """A low or high shelving biquad (Audio EQ Cookbook, slope 1), as one section of shape (1, 6)."""
    amplitude = 10 ** (gain_db / 40)
    omega = 2 * np.pi * frequency_hz / sample_rate
    cosine, alpha = np.cos(omega), np.sin(omega) / np.sqrt(2)
    root = 2 * np.sqrt(amplitude) * alpha
    sign = -1 if high else 1
    numerator = (amplitude * ((amplitude + 1) - sign * (amplitude - 1) * cosine + root),
                 2 * sign * amplitude * ((amplitude - 1) - sign * (amplitude + 1) * cosine),
                 amplitude * ((amplitude + 1) - sign * (amplitude - 1) * cosine - root))
    denominator = ((amplitude + 1) + sign * (amplitude - 1) * cosine + root,
                   -2 * sign * ((amplitude - 1) + sign * (amplitude + 1) * cosine),
                   (amplitude + 1) + sign * (amplitude - 1) * cosine - root)
    return np.array([[*numerator, *denominator]]) / denominator[0]


def compress(voice: np.ndarray, sample_rate: int, threshold_db: float, ratio: float, attack_seconds: float,
             release_seconds: float) -> np.ndarray:
    """RMS compressor: above ``threshold_db`` (dB re full scale) the level rises only 1/``ratio`` as much.

    The level is the RMS of 1 ms blocks, smoothed with separate attack and release time constants; the
    gain is computed per block and interpolated to the samples. No make-up gain (see ``_apply_compression``).

    Returns:
        float64, shape (nb_samples,).
    """
    block = max(1, int(CONTROL_SECONDS * sample_rate))
    power = _block_values(voice ** 2, block, np.mean)
    attack = np.exp(-block / (attack_seconds * sample_rate))
    release = np.exp(-block / (release_seconds * sample_rate))
    smoothed = np.empty_like(power)
    level = power[0]
    for index, value in enumerate(power.tolist()):
        coefficient = attack if value > level else release
        level = coefficient * level + (1 - coefficient) * value
        smoothed[index] = level
    level_db = 10 * np.log10(smoothed + 1e-12)
    gain_db = -np.maximum(level_db - threshold_db, 0.0) * (1 - 1 / ratio)
    return voice * _block_gain_to_samples(10 ** (gain_db / 20), block, len(voice))


def limit(voice: np.ndarray, sample_rate: int, ceiling: float) -> np.ndarray:
    """Look-ahead peak limiter: no sample exceeds ``ceiling``; the gain recovers with ``LIMITER_RELEASE_SECONDS``.

    The gain of each 1 ms block is at most ceiling / (peak of the block and its two neighbours each side),
    so the per-sample interpolation of the block gains never lets a peak through; a final clip at the
    ceiling only guards against rounding.

    Returns:
        float64, shape (nb_samples,).
    """
    block = max(1, int(CONTROL_SECONDS * sample_rate))
    peaks = _block_values(np.abs(voice), block, np.max)
    padded = np.pad(peaks, 2, mode="edge")
    neighbourhood = np.max(np.stack([padded[shift:shift + len(peaks)] for shift in range(5)]), axis=0)
    wanted = np.minimum(1.0, ceiling / np.maximum(neighbourhood, 1e-12))
    recovery = np.exp(-block / (LIMITER_RELEASE_SECONDS * sample_rate))
    gain = np.empty_like(wanted)
    current = 1.0
    for index, value in enumerate(wanted.tolist()):
        current = min(value, 1.0 - recovery * (1.0 - current))
        gain[index] = current
    return np.clip(voice * _block_gain_to_samples(gain, block, len(voice)), -ceiling, ceiling)


# ----------------------------------------------------------------------------------------------------
# Levels, frames and control signals


def frame_length(sample_rate: int) -> int:
    return max(1, int(0.02 * sample_rate))


def active_frames(voice: np.ndarray, sample_rate: int) -> np.ndarray:
    """Boolean per 20 ms frame, shape (ceil(nb_samples / frame),): RMS within ACTIVE_FLOOR_DB of the loudest."""
    frame = frame_length(sample_rate)
    rms = np.sqrt(_block_values(voice ** 2, frame, np.mean))
    return rms > np.max(rms) * 10 ** (ACTIVE_FLOOR_DB / 20) if np.max(rms) > 0 else np.zeros(len(rms), bool)


def per_sample(active: np.ndarray, nb_samples: int, sample_rate: int) -> np.ndarray:
    return np.repeat(active, frame_length(sample_rate))[:nb_samples]


def active_rms(voice: np.ndarray, active: np.ndarray, sample_rate: int) -> float:
    """RMS of the voice over its active frames (the whole signal when none is active)."""
    mask = per_sample(active, len(voice), sample_rate)
    selected = voice[mask] if np.any(mask) else voice
    return float(np.sqrt(np.mean(selected ** 2)))


def level_ratio(reference: np.ndarray, processed: np.ndarray, sample_rate: int) -> float:
    """Gain that gives ``processed`` the active RMS of ``reference`` (frames active in the reference)."""
    active = active_frames(reference, sample_rate)
    return active_rms(reference, active, sample_rate) / (active_rms(processed, active, sample_rate) + 1e-12)


def _block_values(values: np.ndarray, block: int, reduce) -> np.ndarray:
    """``reduce`` over consecutive blocks of ``block`` samples (the last one zero-padded), shape (nb_blocks,)."""
    nb_blocks = -(-len(values) // block)
    padded = np.zeros(nb_blocks * block)
    padded[:len(values)] = values
    return reduce(padded.reshape(nb_blocks, block), axis=1)


def _block_gain_to_samples(gain: np.ndarray, block: int, nb_samples: int) -> np.ndarray:
    """Per-block gains (at block centres) linearly interpolated to every sample, shape (nb_samples,)."""
    centres = (np.arange(len(gain)) + 0.5) * block
    return np.interp(np.arange(nb_samples), centres, gain)


def pauses(active: np.ndarray) -> list[tuple[int, int]]:
    """(first, end) frame indexes of each run of inactive frames."""
    edges = np.flatnonzero(np.diff(np.concatenate([[1], active.astype(np.int8), [1]])))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


def _anchor_points(voice: np.ndarray, active: np.ndarray, sample_rate: int, min_spacing: int) -> list[int]:
    """Sample indexes that cut the voice into stretches for :func:`detune`: 0, the middle of each pause,
    the quietest 20 ms frame in the second half of every ``DETUNE_ANCHOR_SECONDS`` of a longer stretch,
    and the end; interior anchors closer than ``min_spacing`` samples to the previous one or the end are dropped."""
    frame = frame_length(sample_rate)
    cuts = [0] + [(first + end) // 2 * frame for first, end in pauses(active) if 0 < first and end < len(active)]
    cuts.append(len(voice))
    rms = np.sqrt(_block_values(voice ** 2, frame, np.mean))
    longest = int(DETUNE_ANCHOR_SECONDS * sample_rate)
    anchors = [0]
    for start, end in zip(cuts[:-1], cuts[1:]):
        while end - start > longest:
            first_frame, last_frame = (start + longest // 2) // frame, (start + longest) // frame
            quietest = first_frame + int(np.argmin(rms[first_frame:last_frame]))
            start = quietest * frame
            anchors.append(start)
        anchors.append(end)
    kept = [0]
    for anchor in sorted(set(anchors))[1:-1]:
        if anchor - kept[-1] >= min_spacing and len(voice) - anchor >= min_spacing:
            kept.append(anchor)
    return kept + [len(voice)]


def _cubic_read(samples: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Catmull-Rom interpolation of ``samples`` at fractional ``positions`` (within 1..len - 3)."""
    index = np.floor(positions).astype(np.int64)
    fraction = positions - index
    before, here, after, next_after = (samples[index + offset] for offset in (-1, 0, 1, 2))
    cubic = 3 * (here - after) + next_after - before
    quadratic = 2 * before - 5 * here + 4 * after - next_after
    return here + 0.5 * fraction * (after - before + fraction * (quadratic + fraction * cubic))


def slow_noise(rng: np.random.Generator, nb_samples: int, sample_rate: int, bandwidth_hz: float) -> np.ndarray:
    """Smooth random curve of unit standard deviation, shape (nb_samples,): Gaussian noise at 100 Hz,
    low-passed to ``bandwidth_hz`` and interpolated to the sample rate."""
    control_rate = 100.0
    nb_controls = int(np.ceil(nb_samples / sample_rate * control_rate)) + 2
    sections = signal.butter(2, min(bandwidth_hz, 0.45 * control_rate), fs=control_rate, output="sos")
    padding = int(3 * control_rate / bandwidth_hz)
    curve = signal.sosfilt(sections, rng.standard_normal(nb_controls + padding))[padding:]
    curve = (curve - np.mean(curve)) / (np.std(curve) + 1e-12)
    return np.interp(np.arange(nb_samples) / sample_rate, np.arange(nb_controls) / control_rate, curve)
