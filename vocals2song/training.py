"""Training the pix2pix generator: the GAN model and its per-backend step, checkpoints, logs and the export.

:class:`Pix2Pix` is a ``keras.Model`` that holds the generator and the discriminator, with its own
``compile(g_optimizer, d_optimizer, l1_weight, phase_l1_weight)`` and a ``train_step`` for each backend side by
side: TensorFlow with two ``tf.GradientTape`` s, JAX stateless (``stateless_call``, ``jax.vjp``,
``optimizer.stateless_apply``). The loss is the pix2pix one (Isola et al. 2017): generator = BCE(D(voice, fake), 1)
+ ``l1_weight`` · L1(target, fake); discriminator = BCE(D(voice, target), 1) + BCE(D(voice, fake), 0), logits
throughout. ``phase_l1_weight`` scales the G (phase) channel's share of the L1 term: 1 is pix2pix's plain mean
over both channels, 0 leaves the phase to the adversarial term alone.

:func:`train` runs a plain loop over a ``keras.utils.PyDataset`` of (voice, target) batches of shape
(batch, nb_bins, crop_frames, 2) in [-1, 1], and writes into ``out``::

    checkpoints/step-0000500/   generator.weights.h5, discriminator.weights.h5, g_optimizer.npz,
                                d_optimizer.npz, state.json (the last two complete ones are kept; each is
                                written to checkpoints/.partial-* and renamed, so a kill leaves no torn one)
    export/                     the generator in the weights format (see vocals2song.weights), provenance included
    exports/step-0001000/       earlier exports, kept when asked (``keep_exports_every``)
    metrics.jsonl               one JSON line per log interval: losses, steps/s, samples/s
    samples/                    step-XXXXXXX.png (voice | target | generated, low frequencies at the bottom)
                                and step-XXXXXXX.wav (the generated crop)
    tensorboard/                scalars, images and audio (only where TensorFlow is importable)

Mixed precision (``mixed_bfloat16``) is used on a GPU, and data parallelism over all local devices
(``keras.distribution.DataParallel`` on JAX, ``tf.distribute.MirroredStrategy`` on TensorFlow) when there are
several.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import datetime
import importlib.util
import json
import math
import os
import pickle
import platform
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import keras
import numpy as np

from .config import GeneratorConfig, ModelConfig, SpectrogramConfig
from .errors import TrainingDataError, Vocals2SongError
from .networks import build_discriminator, build_generator

CHECKPOINT_FORMAT = "vocals2song-checkpoint"
CHECKPOINTS_KEPT = 2
CHECKPOINT_NAME = re.compile(r"^step-(\d+)$")
PARTIAL_PREFIX = ".partial-"
LOG_EVERY = 50  # steps between metrics.jsonl lines (at most; also at checkpoints and at the end)
PRECISIONS = ("auto", "float32", "mixed_bfloat16")
TRACKERS = ("g_loss", "g_gan", "g_l1", "d_loss", "l1_magnitude", "l1_phase")


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
    (``g_l1`` is their mean; a phase the voice does not predict keeps ``l1_phase`` near 0.5 or above).
    ``train_step`` follows the backend: ``train_step(data)`` on TensorFlow (usable by ``fit``), and the pure
    ``train_step(state, data) -> (logs, state)`` on JAX with the state of :meth:`jax_state` (drive it with your
    own ``jax.jit`` loop, as :func:`train` does; ``fit`` on JAX expects a single optimizer and is not supported).
    """

    def __init__(self, config: GeneratorConfig, **kwargs):
        super().__init__(**kwargs)
        self.generator_config = config
        self.generator = build_generator(config)
        self.discriminator = build_discriminator(config)
        self.trackers = [keras.metrics.Mean(name=name) for name in TRACKERS]

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return self.trackers

    def compile(
        self,
        g_optimizer: keras.optimizers.Optimizer | None = None,
        d_optimizer: keras.optimizers.Optimizer | None = None,
        l1_weight: float = 100.0,
        phase_l1_weight: float = 1.0,
        **kwargs,
    ) -> None:
        """Set the two optimizers (default :func:`default_optimizer` each), the L1 weight (pix2pix: 100) and the
        phase channel's weight inside the L1 term (pix2pix: 1, the plain mean over R and G)."""
        super().compile(**kwargs)
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
        """The generator: voice images (batch, nb_bins, nb_frames, 2) → song images of the same shape."""
        return self.generator(voice, training=training)

    def compute_losses(self, target, fake, real_logits, fake_logits) -> dict[str, Any]:
        """The losses as float32 scalars: g_loss = g_gan + l1_weight · (l1_magnitude + phase_l1_weight · l1_phase) / 2
        (pix2pix's g_gan + l1_weight · g_l1 when phase_l1_weight is 1), d_loss, the unweighted g_l1 and the
        per-channel L1 (channel 0 = R = magnitude, channel 1 = G = phase)."""
        ops = keras.ops
        fake = ops.cast(fake, "float32")
        target = ops.cast(target, "float32")
        real_logits = ops.cast(real_logits, "float32")
        fake_logits = ops.cast(fake_logits, "float32")
        ones, zeros = ops.ones_like(fake_logits), ops.zeros_like(fake_logits)
        g_gan = ops.mean(ops.binary_crossentropy(ones, fake_logits, from_logits=True))
        errors = ops.abs(target - fake)
        l1_magnitude, l1_phase = ops.mean(errors[..., 0]), ops.mean(errors[..., 1])
        weighted_l1 = (l1_magnitude + self.phase_l1_weight * l1_phase) / 2
        d_loss = ops.mean(ops.binary_crossentropy(ops.ones_like(real_logits), real_logits, from_logits=True))
        d_loss = d_loss + ops.mean(ops.binary_crossentropy(zeros, fake_logits, from_logits=True))
        return {"g_loss": g_gan + self.l1_weight * weighted_l1, "g_gan": g_gan, "g_l1": ops.mean(errors),
                "d_loss": d_loss, "l1_magnitude": l1_magnitude, "l1_phase": l1_phase}

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
        with tf.GradientTape() as generator_tape, tf.GradientTape() as discriminator_tape:
            fake = self.generator(voice, training=True)
            real_logits = self.discriminator([voice, target], training=True)
            fake_logits = self.discriminator([voice, fake], training=True)
            losses = self.compute_losses(target, fake, real_logits, fake_logits)
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
            real_logits, d_updated = self.discriminator.stateless_call(
                d_trainable, d_non_trainable, [voice, target], training=True
            )
            fake_logits, d_updated = self.discriminator.stateless_call(
                d_trainable, d_updated, [voice, fake], training=True
            )
            losses = self.compute_losses(target, fake, real_logits, fake_logits)
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


