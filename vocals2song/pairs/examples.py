"""Whole pairs for evaluation: :func:`iterate_examples`, level-normalised like training crops, with each pair's
true plan re-timed from the example's first sample."""

from __future__ import annotations

import math
import os
from typing import Iterable, Iterator, NamedTuple

import numpy as np
import soundfile

from vocals2song.audio import MIN_SECONDS, SILENCE_PEAK
from vocals2song.codec.network import normalize_voice
from vocals2song.config import ModelConfig
from vocals2song.pairs.crops import SILENT_VOICE_RMS, _rms
from vocals2song.pairs.index import Pair, PairIndex, read_pair
from vocals2song.plan.harmony import Harmony

ONSET_BLOCK_SECONDS = 1.0  # leading silence is skipped in blocks of this length


class Example(NamedTuple):
    """One evaluation example: float32 mono audio at the model rate, all the same length, level-normalised
    (the voice peaks at :data:`vocals2song.codec.network.VOICE_PEAK`; the other two carry the same gain), and the
    piece it comes from (:attr:`Pair.piece_name`)."""

    name: str
    voice: np.ndarray
    mixture: np.ndarray
    accompaniment: np.ndarray
    piece: str
    harmony: "Harmony | None" = None  # the pair's true plan (format 2 corpus), timed from the example's start
    style: str | None = None  # the style its accompaniment is played in (a styled corpus), else None


def _voice_onset(pair: Pair) -> int:
    """First sample of the first ``ONSET_BLOCK_SECONDS`` block whose vocals are not silent (reads up to there)."""
    block = max(1, int(ONSET_BLOCK_SECONDS * pair.sample_rate))
    blocks = soundfile.blocks(str(pair.vocals), blocksize=block, dtype="float32", always_2d=True)
    for index, samples in enumerate(blocks):
        if index * block >= pair.nb_samples:
            break
        if _rms(samples.mean(axis=1)) >= SILENT_VOICE_RMS:
            return index * block
    return 0


def iterate_examples(
    sources: str | os.PathLike | Iterable[str | os.PathLike],
    config: ModelConfig,
    *,
    split: str = "validation",
    seconds: float | None = None,
    skip_leading_silence: bool = True,
) -> Iterator[Example]:
    """Whole pairs (or their first ``seconds``) for evaluation, in index order.

    Args:
        seconds: cap per example; None reads the whole pair.
        skip_leading_silence: start at the first second of audible vocals (MUSDB songs often open with an
            instrumental intro); only the blocks up to it are read.
    Yields:
        :class:`Example` ``(name, voice, mixture, accompaniment, piece, harmony, style)`` (harmony: the pair's
        true plan when its corpus records one, re-timed from the example's first sample, else None; style: the
        pair's, in a styled corpus); pairs with a silent or shorter than 0.5 s voice are skipped.
    """
    rate = config.spectrogram.sample_rate
    for pair in PairIndex.build(sources).select(split):
        start = _voice_onset(pair) if skip_leading_silence else 0
        available = pair.nb_samples - start
        source_frames = available if seconds is None else min(available, int(round(seconds * pair.sample_rate)))
        frames = math.ceil(source_frames * rate / pair.sample_rate)
        if frames < MIN_SECONDS * rate:
            continue
        vocals, accompaniment = read_pair(pair, start, frames, rate)
        if float(np.max(np.abs(vocals))) < SILENCE_PEAK:
            continue
        gain = np.float32(normalize_voice(vocals)[1])
        vocals, accompaniment = vocals * gain, accompaniment * gain
        harmony = None
        if pair.harmony is not None:
            harmony = pair.harmony.window(start / pair.sample_rate, (start + source_frames) / pair.sample_rate)
        yield Example(pair.name, vocals, vocals + accompaniment, accompaniment, pair.piece_name, harmony, pair.style)
