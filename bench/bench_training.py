"""Training throughput on this machine: the generator step, the GAN step and the trainer on real data, per width,
precision, batch and backend; where a streamed crop's time goes; and voice → song latency per width.

Usage::

    python bench/bench_training.py [CORPUS] [--widths 8 16 24] [--batches 8 16] [--precisions float32 mixed_bfloat16]
        [--bfloat16-widths 8] [--steps 6] [--jax-widths 16] [--jax-batches 8] [--store DIR] [--workers 2]

Rows (samples/s, one run, after one compile step and one warm step each):

- **(a) generator step**: the U-Net alone with Adam on an L1 loss, one batch of random tensors in memory;
- **(b) GAN step**: the whole pix2pix step (generator, PatchGAN, both optimizers) on tensors in memory: the
  ceiling any feeder can reach;
- **(c) trainer, streamed**: the step fed by :class:`vocals2song.pairs.crops.CropDataset` (decode, augment, STFT,
  plan per crop) through ``--workers`` threads, as ``vocals2song train CORPUS`` runs;
- **(c) trainer, crop store**: the step fed from a crop store of the same pairs (:mod:`vocals2song.pairs.crop_store`),
  as ``vocals2song train CORPUS --crop-store DIR`` runs; its share of (b) is the feed's efficiency.

With a CORPUS (a styled or plain corpus from ``vocals2song corpus``) the generator reads the plan (three input
channels, the corpus's styles) and the target is the accompaniment's magnitude, as the shipped recipe; without
one, rows (c) are skipped. JAX rows (a and b) run in a subprocess with ``KERAS_BACKEND=jax``. Then a table of
where a streamed crop's time goes (its parts timed one by one on the same pairs), and the latency of a 15 s voice
→ song (``vocals_to_song``, plan and phase included) per width, float32 and bfloat16 (random-init generators:
the time does not depend on the weights).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CROP_FRAMES = 256


def model_config(width: int, corpus: str | None):
    from vocals2song.config import GeneratorConfig, ModelConfig

    config = ModelConfig(generator=GeneratorConfig(width=width, input_channels=3, output_channels=1),
                         target="accompaniment", phase_representation="none")  # fmt: skip
    if corpus is None:
        return config
    from vocals2song.pairs.index import PairIndex, pair_styles

    return dataclasses.replace(config, styles=pair_styles(PairIndex.build([corpus]).select("train")))


def _random_batch(config, batch: int):
    import numpy as np

    rng = np.random.default_rng(0)
    shape = (batch, config.generator.nb_bins, CROP_FRAMES)
    voice = rng.uniform(-1, 1, shape + (config.generator.input_channels,)).astype(np.float32)
    target = rng.uniform(-1, 1, shape + (config.generator.output_channels,)).astype(np.float32)
    return voice, target


def generator_step_rate(config, batch: int, steps: int, precision: str) -> float:
    """(a): samples/s of the generator alone trained on L1 (Keras ``train_on_batch``)."""
    import keras

    from vocals2song.model.networks import build_generator
    from vocals2song.training import default_optimizer, training_devices

    voice, target = _random_batch(config, batch)
    with training_devices(precision, batch):
        network = build_generator(config.generator)
        network.compile(optimizer=default_optimizer(), loss="mae",
                        jit_compile=keras.backend.backend() == "jax")  # fmt: skip
        for _ in range(2):  # compile, then one warm step
            network.train_on_batch(voice, target)
        started = time.perf_counter()
        for _ in range(steps):
            network.train_on_batch(voice, target)
        return batch * steps / (time.perf_counter() - started)


def gan_step_rate(config, batch: int, steps: int, precision: str) -> float:
    """(b): samples/s of the whole pix2pix step on tensors in memory."""
    from vocals2song.training import benchmark_step

    return benchmark_step(config, batch, steps=steps, crop_frames=CROP_FRAMES, precision=precision)


def trainer_rate(config, dataset, batch: int, steps: int, precision: str, workers: int) -> float:
    """(c): samples/s of the step fed by ``dataset`` through the trainer's BatchFeeder, as the training loop runs."""
    from vocals2song.training import BatchFeeder, StepRunner, new_model, training_devices
    from vocals2song.training.devices import _block

    with training_devices(precision, batch) as (_, _, strategy):
        runner = StepRunner(new_model(config), strategy)
        feeder = BatchFeeder(dataset, 0, workers)
        try:
            for _ in range(2):
                runner(*feeder.next())
            _block(runner)
            started = time.perf_counter()
            for _ in range(steps):
                runner(*feeder.next())
            _block(runner)
            return batch * steps / (time.perf_counter() - started)
        finally:
            feeder.close()


