"""The on-device feeder: the JAX STFT against librosa's, the corpus layout, batches against the NumPy codec, the
plan's alignment with the audio, augmentation and reproducibility. JAX runs on the CPU, in this process."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import synthetic_voice
from vocals2song.codec import spectrogram as codec
from vocals2song.config import GeneratorConfig, SpectrogramConfig, tiny_config
from vocals2song.errors import TrainingDataError
from vocals2song.codec.network import image_to_network

jax = pytest.importorskip("jax")
from vocals2song.codec import jax_stft as spectrogram_jax  # noqa: E402
from vocals2song.training.device_data import DeviceFeeder, corpus_from_arrays  # noqa: E402

CROP_FRAMES = 64
HOP = 256


def model_config(representation: str, input_channels: int = 2):
    """A tiny accompaniment generator's config for a phase representation (and the plan when 3 input channels)."""
    generator = GeneratorConfig(width=4, depth=4, input_channels=input_channels,
                                output_channels=1 if representation == "none" else 2)  # fmt: skip
    return tiny_config(generator=generator, phase_representation=representation, target="accompaniment")


def pairs(count: int = 3, seconds: float = 2.0):
    """(vocals, accompaniment) pairs of different lengths, each at the model rate."""
    return [(synthetic_voice(seconds + 0.5 * index, f0=180 + 40 * index, seed=index),
             0.2 * synthetic_voice(seconds + 0.5 * index, f0=110, seed=10 + index)) for index in range(count)]  # fmt: skip


@pytest.mark.parametrize("n_fft,hop_length", [(1024, 256), (1024, 300), (512, 128)])
def test_jax_stft_matches_the_codec(n_fft, hop_length):
    config = SpectrogramConfig(n_fft=n_fft, hop_length=hop_length)
    audio = np.stack([synthetic_voice(0.7, seed=1), 0.1 * synthetic_voice(0.7, f0=330, seed=2)])
    expected = np.stack([codec.stft(item, config) for item in audio])
    computed = np.asarray(spectrogram_jax.stft(audio, config))
    assert computed.shape == expected.shape
    assert np.max(np.abs(computed - expected)) < 1e-4 * np.max(np.abs(expected))


def test_corpus_layout_keeps_crops_inside_pairs_and_skips_silence():
    config = tiny_config()
    stems = pairs(2)
    silent = np.zeros(22050 * 3, np.float32)
    stems.append((silent, silent))  # no audible crop: none of its starts is kept
    stems.append((synthetic_voice(0.5), synthetic_voice(0.5)))  # shorter than a crop: left out
    corpus = corpus_from_arrays(stems, config, CROP_FRAMES)
    assert corpus.nb_pairs == 3 and corpus.skipped == 1
    assert corpus.vocals.dtype == np.int16 and np.all(corpus.starts % HOP == 0)
    crop_samples = (CROP_FRAMES - 1) * HOP
    bounds, offset = [], 0
    for vocals, _ in stems[:3]:
        bounds.append((offset, offset + len(vocals)))
        offset += (int(np.ceil(len(vocals) / HOP)) + 1) * HOP
    assert len(corpus.vocals) == offset
    owners = [next(index for index, (low, high) in enumerate(bounds) if low <= start < high) for start in corpus.starts]
    assert set(owners) == {0, 1}  # the silent pair gives no start
    for start, owner in zip(corpus.starts, owners):
        assert start + crop_samples <= bounds[owner][1]
    restored = corpus.vocals[bounds[1][0] : bounds[1][1]] / 32768.0
    assert np.max(np.abs(restored - stems[1][0])) <= 0.5 / 32768 + 1e-9  # 16-bit storage


def test_a_corpus_of_only_short_pairs_is_refused():
    with pytest.raises(TrainingDataError, match="as long as one crop"):
        corpus_from_arrays([(synthetic_voice(0.5), synthetic_voice(0.5))], tiny_config(), CROP_FRAMES)


