"""End-to-end benchmark of the Gradio app through gradio_client: where a 15 s request's time goes, the first
request after start, the ratio to ``vocals_to_song`` alone, and (optionally) a burst of simultaneous requests.

Each round is a fresh process that launches the app on loopback, sends one request (the first after start),
then ``--repeats`` more, timing ``vocals_to_song`` on the same voice after each, and at the end ``--repeats``
times back to back (as bench_core does); the handler's own call is timed too. The request path is timed
stage by stage by wrapping the client's upload and download, gradio's pre- and post-processing (per output
component) and the handler's steps (the functions ``app.py`` calls). With ``--before REV`` the app of git
revision REV is benchmarked in the same run, rounds alternating, so both see the same machine load.

    python bench/bench_app.py                          # this tree, packaged weights, 3 rounds
    python bench/bench_app.py --before 09ec517         # before/after table, same run
    python bench/bench_app.py --weights tiny           # a tiny random-init generator
    python bench/bench_app.py --burst 30 --rounds 1    # also 30 requests at once
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

# Functions the handler calls (in either tree): each becomes a row of the table when present.
HANDLER_STEPS = (
    "load_audio",
    "vocals_to_song",
    "write_wav",
    "image_to_spectrogram",
    "save_image",
    "save_image_array",
    "display_image",
    "display_jpeg",
    "spectrogram_figure",
    "DecibelViews.render",
)


MODE = "accompaniment"  # your exact voice plus the accompaniment: what an accompaniment generator (weights/) makes
SETTLE_SECONDS = 0.3  # after a request, before timing vocals_to_song alone: the server finishes its own work


def sung_voice(seconds: float, sample_rate: int = 44100) -> np.ndarray:
    time_axis = np.arange(int(seconds * sample_rate)) / sample_rate
    phase = 2 * np.pi * np.cumsum(220.0 * (1.0 + 0.01 * np.sin(2 * np.pi * 5.5 * time_axis))) / sample_rate
    voice = sum(np.sin(harmonic * phase) / harmonic**1.5 for harmonic in range(1, 9))
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 1.5 * time_axis) ** 2
    return (0.5 * voice * envelope / np.max(np.abs(voice))).astype(np.float32)


# ---------------------------------------------------------------- one round (a fresh process)


class StageClock:
    """Seconds spent in wrapped callables, summed per label since the last :meth:`reset`."""

    def __init__(self):
        self.seconds: dict[str, float] = collections.defaultdict(float)
        self.counts: dict[str, int] = collections.defaultdict(int)

    def reset(self) -> None:
        self.seconds.clear()
        self.counts.clear()

    def wrap(self, owner, name: str, label: str) -> None:
        original = getattr(owner, name)
        clock = self

        if asyncio.iscoroutinefunction(original):

            @functools.wraps(original)
            async def timed(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return await original(*args, **kwargs)
                finally:
                    clock.seconds[label] += time.perf_counter() - started
                    clock.counts[label] += 1

        else:

            @functools.wraps(original)
            def timed(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    clock.seconds[label] += time.perf_counter() - started
                    clock.counts[label] += 1

        setattr(owner, name, timed)


def run_round(tree: Path, weights: str, seconds: float, repeats: int, burst: int) -> dict:
    """Launch the app of ``tree`` and time its requests; returns the measurements as a dict."""
    sys.path.insert(0, str(tree))
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import soundfile

    import app
    from gradio_client import Client, handle_file
    from gradio_client.client import Endpoint

    assert Path(app.__file__).resolve().parent == tree.resolve(), app.__file__
    scratch = Path(tempfile.mkdtemp(prefix="bench-app-"))  # under the TMPDIR the parent chose
    if weights == "tiny":
        weights = str(tiny_weights(scratch / "tiny-weights"))
    started = time.perf_counter()
    demo = app.build_demo(weights=weights)
    build_seconds = time.perf_counter() - started
    clock = StageClock()
    instrument(demo, app, clock, Endpoint)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                max_file_size=app.MAX_FILE_SIZE, show_error=False)  # fmt: skip
    client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=str(scratch / "downloads"))
    voice_path = scratch / "voice.wav"
    soundfile.write(voice_path, sung_voice(seconds), 44100, subtype="PCM_16")
    voice, voice_rate = soundfile.read(voice_path, dtype="float32")
    model = demo.song_app.model
    lazy_downloads = any(fn.api_name == "downloads" for fn in demo.fns.values())
    requests, inference, inference_cpu, downloads = [], [], [], []
    try:
        for index in range(repeats + 1):
            clock.reset()
            started, cpu_started = time.perf_counter(), time.process_time()
            outputs = client.predict(handle_file(str(voice_path)), MODE, 0, "predicted", api_name="/generate")
            end_to_end, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            requests.append({"end_to_end": end_to_end, "cpu": cpu, "stages": dict(clock.seconds),
                             "counts": dict(clock.counts), "files": count_files(outputs)})  # fmt: skip
            time.sleep(SETTLE_SECONDS)
            started, cpu_started = time.perf_counter(), time.process_time()
            handler_module(app).vocals_to_song(voice, voice_rate, model, mode=MODE)
            inference.append(time.perf_counter() - started)
            inference_cpu.append(time.process_time() - cpu_started)
            if lazy_downloads and index:
                started = time.perf_counter()
                client.predict(api_name="/downloads")
                downloads.append(time.perf_counter() - started)
        steady = []  # as bench_core times it: back to back, warm
        for _ in range(repeats):
            started = time.perf_counter()
            handler_module(app).vocals_to_song(voice, voice_rate, model, mode=MODE)
            steady.append(time.perf_counter() - started)
        burst_result = run_burst(client, handle_file, voice_path, burst) if burst else None
    finally:
        client.close()
        demo.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return {"build": build_seconds, "requests": requests, "inference": inference, "inference_cpu": inference_cpu,
            "steady": steady, "downloads": downloads, "burst": burst_result}  # fmt: skip


def handler_module(app):
    """The module whose functions the handler calls: ``vocals2song.web.handler`` where the tree has it (the app
    then only lays out the page), else ``app`` itself."""
    import importlib

    try:
        return importlib.import_module("vocals2song.web.handler")
    except ImportError:
        return app


def instrument(demo, app, clock: StageClock, endpoint_class) -> None:
    """Wrap the client's transfers, gradio's processing and the handler's steps with ``clock``."""
    clock.wrap(endpoint_class, "_upload_file", "client: upload the voice")
    clock.wrap(endpoint_class, "_download_file", "client: download the output files")
    clock.wrap(demo, "process_api", "server: process_api")
    clock.wrap(demo, "preprocess_data", "gradio preprocess")
    clock.wrap(demo, "postprocess_data", "gradio postprocess")
    generate = next(fn for fn in demo.fns.values() if fn.api_name == "generate")
    clock.wrap(generate, "fn", "handler")
    outputs = {id(block) for block in generate.outputs}
    for block in demo.blocks.values():
        if id(block) in outputs:
            clock.wrap(block, "postprocess", f"postprocess: {type(block).__name__}")
    handler = handler_module(app)
    for name in HANDLER_STEPS:
        owner_name, _, function = name.rpartition(".")
        owner = getattr(handler, owner_name, None) if owner_name else handler
        if owner is not None and hasattr(owner, function):
            clock.wrap(owner, function, f"handler: {name}")


