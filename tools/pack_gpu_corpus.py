"""Pack a rendered corpus compactly for the GPU machine: one window per piece, Ogg Vorbis, in carry-sized shards.

A call of the device tool carries at most 64 MiB, and a rendered corpus is ~1 MB of FLAC per 20 s pair. This
writes a smaller corpus in the same layout (``manifest.json`` + shard folders) that the trainer reads as is:

- pairs of the chosen splits, at most ``--pairs-per-piece`` per piece (more pieces beat longer excerpts);
- each pair cut to the ``--seconds`` window where its vocals are loudest;
- both stems as Ogg Vorbis at ``--quality`` (libsndfile's compression level: 0 best; 0.2 ≈ 90 KB/s pair at
  22.05 kHz, ~2.7 times smaller than FLAC, a 3 dB log-spectral distance from the FLAC on an 80 dB scale,
  far below the model's own error);
- shards of at most ``--shard-mb`` MB, so each travels in one call (``carry: ["gpu-corpus/shard-000"]``).

Usage: ``python tools/pack_gpu_corpus.py data/corpus gpu-corpus --seconds 11 --shard-mb 54 55 58 58``
(one size per shard; the last size repeats). The manifest says where the packed corpus came from.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vocals2song.corpus.build import load_manifest


def loudest_window(vocals: np.ndarray, length: int, hop: int) -> int:
    """Start of the ``length``-sample window with the most vocal energy (searched every ``hop`` samples)."""
    if len(vocals) <= length:
        return 0
    energy = np.concatenate([[0.0], np.cumsum(vocals.astype(np.float64) ** 2)])
    starts = np.arange(0, len(vocals) - length + 1, hop)
    return starts[np.argmax(energy[starts + length] - energy[starts])].item()


def encode(audio: np.ndarray, sample_rate: int, quality: float) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, sample_rate, format="OGG", subtype="VORBIS", compression_level=quality)
    return buffer.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--splits", nargs="+", default=["train", "validation"])
    parser.add_argument("--seconds", type=float, default=11.0)
    parser.add_argument("--quality", type=float, default=0.2)
    parser.add_argument("--pairs-per-piece", type=int, default=1)
    parser.add_argument("--max-validation", type=int, default=12, help="validation pairs kept (for samples)")
    parser.add_argument("--shard-mb", type=float, nargs="+", default=[55.0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    manifest = load_manifest(args.corpus)
    rate = manifest["sample_rate"]
    rng = random.Random(args.seed)
    chosen, per_piece = [], {}
    entries = list(manifest["pairs"])
    rng.shuffle(entries)
    validation = 0
    for entry in entries:
        if entry["split"] not in args.splits:
            continue
        key = entry.get("piece", entry["id"])
        if per_piece.get(key, 0) >= args.pairs_per_piece:
            continue
        if entry["split"] == "validation":
            if validation >= args.max_validation:
                continue
            validation += 1
        per_piece[key] = per_piece.get(key, 0) + 1
        chosen.append(entry)
    # Validation first, so the first shard (and a run that has only it) has some.
    chosen.sort(key=lambda entry: entry["split"] != "validation")

    args.out.mkdir(parents=True, exist_ok=True)
    length = int(round(args.seconds * rate))
    pairs, shard, shard_bytes, total = [], 0, 0, 0
    for entry in chosen:
        stems = {kind: soundfile.read(str(args.corpus / entry[kind]), dtype="float32", always_2d=True)[0].mean(axis=1)
                 for kind in ("vocals", "accompaniment")}  # fmt: skip
        start = loudest_window(stems["vocals"], length, hop=rate // 4)
        data = {kind: encode(audio[start : start + length], rate, args.quality) for kind, audio in stems.items()}
        size = sum(map(len, data.values()))
        limit = args.shard_mb[min(shard, len(args.shard_mb) - 1)] * 1e6
        if shard_bytes + size > limit:
            shard, shard_bytes = shard + 1, 0
        folder = args.out / f"shard-{shard:03d}"
        folder.mkdir(exist_ok=True)
        packed = dict(entry)
        for kind, blob in data.items():
            name = f"{entry['id']}.{kind}.ogg"
            (folder / name).write_bytes(blob)
            packed[kind] = f"{folder.name}/{name}"
        packed["seconds"] = round(min(length, len(stems["vocals"]) - start) / rate, 3)
        packed["window_start_seconds"] = round(start / rate, 3)
        pairs.append(packed)
        shard_bytes += size
        total += size

    packed_manifest = {key: value for key, value in manifest.items() if key not in ("pairs", "skipped")}
    packed_manifest["pairs"] = pairs
    packed_manifest["packed_from"] = {"corpus": str(args.corpus), "pairs": len(manifest["pairs"]),
                                      "codec": f"ogg vorbis, compression level {args.quality}",
                                      "seconds": args.seconds, "pairs_per_piece": args.pairs_per_piece}  # fmt: skip
    (args.out / "manifest.json").write_text(json.dumps(packed_manifest, indent=1), encoding="utf-8")
    counts = {split: sum(pair["split"] == split for pair in pairs) for split in args.splits}
    hours = sum(pair["seconds"] for pair in pairs) / 3600
    print(f"{len(pairs)} pairs ({counts}), {hours:.2f} h, {total / 1e6:.1f} MB in {shard + 1} shard(s) under {args.out}")
    for folder in sorted(args.out.glob("shard-*")):
        print(f"  {folder.name}: {sum(path.stat().st_size for path in folder.iterdir()) / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
