"""The B channel of training crops: the pair's true plan, or the plan the estimator reads from its voice.

Used for generators that read the plan (``ModelConfig.uses_plan``): per crop by :class:`vocals2song.pairs.crops.CropDataset`
(:func:`plan_channel`), per pair by the device feeder (:func:`pair_plan`, drawn once and cropped with the audio).
For a generator that reads the style (``ModelConfig.styles``), B also carries the pair's style (:attr:`Pair.style`,
drawn by :func:`vocals2song.plan.channel.render_plan` with any plan, true or estimated; :func:`check_pair_styles`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import soundfile

from vocals2song.audio import SILENCE_PEAK
from vocals2song.config import ModelConfig
from vocals2song.errors import TrainingDataError
from vocals2song.pairs.index import name_hash
from vocals2song.plan.estimate import estimate_harmony
from vocals2song.plan.channel import render_plan

if TYPE_CHECKING:
    from collections.abc import Sequence

    from vocals2song.pairs.index import Pair

ESTIMATED_PLAN_SHARE = 0.25  # crops whose B comes from the estimator although the pair has its true harmony
PLAN_CONTEXT_SECONDS = 5.0  # voice read on each side of a crop for the estimator (tempo needs a few bars)


def check_pair_styles(pairs: Sequence[Pair], config: ModelConfig) -> None:
    """For a generator that reads the style, every pair must name one of ``config.styles``; TrainingDataError
    naming a few that do not. Nothing to check for a generator without styles (its B ignores the pairs' styles)."""
    if not config.styles:
        return
    wrong = [f"{pair.name} ({pair.style or 'no style'})" for pair in pairs if pair.style not in config.styles]
    if wrong:
        shown = ", ".join(wrong[:3]) + (f" and {len(wrong) - 3} more" if len(wrong) > 3 else "")
        raise TrainingDataError(f"This generator reads the styles {', '.join(config.styles)}, but {len(wrong)} of the "
                                f"{len(pairs)} pairs are played in none of them: {shown}.")


def _style(pair: Pair, config: ModelConfig) -> str | None:
    """The style B carries for this pair: its own for a generator that reads styles, else none."""
    return pair.style if config.styles else None


def plan_channel(pair: Pair, start: int, nb_frames: int, config: ModelConfig, rng: np.random.Generator,
                 estimated_share: float = ESTIMATED_PLAN_SHARE, semitones: int = 0) -> np.ndarray:
    """The B channel of a crop in network units: float32 (nb_bins, nb_frames) in [-1, 1] (-1 = no plan).

    The pair's true harmony, or with probability ``estimated_share`` (always, when the pair has none) the harmony
    :func:`vocals2song.plan.estimate.estimate_harmony` reads from the pair's vocals over the crop and
    :data:`PLAN_CONTEXT_SECONDS` either side, so the generator learns to follow the plan and to tolerate the
    estimator's mistakes. Drawn by :func:`vocals2song.plan.channel.render_plan` from the crop's start, with the
    pair's style when the generator reads styles (``config.styles``). A crop whose voice and context are silent has
    no plan (and no style): B = -1.

    Args:
        start: the crop's first sample at the pair's rate; frame n of the crop is at start + n·hop (model rate).
        semitones: transposition of the crop (a pitch-shift augmentation); the plan moves with it.
    """
    start_seconds = start / pair.sample_rate
    if pair.harmony is None or rng.random() < estimated_share:
        context_start = max(0, start - int(PLAN_CONTEXT_SECONDS * pair.sample_rate))
        crop_seconds = nb_frames * config.spectrogram.hop_length / config.spectrogram.sample_rate
        context_end = min(pair.nb_samples, start + int((crop_seconds + PLAN_CONTEXT_SECONDS) * pair.sample_rate))
        context, _ = soundfile.read(str(pair.vocals), start=context_start, frames=max(context_end - context_start, 1),
                                    dtype="float32", always_2d=True)
        context = context.mean(axis=1)
        if float(np.max(np.abs(context))) < SILENCE_PEAK:
            return np.full((config.generator.nb_bins, nb_frames), -1.0, np.float32)
        harmony = estimate_harmony(context, pair.sample_rate)
        offset = start_seconds - context_start / pair.sample_rate
    else:
        harmony, offset = pair.harmony, start_seconds
    if semitones:
        harmony = harmony.transposed(semitones)
    plane = render_plan(harmony.shifted(-offset), config.spectrogram, nb_frames,
                        style=_style(pair, config))[: config.generator.nb_bins]
    return plane * 2.0 - 1.0


def pair_plan(pair: Pair, nb_frames: int, config: ModelConfig, estimated_share: float = ESTIMATED_PLAN_SHARE,
              seed: int = 0) -> np.ndarray:
    """The B plane of a whole pair, float32 (nb_bins, nb_frames) in [0, 1], frame n at sample n·hop (model rate).

    The pair's true harmony, or for a share ``estimated_share`` of the pairs (chosen by a hash of the pair's name
    and ``seed``; always for a pair without one) the estimator's plan of its whole voice; with the pair's style when
    the generator reads styles, as :func:`plan_channel`.
    """
    draw = name_hash(f"{seed}:{pair.name}") / 2.0**64
    harmony = pair.harmony
    if harmony is None or draw < estimated_share:
        voice, _ = soundfile.read(str(pair.vocals), frames=pair.nb_samples, dtype="float32", always_2d=True)
        voice = voice.mean(axis=1)
        harmony = estimate_harmony(voice, pair.sample_rate) if float(np.max(np.abs(voice))) >= SILENCE_PEAK else None
    return render_plan(harmony, config.spectrogram, nb_frames, style=_style(pair, config))
