"""The live accompanist in simulated real time: a recorded voice streamed chunk by chunk at the pace it was sung.

Each chunk is handed to :meth:`vocals2song.live.accompanist.LiveAccompanist.feed` when its last sample would have
been sung (chunk k at (k + 1) · chunk seconds after the start), as the browser's microphone stream does; ``--takes N``
streams N takes at once in threads (two takes on a Space's 2 vCPUs). Per chunk it prints the processing time over
the chunk's duration (must stay ≤ 0.3 for two takes to fit on 2 cores) and the band's delay behind the voice at
the server, split into

* **chunk wait**: a sung sample waits for the end of its chunk, or of the render period when the chunks are
  shorter than :attr:`~vocals2song.live.accompanist.LiveSettings.render_seconds` (the browser sends 0.1 s chunks,
  renders wait for about 0.5 s): 0 to one period;
* **hold**: the band stops :meth:`~vocals2song.live.accompanist.LiveAccompanist.hold_samples` before the voice's
  end (the last STFT frames are incomplete there): 46 ms;
* **processing**: the feed call, plus any wait behind an earlier chunk still being processed;

so the band for a period's first sample leaves the server period + hold + processing after it was sung, for its
last sample hold + processing. Processing is given per chunk and per render period (processing since the last
render over the voice since then: the share of a core a take needs, the figure that must stay ≤ 0.3). The output
path (Gradio's AAC/HLS stream to the browser and its player) is measured in the browser by
``tests/test_live_browser.py``.

    python bench/bench_live.py [--voice FILE] [--chunk 0.5] [--takes 1] [--weights DIR] [--no-realtime]

With ``--musicality PY`` (the shared yardstick's python: ``PY=$(../shared/musicality/setup.sh)``) it instead
compares, for each of ``--voices``, the live band (streamed unpaced in ``--chunk`` chunks) with the offline
accompaniment of the same voice (:func:`vocals2song.vocals_to_song`, accompaniment mode, seed 0), both scored by
``../shared/musicality/evaluate.py`` from the moment the band joined to the end; ``--pictures DIR`` draws their dB
spectrograms over that stretch with the live renders' joins marked, to look for seams.

    python bench/bench_live.py --musicality "$PY" [--voices WAV ...] [--chunk 0.1] [--pictures DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vocals2song.audio import load_audio, resample, write_wav  # noqa: E402
from vocals2song.inference import vocals_to_song  # noqa: E402
from vocals2song.live.accompanist import LiveAccompanist, LiveSettings  # noqa: E402
from vocals2song.model.weights import load_generator  # noqa: E402

REAL_VOICE = ROOT.parent / "shared" / "real-voices" / "vocadito_14.wav"
DEFAULT_VOICE = REAL_VOICE if REAL_VOICE.is_file() else ROOT / "examples" / "mozart-sung.wav"
BUDGET = 0.3  # processing / chunk duration allowed per take
YARDSTICK = ROOT.parent / "shared" / "musicality" / "evaluate.py"
COMPARE_VOICES = [path for path in (REAL_VOICE, ROOT.parent / "shared" / "seed-samples" / "origin_audio.wav",
                                    *sorted((ROOT / "examples").glob("*-sung.wav"))) if path.is_file()]
SCORES = ("musicality", "chord_tone", "key_corr", "consonance", "beat_conf", "peak_share")


def compare_offline(model, voices: list[Path], chunk_seconds: float, yardstick_python: str,
                    pictures: Path | None) -> None:  # fmt: skip
    """The live band against the offline accompaniment of the same voices, scored from where the band joined."""
    rows, joined_at, seams = [], {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-live-") as folder:
        folder = Path(folder)
        for path in voices:
            audio = load_audio(path, sample_rate=44100)
            result = stream_take(model, audio.samples, 44100, chunk_seconds, False, time.perf_counter())
            take = result["take"]
            joined = joined_at[path.stem] = next(report.voice_seconds for report in take.reports if report.rendered)
            offline = vocals_to_song(audio.samples, 44100, model, mode="accompaniment")
            rate = take.sample_rate
            start = int(joined * rate)
            voice = resample(offline.voice, offline.sample_rate, rate)[start : len(take.voice)]
            offline_band = resample(offline.accompaniment, offline.sample_rate, rate)[start : len(take.voice)]
            versions = {"live": take.accompaniment[start:], "offline": offline_band}
            write_wav(folder / f"{path.stem}-voice.wav", voice, rate)
            for name, band in versions.items():
                write_wav(folder / f"{path.stem}-{name}.wav", band, rate)
                rows.append((f"{name}:{path.stem}", folder / f"{path.stem}-voice.wav",
                             folder / f"{path.stem}-{name}.wav"))
            joins = [report.band_seconds - joined for report in take.reports if report.rendered][:-1]
            seams[path.stem] = seam_flux(versions["live"], rate, joins)
            if pictures is not None:
                draw_seams(pictures / f"live-{path.stem}.png", versions, rate, joins, path.stem)
        listing = folder / "pairs.tsv"
        listing.write_text("".join(f"{name}\t{voice}\t{band}\n" for name, voice, band in rows))
        scores_file = folder / "scores.json"
        subprocess.run([yardstick_python, str(YARDSTICK), "--list", str(listing), "--json", str(scores_file),
                        "--max-seconds", "60", "--quiet"], check=True)  # fmt: skip
        examples = json.loads(scores_file.read_text())["examples"]
    by_id = {example["id"]: example for example in examples}
    print("| voice | band from (s) | live spectral flux at joins / elsewhere | "
          + " | ".join(f"{score}: live / offline" for score in SCORES) + " |")
    print("|---|---|---|" + "---|" * len(SCORES))
    differences = {score: [] for score in SCORES}
    for path in voices:
        live, offline = by_id[f"live:{path.stem}"], by_id[f"offline:{path.stem}"]
        cells = []
        for score in SCORES:
            cells.append(f"{live[score]:.2f} / {offline[score]:.2f}")
            differences[score].append(live[score] - offline[score])
        print(f"| {path.stem} | {joined_at[path.stem]:.1f} | {seams[path.stem]:.2f} | " + " | ".join(cells) + " |")
    means = " | ".join(f"{np.mean(differences[score]):+.3f}" for score in SCORES)
    print(f"| **mean live − offline** | | | {means} |")


def seam_flux(band: np.ndarray, rate: int, joins: list[float]) -> float:
    """Mean spectral flux (positive log-magnitude change summed over bins) in the frames at the renders' joins,
    over its mean everywhere: about 1 when the joins are not heard, well above 1 for clicks or level jumps."""
    from vocals2song.codec import spectrogram as codec
    from vocals2song.config import SpectrogramConfig

    config = SpectrogramConfig(sample_rate=rate)
    log_magnitude = np.log(np.abs(codec.stft(band, config)) + 1e-5)
    flux = np.maximum(np.diff(log_magnitude, axis=1), 0).sum(axis=0)
    frames = sorted({int(round(join * rate / config.hop_length)) + offset for join in joins for offset in (0, 1, 2)})
    frames = [frame for frame in frames if 0 <= frame < flux.size]
    return float(flux[frames].mean() / flux.mean()) if frames else float("nan")


def draw_seams(path: Path, versions: dict, rate: int, joins: list[float], title: str) -> None:
    """dB spectrograms (0-4 kHz) of the live and the offline band, the live renders' joins as ticks on top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vocals2song.codec import spectrogram as codec
    from vocals2song.config import SpectrogramConfig

    config = SpectrogramConfig(sample_rate=rate)
    figure, axes = plt.subplots(len(versions), 1, figsize=(10, 2.6 * len(versions)), sharex=True)
    for axis, (name, band) in zip(axes, versions.items()):
        decibels = 20 * np.log10(np.abs(codec.stft(band, config)) + 1e-6)
        top = int(4000 / (rate / config.n_fft))
        seconds = len(band) / rate
        axis.imshow(decibels[:top], origin="lower", aspect="auto", cmap="magma", vmin=decibels.max() - 80,
                    vmax=decibels.max(), extent=(0, seconds, 0, 4000))  # fmt: skip
        axis.set_ylabel(f"{name}\nHz")
        if name == "live":
            for join in joins:
                axis.axvline(join, color="cyan", lw=0.5, ymin=0.93)
    axes[-1].set_xlabel("seconds after the band joined")
    figure.suptitle(f"{title}: live band (render joins ticked) against offline")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)


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
    waits, since, band = [], 0.0, 0.0  # voice a sample may have waited for before its band left: since the last out
    for report in take.reports:
        since += report.chunk_seconds
        waits.append(since)
        since, band = (0.0, report.band_seconds) if report.band_seconds > band else (since, band)
    return {"accompanist": accompanist, "take": take, "due": np.array(due), "finished": np.array(finished),
            "waits": np.array(waits)}