def count_files(outputs) -> int:
    flat = []
    for value in outputs:
        flat.extend(value if isinstance(value, (list, tuple)) else [value])
    return sum(1 for value in flat if isinstance(value, str) and Path(value).is_file())


def run_burst(client, handle_file, voice_path: Path, burst: int) -> dict:
    import psutil

    process = psutil.Process()
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
    jobs = [client.submit(handle_file(str(voice_path)), MODE, 0, "predicted", api_name="/generate")
            for _ in range(burst)]  # fmt: skip
    for job in jobs:
        try:
            job.result(timeout=1800)
            served += 1
        except Exception as error:  # noqa: BLE001
            if "queue is full" not in str(error).lower():
                raise
            busy += 1
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    return {"size": burst, "served": served, "busy": busy, "seconds": seconds,
            "rss_before_mib": rss_before / 2**20, "rss_peak_mib": peak[0] / 2**20}  # fmt: skip


def tiny_weights(directory: Path) -> Path:
    from vocals2song.config import tiny_config
    from vocals2song.model.networks import build_generator
    from vocals2song.model.weights import save_generator

    config = tiny_config()
    save_generator(directory, build_generator(config.generator), config)
    return directory


# ---------------------------------------------------------------- the parent: rounds, A/B, the table


def spawn_round(tree: Path, arguments, scratch: Path, name: str) -> dict:
    """Run one round in a fresh process whose temporary files all go under ``scratch``."""
    temp = scratch / f"tmp-{name}"
    temp.mkdir(parents=True)
    out = scratch / f"{name}.json"
    environment = {**os.environ, "TMPDIR": str(temp), "GRADIO_TEMP_DIR": str(temp / "gradio"),
                   "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow"), "TF_CPP_MIN_LOG_LEVEL": "3"}  # fmt: skip
    command = [sys.executable, str(Path(__file__).resolve()), "--round", str(tree), "--out", str(out),
               "--weights", arguments.weights, "--seconds", str(arguments.seconds),
               "--repeats", str(arguments.repeats), "--burst", str(arguments.burst)]  # fmt: skip
    subprocess.run(command, check=True, env=environment, cwd=scratch)
    return json.loads(out.read_text())


