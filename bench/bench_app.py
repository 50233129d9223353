"""End-to-end benchmark of the Gradio app through gradio_client: seconds per 15 s request, and the app
process's RSS during a burst of 30 simultaneous requests. Prints a Markdown table.

    python bench/bench_app.py                 # tiny random-init generator
    python bench/bench_app.py --weights DIR   # any weights directory or Hub id
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import soundfile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def sung_voice(seconds: float, sample_rate: int = 44100) -> np.ndarray:
    time_axis = np.arange(int(seconds * sample_rate)) / sample_rate
    phase = 2 * np.pi * np.cumsum(220.0 * (1.0 + 0.01 * np.sin(2 * np.pi * 5.5 * time_axis))) / sample_rate
    voice = sum(np.sin(harmonic * phase) / harmonic**1.5 for harmonic in range(1, 9))
    return (0.5 * voice / np.max(np.abs(voice))).astype(np.float32)


def tiny_weights(directory: Path) -> Path:
    from vocals2song.config import tiny_config
    from vocals2song.networks import build_generator
    from vocals2song.weights import save_generator

    config = tiny_config()
    save_generator(directory, build_generator(config.generator), config)
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="weights directory or Hub id (default: a tiny random-init generator)")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each request's voice")
    parser.add_argument("--repeats", type=int, default=5, help="sequential requests timed")
    parser.add_argument("--burst", type=int, default=30, help="simultaneous requests")
    arguments = parser.parse_args()

    import app
    from gradio_client import Client, handle_file

    scratch = Path(tempfile.mkdtemp(prefix="vocals2song-bench-"))
    weights = arguments.weights or str(tiny_weights(scratch / "weights"))
    started = time.perf_counter()
    demo = app.build_demo(weights=weights)
    build_seconds = time.perf_counter() - started
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                max_file_size=app.MAX_FILE_SIZE, show_error=False)  # fmt: skip
    client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=str(scratch / "downloads"))
    voice = scratch / "voice.wav"
    soundfile.write(voice, sung_voice(arguments.seconds), 44100, subtype="PCM_16")
    process = psutil.Process()
    try:
        times = []
        for _ in range(arguments.repeats):
            started = time.perf_counter()
            client.predict(handle_file(str(voice)), "mixture", 0, "predicted", api_name="/generate")
            times.append(time.perf_counter() - started)

        rss_before = process.memory_info().rss
        peak = [rss_before]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], process.memory_info().rss)
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        served = busy = 0
        started = time.perf_counter()
        jobs = [client.submit(handle_file(str(voice)), "mixture", 0, "predicted", api_name="/generate")
                for _ in range(arguments.burst)]  # fmt: skip
        for job in jobs:
            try:
                job.result(timeout=1800)
                served += 1
            except Exception as error:  # noqa: BLE001
                if "queue is full" not in str(error).lower():
                    raise
                busy += 1
        burst_seconds = time.perf_counter() - started
        done.set()
        sampler.join()
    finally:
        client.close()
        demo.close()

    source = "tiny random-init" if not arguments.weights else arguments.weights
    print(f"\n| measure ({source} generator, {psutil.cpu_count()} CPU cores) | value |")
    print("|---|---|")
    print(f"| build_demo (load + 1 s warm-up) | {build_seconds:.2f} s |")
    print(f"| {arguments.seconds:g} s request, end to end, median of {arguments.repeats} | "
          f"{statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f}) |")  # fmt: skip
    print(f"| real-time factor | {statistics.median(times) / arguments.seconds:.3f} |")
    print(f"| burst of {arguments.burst} at once: served / told busy | {served} / {busy} in {burst_seconds:.1f} s |")
    print(f"| RSS before burst / peak during burst | {rss_before / 2**20:.0f} MiB / {peak[0] / 2**20:.0f} MiB |")


if __name__ == "__main__":
    main()
