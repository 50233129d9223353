"""Check a styled corpus before training on it: per style, the shared yardstick on its pairs beside the plan band.

For up to ``--per-style`` pairs of each style in a corpus built with ``vocals2song corpus --styles ...``, spread
evenly through the corpus's pairs of that style (so a sample holds many pieces and both sources), the pair's
accompaniment is scored against its voice with the shared musicality yardstick (``evaluate.py``) and against the plan
recorded with the pair (``planfollow.py``); the same voice and plan played by the plan band
(:func:`vocals2song.evaluation.band.play_plan`) are scored in the same run. Prints one table: per style (and over all
styles, and over the generated songs and over the scores' pieces), musicality, chord_tone, key_corr, beat_conf,
tone_share, top_on_plan and the accompaniment's level against the voice (acc_to_voice_db).

Usage:
    PY=$(../shared/musicality/setup.sh)
    python bench/bench_styled_corpus.py CORPUS --yardstick-python "$PY" [--per-style 100] [--seconds 15]
        [--yardstick ../shared/musicality] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile

from vocals2song.corpus.build import load_manifest
from vocals2song.corpus.songs import SONG_COLLECTION
from vocals2song.evaluation.band import play_plan
from vocals2song.plan.harmony import Harmony
from vocals2song.plan.style import STYLES

SOURCE_ROWS = {"songs": "all: generated songs", "scores": "all: scores' pieces"}
COLUMNS = ("musicality", "chord_tone", "key_corr", "beat_conf", "tone_share", "top_on_plan", "acc_to_voice_db")


def prepare(corpus: Path, per_style: int, seconds: float, folder: Path) -> list[tuple[str, str]]:
    """Write each chosen pair's voice, accompaniment, band and plan (cut to ``seconds``) and the two list files;
    returns the (example id, style) pairs."""
    manifest = load_manifest(corpus)
    by_style: dict[str, list[dict]] = defaultdict(list)
    for pair in manifest["pairs"]:
        if pair.get("style") is not None:
            by_style[pair["style"]].append(pair)
    chosen = {style: [pairs[index] for index in sorted(set(np.linspace(0, len(pairs) - 1, per_style).astype(int)))]
              for style, pairs in by_style.items()}
    if not chosen:
        sys.exit(f"bench_styled_corpus: {corpus} holds no styled pairs (build it with --styles).")
    evaluate_rows, follow_rows, examples = [], [], []
    for style in sorted(chosen, key=STYLES.index):
        for pair in chosen[style]:
            voice, rate = soundfile.read(corpus / pair["vocals"], dtype="float32")
            accompaniment, _ = soundfile.read(corpus / pair["accompaniment"], dtype="float32")
            length = min(len(voice), int(seconds * rate))
            harmony = Harmony.from_dict(pair["harmony"]).window(0.0, length / rate)
            band = play_plan(harmony, rate, length)
            source = "songs" if pair.get("composer") == SONG_COLLECTION else "scores"
            voice_path, plan_path = folder / f"{pair['id']}.voice.wav", folder / f"{pair['id']}.plan.json"
            soundfile.write(voice_path, voice[:length], rate)
            plan_path.write_text(json.dumps(harmony.to_dict()), encoding="utf-8")
            for system, audio in (("pair", accompaniment[:length]), ("band", band)):
                example = f"{style}|{system}|{source}|{pair['id']}"
                path = folder / f"{pair['id']}.{system}.wav"
                soundfile.write(path, audio, rate)
                evaluate_rows.append(f"{example}\t{voice_path}\t{path}")
                follow_rows.append(f"{example}\t{path}\t{plan_path}")
                examples.append((example, style))
    (folder / "evaluate.tsv").write_text("\n".join(evaluate_rows) + "\n", encoding="utf-8")
    (folder / "follow.tsv").write_text("\n".join(follow_rows) + "\n", encoding="utf-8")
    return examples


def score(folder: Path, python: str, yardstick: Path) -> dict[str, dict[str, float]]:
    """Run evaluate.py and planfollow.py on the lists; example id → every score."""
    for script, listing, output in (("evaluate.py", "evaluate.tsv", "evaluate.json"),
                                    ("planfollow.py", "follow.tsv", "follow.json")):
        subprocess.run([python, str(yardstick / script), "--list", str(folder / listing), "--json",
                        str(folder / output)], check=True, stdout=subprocess.DEVNULL)
    scores: dict[str, dict[str, float]] = defaultdict(dict)
    evaluated = json.loads((folder / "evaluate.json").read_text(encoding="utf-8"))  # {"examples": [{"id": ...}]}
    followed = json.loads((folder / "follow.json").read_text(encoding="utf-8"))    # {list: {"examples": {id: ...}}}
    rows = [dict(row) for row in evaluated["examples"]]
    rows += [{"id": example, **values} for block in followed.values() for example, values in block["examples"].items()]
    for row in rows:
        scores[row.pop("id")].update({name: value for name, value in row.items() if isinstance(value, (int, float))})
    return scores


def table(scores: dict[str, dict[str, float]]) -> str:
    groups: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(list)
    for example, values in scores.items():
        style, system, source, _ = example.split("|", 3)
        groups[(style, system)].append(values)
        groups[("all styles", system)].append(values)
        groups[(SOURCE_ROWS[source], system)].append(values)
    lines = ["| style | played by | pairs | " + " | ".join(COLUMNS) + " |", "|---|---|---:|" + "---:|" * len(COLUMNS)]
    order = [style for style in STYLES if (style, "pair") in groups] + ["all styles"]
    order += [row for row in SOURCE_ROWS.values() if (row, "pair") in groups]
    for style in order:
        for system, label in (("pair", "the corpus's arrangement"), ("band", "plan band, same plan")):
            rows = groups.get((style, system), [])
            means = [np.mean([row[name] for row in rows if name in row]) if rows else float("nan")
                     for name in COLUMNS]
            lines.append(f"| {style} | {label} | {len(rows)} | " + " | ".join(f"{value:.2f}" for value in means) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--yardstick-python", required=True, help="the python of ../shared/musicality/setup.sh")
    parser.add_argument("--yardstick", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" /
                        "musicality")
    parser.add_argument("--per-style", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--keep", type=Path, help="keep the written audio and scores in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        prepare(args.corpus, args.per_style, args.seconds, folder)
        print(table(score(folder, args.yardstick_python, args.yardstick)))


if __name__ == "__main__":
    main()
