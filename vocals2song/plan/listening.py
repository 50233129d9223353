"""Listening to a voice for the harmony estimator: its pitch track and notes, its onsets, tempo, beats and bars.

Every frame-wise feature is on the codec's STFT frames at :data:`ANALYSIS` (22.05 kHz, hop 256 = 11.6 ms), so
it lines up with the voice image's columns. The pitch track is librosa's YIN on the voice resampled to 11.025 kHz
(a voice's fundamental stays under 1.1 kHz; half the rate makes YIN four times cheaper), voiced where the frame is
loud enough and not noise-like; the tuning offset of the whole voice is measured and removed, so a singer 30 cents
flat still gives the right pitch classes. Tempo is the autocorrelation peak of an onset envelope (spectral flux
plus the sung notes' onsets) under a log-normal prior around :data:`PRIOR_BPM`, within :data:`TEMPO_RANGE_BPM`,
then the one of it and its ×½, ×2, ×⅔, ×3/2 relatives on whose beats the sung notes start best; beats are
librosa's dynamic-programming tracker at that tempo, moved earlier by the onsets' measured latency; the bar lines
fall on the beats that carry the most accent.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import librosa
import numpy as np
from scipy import ndimage

from vocals2song.config import SpectrogramConfig

ANALYSIS = SpectrogramConfig()  # 22.05 kHz, n_fft 1024, hop 256
PITCH_RATE = 11025
PITCH_FRAME = 512
PITCH_HOP = ANALYSIS.hop_length * PITCH_RATE // ANALYSIS.sample_rate  # 128: the STFT's frame rate
FMIN_HZ, FMAX_HZ = 65.0, 1050.0
LOUDNESS_RANGE_DB = 30.0  # frames more than this below the loud frames (95th percentile) are unvoiced
MAX_FLATNESS = 0.3  # spectral flatness above this (noise, breath, consonants) is unvoiced
MIN_NOTE_SECONDS = 0.06
NOTE_CHANGE_SEMITONES = 0.7
TEMPO_RANGE_BPM = (60.0, 180.0)
PRIOR_BPM = 100.0
PRIOR_OCTAVES = 0.7  # standard deviation of the log2-tempo prior
# The tempo's metrical relatives that compete with the autocorrelation's pick, and the weights of their scores
# (chosen on corpus-big's validation pieces and 200 training pairs; bench/bench_harmony.py).
TEMPO_FACTORS = (1.0, 0.5, 2.0, 2.0 / 3.0, 1.5)
PERIODICITY_WEIGHT = 4.0
ONSET_FIT_WEIGHT = 2.0
ONSET_TOLERANCE_SECONDS = 0.07
# The tracker's penalty on beat intervals that stray from the tempo: a rendered voice keeps its tempo, and 1000
# beat 200 and librosa's 100 (beat F with the true tempo 0.77 against 0.74 and 0.70); 3000 is too rigid (0.70).
BEAT_TIGHTNESS = 1000.0
NOTE_PULSE_WEIGHT = 2.0  # the sung notes' onsets against the spectral flux in the onset envelope
# Detected onsets trail the sung beat (a voice's attack, the pitch settling): measured 40-45 ms on the corpus's
# training pieces (bench/bench_harmony.py's data), so beats are moved this much earlier.
ONSET_LATENCY_SECONDS = 0.04
METERS = (4, 3)  # beats per bar considered; the first wins ties
PITCH_METHODS = ("yin", "pyin", "chroma")


@dataclass
class PitchTrack:
    """The voice's pitch, one value per STFT frame.

    Attributes:
        midi: float64 (nb_frames,), MIDI pitch with the voice's tuning offset removed; NaN where unvoiced.
        loudness: float64 (nb_frames,), frame energy in dB (for weighting).
        tuning: semitones the voice sat above the equal-tempered grid (in [-0.5, 0.5)), removed from ``midi``.
        frame_seconds: seconds per frame (hop / rate).
    """

    midi: np.ndarray
    loudness: np.ndarray
    tuning: float
    frame_seconds: float

    @property
    def voiced(self) -> np.ndarray:
        return np.isfinite(self.midi)


def pitch_track(voice: np.ndarray, magnitude: np.ndarray, method: str = "yin") -> PitchTrack:
    """Pitch with loudness and flatness voicing, median-smoothed, tuning removed.

    Args:
        voice: float32 mono audio at ``ANALYSIS.sample_rate``, shape (nb_samples,).
        magnitude: its STFT magnitude from the codec, shape (nb_bins, nb_frames).
        method: one of :data:`PITCH_METHODS`: ``"yin"`` (the default, chosen by ``bench/bench_harmony.py``),
            ``"pyin"`` (librosa's probabilistic YIN, its own voicing too; ~30 times slower) or ``"chroma"`` (no
            pitch: the strongest chroma bin of the STFT, as MIDI 60-71).
    """
    nb_frames = magnitude.shape[1]
    if method == "chroma":
        chroma = librosa.feature.chroma_stft(S=np.asarray(magnitude, np.float32) ** 2, sr=ANALYSIS.sample_rate,
                                             n_fft=ANALYSIS.n_fft, tuning=0.0)
        f0 = librosa.midi_to_hz(60.0 + np.argmax(chroma, axis=0))
    elif method in ("yin", "pyin"):
        low_rate = librosa.resample(voice, orig_sr=ANALYSIS.sample_rate, target_sr=PITCH_RATE, res_type="polyphase")
        options = dict(fmin=FMIN_HZ, fmax=FMAX_HZ, sr=PITCH_RATE, frame_length=PITCH_FRAME, hop_length=PITCH_HOP)
        if method == "yin":
            f0 = librosa.yin(low_rate, center=True, **options)
        else:
            f0 = librosa.pyin(low_rate, center=True, **options)[0]  # NaN where pYIN hears no voice
    else:
        raise ValueError(f"pitch method must be one of {PITCH_METHODS}, got {method!r}")
    f0 = _fit(np.asarray(f0, dtype=np.float64), nb_frames, fill=np.nan)
    band = magnitude[2:190].astype(np.float64) ** 2 + 1e-12  # ~43 Hz - 4 kHz
    energy = band.sum(axis=0)
    loudness = 10 * np.log10(energy)
    flatness = np.exp(np.mean(np.log(band), axis=0)) / np.mean(band, axis=0)
    loud = loudness > np.percentile(loudness, 95) - LOUDNESS_RANGE_DB
    voiced = loud & (flatness < MAX_FLATNESS) & np.isfinite(f0)
    voiced = ndimage.binary_opening(voiced, structure=np.ones(3, bool))
    midi = np.where(voiced, librosa.hz_to_midi(np.where(np.isfinite(f0) & (f0 > 0), f0, 1.0)), np.nan)
    midi = _median_smooth(midi, 5)
    tuning = _tuning(midi[np.isfinite(midi)])
    return PitchTrack(midi - tuning, loudness, tuning, ANALYSIS.hop_length / ANALYSIS.sample_rate)


def melody_notes(track: PitchTrack) -> list[tuple[float, float, float]]:
    """Sung notes from a pitch track: runs of voiced frames, split where the pitch moves more than
    :data:`NOTE_CHANGE_SEMITONES` from the current note's mean; notes shorter than :data:`MIN_NOTE_SECONDS` dropped.

    Returns:
        (start seconds, end seconds, MIDI pitch rounded to the semitone) per note, in time order.
    """
    notes = []
    step = track.frame_seconds
    min_frames = max(1, int(round(MIN_NOTE_SECONDS / step)))
    start, total, count = -1, 0.0, 0
    for frame, value in enumerate([*track.midi.tolist(), float("nan")]):
        if start >= 0 and (value != value or abs(value - total / count) > NOTE_CHANGE_SEMITONES):
            if frame - start >= min_frames:
                notes.append((start * step, frame * step, float(round(total / count))))
            start = -1
        if value == value:  # voiced (not NaN)
            if start < 0:
                start, total, count = frame, 0.0, 0
            total, count = total + value, count + 1
    return notes


def onset_envelope(magnitude: np.ndarray, notes: list[tuple[float, float, float]], frame_seconds: float) -> np.ndarray:
    """Onset strength per frame: spectral flux (librosa's onset strength over log-spaced bands, summed directly: a
    mel filterbank product costs 50 ms of BLAS time on a busy 2-core machine) plus a pulse at each sung note's start,
    stronger for longer notes (long notes tend to start on beats).

    Args:
        magnitude: STFT magnitude, shape (nb_bins, nb_frames).
    Returns:
        float64 (nb_frames,), unit standard deviation.
    """
    bands = np.add.reduceat(np.asarray(magnitude, np.float32) ** 2, _band_edges(magnitude.shape[0]), axis=0)
    flux = librosa.onset.onset_strength(S=librosa.power_to_db(bands, ref=np.max), sr=ANALYSIS.sample_rate,
                                        hop_length=ANALYSIS.hop_length)
    flux = _fit(flux.astype(np.float64), magnitude.shape[1], fill=0.0)
    flux /= flux.std() + 1e-9
    pulses = np.zeros_like(flux)
    for start, end, _ in notes:
        frame = int(round(start / frame_seconds))
        if frame < len(pulses):
            pulses[frame] += 1.0 + np.log1p((end - start) / 0.1)
    pulses = ndimage.gaussian_filter1d(pulses, 1.0)
    envelope = flux + NOTE_PULSE_WEIGHT * pulses / (pulses.std() + 1e-9)
    return envelope / (envelope.std() + 1e-9)


def estimate_tempo(envelope: np.ndarray, frame_seconds: float,
                   notes: list[tuple[float, float, float]] | tuple = ()) -> float:
    """Beats per minute, in two steps.

    1. The best autocorrelation lag of the onset envelope (its double lag counts half) under a log-normal prior
       around :data:`PRIOR_BPM` (:data:`PRIOR_OCTAVES` wide), within :data:`TEMPO_RANGE_BPM`.
    2. With sung notes given, that tempo and its metrical relatives (:data:`TEMPO_FACTORS`: ×½, ×2, ×⅔, ×3/2)
       compete: each is tracked (:func:`track_beats`) and scored by the prior, its periodicity (weight
       :data:`PERIODICITY_WEIGHT`) and how well the notes' onsets fall on its beats (:func:`onset_grid_fit`,
       weight :data:`ONSET_FIT_WEIGHT`, as a log): half tempo leaves onsets off the grid, double tempo leaves
       beats without onsets.

    Args:
        envelope: onset strength per frame, shape (nb_frames,) (:func:`onset_envelope`).
        notes: (start s, end s, MIDI pitch) per sung note (:func:`melody_notes`).
    """
    autocorrelation = _autocorrelation(envelope)
    low, high = TEMPO_RANGE_BPM
    lags = np.arange(max(1, int(60.0 / high / frame_seconds)), int(60.0 / low / frame_seconds) + 1)
    lags = lags[2 * lags < len(autocorrelation)]
    if not len(lags):
        return PRIOR_BPM
    bpm = 60.0 / (lags * frame_seconds)
    best = int(np.argmax(np.maximum(_periodicity(autocorrelation, lags), 0.0) * np.exp(_log_prior(bpm))))
    lag = _refine_peak(autocorrelation, int(lags[best]))
    tempo = float(np.clip(60.0 / (lag * frame_seconds), low, high))
    if not len(notes):
        return tempo
    candidates = [tempo * factor for factor in TEMPO_FACTORS if low <= tempo * factor <= high]
    scores = []
    for candidate in candidates:
        candidate_lag = np.array([int(round(60.0 / candidate / frame_seconds))])
        fit = onset_grid_fit(notes, track_beats(envelope, frame_seconds, candidate))
        scores.append(_log_prior(candidate) + PERIODICITY_WEIGHT * _periodicity(autocorrelation, candidate_lag)[0]
                      + ONSET_FIT_WEIGHT * np.log(fit + 1e-3))
    return float(candidates[int(np.argmax(scores))])


def onset_grid_fit(notes: list[tuple[float, float, float]] | tuple, beats: np.ndarray) -> float:
    """How well sung notes start on a beat grid, in [0, 1]: the F-measure of recall (the notes' share, weighted
    like the onset pulses by length, that start within :data:`ONSET_TOLERANCE_SECONDS` of a beat) and precision
    (the beats' share with a note start that near). Note starts are moved :data:`ONSET_LATENCY_SECONDS` earlier,
    as the beats are."""
    if not len(notes) or not len(beats):
        return 0.0
    starts = np.array([note[0] for note in notes]) - ONSET_LATENCY_SECONDS
    weights = np.array([1.0 + np.log1p((note[1] - note[0]) / 0.1) for note in notes])
    near = np.abs(starts[:, None] - np.asarray(beats)[None, :]) < ONSET_TOLERANCE_SECONDS
    recall = float(np.sum(weights * near.any(axis=1)) / weights.sum())
    precision = float(np.mean(near.any(axis=0)))
    return 2 * precision * recall / (precision + recall + 1e-12)


def track_beats(envelope: np.ndarray, frame_seconds: float, tempo_bpm: float) -> np.ndarray:
    """Beat times (seconds) at ``tempo_bpm`` by librosa's dynamic-programming tracker, on the whole voice."""
    if len(envelope) < 4 or not np.any(envelope > 0):
        return np.zeros(0)
    sample_rate = ANALYSIS.sample_rate
    _, beats = librosa.beat.beat_track(onset_envelope=np.maximum(envelope, 0.0), sr=sample_rate,
                                       hop_length=ANALYSIS.hop_length, bpm=float(tempo_bpm),
                                       tightness=BEAT_TIGHTNESS, trim=False, units="frames")
    beats = np.asarray(beats) * frame_seconds - ONSET_LATENCY_SECONDS
    beats = _fill_grid(beats, 60.0 / tempo_bpm, len(envelope) * frame_seconds)
    return beats[beats >= 0]


def choose_downbeats(beats: np.ndarray, notes: list[tuple[float, float, float]],
                     envelope: np.ndarray, frame_seconds: float) -> tuple[int, np.ndarray]:
    """Meter (beats per bar, from :data:`METERS`) and downbeat times: the bar phase whose beats carry the most
    accent (onset strength, plus the length of the notes that start on the beat: long notes fall on strong beats).
    A phase's accent is how far its beats' mean lies above all beats' mean, in standard errors (times the square
    root of its number of beats): a plain difference of means favours the longest bar, whose few beats can be
    picked to be strong by chance (downbeat F on the corpus's sung validation pairs 0.32 -> 0.34, training pairs
    0.39 -> 0.40, bench/bench_harmony.py). 2/4 among the meters would add 0.01 there, but reads even quarter
    notes and a half note plus two quarters as 2/4 as often as 4/4, which halves a 4/4 song's bars.

    Returns:
        (beats per bar, downbeat times in seconds).
    """
    if len(beats) < 2:
        return METERS[0], beats[:1]
    period = float(np.median(np.diff(beats)))
    accents = np.zeros(len(beats))
    for index, beat in enumerate(beats):
        frame = int(round((beat + ONSET_LATENCY_SECONDS) / frame_seconds))
        accents[index] += envelope[max(0, frame - 2): frame + 3].max(initial=0.0) if frame < len(envelope) else 0.0
    starts = np.array([note[0] for note in notes])
    lengths = np.array([note[1] - note[0] for note in notes])
    if len(starts):
        nearest = np.searchsorted(beats, starts)
        for note_index, start in enumerate(starts):
            for candidate in (nearest[note_index] - 1, nearest[note_index]):
                if 0 <= candidate < len(beats) and abs(beats[candidate] - start) < 0.2 * period:
                    accents[candidate] += 2.0 * min(lengths[note_index] / period, 4.0)
    best = (-np.inf, METERS[0], 0)
    spread = accents.std() + 1e-9
    for meter in METERS:
        if len(beats) < 2 * meter:
            continue
        for phase in range(meter):
            strong = accents[phase::meter]
            contrast = (strong.mean() - accents.mean()) * np.sqrt(len(strong)) / spread
            if contrast > best[0] + 1e-9:
                best = (contrast, meter, phase)
    _, meter, phase = best
    return meter, beats[phase::meter]


@functools.lru_cache(maxsize=4)
def _band_edges(nb_bins: int) -> np.ndarray:
    """First bin of each of ~54 log-spaced bands from 43 Hz to Nyquist."""
    return np.unique(np.round(np.geomspace(2, nb_bins - 1, 65)).astype(np.int64))


def _autocorrelation(envelope: np.ndarray) -> np.ndarray:
    """Autocorrelation of the centred envelope by FFT, normalised to 1 at lag 0, shape (nb_frames,)."""
    centred = envelope - envelope.mean()
    size = 1 << int(np.ceil(np.log2(2 * len(centred))))
    spectrum = np.fft.rfft(centred, size)
    autocorrelation = np.fft.irfft(spectrum * np.conj(spectrum), size)[: len(centred)]
    return autocorrelation / (autocorrelation[0] + 1e-9)


def _periodicity(autocorrelation: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """Autocorrelation at each lag plus half of it at the double lag (0 past the end)."""
    last = len(autocorrelation) - 1
    double = np.where(2 * lags <= last, autocorrelation[np.minimum(2 * lags, last)], 0.0)
    return autocorrelation[np.minimum(lags, last)] + 0.5 * double


def _log_prior(bpm):
    """Log of the log-normal tempo prior (0 at :data:`PRIOR_BPM`)."""
    return -0.5 * (np.log2(np.asarray(bpm) / PRIOR_BPM) / PRIOR_OCTAVES) ** 2


def _refine_peak(values: np.ndarray, index: int) -> float:
    """Parabolic interpolation of a peak position."""
    if 0 < index < len(values) - 1:
        left, centre, right = values[index - 1], values[index], values[index + 1]
        denominator = left - 2 * centre + right
        if denominator < 0:
            return index + 0.5 * (left - right) / denominator
    return float(index)


def _fill_grid(beats: np.ndarray, period: float, duration: float) -> np.ndarray:
    """Extend a beat list to cover the whole voice at the tracked period (the tracker leaves the quiet ends out)."""
    if not len(beats):
        return np.arange(0.0, duration, period)
    before = np.arange(beats[0] - period, -1e-9, -period)[::-1]
    after = np.arange(beats[-1] + period, duration, period)
    return np.concatenate([before, beats, after])


def _tuning(midi: np.ndarray) -> float:
    """Circular mean of the deviation from the semitone grid, in [-0.5, 0.5)."""
    if not len(midi):
        return 0.0
    angle = np.angle(np.mean(np.exp(2j * np.pi * midi)))
    return float(angle / (2 * np.pi))


def _median_smooth(midi: np.ndarray, width: int) -> np.ndarray:
    """Median filter over voiced frames only (unvoiced stay NaN; octave jumps of single frames vanish)."""
    half = width // 2
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(midi, half, constant_values=np.nan), width)
    voiced = np.isfinite(midi)
    smoothed = np.full_like(midi, np.nan)
    if voiced.any():
        smoothed[voiced] = np.nanmedian(windows[voiced], axis=1)
    return smoothed


def _fit(values: np.ndarray, length: int, fill: float) -> np.ndarray:
    if len(values) >= length:
        return values[:length]
    return np.concatenate([values, np.full(length - len(values), fill, dtype=values.dtype)])
