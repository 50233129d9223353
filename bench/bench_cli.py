"""Round trips through the real command line: ``vocals2song encode`` then ``vocals2song decode``, per image form,
with the WAV sample format decode chooses (or ``--subtype``). Prints a Markdown table of SNR in dB.

The voice is the original project's 15 s demo recording (../shared/seed-samples), resampled once to the codec's
22.05 kHz and stored as a float WAV, so that the SNR measures the image and the decoded WAV, not the resampling.

    python bench/bench_cli.py [--voice FILE]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parent.parent
SEED_VOICE = ROOT.parent / "shared" / "seed-samples" / "origin_audio.wav"
SAMPLE_RATE = 22050  # encode's default rate
# (image file, --bits, decode's --subtype or None for its default)
FORMS = [
    ("voice.tiff", 32, None),
    ("voice.tiff", 32, "PCM_16"),
    ("voice.png", 16, None),
    ("voice.tiff", 16, None),
    ("voice.png", 16, "PCM_16"),
    ("voice.png", 8, None),
]


def run_cli(*arguments) -> str:
    result = subprocess.run([sys.executable, "-m", "vocals2song", *map(str, arguments)], capture_output=True,
                            text=True, cwd=ROOT, check=False)  # fmt: skip
    if result.returncode:
        raise SystemExit(f"vocals2song {' '.join(map(str, arguments))} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference**2) / np.sum((reference - estimate) ** 2)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voice", type=Path, default=SEED_VOICE, help="audio file (default: the original's demo)")
    arguments = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from vocals2song.audio import load_audio

    scratch = Path(tempfile.mkdtemp(prefix="vocals2song-bench-cli-"))
    try:
        voice = load_audio(arguments.voice, sample_rate=SAMPLE_RATE, max_seconds=600).samples
        source = scratch / "voice.wav"
        soundfile.write(source, voice, SAMPLE_RATE, subtype="FLOAT")
        reference, _ = soundfile.read(source, dtype="float64")
        print(f"\n| image (encode --bits) | decode's WAV | SNR dB ({arguments.voice.name}, {len(voice) / SAMPLE_RATE:.1f} s) |")
        print("|---|---|---:|")
        for name, bits, subtype in FORMS:
            image = scratch / f"{bits}-{name}"
            run_cli("encode", source, "-o", image, "--bits", bits)
            decoded_path = scratch / "decoded.wav"
            run_cli("decode", image, "-o", decoded_path, *(["--subtype", subtype] if subtype else []))
            decoded, _ = soundfile.read(decoded_path, dtype="float64")
            written = soundfile.info(decoded_path).subtype
            chosen = "default" if subtype is None else "--subtype"
            kind = "float" if bits == 32 else f"{bits}-bit"
            print(f"| {kind} {Path(name).suffix[1:].upper()} | {written} ({chosen}) | {snr_db(reference, decoded):.1f} |")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
