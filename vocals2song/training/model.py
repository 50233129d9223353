"""The pix2pix GAN as one ``keras.Model``: generator + discriminator, their losses and the step per backend.

:class:`Pix2Pix` has its own ``compile(g_optimizer, d_optimizer, l1_weight, phase_l1_weight)`` and a ``train_step``
for each backend side by side: TensorFlow with two ``tf.GradientTape`` s, JAX stateless (``stateless_call``,
``jax.vjp``, ``optimizer.stateless_apply``). The loss is the pix2pix one (Isola et al. 2017): generator =
BCE(D(voice, fake), 1) + ``l1_weight`` · L1(target, fake); discriminator = BCE(D(voice, target), 1) +
BCE(D(voice, fake), 0), logits throughout. ``feature_matching_weight`` adds pix2pixHD's discriminator feature
matching (Wang et al. 2018) to the generator's loss: the mean absolute difference between the discriminator's
hidden activations on the real and on the generated pair, averaged over its four hidden layers (0: off, plain
pix2pix). It rewards a generator whose output has the texture of real music at every scale of the PatchGAN,
which the L1 term alone turns into a blurred average. ``phase_l1_weight`` scales the phase channel's share of the L1 term:
1 is pix2pix's plain mean over both channels, 0 leaves the phase to the adversarial term alone. A magnitude-only
generator (one output channel) has no phase term.
"""

from __future__ import annotations

from typing import Any

import keras

from vocals2song.config import GeneratorConfig
from vocals2song.model.networks import build_discriminator, build_generator

TRACKERS = ("g_loss", "g_gan", "g_l1", "d_loss", "l1_magnitude", "l1_phase", "g_feature_matching")
# l1_phase only with a phase channel, g_feature_matching only with a feature-matching weight
FEATURE_LAYERS = ("down0_act", "down1_act", "down2_act", "act3")  # the PatchGAN's hidden activations

def default_optimizer(learning_rate: float = 2e-4, beta_1: float = 0.5) -> keras.optimizers.Optimizer:
    """Adam(2e-4, beta_1=0.5): pix2pix's optimizer, one each for the generator and the discriminator."""
    return keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1)


