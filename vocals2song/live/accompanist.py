"""One live take: voice chunks in as they are sung, the band's audio out a moment later (:class:`LiveAccompanist`).

How a take goes (times at the model's rate, 22.05 kHz, hop 256):

1. **Listening** (the first :attr:`LiveSettings.plan_seconds`, 4 s): the voice is kept and the band is silent.
2. **The plan is fixed** once that much voice has been heard: the offline estimator
   (:func:`vocals2song.plan.estimate.estimate_harmony`) reads tempo, bar phase, meter and key from it, and its beats
   fitted by a steady grid are extended forward (:class:`~vocals2song.live.bars.BarGrid`). From twice that (8 s),
   every :data:`REVIEW_BARS` bars, the grid is read again from the last :data:`REVIEW_SECONDS` of voice and moved
   when it is clearly elsewhere (:meth:`LiveAccompanist._review_grid`); the key changes when
   :attr:`LiveSettings.key_bars` bars of melody ask for another one :attr:`LiveSettings.key_confirmations` bar
   lines in a row. The person's key and tempo are kept as given.
3. **Each bar's chord** is decided at its line, from the melody of the bars so far and the progression prior (the
   Viterbi path over bars, :func:`~vocals2song.live.bars.decide_chords`, the new bar barely sung yet), then
   decided again once :attr:`LiveSettings.confirm_seconds` of it have been sung (a beat and a half at 120 BPM): the
   rest of the bar plays that chord. A completed bar's chord is never changed.
4. **Rendering**, once :attr:`LiveSettings.render_seconds` of new band can go out: the last
   :attr:`LiveSettings.window_frames` frames of the voice (the newest at the right, the rest context) become the
   voice image with the plan so far in B (:func:`vocals2song.plan.channel.render_plan` with ``first_frame``), the
   generator runs on it (:func:`vocals2song.inference.predict_image`, which continues the image as its mirror image
   up to a whole tile; through :class:`CompiledNetwork`) and the newest frames are decoded
   (:func:`vocals2song.codec.spectrogram.target_to_spectrogram`: PGHI for a magnitude-only generator). The band is
   emitted up to :attr:`LiveAccompanist.hold_samples` before the voice's end (the STFT's last frames are
   incomplete there), each render cross-faded into the previous one's tail over :attr:`LiveSettings.fade_samples`
   (:func:`cross_fade`: the two renders' phases differ).

So the band's audio for a sung moment leaves :meth:`LiveAccompanist.feed` when the chunk holding it (plus the
hold, 46 ms) has arrived and been processed, rendering at most every :attr:`LiveSettings.render_seconds`:
delay = chunk wait (or the render period, whichever is longer) + hold + processing, before the output path.

State is per take (no globals); :meth:`LiveAccompanist.finish` returns the take and frees the buffers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import soxr

from vocals2song.audio import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, SILENCE_PEAK, resample
from vocals2song.codec import spectrogram as codec
from vocals2song.codec.network import VOICE_PEAK
from vocals2song.errors import AudioInputError, ProcessingError
from vocals2song.inference import generator_style, predict_image
from vocals2song.live.bars import BarGrid, bar_observations, decide_chords, key_of
from vocals2song.model.weights import SongGenerator
from vocals2song.plan import listening
from vocals2song.plan.channel import render_plan
from vocals2song.plan.controls import PlanControls
from vocals2song.plan.estimate import estimate_harmony, resolve_controls
from vocals2song.plan.harmony import PITCH_NAMES, Chord, Harmony, MelodyNote

OUTPUT_PEAK = 0.99
LISTEN_MARGIN_SECONDS = 0.5  # the melody of a bar is tracked with this much voice before it (pitch settles)
MIN_PLAN_NOTES = 2  # sung notes needed in the first seconds before the plan is fixed (else: keep listening)
PLAN_RETRY_SECONDS = 1.0  # while no voice is heard, the plan is tried again this often
REVIEW_AFTER_PLANS = 2  # the grid is first reviewed at twice plan_seconds (8 s), then every REVIEW_BARS bars
REVIEW_BARS = 2
REVIEW_SECONDS = 16.0  # a review listens to this much of the latest voice
TEMPO_TOLERANCE = 0.02  # a review moves the grid for a tempo this far off (2 %, 2.4 BPM at 120)...
PHASE_TOLERANCE_BEATS = 0.1  # ...or bar lines this far away (or another meter)
RENDER_SHARE = 0.8  # a render waits for this share of render_seconds (chunks vary by the resampler's few ms)
MAX_TEMPO_DRIFT = 0.15  # a review's tempo further than this from the grid's is an octave error: ignored


@dataclass(frozen=True)
class LiveSettings:
    """How a live take is accompanied.

    Attributes:
        plan_seconds: voice heard before tempo, bar phase and key are fixed (the band is silent until then).
        window_frames: STFT frames of voice the generator sees per render (the newest at the right): 224 frames
            (2.6 s) of a 256-frame tile, the rest its mirror image, so the voice never stops dead at the tile's edge.
        fade_samples: cross-fade between consecutive renders, samples at the model's rate (512 = 23 ms).
        max_seconds: a take stops being accompanied after this much voice.
        key_bars: bars of melody the key is re-read from.
        key_confirmations: consecutive bar lines that must ask for the same new key before it changes.
        render_seconds: the generator runs once about this much new band can be emitted (the browser may send chunks
            of 0.1 s: rendering each would cost 0.4 of a core); a chunk arriving before that returns nothing.
        confirm_seconds: a bar's chord, decided at its line from the bars before (the progression prior decides),
            is decided again once this much of the bar has been sung (at most half the bar): from then on the
            band plays the chord that fits the bar's beginning. 0: the chord at the line stays. 0.75 s: on the five
            voices of ``bench/bench_live.py --musicality`` the live chord_tone went from 0.06 below offline at 0.5 s
            to level with it (the same at 1 s).
        seed: the generator's dropout variation.
    """

    plan_seconds: float = 4.0
    window_frames: int = 224
    fade_samples: int = 512
    max_seconds: float = 60.0
    key_bars: int = 8
    key_confirmations: int = 2
    confirm_seconds: float = 0.75
    render_seconds: float = 0.5
    seed: int = 0

    def __post_init__(self):
        if not 1.0 <= self.plan_seconds <= 30.0:
            raise ValueError(f"plan_seconds must be within 1-30 s, got {self.plan_seconds}")
        if self.window_frames < 16 or self.fade_samples < 0 or self.max_seconds <= self.plan_seconds:
            raise ValueError("window_frames must be at least 16, fade_samples non-negative and max_seconds "
                             "above plan_seconds")  # fmt: skip
        if not 0 <= self.render_seconds <= 2.0:
            raise ValueError(f"render_seconds must be within 0-2 s, got {self.render_seconds}")


@dataclass
class ChunkReport:
    """What one :meth:`LiveAccompanist.feed` call did (for the bench and the page).

    Attributes:
        voice_seconds: seconds of voice received so far (at the model's rate), after this chunk.
        chunk_seconds: seconds of voice this chunk carried.
        band_seconds: seconds of band audio emitted so far.
        processing_seconds: wall-clock seconds the call took.
        rendered: whether the generator ran (not while listening, nor before a render period of new band is in).
    """

    voice_seconds: float
    chunk_seconds: float
    band_seconds: float
    processing_seconds: float
    rendered: bool


@dataclass
class LiveTake:
    """A finished take, all audio float32 mono at ``sample_rate`` (the model's), all the same length.

    Attributes:
        voice: the voice as sung, level-normalised as it was accompanied.
        accompaniment: the band, exactly as it was streamed (silent while listening).
        song: voice + accompaniment, peak-limited together with them.
        harmony: the plan as it was played (key, tempo, beats, one chord per bar, the melody); None when the
            take ended before the plan was fixed.
        truncated: the take ran past ``max_seconds`` and was cut there.
        reports: one :class:`ChunkReport` per chunk.
    """

    voice: np.ndarray
    accompaniment: np.ndarray
    song: np.ndarray
    sample_rate: int
    harmony: Harmony | None
    truncated: bool
    reports: list[ChunkReport] = field(default_factory=list)


def cross_fade(ending: np.ndarray, beginning: np.ndarray) -> np.ndarray:
    """``ending`` faded out while ``beginning`` fades in, at a constant level whatever their correlation.

    Two renders of the same stretch agree in magnitude but their phases may differ (PGHI starts afresh each
    time): a linear fade keeps the level of identical signals and dips for unrelated ones, an equal-power fade the
    reverse (+3 dB mid-way for identical ones). The gains ``(1 - f, f) / sqrt((1 - f)² + f² + 2ρ·f(1 - f))`` with
    ``ρ`` their correlation (clipped to [0, 1]) keep the expected level for any ``ρ``.

    Args:
        ending, beginning: float32 (nb_samples,), the same stretch of time.
    """
    energy = float(np.sqrt((ending @ ending) * (beginning @ beginning)))
    correlation = float(np.clip(ending @ beginning / energy, 0.0, 1.0)) if energy > 0 else 1.0
    rising = (np.arange(ending.size) + 0.5) / ending.size
    norm = np.sqrt((1 - rising) ** 2 + rising**2 + 2 * correlation * rising * (1 - rising))
    return ((ending * (1 - rising) + beginning * rising) / norm).astype(np.float32)


class CompiledNetwork:
    """A generator network called through Keras' compiled predict step (``predict_on_batch``: a traced function
    on TensorFlow, jitted on JAX) instead of layer by layer: 20 ms instead of 90 ms for a 256-frame tile of the
    packaged generator on 2 cores, the same output bit for bit (its dropout draws from the same seeded state).
    It quacks like the ``keras.Model`` that :func:`vocals2song.inference.predict_image` and
    :func:`vocals2song.model.networks.seed_dropout` use: called with ``training=False``, and its ``layers``."""

    def __init__(self, network):
        self.network = network

    def __call__(self, batch, training: bool = False):
        if training:
            raise ValueError("a compiled generator only predicts")
        return self.network.predict_on_batch(batch)

    @property
    def layers(self):
        return self.network.layers


def compiled_generator(model: SongGenerator) -> SongGenerator:
    """``model`` with its network called through :class:`CompiledNetwork` (the same object if it already is)."""
    if isinstance(model.network, CompiledNetwork):
        return model
    return replace(model, network=CompiledNetwork(model.network))


class LiveAccompanist:
    """The band for one live take. Feed it the voice as it arrives; it returns the band's audio to play.

    Args:
        model: the generator (:func:`vocals2song.model.weights.load_generator`); one reading the plan from B
            (``config.uses_plan``, the packaged one) plays the live chords.
        controls: the person's plan controls (key, tempo, happy, jazz); the chords change per bar whatever
            ``chord_rhythm`` says.
        style: the accompaniment's style (:func:`vocals2song.inference.generator_style`).
        settings: :class:`LiveSettings`.
    Raises:
        PlanError: a style the generator does not play.
    """

    def __init__(self, model: SongGenerator, controls: PlanControls | None = None, style: str | None = None,
                 settings: LiveSettings | None = None):  # fmt: skip
        self.model = compiled_generator(model)
        self.settings = settings or LiveSettings()
        self.controls = resolve_controls(controls, {})
        self.style = generator_style(model.config, style)
        self.config = model.config.spectrogram
        self.rate = self.config.sample_rate
        self.source_rate: int | None = None
        self._resampler: soxr.ResampleStream | None = None
        self._voice = np.zeros(int(self.settings.max_seconds * self.rate), dtype=np.float32)
        self._band = np.zeros_like(self._voice)
        self.length = 0  # voice samples received (model rate)
        self.emitted = 0  # band samples emitted
        self._tail = np.zeros(self.settings.fade_samples, dtype=np.float32)
        self._peak = 0.0
        self.truncated = False
        self.finished = False
        self.grid: BarGrid | None = None
        self.key: tuple[int, str] | None = None
        self.key_changes: list[tuple[float, str]] = []  # (seconds, new key name) after the first
        self._pending_key: tuple[tuple[int, str], int] | None = None
        self.grid_changes: list[tuple[float, BarGrid]] = []  # (seconds, new grid) after the first
        self._chords: list[Chord] = []  # one per bar, in time order; the last sounds now (it ends at the next line)
        self._bars: list[np.ndarray] = []  # beats of singing per pitch class of each completed bar (_chords[:-1])
        self._notes: list[tuple[float, float, float]] = []  # sung notes tracked so far, (start s, end s, MIDI)
        self._tracked_until = 0.0
        self._bars_since_review = 0
        self._beats: list[float] = []  # beat times of the bars so far
        self._pickup = False  # whether the first bar is a pickup (the first bar line comes after 0 s)
        self._confirmed = True  # whether the sounding bar's chord has been confirmed from its beginning
        self.confirmations: list[tuple[float, str, str]] = []  # (bar start s, chord at the line, chord confirmed)
        self._next_plan_try = self.settings.plan_seconds
        self.reports: list[ChunkReport] = []

    # ---------------------------------------------------------------------------------------------------------
    # the stream

    @property
    def hold_samples(self) -> int:
        """Band samples held back behind the voice's end: the last frames' STFT is incomplete there."""
        return self.settings.fade_samples + self.config.n_fft // 2 + self.config.hop_length

    def feed(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """Take the next chunk of voice; return the band's next audio (float32 at the model's rate, maybe empty).

        Args:
            samples: the chunk, shape (nb_samples,) or (nb_samples, nb_channels) (channels are averaged); float in
                [-1, 1] or integer PCM (scaled by its type), at ``sample_rate``.
            sample_rate: Hz, within 8-192 kHz, the same for every chunk of a take.
        Returns:
            the band's audio continuing the previous return value; its total length follows the voice's, less
            :meth:`hold_samples`.
        Raises:
            AudioInputError: a bad rate, a rate that changed, invalid samples, or a take already finished.
            ProcessingError: the generator produced invalid samples.
        """
        started = time.perf_counter()
        if self.finished:
            raise AudioInputError("This live take has ended; start a new one.")
        voice = self._checked_chunk(samples, sample_rate)
        before = self.length
        self._append(voice)
        band, rendered = self._advance()
        self.reports.append(ChunkReport(self.length / self.rate, (self.length - before) / self.rate,
                                        self.emitted / self.rate, time.perf_counter() - started, rendered))
        return band

    def finish(self) -> LiveTake:
        """End the take: the voice, the band as streamed, their sum and the plan as played; frees the buffers.

        Raises:
            AudioInputError: nothing was recorded, silence only, a take shorter than ``plan_seconds``, or no sung
                notes (the band never joined).
        """
        if self.finished:
            raise AudioInputError("This live take has ended; start a new one.")
        self.finished = True
        if self._resampler is not None:  # the resampler's last few milliseconds
            self._append(self._resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
        length = self.length
        voice, band = self._voice[:length], self._band[:length].copy()
        self._voice = self._band = np.zeros(0, dtype=np.float32)
        if length == 0:
            raise AudioInputError("Nothing was recorded: sing into the microphone after pressing record.")
        if self._peak < SILENCE_PEAK:
            raise AudioInputError("No voice heard: the recording is silent.")
        seconds = length / self.rate
        if self.grid is None and seconds < self.settings.plan_seconds:
            raise AudioInputError(f"The take was {seconds:.1f} s long; sing for at least "
                                  f"{self.settings.plan_seconds:g} s so that the band can join.")  # fmt: skip
        if self.grid is None:
            raise AudioInputError("The band never joined: no sung notes were heard. Sing a melody, not only words "
                                  "or noise.")  # fmt: skip
        harmony = None
        if self.grid is not None:
            harmony = replace(self.harmony(length / self.rate), melody=tuple(
                MelodyNote(start, end, pitch) for start, end, pitch in self._sung_notes(voice)))  # fmt: skip
        voice = voice * self._gain()
        song = voice + band
        peak = float(max(np.max(np.abs(song)), np.max(np.abs(band)), np.max(np.abs(voice))))
        gain = min(1.0, OUTPUT_PEAK / peak) if peak > 0 else 1.0
        return LiveTake(voice=(voice * gain).astype(np.float32), accompaniment=(band * gain).astype(np.float32),
                        song=(song * gain).astype(np.float32), sample_rate=self.rate, harmony=harmony,
                        truncated=self.truncated, reports=self.reports)  # fmt: skip

    # ---------------------------------------------------------------------------------------------------------
    # what the page shows

    @property
    def joined(self) -> bool:
        """Whether the band plays (the plan is fixed)."""
        return self.grid is not None

    def harmony(self, seconds: float | None = None) -> Harmony | None:
        """The plan as decided so far, covering ``seconds`` (default: the voice so far); None while listening.
        Its melody is empty (:meth:`finish` fills it)."""
        if self.grid is None:
            return None
        end = self.length / self.rate if seconds is None else seconds
        beats = tuple(beat for beat in self._beats if beat < end)
        downbeats = tuple(chord.start for chord in self._chords[self._pickup :] if chord.start < end)
        chords = list(self._chords)
        if chords[-1].end < end:  # the resampler's last milliseconds, flushed at the end, came after the last line
            chords[-1] = replace(chords[-1], end=end)
        tonic, mode = self.key
        return Harmony(key_tonic=tonic, key_mode=mode, tempo_bpm=round(self.grid.tempo_bpm, 2), beats=beats,
                       downbeats=downbeats, chords=tuple(chords), duration=max(end, 1e-3))  # fmt: skip

    # ---------------------------------------------------------------------------------------------------------
    # inside

    def _checked_chunk(self, samples, sample_rate) -> np.ndarray:
        try:
            rate = int(sample_rate)
        except (TypeError, ValueError):
            raise AudioInputError(f"The microphone's sample rate {sample_rate!r} is not a number.") from None
        if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
            raise AudioInputError(f"The microphone's sample rate, {rate} Hz, is outside the supported "
                                  f"{MIN_SAMPLE_RATE // 1000}-{MAX_SAMPLE_RATE // 1000} kHz.")  # fmt: skip
        if self.source_rate is None:
            self.source_rate = rate
            self._resampler = None if rate == self.rate else soxr.ResampleStream(rate, self.rate, 1, dtype="float32",
                                                                                 quality="HQ")  # fmt: skip
        elif rate != self.source_rate:
            raise AudioInputError(f"The microphone's sample rate changed from {self.source_rate} to {rate} Hz "
                                  "during the take; start a new one.")  # fmt: skip
        samples = np.asarray(samples)
        if samples.ndim == 2:
            samples = samples.mean(axis=1) if np.issubdtype(samples.dtype, np.floating) else \
                samples.astype(np.float64).mean(axis=1).astype(samples.dtype)  # fmt: skip
        if samples.ndim != 1:
            raise AudioInputError("A chunk of voice must be mono or (samples, channels) audio.")
        if np.issubdtype(samples.dtype, np.integer):
            samples = samples.astype(np.float32) / float(-np.iinfo(samples.dtype).min)
        samples = samples.astype(np.float32)
        if not np.all(np.isfinite(samples)):
            raise AudioInputError("The microphone sent invalid samples (NaN or infinity).")
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples)
        return np.clip(samples, -1.0, 1.0)

    def _append(self, voice: np.ndarray) -> None:
        """Keep voice samples (model rate), up to ``max_seconds``."""
        room = len(self._voice) - self.length
        if voice.size > room:
            self.truncated = True
            voice = voice[:room]
        if voice.size:
            self._voice[self.length : self.length + voice.size] = voice
            self.length += voice.size
            self._peak = max(self._peak, float(np.max(np.abs(voice))))

    def _gain(self) -> float:
        """The voice's level for the generator (:data:`~vocals2song.codec.network.VOICE_PEAK` at the loudest so far)."""
        return VOICE_PEAK / max(self._peak, SILENCE_PEAK)

    def _advance(self) -> tuple[np.ndarray, bool]:
        """Emit the band up to the voice's end less :meth:`hold_samples`; (audio, whether the generator ran)."""
        end = self.length - self.hold_samples
        fade = self.settings.fade_samples
        period = int(RENDER_SHARE * self.settings.render_seconds * self.rate)
        if end - self.emitted < max(fade, self.config.hop_length, period):
            return np.zeros(0, dtype=np.float32), False
        seconds = self.length / self.rate
        if self.grid is None and seconds >= self._next_plan_try:
            self._fix_plan()
        if self.grid is None:
            silence = np.zeros(end - self.emitted, dtype=np.float32)
            self.emitted = end
            return silence, False
        self._decide_bars()
        piece = self._render(self.emitted, end + fade)
        out = piece[: end - self.emitted].copy()
        if fade:
            out[:fade] = cross_fade(self._tail, out[:fade])
            self._tail = piece[end - self.emitted :].copy()
        self._band[self.emitted : end] = out
        self.emitted = end
        return out, True

    def _fix_plan(self) -> None:
        """Read tempo, bar phase and key from the voice so far, when a voice has been heard; decide its bars."""
        now = self.length / self.rate
        self._next_plan_try = now + PLAN_RETRY_SECONDS
        if self._peak < SILENCE_PEAK:
            return
        harmony = estimate_harmony(self._voice[: self.length], self.rate, controls=self.controls)
        if len(harmony.melody) < MIN_PLAN_NOTES or len(harmony.beats) < 2:
            return
        self.grid = BarGrid.from_harmony(harmony, tempo_given=bool(self.controls.tempo))
        self.key = (harmony.key_tonic, harmony.key_mode)
        self._notes = [(note.start, note.end, note.pitch) for note in harmony.melody]
        self._tracked_until = now
        first, current = self.grid.first_bar(), self.grid.bar_index(now)
        lines = [0.0] + [self.grid.bar_start(bar) for bar in range(first + 1, current + 2)]
        self._pickup = self.grid.bar_start(self.grid.first_bar()) < -1e-6  # the take began inside a bar
        bounds = list(zip(lines, lines[1:]))  # the bars so far, the last one sounding now
        observations = self._observations(bounds[:-1])
        partial = self._observations([(bounds[-1][0], now)])
        chords = decide_chords(np.vstack([observations, partial]), self.key[0], self._happiness(),
                               float(self.controls.jazz))  # fmt: skip
        self._chords = []
        for chord, (start, end) in zip(chords, bounds):
            self._add_bar(replace(chord, start=start, end=end))
        self._bars = list(observations)

    def _decide_bars(self) -> None:
        """At each bar line the voice has passed: the completed bar's melody, a review of the grid now and then,
        the key, and the chord of the bar that begins (from what has been sung of it yet)."""
        now = self.length / self.rate
        while self._chords[-1].end <= now:
            self._track_notes(now)
            ending = self._chords[-1]
            self._bars.append(self._observations([(ending.start, ending.end)])[0])
            self._bars_since_review += 1
            if now >= REVIEW_AFTER_PLANS * self.settings.plan_seconds and self._bars_since_review >= REVIEW_BARS:
                self._review_grid(now, until=ending.end - 0.5 * self.grid.beat_seconds)
            start = ending.end
            end = self.grid.bar_start(self.grid.bar_index(start + 0.5 * self.grid.beat_seconds) + 1)
            if self.controls.key is None and len(self._bars) >= self.settings.key_bars:
                self._check_key(np.vstack(self._bars[-self.settings.key_bars :]), start)
            self._add_bar(replace(self._next_chord(start, now), start=start, end=end))
            self._confirmed = self.settings.confirm_seconds <= 0
        current = self._chords[-1]
        if not self._confirmed and now >= current.start + min(self.settings.confirm_seconds,
                                                              0.5 * (current.end - current.start)):  # fmt: skip
            self._track_notes(now)
            self._chords[-1] = replace(self._next_chord(current.start, now), start=current.start, end=current.end)
            self._confirmed = True
            self.confirmations.append((current.start, current.name, self._chords[-1].name))

    def _next_chord(self, start: float, now: float) -> Chord:
        """The chord of the bar that began at ``start``: Viterbi over the last bars and what has been sung of it."""
        recent = self._bars[-2 * self.settings.key_bars :]
        partial = self._observations([(start, now)])
        return decide_chords(np.vstack([*recent, partial]), self.key[0], self._happiness(),
                             float(self.controls.jazz))[-1]  # fmt: skip

    def _add_bar(self, chord: Chord) -> None:
        """A bar begins with its chord; its beats on the grid now in force (a pickup's counted back from its end)."""
        beat = self.grid.beat_seconds
        count = max(1, int(round((chord.end - chord.start) / beat)))
        if self._pickup and not self._chords:
            back = [chord.end - k * beat for k in range(1, count + 1)]
            self._beats += sorted(round(time, 4) for time in back if time >= 0)
        else:
            self._beats += [round(chord.start + k * beat, 4) for k in range(count)]
        self._chords.append(chord)

    def _review_grid(self, now: float, until: float) -> None:
        """Read tempo, meter and bar phase again from the :data:`REVIEW_SECONDS` of voice before ``until`` (the
        estimator's listening steps, the melody as tracked) and move the grid when it is clearly elsewhere: another
        meter, a tempo :data:`TEMPO_TOLERANCE` off, or bar lines :data:`PHASE_TOLERANCE_BEATS` of a beat or more
        away. ``until`` is half a beat before the bar line just passed: the bar just begun has no sung accent yet, and
        a downbeat without one at the window's end pulls the reading off the right phase."""
        self._bars_since_review = 0
        start = max(0.0, until - REVIEW_SECONDS)
        voice = self._voice[int(start * self.rate) : int(until * self.rate)]
        magnitude = np.abs(codec.stft(resample(voice, self.rate, listening.ANALYSIS.sample_rate), listening.ANALYSIS))
        frame_seconds = listening.ANALYSIS.hop_length / listening.ANALYSIS.sample_rate
        notes = [(begin - start, min(end, until) - start, pitch) for begin, end, pitch in self._notes
                 if start <= begin < until]  # fmt: skip
        envelope = listening.onset_envelope(magnitude, notes, frame_seconds)
        tempo = self.grid.tempo_bpm
        if not self.controls.tempo:  # a singer drifts; a jump to another metrical level is the estimator's error
            estimate = listening.estimate_tempo(envelope, frame_seconds, notes)
            tempo = estimate if abs(estimate / tempo - 1) <= MAX_TEMPO_DRIFT else tempo
        beats = listening.track_beats(envelope, frame_seconds, tempo)
        meter, downbeats = listening.choose_downbeats(beats, notes, envelope, frame_seconds)
        if len(downbeats) < 2:
            return
        candidate = BarGrid.from_beats(beats + start, downbeats + start, meter,
                                       self.grid.beat_seconds if self.controls.tempo else None)  # fmt: skip
        if abs(candidate.beat_seconds / self.grid.beat_seconds - 1) > MAX_TEMPO_DRIFT:
            return
        grid = self.grid
        offset = (candidate.anchor - grid.anchor) / grid.beat_seconds
        phase_beats = abs(offset - round(offset)) + (0 if round(offset) % grid.beats_per_bar == 0 else 1)
        if candidate.beats_per_bar != grid.beats_per_bar or abs(candidate.beat_seconds / grid.beat_seconds - 1) > \
                TEMPO_TOLERANCE or phase_beats >= PHASE_TOLERANCE_BEATS:  # fmt: skip
            self.grid = candidate
            self.grid_changes.append((now, candidate))

    def _track_notes(self, now: float) -> None:
        """Track the melody sung since the last time (with :data:`LISTEN_MARGIN_SECONDS` before it, re-tracked)."""
        cut = max(0.0, self._tracked_until - LISTEN_MARGIN_SECONDS)
        kept = [(start, min(end, cut), pitch) for start, end, pitch in self._notes if start < cut]
        kept = [note for note in kept if note[1] > note[0]]
        fresh = self._sung_notes(self._voice[int(cut * self.rate) : self.length], offset=cut)
        if kept and fresh and kept[-1][1] == cut and fresh[0][2] == kept[-1][2] and fresh[0][0] - cut < 0.05:
            # a note sung across the cut stays one note: its length is the accent a review gives its bar line
            kept[-1], fresh = (kept[-1][0], fresh[0][1], kept[-1][2]), fresh[1:]
        self._notes = kept + fresh
        self._tracked_until = now

    def _observations(self, bounds: list[tuple[float, float]]) -> np.ndarray:
        return bar_observations(self._notes, bounds, self.grid.beat_seconds)

    def _happiness(self) -> float:
        """The chord tables' major (1) ↔ minor (0) blend: the person's ``happy``, else the key's mode."""
        happy = self.controls.happy
        return (1.0 if self.key[1] == "major" else 0.0) if happy is None else float(happy)

    def _check_key(self, observations: np.ndarray, seconds: float) -> None:
        tonic, mode = key_of(observations, float(self.controls.jazz))
        if self.controls.happy is not None:
            mode = "major" if self.controls.happy >= 0.5 else "minor"
        if (tonic, mode) == self.key:
            self._pending_key = None
            return
        count = self._pending_key[1] + 1 if self._pending_key and self._pending_key[0] == (tonic, mode) else 1
        self._pending_key = ((tonic, mode), count)
        if count >= self.settings.key_confirmations:
            self.key, self._pending_key = (tonic, mode), None
            self.key_changes.append((seconds, f"{PITCH_NAMES[tonic]} {mode}"))

    def _sung_notes(self, voice: np.ndarray, offset: float = 0.0) -> list[tuple[float, float, float]]:
        """Sung notes of a stretch of voice at the model's rate, times from the take's start."""
        voice = resample(voice, self.rate, listening.ANALYSIS.sample_rate)
        if voice.size < listening.ANALYSIS.n_fft or float(np.max(np.abs(voice))) < SILENCE_PEAK:
            return []
        magnitude = np.abs(codec.stft(voice, listening.ANALYSIS))
        track = listening.pitch_track(voice, magnitude)
        return [(start + offset, end + offset, pitch) for start, end, pitch in listening.melody_notes(track)]

    def _render(self, first_sample: int, last_sample: int) -> np.ndarray:
        """The band for samples [first_sample, last_sample) (both before the voice's end, less half a frame), from
        the generator on the last ``window_frames`` frames of the voice with the plan in B."""
        config, hop = self.config, self.config.hop_length
        last_frame = self.length // hop
        window_first = max(0, last_frame + 1 - self.settings.window_frames)
        start = window_first * hop
        voice = self._voice[start : self.length] * self._gain()
        spectrogram = codec.stft(voice, config)
        plan = render_plan(self.harmony(), config, spectrogram.shape[1], first_frame=window_first, style=self.style)
        image = codec.spectrogram_to_image(spectrogram, config, plan)
        target = predict_image(self.model, image, self.settings.seed)
        # decode only the frames that make the samples asked for (plus two frames either side for the overlap-add)
        first_frame = max(window_first, (first_sample - config.n_fft) // hop - 2)
        offset = first_frame - window_first
        predicted = codec.target_to_spectrogram(target[:, offset:], config, self.model.config.phase_representation,
                                                seed=self.settings.seed)  # fmt: skip
        if self.model.config.target != "accompaniment":  # a mixture generator: keep what the voice does not explain
            residual = np.maximum(np.abs(predicted) - np.abs(spectrogram[:, offset:]), 0.0)
            predicted = residual * np.exp(1j * np.angle(predicted))
        audio = codec.istft(predicted, config)
        begin = first_sample - first_frame * hop
        piece = audio[begin : begin + last_sample - first_sample]
        if piece.size < last_sample - first_sample or not np.all(np.isfinite(piece)):
            raise ProcessingError("Processing failed: the model produced invalid samples.")
        return piece.astype(np.float32)
