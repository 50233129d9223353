"""Objective evaluation of a generator on held-out pairs, beside baselines: spectral scores and musicality.

For each example of a split (:func:`vocals2song.pairs.crops.iterate_examples`: level-normalised voice, mixture and
accompaniment at the model rate) the generator's song is made with :func:`vocals2song.inference.vocals_to_song`.
Every system (the model and each of :data:`BASELINES`) gives an accompaniment; its song is the voice plus it.
Each is scored two ways:

- *spectral* (:mod:`vocals2song.evaluation.metrics`): the song against the reference mixture and the accompaniment against
  the reference accompaniment (LSD, MR-STFT, chroma, SI-SDR) — distances that a blurred average spectrum wins;
- *musicality* (:mod:`vocals2song.evaluation.musicality`): the accompaniment under the voice, with no reference — tonal
  clarity, harmonic fit, rhythm and their composite, co-modulation with the voice, and per system the set-level
  correlation of the examples' mean chroma (near 1 when a system plays the same pitches whatever the voice).

Baselines (:mod:`vocals2song.evaluation.baselines`; add one by adding a function to :data:`BASELINES`):

- ``vocals only``: silence (the floor any generator must beat);
- ``melody copy``: the voice an octave down — follows the tune, knows nothing of harmony or rhythm (a doubling:
  high co-modulation);
- ``other piece``: the true accompaniment of another piece (the latest example of a different piece in order;
  the first piece's examples take the second piece's first), fitted to this voice's length — real music, wrong
  piece (needs examples of two or more pieces: a corpus cuts several pairs from one piece);
- ``blur``: each STFT bin's time-average magnitude of the true accompaniment with random phase — its average
  spectrum and no music;
- ``plan band``: the plan the generator reads in B (chords and beats estimated from the voice, as
  ``vocals_to_song`` does by default) played by a General MIDI bass, piano and drums through the corpus renderer
  (:mod:`vocals2song.evaluation.band`), at the reference's level — a Songsmith-style accompaniment, the ceiling a plan-reading
  generator can aim at (absent when FluidSynth is not installed); for a styled corpus's pair, the arranger plays it
  in the pair's style, and a generator that reads styles plays the pair's style too;
- ``reference``: the true accompaniment (the ceiling of the spectral scores).

Means are over all examples and per collection (the first part of a corpus piece's name, its composer).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from vocals2song.evaluation import baselines
from vocals2song.pairs.examples import Example, iterate_examples
from vocals2song.errors import TrainingDataError
from vocals2song.inference import vocals_to_song
from vocals2song.evaluation.metrics import all_metrics
from vocals2song.evaluation.musicality import chord_tone_share, mean_chroma, musicality_features, set_chroma_correlation
from vocals2song.model.weights import SongGenerator, load_generator

Baseline = Callable[[Example, "Example | None", int, int], "np.ndarray | None"]


def _vocals_only(example: Example, other: Example | None, rate: int, seed: int) -> np.ndarray:
    return baselines.silence(example.voice)


def _melody_copy(example: Example, other: Example | None, rate: int, seed: int) -> np.ndarray:
    return baselines.melody_copy(example.voice, rate)


def _other_piece(example: Example, other: Example | None, rate: int, seed: int) -> np.ndarray | None:
    return None if other is None else baselines.fit_length(other.accompaniment, len(example.voice))


def _blur(example: Example, other: Example | None, rate: int, seed: int) -> np.ndarray:
    return baselines.blur(example.accompaniment, rate, seed=seed)


def _plan_band(example: Example, other: Example | None, rate: int, seed: int) -> np.ndarray | None:
    from vocals2song.evaluation.band import play_plan
    from vocals2song.errors import Vocals2SongError
    from vocals2song.plan.estimate import estimate_harmony

    try:
        band = play_plan(estimate_harmony(example.voice, rate), rate, len(example.voice), seed=seed,
                         style=example.style)  # fmt: skip
    except (ImportError, OSError, Vocals2SongError):  # no FluidSynth or soundfont here
        return None
    band_rms, reference_rms = float(np.sqrt(np.mean(band**2))), float(np.sqrt(np.mean(example.accompaniment**2)))
    return band * (reference_rms / band_rms) if band_rms > 0 else band


def _reference(example: Example, other: Example | None, rate: int, seed: int) -> np.ndarray:
    return example.accompaniment


# name → function(example, other piece's example or None, sample rate, seed) → accompaniment (None: not available)
BASELINES: dict[str, Baseline] = {
    "vocals only": _vocals_only,
    "melody copy": _melody_copy,
    "other piece": _other_piece,
    "blur": _blur,
    "plan band": _plan_band,
    "reference": _reference,
}
SYSTEMS = ("model", *BASELINES)  # as shipped; evaluate() reads BASELINES when it runs
PARTS = ("song", "accompaniment")
METRICS = (("lsd_db", "LSD dB ↓"), ("mr_stft", "MR-STFT ↓"), ("chroma", "chroma ↑"), ("si_sdr_db", "SI-SDR dB ↑"))
MUSICALITY_COLUMNS = (("composite", "composite ↑"), ("tonal", "tonal ↑"), ("fit", "fit ↑"), ("rhythm", "rhythm ↑"),
                      ("comodulation", "co-modulation"), ("harmonic_change", "harmonic change"),
                      ("pitch_range", "pitch range st"), ("level_db", "level dB"),
                      ("chord_tone_share", "chord-tone share"))  # fmt: skip
DEFAULT_PICTURES = 4
PLAN_SOURCES = ("estimated", "true", "none")
PLAN_NOTES = {"estimated": ", plan read from the voice", "true": ", the true plan where the corpus has one",
              "none": ", B channel at 0 (no plan)"}


def evaluate(
    weights: str | os.PathLike | SongGenerator,
    data: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    split: str = "validation",
    seconds: float | None = 15.0,
    max_pieces: int | None = None,
    per_piece: int | None = None,
    mode: str = "mixture",
    phase: str = "predicted",
    seed: int = 0,
    out_json: str | os.PathLike | None = None,
    pictures: str | os.PathLike | None = None,
    max_pictures: int = DEFAULT_PICTURES,
    plan: str = "estimated",
) -> dict:
    """Score a generator and the baselines on the examples of one split.

    Args:
        weights: a weights directory (or hub id) for :func:`load_generator`, or a loaded :class:`SongGenerator`.
        data: one or more data sources (corpus dir, MUSDB root, pairs folder).
        split: "train", "validation" or "test".
        seconds: audio per example (from the first audible vocals); None for whole pairs.
        max_pieces: stop after this many examples.
        per_piece: score at most this many examples (excerpts) of each piece; None: all.
        mode, phase, seed: passed to :func:`vocals_to_song` (the seed also seeds the blur's random phase).
        out_json: where to write the result as JSON too.
        pictures: a folder for voice | generated accompaniment | reference spectrogram PNGs of the first
            ``max_pictures`` examples (:mod:`vocals2song.evaluation.pictures`).
        plan: what a plan-reading generator gets in B: ``"estimated"``, the plan read from the voice (as the app
            does); ``"true"``, the pair's true plan where the corpus records one (else the estimated one: what the
            generator makes of a perfect estimator); ``"none"``, B = 0 (the hint ablation). Generators without a
            plan input ignore it.
    Returns:
        ``{"weights", "data", "split", "seconds", "mode", "phase", "seed", "sample_rate", "systems",
        "pieces": [{"name", "collection", "seconds", "style", "scores": {system: {part: {metric: value}}},
        "musicality": {system: {feature: value}}}], "mean": {system: {part: {metric: value}}},
        "musicality": {system: {feature: mean}}, "set_chroma_correlation": {system: value, None for one example},
        "collections": {collection: {"examples", "mean", "musicality"}}, "pictures": [paths], "notes": [...]}``
        with metrics ``lsd_db``, ``mr_stft``, ``chroma``, ``si_sdr_db`` and the features of
        :func:`vocals2song.evaluation.musicality.musicality_features`.
    Raises:
        TrainingDataError: unusable data or no usable example in the split. WeightsError: unloadable weights.
    """
    if plan not in PLAN_SOURCES:
        raise ValueError(f"plan must be one of {', '.join(PLAN_SOURCES)}, not {plan!r}")
    model = weights if isinstance(weights, SongGenerator) else load_generator(weights)
    sources = [str(data)] if isinstance(data, (str, os.PathLike)) else [str(path) for path in data]
    rate = model.config.spectrogram.sample_rate
    pieces: list[dict] = []
    chromas: dict[str, list[np.ndarray]] = {}
    pictured: list[str] = []

    def score(example: Example, other: Example | None) -> None:
        picture = None
        if pictures is not None and len(pictured) < max_pictures:
            picture = Path(pictures) / f"{len(pictured):02d}-{_file_name(example.name)}.png"
            pictured.append(str(picture))
        piece, accompaniments = _score_example(example, other, model, rate, mode, phase, seed, picture, plan)
        pieces.append(piece)
        for system, accompaniment in accompaniments.items():
            chromas.setdefault(system, []).append(mean_chroma(accompaniment, rate))

    waiting: list[Example] = []  # the first piece's examples, scored once another piece has been read
    previous: Example | None = None
    other: Example | None = None  # the latest example of a piece other than the current one
    taken: dict[str, int] = {}
    for example in iterate_examples(sources, model.config, split=split, seconds=seconds):
        if max_pieces is not None and sum(taken.values()) >= max_pieces:
            break
        if per_piece is not None and taken.get(example.piece, 0) >= per_piece:
            continue
        taken[example.piece] = taken.get(example.piece, 0) + 1
        if previous is not None and previous.piece != example.piece:
            other = previous
        previous = example
        if other is None:
            waiting.append(example)
            continue
        for held in waiting:
            score(held, example)
        waiting = []
        score(example, other)
    for held in waiting:  # every example came from one piece: no "other piece" baseline
        score(held, None)
    if not pieces:
        raise TrainingDataError(f"No example with an audible voice in the {split!r} split of {', '.join(sources)}.")

    systems = [system for system in ("model", *BASELINES) if all(system in piece["scores"] for piece in pieces)]
    collections = {}
    for collection in sorted({piece["collection"] for piece in pieces}):
        members = [piece for piece in pieces if piece["collection"] == collection]
        collections[collection] = {"examples": len(members), **_means(members, systems)}
    notes = [] if "other piece" in systems else ["'other piece' needs examples of two pieces and was left out."]
    result = {
        "weights": str(model.source),
        "data": sources,
        "split": split,
        "seconds": seconds,
        "mode": mode,
        "phase": phase,
        "seed": seed,
        "plan": plan if model.config.uses_plan else None,
        "sample_rate": rate,
        "systems": systems,
        "pieces": pieces,
        **_means(pieces, systems),
        "set_chroma_correlation": {
            system: set_chroma_correlation(chromas[system]) if len(pieces) > 1 else None for system in systems
        },
        "collections": collections,
        "pictures": pictured,
        "notes": notes,
    }
    if out_json is not None:
        path = Path(out_json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def _means(pieces: list[dict], systems: list[str]) -> dict:
    """``{"mean": {system: {part: {metric: mean}}}, "musicality": {system: {feature: mean}}}`` over ``pieces``."""
    features = list(pieces[0]["musicality"][systems[0]])
    return {
        "mean": {system: {part: {name: float(np.mean([piece["scores"][system][part][name] for piece in pieces]))
                                 for name, _ in METRICS} for part in PARTS} for system in systems},
        "musicality": {system: {name: _mean_known([piece["musicality"][system][name] for piece in pieces])
                                for name in features} for system in systems},
    }  # fmt: skip


def _mean_known(values: list[float | None]) -> float | None:
    """The mean of the values that are known (a chord-tone share needs a true plan); None if none is."""
    known = [value for value in values if value is not None]
    return float(np.mean(known)) if known else None


def _file_name(name: str) -> str:
    return "".join(character if character.isalnum() or character in "-_." else "_" for character in name)


def collection_of(piece: str) -> str:
    """The collection of a piece name: its first path part for a corpus piece (``"bach/bwv66.6"`` → ``"bach"``),
    else ``"all"``."""
    return piece.split("/", 1)[0] if "/" in piece else "all"


def _score_example(
    example: Example,
    other: Example | None,
    model: SongGenerator,
    rate: int,
    mode: str,
    phase: str,
    seed: int,
    picture: Path | None,
    plan: str = "estimated",
) -> tuple[dict, dict[str, np.ndarray]]:
    """One example's scores (``{"name", "collection", "seconds", "style", "scores", "musicality"}``; style: what
    the generator played, the pair's own where it plays it) and each system's accompaniment."""
    voice = example.voice
    harmony = {"estimated": "auto", "none": None, "true": example.harmony or "auto"}[plan]
    style = example.style if example.style in model.config.styles else None  # the pair's, where the model plays it
    generated = vocals_to_song(voice, rate, model, mode=mode, phase=phase, seed=seed, harmony=harmony, style=style)
    # vocals_to_song scales its outputs together to keep peaks below 1; undo that to compare at the data's level.
    limit_gain = float(np.max(np.abs(generated.voice))) / float(np.max(np.abs(voice)))
    songs = {"model": generated.song / limit_gain}
    accompaniments = {"model": generated.accompaniment / limit_gain}
    for name, make in BASELINES.items():
        accompaniment = make(example, other, rate, seed)
        if accompaniment is not None:
            accompaniments[name] = np.asarray(accompaniment, dtype=np.float32)
            songs[name] = voice + accompaniments[name]
    songs["reference"] = example.mixture
    scores = {
        system: {
            "song": all_metrics(example.mixture, songs[system], rate),
            "accompaniment": all_metrics(example.accompaniment, accompaniments[system], rate),
        }
        for system in accompaniments
    }
    musicality = {system: musicality_features(voice, audio, rate) for system, audio in accompaniments.items()}
    for system, audio in accompaniments.items():  # with the pair's true chords (a format 2 corpus) only
        musicality[system]["chord_tone_share"] = (
            None if example.harmony is None else chord_tone_share(audio, example.harmony, rate))
    if picture is not None:
        from vocals2song.evaluation.pictures import save_spectrogram_panels

        panels = [("voice", voice), (f"generated accompaniment ({musicality['model']['composite']:.2f})",
                                     accompaniments["model"]),
                  (f"reference ({musicality['reference']['composite']:.2f})", example.accompaniment)]  # fmt: skip
        save_spectrogram_panels(picture, panels, rate, title=f"{example.name} — musicality composite in brackets")
    piece = {"name": example.name, "collection": collection_of(example.piece), "seconds": round(len(voice) / rate, 3),
             "style": generated.style, "scores": scores, "musicality": musicality}  # fmt: skip
    return piece, accompaniments


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def format_table(result: dict) -> str:
    """The mean spectral scores as a Markdown table: one row per system, song and accompaniment metrics as columns."""
    header = ["system"] + [f"song {label}" for _, label in METRICS] + [f"accomp. {label}" for _, label in METRICS]
    lines = [_row(header), "|" + "---|" * len(header)]
    for system in result["systems"]:
        cells = [system]
        for part in PARTS:
            cells += [format_score(name, result["mean"][system][part][name]) for name, _ in METRICS]
        lines.append(_row(cells))
    footer = (f"\n{len(result['pieces'])} example(s) of the {result['split']!r} split, "
              f"{result['seconds'] or 'whole'} s each, mode {result['mode']!r}, phase {result.get('phase', 'predicted')!r}, "
              f"seed {result['seed']}"
              + PLAN_NOTES.get(result.get("plan"), "")
              + ".")  # fmt: skip
    notes = "".join(f"\nNote: {note}" for note in result.get("notes", []))
    return "\n".join(lines) + footer + notes


def format_musicality_table(result: dict) -> str:
    """The mean musicality of each system's accompaniment as Markdown, with the set-level chroma correlation,
    then the composite per collection."""
    header = ["system"] + [label for _, label in MUSICALITY_COLUMNS] + ["set chroma corr."]
    lines = [_row(header), "|" + "---|" * len(header)]
    for system in result["systems"]:
        values = result["musicality"][system]
        lines.append(_row([system] + [format_score(name, values[name]) for name, _ in MUSICALITY_COLUMNS]
                          + [_optional(result["set_chroma_correlation"][system])]))  # fmt: skip
    collections = result["collections"]
    lines += ["", _row(["collection", "examples"] + [f"{system} composite" for system in result["systems"]]),
              "|" + "---|" * (len(result["systems"]) + 2)]  # fmt: skip
    for collection, summary in collections.items():
        lines.append(_row([collection, str(summary["examples"])]
                          + [f"{summary['musicality'][system]['composite']:.2f}" for system in result["systems"]]))  # fmt: skip
    footer = ("\n\nMusicality of each accompaniment under the voice, no reference needed (vocals2song.evaluation.musicality): "
              "tonal clarity, harmonic fit and rhythm, each 0 at chance and 1 at full; composite = their mean. "
              "Co-modulation near 1 = a doubling of the voice; set chroma corr. near 1 = the same pitches whatever the voice; "
              "chord-tone share = share of the pitch-class energy on the true chord's tones (— without a true plan).")  # fmt: skip
    return "\n".join(lines) + footer


def _optional(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def format_score(name: str, value: float | None) -> str:
    """One score as the tables print it (3 decimals for chroma and MR-STFT, 1 for dB levels and ranges, else 2;
    "—" for an unknown one)."""
    if value is None:
        return "—"
    if name in ("chroma", "mr_stft"):
        return f"{value:.3f}"
    if name in ("level_db", "pitch_range"):
        return f"{value:.1f}"
    return f"{value:.2f}"