# ---------------------------------------------------------------------------------------------------------
# Devices: mixed precision and data parallelism
# ---------------------------------------------------------------------------------------------------------


def accelerator_present() -> bool:
    """Whether the backend sees a GPU."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.devices()[0].platform == "gpu"
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def resolve_precision(precision: str) -> str:
    """``auto`` → ``mixed_bfloat16`` on a GPU, ``float32`` elsewhere; other values pass through (checked)."""
    if precision not in PRECISIONS:
        raise Vocals2SongError(f"precision must be one of {', '.join(PRECISIONS)}, got '{precision}'.")
    if precision == "auto":
        return "mixed_bfloat16" if accelerator_present() else "float32"
    return precision


def describe_hardware() -> dict[str, Any]:
    """Backend, device kind and count, host CPU: what the provenance records."""
    record: dict[str, Any] = {"backend": keras.backend.backend(), "host": platform.machine(),
                              "cpu_count": os.cpu_count()}  # fmt: skip
    if keras.backend.backend() == "jax":
        import jax

        devices = jax.devices()
        record.update(platform=devices[0].platform, device_kind=devices[0].device_kind, device_count=len(devices))
    else:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        kinds = [tf.config.experimental.get_device_details(gpu).get("device_name", "GPU") for gpu in gpus]
        record.update(platform="gpu" if gpus else "cpu", device_kind=kinds[0] if kinds else platform.processor()
                      or "cpu", device_count=max(1, len(gpus)))  # fmt: skip
    return record


def _tensorflow_strategy():
    """A MirroredStrategy over the logical GPUs (or logical CPUs when several were configured), else None."""
    import tensorflow as tf

    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    if len(devices) > 1:
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    return None


def _jax_distribution():
    """``keras.distribution.DataParallel`` over all local devices when there are several, else None."""
    devices = keras.distribution.list_devices()
    if len(devices) > 1:
        return keras.distribution.DataParallel(devices=devices)
    return None


@contextlib.contextmanager
def training_devices(precision: str, batch_size: int):
    """Set the dtype policy and the data-parallel layout for the duration; yields (precision, replicas, strategy).

    ``strategy`` is the TensorFlow distribution strategy (None on JAX or on one device); models and optimizers
    must be built inside this context. Both settings are restored afterwards.
    """
    previous_policy = keras.mixed_precision.global_policy()
    precision = resolve_precision(precision)
    strategy, replicas = None, 1
    scope: contextlib.AbstractContextManager = contextlib.nullcontext()
    previous_distribution = None
    if keras.backend.backend() == "jax":
        previous_distribution = keras.distribution.distribution()
        distribution = _jax_distribution()
        if distribution is not None:
            replicas = len(distribution.device_mesh.devices.flatten())
            keras.distribution.set_distribution(distribution)
    else:
        strategy = _tensorflow_strategy()
        if strategy is not None:
            replicas = strategy.num_replicas_in_sync
            scope = strategy.scope()
    if batch_size % replicas:
        raise Vocals2SongError(f"The batch size ({batch_size}) must be a multiple of the device count ({replicas}).")
    keras.mixed_precision.set_global_policy(precision)
    try:
        with scope:
            yield precision, replicas, strategy
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
        if keras.backend.backend() == "jax":
            keras.distribution.set_distribution(previous_distribution)


class StepRunner:
    """Runs :meth:`Pix2Pix.train_step` compiled for the backend; call :meth:`sync` before reading variables."""

    def __init__(self, model: Pix2Pix, strategy=None):
        self.model = model
        self.strategy = strategy
        model.build_optimizers()
        if keras.backend.backend() == "jax":
            import jax

            self._state = model.jax_state()
            self._jax_step = jax.jit(model.train_step, donate_argnums=0)
            self._distribution = keras.distribution.distribution()
        else:
            import tensorflow as tf

            self._tensorflow_step = tf.function(self._tensorflow_replicated_step, reduce_retracing=True)

    def __call__(self, voice: np.ndarray, target: np.ndarray) -> None:
        """One optimiser step on a batch (dispatched asynchronously where the backend allows)."""
        if keras.backend.backend() == "jax":
            _, self._state = self._jax_step(self._state, (self._place(voice), self._place(target)))
            return
        if self.strategy is None:
            self._tensorflow_step(voice, target)
            return
        self._tensorflow_step(self._split(voice), self._split(target))

    def sync(self) -> None:
        """Make the Keras variables (weights, optimizers, trackers) hold the latest values."""
        if keras.backend.backend() == "jax":
            self.model.set_jax_state(self._state)

    def reset_trackers(self) -> None:
        self.model.reset_trackers()
        if keras.backend.backend() == "jax":
            self._state = self._state[:-1] + ([variable.value for variable in self.model.metrics_variables],)

    def _tensorflow_replicated_step(self, voice, target):
        if self.strategy is None:
            self.model.train_step((voice, target))
        else:
            self.strategy.run(self.model.train_step, args=((voice, target),))

    def _split(self, array: np.ndarray):
        replicas = self.strategy.num_replicas_in_sync
        size = len(array) // replicas
        return self.strategy.experimental_distribute_values_from_function(
            lambda context: array[context.replica_id_in_sync_group * size : (context.replica_id_in_sync_group + 1)
                                  * size]  # fmt: skip
        )

    def _place(self, array: np.ndarray):
        import jax

        if self._distribution is None:
            return jax.device_put(array)
        return jax.device_put(array, self._distribution.get_data_layout(array.shape).backend_layout)


def new_model(config: ModelConfig, learning_rate: float = 2e-4, beta_1: float = 0.5, l1_weight: float = 100.0,
              phase_l1_weight: float = 1.0) -> Pix2Pix:  # fmt: skip
    """A compiled :class:`Pix2Pix` with pix2pix's optimizers (build it inside :func:`training_devices`)."""
    model = Pix2Pix(config.generator, name="pix2pix")
    model.compile(
        g_optimizer=default_optimizer(learning_rate, beta_1),
        d_optimizer=default_optimizer(learning_rate, beta_1),
        l1_weight=l1_weight,
        phase_l1_weight=phase_l1_weight,
    )
    model.build_optimizers()
    return model


