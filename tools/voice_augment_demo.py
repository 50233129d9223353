"""Listening check of the voice augmentation: clean vs augmented corpus voices, and speech vs the speech-like singer.

Writes to OUT_DIR (default data/voices-demo, an ignored folder):

* ``<pair>.clean.wav`` / ``<pair>.augmented-<seed>.wav`` for the first ``--pairs`` voices of a corpus
  (10 s each), and ``<pair>.png``: dB spectrograms (0-8 kHz) of the clean and augmented voices, each
  titled with the effects applied;
* ``speech.png`` and ``speech-*.wav``: an espeak-ng phrase, a chorale melody sung by a speech-like singer
  and the same melody sung, with their yin f0 tracks; the measures printed (syllables per second,
  voiced fraction, f0 range and fall per phrase) say how close the speech-like mode is to speech.

Usage: python tools/voice_augment_demo.py [OUT_DIR] [--corpus DIR] [--pairs N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path

import numpy as np

from vocals2song.audio import load_audio, write_wav
from vocals2song.config import SpectrogramConfig
from vocals2song.codec.spectrogram import stft
from vocals2song.corpus.voice_augment import augment_voice

SAMPLE_RATE = 22050
SECONDS = 10.0
SEEDS = (1, 2)          # augmentation seeds per pair (offset by 10 per pair)
SPOKEN_TEXT = "Sing me a song about the sea, and I will sing along with you. The night is long, the stars are out."
CHORALE = "bach/bwv66.6"


def decibels(audio: np.ndarray) -> np.ndarray:
    """dB magnitude (nb_bins, nb_frames) of the codec's STFT, floored at -100 dB."""
    magnitude = np.abs(stft(audio, SpectrogramConfig(sample_rate=SAMPLE_RATE)))
    return 20 * np.log10(np.maximum(magnitude, 1e-5))


def plot_spectrograms(path: Path, panels: list[tuple[str, np.ndarray]], f0_tracks: list | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(panels), 1, figsize=(13, 3.0 * len(panels)), sharex=True)
    for index, (axis, (title, audio)) in enumerate(zip(np.atleast_1d(axes), panels)):
        image = decibels(audio)
        seconds = len(audio) / SAMPLE_RATE
        axis.imshow(image, origin="lower", aspect="auto", cmap="magma", vmin=-40, vmax=50,
                    extent=(0, seconds, 0, SAMPLE_RATE / 2))
        if f0_tracks is not None and f0_tracks[index] is not None:
            times, f0 = f0_tracks[index]
            axis.plot(times, f0 * 4, color="cyan", linewidth=0.8, label="f0 x 4")
            axis.legend(loc="upper right", fontsize=7)
        axis.set_ylim(0, 8000)
        axis.set_ylabel("Hz")
        axis.set_title(textwrap.fill(title, 190), fontsize=7, loc="left")
    np.atleast_1d(axes)[-1].set_xlabel("seconds")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def describe(record: dict) -> str:
    """One line: each applied effect with its main parameters."""
    parts = []
    for effect in record["effects"]:
        parameters = {key: value for key, value in record[effect].items() if not isinstance(value, (list, dict))}
        parts.append(f"{effect}(" + ", ".join(f"{key}={value}" for key, value in parameters.items()) + ")")
    return "; ".join(parts) or "nothing applied"


def corpus_pairs(out_dir: Path, corpus: Path, nb_pairs: int) -> None:
    progress_lines = (corpus / "progress.jsonl").read_text(encoding="utf-8").splitlines()[1:]
    pairs = [pair for line in progress_lines for pair in json.loads(line)["pairs"]]
    chosen, voice_types = [], set()
    for pair in pairs:   # one pair per voice type first, for variety
        if pair["singer"]["voice_type"] not in voice_types:
            chosen.append(pair)
            voice_types.add(pair["singer"]["voice_type"])
        if len(chosen) == nb_pairs:
            break
    for pair_index, pair in enumerate(chosen):
        clean = load_audio(corpus / pair["vocals"], sample_rate=SAMPLE_RATE).samples[:int(SECONDS * SAMPLE_RATE)]
        write_wav(out_dir / f"{pair['id']}.clean.wav", clean, SAMPLE_RATE)
        panels = [(f"{pair['id']} clean ({pair['singer']['voice_type']})", clean)]
        for seed in (10 * pair_index + seed for seed in SEEDS):
            augmented, record = augment_voice(clean, SAMPLE_RATE, np.random.default_rng(seed))
            write_wav(out_dir / f"{pair['id']}.augmented-{seed}.wav", augmented, SAMPLE_RATE)
            panels.append((f"seed {seed}: {describe(record)}", augmented))
            print(f"{pair['id']} seed {seed}: {describe(record)}")
        plot_spectrograms(out_dir / f"{pair['id']}.png", panels)


