"""Make the app's example voices in examples/: held-out melodies sung by the synthesizer, and a spoken phrase.

The sung clips come from the test composers (never trained on): the top line of a Mozart, a Haydn and a
Monteverdi score, sung by :mod:`vocals2song.corpus.singer` with a fixed seed. The spoken phrase is espeak-ng.
Each clip is 16-bit mono WAV at 22.05 kHz, about 8 s, peak -6 dBFS.

With ``--songs WEIGHTS`` it also writes each clip's predicted song (seed 0; mode "accompaniment" for an accompaniment
generator, else "mixture") to
``OUT_DIR/songs/`` with the generator in WEIGHTS.

Usage: python tools/make_examples.py [OUT_DIR] [--songs WEIGHTS]   (default OUT_DIR: examples/)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from vocals2song.audio import load_audio, write_wav
from vocals2song.corpus.scores import part_notes, top_line
from vocals2song.corpus.singer import Note, fit_to_range, random_singer, sing

SAMPLE_RATE = 22050
SECONDS = 8.0
TEMPO_BPM = 84.0
# (file name, music21 corpus path, singer seed)
SUNG = [
    ("mozart-sung", "mozart/k155/movement1.mxl", 3),
    ("haydn-sung", "haydn/opus74no1/movement2.mxl", 5),
    ("monteverdi-sung", "monteverdi/madrigal.3.1.mxl", 11),
]
SPOKEN = ("spoken-phrase", "Sing me a song about the sea, and I will sing along with you.")


def sung_clip(corpus_path: str, seed: int) -> np.ndarray:
    import music21

    score = music21.corpus.parse(corpus_path)
    parts = [part for part in score.parts if part_notes(part)]
    melody = top_line(part_notes(max(parts, key=lambda part: np.mean([n.pitch for n in part_notes(part)]))))
    seconds_per_quarter = 60.0 / TEMPO_BPM
    first = melody[0].offset  # start at the first sung note
    notes = [Note((n.offset - first) * seconds_per_quarter, n.duration * seconds_per_quarter, n.pitch, n.lyric)
             for n in melody if (n.offset - first) * seconds_per_quarter < SECONDS]  # fmt: skip
    rng = np.random.default_rng(seed)
    singer = random_singer(rng)
    voice = sing(fit_to_range(notes, singer), singer, SAMPLE_RATE, rng)[: int(SECONDS * SAMPLE_RATE)]
    return 0.5 * voice / np.max(np.abs(voice))


def spoken_clip(text: str) -> np.ndarray:
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is not installed (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "spoken.wav"
        subprocess.run(["espeak-ng", "-s", "140", "-w", str(path), text], check=True, timeout=60)
        voice = load_audio(path, sample_rate=SAMPLE_RATE).samples
    return 0.5 * voice / np.max(np.abs(voice))


def predicted_songs(out_dir: Path, weights: str) -> None:
    """Each example voice through the generator: ``out_dir/songs/<name>.song.wav``."""
    from vocals2song.inference import vocals_to_song
    from vocals2song.model.weights import load_generator

    model = load_generator(weights)
    mode = "accompaniment" if model.config.target == "accompaniment" else "mixture"
    for voice_path in sorted(out_dir.glob("*.wav")):
        voice = load_audio(voice_path)
        result = vocals_to_song(voice.samples, voice.sample_rate, model, mode=mode, seed=0)
        song_path = write_wav(out_dir / "songs" / f"{voice_path.stem}.song.wav", result.song, result.sample_rate)
        print(f"wrote {song_path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=Path("examples"))
    parser.add_argument("--songs", metavar="WEIGHTS", help="also write the predicted songs with these weights")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, corpus_path, seed in SUNG:
        write_wav(args.out_dir / f"{name}.wav", sung_clip(corpus_path, seed), SAMPLE_RATE)
        print(f"wrote {args.out_dir / name}.wav ({corpus_path})")
    write_wav(args.out_dir / f"{SPOKEN[0]}.wav", spoken_clip(SPOKEN[1]), SAMPLE_RATE)
    print(f"wrote {args.out_dir / SPOKEN[0]}.wav (espeak-ng)")
    if args.songs:
        predicted_songs(args.out_dir, args.songs)


if __name__ == "__main__":
    main()