def benchmark_step(config: ModelConfig, batch_size: int, steps: int, crop_frames: int = 256,
                   precision: str = "float32") -> float:  # fmt: skip
    """Training throughput in samples/s over ``steps`` steps on random crops (after one compile step)."""
    rng = np.random.default_rng(0)
    shape = (batch_size, config.generator.nb_bins, crop_frames, config.generator.input_channels)
    voice = rng.uniform(-1, 1, shape).astype(np.float32)
    target = rng.uniform(-1, 1, shape[:-1] + (config.generator.output_channels,)).astype(np.float32)
    with training_devices(precision, batch_size) as (_, _, strategy):
        model = new_model(config)
        runner = StepRunner(model, strategy)
        runner(voice, target)
        _block(runner)
        start = time.perf_counter()
        for _ in range(steps):
            runner(voice, target)
        _block(runner)
        seconds = time.perf_counter() - start
    return batch_size * steps / seconds


def _block(runner: StepRunner) -> None:
    """Wait until every dispatched step has finished."""
    if keras.backend.backend() == "jax":
        import jax

        jax.block_until_ready(runner._state)
    else:
        runner.model.tracker_results()


# ---------------------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------------------


def checkpoint_directory(out: Path) -> Path:
    return out / "checkpoints"


def list_checkpoints(out: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints (a ``step-N`` folder whose state.json names step N), oldest first."""
    found = []
    directory = checkpoint_directory(out)
    if not directory.is_dir():
        return found
    for path in directory.iterdir():
        match = CHECKPOINT_NAME.match(path.name)
        if not match:
            continue
        try:
            state = json.loads((path / "state.json").read_text())
        except (OSError, ValueError):
            continue
        if state.get("format") == CHECKPOINT_FORMAT and state.get("step") == int(match.group(1)):
            found.append((int(match.group(1)), path))
    return sorted(found)


def save_checkpoint(out: Path, model: Pix2Pix, state: dict[str, Any]) -> Path:
    """Write a checkpoint for ``state["step"]`` atomically and keep the last :data:`CHECKPOINTS_KEPT`.

    Everything is written into ``checkpoints/.partial-step-N-PID`` and that folder is renamed to ``step-N``
    in one ``os.replace``, so a kill at any moment leaves either no ``step-N`` or a complete one.
    """
    directory = checkpoint_directory(out)
    directory.mkdir(parents=True, exist_ok=True)
    name = f"step-{state['step']:07d}"
    partial = directory / f"{PARTIAL_PREFIX}{name}-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    model.generator.save_weights(partial / "generator.weights.h5")
    model.discriminator.save_weights(partial / "discriminator.weights.h5")
    for optimizer_name, optimizer in (("g_optimizer", model.g_optimizer), ("d_optimizer", model.d_optimizer)):
        with open(partial / f"{optimizer_name}.npz", "wb") as file:
            np.savez(file, *[keras.ops.convert_to_numpy(variable) for variable in optimizer.variables])
    (partial / "state.json").write_text(json.dumps({"format": CHECKPOINT_FORMAT, "version": 1, **state}, indent=2))
    final = directory / name
    if final.exists():  # the same step written again (a resumed run); move the old one aside first
        stale = directory / f"{PARTIAL_PREFIX}{name}-replaced-{os.getpid()}"
        os.replace(final, stale)
        shutil.rmtree(stale, ignore_errors=True)
    os.replace(partial, final)
    for _, old in list_checkpoints(out)[:-CHECKPOINTS_KEPT]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(path: Path, model: Pix2Pix, config: ModelConfig | None = None) -> dict[str, Any]:
    """Restore networks and optimizers from a checkpoint folder; returns its state.json.

    With ``config``, a checkpoint of another generator shape, target or audio front end is refused (before
    any weight is read) with a message naming the options to change.
    """
    state = json.loads((path / "state.json").read_text())
    trained = state.get("config", {})
    if config is not None and any(trained.get(key) != value for key, value in config.to_dict().items()
                                  if key in ("generator", "target", "spectrogram")):  # fmt: skip
        raise Vocals2SongError(
            f"The checkpoint in '{path}' was trained with another model (generator {trained.get('generator')}, "
            f"target {trained.get('target')}, audio {trained.get('spectrogram')}): use the same "
            "--width/--target/--sample-rate, or another --out."
        )
    model.build_optimizers()
    try:
        model.generator.load_weights(path / "generator.weights.h5")
        model.discriminator.load_weights(path / "discriminator.weights.h5")
        for optimizer_name, optimizer in (("g_optimizer", model.g_optimizer), ("d_optimizer", model.d_optimizer)):
            with np.load(path / f"{optimizer_name}.npz") as arrays:
                values = [arrays[f"arr_{index}"] for index in range(len(arrays.files))]
            if len(values) != len(optimizer.variables):
                raise ValueError(f"{optimizer_name} has {len(values)} variables, the model {len(optimizer.variables)}")
            for variable, value in zip(optimizer.variables, values):
                if tuple(variable.shape) != value.shape:
                    raise ValueError(f"{variable.path} has shape {tuple(variable.shape)}, the checkpoint {value.shape}")
                variable.assign(value)
    except (OSError, ValueError, KeyError) as error:
        raise Vocals2SongError(f"The checkpoint '{path}' does not fit this model ({str(error)[:300]}).") from error
    return state


def remove_partial_checkpoints(out: Path) -> None:
    """Delete half-written checkpoint folders left by a killed run."""
    directory = checkpoint_directory(out)
    if directory.is_dir():
        for path in directory.glob(f"{PARTIAL_PREFIX}*"):
            shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------
# Data feeding, progress and logs
# ---------------------------------------------------------------------------------------------------------


def _epoch_length(dataset) -> int | None:
    length = getattr(dataset, "num_batches", None)
    if length is None:
        with contextlib.suppress(TypeError, NotImplementedError):
            length = len(dataset)
    return int(length) if length else None


# Environment of the batch-fetching processes: CPU only (they must not take the GPU), one thread each.
WORKER_ENVIRONMENT = {"JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": "-1", "TF_CPP_MIN_LOG_LEVEL": "3",
                      "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # fmt: skip
_worker_dataset = None


def _start_worker(pickled_dataset: bytes) -> None:
    global _worker_dataset
    _worker_dataset = pickle.loads(pickled_dataset)


def _worker_batch(epoch: int | None, index: int):
    if epoch is not None:
        _worker_dataset.epoch = epoch
    return _worker_dataset[index]


def _worker_ready() -> int:
    return os.getpid()


class BatchFeeder:
    """Yields ``dataset[index]`` for consecutive steps from ``start_step``, fetched ahead by ``workers``.

    Step s reads batch ``s % epoch_length`` of epoch ``s // epoch_length``, so a resumed run reads the same
    batches an uninterrupted one would. At each epoch boundary (once every earlier batch has been fetched) the
    dataset's ``set_epoch(epoch)`` is called if it has one, else ``on_epoch_end()``; resuming replays those calls.

    The workers are threads, or with ``processes=True`` spawned processes (CPU-only, one thread each) holding a
    copy of the dataset: decoding, augmenting and the STFT hold the GIL much of the time, so threads stop
    scaling at a few cores while a GPU wants hundreds of crops a second. In processes the dataset's ``epoch``
    attribute is sent with each request (a dataset without one cannot be fed by processes).
    """

    def __init__(self, dataset, start_step: int, workers: int = 1, processes: bool = False):
        self.dataset = dataset
        self.epoch_length = _epoch_length(dataset)
        self.workers = max(1, int(workers))
        self.processes = processes
        self.next_step = start_step
        self.epoch = start_step // self.epoch_length if self.epoch_length else 0
        if self.epoch:
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(self.epoch)
            else:
                for _ in range(self.epoch):
                    dataset.on_epoch_end()
        if processes:
            if not hasattr(dataset, "epoch"):
                raise ValueError("a dataset fed by worker processes needs an 'epoch' attribute")
            self._pool = _spawn_pool(dataset, self.workers)
        else:
            self._pool = concurrent.futures.ThreadPoolExecutor(self.workers, thread_name_prefix="batches")
        self._pending: deque = deque()

    def position(self, step: int) -> tuple[int, int]:
        """(epoch, batch index) read at ``step``."""
        if not self.epoch_length:
            return 0, step
        return divmod(step, self.epoch_length)

    def _submit(self) -> None:
        epoch, index = self.position(self.next_step)
        if epoch != self.epoch:
            if self._pending:  # finish this epoch before the dataset moves on
                return
            self.epoch = epoch
            if hasattr(self.dataset, "set_epoch"):
                self.dataset.set_epoch(epoch)
            else:
                self.dataset.on_epoch_end()
        if self.processes:
            self._pending.append(self._pool.submit(_worker_batch, self.dataset.epoch, index))
        else:
            self._pending.append(self._pool.submit(self.dataset.__getitem__, index))
        self.next_step += 1

    def next(self) -> tuple[np.ndarray, np.ndarray]:
        while len(self._pending) < 2 * self.workers:
            before = len(self._pending)
            self._submit()
            if len(self._pending) == before:
                break
        if not self._pending:
            self._submit()
        voice, target = self._pending.popleft().result()[:2]
        return np.asarray(voice, dtype=np.float32), np.asarray(target, dtype=np.float32)

    def close(self) -> None:
        for future in self._pending:
            future.cancel()
        self._pool.shutdown(wait=True)


def _spawn_pool(dataset, workers: int) -> concurrent.futures.ProcessPoolExecutor:
    """``workers`` spawned processes holding ``dataset``, started now under :data:`WORKER_ENVIRONMENT`."""
    import multiprocessing

    saved = {name: os.environ.get(name) for name in WORKER_ENVIRONMENT}
    os.environ.update(WORKER_ENVIRONMENT)  # inherited by the spawned processes, restored once they run
    try:
        pool = concurrent.futures.ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
            initargs=(pickle.dumps(dataset),),
        )  # fmt: skip
        started = [pool.submit(_worker_ready) for _ in range(workers)]  # one submit each spawns a process
        for future in started:
            future.result()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return pool


class ProgressBar:
    """``step 120/10000 [###-----]  1.8 steps/s  14.6 samples/s  ETA 1:29:55  g 12.3  d 1.38`` on stderr.

    Redrawn in place (at most twice a second) on a terminal; a plain line every 30 s when stderr is a file.
    """

    def __init__(self, total: int, start: int, batch_size: int, enabled: bool = True, stream=None):
        self.total, self.start, self.batch_size, self.enabled = total, start, batch_size, enabled
        self.stream = stream or sys.stderr
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self.last_draw = 0.0
        self.losses: dict[str, float] = {}

    def update(self, step: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last_draw < (0.5 if self.interactive else 30.0):
            return
        self.last_draw = now
        done = step - self.start
        rate = done / max(now - self.started, 1e-9)
        remaining = (self.total - step) / rate if rate > 0 else float("inf")
        eta = str(datetime.timedelta(seconds=int(remaining))) if math.isfinite(remaining) else "?"
        filled = int(20 * step / max(self.total, 1))
        losses = "".join(f"  {name[0]} {value:.3g}" for name, value in self.losses.items() if name in ("g_loss",
                         "d_loss"))  # fmt: skip
        line = (f"step {step}/{self.total} [{'#' * filled}{'-' * (20 - filled)}] {rate:5.2f} steps/s "
                f"{rate * self.batch_size:6.1f} samples/s  ETA {eta}{losses}")  # fmt: skip
        if self.interactive:
            self.stream.write(f"\r{line}\x1b[K")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self, step: int) -> None:
        if self.enabled:
            self.update(step, force=True)
            if self.interactive:
                self.stream.write("\n")
                self.stream.flush()


class TrainingLog:
    """``metrics.jsonl`` always; TensorBoard scalars, images and audio when tensorflow and tensorboard import."""

    def __init__(self, out: Path, tensorboard: bool = True):
        self.metrics_path = out / "metrics.jsonl"
        self.samples_directory = out / "samples"
        self.writer = None
        if tensorboard and all(importlib.util.find_spec(name) for name in ("tensorflow", "tensorboard")):
            try:
                import tensorflow as tf

                if keras.backend.backend() != "tensorflow":  # leave the accelerator to the training backend
                    with contextlib.suppress(RuntimeError, ValueError):
                        tf.config.set_visible_devices([], "GPU")
                self.writer = tf.summary.create_file_writer(str(out / "tensorboard"))
            except Exception as error:  # TensorBoard is a convenience; training goes on without it
                print(f"TensorBoard summaries are off: {error}", file=sys.stderr)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        with open(self.metrics_path, "a") as file:
            file.write(json.dumps({"step": step, **values}) + "\n")
        if self.writer is not None:
            import tensorflow as tf

            with self.writer.as_default(step=step):
                for name, value in values.items():
                    if isinstance(value, (int, float)):
                        tf.summary.scalar(name, value)
            self.writer.flush()

    def samples(self, step: int, images: dict[str, np.ndarray], song: np.ndarray, sample_rate: int) -> None:
        """images: name → R/G image (nb_bins + 1, nb_frames, 3) in [0, 1]; song: the generated crop's audio."""
        from PIL import Image

        from .audio import write_wav
        from .spectrogram import quantize

        pictures = {name: np.ascontiguousarray(quantize(image, 8)[::-1]) for name, image in images.items()}
        self.samples_directory.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.concatenate(list(pictures.values()), axis=1)).save(
            self.samples_directory / f"step-{step:07d}.png"
        )
        write_wav(self.samples_directory / f"step-{step:07d}.wav", song, sample_rate)
        if self.writer is not None:
            import tensorflow as tf

            with self.writer.as_default(step=step):
                for name, picture in pictures.items():
                    tf.summary.image(f"images/{name}", picture[None])
                tf.summary.audio("audio/generated", song[None, :, None].astype(np.float32), sample_rate)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def render_sample(model: Pix2Pix, voice: np.ndarray, target: np.ndarray, config: ModelConfig):
    """First pair of a batch → ({voice, target, generated} R/G images, generated audio)."""
    from .inference import network_to_image
    from .spectrogram import image_to_audio

    generated = keras.ops.convert_to_numpy(model.generator(voice[:1], training=False))[0]
    images = {"voice": network_to_image(voice[0]), "target": network_to_image(target[0]),
              "generated": network_to_image(generated)}  # fmt: skip
    song = np.clip(image_to_audio(images["generated"], config.spectrogram), -1.0, 1.0)
    return images, song


def git_commit() -> str | None:
    """The repository's HEAD commit (with ``-dirty`` for uncommitted changes), or None outside git."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if commit.returncode:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)  # fmt: skip
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


# ---------------------------------------------------------------------------------------------------------
# The training loop
# ---------------------------------------------------------------------------------------------------------


def train(
    data: list[str],
    *,
    out: str | os.PathLike = "runs/train",
    steps: int = 10000,
    batch_size: int = 8,
    width: int = 16,
    depth: int = 8,
    target: str = "mixture",
    crop_frames: int = 256,
    sample_rate: int = 22050,
    learning_rate: float = 2e-4,
    beta_1: float = 0.5,
    l1_weight: float = 100.0,
    phase_l1_weight: float = 1.0,
    checkpoint_every: int = 500,
    sample_every: int = 1000,
    keep_exports_every: int = 0,
    resume: bool = False,
    seed: int = 0,
    workers: int = 1,
    worker_processes: bool = False,
    plan: bool = False,
    estimated_plan_share: float | None = None,
    precision: str = "auto",
    dataset=None,
    progress: bool = True,
) -> Path:
    """Train a pix2pix generator on paired (voice, target) crops and export it to ``out/export``.

    Args:
        data: training sources for ``vocals2song.data.make_dataset`` (corpus, MUSDB18-HQ or pairs folders).
        out: run folder (checkpoints, export, metrics.jsonl, samples, tensorboard).
        steps: total optimiser steps (a resumed run continues up to this count).
        batch_size: crops per step (split across devices when there are several).
        width, depth: generator shape (:class:`~vocals2song.config.GeneratorConfig`).
        target: ``"mixture"`` or ``"accompaniment"``.
        crop_frames: STFT frames per training crop; a multiple of ``2**depth``.
        sample_rate: Hz of the model's audio front end.
        learning_rate, beta_1, l1_weight: pix2pix's Adam(2e-4, 0.5) and L1 weight 100.
        phase_l1_weight: the G (phase) channel's weight inside the L1 term; 1 (pix2pix) weighs R and G alike.
        checkpoint_every: steps between checkpoints (and exports); a kill loses at most this many.
        sample_every: steps between sample images/audio.
        keep_exports_every: also keep the export of every step that is a multiple of this (and a checkpoint) in
            ``out/exports/step-N``, to choose among them by validation; 0 keeps only the latest.
        resume: continue from the latest complete checkpoint in ``out`` (from scratch if there is none).
        seed: weight initialisation, dropout and data order.
        workers: threads (or processes) fetching batches ahead.
        worker_processes: fetch in spawned processes instead of threads (see :class:`BatchFeeder`).
        plan: the generator reads the plan (B: chords and beats) as a third input channel.
        estimated_plan_share: with ``plan``, the share of crops whose B is the estimator's plan rather than the
            pair's true one (default :data:`vocals2song.crop_plans.ESTIMATED_PLAN_SHARE`).
        precision: ``auto`` (mixed_bfloat16 on a GPU, else float32), ``float32`` or ``mixed_bfloat16``.
        dataset: a ``keras.utils.PyDataset`` of (voice, target) batches to use instead of ``data`` (tests).
        progress: draw the progress bar on stderr.
    Returns:
        The export folder (``out/export``), loadable with :func:`vocals2song.weights.load_generator`.
    Raises:
        KeyboardInterrupt: after Ctrl-C or SIGTERM, once a checkpoint of the step reached is saved.
        Vocals2SongError: bad arguments, or checkpoints in ``out`` without ``resume``.
        TrainingDataError: unusable training data.
    """
    from .weights import save_generator

    out = Path(out)
    config = ModelConfig(
        spectrogram=SpectrogramConfig(sample_rate=sample_rate),
        generator=_generator_config(width, depth, 3 if plan else 2),
        target=target if target in ("mixture", "accompaniment") else _bad_target(target),
    )
    _check_arguments(steps, batch_size, crop_frames, checkpoint_every, sample_every, config)
    existing = list_checkpoints(out)
    if existing and not resume:
        raise Vocals2SongError(
            f"'{out}' already holds checkpoints (up to step {existing[-1][0]}): pass --resume to continue, or "
            "choose another --out."
        )
    if dataset is None:
        from .data import make_dataset

        from .crop_plans import ESTIMATED_PLAN_SHARE

        share = ESTIMATED_PLAN_SHARE if estimated_plan_share is None else estimated_plan_share
        dataset = make_dataset(data, config, split="train", batch_size=batch_size, crop_frames=crop_frames,
                               augment=True, seed=seed, workers=workers, estimated_plan_share=share)  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    started = time.monotonic()

    with training_devices(precision, batch_size) as (precision, replicas, strategy):
        model = new_model(config, learning_rate, beta_1, l1_weight, phase_l1_weight)
        step, previous_wall_seconds, last_losses = 0, 0.0, {}
        remove_partial_checkpoints(out)
        if resume and existing:
            state = load_checkpoint(existing[-1][1], model, config)
            step, previous_wall_seconds = int(state["step"]), float(state.get("wall_seconds", 0.0))
            last_losses = state.get("losses", {})
            print(f"resuming from {existing[-1][1]} at step {step}", file=sys.stderr)
        elif resume:
            print(f"no checkpoint in '{out}': starting from step 0", file=sys.stderr)

        runner = StepRunner(model, strategy)
        feeder = BatchFeeder(dataset, step, workers, processes=worker_processes)
        log = TrainingLog(out)
        bar = ProgressBar(steps, step, batch_size, enabled=progress)
        hardware = {**describe_hardware(), "precision": precision, "replicas": replicas}

        def record(at_step: int) -> dict[str, Any]:
            epoch, index = feeder.position(at_step)
            return {
                "step": at_step,
                "seed": seed,
                "epoch": epoch,
                "batch_index": index,
                "batches_per_epoch": feeder.epoch_length,
                "batch_size": batch_size,
                "crop_frames": crop_frames,
                "wall_seconds": previous_wall_seconds + time.monotonic() - started,
                "losses": last_losses,
                "config": config.to_dict(),
            }

        def export(at_step: int) -> Path:
            provenance = {
                "data": [str(source) for source in data or []],
                "steps": at_step,
                "batch_size": batch_size,
                "crop_frames": crop_frames,
                "learning_rate": learning_rate,
                "beta_1": beta_1,
                "l1_weight": l1_weight,
                "phase_l1_weight": phase_l1_weight,
                "estimated_plan_share": estimated_plan_share if plan else None,
                "seed": seed,
                "hardware": hardware,
                "wall_seconds": round(previous_wall_seconds + time.monotonic() - started, 1),
                "git_commit": git_commit(),
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "losses": last_losses,
            }
            exported = dataclasses.replace(config, provenance=provenance)
            if keep_exports_every and at_step % keep_exports_every == 0:
                save_generator(out / "exports" / f"step-{at_step:07d}", model.generator, exported)
            return save_generator(out / "export", model.generator, exported)

        interval_start, interval_step, exported_step = time.monotonic(), step, None
        with _terminate_requests() as terminate:
            try:
                while step < steps:
                    if terminate.is_set():
                        raise KeyboardInterrupt  # saved below at this step boundary, as Ctrl-C
                    voice, target_batch = feeder.next()
                    _check_batch(voice, target_batch, batch_size, crop_frames, config)
                    runner(voice, target_batch)
                    step += 1
                    bar.update(step)
                    log_now = step % min(LOG_EVERY, checkpoint_every) == 0 or step == steps
                    checkpoint_now = step % checkpoint_every == 0 or step == steps
                    sample_now = step % sample_every == 0
                    if log_now or checkpoint_now or sample_now:
                        runner.sync()
                    if log_now:
                        last_losses = model.tracker_results()
                        runner.reset_trackers()
                        seconds = time.monotonic() - interval_start
                        rate = (step - interval_step) / max(seconds, 1e-9)
                        log.scalars(step, {**last_losses, "steps_per_second": rate,
                                           "samples_per_second": rate * batch_size})  # fmt: skip
                        bar.losses = last_losses
                    if sample_now:
                        images, song = render_sample(model, voice, target_batch, config)
                        log.samples(step, images, song, config.spectrogram.sample_rate)
                    if checkpoint_now:
                        save_checkpoint(out, model, record(step))
                        export(step)
                        exported_step = step
                    if log_now:  # the next interval's rate excludes the logging, sampling and saving above
                        interval_start, interval_step = time.monotonic(), step
            except KeyboardInterrupt:
                runner.sync()
                save_checkpoint(out, model, record(step))
                print(f"interrupted: checkpoint saved at step {step}", file=sys.stderr)
                raise
            finally:
                bar.close(step)
                feeder.close()
                log.close()
        return out / "export" if exported_step == step else export(step)


@contextlib.contextmanager
def _terminate_requests():
    """Yields an event that SIGTERM (``kill``, a job scheduler) sets; the loop then stops as after Ctrl-C.

    Only the main thread can install signal handlers; elsewhere the event is never set.
    """
    terminate = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield terminate
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: terminate.set())
    try:
        yield terminate
    finally:
        signal.signal(signal.SIGTERM, previous)


def _generator_config(width: int, depth: int, input_channels: int = 2) -> GeneratorConfig:
    try:
        return GeneratorConfig(width=width, depth=depth, input_channels=input_channels)
    except ValueError as error:
        raise Vocals2SongError(f"Bad generator shape: {error}.") from error


def _bad_target(target: str) -> str:
    raise Vocals2SongError(f"target must be 'mixture' or 'accompaniment', got '{target}'.")


def _check_arguments(steps: int, batch_size: int, crop_frames: int, checkpoint_every: int, sample_every: int,
                     config: ModelConfig) -> None:  # fmt: skip
    for name, value in (("steps", steps), ("batch size", batch_size), ("checkpoint interval", checkpoint_every),
                        ("sample interval", sample_every), ("crop frames", crop_frames)):  # fmt: skip
        if value < 1:
            raise Vocals2SongError(f"The {name} must be at least 1, got {value}.")
    multiple = config.generator.frame_multiple
    if crop_frames % multiple:
        raise Vocals2SongError(
            f"crop frames ({crop_frames}) must be a multiple of {multiple} (2**depth) for this generator."
        )


def _check_batch(voice: np.ndarray, target: np.ndarray, batch_size: int, crop_frames: int,
                 config: ModelConfig) -> None:  # fmt: skip
    frames = (batch_size, config.generator.nb_bins, crop_frames)
    expected = (frames + (config.generator.input_channels,), frames + (config.generator.output_channels,))
    if (voice.shape, target.shape) != expected:
        raise TrainingDataError(
            f"The training data gave batches of shape {voice.shape} and {target.shape}; "
            f"the model needs {expected[0]} and {expected[1]}."
        )