@pytest.mark.parametrize("representation", ["raw", "if", "none"])
def test_unaugmented_batch_is_the_codec_encoding_of_its_crops(representation):
    config = model_config(representation)
    corpus = corpus_from_arrays(pairs(), config, CROP_FRAMES)
    feeder = DeviceFeeder(corpus, config, batch_size=3, crop_frames=CROP_FRAMES, augment=False, seed=5)
    voice, target = feeder.batch(7)
    channels = config.generator.output_channels
    assert voice.shape == (3, 512, CROP_FRAMES, 2) and target.shape == (3, 512, CROP_FRAMES, channels)
    starts, _ = feeder.draw_starts(feeder.arrays, 7)
    crop_samples = (CROP_FRAMES - 1) * HOP
    for item, start in enumerate(np.asarray(starts)):
        vocals = corpus.vocals[start : start + crop_samples] / np.float32(32768)
        accompaniment = corpus.accompaniment[start : start + crop_samples] / np.float32(32768)
        gain = np.float32(0.5 / np.max(np.abs(vocals)))
        expected_voice = image_to_network(codec.audio_to_image(vocals * gain, config.spectrogram), 512)
        expected_target = image_to_network(codec.spectrogram_to_target(
            codec.stft(accompaniment * gain, config.spectrogram), config.spectrogram, representation), 512, channels)
        audible = expected_voice[..., 0] > -0.4  # R above -36 dB: float32 rounding is far below these levels
        assert np.max(np.abs(voice[item, ..., 0] - expected_voice[..., 0])[audible]) < 1e-3
        assert np.max(np.abs(target[item, ..., 0] - expected_target[..., 0])) < 2e-3
        if channels == 2:
            loud = expected_target[..., 0] > -0.4
            difference = np.abs(target[item, ..., 1] - expected_target[..., 1])[loud]
            assert np.max(np.minimum(difference, 2 - difference)) < 1e-3  # G wraps: compare on the circle


def test_the_plan_is_cropped_with_the_audio():
    """Each pair's plan plane holds its own frame numbers; the B channel of a crop must read the frames the crop's
    audio covers, pair by pair."""
    config = model_config("raw", input_channels=3)
    stems = pairs()
    plans = []
    for index, (vocals, _) in enumerate(stems):
        frames = 1 + len(vocals) // HOP
        code = (np.arange(frames) + 40 * index) % 250  # frame number (and pair) in the plane, 0..249
        plans.append(np.broadcast_to(code / 255.0, (513, frames)).astype(np.float32))
    corpus = corpus_from_arrays(stems, config, CROP_FRAMES, plans)
    assert corpus.plan.dtype == np.uint8 and corpus.plan.shape == (513, len(corpus.vocals) // HOP)
    feeder = DeviceFeeder(corpus, config, batch_size=4, crop_frames=CROP_FRAMES, augment=True, seed=2)
    offsets = np.cumsum([0] + [(int(np.ceil(len(v) / HOP)) + 1) * HOP for v, _ in stems])
    for step in range(3):
        voice, _ = feeder.batch(step)
        assert voice.shape[-1] == 3
        starts, _ = feeder.draw_starts(feeder.arrays, step)
        for item, start in enumerate(np.asarray(starts)):
            pair = int(np.searchsorted(offsets, start, side="right")) - 1
            first = (start - offsets[pair]) // HOP
            expected = (np.arange(first, first + CROP_FRAMES) + 40 * pair) % 250
            read = np.round((voice[item, 100, :, 2] + 1) / 2 * 255)
            np.testing.assert_array_equal(read, expected)


def test_a_plan_generator_needs_plans():
    config = model_config("raw", input_channels=3)
    with pytest.raises(TrainingDataError, match="plan"):
        DeviceFeeder(corpus_from_arrays(pairs(1), config, CROP_FRAMES), config, 2, CROP_FRAMES)


def test_batches_depend_on_seed_and_step_only_and_augmentation_changes_the_voice():
    config = tiny_config(target="accompaniment")
    corpus = corpus_from_arrays(pairs(), config, CROP_FRAMES)
    first = DeviceFeeder(corpus, config, batch_size=4, crop_frames=CROP_FRAMES, augment=True, seed=1)
    again = DeviceFeeder(corpus, config, batch_size=4, crop_frames=CROP_FRAMES, augment=True, seed=1)
    plain = DeviceFeeder(corpus, config, batch_size=4, crop_frames=CROP_FRAMES, augment=False, seed=1)
    for step in (0, 11):
        np.testing.assert_array_equal(first.batch(step)[0], again.batch(step)[0])
    assert not np.array_equal(first.batch(0)[0], first.batch(1)[0])
    augmented, clean = first.batch(3)[0], plain.batch(3)[0]
    assert np.all(np.isfinite(augmented)) and np.abs(augmented).max() <= 1.0
    differences = [np.abs(augmented[item] - clean[item]).max() for item in range(4)]
    assert max(differences) > 0.05  # same crops, some of them augmented
