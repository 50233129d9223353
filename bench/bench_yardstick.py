"""The shared yardstick on generators beside the plan band: the same voices, the same plans, the same styles.

For the pairs of a styled corpus's split (up to ``--per-style`` of each style, from different pieces) and for extra
voices (``--voices``: real recordings, each played in every ``--voice-styles`` style), every weights directory makes
the accompaniment the app makes (:func:`vocals2song.vocals_to_song`: the plan read from the voice, accompaniment
mode, seed 0) in the pair's style when the generator plays styles (its default style otherwise); ``--no-plan`` adds
each generator with B = 0 (no plan drawn). The plan band (:func:`vocals2song.evaluation.band.play_plan` with
``style=``) plays the plan the generators were given, in the same style. Everything is scored in one run of the
shared ``evaluate.py`` (voice against accompaniment) and ``planfollow.py`` (accompaniment against that plan).

Prints one Markdown table: per system, over the corpus pairs and over the extra voices, the mean musicality with its
parts (the scores evaluate.py names) and plan fidelity; then musicality / chord_tone / top_on_plan per style. ``--pictures DIR`` writes
voice | generated | plan band spectrograms (one PNG per generator) for the first pair of each style and each voice.

Usage:
    PY=$(../shared/musicality/setup.sh)
    python bench/bench_yardstick.py WEIGHTS_DIR [WEIGHTS_DIR ...] --data CORPUS --yardstick-python "$PY"
        [--split validation] [--per-style 10] [--seconds 15] [--voices WAV ...] [--voice-styles pop folk]
        [--no-plan] [--pictures DIR] [--keep DIR] [--yardstick ../shared/musicality]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vocals2song.backend import import_keras_quietly  # noqa: E402

import_keras_quietly()

from vocals2song.audio import load_audio  # noqa: E402
from vocals2song.corpus.build import load_manifest  # noqa: E402
from vocals2song.evaluation.band import play_plan  # noqa: E402
from vocals2song.inference import vocals_to_song  # noqa: E402
from vocals2song.model.weights import load_generator  # noqa: E402
from vocals2song.plan.style import STYLES  # noqa: E402

from bench_styled_corpus import score  # noqa: E402  (runs evaluate.py and planfollow.py on the two lists)

COLUMNS = ("musicality", "chord_tone", "consonance", "key_corr", "beat_conf", "peak_share", "tone_share", "top_on_plan",
           "voice_spec_corr", "acc_to_voice_db")
BAND = "plan band, same plan and style"


def choose_pairs(corpus: Path, split: str, per_style: int) -> list[dict]:
    """Up to ``per_style`` pairs of each style of ``split``, one per piece, spread over the manifest."""
    manifest = load_manifest(corpus)
    by_style: dict[str, list[dict]] = defaultdict(list)
    pieces = set()
    for pair in manifest["pairs"]:
        if pair["split"] == split and pair.get("style") and pair["piece"] not in pieces:
            by_style[pair["style"]].append(pair)
            pieces.add(pair["piece"])
    chosen = []
    for style in sorted(by_style, key=STYLES.index):
        candidates = by_style[style]
        picks = np.linspace(0, len(candidates) - 1, min(per_style, len(candidates))).round().astype(int)
        chosen += [candidates[index] for index in dict.fromkeys(picks)]
    return chosen


def label_of(weights: Path) -> str:
    return "/".join(weights.resolve().parts[-2:]) if weights.name.startswith("step-") else weights.name


def prepare(args, folder: Path) -> list[tuple[str, str, str, str]]:
    """Make and write every accompaniment; returns (example id, system, source, style) for each."""
    items = []  # (name, voice, rate, style, source)
    if args.data is not None:
        for pair in choose_pairs(args.data, args.split, args.per_style):
            voice, rate = soundfile.read(args.data / pair["vocals"], dtype="float32")
            items.append((pair["id"], voice[:int(args.seconds * rate)], rate, pair["style"], "corpus"))
    for path in args.voices or []:
        audio = load_audio(path, max_seconds=args.seconds)
        for style in args.voice_styles:
            items.append((f"{path.stem}-{style}", audio.samples, audio.sample_rate, style, "voices"))
    models = [(label_of(weights), load_generator(weights)) for weights in args.weights]
    examples, evaluate_rows, follow_rows = [], [], []
    for name, voice, rate, style, source in items:
        voice_path = folder / f"{name}.voice.wav"
        soundfile.write(voice_path, voice, rate)
        plan, length = None, None
        for label, model in models:
            chosen_style = style if style in model.config.styles else None
            systems = [(label, "auto")] + ([(f"{label}, B = 0", None)] if args.no_plan else [])
            for system, harmony in systems:
                result = vocals_to_song(voice, rate, model, mode="accompaniment", seed=0, harmony=harmony,
                                        style=chosen_style)
                if harmony == "auto" and plan is None:
                    plan, out_rate, length = result.harmony, result.sample_rate, len(result.accompaniment)
                    plan_path = folder / f"{name}.plan.json"
                    plan_path.write_text(json.dumps(plan.to_dict()), encoding="utf-8")
                examples.append(_write(folder, name, system, source, style, result.accompaniment, result.sample_rate,
                                       voice_path, folder / f"{name}.plan.json", evaluate_rows, follow_rows))
        band = play_plan(plan, out_rate, length, style=style)
        examples.append(_write(folder, name, BAND, source, style, band, out_rate, voice_path,
                               folder / f"{name}.plan.json", evaluate_rows, follow_rows))
    (folder / "evaluate.tsv").write_text("\n".join(evaluate_rows) + "\n", encoding="utf-8")
    (folder / "follow.tsv").write_text("\n".join(follow_rows) + "\n", encoding="utf-8")
    return examples


def _write(folder, name, system, source, style, audio, rate, voice_path, plan_path, evaluate_rows, follow_rows):
    path = folder / f"{name}.{_slug(system)}.wav"
    soundfile.write(path, audio, rate)
    example = f"{system}|{source}|{style}|{name}"
    evaluate_rows.append(f"{example}\t{voice_path}\t{path}")
    follow_rows.append(f"{example}\t{path}\t{plan_path}")
    return example, system, source, style


def tables(examples, scores) -> str:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    systems = list(dict.fromkeys(system for _, system, _, _ in examples))
    for example, system, source, style in examples:
        groups[(system, source)].append(scores.get(example, {}))
        groups[(system, source, style)].append(scores.get(example, {}))

    def mean(rows, name):
        values = [row[name] for row in rows if name in row]
        return f"{np.mean(values):.2f}" if values else "–"

    lines = ["| system | voices | n | " + " | ".join(COLUMNS) + " |", "|---|---|---:|" + "---:|" * len(COLUMNS)]
    for source in ("corpus", "voices"):
        for system in systems:
            rows = groups.get((system, source))
            if rows:
                lines.append(f"| {system} | {source} | {len(rows)} | " +
                             " | ".join(mean(rows, name) for name in COLUMNS) + " |")
    styles = [style for style in STYLES if any(key[2:] == (style,) for key in groups if len(key) == 3)]
    lines += ["", "Per style (corpus pairs): musicality / chord_tone / top_on_plan", "",
              "| system | " + " | ".join(styles) + " |", "|---|" + "---|" * len(styles)]
    for system in systems:
        cells = []
        for style in styles:
            rows = groups.get((system, "corpus", style))
            cells.append(" / ".join(mean(rows, name) for name in ("musicality", "chord_tone", "top_on_plan"))
                         if rows else "–")
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def pictures(examples, folder: Path, out: Path) -> None:
    """voice | generated | plan band, one PNG per generator, for the first example of each style of the corpus pairs
    and for every extra voice."""
    from vocals2song.audio import resample
    from vocals2song.evaluation.pictures import save_spectrogram_panels

    shown, names = set(), []
    for example, system, source, style in examples:
        name = example.rsplit("|", 1)[1]
        if name not in names and (source == "voices" or (source, style) not in shown):
            shown.add((source, style))
            names.append(name)
    for name in names:
        band_audio, rate = soundfile.read(folder / f"{name}.{_slug(BAND)}.wav", dtype="float32")
        voice, voice_rate = soundfile.read(folder / f"{name}.voice.wav", dtype="float32")
        voice = resample(voice, voice_rate, rate)
        for example, system, _, style in examples:
            if system == BAND or not example.endswith(f"|{name}"):
                continue
            generated, _ = soundfile.read(folder / f"{name}.{_slug(system)}.wav", dtype="float32")
            save_spectrogram_panels(out / f"{name}.{_slug(system)}.png",
                                    [("voice", voice), (system, generated), ("plan band", band_audio)], rate,
                                    title=f"{name}: {style}")


def _slug(system: str) -> str:
    return "".join(character if character.isalnum() else "-" for character in system)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", nargs="+", type=Path)
    parser.add_argument("--data", type=Path, help="a styled corpus (vocals2song corpus --styles ...)")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--per-style", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--voices", nargs="+", type=Path)
    parser.add_argument("--voice-styles", nargs="+", default=["pop"], choices=STYLES)
    parser.add_argument("--no-plan", action="store_true", help="also each generator with B = 0")
    parser.add_argument("--pictures", type=Path)
    parser.add_argument("--keep", type=Path, help="keep the written audio and scores in this folder")
    parser.add_argument("--yardstick-python", required=True, help="the python of ../shared/musicality/setup.sh")
    parser.add_argument("--yardstick", type=Path, default=ROOT / ".." / "shared" / "musicality")
    args = parser.parse_args()
    if args.data is None and not args.voices:
        sys.exit("bench_yardstick: give --data CORPUS, --voices WAV ..., or both.")
    with tempfile.TemporaryDirectory() as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        examples = prepare(args, folder)
        print(tables(examples, score(folder, args.yardstick_python, args.yardstick)))
        if args.pictures:
            pictures(examples, folder, args.pictures)


if __name__ == "__main__":
    main()
