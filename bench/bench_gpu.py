"""The GPU machine's two ceilings and the trainer's throughput against them (MFU).

Usage (on the device, after ``tools/gpu_train.sh`` has installed the wheels; see tools/README.md):
``KERAS_BACKEND=jax python bench/bench_gpu.py [--width 16] [--batches 1:float32 64:mixed_bfloat16]``.
Also runs here (CPU) for the FLOP count alone: ``python bench/bench_gpu.py --flops-only``.

- ceilings: a large bf16 matrix product (TFLOP/s) and a large device-to-device copy (GB/s, bytes read plus
  written), through JAX;
- model FLOPs per training sample: the multiply-adds of every convolution of the generator and of the
  discriminator (counted from the layers' shapes, 2 FLOPs each), times 3 for forward + backward, with the
  discriminator run twice (real and generated pair) and the generator's backward pass through it;
- per batch/precision: samples/s of the trainer's real step (``training.benchmark_step``), and MFU =
  samples/s x FLOPs per sample / the measured bf16 rate.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def conv_flops(model, inputs) -> float:
    """FLOPs (2 per multiply-add) of one forward pass on ``inputs``, over Conv2D and Conv2DTranspose layers.

    The networks take any number of frames, so the shapes are read from a real forward pass of zeros.
    """
    import keras

    convs = [layer for layer in model._flatten_layers(include_self=False)
             if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose))]  # fmt: skip
    probe = keras.Model(model.inputs, [(layer.input, layer.output) for layer in convs])
    shapes = probe(inputs)
    total = 0.0
    for layer, (seen, made) in zip(convs, shapes):
        kernel = layer.kernel.shape  # (kh, kw, in, out)
        # A transposed convolution scatters one kernel per input pixel; a convolution gathers one per output.
        pixels = seen.shape[1] * seen.shape[2] if isinstance(layer, keras.layers.Conv2DTranspose) else made.shape[1] * made.shape[2]
        total += 2.0 * pixels * kernel[0] * kernel[1] * kernel[2] * kernel[3]
    return total


def training_flops_per_sample(width: int, crop_frames: int) -> dict:
    import numpy as np

    from vocals2song.config import GeneratorConfig
    from vocals2song.model.networks import build_discriminator, build_generator

    config = GeneratorConfig(width=width)
    zeros = np.zeros((1, config.nb_bins, crop_frames, config.channels), np.float32)
    g = conv_flops(build_generator(config), zeros)
    d = conv_flops(build_discriminator(config), [zeros, zeros])
    # G forward+backward (3 g); D on the real and the generated pair, forward+backward (2 x 3 d); the
    # generator's loss back through D (forward + input gradient, 2 d).
    return {"generator_forward": g, "discriminator_forward": d, "per_sample": 3 * g + 6 * d + 2 * d}


def ceilings() -> dict:
    import jax
    import jax.numpy as jnp

    n = 8192
    a = jnp.ones((n, n), jnp.bfloat16)
    b = jnp.ones((n, n), jnp.bfloat16)
    matmul = jax.jit(lambda x, y: x @ y)
    matmul(a, b).block_until_ready()
    repeats = 50
    start = time.perf_counter()
    for _ in range(repeats):
        out = matmul(a, b)
    out.block_until_ready()
    tflops = 2 * n**3 * repeats / (time.perf_counter() - start) / 1e12

    x = jnp.ones((1 << 28,), jnp.float32)  # 1 GiB
    copy = jax.jit(lambda v: v * 1.0 + 0.0)
    copy(x).block_until_ready()
    start = time.perf_counter()
    for _ in range(20):
        y = copy(x)
    y.block_until_ready()
    gbps = 2 * x.nbytes * 20 / (time.perf_counter() - start) / 1e9
    return {"bf16_matmul_tflops": tflops, "copy_gb_per_s": gbps, "device": str(jax.devices()[0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--crop-frames", type=int, default=256)
    parser.add_argument("--batches", nargs="+", default=["1:float32", "64:mixed_bfloat16"],
                        help="BATCH:PRECISION per measurement")  # fmt: skip
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--flops-only", action="store_true")
    args = parser.parse_args()

    import vocals2song  # noqa: F401  (sets the default backend)

    flops = training_flops_per_sample(args.width, args.crop_frames)
    print(json.dumps({"width": args.width, "crop_frames": args.crop_frames, **flops}), flush=True)
    if args.flops_only:
        return
    from vocals2song.config import GeneratorConfig, ModelConfig
    from vocals2song.training import benchmark_step

    limits = ceilings()
    print(json.dumps(limits), flush=True)
    rows = []
    for item in args.batches:
        batch, precision = item.split(":")
        config = ModelConfig(generator=GeneratorConfig(width=args.width))
        rate = benchmark_step(config, int(batch), steps=args.steps, crop_frames=args.crop_frames, precision=precision)
        mfu = rate * flops["per_sample"] / (limits["bf16_matmul_tflops"] * 1e12)
        rows.append({"batch": int(batch), "precision": precision, "samples_per_second": rate, "mfu": mfu})
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{limits['device']}: bf16 matmul {limits['bf16_matmul_tflops']:.0f} TFLOP/s, "
          f"copy {limits['copy_gb_per_s']:.0f} GB/s; width {args.width}, crop {args.crop_frames} frames, "
          f"{flops['per_sample'] / 1e9:.1f} GFLOP per training sample\n")  # fmt: skip
    print("| batch | precision | samples/s | steps/s | MFU |\n|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['batch']} | {row['precision']} | {row['samples_per_second']:.1f} | "
              f"{row['samples_per_second'] / row['batch']:.2f} | {100 * row['mfu']:.2f} % |")


if __name__ == "__main__":
    main()
