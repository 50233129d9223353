"""Vocals2Song: sing or speak, get a song back (pix2pix on R/G spectrogram images).

Public API: :func:`vocals_to_song`, :func:`load_generator`, :func:`load_audio`, :class:`Vocals2SongError`, and the
plan: :class:`Harmony`, :class:`PlanControls`, :func:`estimate_harmony`, :func:`render_plan`, :func:`write_midi`.

The package has one folder per concern: ``codec/`` (audio ↔ images), ``plan/`` (the song's plan), ``model/``
(networks and weights), ``web/`` (the demo's handler and helpers), ``corpus/`` (rendering training pairs),
``pairs/`` (reading them), ``training/`` and ``evaluation/``. ``inference.py`` is the one door from a voice to a
song; the runtime never imports corpus, pairs, training or evaluation.
Names are imported lazily so that ``vocals2song --help`` and the codec do not pay for importing Keras.
"""

import importlib
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
_PUBLIC = {
    "load_audio": "audio",
    "Harmony": "plan.harmony",
    "PlanControls": "plan.controls",
    "estimate_harmony": "plan.estimate",
    "render_plan": "plan.channel",
    "write_midi": "plan.midi",
    "Vocals2SongError": "errors",
    "SongResult": "inference",
    "vocals_to_song": "inference",
    "SongGenerator": "model.weights",
    "load_generator": "model.weights",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
