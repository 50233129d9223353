"""The live plan's bar grid and its per-bar decisions: the grid fixed from the first bars, the melody of each bar,
the chord of a bar as it begins and a key that may change.

This is an adapter over the plan wing's public estimator (:func:`vocals2song.plan.estimate.estimate_harmony`,
:func:`~vocals2song.plan.estimate.viterbi_chords`, :func:`~vocals2song.plan.estimate.choose_key`): the offline
estimator decodes a whole voice at once; live, one chord per bar is decided when the bar begins and never changed
after (it has been played). Times are seconds from the take's start; pitch classes 0 = C … 11 = B.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vocals2song.plan.estimate import choose_key, viterbi_chords
from vocals2song.plan.harmony import ESTIMATED_QUALITIES, Chord, Harmony
from vocals2song.plan.midi import beats_per_bar


@dataclass(frozen=True)
class BarGrid:
    """A steady beat grid extended forward in time: bar ``n`` starts at ``anchor + n · bar_seconds``.

    Attributes:
        anchor: seconds of a downbeat (bar 0); earlier bars have negative numbers.
        beat_seconds: seconds per beat (60 / tempo).
        beats_per_bar: beats in a bar (4 or 3).
    """

    anchor: float
    beat_seconds: float
    beats_per_bar: int

    @classmethod
    def from_beats(cls, beats, downbeats, beats_per_bar: int, beat_seconds: float | None = None) -> "BarGrid":
        """The steady grid that fits tracked beats best (least squares: a tracker follows the sung onsets, so
        this period drifts less than the tempo estimate it tracked at), through the fit's last downbeat.

        Args:
            beats: beat times, seconds (at least 2); downbeats: the beats that start a bar (may be empty).
            beat_seconds: the period when it is given (the person's tempo): only the phase is fitted.
        """
        beats = np.asarray(beats, dtype=np.float64)
        if beat_seconds:
            period = float(beat_seconds)
            intercept = float(np.mean(beats - np.arange(len(beats)) * period))
        else:
            period, intercept = np.polyfit(np.arange(len(beats)), beats, 1)
        last = int(np.searchsorted(beats, downbeats[-1] - 1e-6)) if len(downbeats) else 0
        return cls(float(intercept + last * period), float(period), int(beats_per_bar))

    @classmethod
    def from_harmony(cls, harmony: Harmony, tempo_given: bool = False) -> "BarGrid":
        """The grid of a plan read from the take's first seconds: its beats fitted (at its own tempo when the
        person gave it), its last downbeat, its meter."""
        return cls.from_beats(harmony.beats, harmony.downbeats, beats_per_bar(harmony),
                              60.0 / harmony.tempo_bpm if tempo_given else None)  # fmt: skip

    @property
    def bar_seconds(self) -> float:
        return self.beat_seconds * self.beats_per_bar

    @property
    def tempo_bpm(self) -> float:
        return 60.0 / self.beat_seconds

    def bar_index(self, seconds: float) -> int:
        """The number of the bar sounding at ``seconds``."""
        return math.floor((seconds - self.anchor) / self.bar_seconds + 1e-9)

    def bar_start(self, index: int) -> float:
        return self.anchor + index * self.bar_seconds

    def first_bar(self) -> int:
        """The bar sounding at 0 s (it may have started before the take)."""
        return self.bar_index(0.0)

    def beats(self, end: float) -> tuple[float, ...]:
        """Beat times in [0, end), seconds."""
        first = math.ceil((0.0 - self.anchor) / self.beat_seconds - 1e-9)
        last = math.floor((end - self.anchor) / self.beat_seconds - 1e-9)
        return tuple(round(self.anchor + k * self.beat_seconds, 4) for k in range(first, last + 1))

    def downbeats(self, end: float) -> tuple[float, ...]:
        """Downbeat times in [0, end), seconds."""
        return tuple(round(self.bar_start(index), 4) for index in range(self.first_bar(), self.bar_index(end) + 1)
                     if 0.0 <= self.bar_start(index) < end)  # fmt: skip


def bar_observations(notes: list[tuple[float, float, float]], bounds: list[tuple[float, float]],
                     beat_seconds: float) -> np.ndarray:  # fmt: skip
    """Beats of singing per pitch class in each bar (the offline estimator's observation, from notes).

    Args:
        notes: (start s, end s, MIDI pitch) sung notes, as :func:`vocals2song.plan.listening.melody_notes` gives.
        bounds: (start s, end s) per bar.
        beat_seconds: seconds per beat.
    Returns:
        float64 (len(bounds), 12).
    """
    observations = np.zeros((len(bounds), 12))
    for index, (start, end) in enumerate(bounds):
        for note_start, note_end, pitch in notes:
            overlap = min(end, note_end) - max(start, note_start)
            if overlap > 0:
                observations[index, int(round(pitch)) % 12] += overlap / beat_seconds
    return observations


def decide_chords(observations: np.ndarray, tonic: int, happy: float, jazz: float) -> list[Chord]:
    """The chord of each bar (the Viterbi path of :func:`vocals2song.plan.estimate.viterbi_chords`, one segment a
    bar); the newest bar's observation is what has been sung of it yet (little or nothing), so there the
    progression prior from the bars before decides most.

    Args:
        observations: (nb_bars, 12) beats of singing per pitch class, the newest bar last.
        tonic, happy, jazz: as :func:`~vocals2song.plan.estimate.viterbi_chords`.
    Returns:
        one :class:`Chord` per bar, with start and end 0 (the caller times them).
    """
    path, _ = viterbi_chords(observations, tonic, happy, jazz)
    return [Chord(0.0, 0.0, index % 12, ESTIMATED_QUALITIES[index // 12]) for index in path]


def key_of(observations: np.ndarray, jazz: float) -> tuple[int, str]:
    """The key the bars' melody asks for (:func:`vocals2song.plan.estimate.choose_key`): (tonic, mode)."""
    return choose_key(observations, jazz)
