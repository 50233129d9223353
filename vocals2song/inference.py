"""Voice → song: the one public inference function, :func:`vocals_to_song`, used by the CLI and the app.

Pipeline: resample to the model's rate → peak-normalise → STFT → R/G voice image → the plan read from the voice
(:func:`vocals2song.plan.estimate.estimate_harmony`: key, tempo, beats, chords) drawn into B
(:func:`vocals2song.plan.channel.render_plan`), with the accompaniment's style for a generator trained on styles
(:func:`generator_style`) → generator on overlapping tiles of ``tile_frames`` frames (batched, dropout
seeded; it sees B only when its config says so, ``ModelConfig.uses_plan``) → cross-fade the tiles → decode the
generator's target image in its phase representation (raw phase, instantaneous frequency, or magnitude only with the
phase rebuilt by PGHI), optionally refined by fast Griffin-Lim → assemble song and accompaniment per output mode →
at the voice's own rate when it is above the model's (:func:`output_rate`), the accompaniment resampled up to it and
added to the voice as given → check and peak-limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from vocals2song.codec import spectrogram as codec
from vocals2song.codec.network import (
    image_to_network,
    network_to_image,
    normalize_voice,
    tile_starts,
    tile_weights,
)
from vocals2song.audio import MIN_SECONDS, resample
from vocals2song.config import ModelConfig
from vocals2song.errors import AudioInputError, PlanError, ProcessingError
from vocals2song.plan.controls import PlanControls
from vocals2song.plan.estimate import estimate_harmony, resolve_controls
from vocals2song.plan.harmony import Harmony
from vocals2song.plan.listening import ANALYSIS
from vocals2song.model.networks import seed_dropout
from vocals2song.plan.channel import render_plan
from vocals2song.plan.style import DEFAULT_STYLE, check_style
from vocals2song.codec.phase import pghi
from vocals2song.model.weights import SongGenerator

MODES = ("mixture", "accompaniment")
PHASES = ("predicted", "griffinlim")
OUTPUT_PEAK = 0.99
MAX_OUTPUT_RATE = 48_000  # the song keeps the voice's own rate up to this (what a person hears), never below the model's
TILES_PER_CALL = 4
GRIFFIN_LIM_ITERATIONS = 16  # fast Griffin-Lim iterations of phase="griffinlim", started from PGHI's phase
Progress = Callable[[float, str], None]


@dataclass
class SongResult:
    """What :func:`vocals_to_song` returns. Audio is float32 mono at ``sample_rate``, all the same length.

    Attributes:
        song: the song, shape (nb_samples,).
        accompaniment: the song without the voice, shape (nb_samples,).
        voice: the input voice as used (level-normalised), shape (nb_samples,).
        sample_rate: Hz of the audio, :func:`output_rate`: the voice's own rate (from the model's rate up to
            48 kHz), so the voice keeps its quality; only the accompaniment is resampled up to it.
        voice_image: float32 image of the voice at the model's rate, shape (nb_bins, nb_frames, 3), row 0 = DC: R/G the voice, B the
            plan (0 where there is none).
        song_image: float32 R/G image of the predicted mixture (the generator's output, plus the voice for an
            accompaniment generator), same shape, raw phase in G whatever the generator's phase representation.
        image_length: samples at the model's rate that the images hold (what their files record to decode them).
        harmony: the plan the song was made with (key, tempo, beats, chords, the sung melody), or None.
        style: the accompaniment style drawn into B (one of the generator's ``config.styles``); None when the
            generator knows no style or there was no plan to draw it with.
    """

    song: np.ndarray
    accompaniment: np.ndarray
    voice: np.ndarray
    sample_rate: int
    voice_image: np.ndarray
    song_image: np.ndarray
    image_length: int
    harmony: Harmony | None = None
    style: str | None = None


def generator_style(config: ModelConfig, style: str | None = None) -> str | None:
    """The style a generator plays for a request: what :func:`vocals_to_song` draws into B.

    Args:
        config: the generator's config; ``config.styles`` are the styles it was trained to read.
        style: a name from :data:`vocals2song.plan.style.STYLES` (case ignored), or None for the generator's
            default: :data:`~vocals2song.plan.style.DEFAULT_STYLE` when it knows it, else its first style.
    Returns:
        the style's name; None for a generator without styles (asked for none).
    Raises:
        PlanError: an unknown style, a style this generator was not trained on, or any style for a generator
            that knows none.
    """
    if style is not None:
        style = check_style(style)
    if not config.styles:
        if style is not None:
            raise PlanError(f"This generator was trained without styles, so it cannot play {style!r}: leave the "
                            "style unset.")
        return None
    if style is None:
        return DEFAULT_STYLE if DEFAULT_STYLE in config.styles else config.styles[0]
    if style not in config.styles:
        raise PlanError(f"This generator plays only {', '.join(config.styles)}, not {style!r}.")
    return style


def output_rate(voice_rate: int, model_rate: int) -> int:
    """The song's sample rate for a voice at ``voice_rate``: the voice's own, within [``model_rate``,
    :data:`MAX_OUTPUT_RATE`] (a voice below the model's rate is heard at the model's rate, the accompaniment's)."""
    return int(min(max(voice_rate, model_rate), max(MAX_OUTPUT_RATE, model_rate)))


def predict_image(
    model: SongGenerator, voice_image: np.ndarray, seed: int = 0, progress: Progress | None = None
) -> np.ndarray:
    """Run the generator over a voice image of any length by overlapping, cross-faded tiles.

    R is averaged with linear cross-fade weights (:func:`~vocals2song.codec.network.tile_weights`, summing to 1); a phase channel (raw phase or instantaneous frequency, both
    wrapped) is taken from the tile with the larger weight, so it never averages out.

    Args:
        voice_image: (nb_bins + 1, nb_frames, 3) R/G/B image in [0, 1] (the generator reads its
            ``input_channels`` first channels: B, the plan, only when ``model.config.uses_plan``).
    Returns:
        the generator's target image in its phase representation, float32 (nb_bins + 1, nb_frames,
        output_channels) in [0, 1], Nyquist silent (decode with :func:`vocals2song.codec.spectrogram.target_to_spectrogram`).
    """
    config = model.config
    nb_bins = config.generator.nb_bins
    nb_frames = voice_image.shape[1]
    multiple = config.generator.frame_multiple
    if nb_frames <= config.tile_frames:
        tile_frames, overlap_frames = int(np.ceil(nb_frames / multiple)) * multiple, 0
    else:
        tile_frames, overlap_frames = config.tile_frames, config.overlap_frames
    starts = tile_starts(nb_frames, tile_frames, overlap_frames)
    padded_frames = starts[-1] + tile_frames
    input_channels = config.generator.input_channels
    # The generator answers a voice that stops dead inside its tile with a burst at that edge (up to +15 dB in the
    # last frames): a long input's last tile ends at its end (no padding), and a short one continues as its
    # mirror image up to a whole tile (cut off again after).
    network_input = np.pad(image_to_network(voice_image, nb_bins, input_channels),
                           ((0, 0), (0, padded_frames - nb_frames), (0, 0)), mode="symmetric")
    tiles = np.stack([network_input[:, start : start + tile_frames] for start in starts])

    outputs = []
    with model.lock:  # the seeded dropout state is the model's, not this call's
        seed_dropout(model.network, seed)
        for first in range(0, len(tiles), TILES_PER_CALL):
            batch = tiles[first : first + TILES_PER_CALL]
            outputs.append(np.asarray(model.network(batch, training=False), dtype=np.float32))
            if progress:
                progress(min(1.0, (first + len(batch)) / len(tiles)), "generating")
    outputs = np.concatenate(outputs)

    channels = outputs.shape[-1]
    magnitude = np.zeros((nb_bins, padded_frames), dtype=np.float32)
    phase = np.zeros((nb_bins, padded_frames), dtype=np.float32)
    best_weight = np.full(padded_frames, -1.0, dtype=np.float32)
    for start, output, weights in zip(starts, outputs, tile_weights(starts, tile_frames, overlap_frames)):
        window = slice(start, start + tile_frames)
        magnitude[:, window] += output[..., 0] * weights
        if channels > 1:
            better = weights > best_weight[window]
            phase[:, window] = np.where(better, output[..., 1], phase[:, window])
            best_weight[window] = np.maximum(best_weight[window], weights)
    blended = [magnitude] + ([phase] if channels > 1 else [])
    return network_to_image(np.stack(blended, axis=-1)[:, :nb_frames])


def vocals_to_song(
    voice: np.ndarray,
    sample_rate: int,
    model: SongGenerator,
    *,
    mode: str = "mixture",
    phase: str = "predicted",
    seed: int = 0,
    harmony: Harmony | str | None = "auto",
    controls: PlanControls | None = None,
    style: str | None = None,
    progress: Progress | None = None,
    **control_fields,
) -> SongResult:
    """Turn a voice into a song.

    Args:
        voice: float mono audio, shape (nb_samples,), in [-1, 1], at ``sample_rate`` Hz; at least 0.5 s.
        sample_rate: Hz of ``voice`` (resampled to the model's rate).
        model: from :func:`vocals2song.model.weights.load_generator`.
        mode: ``"mixture"`` — the song is the generator's mixture, voice included (the original project);
            ``"accompaniment"`` — the song is your exact voice plus the generated accompaniment (from an
            accompaniment generator directly, or from a mixture generator by removing the voice's magnitude).
        phase: ``"predicted"`` decodes the generator's phase channel (raw phase, or instantaneous frequency summed
            along time), or rebuilds the phase by PGHI for a magnitude-only generator; ``"griffinlim"`` rebuilds
            it from the predicted magnitude alone: PGHI, then fast Griffin-Lim iterations.
        seed: the dropout variation; the same seed gives bit-identical output.
        harmony: the plan: ``"auto"`` reads it from the voice (:func:`vocals2song.plan.estimate.estimate_harmony`
            with ``controls``); a :class:`~vocals2song.plan.harmony.Harmony` (times in seconds
            from the voice's start) is used as given; None draws no plan (B = 0, the original's input). A generator
            trained without the plan never sees B, but the result still carries the plan.
        controls: the person's plan controls for ``"auto"`` (:class:`~vocals2song.plan.controls.PlanControls`);
            as a shorthand its fields may be given as keywords instead: ``key="A minor"``, ``tempo`` (beats per
            minute), ``happy`` (major 1 ↔ minor 0), ``jazz`` (fit 1 ↔ prior 0), ``chord_rhythm``.
        style: the accompaniment's style, one of the generator's ``config.styles`` (drawn into B with the plan);
            None plays its default (:func:`generator_style`). A generator without styles takes only None and sees
            the B it always did.
        progress: optional callback ``(fraction in [0, 1], stage)``.
    Returns:
        SongResult at :func:`output_rate` (the voice's own rate from the model's up to 48 kHz): the voice as given
        (level-normalised), the accompaniment generated at the model's rate and resampled to it, the song their
        sum; output length = ceil(input length · output rate / input rate).
    Raises:
        AudioInputError: non-finite, too short or silent voice. PlanError: a bad plan control or style.
        ProcessingError: unusable model output.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
    if not (harmony is None or harmony == "auto" or isinstance(harmony, Harmony)):
        raise PlanError(f"harmony must be 'auto', None or a Harmony, not {harmony!r}.")
    controls = resolve_controls(controls, control_fields)  # a bad control fails before any work
    style = generator_style(model.config, style)  # and so does a style the generator does not play
    voice = np.asarray(voice, dtype=np.float32)
    if voice.ndim != 1:
        raise AudioInputError("The voice must be mono audio (one channel).")
    if not np.all(np.isfinite(voice)):
        raise AudioInputError("The file contains invalid samples (NaN or infinity).")
    if len(voice) < MIN_SECONDS * sample_rate:
        raise AudioInputError(
            f"The recording is {len(voice) / sample_rate:.2f} s long; at least {MIN_SECONDS:g} s of voice is needed."
        )
    spectrogram_config = model.config.spectrogram
    rate = spectrogram_config.sample_rate
    source, source_rate = voice, sample_rate
    voice, gain = normalize_voice(resample(voice, sample_rate, rate))
    length = len(voice)
    report = progress or (lambda fraction, stage: None)

    report(0.0, "encoding")
    voice_spectrogram = codec.stft(voice, spectrogram_config)
    if isinstance(harmony, str):
        report(0.05, "reading the plan")
        same_analysis = spectrogram_config.sample_rate == ANALYSIS.sample_rate and (
            spectrogram_config.n_fft, spectrogram_config.hop_length) == (ANALYSIS.n_fft, ANALYSIS.hop_length)
        harmony = estimate_harmony(voice, rate, magnitude=np.abs(voice_spectrogram) if same_analysis else None,
                                   controls=controls)
    plan = None if harmony is None else render_plan(harmony, spectrogram_config, voice_spectrogram.shape[1], style=style)
    voice_image = codec.spectrogram_to_image(voice_spectrogram, spectrogram_config, plan)
    target_image = predict_image(model, voice_image, seed, lambda f, s: report(0.1 + 0.7 * f, s))

    report(0.8, "decoding")
    representation = model.config.phase_representation
    predicted = codec.target_to_spectrogram(target_image, spectrogram_config, representation, seed=seed)
    if phase == "griffinlim":
        magnitude = np.abs(predicted)
        initial = np.angle(predicted) if representation == "none" else pghi(magnitude, spectrogram_config, seed=seed)
        refined = codec.fast_griffin_lim(magnitude, spectrogram_config, initial, length, GRIFFIN_LIM_ITERATIONS)
        predicted = codec.stft(refined, spectrogram_config)
    predicted_image = codec.spectrogram_to_image(predicted, spectrogram_config)
    if model.config.target == "accompaniment":
        accompaniment = codec.istft(predicted, spectrogram_config, length)
        song = voice + accompaniment
        predicted_image = codec.spectrogram_to_image(voice_spectrogram + predicted, spectrogram_config)
    elif mode == "mixture":
        song = codec.istft(predicted, spectrogram_config, length)
        accompaniment = song - voice
    else:
        # A mixture generator: keep what the voice does not explain (magnitude subtraction, predicted phase).
        residual = np.maximum(np.abs(predicted) - np.abs(voice_spectrogram), 0.0)
        accompaniment = codec.istft(residual * np.exp(1j * np.angle(predicted)), spectrogram_config, length)
        song = voice + accompaniment
    _check(song, accompaniment)
    heard_rate = output_rate(source_rate, rate)
    if heard_rate != rate:  # the voice at its own rate; only the accompaniment is resampled up to it
        voice = (resample(source, source_rate, heard_rate) * gain).astype(np.float32)
        accompaniment = _fit_length(resample(accompaniment, rate, heard_rate), len(voice))
        song = voice + accompaniment
    song, accompaniment, voice = _limit(song, accompaniment, voice)
    report(1.0, "done")
    return SongResult(
        song=song,
        accompaniment=accompaniment,
        voice=voice,
        sample_rate=heard_rate,
        voice_image=voice_image,
        song_image=predicted_image,
        image_length=length,
        harmony=harmony,
        style=style if harmony is not None else None,
    )


def _fit_length(samples: np.ndarray, length: int) -> np.ndarray:
    """``samples`` cut or zero-padded to ``length`` (resampled lengths may differ by a sample)."""
    return np.pad(samples[:length], (0, max(0, length - len(samples))))


def _check(song: np.ndarray, accompaniment: np.ndarray) -> None:
    """Raise ProcessingError unless the model's output is finite and the song audible."""
    if not (np.all(np.isfinite(song)) and np.all(np.isfinite(accompaniment))):
        raise ProcessingError("Processing failed: the model produced invalid samples.")
    if float(np.max(np.abs(song))) < 1e-4:
        raise ProcessingError("Processing failed: the model produced silence for this voice.")


def _limit(song: np.ndarray, accompaniment: np.ndarray, voice: np.ndarray) -> tuple[np.ndarray, ...]:
    """Scale all three together so no peak exceeds ``OUTPUT_PEAK``."""
    peak = float(max(np.max(np.abs(song)), np.max(np.abs(accompaniment)), np.max(np.abs(voice))))
    gain = min(1.0, OUTPUT_PEAK / peak)
    return tuple((signal * gain).astype(np.float32) for signal in (song, accompaniment, voice))
