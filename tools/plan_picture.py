"""Draw the README's picture of the B channel (docs/plan.png): a voice's R channel with the plan read from it.

Top: the voice's magnitude (R, grey) below 1.6 kHz with the plan's chord lines (B, blue) and the chord names.
Bottom: the reserved band at the top of the spectrum where B marks beats (lower strip) and downbeats (upper strip).

Usage: python tools/plan_picture.py [VOICE] [--out docs/plan.png]   (default VOICE: examples/haydn-sung.wav)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vocals2song.codec import spectrogram as codec  # noqa: E402
from vocals2song.audio import load_audio  # noqa: E402
from vocals2song.config import SpectrogramConfig  # noqa: E402
from vocals2song.plan.estimate import estimate_harmony  # noqa: E402
from vocals2song.plan.channel import BEAT_BAND, DOWNBEAT_BAND, render_plan  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TOP_HZ = 1600.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("voice", nargs="?", default=str(ROOT / "examples" / "haydn-sung.wav"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "plan.png"))
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args(argv)

    config = SpectrogramConfig()
    voice = load_audio(args.voice, sample_rate=config.sample_rate, max_seconds=args.seconds).samples
    harmony = estimate_harmony(voice, config.sample_rate)
    image = codec.audio_to_image(voice, config)
    plan = render_plan(harmony, config, image.shape[1])
    bin_hz = config.sample_rate / config.n_fft
    seconds = image.shape[1] * config.hop_length / config.sample_rate
    top_row = int(TOP_HZ / bin_hz)
    beat_rows = slice(int(round(BEAT_BAND[0] * (config.nb_bins - 1))), int(round(DOWNBEAT_BAND[1] * (config.nb_bins - 1))))

    figure, (low, band) = plt.subplots(2, 1, figsize=(9, 4.2), gridspec_kw={"height_ratios": [4, 1]}, sharex=True)
    extent = [0, seconds, 0, top_row * bin_hz]
    low.imshow(image[:top_row, :, 0], origin="lower", aspect="auto", cmap="Greys", vmin=0.35, vmax=0.9, extent=extent)
    overlay = np.zeros((top_row, image.shape[1], 4))
    overlay[..., 2] = 1.0
    overlay[..., 3] = 0.85 * plan[:top_row]
    low.imshow(overlay, origin="lower", aspect="auto", extent=extent)
    for chord in harmony.chords:
        low.axvline(chord.start, color="tab:orange", linewidth=0.8)
        low.text(chord.start + 0.05, top_row * bin_hz * 0.93, chord.name, color="tab:orange", fontsize=10,
                 fontweight="bold", va="top")
    low.set_ylabel("Hz")
    low.set_title(f"R (voice, grey) and B (the plan, blue): {harmony.key_name}, {harmony.tempo_bpm:.0f} BPM",
                  fontsize=10)
    rows = plan[beat_rows]
    band.imshow(rows, origin="lower", aspect="auto", cmap="Blues", vmin=0, vmax=1,
                extent=[0, seconds, beat_rows.start * bin_hz / 1000, beat_rows.stop * bin_hz / 1000])
    band.set_ylabel("kHz")
    band.set_xlabel("seconds")
    band.set_title("B's reserved band: beats (lower strip), downbeats (upper strip)", fontsize=9)
    figure.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=80)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
