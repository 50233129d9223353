"""The musicality validation ladder: does each feature, and the composite, rank real music above its corruptions?

For each held-out example (15 s of a rendered corpus's test split, one pair per piece by default) the voice is
kept and its accompaniment replaced by each rung of :mod:`vocals2song.evaluation.baselines`:

    (a) reference  >  (b) tritone, shuffled (1 s blocks), other piece  >  (c) blur  >  (d) noise

and :func:`vocals2song.evaluation.musicality.musicality_features` is computed for every rung. Prints, per feature and for the
sub-scores and the composite, on how many voices each of the seven steps holds (a > each b, each b > c, c > d),
then the mean of each rung, the set-level chroma correlation per rung, and the time per 15 s example.

Usage::

    python bench/bench_musicality.py CORPUS [--split test] [--seconds 15] [--per-piece 1] [--max-examples N]
        [--json FILE]                 # compute, print, and keep every feature value
    python bench/bench_musicality.py --from-json FILE    # print again from a kept run (e.g. after a mapping change)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vocals2song.evaluation import baselines  # noqa: E402
from vocals2song.config import ModelConfig  # noqa: E402
from vocals2song.evaluation.musicality import (  # noqa: E402
    COMPOSITE_PARTS,
    composite_score,
    mean_chroma,
    musicality_features,
    set_chroma_correlation,
    sub_scores,
)

RUNGS = ("reference", "tritone", "shuffled", "other piece", "blur", "noise")
WRONG_MUSIC = ("tritone", "shuffled", "other piece")
STEPS = ([("reference", wrong) for wrong in WRONG_MUSIC] + [(wrong, "blur") for wrong in WRONG_MUSIC]
         + [("blur", "noise")])  # fmt: skip
SUMMARY = ("composite", "tonal", "fit", "rhythm")


def load_examples(corpus: str, split: str, seconds: float, per_piece: int, max_examples: int | None) -> list:
    from vocals2song.pairs.examples import iterate_examples

    examples, per_piece_count = [], {}
    for example in iterate_examples(corpus, ModelConfig(), split=split, seconds=seconds):
        if per_piece_count.get(example.piece, 0) >= per_piece:
            continue
        per_piece_count[example.piece] = per_piece_count.get(example.piece, 0) + 1
        examples.append(example)
        if max_examples and len(examples) >= max_examples:
            break
    return examples


def build_rungs(examples: list, index: int, rate: int) -> dict[str, np.ndarray]:
    """Each rung's accompaniment for ``examples[index]``; "other piece" is the next example of another piece."""
    example = examples[index]
    accompaniment, length = example.accompaniment, len(example.voice)
    other = next(examples[(index + step) % len(examples)] for step in range(1, len(examples) + 1)
                 if examples[(index + step) % len(examples)].piece != example.piece)  # fmt: skip
    return {
        "reference": accompaniment,
        "tritone": baselines.transpose(accompaniment, rate),
        "shuffled": baselines.block_shuffle(accompaniment, rate, seed=index),
        "other piece": baselines.fit_length(other.accompaniment, length),
        "blur": baselines.blur(accompaniment, rate, seed=index),
        "noise": baselines.shaped_noise(accompaniment, rate, seed=index),
    }


def measure(args: argparse.Namespace) -> dict:
    rate = ModelConfig().spectrogram.sample_rate
    examples = load_examples(args.corpus, args.split, args.seconds, args.per_piece, args.max_examples)
    if len({example.piece for example in examples}) < 2:
        sys.exit("bench_musicality: the ladder needs examples of two or more pieces.")
    records, wall, cpu = [], [], []
    for index, example in enumerate(examples):
        rungs = build_rungs(examples, index, rate)
        features = {}
        for rung, accompaniment in rungs.items():
            wall_started, cpu_started = time.perf_counter(), time.process_time()
            features[rung] = musicality_features(example.voice, accompaniment, rate)
            wall.append(time.perf_counter() - wall_started)
            cpu.append(time.process_time() - cpu_started)
            features[rung]["_mean_chroma"] = mean_chroma(accompaniment, rate).tolist()
        records.append({"name": example.name, "piece": example.piece, "seconds": len(example.voice) / rate,
                        "features": features})  # fmt: skip
        print(f"{index + 1}/{len(examples)} {example.name}: " + ", ".join(
            f"{rung} {features[rung]['composite']:.2f}" for rung in RUNGS), file=sys.stderr, flush=True)  # fmt: skip
    return {"corpus": args.corpus, "split": args.split, "seconds": args.seconds, "records": records,
            "timing": {"wall_seconds": wall, "cpu_seconds": cpu, "cpu_count": os.cpu_count(),
                       "load_average": os.getloadavg()}}  # fmt: skip


