"""Benchmark of the offline corpus builder: renders N pieces with all cores and prints throughput.

Usage: python bench/bench_corpus.py [N_PIECES]   (default 8)
"""

import os
import sys
import tempfile
import time
from pathlib import Path

from vocals2song.corpus.build import build_corpus, load_manifest


def main(nb_pieces: int) -> None:
    with tempfile.TemporaryDirectory() as out_dir:
        started = time.perf_counter()
        manifest_path = build_corpus(out_dir, pieces=nb_pieces, workers=os.cpu_count())
        seconds = time.perf_counter() - started
        manifest = load_manifest(manifest_path)
        audio_hours = sum(pair["seconds"] for pair in manifest["pairs"]) / 3600
        flac_bytes = sum(path.stat().st_size for path in Path(out_dir).glob("shard-*/*.flac"))
    nb_pairs = len(manifest["pairs"])
    rows = [("pieces", f"{nb_pieces} ({len(manifest['skipped'])} skipped)"),
            ("pairs", f"{nb_pairs}"),
            ("audio hours", f"{audio_hours:.4f}"),
            ("seconds", f"{seconds:.1f} ({os.cpu_count()} workers)"),
            ("pairs per hour", f"{nb_pairs * 3600 / seconds:.0f}"),
            ("corpus hours per GB", f"{audio_hours / (flac_bytes / 1e9):.1f} (both stems, FLAC)")]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8)