def backend_rows(widths, batches, precisions, steps: int, corpus: str | None, store: str | None,
                 workers: int, bfloat16_widths=None) -> list[dict]:  # fmt: skip
    import keras

    rows = []
    for width in widths:
        config = model_config(width, corpus)
        for precision in precisions:
            if precision == "mixed_bfloat16" and bfloat16_widths is not None and width not in bfloat16_widths:
                continue
            for batch in batches:
                row = {"backend": keras.backend.backend(), "width": width, "precision": precision, "batch": batch}
                row["generator_step"] = generator_step_rate(config, batch, steps, precision)
                row["gan_step"] = gan_step_rate(config, batch, steps, precision)
                if corpus is not None:
                    from vocals2song.pairs.crop_store import StoreDataset
                    from vocals2song.pairs.crops import make_dataset

                    streamed = make_dataset(corpus, config, batch_size=batch, crop_frames=CROP_FRAMES, seed=0,
                                            estimated_plan_share=0.0)  # fmt: skip
                    row["streamed"] = trainer_rate(config, streamed, batch, steps, precision, workers)
                    stored = StoreDataset(store, config, batch_size=batch, crop_frames=CROP_FRAMES, seed=0)
                    row["stored"] = trainer_rate(config, stored, batch, steps, precision, workers)
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def rate_table(rows: list[dict]) -> str:
    lines = ["| backend | width | precision | batch | (a) generator step | (b) GAN step | (c) streamed | "
             "(c) crop store | store / GAN step | crops per hour (store) |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for row in rows:
        streamed, stored = row.get("streamed"), row.get("stored")
        cells = [row["backend"], row["width"], row["precision"], row["batch"], f"{row['generator_step']:.1f}",
                 f"{row['gan_step']:.1f}", f"{streamed:.1f}" if streamed else "–", f"{stored:.1f}" if stored else "–",
                 f"{stored / row['gan_step']:.0%}" if stored else "–",
                 f"{stored * 3600:,.0f}" if stored else "–"]  # fmt: skip
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def feed_profile(corpus: str, crops: int = 24) -> str:
    """Milliseconds per streamed crop by part: read (decode + resample), augmentation, STFT + encoding of voice and
    target, the true plan's B, and the estimator's plan (paid by ``estimated_plan_share`` of the crops)."""
    import numpy as np

    from vocals2song.pairs.crop_plans import plan_channel
    from vocals2song.pairs.crops import CropDataset, _target_to_network, _voice_to_network, augment_pair
    from vocals2song.pairs.index import PairIndex

    config = model_config(8, corpus)
    pairs = PairIndex.build([corpus]).select("train")
    dataset = CropDataset(pairs, config, split="train", batch_size=1, crop_frames=CROP_FRAMES, steps_per_epoch=None,
                          augment=True, seed=0)  # fmt: skip
    rng = np.random.default_rng(0)
    parts = {"read (decode, resample, silence redraws)": [], "augmentation": [], "STFT and encoding": [],
             "B: the true plan drawn": [], "B: the estimator's plan (per estimated crop)": []}  # fmt: skip
    names = list(parts)
    for _ in range(crops):
        started = time.perf_counter()
        pair, start, vocals, accompaniment = dataset.located_crop(rng)
        parts[names[0]].append(time.perf_counter() - started)
        started = time.perf_counter()
        voice, vocals, accompaniment = augment_pair(vocals, accompaniment, config.spectrogram.sample_rate, rng)
        parts[names[1]].append(time.perf_counter() - started)
        started = time.perf_counter()
        _voice_to_network(voice, config), _target_to_network(accompaniment, config)
        parts[names[2]].append(time.perf_counter() - started)
        started = time.perf_counter()
        plan_channel(pair, start, CROP_FRAMES, config, rng, estimated_share=0.0)
        parts[names[3]].append(time.perf_counter() - started)
        started = time.perf_counter()
        plan_channel(pair, start, CROP_FRAMES, config, rng, estimated_share=1.0)
        parts[names[4]].append(time.perf_counter() - started)
    lines = ["| part of a streamed crop | ms per crop (median) | ms per crop (mean) |", "|---|---|---|"]
    for name, seconds in parts.items():
        lines.append(f"| {name} | {1000 * np.median(seconds):.1f} | {1000 * np.mean(seconds):.1f} |")
    return "\n".join(lines)


def latency_rows(widths, repeats: int = 3) -> list[dict]:
    """Seconds for a 15 s synthetic voice → song (plan, generator, phase, mix) per width, float32 and bfloat16."""
    import keras
    import numpy as np

    from vocals2song.config import GeneratorConfig, ModelConfig
    from vocals2song.inference import vocals_to_song
    from vocals2song.model.networks import build_generator
    from vocals2song.model.weights import SongGenerator

    rate = 22050
    seconds = np.arange(15 * rate) / rate
    notes = 220.0 * 2 ** (np.array([0, 2, 4, 5, 7, 5, 4, 2]) / 12)
    voice = (0.3 * np.sin(2 * np.pi * np.cumsum(notes[(seconds // 0.5).astype(int) % 8]) / rate)).astype(np.float32)
    rows = []
    for width in widths:
        config = ModelConfig(generator=GeneratorConfig(width=width, input_channels=3, output_channels=1),
                             target="accompaniment", phase_representation="none")  # fmt: skip
        full = build_generator(config.generator)
        for precision in ("float32", "mixed_bfloat16"):
            previous = keras.mixed_precision.global_policy()
            keras.mixed_precision.set_global_policy(precision)
            try:
                network = build_generator(config.generator)
                network.set_weights(full.get_weights())
                model = SongGenerator(config=config, network=network, source=f"random width {width}")
                vocals_to_song(voice, rate, model)  # warm: compile, caches
                times = []
                for _ in range(repeats):
                    started = time.perf_counter()
                    vocals_to_song(voice, rate, model)
                    times.append(time.perf_counter() - started)
            finally:
                keras.mixed_precision.set_global_policy(previous)
            rows.append({"width": width, "precision": precision, "seconds": float(np.median(times)),
                         "parameters": full.count_params()})  # fmt: skip
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def latency_table(rows: list[dict]) -> str:
    lines = ["| width | generator parameters | inference precision | 15 s voice → song (s, median of 3) |",
             "|---|---|---|---|"]  # fmt: skip
    for row in rows:
        lines.append(f"| {row['width']} | {row['parameters'] / 1e6:.2f} M | {row['precision']} | {row['seconds']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", help="a corpus for rows (c) and the feed profile")
    parser.add_argument("--widths", type=int, nargs="+", default=[8, 16, 24])
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--precisions", nargs="+", default=["float32", "mixed_bfloat16"],
                        choices=("float32", "mixed_bfloat16"))  # fmt: skip
    parser.add_argument("--bfloat16-widths", type=int, nargs="*",
                        help="widths with mixed_bfloat16 rows (default: all; bfloat16 is slow without AVX-512/AMX)")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per row")
    parser.add_argument("--jax-widths", type=int, nargs="*", default=[16], help="widths of the JAX rows (a, b)")
    parser.add_argument("--jax-batches", type=int, nargs="+", default=[8])
    parser.add_argument("--store", help="the crop store of CORPUS's training pairs (built there if absent)")
    parser.add_argument("--workers", type=int, default=2, help="feeder threads for rows (c)")
    parser.add_argument("--backend-only", action="store_true", help="rows (a, b) on this backend only, as JSON")
    args = parser.parse_args()

    import vocals2song  # noqa: F401  (sets the default backend)

    if args.backend_only:
        print(json.dumps(backend_rows(args.widths, args.batches, args.precisions, args.steps, None, None, 1)))
        return
    store_note = ""
    if args.corpus:
        from vocals2song.pairs.crop_store import open_store, store_seconds
        from vocals2song.pairs.index import PairIndex

        store = args.store or str(Path(args.corpus).with_name(Path(args.corpus).name + "-crop-store"))
        config = model_config(8, args.corpus)  # the store does not depend on the width
        started = time.perf_counter()
        built = not (Path(store) / "store.json").exists()
        pairs = PairIndex.build([args.corpus]).select("train")
        open_store(store, pairs, config, estimated_plan_share=0.0, min_frames=CROP_FRAMES)
        hours = store_seconds(store, config) / 3600
        if built:
            store_note = (f"Crop store: {len(pairs)} pairs, {hours:.2f} h, built in "
                          f"{time.perf_counter() - started:.0f} s ({(time.perf_counter() - started) / hours / 60:.1f}"
                          f" min per hour of pairs), {sum(f.stat().st_size for f in Path(store).iterdir()) / 1e9:.2f}"
                          f" GB.")  # fmt: skip
        else:
            store_note = f"Crop store: {len(pairs)} pairs, {hours:.2f} h (reused)."
        print(store_note, file=sys.stderr, flush=True)
    rows = backend_rows(args.widths, args.batches, args.precisions, args.steps, args.corpus,
                        args.corpus and store, args.workers, args.bfloat16_widths)  # fmt: skip
    if args.jax_widths:
        command = [sys.executable, __file__, "--backend-only", "--widths", *map(str, args.jax_widths), "--batches",
                   *map(str, args.jax_batches), "--precisions", *args.precisions, "--steps", str(args.steps)]
        completed = subprocess.run(command, env={**os.environ, "KERAS_BACKEND": "jax"}, capture_output=True, text=True)
        if completed.returncode == 0:
            rows += json.loads(completed.stdout.strip().splitlines()[-1])
        else:
            print(f"JAX rows failed:\n{completed.stderr[-2000:]}", file=sys.stderr)
    latencies = latency_rows(args.widths)
    print(f"\nTraining throughput (samples/s), crops of {CROP_FRAMES} frames x 512 bins, {os.cpu_count()} CPU cores"
          f"{', the plan in B' if args.corpus else ''}:\n")  # fmt: skip
    print(rate_table(rows))
    if store_note:
        print(f"\n{store_note}")
    if args.corpus:
        print("\nWhere a streamed crop's time goes (one process, one crop at a time):\n")
        print(feed_profile(args.corpus))
    print("\nInference: 15 s of voice → song on this machine (random-init generators, the plan estimated):\n")
    print(latency_table(latencies))


if __name__ == "__main__":
    main()
