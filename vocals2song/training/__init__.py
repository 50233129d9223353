"""Training the pix2pix generator, by concern:

- :mod:`.model`: :class:`Pix2Pix`, the GAN as one ``keras.Model`` (losses, the TensorFlow and JAX steps);
- :mod:`.devices`: precision, data parallelism, :class:`StepRunner` (the compiled step) and its benchmark;
- :mod:`.feeders`: :class:`BatchFeeder`, batches prepared on the CPU by threads or processes;
- :mod:`.device_data`: the on-device feeder (JAX): audio in device memory, batches made inside the step;
- :mod:`.checkpoints`: atomic checkpoints, resume;
- :mod:`.logs`: progress bar, metrics.jsonl, TensorBoard, sample pictures and audio;
- :mod:`.settings`: :class:`TrainSettings`, what a run is asked to do (shared by the CLI and :func:`train`);
- :mod:`.loop`: :func:`train`, the ``vocals2song train`` command.

Names are imported lazily: the CLI reads :class:`TrainSettings` without importing Keras.
"""

import importlib

_PUBLIC = {
    "FEEDERS": "loop", "train": "loop", "TrainSettings": "settings",
    "PARTIAL_PREFIX": "checkpoints", "list_checkpoints": "checkpoints", "load_checkpoint": "checkpoints",
    "save_checkpoint": "checkpoints", "StepRunner": "devices", "benchmark_step": "devices", "new_model": "devices",
    "training_devices": "devices", "BatchFeeder": "feeders", "Pix2Pix": "model", "default_optimizer": "model",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