def chorale_notes():
    """The soprano line of a Bach chorale at 100 bpm, as singer Notes (about 12 s)."""
    from vocals2song.corpus.build import _part_notes, _top_line
    from vocals2song.corpus.singer import Note

    import music21

    score = music21.corpus.parse(CHORALE)
    melody = _top_line(_part_notes(score.parts[0]))
    seconds_per_quarter = 0.6
    return [Note(note.offset * seconds_per_quarter, note.duration * seconds_per_quarter, note.pitch, note.lyric)
            for note in melody if note.offset * seconds_per_quarter < 12.0]


def speech_measures(audio: np.ndarray) -> tuple[dict, tuple[np.ndarray, np.ndarray]]:
    """Syllables per second, voiced fraction, f0 range (5-95 %, semitones) and the mean f0 slope over
    voiced runs (semitones per second) of a voice; and its (times, f0) track (NaN where unvoiced)."""
    import librosa

    hop = 256
    f0, voiced, _ = librosa.pyin(audio.astype(np.float64), fmin=60, fmax=700, sr=SAMPLE_RATE, frame_length=2048,
                                 hop_length=hop)
    times = np.arange(len(f0)) * hop / SAMPLE_RATE
    onsets = librosa.onset.onset_detect(y=audio, sr=SAMPLE_RATE, hop_length=hop, units="time")
    semitones = 12 * np.log2(f0[voiced] / 440.0) + 69
    slopes = []
    runs = np.flatnonzero(np.diff(np.concatenate([[0], voiced.astype(int), [0]])))
    for start, end in zip(runs[0::2], runs[1::2]):
        if end - start >= 8:   # voiced runs of 90 ms or more
            run = 12 * np.log2(f0[start:end] / 440.0)
            slopes.append(np.polyfit(times[start:end], run, 1)[0])
    sounding = np.abs(audio) > 0.01 * np.max(np.abs(audio))
    active_seconds = max(np.mean(sounding) * len(audio) / SAMPLE_RATE, 1e-3)
    measures = {"onsets per active second": len(onsets) / active_seconds,
                "voiced fraction": float(np.mean(voiced)),
                "f0 range 5-95% (semitones)": float(np.subtract(*np.percentile(semitones, [95, 5]))),
                "median voiced run (s)": float(np.median(np.diff(runs)[0::2]) * hop / SAMPLE_RATE),
                "mean f0 slope in voiced runs (semitones/s)": float(np.mean(slopes)) if slopes else float("nan")}
    return measures, (times, np.where(voiced, f0, np.nan))


def speech_comparison(out_dir: Path) -> None:
    from vocals2song.corpus.singer import fit_to_range, random_singer, sing

    if shutil.which("espeak-ng") is None:
        print("espeak-ng is not installed: no speech comparison")
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "spoken.wav"
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(path), SPOKEN_TEXT], check=True, timeout=60)
        espeak = load_audio(path, sample_rate=SAMPLE_RATE).samples
    notes = chorale_notes()
    speaker = random_singer(np.random.default_rng(4), speech_like_probability=1.0)
    singer = random_singer(np.random.default_rng(4))
    spoken = sing(fit_to_range(notes, speaker), speaker, SAMPLE_RATE, np.random.default_rng(0))
    sung = sing(fit_to_range(notes, singer), singer, SAMPLE_RATE, np.random.default_rng(0))
    clips = [("espeak-ng", espeak), (f"speech-like singer ({speaker.voice_type})", spoken),
             (f"singer ({singer.voice_type})", sung)]
    tracks = []
    rows = []
    for name, audio in clips:
        write_wav(out_dir / f"speech-{name.split(' ')[0]}.wav", audio, SAMPLE_RATE)
        measures, track = speech_measures(audio)
        tracks.append(track)
        rows.append((name, measures))
    width = max(len(name) for name, _ in rows)
    keys = list(rows[0][1])
    print(f"{'':<{width}}  " + "  ".join(keys))
    for name, measures in rows:
        print(f"{name:<{width}}  " + "  ".join(f"{measures[key]:>{len(key)}.2f}" for key in keys))
    seconds = min(len(audio) for _, audio in clips)
    plot_spectrograms(out_dir / "speech.png", [(name, audio[:seconds]) for name, audio in clips],
                      [(times[times < seconds / SAMPLE_RATE], f0[times < seconds / SAMPLE_RATE])
                       for times, f0 in tracks])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=Path("data/voices-demo"))
    parser.add_argument("--corpus", type=Path, default=Path("data/corpus"))
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    corpus_pairs(args.out_dir, args.corpus, args.pairs)
    speech_comparison(args.out_dir)
    print(f"wrote {args.out_dir}")


if __name__ == "__main__":
    main()
