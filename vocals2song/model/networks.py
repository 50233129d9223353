"""The pix2pix networks as pure Keras 3 builders: a U-Net generator and a PatchGAN discriminator.

Both take numbers (a :class:`~vocals2song.config.GeneratorConfig`) and return ``keras.Model``; no file,
audio or path is touched here. Images are ``(nb_bins, nb_frames, channels)`` with values in [-1, 1]:
channel 0 = R (magnitude), channel 1 = G (phase), channel 2 of the input = B (the plan) when the config
asks for three input channels; the output has ``output_channels`` (R, or R and G). Both networks are fully convolutional along frames, so
any frame count that is a multiple of ``2**depth`` works.

Architecture after Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks"
(CVPR 2017), as in the TensorFlow pix2pix tutorial the original project used: 4x4 convolutions of stride 2,
batch norm, LeakyReLU(0.2) down and ReLU up, skip connections, dropout 0.5 in the first three decoder
blocks, and a 70x70 PatchGAN.
"""

from __future__ import annotations

import keras
from keras import layers

from vocals2song.config import GeneratorConfig

KERNEL_SIZE = 4
DROPOUT_BLOCKS = 3


@keras.saving.register_keras_serializable(package="vocals2song")
class VariationDropout(layers.Dropout):
    """Dropout that stays on at inference: pix2pix's only source of variation (seeded by :func:`seed_dropout`)."""

    def call(self, inputs, training=None):
        return super().call(inputs, training=True)


def _initializer() -> keras.initializers.Initializer:
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


def _down(x, filters: int, normalize: bool, name: str):
    x = layers.Conv2D(filters, KERNEL_SIZE, strides=2, padding="same", kernel_initializer=_initializer(),
                      use_bias=not normalize, name=f"{name}_conv")(x)  # fmt: skip
    if normalize:
        x = layers.BatchNormalization(name=f"{name}_norm")(x)
    return layers.LeakyReLU(0.2, name=f"{name}_act")(x)


def _up(x, filters: int, dropout: float, name: str):
    x = layers.Conv2DTranspose(filters, KERNEL_SIZE, strides=2, padding="same", kernel_initializer=_initializer(),
                               use_bias=False, name=f"{name}_conv")(x)  # fmt: skip
    x = layers.BatchNormalization(name=f"{name}_norm")(x)
    if dropout > 0:
        x = VariationDropout(dropout, name=f"{name}_dropout")(x)
    return layers.ReLU(name=f"{name}_act")(x)


def encoder_filters(config: GeneratorConfig) -> list[int]:
    """Filters of each encoder block, e.g. width 64, depth 8 → [64, 128, 256, 512, 512, 512, 512, 512]."""
    return [config.width * min(2**i, config.max_width_multiplier) for i in range(config.depth)]


def build_generator(config: GeneratorConfig, name: str = "generator") -> keras.Model:
    """pix2pix U-Net: voice image → mixture (or accompaniment) image.

    Input shape (batch, nb_bins, nb_frames, input_channels), output (batch, nb_bins, nb_frames,
    output_channels), values in [-1, 1]; nb_frames may be any multiple of ``config.frame_multiple``.
    """
    voice = keras.Input(shape=(config.nb_bins, None, config.input_channels), name="voice_image")
    filters = encoder_filters(config)
    x = voice
    skips = []
    for index, count in enumerate(filters):
        x = _down(x, count, normalize=index > 0, name=f"down{index}")
        skips.append(x)
    for index, (count, skip) in enumerate(zip(reversed(filters[:-1]), reversed(skips[:-1]))):
        dropout = config.dropout if index < DROPOUT_BLOCKS else 0.0
        x = _up(x, count, dropout, name=f"up{index}")
        x = layers.Concatenate(name=f"skip{index}")([x, skip])
    x = layers.Conv2DTranspose(config.output_channels, KERNEL_SIZE, strides=2, padding="same",
                               kernel_initializer=_initializer(), name="output_conv")(x)  # fmt: skip
    output = layers.Activation("tanh", dtype="float32", name="song_image")(x)
    return keras.Model(voice, output, name=name)


def build_discriminator(config: GeneratorConfig, name: str = "discriminator") -> keras.Model:
    """70x70 PatchGAN: (voice image, candidate image) → logits, shape (batch, nb_bins/8 - 2, nb_frames/8 - 2, 1)."""
    voice = keras.Input(shape=(config.nb_bins, None, config.input_channels), name="voice_image")
    candidate = keras.Input(shape=(config.nb_bins, None, config.output_channels), name="candidate_image")
    x = layers.Concatenate(name="pair")([voice, candidate])
    width = config.width
    x = _down(x, width, normalize=False, name="down0")
    x = _down(x, width * 2, normalize=True, name="down1")
    x = _down(x, width * 4, normalize=True, name="down2")
    x = layers.ZeroPadding2D(name="pad0")(x)
    x = layers.Conv2D(width * 8, KERNEL_SIZE, strides=1, kernel_initializer=_initializer(), use_bias=False,
                      name="conv3")(x)  # fmt: skip
    x = layers.BatchNormalization(name="norm3")(x)
    x = layers.LeakyReLU(0.2, name="act3")(x)
    x = layers.ZeroPadding2D(name="pad1")(x)
    logits = layers.Conv2D(1, KERNEL_SIZE, strides=1, kernel_initializer=_initializer(), dtype="float32",
                           name="logits")(x)  # fmt: skip
    return keras.Model([voice, candidate], logits, name=name)


def dropout_layers(model: keras.Model) -> list[VariationDropout]:
    """The generator's always-on dropout layers, in build order."""
    return [layer for layer in model.layers if isinstance(layer, VariationDropout)]


def seed_dropout(model: keras.Model, seed: int) -> None:
    """Reset every dropout layer's random state so the next call draws the masks of ``seed``."""
    for index, layer in enumerate(dropout_layers(model)):
        state = layer.seed_generator.state
        state.assign(keras.ops.array([seed % 2**31, index], dtype=state.dtype))
