"""Does the data keep up with the step? Training samples/s with each feeder against the step alone (JAX).

Usage: ``python bench/bench_feeder.py DATA [--width 16] [--batch 16] [--crop-frames 256] [--steps 10]
[--workers 4] [--processes] [--max-pairs 64] [--representation raw|if|none] [--precision auto]``

Rows, all on the JAX backend at the same batch:

- **step only**: one synthetic batch placed on the device once; the rate of the training step itself, the ceiling;
- **on-device feeder**: the training audio in device memory, crops, augmentation, STFT and encoding inside the
  jitted step (:mod:`vocals2song.training.device_data`); and the rate of making its batches alone;
- **worker feeder**: batches prepared on the CPU by ``--workers`` threads (or spawned processes with
  ``--processes``) from the same pairs and copied to the device each step, as before; and its rate alone.

Each row: one warm-up step (compilation), then ``--steps`` timed steps, waiting for the device at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ["KERAS_BACKEND"] = "jax"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(run, steps: int, finish) -> float:
    """Seconds for ``steps`` calls of ``run(step)`` after one warm-up call; ``finish()`` waits for the device."""
    run(0)
    finish()
    started = time.perf_counter()
    for step in range(1, steps + 1):
        run(step)
    finish()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="+")
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--crop-frames", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--processes", action="store_true", help="worker processes instead of threads")
    parser.add_argument("--max-pairs", type=int, default=64, help="training pairs loaded (0: all)")
    parser.add_argument("--representation", default="raw", choices=("raw", "if", "none"))
    parser.add_argument("--precision", default="auto", choices=("auto", "float32", "mixed_bfloat16"))
    args = parser.parse_args()

    import jax
    import numpy as np

    from vocals2song.config import GeneratorConfig, ModelConfig
    from vocals2song.pairs.crops import CropDataset
    from vocals2song.pairs.index import PairIndex
    from vocals2song.training import BatchFeeder, StepRunner, new_model, training_devices
    from vocals2song.training.device_data import DeviceFeeder, build_device_corpus

    generator = GeneratorConfig(width=args.width, output_channels=1 if args.representation == "none" else 2)
    config = ModelConfig(generator=generator, target="accompaniment", phase_representation=args.representation)
    pairs = PairIndex.build(args.data).select("train")
    pairs = pairs[: args.max_pairs] if args.max_pairs else pairs
    started = time.perf_counter()
    corpus = build_device_corpus(pairs, config, args.crop_frames, progress=False)
    load_seconds = time.perf_counter() - started
    shape = (args.batch, generator.nb_bins, args.crop_frames)
    rows = []

    with training_devices(args.precision, args.batch) as (precision, _, strategy):
        model = new_model(config)
        runner = StepRunner(model, strategy)

        def finish():
            jax.block_until_ready(runner._state)

        rng = np.random.default_rng(0)
        voice = runner._place(rng.uniform(-1, 1, shape + (generator.input_channels,)).astype(np.float32))
        target = runner._place(rng.uniform(-1, 1, shape + (generator.output_channels,)).astype(np.float32))
        step_only = args.batch * args.steps / timed(lambda step: runner(voice, target), args.steps, finish)
        rows.append(("step only (one synthetic batch kept on the device)", step_only, None))

        feeder = DeviceFeeder(corpus, config, args.batch, args.crop_frames, augment=True, seed=0,
                              sharding=runner.data_sharding(shape + (generator.input_channels,)))  # fmt: skip
        fused = args.batch * args.steps / timed(lambda step: runner.step_on_device(feeder, step), args.steps, finish)
        batches = jax.jit(feeder.make_batch)
        alone = args.batch * args.steps / timed(lambda step: batches(feeder.arrays, step), args.steps,
                                                lambda: jax.block_until_ready(batches(feeder.arrays, 0)))  # fmt: skip
        rows.append(("on-device feeder (crops, augmentation, STFT in the step)", fused, alone))

        dataset = CropDataset(pairs, config, split="train", batch_size=args.batch, crop_frames=args.crop_frames,
                              steps_per_epoch=None, augment=True, seed=0)  # fmt: skip
        kind = "processes" if args.processes else "threads"
        host = BatchFeeder(dataset, 0, args.workers, processes=args.processes)
        try:
            workers = args.batch * args.steps / timed(lambda step: runner(*host.next()), args.steps, finish)
        finally:
            host.close()
        fresh = BatchFeeder(dataset, 10 * args.steps, args.workers, processes=args.processes)  # nothing fetched yet
        try:
            alone_started = time.perf_counter()
            for _ in range(args.steps):
                fresh.next()
            workers_alone = args.batch * args.steps / (time.perf_counter() - alone_started)
        finally:
            fresh.close()
        rows.append((f"worker feeder ({args.workers} {kind}, batches copied to the device)", workers, workers_alone))

    device = jax.devices()[0]
    print(f"\nFeeders against the step, width {args.width}, batch {args.batch}, {args.crop_frames}-frame crops, "
          f"target {args.representation}, {precision}, JAX on {device.platform} ({device.device_kind}), "
          f"{os.cpu_count()} CPU cores; {corpus.nb_pairs} pairs ({corpus.nbytes / 1e6:.0f} MB on the device, loaded "
          f"in {load_seconds:.0f} s); {args.steps} timed steps per row:\n")  # fmt: skip
    print("| feeder | training samples/s | of step only | batches alone, samples/s |")
    print("|---|---|---|---|")
    for name, rate, alone in rows:
        alone_text = f"{alone:.1f}" if alone is not None else "–"
        print(f"| {name} | {rate:.1f} | {100 * rate / step_only:.0f} % | {alone_text} |")


if __name__ == "__main__":
    main()
