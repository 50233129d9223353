"""Network builders: shapes at tiny widths, any frame count that fits the strides, seeded dropout."""

import numpy as np
import pytest

from vocals2song.config import GeneratorConfig
from vocals2song.model.networks import build_discriminator, build_generator, encoder_filters, seed_dropout

TINY = GeneratorConfig(width=4, depth=4)


@pytest.mark.parametrize("frames", [16, 48, 128])
def test_generator_is_fully_convolutional(frames):
    generator = build_generator(TINY)
    voice = np.random.default_rng(0).uniform(-1, 1, (2, 512, frames, 2)).astype("float32")
    song = np.asarray(generator(voice, training=False))
    assert song.shape == (2, 512, frames, 2)
    assert np.all(np.abs(song) <= 1.0)


def test_discriminator_is_a_patch_classifier():
    discriminator = build_discriminator(TINY)
    image = np.zeros((1, 512, 64, 2), dtype="float32")
    assert np.asarray(discriminator([image, image])).shape == (1, 62, 6, 1)


def test_encoder_filters_follow_pix2pix():
    assert encoder_filters(GeneratorConfig(width=64, depth=8)) == [64, 128, 256, 512, 512, 512, 512, 512]
    assert encoder_filters(GeneratorConfig(width=16, depth=8)) == [16, 32, 64, 128, 128, 128, 128, 128]


@pytest.mark.parametrize("width", [64, 16])
def test_original_and_slim_widths_build(width):
    generator = build_generator(GeneratorConfig(width=width, depth=8))
    assert generator.output_shape == (None, 512, None, 2)
    # parameters scale with width squared: the original's 64 is ~16x the slim 16
    expected = {64: 54_000_000, 16: 3_400_000}[width]
    assert generator.count_params() == pytest.approx(expected, rel=0.05)


def test_seeded_dropout_is_reproducible_and_varies():
    generator = build_generator(TINY)
    voice = np.random.default_rng(1).uniform(-1, 1, (1, 512, 32, 2)).astype("float32")
    outputs = {}
    for seed in (3, 3, 4):
        seed_dropout(generator, seed)
        outputs.setdefault(seed, []).append(np.asarray(generator(voice, training=False)))
    assert np.array_equal(outputs[3][0], outputs[3][1])
    assert not np.array_equal(outputs[3][0], outputs[4][0])


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="multiple"):
        GeneratorConfig(nb_bins=500, depth=8)


def test_plan_input_and_magnitude_only_output():
    config = GeneratorConfig(width=4, depth=4, input_channels=3, output_channels=1)
    voice = np.zeros((1, 512, 32, 3), dtype="float32")
    song = np.asarray(build_generator(config)(voice, training=False))
    assert song.shape == (1, 512, 32, 1)
    assert np.asarray(build_discriminator(config)([voice, song])).shape == (1, 62, 2, 1)


def test_channel_counts_are_checked():
    with pytest.raises(ValueError, match="input_channels"):
        GeneratorConfig(input_channels=4)
    with pytest.raises(ValueError, match="output_channels"):
        GeneratorConfig(output_channels=3)
