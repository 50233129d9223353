"""Devices for training: precision, data parallelism, the compiled step (:class:`StepRunner`) and its benchmark."""

from __future__ import annotations

import contextlib
import os
import platform
import time
from typing import Any

import keras
import numpy as np

from vocals2song.config import ModelConfig
from vocals2song.errors import Vocals2SongError
from vocals2song.training.model import Pix2Pix, default_optimizer

PRECISIONS = ("auto", "float32", "mixed_bfloat16")


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
    """Runs :meth:`Pix2Pix.train_step` compiled for the backend; call :meth:`sync` before reading variables.

    ``runner(voice, target)`` takes a batch made on the host; ``runner.step_on_device(feeder, step)`` (JAX) makes
    batch ``step`` inside the same jitted function from a
    :class:`~vocals2song.training.device_data.DeviceFeeder`'s arrays.
    """

    def __init__(self, model: Pix2Pix, strategy=None):
        self.model = model
        self.strategy = strategy
        model.build_optimizers()
        if keras.backend.backend() == "jax":
            import jax

            self._state = model.jax_state()
            self._jax_step = jax.jit(model.train_step, donate_argnums=0)
            self._fused_step = None
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

    def step_on_device(self, feeder, step: int) -> None:
        """One optimiser step on batch ``step`` of an on-device feeder (JAX only; dispatched asynchronously)."""
        if self._fused_step is None:
            self._fused_step = feeder.compile_step(self.model.train_step)
        _, self._state = self._fused_step(self._state, feeder.arrays, step)

    def data_sharding(self, shape: tuple[int, ...]):
        """The data-parallel layout of a batch of ``shape`` (JAX with several devices), else None."""
        if keras.backend.backend() != "jax" or self._distribution is None:
            return None
        return self._distribution.get_data_layout(shape).backend_layout

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
              phase_l1_weight: float = 1.0, feature_matching_weight: float = 0.0) -> Pix2Pix:  # fmt: skip
    """A compiled :class:`Pix2Pix` with pix2pix's optimizers (build it inside :func:`training_devices`)."""
    model = Pix2Pix(config.generator, name="pix2pix")
    model.compile(
        g_optimizer=default_optimizer(learning_rate, beta_1),
        d_optimizer=default_optimizer(learning_rate, beta_1),
        l1_weight=l1_weight,
        phase_l1_weight=phase_l1_weight,
        feature_matching_weight=feature_matching_weight,
    )
    model.build_optimizers()
    return model


def benchmark_step(config: ModelConfig, batch_size: int, steps: int, crop_frames: int = 256,
                   precision: str = "float32") -> float:  # fmt: skip
    """Training throughput in samples/s over ``steps`` steps on one batch of random crops (after one compile step);
    on JAX the batch is placed on the device once, so this is the step's own rate (the ceiling for any feeder)."""
    rng = np.random.default_rng(0)
    shape = (batch_size, config.generator.nb_bins, crop_frames, config.generator.input_channels)
    voice = rng.uniform(-1, 1, shape).astype(np.float32)
    target = rng.uniform(-1, 1, shape[:-1] + (config.generator.output_channels,)).astype(np.float32)
    with training_devices(precision, batch_size) as (_, _, strategy):
        model = new_model(config)
        runner = StepRunner(model, strategy)
        if keras.backend.backend() == "jax":  # the batch stays on the device: the step alone is timed
            voice, target = runner._place(voice), runner._place(target)
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