def period_ratios(reports) -> dict[int, float]:
    """For each rendered chunk: processing since the previous render (this chunk included) over the voice
    received since then: the share of a core a take needs, whatever the chunk size."""
    ratios, processing, voice = {}, 0.0, 0.0
    for index, report in enumerate(reports):
        processing, voice = processing + report.processing_seconds, voice + report.chunk_seconds
        if report.rendered:
            ratios[index], processing, voice = processing / max(voice, 1e-9), 0.0, 0.0
    return ratios


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voice", type=Path, default=DEFAULT_VOICE, help="a recorded voice (default: %(default)s)")
    parser.add_argument("--chunk", type=float, default=0.5, help="seconds per chunk, the app's stream_every")
    parser.add_argument("--takes", type=int, default=1, help="takes streamed at once (threads)")
    parser.add_argument("--weights", default=None, help="weights directory (default: weights/)")
    parser.add_argument("--no-realtime", action="store_true", help="feed as fast as possible (no pacing)")
    parser.add_argument("--rate", type=int, default=44100, help="the microphone's rate the voice is sent at")
    parser.add_argument("--musicality", metavar="PY", help="the shared yardstick's python: compare live and offline")
    parser.add_argument("--voices", type=Path, nargs="*", default=COMPARE_VOICES, help="voices for --musicality")
    parser.add_argument("--pictures", type=Path, help="with --musicality: draw live and offline bands here")
    args = parser.parse_args(argv)

    model = load_generator(args.weights or str(ROOT / "weights"))
    if args.musicality:
        compare_offline(model, args.voices, args.chunk, args.musicality, args.pictures)
        return
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
          "processing / voice since the last render | delay of the chunk's first sample (s) | of its last (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for index, report in enumerate(take.reports):
        late = first["finished"][index] - first["due"][index]  # processing plus any wait behind the previous chunk
        ratio = report.processing_seconds / max(report.chunk_seconds, 1e-9)
        period = f"{period_ratios(take.reports)[index]:.3f}" if report.rendered else ""
        wait = max(report.chunk_seconds, first["waits"][index])
        rendered = "yes" if report.rendered else "no"
        print(f"| {index} | {report.voice_seconds:.2f} | {report.band_seconds:.2f} | {rendered} "
              f"| {report.processing_seconds * 1000:.1f} | {ratio:.3f} | {period} | {wait + hold + late:.3f} "
              f"| {hold + late:.3f} |")  # fmt: skip

    print("\n| take | chunks rendered | processing / chunk: median | max | processing / voice over each render "
          f"period: median | max | periods over {BUDGET} | delay behind the voice at the server: median | max | "
          "band joined at (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for number, result in enumerate(results):
        take = result["take"]
        rendered = [(index, report) for index, report in enumerate(take.reports) if report.rendered]
        ratios = np.array([report.processing_seconds / report.chunk_seconds
                           for report in take.reports[rendered[0][0] :]])  # fmt: skip
        periods = np.array([period_ratios(take.reports)[index] for index, _ in rendered])
        lates = np.array([result["finished"][index] - result["due"][index] for index, _ in rendered])
        waits = np.array([max(report.chunk_seconds, result["waits"][index]) for index, report in rendered])
        delays = np.concatenate([lates + hold, lates + hold + waits])
        joined = rendered[0][1].voice_seconds if rendered else float("nan")
        print(f"| {number} | {len(rendered)} | {np.median(ratios):.3f} | {ratios.max():.3f} | {np.median(periods):.3f} "
              f"| {periods.max():.3f} | {int((periods > BUDGET).sum())} | {np.median(delays):.3f} | {delays.max():.3f} "
              f"| {joined:.2f} |")  # fmt: skip
    harmony = results[0]["take"].harmony
    if harmony is not None:
        chords = " ".join(chord.name for chord in harmony.chords)
        print(f"\nplan: {harmony.key_name}, {harmony.tempo_bpm:.1f} BPM, {accompanist.grid.beats_per_bar}/4; "
              f"chords per bar: {chords}; grid moved {len(accompanist.grid_changes)}×, key changed "
              f"{len(accompanist.key_changes)}×")  # fmt: skip


if __name__ == "__main__":
    main()
