"""The live tab's handler, :class:`LiveApp`: the microphone's stream in, the band's stream out, one take at a time
per person, at most :data:`LIVE_TAKES` at once.

A take is three gradio events on one page (wired in ``app.py``): the microphone's ``start_recording`` opens the
take (:meth:`LiveApp.start`, then :meth:`LiveApp.play`, a generator that streams the band to a streaming
``gr.Audio`` as one continuous HLS stream), its ``stream`` event hands each chunk of voice to the take's
:class:`~vocals2song.live.accompanist.LiveAccompanist` (:meth:`LiveApp.feed`, which also redraws the chord chart),
and ``stop_recording`` ends it (:meth:`LiveApp.stop`: the voice, the band, the song, the chart and the downloads,
like a recording's). The page keeps only a random key to its take; the takes live here, each freed when it ends or
after :data:`LIVE_IDLE_SECONDS` without a chunk. No layout here.
"""

from __future__ import annotations

import collections
import logging
import queue
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import numpy as np
import soundfile

from vocals2song.codec import spectrogram as codec
from vocals2song.errors import AudioInputError, Vocals2SongError
from vocals2song.live.accompanist import LiveAccompanist, LiveSettings, LiveTake
from vocals2song.plan.channel import render_plan
from vocals2song.web.handler import (
    FAILURE_MESSAGE,
    MAX_SECONDS,
    SongApp,
    audio_output,
    checked_plan_controls,
    chord_chart_html,
    user_error,
)
from vocals2song.web.serving import KeptSong, wav_bytes

logger = logging.getLogger("vocals2song.app")

LIVE_TAKES = 2  # live takes at once: each needs about 0.1 of a core per chunk (bench/bench_live.py), two fit on 2 vCPUs
STREAM_EVERY = 0.5  # seconds of voice per chunk the browser sends (gradio's stream_every)
LIVE_MAX_SECONDS = MAX_SECONDS  # the stream's time_limit and the take's cap
LIVE_IDLE_SECONDS = 10.0  # a take that received no chunk this long is ended and freed
MAX_CHUNK_SECONDS = 5.0  # a chunk file is read up to this much (a browser sends 0.5 s)
PLAY_POLL_SECONDS = 0.05
PLAYER_MAX_LAG_SECONDS = 0.6  # the band's player may run this far behind the newest band it received...
PLAYER_LAG_SECONDS = 0.25  # ...before it is moved up to this far behind it
PLAYER_CHECK_SECONDS = 0.2  # how often the page checks
# Gradio's streaming output is an HLS stream that its player (hls.js) starts at its beginning, 1-3 s after the first
# chunk, and never catches up after a stall: a live band must keep time, not fall behind. Run once in the page (when
# the status line first changes), this starts a check every PLAYER_CHECK_SECONDS that moves the player up to the
# newest band it holds, skipping what it would play late (silence while the band listens; a glitch after a stall,
# instead of a delay kept for good).
CATCH_UP_JS = f"""() => {{
  if (!window.vocals2songCatchUp) window.vocals2songCatchUp = setInterval(() => {{
    const player = document.querySelector('#live-band audio');
    if (player && player.buffered.length) {{
      const newest = player.buffered.end(player.buffered.length - 1);
      if (newest - player.currentTime > {PLAYER_MAX_LAG_SECONDS}) player.currentTime = newest - {PLAYER_LAG_SECONDS};
    }}
  }}, {int(PLAYER_CHECK_SECONDS * 1000)});
  return [];
}}"""
HEADPHONES_NOTE = ("🎧 **Wear headphones.** The band must not reach the microphone, or it accompanies itself. "
                   "Press record and sing: the band listens for the first 4 s (tempo, bars, key) and then joins, "
                   "about half a second behind you. Press stop to get the take.")  # fmt: skip


@dataclass
class LiveTakeState:
    """One live take: its accompanist, the band's chunks waiting to be streamed, when it started and was last fed,
    when each chunk arrived (monotonic seconds, with the seconds of voice received by then: the input path's lag),
    and what the page shows (to send only what changed)."""

    accompanist: LiveAccompanist
    band: queue.Queue = field(default_factory=queue.Queue)
    started: float = field(default_factory=time.monotonic)
    last_chunk: float = field(default_factory=time.monotonic)
    arrivals: list = field(default_factory=list)
    shown: tuple = ("", "")
    lock: threading.Lock = field(default_factory=threading.Lock)
    ended: bool = False
    result: LiveTake | None = None  # the finished take (kept with the latest ended takes in LiveApp.finished)

    def input_lags(self) -> np.ndarray:
        """Per chunk, seconds between the take's start plus the voice received and the chunk's arrival: how far
        the microphone's stream runs behind the singer at the server (grows when chunks pile up on the way)."""
        return np.array([arrived - self.started - voice for arrived, voice in self.arrivals])


