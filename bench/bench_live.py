"""The live accompanist in simulated real time: a recorded voice streamed chunk by chunk at the pace it was sung.

Each chunk is handed to :meth:`vocals2song.live.accompanist.LiveAccompanist.feed` when its last sample would have
been sung (chunk k at (k + 1) · chunk seconds after the start), as the browser's microphone stream does; ``--takes N``
streams N takes at once in threads (two takes on a Space's 2 vCPUs). Per chunk it prints the processing time over
the chunk's duration (must stay ≤ 0.3 for two takes to fit on 2 cores) and the band's delay behind the voice at
the server, split into

* **chunk wait**: a sung sample waits for the end of its chunk (0 to one chunk; the chunk's first sample waits a
  whole chunk);
* **hold**: the band stops :meth:`~vocals2song.live.accompanist.LiveAccompanist.hold_samples` before the voice's
  end (the last STFT frames are incomplete there): 46 ms;
* **processing**: the feed call, plus any wait behind an earlier chunk still being processed;

so the band for a chunk's first sample leaves the server chunk + hold + processing after it was sung, for its last
sample hold + processing. The output path (Gradio's AAC/HLS stream to the browser and its player) is measured in
the browser by ``tests/test_live_browser.py``.

    python bench/bench_live.py [--voice FILE] [--chunk 0.5] [--takes 1] [--weights DIR] [--no-realtime]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vocals2song.audio import load_audio  # noqa: E402
from vocals2song.live.accompanist import LiveAccompanist, LiveSettings  # noqa: E402
from vocals2song.model.weights import load_generator  # noqa: E402

REAL_VOICE = ROOT.parent / "shared" / "real-voices" / "vocadito_14.wav"
DEFAULT_VOICE = REAL_VOICE if REAL_VOICE.is_file() else ROOT / "examples" / "mozart-sung.wav"
BUDGET = 0.3  # processing / chunk duration allowed per take


def stream_take(model, voice: np.ndarray, rate: int, chunk_seconds: float, realtime: bool, start: float) -> dict:
    """One take streamed at the pace it was sung; per chunk (due, finished) wall times and the accompanist."""
    accompanist = LiveAccompanist(model, settings=LiveSettings(max_seconds=max(60.0, len(voice) / rate + 1)))
    size = int(round(chunk_seconds * rate))
    due, finished = [], []
    for index, first in enumerate(range(0, len(voice), size)):
        chunk = voice[first : first + size]
        when = start + (first + len(chunk)) / rate  # the chunk's last sample has just been sung
        if realtime:
            time.sleep(max(0.0, when - time.perf_counter()))
        due.append(when if realtime else time.perf_counter())
        accompanist.feed(chunk, rate)
        finished.append(time.perf_counter())
    take = accompanist.finish()
    return {"accompanist": accompanist, "take": take, "due": np.array(due), "finished": np.array(finished)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voice", type=Path, default=DEFAULT_VOICE, help="a recorded voice (default: %(default)s)")
    parser.add_argument("--chunk", type=float, default=0.5, help="seconds per chunk, the app's stream_every")
    parser.add_argument("--takes", type=int, default=1, help="takes streamed at once (threads)")
    parser.add_argument("--weights", default=None, help="weights directory (default: weights/)")
    parser.add_argument("--no-realtime", action="store_true", help="feed as fast as possible (no pacing)")
    parser.add_argument("--rate", type=int, default=44100, help="the microphone's rate the voice is sent at")
    args = parser.parse_args(argv)

    model = load_generator(args.weights or str(ROOT / "weights"))
    voice = load_audio(args.voice, sample_rate=args.rate).samples
    # warm up: the compiled step, numba's pitch tracker, the estimator (an app does this at start-up)
    stream_take(model, voice[: int(6 * args.rate)], args.rate, args.chunk, False, time.perf_counter())

    results: list[dict] = [None] * args.takes
    start = time.perf_counter() + 0.2

    def run(index: int) -> None:
        results[index] = stream_take(model, voice, args.rate, args.chunk, not args.no_realtime, start)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(args.takes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    print(f"# bench_live: {args.voice.name} ({len(voice) / args.rate:.1f} s at {args.rate} Hz), chunks of "
          f"{args.chunk:g} s, {args.takes} take(s) at once, {'real time' if not args.no_realtime else 'unpaced'}, "
          f"{os.cpu_count()} CPUs\n")  # fmt: skip
    first = results[0]
    accompanist, take = first["accompanist"], first["take"]
    hold = accompanist.hold_samples / take.sample_rate
    print("| chunk | voice until (s) | band until (s) | rendered | processing (ms) | processing / chunk | "
          "delay of the chunk's first sample (s) | of its last (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for index, report in enumerate(take.reports):
        late = first["finished"][index] - first["due"][index]  # processing plus any wait behind the previous chunk
        ratio = report.processing_seconds / max(report.chunk_seconds, 1e-9)
        print(f"| {index} | {report.voice_seconds:.2f} | {report.band_seconds:.2f} | {'yes' if report.rendered else 'no'} "
              f"| {report.processing_seconds * 1000:.1f} | {ratio:.3f} | {report.chunk_seconds + hold + late:.3f} "
              f"| {hold + late:.3f} |")  # fmt: skip

    print("\n| take | chunks rendered | processing / chunk: median | p95 | max | chunks over "
          f"{BUDGET} | delay behind the voice at the server: median | max | band joined at (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for number, result in enumerate(results):
        take = result["take"]
        rendered = [(index, report) for index, report in enumerate(take.reports) if report.rendered]
        ratios = np.array([report.processing_seconds / report.chunk_seconds for _, report in rendered])
        lates = np.array([result["finished"][index] - result["due"][index] for index, _ in rendered])
        delays = np.concatenate([lates + hold, lates + hold + args.chunk])
        joined = rendered[0][1].voice_seconds if rendered else float("nan")
        print(f"| {number} | {len(rendered)} | {np.median(ratios):.3f} | {np.percentile(ratios, 95):.3f} | "
              f"{ratios.max():.3f} | {int((ratios > BUDGET).sum())} | {np.median(delays):.3f} | {delays.max():.3f} "
              f"| {joined:.2f} |")  # fmt: skip
    harmony = results[0]["take"].harmony
    if harmony is not None:
        chords = " ".join(chord.name for chord in harmony.chords)
        print(f"\nplan: {harmony.key_name}, {harmony.tempo_bpm:.1f} BPM, {accompanist.grid.beats_per_bar}/4; "
              f"chords per bar: {chords}; grid moved {len(accompanist.grid_changes)}×, key changed "
              f"{len(accompanist.key_changes)}×")  # fmt: skip


if __name__ == "__main__":
    main()