def busy_processes() -> list[str]:
    """Other processes using more than 20 % of a core right now (what else was running)."""
    import psutil

    mine = {os.getpid()}
    processes = list(psutil.process_iter(["pid", "name", "cmdline"]))
    for process in processes:
        try:
            process.cpu_percent(None)
        except psutil.Error:
            pass
    time.sleep(1.0)
    busy = []
    for process in processes:
        try:
            percent = process.cpu_percent(None)
        except psutil.Error:
            continue
        if percent > 20 and process.pid not in mine:
            command = " ".join(process.info["cmdline"] or [process.info["name"] or "?"])
            busy.append(f"{percent:.0f}% {command[:90]}")
    return busy


def request_rows(request: dict, steps: list[str], components: list[str]) -> dict[str, float | None]:
    """One request's breakdown, in the order it goes through the app (seconds; None: no such stage)."""
    stages = request["stages"]
    rows = {"client: upload the voice": stages.get("client: upload the voice"),
            "gradio preprocess": stages.get("gradio preprocess")}  # fmt: skip
    for label in steps:
        rows[f"  {label}"] = stages.get(label)
    rows["  handler: everything else"] = stages["handler"] - sum(stages.get(label, 0.0) for label in steps)
    rows["handler (total)"] = stages["handler"]
    for label in components:
        rows[f"  {label}"] = stages.get(label)
    rows["  postprocess: move files to gradio's cache, other"] = stages["gradio postprocess"] - sum(
        stages.get(label, 0.0) for label in components
    )
    rows["gradio postprocess (total)"] = stages["gradio postprocess"]
    rows["server: process_api, other"] = (stages["server: process_api"] - stages["handler"]
                                          - stages["gradio preprocess"] - stages["gradio postprocess"])  # fmt: skip
    rows["client: download the output files"] = stages.get("client: download the output files", 0.0)
    rows["queue, events, HTTP, client (the rest)"] = (request["end_to_end"] - stages["server: process_api"]
                                                      - stages["client: upload the voice"]
                                                      - rows["client: download the output files"])  # fmt: skip
    return rows