class LiveApp:
    """The live takes of an app, sharing its generator (:class:`vocals2song.web.handler.SongApp`) and its kept
    songs (a live take can be downloaded like a generated song)."""

    def __init__(self, song_app: SongApp, settings: LiveSettings | None = None):
        self.song_app = song_app
        self.settings = settings or LiveSettings(max_seconds=float(LIVE_MAX_SECONDS))
        self._takes: dict[str, LiveTakeState] = {}
        self._lock = threading.Lock()
        self.finished: collections.deque[LiveTakeState] = collections.deque(maxlen=4)  # the latest ended takes

    def warm_up(self) -> None:
        """Take a live take's path once (the generator's compiled step at the live window's shape, the pitch
        tracker, the estimator), so that the first person to sing does not wait for it."""
        if self.song_app.model is None:
            return
        started = time.perf_counter()
        rate = 44100
        accompanist = LiveAccompanist(self.song_app.model, settings=self.settings)
        notes = [60, 64, 67, 64, 65, 69, 72, 69, 67, 71, 74, 71, 60, 64, 67, 72]
        seconds = np.arange(int(0.5 * rate)) / rate
        window = np.hanning(seconds.size)
        voice = np.concatenate([0.3 * np.sin(2 * np.pi * 440 * 2 ** ((note - 69) / 12) * seconds) * window
                                for note in notes])  # fmt: skip
        for first in range(0, voice.size, int(STREAM_EVERY * rate)):
            accompanist.feed(voice[first : first + int(STREAM_EVERY * rate)], rate)
        accompanist.finish()
        logger.info("Live accompanist warmed up in %.2f s", time.perf_counter() - started)

    # the events ------------------------------------------------------------------------------------------------

    def start(self, key="auto", happy="auto", jazz=None, tempo=0, style=None):
        """Open a take (the microphone started): its key for the page; one sentence when the app is busy."""
        if self.song_app.model is None:
            raise user_error(self.song_app.weights_error or "No trained generator is loaded.")
        controls = checked_plan_controls(key, happy, jazz, tempo)
        style = self.song_app.checked_style(style)
        self._free_idle()
        with self._lock:
            if len(self._takes) >= LIVE_TAKES:
                raise user_error(f"{LIVE_TAKES} people are singing live already; try again in a minute, or record "
                                 "and press Generate on the other tab.")  # fmt: skip
            token = secrets.token_urlsafe(16)
            accompanist = LiveAccompanist(self.song_app.model, controls=controls, style=style, settings=self.settings)
            self._takes[token] = LiveTakeState(accompanist)
        return token, "🎤 Listening: sing for 4 s and the band joins.", ""

    def feed(self, chunk, token):
        """One chunk of voice (a file the browser's stream sent) → the chord chart and the status line; the band's
        audio goes to :meth:`play`'s stream."""
        take = self._take(token)
        if take is None or chunk is None:
            return gr.skip(), gr.skip()
        try:
            samples, rate = read_chunk(self.song_app.checked_path(chunk))
            with take.lock:
                if take.ended:
                    return gr.skip(), gr.skip()
                take.last_chunk = time.monotonic()
                band = take.accompanist.feed(samples, rate)
                take.arrivals.append((take.last_chunk, take.accompanist.length / take.accompanist.rate))
            if band.size:
                take.band.put(band)
            shown = chord_chart_html(take.accompanist.harmony()), live_status(take.accompanist)
            changed = tuple(new if new != old else gr.skip() for new, old in zip(shown, take.shown))
            take.shown = shown
            return changed
        except gr.Error:
            self._end(token)
            raise
        except Vocals2SongError as error:
            self._end(token)
            raise user_error(str(error)) from None
        except Exception:
            logger.exception("A live chunk failed")
            self._end(token)
            raise user_error(FAILURE_MESSAGE) from None

    def play(self, token):
        """The band's stream for a take: 16-bit WAV chunks at the model's rate, as they are made, until the take ends
        (or goes idle); gradio turns them into one AAC stream."""
        take = self._take(token)
        if take is None:
            return
        rate = self.song_app.model.config.spectrogram.sample_rate
        while True:
            try:
                band = take.band.get(timeout=PLAY_POLL_SECONDS)
            except queue.Empty:
                if take.ended or time.monotonic() - take.last_chunk > LIVE_IDLE_SECONDS:
                    return
                continue
            while not take.band.empty():  # whatever piled up goes out at once
                band = np.concatenate([band, take.band.get_nowait()])
            yield wav_bytes(np.clip(band, -1.0, 1.0), rate, "Vocals2Song live band")

    def stop(self, token):
        """End the take (the microphone stopped): (voice, song, band alone, chord chart, status, key of the kept
        song for the downloads)."""
        take = self._end(token)
        if take is None:
            raise user_error("No live take is running: press record first.")
        try:
            with take.lock:
                result = take.result = take.accompanist.finish()
        except Vocals2SongError as error:
            raise user_error(str(error)) from None
        except Exception:
            logger.exception("Ending a live take failed")
            raise user_error(FAILURE_MESSAGE) from None
        config = self.song_app.model.config.spectrogram
        voice_spectrogram = codec.stft(result.voice, config)
        plan = render_plan(result.harmony, config, voice_spectrogram.shape[1], style=take.accompanist.style)
        kept = KeptSong(song=result.song, voice_image=codec.spectrogram_to_image(voice_spectrogram, config, plan),
                        song_image=codec.audio_to_image(result.song, config), config=config, harmony=result.harmony,
                        accompaniment=result.accompaniment, sample_rate=result.sample_rate,
                        image_length=len(result.song))  # fmt: skip
        name = f"live-{secrets.token_hex(4)}"
        seconds = len(result.song) / result.sample_rate
        harmony = result.harmony
        status = f"Done: a {seconds:.1f} s live take in {harmony.key_name} at {harmony.tempo_bpm:.0f} BPM."
        if result.truncated:
            status = f"⚠️ The take reached the {LIVE_MAX_SECONDS} s limit and was cut there. {status}"
        audio = [audio_output(samples, result.sample_rate, name) for samples in (result.voice, result.song,
                                                                                 result.accompaniment)]  # fmt: skip
        return (*audio, chord_chart_html(harmony), status, self.song_app.kept.add(kept))

    # inside ----------------------------------------------------------------------------------------------------

    @property
    def active(self) -> int:
        """Takes running now."""
        with self._lock:
            return len(self._takes)

    def _take(self, token) -> LiveTakeState | None:
        with self._lock:
            return self._takes.get(token) if isinstance(token, str) else None

    def _end(self, token) -> LiveTakeState | None:
        with self._lock:
            take = self._takes.pop(token, None) if isinstance(token, str) else None
        if take is not None:
            take.ended = True
            self.finished.append(take)
        return take

    def _free_idle(self) -> None:
        now = time.monotonic()
        with self._lock:
            idle = [token for token, take in self._takes.items() if now - take.last_chunk > LIVE_IDLE_SECONDS]
        for token in idle:
            logger.info("A live take went idle and was freed")
            self._end(token)


def read_chunk(path: Path) -> tuple[np.ndarray, int]:
    """A streamed chunk file (16-bit WAV from the browser) → (samples, rate), at most :data:`MAX_CHUNK_SECONDS`."""
    try:
        with soundfile.SoundFile(str(path)) as file:
            rate = file.samplerate
            samples = file.read(frames=int(MAX_CHUNK_SECONDS * rate), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, ValueError):
        raise AudioInputError("The microphone's audio could not be read (unsupported or corrupt chunk).") from None
    return samples.mean(axis=1), rate


def live_status(accompanist: LiveAccompanist) -> str:
    """The status line while singing: listening, or the key, tempo and bar the band plays."""
    seconds = int(accompanist.length / accompanist.rate)
    if not accompanist.joined:
        return f"🎤 Listening ({seconds} s): the band joins after {accompanist.settings.plan_seconds:g} s of singing."
    harmony = accompanist.harmony()
    chord = harmony.chords[-1].name if harmony.chords else "N.C."
    return f"🎶 The band plays: **{harmony.key_name}**, {harmony.tempo_bpm:.0f} BPM, now **{chord}** ({seconds} s)"
