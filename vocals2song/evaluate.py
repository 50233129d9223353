"""Objective evaluation of a generator on held-out pairs, beside baselines, as a dict, JSON and a Markdown table.

For each example of a split (:func:`vocals2song.data.iterate_examples`: level-normalised voice, mixture and
accompaniment at the model rate) the generator's song is made with :func:`vocals2song.inference.vocals_to_song`
and scored with :mod:`vocals2song.metrics` — the song against the reference mixture, the accompaniment (the
song without the voice) against the reference accompaniment. Baselines, scored the same way:

- ``vocals only``: song = the voice, accompaniment = silence (the floor any generator must beat);
- ``melody copy``: the accompaniment is the voice transposed down an octave (librosa's phase-vocoder pitch
  shift, −12 semitones, so the timing stays aligned), song = voice + that — music that follows the tune but
  knows nothing of harmony or rhythm;
- ``other piece``: the true accompaniment of another piece (the latest example of a different piece in
  order; the first piece's examples take the second piece's first), fitted to this voice's length — real
  music, wrong piece (needs examples of two or more pieces: a corpus cuts several pairs from one piece);
- ``reference``: the true mixture and accompaniment (the ceiling: LSD 0, MR-STFT 0, chroma 1, SI-SDR 100 dB).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

import librosa
import numpy as np

from .data import Example, iterate_examples
from .errors import TrainingDataError
from .inference import vocals_to_song
from .metrics import all_metrics
from .weights import SongGenerator, load_generator

SYSTEMS = ("model", "vocals only", "melody copy", "other piece", "reference")
PARTS = ("song", "accompaniment")
METRICS = (("lsd_db", "LSD dB ↓"), ("mr_stft", "MR-STFT ↓"), ("chroma", "chroma ↑"), ("si_sdr_db", "SI-SDR dB ↑"))
MELODY_COPY_SEMITONES = -12


def evaluate(
    weights: str | os.PathLike | SongGenerator,
    data: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    split: str = "validation",
    seconds: float | None = 15.0,
    max_pieces: int | None = None,
    mode: str = "mixture",
    phase: str = "predicted",
    seed: int = 0,
    out_json: str | os.PathLike | None = None,
) -> dict:
    """Score a generator and the baselines on the examples of one split.

    Args:
        weights: a weights directory (or hub id) for :func:`load_generator`, or a loaded :class:`SongGenerator`.
        data: one or more data sources (corpus dir, MUSDB root, pairs folder).
        split: "train", "validation" or "test".
        seconds: audio per example (from the first audible vocals); None for whole pairs.
        max_pieces: stop after this many examples.
        mode, phase, seed: passed to :func:`vocals_to_song`.
        out_json: where to write the result as JSON too.
    Returns:
        ``{"weights", "data", "split", "seconds", "mode", "seed", "sample_rate", "systems", "pieces": [{"name",
        "seconds", "scores": {system: {part: {metric: value}}}}], "mean": {system: {part: {metric: value}}},
        "notes": [...]}`` with metrics ``lsd_db``, ``mr_stft``, ``chroma``, ``si_sdr_db``.
    Raises:
        TrainingDataError: unusable data or no usable example in the split. WeightsError: unloadable weights.
    """
    model = weights if isinstance(weights, SongGenerator) else load_generator(weights)
    sources = [str(data)] if isinstance(data, (str, os.PathLike)) else [str(path) for path in data]
    rate = model.config.spectrogram.sample_rate
    pieces = []
    waiting: list[Example] = []  # the first piece's examples, scored once another piece has been read
    previous: Example | None = None
    other: Example | None = None  # the latest example of a piece other than the current one
    for count, example in enumerate(iterate_examples(sources, model.config, split=split, seconds=seconds)):
        if max_pieces is not None and count >= max_pieces:
            break
        if previous is not None and previous.piece != example.piece:
            other = previous
        previous = example
        if other is None:
            waiting.append(example)
            continue
        for held in waiting:
            pieces.append(_score_example(held, example, model, rate, mode, phase, seed))
        waiting = []
        pieces.append(_score_example(example, other, model, rate, mode, phase, seed))
    for held in waiting:  # every example came from one piece: no "other piece" baseline
        pieces.append(_score_example(held, None, model, rate, mode, phase, seed))
    if not pieces:
        raise TrainingDataError(f"No example with an audible voice in the {split!r} split of {', '.join(sources)}.")

    systems = [system for system in SYSTEMS if all(system in piece["scores"] for piece in pieces)]
    mean = {system: {part: {name: float(np.mean([piece["scores"][system][part][name] for piece in pieces]))
                            for name, _ in METRICS} for part in PARTS} for system in systems}  # fmt: skip
    notes = [] if "other piece" in systems else ["'other piece' needs examples of two pieces and was left out."]
    result = {
        "weights": str(model.source),
        "data": sources,
        "split": split,
        "seconds": seconds,
        "mode": mode,
        "phase": phase,
        "seed": seed,
        "sample_rate": rate,
        "systems": systems,
        "pieces": pieces,
        "mean": mean,
        "notes": notes,
    }
    if out_json is not None:
        path = Path(out_json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def _score_example(
    example: Example, other: Example | None, model: SongGenerator, rate: int, mode: str, phase: str, seed: int
) -> dict:
    voice = example.voice
    generated = vocals_to_song(voice, rate, model, mode=mode, phase=phase, seed=seed)
    # vocals_to_song scales its outputs together to keep peaks below 1; undo that to compare at the data's level.
    limit_gain = float(np.max(np.abs(generated.voice))) / float(np.max(np.abs(voice)))
    candidates = {
        "model": (generated.song / limit_gain, generated.accompaniment / limit_gain),
        "vocals only": (voice, np.zeros_like(voice)),
        "reference": (example.mixture, example.accompaniment),
    }
    melody = librosa.effects.pitch_shift(voice, sr=rate, n_steps=MELODY_COPY_SEMITONES).astype(np.float32)
    candidates["melody copy"] = (voice + melody, melody)
    if other is not None:
        borrowed = np.resize(other.accompaniment, len(voice)).astype(np.float32)  # cut or repeated to fit
        candidates["other piece"] = (voice + borrowed, borrowed)
    scores = {
        system: {
            "song": all_metrics(example.mixture, song, rate),
            "accompaniment": all_metrics(example.accompaniment, accompaniment, rate),
        }
        for system, (song, accompaniment) in candidates.items()
    }
    return {"name": example.name, "seconds": round(len(voice) / rate, 3), "scores": scores}


def format_table(result: dict) -> str:
    """The mean scores as a Markdown table: one row per system, song and accompaniment metrics as columns."""
    header = ["system"] + [f"song {label}" for _, label in METRICS] + [f"accomp. {label}" for _, label in METRICS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for system in result["systems"]:
        cells = [system]
        for part in PARTS:
            cells += [format_score(name, result["mean"][system][part][name]) for name, _ in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    footer = (f"\n{len(result['pieces'])} example(s) of the {result['split']!r} split, "
              f"{result['seconds'] or 'whole'} s each, mode {result['mode']!r}, phase {result.get('phase', 'predicted')!r}, "
              f"seed {result['seed']}.")  # fmt: skip
    notes = "".join(f"\nNote: {note}" for note in result.get("notes", []))
    return "\n".join(lines) + footer + notes


def format_score(name: str, value: float) -> str:
    """One metric's value as the tables print it (3 decimals for chroma and MR-STFT, else 2)."""
    return f"{value:.3f}" if name in ("chroma", "mr_stft") else f"{value:.2f}"
