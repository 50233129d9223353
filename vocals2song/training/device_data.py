"""The on-device feeder: the training audio in device memory, and the crops, augmentation, STFT and image encoding
inside the jitted JAX training step, so the accelerator never waits for the CPU.

:func:`build_device_corpus` reads every training pair once (voice and accompaniment at the model rate, as int16:
2 bytes a sample, lossless for 16-bit sources) into two flat buffers, each pair starting at a multiple of
``hop_length`` and followed by at least one hop of silence. It lists the crop starts worth drawing: every
hop-aligned start whose crop lies inside its pair and whose raw vocals are not silent (RMS at or above -45 dBFS,
as :class:`vocals2song.pairs.crops.CropDataset`), so a uniform draw over them weighs pairs by duration. An optional plan
plane per pair (the B channel: float (nb_bins, nb_frames) in [0, 1] at the pair's frame rate) is stored as uint8
in a third buffer at frame ``pair offset / hop``, so the crop starting at sample ``s`` reads plan frames from
``s / hop``: the plan stays aligned with the audio.

:class:`DeviceFeeder` makes batch ``step`` from ``(seed, step)`` alone (resumable), inside ``jax.jit``:

1. draw ``batch_size`` starts, slice ``(crop_frames − 1)·hop`` samples of each stem (``crop_frames`` STFT frames);
2. augment the training crops as :func:`vocals2song.pairs.crops.augment_pair` does, batched: voice/accompaniment balance
   (±6 dB), EQ tilt (±3 dB/octave around 1 kHz), white noise (15-40 dB SNR) and a small room (RT60 0.1-0.5 s), each
   with the same probability; the rare ±1 semitone pitch shift (a phase vocoder) is left out;
3. level-normalise each pair by the gain that brings the voice's peak to
   :data:`vocals2song.inference.VOICE_PEAK` (as :func:`vocals2song.inference.normalize_voice`);
4. STFT both (:mod:`vocals2song.codec.spectrogram_jax`), encode the voice as R, G (+ the plan as B) and the target in the
   model's phase representation, and map them to the network's [-1, 1].
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from vocals2song.codec import jax_stft as spectrogram_jax
from vocals2song.audio import SILENCE_PEAK
from vocals2song.config import ModelConfig
from vocals2song.pairs.crops import (BALANCE_DB, BALANCE_PROBABILITY, NOISE_PROBABILITY, NOISE_SNR_DB, REVERB_PROBABILITY,
                    REVERB_RT60_SECONDS, REVERB_WET, SILENT_VOICE_RMS, TILT_DB_PER_OCTAVE, TILT_PIVOT_HZ,
                    TILT_PROBABILITY, Pair, read_pair)  # fmt: skip
from vocals2song.errors import TrainingDataError
from vocals2song.codec.network import VOICE_PEAK

INT16_SCALE = 32768.0
PlanSource = Callable[[Pair, int], np.ndarray]  # (pair, nb_frames) → float (nb_bins, nb_frames) in [0, 1]


@dataclass
class DeviceCorpus:
    """The training audio in flat host arrays, ready for the device.

    Attributes:
        vocals, accompaniment: int16, shape (total_samples,), audio · 32768 at the model rate, pairs back to back.
        starts: int32, shape (nb_starts,): sample positions (multiples of hop_length) where a crop may start.
        plan: uint8, shape (nb_bins, total_samples // hop_length), the plan · 255, or None.
        nb_pairs: pairs held.
        skipped: pairs left out (shorter than one crop).
    """

    vocals: np.ndarray
    accompaniment: np.ndarray
    starts: np.ndarray
    plan: np.ndarray | None
    nb_pairs: int
    skipped: int = 0

    @property
    def nbytes(self) -> int:
        return sum(array.nbytes for array in (self.vocals, self.accompaniment, self.starts, self.plan)
                   if array is not None)  # fmt: skip


def corpus_from_arrays(
    stems: Sequence[tuple[np.ndarray, np.ndarray]],
    config: ModelConfig,
    crop_frames: int,
    plans: Sequence[np.ndarray] | None = None,
) -> DeviceCorpus:
    """Lay out pairs of audio for the device.

    Args:
        stems: per pair (vocals, accompaniment), float mono at the model rate in [-1, 1], the same length each.
        crop_frames: STFT frames per crop.
        plans: per pair the plan plane, float (nb_bins, ≥ 1 + nb_samples // hop_length) in [0, 1], or None.
    Raises:
        TrainingDataError: no pair is as long as one crop.
    """
    hop = config.spectrogram.hop_length
    crop_samples = (crop_frames - 1) * hop
    vocals_parts, accompaniment_parts, plan_parts, starts, silent_starts = [], [], [], [], []
    offset, kept, skipped = 0, 0, 0
    for index, (vocals, accompaniment) in enumerate(stems):
        length = min(len(vocals), len(accompaniment))
        if length < crop_samples:
            skipped += 1
            continue
        segment = (math.ceil(length / hop) + 1) * hop  # at least one hop of silence after each pair
        for parts, audio in ((vocals_parts, vocals), (accompaniment_parts, accompaniment)):
            padded = np.zeros(segment, dtype=np.int16)
            padded[:length] = np.clip(np.round(np.asarray(audio[:length], np.float64) * INT16_SCALE), -32768, 32767)
            parts.append(padded)
        if plans is not None:
            nb_frames = 1 + length // hop
            plane = np.asarray(plans[index], dtype=np.float32)
            if plane.shape[0] != config.spectrogram.nb_bins or plane.shape[1] < nb_frames:
                raise TrainingDataError(f"The plan of pair {index} has shape {plane.shape}; it needs "
                                        f"({config.spectrogram.nb_bins}, ≥ {nb_frames}).")  # fmt: skip
            block = np.zeros((config.spectrogram.nb_bins, segment // hop), dtype=np.uint8)
            block[:, :nb_frames] = np.round(np.clip(plane[:, :nb_frames], 0.0, 1.0) * 255)
            plan_parts.append(block)
        energy = np.concatenate([[0.0], np.cumsum(np.square(vocals[:length], dtype=np.float64))])
        candidates = np.arange(0, length - crop_samples + 1, hop)
        rms = np.sqrt((energy[candidates + crop_samples] - energy[candidates]) / crop_samples)
        starts.append(offset + candidates[rms >= SILENT_VOICE_RMS])
        silent_starts.append(offset + candidates)
        offset += segment
        kept += 1
    if not kept:
        raise TrainingDataError(f"No training pair is as long as one crop ({crop_frames} frames, "
                                f"{crop_samples / config.spectrogram.sample_rate:.2f} s).")  # fmt: skip
    starts_array = np.concatenate(starts)
    if not len(starts_array):  # every crop is silent: draw among all of them rather than none
        starts_array = np.concatenate(silent_starts)
    return DeviceCorpus(
        vocals=np.concatenate(vocals_parts),
        accompaniment=np.concatenate(accompaniment_parts),
        starts=starts_array.astype(np.int32),
        plan=np.concatenate(plan_parts, axis=1) if plans is not None else None,
        nb_pairs=kept,
        skipped=skipped,
    )


def build_device_corpus(pairs: Sequence[Pair], config: ModelConfig, crop_frames: int,
                        plan_for: PlanSource | None = None, progress: bool = True) -> DeviceCorpus:  # fmt: skip
    """Read every pair whole at the model rate (one pass over the files) and lay it out with
    :func:`corpus_from_arrays`; ``plan_for(pair, nb_frames)`` gives each pair's plan when the model reads one."""
    rate = config.spectrogram.sample_rate
    stems, plans = [], [] if plan_for is not None else None
    for index, pair in enumerate(pairs):
        length = int(pair.nb_samples * rate // pair.sample_rate)
        stems.append(read_pair(pair, 0, length, rate))
        if plans is not None:
            plans.append(plan_for(pair, 1 + length // config.spectrogram.hop_length))
        if progress and (index + 1) % 100 == 0:
            print(f"loaded {index + 1}/{len(pairs)} pairs", file=sys.stderr, flush=True)
    return corpus_from_arrays(stems, config, crop_frames, plans)


class DeviceFeeder:
    """Batches made on the device from a :class:`DeviceCorpus` (see the module docstring).

    Args:
        corpus: the host arrays (placed on the device here; replicated over a data-parallel mesh).
        config: the model (rate, STFT, target, phase representation, whether it reads the plan).
        batch_size, crop_frames: batch shape.
        augment: augment the crops (training) or not.
        seed: batch ``step`` depends on (seed, step) only.
        sharding: where a batch should live (a data-parallel layout), or None for the default device.
    """

    def __init__(self, corpus: DeviceCorpus, config: ModelConfig, batch_size: int, crop_frames: int,
                 augment: bool = True, seed: int = 0, sharding=None):  # fmt: skip
        import jax

        if config.uses_plan and corpus.plan is None:
            raise TrainingDataError("This generator reads the plan (B channel) but the training corpus has none.")
        self.config, self.batch_size, self.crop_frames = config, batch_size, crop_frames
        self.augment, self.seed, self.sharding = augment, seed, sharding
        self.epoch_length = None
        replicated = None
        if sharding is not None:
            replicated = jax.sharding.NamedSharding(sharding.mesh, jax.sharding.PartitionSpec())
        arrays = {"vocals": corpus.vocals, "accompaniment": corpus.accompaniment, "starts": corpus.starts}
        if config.uses_plan:
            arrays["plan"] = corpus.plan
        self.arrays = {name: jax.device_put(array, replicated) for name, array in arrays.items()}
        self._batch = jax.jit(self.make_batch)

    def position(self, step: int) -> tuple[int, int]:
        """(epoch, batch index) of ``step``: batches are drawn afresh every step, so always epoch 0."""
        return 0, step

    def draw_starts(self, arrays: dict, step):
        """Traceable: (the batch's crop starts, int32 (batch_size,) sample positions in the flat buffers, the key
        of its augmentation)."""
        import jax

        choose, augment_key = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(self.seed), step))
        index = jax.random.randint(choose, (self.batch_size,), 0, arrays["starts"].shape[0])
        return arrays["starts"][index], augment_key

    def make_batch(self, arrays: dict, step):
        """Traceable: batch ``step`` as (voice, target) network tensors, float32 (batch, nb_bins, crop_frames,
        input_channels) and (…, output_channels) in [-1, 1]."""
        import jax
        import jax.numpy as jnp

        config, audio = self.config, self.config.spectrogram
        hop, nb_bins = audio.hop_length, self.config.generator.nb_bins
        crop_samples = (self.crop_frames - 1) * hop
        starts, augment_key = self.draw_starts(arrays, step)

        def crops(buffer):
            slices = jax.vmap(lambda start: jax.lax.dynamic_slice(buffer, (start,), (crop_samples,)))(starts)
            return slices.astype(jnp.float32) / INT16_SCALE

        vocals, accompaniment = crops(arrays["vocals"]), crops(arrays["accompaniment"])
        voice = vocals
        if self.augment:
            voice, vocals = augment_batch(vocals, audio.sample_rate, augment_key)
        target = vocals + accompaniment if config.target == "mixture" else accompaniment
        peak = jnp.max(jnp.abs(voice), axis=-1, keepdims=True)
        gain = jnp.where(peak >= SILENCE_PEAK, VOICE_PEAK / jnp.maximum(peak, SILENCE_PEAK), 1.0)
        voice_spectrogram = spectrogram_jax.stft(voice * gain, audio)
        channels = [spectrogram_jax.magnitude_to_r(jnp.abs(voice_spectrogram), audio),
                    spectrogram_jax.phase_to_g(jnp.angle(voice_spectrogram))]  # fmt: skip
        if config.uses_plan:
            frames = starts // hop
            plan = jax.vmap(lambda frame: jax.lax.dynamic_slice(arrays["plan"], (0, frame),
                                                                (audio.nb_bins, self.crop_frames)))(frames)
            channels.append(plan.astype(jnp.float32) / 255.0)
        voice_image = jnp.stack(channels, axis=-1)
        target_image = spectrogram_jax.spectrogram_to_target(spectrogram_jax.stft(target * gain, audio), audio,
                                                             config.phase_representation)  # fmt: skip
        voice_tensor = spectrogram_jax.to_network(voice_image, nb_bins)
        target_tensor = spectrogram_jax.to_network(target_image, nb_bins)
        if self.sharding is not None:
            voice_tensor = jax.lax.with_sharding_constraint(voice_tensor, self.sharding)
            target_tensor = jax.lax.with_sharding_constraint(target_tensor, self.sharding)
        return voice_tensor, target_tensor

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch ``step`` as NumPy arrays (for samples, tests and benchmarks)."""
        voice, target = self._batch(self.arrays, step)
        return np.asarray(voice), np.asarray(target)

    def compile_step(self, train_step):
        """``jax.jit`` of (state, arrays, step) → (logs, state): make batch ``step`` here, then ``train_step`` on it."""
        import jax

        def fused(state, arrays, step):
            return train_step(state, self.make_batch(arrays, step))

        return jax.jit(fused, donate_argnums=0)


def augment_batch(vocals, sample_rate: int, key):
    """Batched load-time augmentation (see the module docstring): returns (voice input, vocals after balance).

    Args:
        vocals: float32, shape (batch, nb_samples).
    """
    import jax
    import jax.numpy as jnp

    batch, length = vocals.shape
    keys = jax.random.split(key, 11)

    def chosen(index, probability):
        return (jax.random.uniform(keys[index], (batch, 1)) < probability).astype(jnp.float32)

    def uniform(index, low, high):
        return jax.random.uniform(keys[index], (batch, 1), minval=low, maxval=high)

    def rms(audio):
        return jnp.sqrt(jnp.mean(jnp.square(audio), axis=-1, keepdims=True))

    balance = 10 ** (uniform(1, -BALANCE_DB, BALANCE_DB) / 20)
    vocals = vocals * (1 + chosen(0, BALANCE_PROBABILITY) * (balance - 1))
    voice = vocals
    # EQ tilt: gain = dB/octave · log2(f / 1 kHz), a zero-phase filter applied by one FFT of the crop.
    frequencies = np.fft.rfftfreq(length, 1.0 / sample_rate)
    octaves = np.log2(np.clip(frequencies, 50.0, None) / TILT_PIVOT_HZ).astype(np.float32)
    gains = 10 ** (uniform(3, -TILT_DB_PER_OCTAVE, TILT_DB_PER_OCTAVE) * octaves[None] / 20)
    tilted = jnp.fft.irfft(jnp.fft.rfft(voice, axis=-1) * gains, n=length, axis=-1)
    voice = voice + chosen(2, TILT_PROBABILITY) * (tilted - voice)
    snr_db = uniform(5, *NOISE_SNR_DB)
    noise = jax.random.normal(keys[6], voice.shape) * rms(voice) * 10 ** (-snr_db / 20)
    voice = voice + chosen(4, NOISE_PROBABILITY) * noise
    # A small room: dry + wet, the wet part the voice convolved with exponentially decaying noise (RMS kept).
    rt60 = uniform(8, *REVERB_RT60_SECONDS)
    times = np.arange(int(REVERB_RT60_SECONDS[1] * sample_rate), dtype=np.float32) / sample_rate
    response = jax.random.normal(keys[9], (batch, len(times))) * jnp.exp(-6.91 * times[None] / rt60)
    response = jnp.where(times[None] < rt60, response, 0.0)
    response = response / jnp.maximum(jnp.sqrt(jnp.sum(response**2, axis=-1, keepdims=True)), 1e-12)
    size = 1 << int(math.ceil(math.log2(length + len(times))))
    wet = jnp.fft.irfft(jnp.fft.rfft(voice, size, axis=-1) * jnp.fft.rfft(response, size, axis=-1), size,
                        axis=-1)[:, :length]  # fmt: skip
    mix = uniform(10, *REVERB_WET)
    room = (1 - mix) * voice + mix * wet
    room = room * rms(voice) / jnp.maximum(rms(room), 1e-12)
    voice = voice + chosen(7, REVERB_PROBABILITY) * (room - voice)
    return voice, vocals