class Pix2Pix(keras.Model):
    """The conditional GAN: a U-Net generator (voice image → song image) and a PatchGAN discriminator.

    Args:
        config: the networks' shape (:class:`~vocals2song.config.GeneratorConfig`).

    ``metrics`` are four ``keras.metrics.Mean`` trackers, averaged since their last reset: ``g_loss`` (total
    generator loss), ``g_gan`` (its adversarial part), ``g_l1`` (mean absolute error, unweighted) and ``d_loss``,
    plus two diagnostics: ``l1_magnitude`` and ``l1_phase``, the mean absolute error of the R and G channels
    (``g_l1`` is their mean; a phase the voice does not predict keeps ``l1_phase`` near 0.5 or above). A
    magnitude-only generator (``output_channels`` 1) has no ``l1_phase``.
    ``train_step`` follows the backend: ``train_step(data)`` on TensorFlow (usable by ``fit``), and the pure
    ``train_step(state, data) -> (logs, state)`` on JAX with the state of :meth:`jax_state` (drive it with your
    own ``jax.jit`` loop, as :func:`train` does; ``fit`` on JAX expects a single optimizer and is not supported).
    """

    def __init__(self, config: GeneratorConfig, **kwargs):
        super().__init__(**kwargs)
        self.generator_config = config
        self.generator = build_generator(config)
        self.discriminator = build_discriminator(config)
        # The same layers (and variables, in the same order) with the hidden activations as extra outputs.
        self.discriminator_features = keras.Model(
            self.discriminator.inputs,
            [self.discriminator.get_layer(name).output for name in FEATURE_LAYERS] + [self.discriminator.output],
            name="discriminator_features",
        )
        if [id(v) for v in self.discriminator_features.variables] != [id(v) for v in self.discriminator.variables]:
            raise AssertionError("the feature view of the discriminator must share its variables, in order")
        self.feature_matching_weight = 0.0
        self._set_trackers()

    def _set_trackers(self) -> None:
        names = [name for name in TRACKERS
                 if (name != "l1_phase" or self.generator_config.output_channels > 1)
                 and (name != "g_feature_matching" or self.feature_matching_weight > 0)]
        self.trackers = [keras.metrics.Mean(name=name) for name in names]

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return self.trackers

    def compile(
        self,
        g_optimizer: keras.optimizers.Optimizer | None = None,
        d_optimizer: keras.optimizers.Optimizer | None = None,
        l1_weight: float = 100.0,
        phase_l1_weight: float = 1.0,
        feature_matching_weight: float = 0.0,
        **kwargs,
    ) -> None:
        """Set the two optimizers (default :func:`default_optimizer` each), the L1 weight (pix2pix: 100), the
        phase channel's weight inside the L1 term (pix2pix: 1, the plain mean over R and G) and the weight of the
        discriminator feature-matching term (pix2pixHD: 10; 0 = off, pix2pix)."""
        super().compile(**kwargs)
        if feature_matching_weight < 0:
            raise ValueError(f"feature_matching_weight must be >= 0, not {feature_matching_weight}")
        self.feature_matching_weight = float(feature_matching_weight)
        self._set_trackers()
        self.g_optimizer = g_optimizer or default_optimizer()
        self.d_optimizer = d_optimizer or default_optimizer()
        self.l1_weight = float(l1_weight)
        self.phase_l1_weight = float(phase_l1_weight)

    def build_optimizers(self) -> None:
        """Create the optimizers' variables now (needed before restoring them or taking the JAX state)."""
        if not self.g_optimizer.built:
            self.g_optimizer.build(self.generator.trainable_variables)
        if not self.d_optimizer.built:
            self.d_optimizer.build(self.discriminator.trainable_variables)

    def call(self, voice, training: bool = False):
        """The generator: voice images (batch, nb_bins, nb_frames, input_channels) → target images (batch, nb_bins,
        nb_frames, output_channels)."""
        return self.generator(voice, training=training)

    def discriminate(self, discriminator_call, voice, candidate):
        """(logits, hidden activations) of the discriminator on (voice, candidate); ``discriminator_call(model,
        inputs) -> outputs`` runs a model (a plain call, or a stateless call on JAX). Without feature matching
        the plain discriminator runs and the activations are an empty list."""
        if self.feature_matching_weight > 0:
            *features, logits = discriminator_call(self.discriminator_features, [voice, candidate])
            return logits, features
        return discriminator_call(self.discriminator, [voice, candidate]), []

    def feature_matching(self, real_features, fake_features):
        """Mean over the hidden layers of mean |D_k(voice, target) − D_k(voice, fake)|, the real side held fixed."""
        ops = keras.ops
        terms = [ops.mean(ops.abs(ops.stop_gradient(ops.cast(real, "float32")) - ops.cast(fake, "float32")))
                 for real, fake in zip(real_features, fake_features)]
        return sum(terms) / len(terms)

    def compute_losses(self, target, fake, real_logits, fake_logits, real_features=(), fake_features=()
                       ) -> dict[str, Any]:  # fmt: skip
        """The losses as float32 scalars: g_loss = g_gan + l1_weight · (l1_magnitude + phase_l1_weight · l1_phase) / 2
        (pix2pix's g_gan + l1_weight · g_l1 when phase_l1_weight is 1), d_loss, the unweighted g_l1 and the
        per-channel L1 (channel 0 = R = magnitude, channel 1 = G = phase). Without a phase channel l1_phase is
        left out of the sum (g_loss = g_gan + l1_weight · l1_magnitude / 2) and of the logs. With a
        feature-matching weight, g_loss also has feature_matching_weight · g_feature_matching (from the
        discriminator's hidden activations on the real and the fake pair)."""
        ops = keras.ops
        fake = ops.cast(fake, "float32")
        target = ops.cast(target, "float32")
        real_logits = ops.cast(real_logits, "float32")
        fake_logits = ops.cast(fake_logits, "float32")
        ones, zeros = ops.ones_like(fake_logits), ops.zeros_like(fake_logits)
        g_gan = ops.mean(ops.binary_crossentropy(ones, fake_logits, from_logits=True))
        errors = ops.abs(target - fake)
        l1_magnitude = ops.mean(errors[..., 0])
        phase_terms = {}
        if self.generator_config.output_channels > 1:
            phase_terms["l1_phase"] = ops.mean(errors[..., 1])
            weighted_l1 = (l1_magnitude + self.phase_l1_weight * phase_terms["l1_phase"]) / 2
        else:  # the magnitude keeps the weight it has beside a phase channel, so representations compare fairly
            weighted_l1 = l1_magnitude / 2
        d_loss = ops.mean(ops.binary_crossentropy(ops.ones_like(real_logits), real_logits, from_logits=True))
        d_loss = d_loss + ops.mean(ops.binary_crossentropy(zeros, fake_logits, from_logits=True))
        g_loss = g_gan + self.l1_weight * weighted_l1
        if self.feature_matching_weight > 0:
            phase_terms["g_feature_matching"] = self.feature_matching(real_features, fake_features)
            g_loss = g_loss + self.feature_matching_weight * phase_terms["g_feature_matching"]
        return {"g_loss": g_loss, "g_gan": g_gan, "g_l1": ops.mean(errors), "d_loss": d_loss,
                "l1_magnitude": l1_magnitude, **phase_terms}

    def train_step(self, *args):
        if keras.backend.backend() == "jax":
            return self._jax_train_step(*args)
        if keras.backend.backend() == "tensorflow":
            return self._tensorflow_train_step(*args)
        raise NotImplementedError(f"Pix2Pix trains on the tensorflow and jax backends, not {keras.backend.backend()}")

    # -- TensorFlow: two tapes, optimizers applied in place -------------------------------------------------
    def _tensorflow_train_step(self, data):
        import tensorflow as tf

        voice, target = data
        # Under tf.distribute each replica sees a slice of the batch and the optimizer sums the replicas'
        # gradients, so each replica's mean loss is divided by the replica count.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync

        def call(model, inputs):
            return model(inputs, training=True)

        with tf.GradientTape() as generator_tape, tf.GradientTape() as discriminator_tape:
            fake = self.generator(voice, training=True)
            real_logits, real_features = self.discriminate(call, voice, target)
            fake_logits, fake_features = self.discriminate(call, voice, fake)
            losses = self.compute_losses(target, fake, real_logits, fake_logits, real_features, fake_features)
            g_loss, d_loss = losses["g_loss"] / replicas, losses["d_loss"] / replicas
        generator_variables = self.generator.trainable_variables
        discriminator_variables = self.discriminator.trainable_variables
        g_grads = generator_tape.gradient(g_loss, generator_variables)
        d_grads = discriminator_tape.gradient(d_loss, discriminator_variables)
        self.g_optimizer.apply(g_grads, generator_variables)
        self.d_optimizer.apply(d_grads, discriminator_variables)
        for tracker in self.trackers:
            tracker.update_state(losses[tracker.name])
        return losses

    # -- JAX: a pure function of (state, data) → (logs, new state) -----------------------------------------
    def jax_state(self) -> tuple[list, ...]:
        """(generator trainable, generator non-trainable, discriminator trainable, discriminator non-trainable,
        generator optimizer, discriminator optimizer, metrics) variable values, for :meth:`train_step` on JAX."""
        self.build_optimizers()
        return tuple([variable.value for variable in group] for group in self._jax_state_groups())

    def _jax_state_groups(self) -> tuple[list, ...]:
        """The variable groups of the JAX state, in :meth:`jax_state`'s order."""
        return (
            self.generator.trainable_variables,
            self.generator.non_trainable_variables,
            self.discriminator.trainable_variables,
            self.discriminator.non_trainable_variables,
            self.g_optimizer.variables,
            self.d_optimizer.variables,
            self.metrics_variables,
        )

    def set_jax_state(self, state: tuple[list, ...]) -> None:
        """Write a state from :meth:`train_step` back into the Keras variables (before saving or sampling)."""
        for group, values in zip(self._jax_state_groups(), state):
            for variable, value in zip(group, values):
                variable.assign(value)

    def _jax_train_step(self, state, data):
        import jax

        (g_trainable, g_non_trainable, d_trainable, d_non_trainable, g_optimizer_state, d_optimizer_state,
         metric_state) = state  # fmt: skip
        voice, target = data

        def forward(g_trainable, d_trainable):
            fake, g_updated = self.generator.stateless_call(g_trainable, g_non_trainable, voice, training=True)
            d_updated = d_non_trainable

            def call(model, inputs):  # the discriminator's batch-norm statistics carried from call to call
                nonlocal d_updated
                outputs, d_updated = model.stateless_call(d_trainable, d_updated, inputs, training=True)
                return outputs

            real_logits, real_features = self.discriminate(call, voice, target)
            fake_logits, fake_features = self.discriminate(call, voice, fake)
            losses = self.compute_losses(target, fake, real_logits, fake_logits, real_features, fake_features)
            return (losses["g_loss"], losses["d_loss"]), (losses, g_updated, d_updated)

        # One forward pass, two pullbacks (as the two tapes): ∂g_loss/∂generator and ∂d_loss/∂discriminator.
        # Under jit the unused halves of each pullback are dead code and compiled away.
        (g_loss, d_loss), pullback, (losses, g_non_trainable, d_non_trainable) = jax.vjp(
            forward, g_trainable, d_trainable, has_aux=True
        )
        g_grads, _ = pullback((jax.numpy.ones_like(g_loss), jax.numpy.zeros_like(d_loss)))
        _, d_grads = pullback((jax.numpy.zeros_like(g_loss), jax.numpy.ones_like(d_loss)))
        g_trainable, g_optimizer_state = self.g_optimizer.stateless_apply(g_optimizer_state, g_grads, g_trainable)
        d_trainable, d_optimizer_state = self.d_optimizer.stateless_apply(d_optimizer_state, d_grads, d_trainable)

        new_metric_state, offset = [], 0
        for tracker in self.trackers:
            count = len(tracker.variables)
            new_metric_state += tracker.stateless_update_state(
                metric_state[offset : offset + count], losses[tracker.name]
            )
            offset += count
        state = (g_trainable, g_non_trainable, d_trainable, d_non_trainable, g_optimizer_state, d_optimizer_state,
                 new_metric_state)  # fmt: skip
        return losses, state

    def tracker_results(self) -> dict[str, float]:
        """The trackers' averages as Python floats (forces the device to finish)."""
        return {tracker.name: float(tracker.result()) for tracker in self.trackers}

    def reset_trackers(self) -> None:
        for tracker in self.trackers:
            tracker.reset_state()

