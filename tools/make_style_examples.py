"""Write one example per style from a styled corpus: the pair's song (voice + its arranged accompaniment), 12 s.

Usage: python tools/make_style_examples.py CORPUS [--out examples/styles] [--seconds 12]

For each style in the corpus, the first pair of the validation split (else of any split) whose voice is sung, not
spoken, is mixed as the corpus mixes it (vocals + accompaniment) and written as 16-bit FLAC, so a listener hears what
each style's band plays under a voice before any generator is trained on it.
"""

import argparse
from pathlib import Path

import numpy as np
import soundfile

from vocals2song.corpus.build import load_manifest
from vocals2song.plan.style import STYLES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--out", type=Path, default=Path("examples/styles"))
    parser.add_argument("--seconds", type=float, default=12.0)
    args = parser.parse_args()
    pairs = load_manifest(args.corpus)["pairs"]
    args.out.mkdir(parents=True, exist_ok=True)
    for style in STYLES:
        candidates = [pair for pair in pairs if pair.get("style") == style and not pair["singer"].get("speech_like")]
        candidates.sort(key=lambda pair: pair["split"] != "validation")
        if not candidates:
            print(f"{style}: no pair")
            continue
        pair = candidates[0]
        vocals, rate = soundfile.read(args.corpus / pair["vocals"], dtype="float32")
        accompaniment, _ = soundfile.read(args.corpus / pair["accompaniment"], dtype="float32")
        song = (vocals + accompaniment)[:int(args.seconds * rate)]
        song = song / max(1.0, float(np.max(np.abs(song))) / 0.95)
        path = args.out / f"{style}.flac"
        soundfile.write(path, song, rate, format="FLAC", subtype="PCM_16")
        print(f"{style}: {path} from {pair['id']} ({pair['piece']}, band {pair.get('band')})")


if __name__ == "__main__":
    main()