def report(run: dict) -> str:
    records = run["records"]
    for record in records:  # the composite from today's mapping, so a kept run can be re-scored
        for values in record["features"].values():
            values.update(sub_scores(values))
            values["composite"] = composite_score(values)
    names = [name for name in records[0]["features"]["reference"] if not name.startswith("_")]
    in_composite = {name for members in COMPOSITE_PARTS.values() for name in members}
    ordered = list(SUMMARY) + [name for name in names if name not in SUMMARY]
    count = len(records)
    header = ["feature", "in composite"] + [f"{upper} > {lower}" for upper, lower in STEPS] + ["all steps"]
    lines = [f"Steps that hold (the upper rung scores higher), out of {count} voices:", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]  # fmt: skip
    for name in ordered:
        holds = np.array([[record["features"][upper][name] > record["features"][lower][name] for upper, lower in STEPS]
                          for record in records])  # fmt: skip
        flag = "—" if name in SUMMARY else ("yes" if name in in_composite else "no")
        lines.append("| " + " | ".join([name, flag] + [str(int(column.sum())) for column in holds.T]
                                       + [f"{int(holds.all(axis=1).sum())} ({holds.all(axis=1).mean():.0%})"]) + " |")  # fmt: skip
    lines += ["", "Mean of each rung:", "", "| feature | " + " | ".join(RUNGS) + " |", "|" + "---|" * (len(RUNGS) + 1)]
    for name in ordered:
        means = [np.mean([record["features"][rung][name] for record in records]) for rung in RUNGS]
        lines.append(f"| {name} | " + " | ".join(f"{value:.3f}" for value in means) + " |")
    correlations = [set_chroma_correlation([record["features"][rung]["_mean_chroma"] for record in records])
                    for rung in RUNGS]  # fmt: skip
    lines.append("| set chroma correlation | " + " | ".join(f"{value:.3f}" for value in correlations) + " |")
    timing = run["timing"]
    seconds = statistics.mean(record["seconds"] for record in records)
    lines += ["", f"{count} voices ({len({record['piece'] for record in records})} pieces) of the {run['split']!r} split "
              f"of {run['corpus']}, {seconds:.1f} s each. musicality_features per example: median "
              f"{statistics.median(timing['wall_seconds']):.3f} s wall, {statistics.median(timing['cpu_seconds']):.3f} s "
              f"CPU (max {max(timing['wall_seconds']):.3f} s wall) on {timing['cpu_count']} cores; load average at "
              f"the end {', '.join(f'{value:.1f}' for value in timing['load_average'])}."]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", help="a rendered corpus (vocals2song corpus)")
    parser.add_argument("--split", default="test", choices=("train", "validation", "test"))
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--per-piece", type=int, default=1, help="examples per piece (different excerpts)")
    parser.add_argument("--max-examples", type=int)
    parser.add_argument("--json", type=Path, help="keep every feature value here")
    parser.add_argument("--from-json", type=Path, help="print the tables of a kept run instead of measuring")
    args = parser.parse_args()
    if args.from_json:
        run = json.loads(args.from_json.read_text())
    elif args.corpus:
        run = measure(args)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(run))
    else:
        parser.error("give a CORPUS or --from-json FILE")
    print(report(run))


if __name__ == "__main__":
    main()