def summarize(rounds: list[dict], steps: list[str], components: list[str]) -> dict:
    """Medians over rounds (first and second request, build) and over every warm request (the breakdown)."""
    warm = [request for one in rounds for request in one["requests"][1:]]
    table = [request_rows(request, steps, components) for request in warm]
    first_table = [request_rows(one["requests"][0], steps, components) for one in rounds]
    downloads = [value for one in rounds for value in one.get("downloads", [])]
    return {
        "build": statistics.median([one["build"] for one in rounds]),
        "first": statistics.median([one["requests"][0]["end_to_end"] for one in rounds]),
        "second": statistics.median([one["requests"][1]["end_to_end"] for one in rounds]),
        "first_rows": medians(first_table),
        "end_to_end": statistics.median([request["end_to_end"] for request in warm]),
        "inference": statistics.median([value for one in rounds for value in one["inference"]]),
        "steady": statistics.median([value for one in rounds for value in one["steady"]]),
        "cpu": statistics.median([request["cpu"] for request in warm]),
        "inference_cpu": statistics.median([value for one in rounds for value in one["inference_cpu"]]),
        "rows": medians(table),
        "inference_in_handler": statistics.median([request["stages"]["handler: vocals_to_song"] for request in warm]),
        "downloads": statistics.median(downloads) if downloads else None,
        "files": warm[0]["files"],
        "warm_count": len(warm),
        "bursts": [one["burst"] for one in rounds if one["burst"]],
    }


def medians(table: list[dict[str, float | None]]) -> dict[str, float | None]:
    columns = {label: [row[label] for row in table] for label in table[0]}
    return {label: (statistics.median(values) if None not in values else None) for label, values in columns.items()}


def labels_of(results: dict[str, list[dict]], prefix: str) -> list[str]:
    labels = {label for rounds in results.values() for one in rounds for request in one["requests"]
              for label in request["stages"] if label.startswith(prefix)}  # fmt: skip
    if prefix == "handler: ":
        return sorted(labels, key=lambda label: HANDLER_STEPS.index(label.split(": ", 1)[1]))
    return sorted(labels)


