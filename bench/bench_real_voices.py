"""Musicality on voices that are not the corpus's: the app's example voices, a spoken phrase, a real recording.

For each voice (``examples/*.wav`` by default: three held-out melodies sung by the synthesizer and an espeak-ng
phrase; plus the original project's demo recording, a real voice, when ``../shared/seed-samples`` is beside the
checkout) and each weights directory: the generator's accompaniment (seed 0, the plan read from the voice as the
app does) and, beside it, the same plan played by a General MIDI band (:mod:`vocals2song.evaluation.band`, at the
generator's level), each scored by :func:`vocals2song.evaluation.musicality.musicality_features`. There is no reference
accompaniment for these voices: the band is the yardstick. Prints one Markdown table; ``--pictures DIR`` writes
voice | generated accompaniment | plan band spectrograms per voice.

Usage: python bench/bench_real_voices.py [WEIGHTS_DIR ...] [--voices FILE ...] [--pictures DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vocals2song.backend import import_keras_quietly  # noqa: E402

import_keras_quietly()

from vocals2song.audio import load_audio  # noqa: E402
from vocals2song.evaluation.band import play_plan  # noqa: E402
from vocals2song.inference import vocals_to_song  # noqa: E402
from vocals2song.evaluation.musicality import musicality_features  # noqa: E402
from vocals2song.model.weights import REPOSITORY_WEIGHTS, load_generator  # noqa: E402

SEED_RECORDING = ROOT.parent / "shared" / "seed-samples" / "origin_audio.wav"
MAX_SECONDS = 15.0
COLUMNS = ("composite", "tonal", "fit", "rhythm", "comodulation")


def default_voices() -> list[Path]:
    voices = sorted((ROOT / "examples").glob("*.wav"))
    return voices + ([SEED_RECORDING] if SEED_RECORDING.is_file() else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", nargs="*", default=[str(REPOSITORY_WEIGHTS)])
    parser.add_argument("--voices", nargs="+", type=Path, default=None)
    parser.add_argument("--pictures", type=Path)
    args = parser.parse_args()
    voices = args.voices or default_voices()

    print("| voice | weights | system | " + " | ".join(COLUMNS) + " | chart |")
    print("|---|---|---|" + "---|" * (len(COLUMNS) + 1))
    for weights in args.weights:
        model = load_generator(weights)
        rate = model.config.spectrogram.sample_rate
        for voice_path in voices:
            voice = load_audio(voice_path, sample_rate=rate).samples[: int(MAX_SECONDS * rate)]
            result = vocals_to_song(voice, rate, model, mode="accompaniment", seed=0)
            generated = result.accompaniment
            systems = {"model": generated}
            if result.harmony is not None:
                band = play_plan(result.harmony, rate, len(generated))
                band_rms = float(np.sqrt(np.mean(band**2)))
                systems["plan band"] = band * (float(np.sqrt(np.mean(generated**2))) / band_rms) if band_rms else band
            chart = "—" if result.harmony is None else " ".join(chord.name for chord in result.harmony.chords[:8])
            for system, audio in systems.items():
                features = musicality_features(result.voice, audio, rate)
                cells = [f"{features[name]:.2f}" for name in COLUMNS]
                print(f"| {voice_path.stem} | {Path(weights).name} | {system} | " + " | ".join(cells)
                      + f" | {chart if system == 'model' else ''} |")
            if args.pictures:
                from vocals2song.evaluation.pictures import save_spectrogram_panels

                panels = [("voice", result.voice)] + [(name, audio) for name, audio in systems.items()]
                save_spectrogram_panels(args.pictures / f"{Path(weights).name}-{voice_path.stem}.png", panels, rate,
                                        title=f"{voice_path.stem} through {Path(weights).name}")
    print(f"\n{len(voices)} voice(s), at most {MAX_SECONDS:.0f} s each, seed 0, mode 'accompaniment'; the plan band "
          "plays the plan read from the voice at the generator's level.")


if __name__ == "__main__":
    main()
