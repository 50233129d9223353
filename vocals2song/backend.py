"""Importing the Keras backend quietly: TensorFlow's C++ start-up lines (oneDNN, CUDA probing) go to fd 2
through absl before any Python setting can silence them, so they are swallowed at import time here.
"""

from __future__ import annotations

import contextlib
import os


@contextlib.contextmanager
def _stderr_silenced():
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_keras_quietly() -> None:
    """Import Keras and, on the TensorFlow backend, initialise its devices with stderr silenced."""
    with _stderr_silenced():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()
            tf.constant(0.0) + 1.0  # first op: CUDA probing happens here