def print_tables(names: list[str], summaries: list[dict], arguments, busy: list[str]) -> None:
    def ms(seconds):
        return "–" if seconds is None else f"{1000 * seconds:.0f}"

    header = "| stage of a warm request (median ms) | " + " | ".join(names) + " |"
    print("\n" + header)
    print("|---|" + "---:|" * len(names))
    for label in summaries[0]["rows"]:
        print(f"| {label} | " + " | ".join(ms(s["rows"][label]) for s in summaries) + " |")
    print("| **end to end** | " + " | ".join(f"**{ms(s['end_to_end'])}**" for s in summaries) + " |")
    print("| `vocals_to_song` alone, back to back (as bench_core times it) | "
          + " | ".join(ms(s["steady"]) for s in summaries) + " |")  # fmt: skip
    print("| `vocals_to_song` alone, after each request | " + " | ".join(ms(s["inference"]) for s in summaries) + " |")
    print("| `vocals_to_song` inside the request (the handler's own call) | "
          + " | ".join(ms(s["inference_in_handler"]) for s in summaries) + " |")  # fmt: skip
    print("| **end to end ÷ `vocals_to_song` back to back** | "
          + " | ".join(f"**{s['end_to_end'] / s['steady']:.2f}×**" for s in summaries) + " |")  # fmt: skip
    print("| end to end ÷ `vocals_to_song` after each request / inside it | "
          + " | ".join(f"{s['end_to_end'] / s['inference']:.2f}× / {s['end_to_end'] / s['inference_in_handler']:.2f}×"
                       for s in summaries) + " |")  # fmt: skip
    print("| CPU time of the process (app + client) per request | " + " | ".join(ms(s["cpu"]) for s in summaries) + " |")
    print("| CPU time of `vocals_to_song` alone (its threads added up) | "
          + " | ".join(ms(s["inference_cpu"]) for s in summaries) + " |")  # fmt: skip
    print("| first request after start (end to end) | " + " | ".join(ms(s["first"]) for s in summaries) + " |")
    print("| second request | " + " | ".join(ms(s["second"]) for s in summaries) + " |")
    print("| build_demo (load + warm-up), s | " + " | ".join(f"{s['build']:.2f}" for s in summaries) + " |")
    print("| files the client downloads per request | " + " | ".join(str(s["files"]) for s in summaries) + " |")
    print("| \"Prepare downloads\" (`/downloads`, on demand), end to end | "
          + " | ".join(ms(s["downloads"]) for s in summaries) + " |")  # fmt: skip
    print("\n| the first request after start, by stage (ms) | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for label in summaries[0]["first_rows"]:
        print(f"| {label} | " + " | ".join(ms(s["first_rows"][label]) for s in summaries) + " |")
    rounds = arguments.rounds
    print(f"\n{arguments.seconds:g} s voice, weights {arguments.weights}; {rounds} round(s) per app, each a fresh "
          f"process (first request + {arguments.repeats} warm), rounds alternating; stage medians over "
          f"{summaries[0]['warm_count']} warm requests per app. {os.cpu_count()} CPU cores.")  # fmt: skip
    print(f"Load average at the end: {', '.join(f'{load:.2f}' for load in os.getloadavg())}.")
    print("Other busy processes at the start: " + ("; ".join(busy) if busy else "none") + ".")
    for name, summary in zip(names, summaries):
        for burst in summary["bursts"]:
            print(f"{name}: burst of {burst['size']} at once: {burst['served']} served, {burst['busy']} told busy in "
                  f"{burst['seconds']:.1f} s; RSS {burst['rss_before_mib']:.0f} MiB before, "
                  f"peak {burst['rss_peak_mib']:.0f} MiB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=str(ROOT / "weights"), help="weights directory, Hub id, or 'tiny'")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each request's voice")
    parser.add_argument("--repeats", type=int, default=5, help="warm requests per round, after the first")
    parser.add_argument("--rounds", type=int, default=3, help="fresh processes per app")
    parser.add_argument("--burst", type=int, default=0, help="simultaneous requests at the end of each round")
    parser.add_argument("--before", metavar="REV", help="also benchmark the app of this git revision (A/B)")
    parser.add_argument("--round", metavar="TREE", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    arguments = parser.parse_args()

    if arguments.round:  # a worker: one round, measurements to --out
        result = run_round(Path(arguments.round), arguments.weights, arguments.seconds, arguments.repeats,
                           arguments.burst)  # fmt: skip
        Path(arguments.out).write_text(json.dumps(result))
        return

    busy = busy_processes()
    scratch = Path(tempfile.mkdtemp(prefix="vocals2song-bench-app-"))
    try:
        trees = {}
        if arguments.before:
            before = scratch / "before"
            before.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", arguments.before], check=True,
                                     capture_output=True).stdout  # fmt: skip
            subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
            trees[f"before ({arguments.before})"] = before
        trees["this tree" if not arguments.before else "after"] = ROOT
        results = {name: [] for name in trees}
        for index in range(arguments.rounds):
            for position, (name, tree) in enumerate(trees.items()):
                print(f"round {index + 1}/{arguments.rounds}: {name}", file=sys.stderr, flush=True)
                results[name].append(spawn_round(tree, arguments, scratch, f"round{index}-{position}"))
        leftovers = [path for path in scratch.glob("tmp-*/*") if path.name != "gradio"]
        steps, components = labels_of(results, "handler: "), labels_of(results, "postprocess: ")
        summaries = [summarize(rounds, steps, components) for rounds in results.values()]
        print_tables(list(trees), summaries, arguments, busy)
        if leftovers:  # gradio_client leaves an empty folder per file it downloads
            print(f"Left in the rounds' temporary folders (removed with them): {len(leftovers)} entries, such as "
                  f"{', '.join(sorted(path.name for path in leftovers)[:3])}.")  # fmt: skip
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
