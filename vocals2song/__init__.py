"""Vocals2Song: sing or speak, get a song back (pix2pix on R/G spectrogram images).

Public API: :func:`vocals_to_song`, :func:`load_generator`, :func:`load_audio`, :class:`Vocals2SongError`, and the
plan: :class:`Harmony`, :func:`estimate_harmony`, :func:`render_plan`, :func:`write_midi`.
Names are imported lazily so that ``vocals2song --help`` and the codec do not pay for importing Keras.
"""

import importlib
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
_PUBLIC = {
    "load_audio": "audio",
    "Harmony": "harmony",
    "estimate_harmony": "harmony",
    "render_plan": "plan",
    "write_midi": "midi",
    "Vocals2SongError": "errors",
    "SongResult": "inference",
    "vocals_to_song": "inference",
    "SongGenerator": "weights",
    "load_generator": "weights",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
