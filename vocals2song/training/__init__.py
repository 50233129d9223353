"""Training the pix2pix generator, by concern:

- :mod:`.model`: :class:`Pix2Pix`, the GAN as one ``keras.Model`` (losses, the TensorFlow and JAX steps);
- :mod:`.devices`: precision, data parallelism, :class:`StepRunner` (the compiled step) and its benchmark;
- :mod:`.feeders`: :class:`BatchFeeder`, batches prepared on the CPU by threads or processes;
- :mod:`.device_data`: the on-device feeder (JAX): audio in device memory, batches made inside the step;
- :mod:`.checkpoints`: atomic checkpoints, resume;
- :mod:`.logs`: progress bar, metrics.jsonl, TensorBoard, sample pictures and audio;
- :mod:`.loop`: :func:`train`, the ``vocals2song train`` command.
"""

from .checkpoints import PARTIAL_PREFIX, list_checkpoints, load_checkpoint, save_checkpoint
from .devices import StepRunner, benchmark_step, new_model, training_devices
from .feeders import BatchFeeder
from .loop import FEEDERS, train
from .model import Pix2Pix, default_optimizer

__all__ = ["FEEDERS", "PARTIAL_PREFIX", "BatchFeeder", "Pix2Pix", "StepRunner", "benchmark_step", "default_optimizer",
           "list_checkpoints", "load_checkpoint", "new_model", "save_checkpoint", "train", "training_devices"]
