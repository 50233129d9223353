"""Training throughput of the pix2pix trainer on this machine: steps/s and samples/s per width and batch.

Usage: ``python bench/bench_training.py [--widths 4 16 64] [--batches 1 8] [--crop-frames 256] [--budget 60]``.
Rows run on the current backend (TensorFlow by default) in this process, then the JAX rows in a subprocess
(``KERAS_BACKEND=jax``); ``--backend-only`` skips the subprocess (it is how the JAX rows are produced, and how
to run it on the GPU machine). Each measurement is one compile step, then a few timed steps; a combination
whose predicted time exceeds ``--budget`` seconds is skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def measure(width: int, batch_size: int, crop_frames: int, budget: float, precision: str) -> dict:
    import keras

    from vocals2song.config import GeneratorConfig, ModelConfig
    from vocals2song.model.networks import build_generator
    from vocals2song.training import benchmark_step

    config = ModelConfig(generator=GeneratorConfig(width=width))
    parameters = build_generator(config.generator).count_params()
    row = {"backend": keras.backend.backend(), "width": width, "batch": batch_size, "crop_frames": crop_frames,
           "generator_parameters": parameters, "precision": precision}  # fmt: skip
    started = time.perf_counter()
    probe = benchmark_step(config, batch_size, steps=1, crop_frames=crop_frames, precision=precision)
    step_seconds = batch_size / probe
    steps = int(max(1, min(5, (budget - (time.perf_counter() - started)) / step_seconds)))
    samples_per_second = benchmark_step(config, batch_size, steps=steps, crop_frames=crop_frames,
                                        precision=precision) if steps > 1 else probe  # fmt: skip
    row.update(timed_steps=max(steps, 1), samples_per_second=samples_per_second,
               steps_per_second=samples_per_second / batch_size)
    return row


def rows_for(widths, batches, crop_frames, budget, precision, skip_after: float) -> list[dict]:
    rows = []
    for width in widths:
        slowest = 0.0
        for batch_size in sorted(batches):
            if slowest * batch_size > skip_after:  # one step would take too long: skip larger batches
                rows.append({"width": width, "batch": batch_size, "skipped": f"> {skip_after:.0f} s per step"})
                continue
            row = measure(width, batch_size, crop_frames, budget, precision)
            slowest = max(slowest, 1.0 / row["samples_per_second"])
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| backend | width | batch | params (G) | steps/s | samples/s | timed steps |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        if "skipped" in row:
            lines.append(f"| {row.get('backend', '')} | {row['width']} | {row['batch']} | | skipped ({row['skipped']}) | | |")
            continue
        lines.append(
            f"| {row['backend']} | {row['width']} | {row['batch']} | {row['generator_parameters'] / 1e6:.2f} M | "
            f"{row['steps_per_second']:.3f} | {row['samples_per_second']:.2f} | {row['timed_steps']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--jax-widths", type=int, nargs="+", default=[16])
    parser.add_argument("--crop-frames", type=int, default=256)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per measurement, at most")
    parser.add_argument("--precision", default="float32", choices=("float32", "mixed_bfloat16", "auto"))
    parser.add_argument("--backend-only", action="store_true", help="no JAX subprocess; print rows as JSON")
    args = parser.parse_args()

    import vocals2song  # noqa: F401  (sets the default backend)

    rows = rows_for(args.widths, args.batches, args.crop_frames, args.budget, args.precision, args.budget / 2)
    if args.backend_only:
        print(json.dumps(rows))
        return
    command = [sys.executable, __file__, "--backend-only", "--widths", *map(str, args.jax_widths), "--batches",
               *map(str, args.batches), "--crop-frames", str(args.crop_frames), "--budget", str(args.budget),
               "--precision", args.precision]  # fmt: skip
    completed = subprocess.run(command, env={**os.environ, "KERAS_BACKEND": "jax"}, capture_output=True, text=True)
    if completed.returncode == 0:
        rows += json.loads(completed.stdout.strip().splitlines()[-1])
    else:
        print(f"JAX rows failed:\n{completed.stderr[-2000:]}", file=sys.stderr)
    print(f"\nTraining throughput, crop {args.crop_frames} frames x 512 bins, {args.precision}, "
          f"{os.cpu_count()} CPU cores:\n")  # fmt: skip
    print(table(rows))


if __name__ == "__main__":
    main()
